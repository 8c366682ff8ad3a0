//! The SAML flow helpers of the SAML tests: portcullis with a real clock and a `saml`
//! connection to the real IdP (npm saml-idp), a browser whose cookie jar a test can reach,
//! the SP-initiated start, the cross-site ACS POST, the confirmation page and the code
//! redemption.

use std::io::Read;
use std::sync::Arc;

use base64::Engine;
use portcullis::clock::{Clock, FixedClock, SystemClock};
use reqwest::cookie::CookieStore;

use crate::support::browser::{Browser, Page, REDIRECT_URI, pkce, query};
use crate::support::saml_idp::SamlIdp;
use crate::support::{Spawned, TestApp, decode_jwt};

pub struct Setup {
    pub s: Spawned,
    pub idp: Option<SamlIdp>,
}

pub fn acs(s: &Spawned, conn: &str) -> String {
    format!("{}/sso/v1/saml/{conn}/acs", s.base)
}

pub fn entity(s: &Spawned, conn: &str) -> String {
    format!("{}/sso/v1/saml/{conn}/metadata", s.base)
}

/// portcullis with a real clock (samael checks times against the system clock).
pub async fn spawn() -> Spawned {
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    TestApp::builder().clock(clock).spawn().await
}

/// An organization `org_saml` with a `saml` connection `conn_saml` to saml-idp and the
/// rule `jira-admins` → `tickets.read tickets.manage:{org}`.
pub async fn setup(allow_idp_initiated: bool) -> Setup {
    let s = spawn().await;
    let idp = SamlIdp::start(&acs(&s, "conn_saml"), &entity(&s, "conn_saml")).await;
    let text = format!(
        r#"
[[organizations]]
id = "org_saml"
display_name = "SAML Org"
domains = ["saml.example"]

[[organizations.connections]]
id = "conn_saml"
kind = "saml"
idp_metadata_url = "{md}"
allow_idp_initiated = {allow_idp_initiated}

[[rules]]
id = "rule_saml_admins"
resource = "res_tickets"
organization = "org_saml"
when = {{ group = "jira-admins" }}
grant = ["tickets.read", "tickets.manage:{{org}}"]
"#,
        md = idp.metadata_url()
    );
    s.apply_seed(&text).await;
    Setup { s, idp: Some(idp) }
}

/// A browser whose cookie jar a test can reach (to move a cookie set by a cookieless POST).
pub fn browser(s: &Spawned) -> (Browser, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (
        Browser {
            http,
            base: s.base.clone(),
        },
        jar,
    )
}

/// A cross-site POST to the ACS from the browser of `jar`: of its cookies only the SAML
/// binding cookie comes along (made for that: SameSite=None over https, no SameSite over
/// http), never the SameSite=Lax session cookie. Its `Set-Cookie` lands in `jar`, as in a
/// browser.
pub async fn post_acs_cross_site(
    s: &Spawned,
    jar: &reqwest::cookie::Jar,
    acs_url: &str,
    saml_response: &str,
    relay_state: &str,
) -> Page {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = url::Url::parse(&s.base).unwrap();
    let mut req = http
        .post(acs_url)
        .form(&[("SAMLResponse", saml_response), ("RelayState", relay_state)]);
    let sent_to = url::Url::parse(acs_url).unwrap();
    let binding = jar.cookies(&sent_to).map(|all| {
        all.to_str()
            .unwrap()
            .split("; ")
            .filter(|pair| pair.split('=').next().unwrap().contains("portcullis_saml_"))
            .collect::<Vec<_>>()
            .join("; ")
    });
    if let Some(cookie) = binding.filter(|c| !c.is_empty()) {
        req = req.header("cookie", cookie);
    }
    let res = req.send().await.unwrap();
    let mut cookies = res.headers().get_all("set-cookie").iter().peekable();
    if cookies.peek().is_some() {
        jar.set_cookies(&mut cookies, &base);
    }
    Browser::page(res).await
}

/// An outstanding SP-initiated login: the IdP URL our redirect named, its RelayState and
/// the AuthnRequest (decoded).
pub struct Begun {
    pub sso_url: String,
    pub relay_state: String,
    pub request_id: String,
    pub request_xml: String,
    pub verifier: String,
}

/// Starts an authorization for `client_id` through connection `conn` and follows it to
/// the IdP redirect.
pub async fn begin(
    b: &Browser,
    client_id: &str,
    redirect_uri: &str,
    conn: &str,
    prompt: Option<&str>,
) -> Begun {
    begin_as(
        b,
        client_id,
        redirect_uri,
        conn,
        "tickets.read tickets.manage",
        prompt,
    )
    .await
}

/// [`begin`] with a scope.
pub async fn begin_with(
    b: &Browser,
    client_id: &str,
    redirect_uri: &str,
    conn: &str,
    scope: &str,
) -> Begun {
    begin_as(b, client_id, redirect_uri, conn, scope, None).await
}

pub async fn begin_as(
    b: &Browser,
    client_id: &str,
    redirect_uri: &str,
    conn: &str,
    scope: &str,
    prompt: Option<&str>,
) -> Begun {
    let (verifier, challenge) = pkce();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "mcp-state"),
        ("scope", scope),
        ("connection_id", conn),
    ];
    if let Some(p) = prompt {
        params.push(("prompt", p));
    }
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let page = b
        .get(&format!("/resources/res_tickets/oauth/authorize?{q}"))
        .await;
    let start = page
        .location
        .unwrap_or_else(|| panic!("no redirect: {} {}", page.status, page.body));
    assert!(
        start.starts_with(&format!("/sso/v1/saml/{conn}/start?")),
        "{start}"
    );
    let page = b.get(&start).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let sso_url = page.location.unwrap();
    let q = query(&sso_url);
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(&q["SAMLRequest"])
        .unwrap();
    let mut request_xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut request_xml)
        .unwrap();
    let request_id = request_xml
        .split(" ID=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    Begun {
        relay_state: q["RelayState"].clone(),
        sso_url,
        request_id,
        request_xml,
        verifier,
    }
}

/// Asserts that the newest `login.failed` event names the SAML check `check` (`what`: the
/// case, for the failure message).
pub async fn assert_refused_by(s: &Spawned, check: &str, what: &str) {
    let failed = s.audit("login.failed").await;
    let reason = failed
        .first()
        .and_then(|e| e.detail["reason"].as_str())
        .unwrap_or_default();
    assert!(
        reason.starts_with(&format!("saml check failed: {check}:")),
        "{what}: expected check `{check}`, got {reason:?}"
    );
}

/// Confirms an IdP-initiated login on the page the ACS answered with, in browser `b`.
pub async fn confirm(b: &Browser, conn: &str, continue_page: &str) -> Page {
    let login =
        crate::support::saml_idp::field(continue_page, "login").expect("a confirmation form");
    b.post(
        &format!("/sso/v1/saml/{conn}/continue"),
        &[("login", &login)],
    )
    .await
}

/// Consent and code exchange after a login that led to the consent page.
pub async fn finish(
    b: &Browser,
    client_id: &str,
    consent: &str,
    verifier: &str,
) -> serde_json::Value {
    let done = b.consent(consent, "approve").await;
    let code = query(done.location.as_deref().unwrap())["code"].clone();
    let (status, body) = b
        .token(
            "/resources/res_tickets/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
                ("client_id", client_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    decode_jwt(body["access_token"].as_str().unwrap()).1
}
