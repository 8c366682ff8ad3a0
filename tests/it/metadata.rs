//! RFC 8414 / OpenID discovery documents and the issuer rule.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn environment_metadata_lists_environment_endpoints() {
    let app = TestApp::new().await;
    let res = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(res.status, 200);
    let doc = res.json();
    let iss = "http://127.0.0.1:8080";
    assert_eq!(doc["issuer"], iss);
    assert_eq!(doc["token_endpoint"], format!("{iss}/oauth/token"));
    assert_eq!(
        doc["registration_endpoint"],
        format!("{iss}/oauth/register")
    );
    assert_eq!(doc["jwks_uri"], format!("{iss}/keys"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["client_id_metadata_document_supported"], true);
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ])
    );
    // private_key_jwt's algorithms: asymmetric only.
    let algs = doc["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("RS256")));
    assert!(!algs.iter().any(|a| a.as_str().unwrap().starts_with("HS")));
    // No resource takes identity assertion grants in the test seed: not advertised.
    assert!(doc.get("authorization_grant_profiles_supported").is_none());
    assert_eq!(
        doc["scopes_supported"],
        json!([
            "offline_access",
            "tickets.manage",
            "tickets.read",
            "wiki.read"
        ])
    );
}

#[tokio::test]
async fn openid_configuration_adds_the_openid_fields() {
    let app = TestApp::new().await;
    let doc = app.get("/.well-known/openid-configuration").await.json();
    assert_eq!(doc["issuer"], "http://127.0.0.1:8080");
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(doc["token_endpoint"], "http://127.0.0.1:8080/oauth/token");
}

#[tokio::test]
async fn per_resource_metadata_is_identical_at_both_paths() {
    let app = TestApp::new().await;
    let a = app
        .get("/.well-known/oauth-authorization-server/resources/res_tickets")
        .await;
    let b = app
        .get("/resources/res_tickets/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, b.body, "both paths must serve the same bytes");
    let doc = a.json();
    let iss = "http://127.0.0.1:8080/resources/res_tickets";
    assert_eq!(doc["issuer"], iss);
    assert_eq!(doc["token_endpoint"], format!("{iss}/oauth/token"));
    assert_eq!(
        doc["registration_endpoint"],
        format!("{iss}/oauth/register")
    );
    assert_eq!(doc["jwks_uri"], "http://127.0.0.1:8080/keys");
    assert_eq!(
        doc["scopes_supported"],
        json!(["offline_access", "tickets.manage", "tickets.read"])
    );
}

#[tokio::test]
async fn unknown_resource_metadata_is_404() {
    let app = TestApp::new().await;
    let res = app
        .get("/.well-known/oauth-authorization-server/resources/res_nope")
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["error"], "not_found");
}

#[tokio::test]
async fn cors_preflight_allows_mcp_header_without_credentials() {
    let app = TestApp::new().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/resources/res_tickets",
        "/keys",
        "/oauth/register",
        "/oauth/token",
        "/resources/res_tickets/oauth/token",
    ] {
        let req = axum::http::Request::builder()
            .method("OPTIONS")
            .uri(path)
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "mcp-protocol-version,content-type",
            )
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.send(req).await;
        assert!(res.status.is_success(), "{path}: {}", res.status);
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        let allowed = res
            .header("access-control-allow-headers")
            .unwrap_or("")
            .to_ascii_lowercase();
        assert!(
            allowed.contains("mcp-protocol-version"),
            "{path}: {allowed}"
        );
        assert!(
            res.header("access-control-allow-credentials").is_none(),
            "{path}"
        );
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::new().await;
    assert_eq!(app.get("/healthz").await.status, 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");
    assert!(app.get("/healthz").await.header("x-request-id").is_some());
}
