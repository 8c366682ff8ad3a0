//! An SP-initiated SAML login is bound to the browser that started it. An attacker who
//! starts a login in their own browser and auto-posts their signed response into a
//! victim's browser signs the victim in as nobody: over https the binding cookie set at
//! the start (SameSite=None, Secure, scoped to the ACS) is missing or someone else's, and
//! the ACS refuses; over plain http (no Secure, so no SameSite=None) a response that comes
//! without the cookie asks the person first, naming the account. Neither refusal nor
//! question uses anything up: the browser that started the login still finishes it.

use crate::support::browser::{Browser, Page, REDIRECT_URI};
use crate::support::saml::{begin, browser, confirm, spawn};
use crate::support::saml_fixtures::{Alg, Key, Response, b64, idp_metadata};
use crate::support::{Spawned, TestApp};
use portcullis::clock::{Clock, FixedClock, SystemClock};
use reqwest::cookie::CookieStore;
use std::sync::Arc;

const FX_IDP: &str = "urn:test:binding-idp";
const CONN: &str = "conn_bind";

struct Fx {
    s: Spawned,
    key: Key,
    _dir: tempfile::TempDir,
}

async fn setup(s: Spawned) -> Fx {
    setup_with(s, false).await
}

async fn setup_with(s: Spawned, allow_idp_initiated: bool) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::new(dir.path(), "binding-idp");
    let text = format!(
        r#"
[[organizations]]
id = "org_bind"
display_name = "Binding Org"
domains = ["bind.example"]

[[organizations.connections]]
id = "{CONN}"
kind = "saml"
allow_idp_initiated = {allow_idp_initiated}
idp_metadata_xml = '''{md}'''
"#,
        md = idp_metadata(FX_IDP, &[&key]),
    );
    s.apply_seed(&text).await;
    Fx { s, key, _dir: dir }
}

impl Fx {
    /// The ACS URL as the IdP knows it (the issuer's, https or http).
    fn acs(&self) -> String {
        format!("{}/sso/v1/saml/{CONN}/acs", self.s.app.issuer)
    }

    /// The attacker's SP-initiated login: their browser, its RelayState and the IdP's
    /// signed response for it (as `mallory`).
    async fn attackers_login(&self) -> (Browser, Arc<reqwest::cookie::Jar>, String, String) {
        let (b, jar) = browser(&self.s);
        let client_id = b.register("res_tickets").await;
        let begun = begin(&b, &client_id, REDIRECT_URI, CONN, None).await;
        let entity = format!("{}/sso/v1/saml/{CONN}/metadata", self.s.app.issuer);
        let mut r = Response::good(FX_IDP, &entity, &self.acs(), Some(&begun.request_id));
        r.name_id = "mallory@bind.example".into();
        r.email = "mallory@bind.example".into();
        let xml = r.signed(&self.key, Alg::Sha256, true);
        (b, jar, begun.relay_state, b64(&xml))
    }

    /// The IdP's cross-site POST, landing in the browser of `jar`: only the cookies a
    /// browser sends on a cross-site POST to the ACS come along (the SAML binding cookie,
    /// never the SameSite=Lax session cookie); `Set-Cookie` lands in `jar`.
    async fn post_acs(
        &self,
        jar: Option<&reqwest::cookie::Jar>,
        response: &str,
        relay: &str,
    ) -> Page {
        match jar {
            Some(jar) => self.post_acs_as(jar, true, response, relay).await,
            None => {
                let jar = reqwest::cookie::Jar::default();
                self.post_acs_as(&jar, false, response, relay).await
            }
        }
    }

    /// [`Fx::post_acs`] into the browser of `jar`, with its binding cookie or without.
    async fn post_acs_as(
        &self,
        jar: &reqwest::cookie::Jar,
        with_binding: bool,
        response: &str,
        relay: &str,
    ) -> Page {
        let url = format!("{}/sso/v1/saml/{CONN}/acs", self.s.base);
        let parsed = url::Url::parse(&url).unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut req = http
            .post(&url)
            .form(&[("SAMLResponse", response), ("RelayState", relay)]);
        if let Some(cookie) = binding_cookie(jar, &parsed).filter(|_| with_binding) {
            req = req.header("cookie", cookie);
        }
        let res = req.send().await.unwrap();
        let mut cookies = res.headers().get_all("set-cookie").iter().peekable();
        if cookies.peek().is_some() {
            jar.set_cookies(&mut cookies, &parsed);
        }
        Browser::page(res).await
    }

    async fn assert_nobody_signed_in(&self, page: &Page, what: &str) {
        assert!(
            page.location.is_none(),
            "{what}: redirected {:?}",
            page.location
        );
        assert!(!page.body.contains("code="), "{what}");
        for c in page.headers.get_all("set-cookie") {
            let c = c.to_str().unwrap();
            assert!(!c.contains("portcullis_session="), "{what}: {c}");
        }
        assert!(
            self.s.audit("login.succeeded").await.is_empty(),
            "{what}: a session was opened"
        );
    }
}

/// The `…portcullis_saml_…=…` pairs the jar would send to `url`, if any.
fn binding_cookie(jar: &reqwest::cookie::Jar, url: &url::Url) -> Option<String> {
    let all = jar.cookies(url)?;
    let pairs = all
        .to_str()
        .unwrap()
        .split("; ")
        .filter(|pair| pair.split('=').next().unwrap().contains("portcullis_saml_"))
        .collect::<Vec<_>>()
        .join("; ");
    (!pairs.is_empty()).then_some(pairs)
}

async fn spawn_https() -> Spawned {
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    TestApp::builder().clock(clock).spawn_https().await
}

#[tokio::test]
async fn over_https_a_response_solicited_in_another_browser_is_refused_and_the_starting_browser_finishes()
 {
    let fx = setup(spawn_https().await).await;
    let (attacker, attacker_jar, relay, response) = fx.attackers_login().await;

    // Posted into a victim's browser that has no binding cookie: refused, audited.
    let (_, victim_jar) = browser(&fx.s);
    let page = fx.post_acs(Some(&victim_jar), &response, &relay).await;
    assert_eq!(page.status, 403, "{}", page.body);
    fx.assert_nobody_signed_in(&page, "no binding cookie").await;
    let failed = fx.s.audit("login.failed").await;
    let reason = failed[0].detail["reason"].as_str().unwrap();
    assert!(reason.contains("browser"), "{reason}");

    // A victim with a login of their own under way (their own binding cookie, which binds
    // only their own request): refused too.
    let (victim, victim_jar) = browser(&fx.s);
    let victims_client = victim.register("res_tickets").await;
    let _ = begin(&victim, &victims_client, REDIRECT_URI, CONN, None).await;
    let page = fx.post_acs(Some(&victim_jar), &response, &relay).await;
    assert_eq!(page.status, 403, "{}", page.body);
    fx.assert_nobody_signed_in(&page, "someone else's binding cookie")
        .await;

    // The binding cookie the start set: survives the IdP's cross-site POST, only to the ACS.
    let acs_url = url::Url::parse(&format!("{}/sso/v1/saml/{CONN}/acs", fx.s.base)).unwrap();
    let pair = binding_cookie(&attacker_jar, &acs_url).expect("a binding cookie at the start");
    assert!(pair.starts_with("__Secure-portcullis_saml_"), "{pair}");
    let elsewhere = url::Url::parse(&format!("{}/oauth/consent", fx.s.base)).unwrap();
    assert!(
        binding_cookie(&attacker_jar, &elsewhere).is_none(),
        "scoped to the ACS"
    );

    // Nothing was used up: the browser that started the login finishes it.
    let page = fx.post_acs(Some(&attacker_jar), &response, &relay).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let consent = page.location.unwrap();
    assert!(consent.starts_with("/oauth/consent?"), "{consent}");
    let cleared = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap())
        .any(|c| {
            c.starts_with("__Secure-portcullis_saml_")
                && c.contains("=; ")
                && c.contains("Max-Age=0")
        });
    assert!(cleared, "the binding cookie is removed once used");
    let _ = attacker;
}

#[tokio::test]
async fn the_binding_cookie_is_same_site_none_secure_http_only_and_scoped_to_the_acs() {
    let fx = setup(spawn_https().await).await;
    let (b, _) = browser(&fx.s);
    let client_id = b.register("res_tickets").await;
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", crate::support::browser::pkce().1.as_str()),
            ("code_challenge_method", "S256"),
            ("connection_id", CONN),
        ])
        .finish();
    let page = b
        .get(&format!("/resources/res_tickets/oauth/authorize?{q}"))
        .await;
    let start = b.get(&page.location.unwrap()).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let set = start
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Secure-portcullis_saml_"))
        .expect("a binding cookie");
    for attribute in [
        "; HttpOnly",
        "; Secure",
        "; SameSite=None",
        &format!("; Path=/sso/v1/saml/{CONN}/acs"),
    ] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
}

#[tokio::test]
async fn over_http_a_response_without_the_binding_cookie_asks_first_naming_the_account() {
    let fx = setup(spawn().await).await;
    let (attacker, attacker_jar, relay, response) = fx.attackers_login().await;

    // Posted into a victim's browser: a question naming the account and the application,
    // no session, no redirect.
    let (victim, victim_jar) = browser(&fx.s);
    let page = fx.post_acs(Some(&victim_jar), &response, &relay).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("mallory@bind.example"),
        "names the account: {}",
        page.body
    );
    assert!(
        page.body.contains("Flow test client"),
        "names the application"
    );
    fx.assert_nobody_signed_in(&page, "the question").await;

    // The question cannot be answered from elsewhere: the form posted by a page that
    // lacks the browser's confirmation cookie (a cross-site auto-submit) is refused.
    let (outsider, _) = browser(&fx.s);
    let forged = confirm(&outsider, CONN, &page.body).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    fx.assert_nobody_signed_in(&forged, "a forged confirmation")
        .await;

    // Nothing was used up: the browser that started it (its binding cookie present) goes
    // straight on, with no question.
    let page = fx.post_acs(Some(&attacker_jar), &response, &relay).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.unwrap().starts_with("/oauth/consent?"));
    let _ = (attacker, victim);
}

#[tokio::test]
async fn over_http_the_person_who_started_the_login_confirms_and_goes_on_once() {
    let fx = setup(spawn().await).await;
    let (b, jar, relay, response) = fx.attackers_login().await;
    // The browser left the binding cookie out (some browsers default SameSite to Lax).
    let page = fx.post_acs_as(&jar, false, &response, &relay).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("mallory@bind.example"), "{}", page.body);
    fx.assert_nobody_signed_in(&page, "the question").await;
    // The person confirms on the page, in the browser that shows it: on to consent.
    let done = confirm(&b, CONN, &page.body).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap().starts_with("/oauth/consent?"));
    assert_eq!(fx.s.audit("login.succeeded").await.len(), 1);
    // Once: the same confirmation again opens nothing.
    let login = crate::support::saml_idp::field(&page.body, "login").unwrap();
    let again = b
        .post(
            &format!("/sso/v1/saml/{CONN}/continue"),
            &[("login", &login)],
        )
        .await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert_eq!(fx.s.audit("login.succeeded").await.len(), 1);
    // And the response itself is used up.
    let replay = fx.post_acs(Some(&jar), &response, &relay).await;
    assert_eq!(replay.status, 403, "{}", replay.body);
}

#[tokio::test]
async fn idp_initiated_login_still_asks_and_still_signs_in() {
    let fx = setup_with(spawn_https().await, true).await;
    let entity = format!("{}/sso/v1/saml/{CONN}/metadata", fx.s.app.issuer);
    let r = Response::good(FX_IDP, &entity, &fx.acs(), None);
    let (b, jar) = browser(&fx.s);
    let page = fx
        .post_acs(Some(&jar), &b64(&r.signed(&fx.key, Alg::Sha256, true)), "")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Continue as alice@example.com"));
    let done = confirm(&b, CONN, &page.body).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(fx.s.audit("login.succeeded").await.len(), 1);
}
