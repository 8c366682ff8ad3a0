//! Client authentication at the token endpoint beside another `Authorization` scheme:
//! Scalekit's Python SDK sends `Authorization: Bearer <its management token>` on every call
//! once it holds one, token requests included, with the client's credentials in the form
//! body. The token endpoint ignores a non-Basic scheme for client authentication; Basic
//! stays one method among two, and revocation and introspection keep refusing other schemes.

use crate::support::{SERVICE_SECRET, TestApp, basic};

const BEARER: &str = "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln";

fn body_credentials(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_id", "m2m_service"),
        ("client_secret", SERVICE_SECRET),
    ];
    pairs.extend_from_slice(extra);
    pairs
}

#[tokio::test]
async fn a_bearer_header_beside_body_credentials_is_ignored_at_both_token_endpoints() {
    let app = TestApp::new().await;
    for path in ["/oauth/token", "/resources/res_tickets/oauth/token"] {
        let res = app
            .post_form(path, &body_credentials(&[]), Some(BEARER))
            .await;
        assert_eq!(
            res.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&res.body)
        );
        assert!(res.json()["access_token"].is_string());
    }
    // Any other scheme too.
    let res = app
        .post_form("/oauth/token", &body_credentials(&[]), Some("DPoP abc"))
        .await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn a_bearer_header_alone_authenticates_nobody() {
    let app = TestApp::new().await;
    let res = app
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some(BEARER),
        )
        .await;
    res.assert_oauth_error(401, "invalid_client");
    // Wrong body secret beside a bearer header: still a bad client.
    let res = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "m2m_service"),
                ("client_secret", "not-the-secret-0123456789"),
            ],
            Some(BEARER),
        )
        .await;
    res.assert_oauth_error(401, "invalid_client");
}

#[tokio::test]
async fn basic_stays_strict_at_the_token_endpoint() {
    let app = TestApp::new().await;
    // Basic and body credentials together: two methods.
    let res = app
        .post_form(
            "/oauth/token",
            &body_credentials(&[]),
            Some(&basic("m2m_service", SERVICE_SECRET)),
        )
        .await;
    res.assert_oauth_error(400, "invalid_request");
    // Basic naming another client than the body's client_id.
    let res = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "m2m_wiki"),
            ],
            Some(&basic("m2m_service", SERVICE_SECRET)),
        )
        .await;
    res.assert_oauth_error(400, "invalid_request");
    // Malformed Basic is not ignored.
    let res = app
        .post_form("/oauth/token", &body_credentials(&[]), Some("Basic !!!"))
        .await;
    res.assert_oauth_error(401, "invalid_client");
}

#[tokio::test]
async fn revocation_and_introspection_still_refuse_other_schemes() {
    let app = TestApp::new().await;
    for path in ["/oauth/revoke", "/oauth/introspect"] {
        let res = app
            .post_form(
                path,
                &[
                    ("token", "x"),
                    ("client_id", "m2m_service"),
                    ("client_secret", SERVICE_SECRET),
                ],
                Some(BEARER),
            )
            .await;
        res.assert_oauth_error(400, "invalid_request");
    }
}

/// An environment URL written with a trailing slash (`http://host:port/`) makes the SDKs
/// build `//oauth/token`, `//keys`, `//oauth/authorize` and `//oidc/logout`: those four
/// answer as their single-slash paths over real HTTP, and no other doubled path opens.
#[tokio::test]
async fn a_trailing_slash_environment_url_reaches_the_sdk_paths_and_nothing_else() {
    let s = TestApp::builder().spawn().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let env = format!("{}/", s.base);

    let res = http
        .post(format!("{env}/oauth/token"))
        .form(&body_credentials(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token: serde_json::Value = res.json().await.unwrap();
    assert!(token["access_token"].is_string());

    let res = http.get(format!("{env}/keys")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let jwks: serde_json::Value = res.json().await.unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty());

    // The authorize and logout endpoints answer as themselves (their own error pages for a
    // request that names no client), not the 404 of an unknown path.
    for path in ["/oauth/authorize", "/oidc/logout"] {
        let single = http.get(format!("{}{path}", s.base)).send().await.unwrap();
        let doubled = http.get(format!("{env}{path}")).send().await.unwrap();
        assert_ne!(doubled.status(), 404, "{path}");
        assert_eq!(doubled.status(), single.status(), "{path}");
    }

    for path in [
        "//admin",
        "//admin/login",
        "//api/v1/admin/clients",
        "//oauth/register",
        "//oauth/introspect",
        "//resources/res_tickets/oauth/token",
        "//.well-known/oauth-authorization-server",
        "///oauth/token",
    ] {
        let res = http.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
}
