//! A resource's refresh-token policy (`refresh_tokens`): `always` (the default), only with
//! `offline_access`, or `never` (people sign in again through SSO when the access token
//! expires); the metadata lists `offline_access` only where it gets a refresh token.

use serde_json::{Value, json};

use crate::support::browser::{Browser, authorize_and_consent};
use crate::support::{Spawned, TestApp};

async fn with_policy(policy: &str) -> Spawned {
    let s = TestApp::builder().spawn().await;
    s.apply_seed(&format!(
        r#"
[[resources]]
id = "res_tickets"
name = "Tickets"
server_url = "http://127.0.0.1:8081/mcp"
refresh_tokens = "{policy}"
scopes = [ {{ name = "tickets.read", description = "Read tickets" }},
           {{ name = "tickets.manage", description = "Create and change tickets" }} ]
"#
    ))
    .await;
    s
}

/// A DCR client's code flow for `scope`; the token response.
async fn tokens(s: &Spawned, scope: &str) -> Value {
    let b = Browser::new(s);
    let client = b.register("res_tickets").await;
    let flow = authorize_and_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &client,
        None,
        scope,
        "ann@example.com",
        "",
    )
    .await;
    let (status, body) = b
        .token("/resources/res_tickets/oauth/token", &flow.code_form())
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn metadata_scopes(s: &Spawned) -> Value {
    let doc: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server/resources/res_tickets",
        s.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    doc["scopes_supported"].clone()
}

#[tokio::test]
async fn offline_access_policy_gives_refresh_tokens_only_to_those_who_ask() {
    let s = with_policy("offline_access").await;
    let plain = tokens(&s, "tickets.read").await;
    assert!(plain.get("refresh_token").is_none(), "{plain}");
    let offline = tokens(&s, "tickets.read offline_access").await;
    assert!(offline["refresh_token"].is_string(), "{offline}");
    assert_eq!(offline["scope"], "tickets.read offline_access");
    assert!(
        metadata_scopes(&s)
            .await
            .as_array()
            .unwrap()
            .contains(&json!("offline_access"))
    );
}

#[tokio::test]
async fn never_policy_gives_no_refresh_token_and_does_not_list_offline_access() {
    let s = with_policy("never").await;
    let offline = tokens(&s, "tickets.read offline_access").await;
    assert!(offline.get("refresh_token").is_none(), "{offline}");
    assert_eq!(
        offline["scope"], "tickets.read",
        "offline_access is not granted"
    );
    assert_eq!(
        metadata_scopes(&s).await,
        json!(["tickets.manage", "tickets.read"])
    );
    // The default stays as it was.
    let s = with_policy("always").await;
    assert!(tokens(&s, "tickets.read").await["refresh_token"].is_string());
}

#[tokio::test]
async fn the_policy_is_checked_and_set_through_the_admin_api() {
    let s = TestApp::builder().spawn().await;
    let api = crate::support::admin::bearer(&s).await;
    let body = |policy: &str| {
        json!({ "name": "Wiki", "server_url": "http://127.0.0.1:8082/mcp",
                "scopes": [ { "name": "wiki.read" } ], "refresh_tokens": policy })
    };
    let (status, out) = api
        .call(
            reqwest::Method::PUT,
            "/resources/res_wiki",
            Some(body("sometimes")),
        )
        .await;
    assert_eq!(
        (status.as_u16(), out["field"].as_str()),
        (400, Some("refresh_tokens")),
        "{out}"
    );
    let (status, out) = api
        .call(
            reqwest::Method::PUT,
            "/resources/res_wiki",
            Some(body("never")),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        api.get("/resources/res_wiki").await["refresh_tokens"],
        "never"
    );
}
