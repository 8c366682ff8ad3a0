//! The reference scenario end to end over HTTP: DCR → authorize with PKCE → simulator
//! login → consent → code → token, at the per-resource and the environment endpoints.

use serde_json::json;

use crate::support::browser::{Browser, REDIRECT_URI, authorize_and_consent, pkce, query};
use crate::support::{TestApp, decode_jwt};

#[tokio::test]
async fn alice_the_jira_admin_gets_tickets_manage_for_her_organization() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let issuer = format!("{}/resources/res_tickets", s.base);
    // Endpoints come from the per-resource metadata.
    let meta: serde_json::Value = b
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server/resources/res_tickets",
            s.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], issuer.as_str());
    let authorize = meta["authorization_endpoint"]
        .as_str()
        .unwrap()
        .trim_start_matches(&s.base)
        .to_string();
    let token_path = meta["token_endpoint"]
        .as_str()
        .unwrap()
        .trim_start_matches(&s.base)
        .to_string();

    let client_id = b.register("res_tickets").await;
    let flow = authorize_and_consent(
        &b,
        &authorize,
        &client_id,
        None,
        "tickets.read tickets.manage",
        "alice@example.com",
        "jira-admins",
    )
    .await;
    assert_eq!(flow.callback["state"], "st-123");
    assert_eq!(
        flow.callback["iss"], issuer,
        "RFC 9207 iss equals the per-resource issuer"
    );

    let (status, body) = b
        .token(
            &token_path,
            &[
                ("grant_type", "authorization_code"),
                ("code", &flow.code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &flow.verifier),
                ("client_id", &client_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string());
    let (header, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["scope"], "tickets.read tickets.manage:org_acme");
    assert_eq!(
        claims["scopes"],
        json!(["tickets.read", "tickets.manage:org_acme"])
    );
    assert_eq!(
        claims["aud"],
        json!(["res_tickets", "http://127.0.0.1:8081/mcp"])
    );
    assert_eq!(claims["oid"], "org_acme");
    assert!(claims["sid"].as_str().unwrap().starts_with("ses_"));
    assert!(claims["sub"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(claims["client_id"], client_id.as_str());
}

#[tokio::test]
async fn bob_without_the_admin_group_gets_tickets_read_only() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let flow = authorize_and_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        None,
        "tickets.read tickets.manage",
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
                ("client_id", &client_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "tickets.read");
    assert_eq!(
        body["scope"], "tickets.read",
        "the response says less was granted than asked"
    );
}

#[tokio::test]
async fn carol_from_an_unknown_domain_sees_the_unknown_domain_page() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let (_, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("login_hint", "carol@unknown.test"),
        ])
        .finish();
    let page = b
        .get(&format!("/resources/res_tickets/oauth/authorize?{q}"))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none(), "a page, not a redirect");
    assert!(page.body.contains("unknown_domain"), "{}", page.body);

    // Without a hint, the email form asks, and routes by domain.
    let q = q.replace("&login_hint=carol%40unknown.test", "");
    let start = b
        .get(&format!("/resources/res_tickets/oauth/authorize?{q}"))
        .await;
    let form = b.get(start.location.as_deref().unwrap()).await;
    assert_eq!(form.status, 200);
    let request = crate::support::browser::hidden(&form.body, "request");
    let csrf = crate::support::browser::hidden(&form.body, "csrf");
    let unknown = b
        .post(
            "/sso/v1/login",
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("email", "carol@unknown.test"),
            ],
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.body.contains("unknown_domain"));
    let known = b
        .post(
            "/sso/v1/login",
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("email", "dave@example.com"),
            ],
        )
        .await;
    assert!(
        known
            .location
            .unwrap()
            .contains("/sso/v1/simulator/conn_acme_sim")
    );
}

#[tokio::test]
async fn the_environment_endpoints_yield_the_environment_issuer() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let flow = authorize_and_consent(
        &b,
        "/oauth/authorize",
        &client_id,
        Some("http://127.0.0.1:8081/mcp"),
        "tickets.read",
        "alice@example.com",
        "jira-admins",
    )
    .await;
    assert_eq!(flow.callback["iss"], s.base);
    let (status, body) = b
        .token(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &flow.code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &flow.verifier),
                ("client_id", &client_id),
                ("resource", "http://127.0.0.1:8081/mcp"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(claims["scope"], "tickets.read");
}

#[tokio::test]
async fn a_remembered_consent_skips_the_page_and_openid_gets_an_id_token() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    authorize_and_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        None,
        "tickets.read",
        "bob@example.com",
        "",
    )
    .await;
    // Same browser, same client and redirect URI: straight back with a code.
    let (verifier, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("scope", "openid email tickets.read"),
            ("nonce", "n-42"),
        ])
        .finish();
    let again = b
        .get(&format!("/resources/res_tickets/oauth/authorize?{q}"))
        .await;
    let location = again.location.expect("redirect");
    assert!(
        location.starts_with(REDIRECT_URI),
        "consent remembered: {location}"
    );
    let code = query(&location)["code"].clone();
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
    let (_, id) = decode_jwt(body["id_token"].as_str().expect("id_token for openid"));
    let (_, at) = decode_jwt(body["access_token"].as_str().unwrap());
    // Scalekit's shape: `aud` an array, `azp` the client.
    assert_eq!(id["aud"], json!([client_id]));
    assert_eq!(id["azp"], client_id.as_str());
    assert_eq!(id["nonce"], "n-42");
    assert_eq!(id["email"], "bob@example.com");
    assert_eq!(id["sub"], at["sub"]);
    assert_eq!(id["sid"], at["sid"]);
    assert_eq!(id["oid"], "org_acme");
    assert_eq!(id["amr"], json!(["conn_acme_sim"]));
    assert_eq!(
        id["at_hash"],
        portcullis::oauth::id_token::half_hash(body["access_token"].as_str().unwrap()).as_str()
    );

    // userinfo answers for the access token.
    let info: serde_json::Value = b
        .http
        .get(format!("{}/oauth/userinfo", s.base))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], "bob@example.com");
    assert_eq!(info["sub"], at["sub"]);
}
