//! Upstream OIDC federation against a real OpenID provider (npm `oidc-provider`): the
//! reference scenario through it, its error response, replayed and foreign `state`, a
//! tenant pin, and a key rotation picked up without restarting portcullis.

use std::sync::Arc;
use std::time::Duration;

use portcullis::clock::{Clock, FixedClock, SystemClock};

use crate::support::browser::{Browser, Page, REDIRECT_URI, pkce, query};
use crate::support::oidc_idp::OidcIdp;
use crate::support::{Spawned, TestApp, decode_jwt};

const CLIENT_ID: &str = "portcullis-rp";
const CLIENT_SECRET: &str = "rp-secret-0123456789abcdefghijkl";

struct Setup {
    s: Spawned,
    idp: OidcIdp,
}

/// portcullis (real clock: openidconnect checks `exp` against the system time) and the IdP,
/// with an `oidc` connection `conn_idp` for organization `org_idp` and its rules.
async fn setup(extra_settings: &str) -> Setup {
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let s = TestApp::builder().clock(clock).spawn().await;
    let callback = format!("{}/sso/v1/oidc/conn_idp/callback", s.base);
    let idp = OidcIdp::start(CLIENT_ID, CLIENT_SECRET, &callback).await;
    let seed = format!(
        r#"
[[organizations]]
id = "org_idp"
display_name = "IdP Org"
domains = ["idp.example"]

[[organizations.connections]]
id = "conn_idp"
kind = "oidc"
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scopes = ["openid", "email", "profile", "groups"]
{extra_settings}

[[rules]]
id = "rule_idp_admins"
resource = "res_tickets"
organization = "org_idp"
when = {{ group = "jira-admins" }}
grant = ["tickets.read", "tickets.manage:{{org}}"]
"#,
        issuer = idp.issuer
    );
    let now = s.app.clock.now();
    portcullis::seed::apply(
        &s.app.state.store,
        &s.app.state.config.secret,
        &|_| None,
        &seed,
        now,
    )
    .await
    .expect("seed");
    Setup { s, idp }
}

/// Follows redirects between portcullis and the IdP (relative locations resolved against
/// the origin that sent them) until there is none, or until `stop` holds for the next
/// URL, which is then returned unvisited.
async fn follow(
    b: &Browser,
    su: &Setup,
    mut page: Page,
    stop: impl Fn(&str) -> bool,
) -> (Page, Option<String>) {
    let mut origin = su.s.base.clone();
    for _ in 0..20 {
        let Some(location) = page.location.clone() else {
            return (page, None);
        };
        let url = absolute(&origin, &location);
        if stop(&url) {
            return (page, Some(url));
        }
        origin = if url.starts_with(&su.idp.issuer) {
            su.idp.issuer.clone()
        } else {
            su.s.base.clone()
        };
        page = b.get(&url).await;
    }
    panic!("more than 20 redirects");
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}

/// Authorize through `conn_idp` as `login_hint` and follow every redirect until the
/// response is no longer a redirect or leaves for the MCP client's redirect URI.
async fn login(b: &Browser, su: &Setup, client_id: &str, login_hint: &str) -> (Page, String) {
    let (verifier, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "mcp-state"),
            ("scope", "tickets.read tickets.manage"),
            ("connection_id", "conn_idp"),
            ("login_hint", login_hint),
        ])
        .finish();
    let page = b
        .get(&format!("/resources/res_tickets/oauth/authorize?{q}"))
        .await;
    let consent = format!("{}/oauth/consent", su.s.base);
    let (page, _) = follow(b, su, page, |url| {
        url.starts_with(REDIRECT_URI) || url.starts_with(&consent)
    })
    .await;
    (page, verifier)
}

/// The whole flow to an access token's claims.
async fn token_claims(b: &Browser, su: &Setup, login_hint: &str) -> serde_json::Value {
    let client_id = b.register("res_tickets").await;
    let (page, verifier) = login(b, su, &client_id, login_hint).await;
    let consent = page
        .location
        .clone()
        .unwrap_or_else(|| panic!("no redirect: {} {}", page.status, page.body));
    let done = b.consent(&consent, "approve").await;
    let code = query(done.location.as_deref().unwrap())["code"].clone();
    let (status, body) = b
        .token(
            "/resources/res_tickets/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
                ("client_id", &client_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    decode_jwt(body["access_token"].as_str().unwrap()).1
}

#[tokio::test]
async fn alice_signs_in_at_the_real_provider_and_gets_tickets_manage() {
    let su = setup("").await;
    let claims = token_claims(&Browser::new(&su.s), &su, "alice").await;
    assert_eq!(claims["scope"], "tickets.read tickets.manage:org_idp");
    assert_eq!(claims["oid"], "org_idp");
    let logins = su.s.audit("login.succeeded").await;
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].detail["connection_kind"], "oidc");
    assert_eq!(logins[0].detail["simulated"], false);
    assert_eq!(logins[0].detail["has_groups"], true);
    let user =
        su.s.app
            .state
            .store
            .find_user(claims["sub"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(user.email.as_deref(), Some("alice@example.com"));
    assert!(
        !user.is_email_verified,
        "example.com is not a domain of org_idp: its IdP does not vouch for it"
    );
    assert_eq!(user.groups, ["jira-admins", "eng"]);
}

#[tokio::test]
async fn bob_signs_in_at_the_real_provider_and_gets_tickets_read_only() {
    let su = setup("").await;
    let claims = token_claims(&Browser::new(&su.s), &su, "bob").await;
    assert_eq!(claims["scope"], "tickets.read");
}

#[tokio::test]
async fn an_idp_error_response_is_refused_with_an_audit_event_and_no_session() {
    let su = setup("").await;
    let b = Browser::new(&su.s);
    // A DCR client gets a page (the person never authenticated).
    let client_id = b.register("res_tickets").await;
    let (page, _) = login(&b, &su, &client_id, "cancel").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("upstream_refused"));
    assert!(page.location.is_none());
    let failed = su.s.audit("login.failed").await;
    assert!(
        failed[0].detail["reason"]
            .as_str()
            .unwrap()
            .contains("access_denied"),
        "{:?}",
        failed[0].detail
    );
    assert!(su.s.audit("login.succeeded").await.is_empty());
    assert!(su.s.audit("code.issued").await.is_empty());

    // The static public client's redirect URI is trusted: it gets access_denied.
    let b = Browser::new(&su.s);
    let (page, _) = login_static(&b, &su, "cancel").await;
    let location = page.location.expect("redirect to the client");
    let params = query(&location);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "mcp-state");
    assert_eq!(
        params["iss"],
        format!("{}/resources/res_tickets", su.s.base)
    );
}

async fn login_static(b: &Browser, su: &Setup, hint: &str) -> (Page, String) {
    let (verifier, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", "m2m_public"),
            ("redirect_uri", "http://127.0.0.1/cb"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "mcp-state"),
            ("connection_id", "conn_idp"),
            ("login_hint", hint),
        ])
        .finish();
    let page = b
        .get(&format!("/resources/res_tickets/oauth/authorize?{q}"))
        .await;
    let (page, _) = follow(b, su, page, |url| url.starts_with("http://127.0.0.1/cb")).await;
    (page, verifier)
}

/// Follows the chain up to (not into) portcullis's callback; returns the callback URL.
async fn callback_url(b: &Browser, su: &Setup, hint: &str) -> String {
    let client_id = b.register("res_tickets").await;
    let (_, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("connection_id", "conn_idp"),
            ("login_hint", hint),
        ])
        .finish();
    let page = b
        .get(&format!("/resources/res_tickets/oauth/authorize?{q}"))
        .await;
    let (_, url) = follow(b, su, page, |url| {
        url.contains("/sso/v1/oidc/conn_idp/callback")
    })
    .await;
    url.expect("no callback reached")
}

#[tokio::test]
async fn a_replayed_callback_and_another_browsers_callback_are_refused() {
    let su = setup("").await;
    let b = Browser::new(&su.s);
    let url = callback_url(&b, &su, "alice").await;
    let first = b.get(&url).await;
    assert!(
        first
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/oauth/consent")),
        "{} {}",
        first.status,
        first.body
    );
    let replay = b.get(&url).await;
    assert_eq!(replay.status, 400);
    assert!(replay.body.contains("state_replayed"), "{}", replay.body);

    let victim = Browser::new(&su.s);
    let url = callback_url(&victim, &su, "bob").await;
    let attacker = Browser::new(&su.s);
    let stolen = attacker.get(&url).await;
    assert_eq!(stolen.status, 400);
    assert!(stolen.body.contains("browser_mismatch"), "{}", stolen.body);
    let reasons: Vec<String> =
        su.s.audit("login.failed")
            .await
            .iter()
            .map(|e| e.detail["reason"].to_string())
            .collect();
    assert!(reasons.iter().any(|r| r.contains("replay")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("another browser")),
        "{reasons:?}"
    );
    assert_eq!(
        su.s.audit("login.succeeded").await.len(),
        1,
        "only the legitimate first callback signed in"
    );
}

#[tokio::test]
async fn a_tenant_pin_refuses_identities_from_another_tenant() {
    // oidc-provider sends no `tid`: an Entra-style pin refuses every identity it issues.
    let su = setup(r#"allowed_tid = "3f1c0a9e-0000-4000-8000-000000000000""#).await;
    let b = Browser::new(&su.s);
    let client_id = b.register("res_tickets").await;
    let (page, _) = login(&b, &su, &client_id, "alice").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("upstream_refused"));
    let failed = su.s.audit("login.failed").await;
    assert!(
        failed[0].detail["reason"]
            .as_str()
            .unwrap()
            .contains("tenant"),
        "{:?}",
        failed[0].detail
    );
    assert!(su.s.audit("login.succeeded").await.is_empty());
}

#[tokio::test]
async fn an_idp_key_rotation_is_picked_up_without_a_restart() {
    let mut su = setup("").await;
    let b = Browser::new(&su.s);
    assert_eq!(token_claims(&b, &su, "alice").await["oid"], "org_idp");
    let old_kid = su.idp.kid.clone();
    su.idp.restart().await;
    assert_ne!(su.idp.kid, old_kid, "the provider signs with a new key now");
    let b = Browser::new(&su.s);
    let claims = token_claims(&b, &su, "bob").await;
    assert_eq!(
        claims["scope"], "tickets.read",
        "the new key's ID token was accepted"
    );
}

#[tokio::test]
async fn connections_test_checks_discovery_and_reports_the_last_logins_claims() {
    let su = setup("").await;
    let (ok, before) = su.s.connections_test("conn_idp").await;
    assert!(ok, "{before}");
    assert!(before.contains("[ ok ] discovery"), "{before}");
    assert!(before.contains("[ ok ] issuer"), "{before}");
    assert!(before.contains("[ ok ] jwks"), "{before}");
    assert!(before.contains("last login: none yet"), "{before}");

    token_claims(&Browser::new(&su.s), &su, "alice").await;
    su.s.app.state.audit.flush().await;
    let (ok, after) = su.s.connections_test("conn_idp").await;
    assert!(ok, "{after}");
    assert!(
        after.contains("\"groups\"") && after.contains("\"email\""),
        "claim names of the last login: {after}"
    );
    assert!(after.contains("groups: present"), "{after}");

    // An unreachable issuer fails the test with a clear line.
    drop(su.idp);
    let (ok, down) = su.s.connections_test("conn_idp").await;
    assert!(!ok);
    assert!(down.contains("[FAIL] discovery"), "{down}");
}

#[tokio::test]
async fn an_unreachable_idp_is_server_error_for_a_trusted_client_and_a_page_otherwise() {
    let su = setup("").await;
    let s = &su.s;
    drop(su.idp);
    let b = Browser::new(s);
    let client_id = b.register("res_tickets").await;
    let (_, challenge) = pkce();
    let authorize = |client: &str, redirect: &str| {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", redirect),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("state", "st"),
                ("connection_id", "conn_idp"),
            ])
            .finish();
        format!("/resources/res_tickets/oauth/authorize?{q}")
    };
    let start = b.get(&authorize(&client_id, REDIRECT_URI)).await;
    let page = b.get(start.location.as_deref().unwrap()).await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(page.body.contains("upstream_unavailable"));
    let start = b.get(&authorize("m2m_public", "http://127.0.0.1/cb")).await;
    let redirect = b.get(start.location.as_deref().unwrap()).await;
    let params = query(
        redirect
            .location
            .as_deref()
            .expect("redirect to the trusted client"),
    );
    assert_eq!(params["error"], "server_error");
    assert_eq!(params["state"], "st");
    let failed = s.audit("login.failed").await;
    assert_eq!(failed.len(), 2);
    assert!(
        failed[0].detail["reason"]
            .as_str()
            .unwrap()
            .contains("discovery"),
        "{:?}",
        failed[0].detail
    );
}

/// The peer itself: it serves its discovery document and one key, a restart keeps the issuer
/// and changes the key, and it is gone once dropped.
#[tokio::test]
async fn oidc_provider_starts_and_a_restart_rotates_its_key() {
    let redirect = "http://127.0.0.1:9/sso/v1/oidc/conn_test/callback";
    let mut idp = OidcIdp::start("rp_selftest", "rp-selftest-secret", redirect).await;
    assert_eq!(idp.issuer, format!("http://127.0.0.1:{}", idp.port));
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };

    let discovery = get(format!("{}/.well-known/openid-configuration", idp.issuer)).await;
    assert_eq!(discovery["issuer"], idp.issuer.as_str());
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        true
    );
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap().to_string();
    let kids = |jwks: serde_json::Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kids(get(jwks_uri.clone()).await), vec![idp.kid.clone()]);

    let (old_kid, port) = (idp.kid.clone(), idp.port);
    idp.restart().await;
    assert_eq!(idp.port, port);
    assert_ne!(idp.kid, old_kid);
    assert_eq!(kids(get(jwks_uri).await), vec![idp.kid.clone()]);

    drop(idp);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "the provider still listens after drop"
    );
}
