//! The token endpoint with the client_credentials grant: claims, the issuer rule, and one
//! test per bad input (status and error code), each leaving the store unchanged.

use std::collections::BTreeSet;

use serde_json::json;

use crate::support::{SERVICE_SECRET, T0, TestApp, WIKI_SECRET, basic, decode_jwt};

#[tokio::test]
async fn client_credentials_token_has_exactly_the_documented_claims() {
    let app = TestApp::new().await;
    let res = app.service_token(&[("resource", "res_tickets")]).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "tickets.read tickets.manage");
    assert!(body.get("refresh_token").is_none());

    let (header, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].as_str().unwrap().starts_with("snk_"));
    let names: BTreeSet<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "client_id",
        "scope",
        "scopes",
    ]
    .into();
    assert_eq!(names, expected, "no claim more, none less");
    assert_eq!(claims["iss"], "http://127.0.0.1:8080");
    assert_eq!(claims["sub"], "m2m_service");
    assert_eq!(claims["client_id"], "m2m_service");
    assert_eq!(
        claims["aud"],
        json!(["res_tickets", "http://127.0.0.1:8081/mcp"])
    );
    assert_eq!(claims["iat"], T0);
    assert_eq!(claims["nbf"], T0);
    assert_eq!(claims["exp"], T0 + 300);
    assert!(claims["jti"].as_str().unwrap().starts_with("tkn_"));
    assert_eq!(claims["scopes"], json!(["tickets.read", "tickets.manage"]));
}

#[tokio::test]
async fn per_resource_endpoint_issues_the_per_resource_issuer() {
    let app = TestApp::new().await;
    let auth = basic("m2m_service", SERVICE_SECRET);
    // `resource` may be omitted at a per-resource endpoint, or name the resource.
    for extra in [
        vec![],
        vec![("resource", "res_tickets")],
        vec![("resource", "http://127.0.0.1:8081/mcp")],
    ] {
        let mut pairs = vec![("grant_type", "client_credentials")];
        pairs.extend(extra);
        let res = app
            .post_form("/resources/res_tickets/oauth/token", &pairs, Some(&auth))
            .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let (_, claims) = decode_jwt(res.json()["access_token"].as_str().unwrap());
        assert_eq!(claims["iss"], "http://127.0.0.1:8080/resources/res_tickets");
    }
}

#[tokio::test]
async fn resource_may_be_named_by_url_and_scope_narrows() {
    let app = TestApp::new().await;
    let res = app
        .service_token(&[
            ("resource", "http://127.0.0.1:8081/mcp"),
            ("scope", "tickets.read unknown.scope"),
        ])
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json()["scope"],
        "tickets.read",
        "granted = requested ∩ allowed"
    );
}

#[tokio::test]
async fn client_secret_post_works() {
    let app = TestApp::new().await;
    let res = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "m2m_service"),
                ("client_secret", SERVICE_SECRET),
                ("resource", "res_tickets"),
            ],
            None,
        )
        .await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn a_token_issuance_is_audited() {
    let app = TestApp::new().await;
    let res = app.service_token(&[("resource", "res_tickets")]).await;
    let (_, claims) = decode_jwt(res.json()["access_token"].as_str().unwrap());
    app.state.audit.flush().await;
    let events = app
        .state
        .store
        .list_audit_events(&portcullis::store::AuditFilter {
            kind: Some("token.issued".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail["jti"], claims["jti"]);
    assert_eq!(events[0].client_id.as_deref(), Some("m2m_service"));
    assert!(
        !serde_json::to_string(&events[0])
            .unwrap()
            .contains(SERVICE_SECRET)
    );
}

/// Runs a refused request and checks status, code and that nothing stored changed.
async fn refused(
    app: &TestApp,
    path: &str,
    pairs: &[(&str, &str)],
    auth: Option<&str>,
    status: u16,
    code: &str,
) {
    let before = app.snapshot().await;
    let res = app.post_form(path, pairs, auth).await;
    res.assert_oauth_error(status, code);
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused token request must not change the store"
    );
}

#[tokio::test]
async fn bad_inputs_get_rfc6749_errors() {
    let app = TestApp::new().await;
    let good = basic("m2m_service", SERVICE_SECRET);
    let cc = ("grant_type", "client_credentials");
    let t = "/oauth/token";

    refused(
        &app,
        t,
        &[("resource", "res_tickets")],
        Some(&good),
        400,
        "invalid_request",
    )
    .await;
    refused(
        &app,
        t,
        &[("grant_type", "password")],
        Some(&good),
        400,
        "unsupported_grant_type",
    )
    .await;
    refused(
        &app,
        t,
        &[cc, ("resource", "res_nope")],
        Some(&good),
        400,
        "invalid_target",
    )
    .await;
    refused(
        &app,
        t,
        &[cc, ("resource", "res_wiki")],
        Some(&good),
        400,
        "invalid_target",
    )
    .await;
    refused(
        &app,
        t,
        &[cc, ("resource", "https://elsewhere.example/mcp")],
        Some(&good),
        400,
        "invalid_target",
    )
    .await;
    refused(
        &app,
        t,
        &[cc, ("resource", "res_tickets"), ("scope", "wiki.read")],
        Some(&good),
        400,
        "invalid_scope",
    )
    .await;
    refused(
        &app,
        t,
        &[cc, ("resource", "res_tickets"), ("scope", "tickets.read\"")],
        Some(&good),
        400,
        "invalid_scope",
    )
    .await;
    refused(
        &app,
        t,
        &[
            cc,
            ("resource", "res_tickets"),
            ("scope", "portcullis:admin"),
        ],
        Some(&good),
        400,
        "invalid_scope",
    )
    .await;
    // A per-resource endpoint serves only its own resource.
    refused(
        &app,
        "/resources/res_tickets/oauth/token",
        &[cc, ("resource", "res_wiki")],
        Some(&good),
        400,
        "invalid_target",
    )
    .await;
    refused(
        &app,
        "/resources/res_nope/oauth/token",
        &[cc],
        Some(&good),
        400,
        "invalid_target",
    )
    .await;
    // Two authentication methods at once.
    refused(
        &app,
        t,
        &[cc, ("client_secret", SERVICE_SECRET)],
        Some(&good),
        400,
        "invalid_request",
    )
    .await;
    // Public client: no client_credentials.
    refused(
        &app,
        t,
        &[cc, ("client_id", "m2m_public"), ("resource", "res_tickets")],
        None,
        400,
        "unauthorized_client",
    )
    .await;
}

#[tokio::test]
async fn a_client_with_one_resource_may_omit_it() {
    let app = TestApp::new().await;
    let res = app
        .post_form(
            "/oauth/token",
            &[("grant_type", "client_credentials")],
            Some(&basic("m2m_wiki", WIKI_SECRET)),
        )
        .await;
    assert_eq!(res.status, 200);
    let (_, claims) = decode_jwt(res.json()["access_token"].as_str().unwrap());
    assert_eq!(
        claims["aud"],
        json!(["res_wiki", "http://127.0.0.1:8082/mcp"])
    );
    assert_eq!(claims["exp"], T0 + 600, "per-resource access_token_ttl");
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let app = TestApp::new().await;
    let cc = ("grant_type", "client_credentials");
    let t = "/oauth/token";
    for auth in [
        basic("m2m_service", "wrong-secret"),
        basic("m2m_nobody", SERVICE_SECRET),
        basic("m2m_service", ""),
    ] {
        let before = app.snapshot().await;
        let res = app
            .post_form(t, &[cc, ("resource", "res_tickets")], Some(&auth))
            .await;
        res.assert_oauth_error(401, "invalid_client");
        let challenge = res.header("www-authenticate").unwrap_or("");
        assert!(
            challenge.starts_with("Basic"),
            "Basic was used, so a Basic challenge: {challenge}"
        );
        assert_eq!(app.snapshot().await, before);
    }
    // Malformed Basic header.
    let res = app.post_form(t, &[cc], Some("Basic !!!notbase64")).await;
    res.assert_oauth_error(401, "invalid_client");
    // Secret in the body, wrong: 401 without a Basic challenge.
    let res = app
        .post_form(
            t,
            &[cc, ("client_id", "m2m_service"), ("client_secret", "nope")],
            None,
        )
        .await;
    res.assert_oauth_error(401, "invalid_client");
    assert!(res.header("www-authenticate").is_none());
    // No client authentication at all.
    app.post_form(t, &[cc], None)
        .await
        .assert_oauth_error(401, "invalid_client");
    // A confidential client that sends only its id.
    app.post_form(t, &[cc, ("client_id", "m2m_service")], None)
        .await
        .assert_oauth_error(401, "invalid_client");
    // A public client that sends a secret.
    app.post_form(
        t,
        &[cc, ("client_id", "m2m_public"), ("client_secret", "x")],
        None,
    )
    .await
    .assert_oauth_error(401, "invalid_client");
    // Another scheme than Basic is no client credential here (it is ignored, see
    // token_client_auth.rs): no client authentication at all.
    app.post_form(t, &[cc], Some("Bearer abc"))
        .await
        .assert_oauth_error(401, "invalid_client");
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let app = TestApp::new().await;
    let auth = basic("m2m_service", SERVICE_SECRET);
    let t = "/oauth/token";
    let before = app.snapshot().await;
    // Wrong content type.
    app.post_raw(
        t,
        "application/json",
        r#"{"grant_type":"client_credentials"}"#,
        Some(&auth),
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    // No content type at all.
    let req = axum::http::Request::post(t)
        .header("authorization", &auth)
        .body(axum::body::Body::from("grant_type=client_credentials"))
        .unwrap();
    app.send(req)
        .await
        .assert_oauth_error(400, "invalid_request");
    // A repeated parameter (RFC 6749 §3.2).
    app.post_raw(
        t,
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&resource=res_tickets&resource=res_wiki",
        Some(&auth),
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    app.post_raw(
        t,
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&grant_type=password",
        Some(&auth),
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    // A body over the limit.
    let huge = format!(
        "grant_type=client_credentials&scope={}",
        "a".repeat(200_000)
    );
    let res = app
        .post_raw(t, "application/x-www-form-urlencoded", huge, Some(&auth))
        .await;
    assert_eq!(res.status, 413);
    assert_eq!(res.json()["error"], "invalid_request");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn a_dynamically_registered_client_cannot_use_client_credentials() {
    let app = TestApp::new().await;
    let reg = app
        .post_json(
            "/oauth/register",
            &json!({ "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "client_secret_basic" }),
        )
        .await;
    assert_eq!(reg.status, 201);
    let reg = reg.json();
    let auth = basic(
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str().unwrap(),
    );
    let before = app.snapshot().await;
    let res = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "res_tickets"),
            ],
            Some(&auth),
        )
        .await;
    res.assert_oauth_error(400, "unauthorized_client");
    // A public DCR client too.
    let reg = app
        .post_json("/oauth/register", &json!({ "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none" }))
        .await
        .json();
    let before2 = app.snapshot().await;
    let res = app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", reg["client_id"].as_str().unwrap()),
                ("resource", "res_tickets"),
            ],
            None,
        )
        .await;
    res.assert_oauth_error(400, "unauthorized_client");
    assert_eq!(app.snapshot().await, before2);
    assert_ne!(before, before2);
}
