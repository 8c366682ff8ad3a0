//! `/oidc/logout`: the session ends; `post_logout_redirect_uri` is followed only with a
//! valid, recent `id_token_hint` for an admin-created client that registered that URI
//! (dynamic and metadata clients get a link on our page); ending a session the hint does not
//! name asks first.

use serde_json::json;

use crate::support::browser::{Browser, REDIRECT_URI, authorize_and_consent, hidden, pkce};
use crate::support::{Spawned, TEST_SEED, TestApp};

const BYE: &str = "http://127.0.0.1:9999/bye";

/// The test seed plus a seeded public client that registered [`BYE`].
fn seed_with_portal() -> String {
    format!(
        "{TEST_SEED}\n[[clients]]\nid = \"m2m_portal\"\nname = \"Portal\"\n\
         redirect_uris = [\"{REDIRECT_URI}\"]\npost_logout_redirect_uris = [\"{BYE}\"]\n\
         grant_types = [\"authorization_code\"]\nresources = [\"res_tickets\"]\n\
         scopes = [\"tickets.read\"]\n"
    )
}

async fn spawn_with_portal() -> Spawned {
    TestApp::builder()
        .seed(Some(&seed_with_portal()))
        .spawn()
        .await
}

fn logout_url(hint: &str, uri: &str, state: Option<&str>) -> String {
    let mut pairs = vec![("id_token_hint", hint), ("post_logout_redirect_uri", uri)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/oidc/logout?{q}")
}

/// Whether `b` still has a live session (prompt=none is not login_required).
async fn is_signed_in(b: &Browser, client_id: &str) -> bool {
    let again = b.get(&authorize_url(client_id)).await;
    let location = again.location.unwrap_or_default();
    assert!(again.status.is_redirection(), "{}", again.body);
    !location.contains("login_required")
}

async fn client_with_logout_uri(b: &Browser) -> String {
    let res = b
        .http
        .post(format!("{}/resources/res_tickets/oauth/register", b.base))
        .json(&json!({
            "redirect_uris": [REDIRECT_URI],
            "post_logout_redirect_uris": ["http://127.0.0.1:9999/bye"],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<serde_json::Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn id_token(b: &Browser, client_id: &str) -> String {
    id_token_for(b, client_id, "bob@example.com").await
}

async fn id_token_for(b: &Browser, client_id: &str, email: &str) -> String {
    let flow = authorize_and_consent(
        b,
        "/resources/res_tickets/oauth/authorize",
        client_id,
        None,
        "openid tickets.read",
        email,
        "",
    )
    .await;
    let (status, body) = b
        .token(
            "/resources/res_tickets/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &flow.code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &flow.verifier),
                ("client_id", client_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["id_token"].as_str().unwrap().to_string()
}

fn authorize_url(client_id: &str) -> String {
    let (_, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
        ])
        .finish();
    format!("/resources/res_tickets/oauth/authorize?{q}")
}

#[tokio::test]
async fn logout_with_a_valid_hint_redirects_an_admin_created_client_and_ends_the_session() {
    let s = spawn_with_portal().await;
    let b = Browser::new(&s);
    let hint = id_token(&b, "m2m_portal").await;
    assert!(is_signed_in(&b, "m2m_portal").await);
    let out = b.get(&logout_url(&hint, BYE, Some("s1"))).await;
    assert_eq!(out.status, 302, "{}", out.body);
    assert_eq!(
        out.location.as_deref(),
        Some("http://127.0.0.1:9999/bye?state=s1")
    );
    assert!(!is_signed_in(&b, "m2m_portal").await, "the session is over");
}

#[tokio::test]
async fn a_dynamic_client_gets_a_link_naming_its_host_never_a_redirect() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = client_with_logout_uri(&b).await;
    let hint = id_token(&b, &client_id).await;
    let out = b.get(&logout_url(&hint, BYE, Some("s1"))).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.location.is_none());
    assert!(out.body.contains("signed out"), "{}", out.body);
    assert!(
        out.body
            .contains("href=\"http://127.0.0.1:9999/bye?state=s1\""),
        "{}",
        out.body
    );
    assert!(out.body.contains("127.0.0.1:9999"), "{}", out.body);
    // The session is gone: prompt=none now needs a login (a DCR client gets a page before
    // login).
    let again = b.get(&authorize_url(&client_id)).await;
    assert!(
        again.location.is_none() && again.body.contains("login_required"),
        "{} {:?}",
        again.body,
        again.location
    );
}

#[tokio::test]
async fn an_old_hint_is_not_followed() {
    let s = spawn_with_portal().await;
    let b = Browser::new(&s);
    let hint = id_token(&b, "m2m_portal").await;
    // The documented bound: a hint issued more than 8 hours ago (a session's lifetime).
    s.app.clock.advance(8 * 3600 + 1);
    let out = b.get(&logout_url(&hint, BYE, None)).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.location.is_none());
    assert!(!out.body.contains(BYE), "{}", out.body);
}

#[tokio::test]
async fn ending_a_session_the_hint_does_not_name_asks_first() {
    let s = spawn_with_portal().await;
    let attacker = Browser::new(&s);
    let hint = id_token(&attacker, "m2m_portal").await;
    let victim = Browser::new(&s);
    let _ = id_token_for(&victim, "m2m_portal", "alice@example.com").await;

    // The attacker's link (and one without any hint) only asks the victim.
    for url in [logout_url(&hint, BYE, None), "/oidc/logout".to_string()] {
        let out = victim.get(&url).await;
        assert_eq!(out.status, 200, "{}", out.body);
        assert!(out.location.is_none());
        assert!(out.body.contains("name=\"csrf\""), "{}", out.body);
        assert_eq!(
            out.headers["x-frame-options"], "DENY",
            "the question cannot be framed"
        );
        assert!(is_signed_in(&victim, "m2m_portal").await, "{url}");
    }

    // A forged confirmation (no or a wrong csrf) ends nothing.
    for csrf in ["", "forged"] {
        let out = victim
            .post("/oidc/logout", &[("csrf", csrf), ("id_token_hint", &hint)])
            .await;
        assert_eq!(out.status, 400, "{}", out.body);
        assert!(is_signed_in(&victim, "m2m_portal").await);
    }

    // The victim's own confirmation ends the session.
    let ask = victim.get(&logout_url(&hint, BYE, None)).await;
    let out = victim
        .post(
            "/oidc/logout",
            &[
                ("csrf", &hidden(&ask.body, "csrf")),
                ("id_token_hint", &hidden(&ask.body, "id_token_hint")),
                (
                    "post_logout_redirect_uri",
                    &hidden(&ask.body, "post_logout_redirect_uri"),
                ),
            ],
        )
        .await;
    assert!(out.status == 302 || out.status == 303, "{}", out.body);
    assert!(!is_signed_in(&victim, "m2m_portal").await);
    assert!(is_signed_in(&attacker, "m2m_portal").await);
}

#[tokio::test]
async fn logout_never_redirects_without_a_valid_hint_or_to_an_unregistered_uri() {
    let s = spawn_with_portal().await;
    let b = Browser::new(&s);
    let hint = id_token(&b, "m2m_portal").await;
    let tampered = crate::support::tamper_payload(&hint);
    let access_token = crate::support::tokens::user_tokens_for(
        &Browser::new(&s),
        "bob@example.com",
        "",
        "openid tickets.read",
    )
    .await
    .1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for (hint, uri) in [
        ("", BYE),
        (tampered.as_str(), BYE),
        (access_token.as_str(), BYE),
        (hint.as_str(), "https://evil.example/phish"),
    ] {
        let out = b.get(&logout_url(hint, uri, None)).await;
        assert_eq!(out.status, 200, "{hint:.10} {uri}");
        assert!(out.location.is_none());
        assert!(
            !out.body.contains(&format!("href=\"{uri}")),
            "{hint:.10} {uri}: {}",
            out.body
        );
    }
}
