//! Helpers shared by the negative flow tests: authorize URLs, error-page and error-redirect
//! assertions, signing in up to the consent page.
#![allow(dead_code)]

use crate::support::Spawned;
use crate::support::browser::{Browser, Page, REDIRECT_URI, hidden, pkce, query};

pub const STATE: &str = "st-neg";

/// An authorization request URL: `path?params`.
pub fn authorize_url(path: &str, params: &[(&str, &str)]) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{path}?{q}")
}

/// The standard parameters of a valid request, with `state` and a login hint.
pub fn valid_params<'a>(
    client_id: &'a str,
    challenge: &'a str,
    email: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", STATE),
        ("login_hint", email),
    ]
}

/// `params` with `name` removed.
pub fn without<'a>(params: &[(&'a str, &'a str)], name: &str) -> Vec<(&'a str, &'a str)> {
    params.iter().filter(|(k, _)| *k != name).copied().collect()
}

/// `params` with `name` set to `value` (replaced or added).
pub fn with<'a>(
    params: &[(&'a str, &'a str)],
    name: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut out = without(params, name);
    out.push((name, value));
    out
}

/// The stable error code of an error page (`<code id="error-code">…</code>`).
pub fn error_code(body: &str) -> Option<&str> {
    let marker = "<code id=\"error-code\">";
    let start = body.find(marker)? + marker.len();
    body[start..].split('<').next()
}

/// An error page: this status and code, and no redirect.
pub fn assert_error_page(page: &Page, status: u16, code: &str) {
    assert_eq!(page.status.as_u16(), status, "{}", page.body);
    assert_eq!(page.location, None, "a page, never a redirect");
    assert_eq!(error_code(&page.body), Some(code), "{}", page.body);
}

/// An error redirect to the client: `error`, `state` and `iss`, and no code.
pub fn assert_error_redirect(page: &Page, error: &str, issuer: &str) {
    assert!(
        page.status.is_redirection(),
        "{} {}",
        page.status,
        page.body
    );
    let location = page.location.as_deref().expect("Location");
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let q = query(location);
    assert_eq!(
        q.get("error").map(String::as_str),
        Some(error),
        "{location}"
    );
    assert_eq!(
        q.get("state").map(String::as_str),
        Some(STATE),
        "{location}"
    );
    assert_eq!(q.get("iss").map(String::as_str), Some(issuer), "{location}");
    assert!(q.contains_key("error_description"), "{location}");
    assert!(!q.contains_key("code"), "{location}");
}

/// The value of the session cookie a response sets, if any.
pub fn session_cookie(page: &Page) -> Option<String> {
    page.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("portcullis_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .filter(|v| !v.is_empty())
}

/// A browser that has signed in for `client_id` and stands on the consent page
/// (`request`, `csrf`, the consent path).
pub struct AtConsent {
    pub request: String,
    pub csrf: String,
    pub path: String,
    pub login: Page,
}

pub async fn sign_in_to_consent(
    b: &Browser,
    authorize_path: &str,
    client_id: &str,
    email: &str,
    groups: &str,
) -> AtConsent {
    let (_, challenge) = pkce();
    let start = b
        .get(&authorize_url(
            authorize_path,
            &valid_params(client_id, &challenge, email),
        ))
        .await;
    assert!(
        start.status.is_redirection(),
        "{} {}",
        start.status,
        start.body
    );
    let login = b
        .simulator_login(start.location.as_deref().unwrap(), email, groups)
        .await;
    let path = login.location.clone().expect("redirect after login");
    assert!(path.starts_with("/oauth/consent"), "{path}");
    let page = b.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    AtConsent {
        request: hidden(&page.body, "request"),
        csrf: hidden(&page.body, "csrf"),
        path,
        login,
    }
}

/// The number of codes issued so far (from the audit trail).
pub async fn codes_issued(s: &Spawned) -> usize {
    s.app.state.audit.flush().await;
    s.app
        .state
        .store
        .list_audit_events(&portcullis::store::AuditFilter {
            kind: Some("code.issued".into()),
            client_id: None,
            limit: 100,
        })
        .await
        .unwrap()
        .len()
}

pub fn resource_issuer(s: &Spawned) -> String {
    format!("{}/resources/res_tickets", s.base)
}
