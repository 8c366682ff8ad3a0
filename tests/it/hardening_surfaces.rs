//! Hardening of the surfaces an outsider reaches: userinfo answers only `openid` tokens and
//! only the claims their OIDC scopes allow; `scope=openid` alone grants no resource scope;
//! no framework error text reaches a person; logout is no open redirect.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::authorize::*;
use crate::support::browser::{Browser, pkce};
use crate::support::tokens::user_tokens_for;
use crate::support::{TestApp, decode_jwt};

async fn userinfo(b: &Browser, access_token: &str) -> (StatusCode, Option<String>, Value) {
    let res = b
        .http
        .get(format!("{}/oauth/userinfo", b.base))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, challenge, res.json().await.unwrap_or(Value::Null))
}

// Item 8: userinfo follows OpenID Connect.

#[tokio::test]
async fn userinfo_refuses_an_access_token_without_openid_as_insufficient_scope() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (_, tokens) = user_tokens_for(&b, "alice@example.com", "jira-admins", "tickets.read").await;
    let (status, challenge, body) = userinfo(&b, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 403, "{body}");
    let challenge = challenge.expect("a Bearer challenge");
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(body.get("email").is_none(), "{body}");
    assert!(body.get("groups").is_none(), "{body}");
}

#[tokio::test]
async fn userinfo_answers_only_the_claims_the_oidc_scopes_allow() {
    let s = TestApp::builder().spawn().await;
    for (scope, wants_email, wants_name) in [
        ("openid tickets.read", false, false),
        ("openid email tickets.read", true, false),
        ("openid profile tickets.read", false, true),
        ("openid email profile tickets.read", true, true),
    ] {
        let b = Browser::new(&s);
        let (_, tokens) = user_tokens_for(&b, "alice@example.com", "jira-admins", scope).await;
        let at = tokens["access_token"].as_str().unwrap();
        let (status, _, info) = userinfo(&b, at).await;
        assert_eq!(status, 200, "{scope}: {info}");
        let (_, claims) = decode_jwt(at);
        assert_eq!(info["sub"], claims["sub"], "{scope}");
        assert_eq!(info.get("email").is_some(), wants_email, "{scope}: {info}");
        assert_eq!(
            info.get("email_verified").is_some(),
            wants_email,
            "{scope}: {info}"
        );
        assert_eq!(info.get("name").is_some(), wants_name, "{scope}: {info}");
        assert!(
            info.get("groups").is_none(),
            "no scope asks for groups: {info}"
        );
        // The ID token says no more than userinfo.
        let (_, id) = decode_jwt(tokens["id_token"].as_str().expect("id_token"));
        assert_eq!(id.get("email").is_some(), wants_email, "{scope}: {id}");
        assert_eq!(id.get("name").is_some(), wants_name, "{scope}: {id}");
        assert!(id.get("groups").is_none(), "{id}");
        // Resource servers still see their scope.
        assert!(
            claims["scopes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "tickets.read"),
            "{claims}"
        );
    }
}

// Item 9: `scope=openid` alone grants no resource scope.

#[tokio::test]
async fn scope_openid_alone_is_invalid_scope_at_the_redirect_for_a_static_client() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    let params = valid_params("m2m_public", &challenge, "alice@example.com");
    for scope in ["openid", "openid email profile", "openid offline_access"] {
        let page = b
            .get(&authorize_url(
                "/oauth/authorize",
                &with(&params, "scope", scope),
            ))
            .await;
        assert_error_redirect(&page, "invalid_scope", &s.base);
    }
}

#[tokio::test]
async fn scope_openid_alone_is_an_invalid_scope_page_for_a_dynamic_client() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let (_, challenge) = pkce();
    let params = valid_params(&client_id, &challenge, "alice@example.com");
    let page = b
        .get(&authorize_url(
            "/resources/res_tickets/oauth/authorize",
            &with(&params, "scope", "openid"),
        ))
        .await;
    assert_error_page(&page, 400, "invalid_scope");
}

// Item 13: no framework error text reaches a person.

/// Texts of axum's extractor rejections (and serde's, which they quote).
const FRAMEWORK_TEXTS: &[&str] = &[
    "Failed to deserialize",
    "missing field",
    "Failed to parse",
    "Invalid URL",
    "Expected request with",
    "Failed to buffer",
    "unknown variant",
    "Cannot parse",
];

/// Every path of the router (from its one URL map), with `{…}` filled by `param`.
fn routes(param: &str) -> Vec<String> {
    let source = include_str!("../../src/routes.rs");
    let mut out: Vec<String> = source
        .split("\"/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|p| {
            let mut path = format!("/{p}");
            while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
                path.replace_range(a..=b, param);
            }
            path
        })
        .collect();
    out.push("/no/such/path".into());
    out.push("/api/v1/admin/no-such-thing".into());
    out
}

/// Asserts a response shows no framework text and, for HTML, the pages' headers.
async fn assert_our_words(what: &str, res: reqwest::Response) {
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.text().await.unwrap_or_default();
    for text in FRAMEWORK_TEXTS {
        assert!(!body.contains(text), "{what}: {status} {body}");
    }
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    if status.is_client_error() && !body.is_empty() {
        assert!(
            content_type.starts_with("application/json") || content_type.starts_with("text/html"),
            "{what}: {status} {content_type}: {body}"
        );
    }
    if content_type.starts_with("text/html") {
        let h = |n: &str| {
            headers
                .get(n)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(h("cache-control"), "no-store", "{what}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
        assert_eq!(h("x-frame-options"), "DENY", "{what}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
        assert!(
            h("content-security-policy").contains("frame-ancestors 'none'"),
            "{what}"
        );
    }
}

#[tokio::test]
async fn every_route_answers_bad_input_in_its_surfaces_words() {
    let s = TestApp::builder().spawn().await;
    let admin = crate::support::admin::Admin::login(&s).await;
    let admin_token = crate::support::admin::admin_token(&s).await;
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let queries = [
        "",
        "?request=&x=%zz&a[=1",
        "?days=many&limit=-x&action=nope",
    ];
    let bodies: [(&str, &str); 4] = [
        ("application/x-www-form-urlencoded", ""),
        ("application/x-www-form-urlencoded", "request=&%zz&csrf"),
        ("application/json", "{\"a\":"),
        ("text/plain", "garbage"),
    ];
    for param in ["x", "%FF"] {
        for path in routes(param) {
            for (who, http) in [("anonymous", &anonymous), ("admin", &admin.b.http)] {
                let auth = if path.starts_with("/api/") && who == "admin" {
                    Some(format!("Bearer {admin_token}"))
                } else {
                    None
                };
                for method in ["GET", "DELETE"] {
                    for q in queries {
                        let url = format!("{}{path}{q}", s.base);
                        let mut req = http.request(method.parse().unwrap(), &url);
                        if let Some(a) = &auth {
                            req = req.header("authorization", a);
                        }
                        let what = format!("{who} {method} {path}{q}");
                        assert_our_words(&what, req.send().await.unwrap()).await;
                    }
                }
                for method in ["POST", "PUT"] {
                    for (content_type, body) in bodies {
                        let url = format!("{}{path}", s.base);
                        let mut req = http
                            .request(method.parse().unwrap(), &url)
                            .header("content-type", content_type)
                            .body(body);
                        if let Some(a) = &auth {
                            req = req.header("authorization", a);
                        }
                        let what = format!("{who} {method} {path} {content_type} {body:?}");
                        assert_our_words(&what, req.send().await.unwrap()).await;
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn the_pages_named_in_the_review_answer_missing_parameters_with_the_error_page() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    for path in [
        "/oauth/consent",
        "/sso/v1/login",
        "/sso/v1/simulator/conn_acme_sim",
    ] {
        let page = b.get(path).await;
        assert_error_page(&page, 400, "invalid_request");
        assert_eq!(page.headers["x-frame-options"], "DENY", "{path}");
    }
}
