//! Authorization-endpoint refusals: a page (no redirect) before the client and redirect URI
//! are trusted, or for dynamic clients before login; an error redirect with `state` and
//! `iss` otherwise.

use crate::support::TestApp;
use crate::support::authorize::*;
use crate::support::browser::{Browser, pkce};

#[tokio::test]
async fn authorize_without_pkce_redirects_invalid_request() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    let params = valid_params("m2m_public", &challenge, "bob@example.com");
    let page = b
        .get(&authorize_url(
            "/oauth/authorize",
            &without(&without(&params, "code_challenge"), "code_challenge_method"),
        ))
        .await;
    assert_error_redirect(&page, "invalid_request", &s.base);
}

#[tokio::test]
async fn authorize_with_plain_pkce_redirects_invalid_request() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (verifier, _) = pkce();
    let params = valid_params("m2m_public", &verifier, "bob@example.com");
    let page = b
        .get(&authorize_url(
            "/oauth/authorize",
            &with(&params, "code_challenge_method", "plain"),
        ))
        .await;
    assert_error_redirect(&page, "invalid_request", &s.base);
}

#[tokio::test]
async fn a_redirect_uri_mismatch_is_a_page_and_never_a_redirect() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    let params = valid_params("m2m_public", &challenge, "bob@example.com");
    for uri in [
        "https://evil.example/cb",
        "http://127.0.0.1:9999/other",
        "http://127.0.0.1:9999/cb/",
        "http://localhost.evil.example/cb",
    ] {
        let page = b
            .get(&authorize_url(
                "/oauth/authorize",
                &with(&params, "redirect_uri", uri),
            ))
            .await;
        assert_error_page(&page, 400, "invalid_redirect_uri");
    }
}

#[tokio::test]
async fn an_unknown_client_is_a_page() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    let params = valid_params("m2m_nobody", &challenge, "bob@example.com");
    let page = b
        .get(&authorize_url(
            "/resources/res_tickets/oauth/authorize",
            &params,
        ))
        .await;
    assert_error_page(&page, 400, "invalid_client");
}

#[tokio::test]
async fn a_dynamic_client_gets_a_page_for_errors_before_login() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let (_, challenge) = pkce();
    let params = valid_params(&client_id, &challenge, "bob@example.com");
    let path = "/resources/res_tickets/oauth/authorize";

    let bad_type = b
        .get(&authorize_url(
            path,
            &with(&params, "response_type", "token"),
        ))
        .await;
    assert_error_page(&bad_type, 400, "unsupported_response_type");

    let no_pkce = b
        .get(&authorize_url(
            path,
            &without(&without(&params, "code_challenge"), "code_challenge_method"),
        ))
        .await;
    assert_error_page(&no_pkce, 400, "invalid_request");

    let plain = b
        .get(&authorize_url(
            path,
            &with(&params, "code_challenge_method", "plain"),
        ))
        .await;
    assert_error_page(&plain, 400, "invalid_request");

    let no_session = b
        .get(&authorize_url(path, &with(&params, "prompt", "none")))
        .await;
    assert_error_page(&no_session, 400, "login_required");
}

#[tokio::test]
async fn a_static_client_gets_an_error_redirect_with_state_and_iss_before_login() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    let params = valid_params("m2m_public", &challenge, "bob@example.com");
    let path = "/resources/res_tickets/oauth/authorize";

    let bad_type = b
        .get(&authorize_url(
            path,
            &with(&params, "response_type", "token"),
        ))
        .await;
    assert_error_redirect(&bad_type, "unsupported_response_type", &resource_issuer(&s));

    let no_pkce = b
        .get(&authorize_url(
            path,
            &without(&without(&params, "code_challenge"), "code_challenge_method"),
        ))
        .await;
    assert_error_redirect(&no_pkce, "invalid_request", &resource_issuer(&s));
}

#[tokio::test]
async fn another_resource_at_a_per_resource_authorize_endpoint_is_invalid_target() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    let params = valid_params("m2m_public", &challenge, "bob@example.com");
    for other in [
        "http://127.0.0.1:8082/mcp",
        "res_wiki",
        "https://elsewhere.example/mcp",
    ] {
        let page = b
            .get(&authorize_url(
                "/resources/res_tickets/oauth/authorize",
                &with(&params, "resource", other),
            ))
            .await;
        assert_error_redirect(&page, "invalid_target", &resource_issuer(&s));
    }

    // A dynamic client gets the same refusal as a page.
    let client_id = b.register("res_tickets").await;
    let params = valid_params(&client_id, &challenge, "bob@example.com");
    let page = b
        .get(&authorize_url(
            "/resources/res_tickets/oauth/authorize",
            &with(&params, "resource", "http://127.0.0.1:8082/mcp"),
        ))
        .await;
    assert_error_page(&page, 400, "invalid_target");
}
