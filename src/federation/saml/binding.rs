//! Binds an SP-initiated SAML login to the browser that started it (login CSRF: someone
//! who starts a login in their own browser must not be able to post their signed response
//! into another browser and sign that person in as themselves). The start sets a random
//! cookie whose hash the upstream login keeps; the IdP's POST is cross-site, so over https
//! the cookie is `SameSite=None; Secure` (scoped to the ACS path, HttpOnly) and comes
//! along. Over plain http `SameSite=None` is impossible (it needs `Secure`): the cookie is
//! set without a SameSite attribute, browsers that default to Lax leave it out of the
//! IdP's POST, and then the person is asked before anyone is signed in.
//!
//! Each login has its own cookie, named after its RelayState's hash, so logins started in
//! several tabs of one browser (an MCP client authorizing several servers) do not undo
//! each other.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use crate::state::AppState;

/// The binding cookies of a request (name, value), not yet checked.
#[derive(Debug, Default, Clone)]
pub struct BindingCookies(pub Vec<(String, String)>);

impl FromRequestParts<AppState> for BindingCookies {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(read_cookies(app.issuer(), &parts.headers))
    }
}

impl BindingCookies {
    /// The value of the cookie that binds the login kept under `state_hash`.
    pub fn value_for(&self, issuer: &str, state_hash: &str) -> Option<&str> {
        let name = cookie_name(issuer, state_hash);
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the ACS does with a response that answers an outstanding request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The browser that started the login: go on.
    ThisBrowser,
    /// No binding cookie over plain http: ask the person, naming the account.
    Ask,
    /// Solicited in another browser (or the cookie was lost over https): refuse, and use
    /// nothing up, so the browser that started it can still finish.
    Refuse(&'static str),
}

/// The names' common start: `__Secure-` prefixed over https (it cannot be `__Host-`: that
/// needs `Path=/`).
fn name_prefix(issuer: &str) -> &'static str {
    if is_https(issuer) {
        "__Secure-portcullis_saml_"
    } else {
        "portcullis_saml_"
    }
}

/// The name of the cookie binding the login kept under `state_hash` (hex).
pub fn cookie_name(issuer: &str, state_hash: &str) -> String {
    let short = state_hash.get(..16).unwrap_or(state_hash);
    format!("{}{short}", name_prefix(issuer))
}

/// `Set-Cookie` for the login kept under `state_hash`, sent only to `acs_path`; `max_age`
/// 0 removes it.
pub fn set_cookie(
    issuer: &str,
    acs_path: &str,
    state_hash: &str,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let attributes = if is_https(issuer) {
        "; Secure; SameSite=None"
    } else {
        ""
    };
    let header = format!(
        "{}={value}; Path={acs_path}; HttpOnly; Max-Age={max_age}{attributes}",
        cookie_name(issuer, state_hash)
    );
    HeaderValue::from_str(&header).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The binding cookies in a request (at most 32, values of at most 128 characters).
pub fn read_cookies(issuer: &str, headers: &HeaderMap) -> BindingCookies {
    let prefix = name_prefix(issuer);
    let found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, v)| k.starts_with(prefix) && !v.is_empty() && v.len() <= 128)
        .take(32)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    BindingCookies(found)
}

/// Whether the presented cookie binds this response to this browser; `stored_hash` is the
/// upstream login's `browser_hash` (empty for a login started before there was a binding).
pub fn decide(issuer: &str, presented: Option<&str>, stored_hash: &str) -> Binding {
    match presented {
        Some(value) if crate::crypto::verify_secret(value, stored_hash) => Binding::ThisBrowser,
        Some(_) => Binding::Refuse("the request was started in another browser"),
        None if is_https(issuer) => {
            Binding::Refuse("the browser that started the request did not send it")
        }
        None => Binding::Ask,
    }
}

fn is_https(issuer: &str) -> bool {
    issuer.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hash_secret;

    const HTTPS: &str = "https://auth.example";
    const HTTP: &str = "http://127.0.0.1:8080";

    #[test]
    fn only_the_browser_that_started_goes_on() {
        let stored = hash_secret("mine");
        for issuer in [HTTPS, HTTP] {
            assert_eq!(decide(issuer, Some("mine"), &stored), Binding::ThisBrowser);
            assert!(matches!(
                decide(issuer, Some("theirs"), &stored),
                Binding::Refuse(_)
            ));
            assert!(
                matches!(decide(issuer, Some("mine"), ""), Binding::Refuse(_)),
                "a login with no binding binds no browser"
            );
        }
    }

    #[test]
    fn without_the_cookie_https_refuses_and_http_asks() {
        let stored = hash_secret("mine");
        assert!(matches!(decide(HTTPS, None, &stored), Binding::Refuse(_)));
        assert_eq!(decide(HTTP, None, &stored), Binding::Ask);
        assert_eq!(decide(HTTP, None, ""), Binding::Ask);
    }

    #[test]
    fn the_cookie_survives_a_cross_site_post_only_where_it_can() {
        let hash = hash_secret("relay");
        let https = set_cookie(HTTPS, "/sso/v1/saml/conn_x/acs", &hash, "v", 600);
        assert_eq!(
            https.to_str().unwrap(),
            format!(
                "__Secure-portcullis_saml_{}=v; Path=/sso/v1/saml/conn_x/acs; HttpOnly; Max-Age=600; Secure; SameSite=None",
                &hash[..16]
            )
        );
        let http = set_cookie(HTTP, "/sso/v1/saml/conn_x/acs", &hash, "v", 600);
        assert_eq!(
            http.to_str().unwrap(),
            format!(
                "portcullis_saml_{}=v; Path=/sso/v1/saml/conn_x/acs; HttpOnly; Max-Age=600",
                &hash[..16]
            )
        );
    }

    #[test]
    fn each_login_s_cookie_is_read_by_its_scheme_s_name() {
        let (one, two) = (hash_secret("one"), hash_secret("two"));
        let header = format!(
            "portcullis_saml_{}=a; __Secure-portcullis_saml_{}=b; __Secure-portcullis_saml_{}=c; portcullis_session=s",
            &one[..16],
            &one[..16],
            &two[..16]
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&header).unwrap());
        let https = read_cookies(HTTPS, &headers);
        assert_eq!(https.value_for(HTTPS, &one), Some("b"));
        assert_eq!(https.value_for(HTTPS, &two), Some("c"));
        assert_eq!(https.value_for(HTTPS, &hash_secret("three")), None);
        let http = read_cookies(HTTP, &headers);
        assert_eq!(
            http.0.len(),
            1,
            "only its own scheme's, only binding cookies"
        );
        assert_eq!(http.value_for(HTTP, &one), Some("a"));
    }
}
