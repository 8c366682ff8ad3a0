//! `/oidc/logout`: the session ends; `post_logout_redirect_uri` is followed only with a
//! valid `id_token_hint` for a client that registered that URI.

use serde_json::json;

use crate::browser::{Browser, REDIRECT_URI, authorize_and_consent, pkce};
use crate::support::TestApp;

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
    let flow = authorize_and_consent(
        b,
        "/resources/res_tickets/oauth/authorize",
        client_id,
        None,
        "openid tickets.read",
        "bob@example.com",
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
async fn logout_with_a_valid_hint_redirects_to_the_registered_uri_and_ends_the_session() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = client_with_logout_uri(&b).await;
    let hint = id_token(&b, &client_id).await;
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", "http://127.0.0.1:9999/bye"),
            ("state", "s1"),
        ])
        .finish();
    let out = b.get(&format!("/oidc/logout?{q}")).await;
    assert_eq!(out.status, 302);
    assert_eq!(
        out.location.as_deref(),
        Some("http://127.0.0.1:9999/bye?state=s1")
    );
    // The session is gone: prompt=none now needs a login. (m2m_public would redirect the
    // error; a DCR client gets a page before login.)
    let again = b.get(&authorize_url(&client_id)).await;
    assert!(
        again.location.is_none() && again.body.contains("login_required"),
        "{} {:?}",
        again.body,
        again.location
    );
}

#[tokio::test]
async fn logout_never_redirects_without_a_valid_hint_or_to_an_unregistered_uri() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = client_with_logout_uri(&b).await;
    let hint = id_token(&b, &client_id).await;
    let tampered = crate::support::tamper_payload(&hint);
    for (hint, uri) in [
        ("", "http://127.0.0.1:9999/bye"),
        (tampered.as_str(), "http://127.0.0.1:9999/bye"),
        (hint.as_str(), "https://evil.example/phish"),
    ] {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("id_token_hint", hint), ("post_logout_redirect_uri", uri)])
            .finish();
        let out = b.get(&format!("/oidc/logout?{q}")).await;
        assert_eq!(out.status, 200, "{hint:.10} {uri}");
        assert!(out.location.is_none());
        assert!(out.body.contains("signed out"));
    }
}
