//! Dynamic Client Registration (RFC 7591): binding to resources, echoed metadata, and one
//! test per refused input, each leaving the store unchanged.

use serde_json::{Value, json};

use crate::support::TestApp;

#[tokio::test]
async fn a_public_client_registers_and_gets_no_secret() {
    let app = TestApp::new().await;
    let res = app
        .post_json(
            "/oauth/register",
            &json!({
                "client_name": "MCP Inspector",
                "redirect_uris": ["http://localhost:6274/oauth/callback"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": "tickets.read",
                "unknown_member": "ignored"
            }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    let id = body["client_id"].as_str().unwrap();
    assert!(id.starts_with("m2m_"));
    assert!(body.get("client_secret").is_none());
    assert_eq!(body["client_name"], "MCP Inspector");
    assert_eq!(
        body["redirect_uris"],
        json!(["http://localhost:6274/oauth/callback"])
    );
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(body["scope"], "tickets.read");
    assert!(body.get("unknown_member").is_none());
    assert!(body["client_id_issued_at"].is_i64());

    let stored = app.state.store.find_client(id).await.unwrap().unwrap();
    assert!(stored.is_public());
    assert_eq!(
        stored.bound_resource_id, None,
        "registered at the environment endpoint"
    );
}

#[tokio::test]
async fn a_confidential_client_gets_a_secret_stored_hashed() {
    let app = TestApp::new().await;
    let body = app
        .post_json(
            "/oauth/register",
            &json!({ "redirect_uris": ["https://app.example.com/cb"] }),
        )
        .await
        .json();
    let secret = body["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "256-bit secret");
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    let stored = app
        .state
        .store
        .find_client(body["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let hash = stored.secret_hash.unwrap();
    assert_ne!(hash, secret);
    assert!(!hash.contains(secret));
}

#[tokio::test]
async fn registration_at_a_resource_binds_the_client_to_it() {
    let app = TestApp::new().await;
    for path in [
        "/resources/res_tickets/oauth/register",
        "/api/v1/resources/res_tickets/clients:register",
    ] {
        let res = app
            .post_json(path, &json!({ "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none" }))
            .await;
        assert_eq!(res.status, 201, "{path}");
        let id = res.json()["client_id"].as_str().unwrap().to_string();
        let stored = app.state.store.find_client(&id).await.unwrap().unwrap();
        assert_eq!(
            stored.bound_resource_id.as_deref(),
            Some("res_tickets"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn native_clients_may_use_private_use_schemes() {
    let app = TestApp::new().await;
    let res = app
        .post_json(
            "/oauth/register",
            &json!({ "redirect_uris": ["com.example.app:/oauth2redirect"], "application_type": "native", "token_endpoint_auth_method": "none" }),
        )
        .await;
    assert_eq!(res.status, 201);
    assert_eq!(res.json()["application_type"], "native");
}

async fn refused(app: &TestApp, path: &str, body: Value, status: u16, code: &str) {
    let before = app.snapshot().await;
    let res = app.post_json(path, &body).await;
    res.assert_oauth_error(status, code);
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused registration must not change the store: {body}"
    );
}

#[tokio::test]
async fn bad_registrations_are_refused_with_rfc7591_errors() {
    let app = TestApp::new().await;
    let r = "/oauth/register";
    let cb = json!(["http://127.0.0.1/cb"]);
    for grant in [
        "client_credentials",
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        refused(
            &app,
            r,
            json!({ "redirect_uris": cb, "grant_types": ["authorization_code", grant] }),
            400,
            "invalid_client_metadata",
        )
        .await;
    }
    refused(
        &app,
        r,
        json!({ "redirect_uris": cb, "response_types": ["token"] }),
        400,
        "invalid_client_metadata",
    )
    .await;
    refused(
        &app,
        r,
        json!({ "redirect_uris": cb, "token_endpoint_auth_method": "private_key_jwt" }),
        400,
        "invalid_client_metadata",
    )
    .await;
    refused(
        &app,
        r,
        json!({ "redirect_uris": cb, "scope": "tickets.read portcullis:admin" }),
        400,
        "invalid_client_metadata",
    )
    .await;
    refused(
        &app,
        r,
        json!({ "redirect_uris": cb, "application_type": "smart-fridge" }),
        400,
        "invalid_client_metadata",
    )
    .await;
    refused(
        &app,
        r,
        json!({ "redirect_uris": cb, "logo_uri": "javascript:alert(1)" }),
        400,
        "invalid_client_metadata",
    )
    .await;
    refused(
        &app,
        r,
        json!({ "redirect_uris": "http://127.0.0.1/cb" }),
        400,
        "invalid_client_metadata",
    )
    .await;
    refused(
        &app,
        r,
        json!({ "redirect_uris": cb, "client_name": 42 }),
        400,
        "invalid_client_metadata",
    )
    .await;

    refused(&app, r, json!({}), 400, "invalid_redirect_uri").await;
    refused(
        &app,
        r,
        json!({ "redirect_uris": [] }),
        400,
        "invalid_redirect_uri",
    )
    .await;
    for uri in [
        "http://evil.example/cb",
        "http://127.0.0.1.nip.io/cb",
        "https://app.example.com/cb#fragment",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "com.example.app:/cb",
        "/relative/cb",
        "not a uri",
    ] {
        refused(
            &app,
            r,
            json!({ "redirect_uris": [uri] }),
            400,
            "invalid_redirect_uri",
        )
        .await;
    }
}

#[tokio::test]
async fn malformed_bodies_are_refused() {
    let app = TestApp::new().await;
    let before = app.snapshot().await;
    let r = "/oauth/register";
    app.post_raw(r, "application/json", "{not json", None)
        .await
        .assert_oauth_error(400, "invalid_client_metadata");
    app.post_raw(r, "application/json", "[1,2]", None)
        .await
        .assert_oauth_error(400, "invalid_client_metadata");
    app.post_raw(
        r,
        "application/x-www-form-urlencoded",
        "redirect_uris=x",
        None,
    )
    .await
    .assert_oauth_error(400, "invalid_client_metadata");
    let huge =
        json!({ "redirect_uris": ["http://127.0.0.1/cb"], "client_name": "x".repeat(100_000) });
    let res = app.post_json(r, &huge).await;
    assert_eq!(res.status, 413);
    assert_eq!(res.json()["error"], "invalid_client_metadata");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn registration_is_refused_where_turned_off() {
    let app = TestApp::new().await;
    let body = json!({ "redirect_uris": ["http://127.0.0.1/cb"] });
    refused(
        &app,
        "/resources/res_wiki/oauth/register",
        body.clone(),
        403,
        "access_denied",
    )
    .await;
    refused(
        &app,
        "/api/v1/resources/res_wiki/clients:register",
        body.clone(),
        403,
        "access_denied",
    )
    .await;
    refused(
        &app,
        "/resources/res_nope/oauth/register",
        body,
        404,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn environment_registration_needs_a_resource_that_allows_it() {
    let seed = r#"
[[resources]]
id = "res_closed"
name = "Closed"
server_url = "http://127.0.0.1:9999/mcp"
dynamic_client_registration = false
scopes = [ { name = "x.read" } ]
"#;
    let app = TestApp::builder().seed(Some(seed)).build().await;
    refused(
        &app,
        "/oauth/register",
        json!({ "redirect_uris": ["http://127.0.0.1/cb"] }),
        403,
        "access_denied",
    )
    .await;
}

#[tokio::test]
async fn refusals_are_audited() {
    let app = TestApp::new().await;
    app.post_json(
        "/oauth/register",
        &json!({ "redirect_uris": ["http://evil.example/cb"] }),
    )
    .await;
    app.state.audit.flush().await;
    let events = app
        .state
        .store
        .list_audit_events(&portcullis::store::AuditFilter {
            kind: Some("client.registration_refused".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail["error"], "invalid_redirect_uri");
}
