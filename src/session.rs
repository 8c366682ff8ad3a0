//! Browser sessions: an HttpOnly, SameSite=Lax cookie holding a random token (only its
//! hash is stored), `__Host-` prefixed and Secure when the issuer is https. A new token
//! and session id at every login (no fixation), and a maximum age.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use crate::crypto;
use crate::state::AppState;
use crate::store::Session;

/// Maximum session age: 8 hours.
pub const SESSION_TTL: i64 = 8 * 3600;

/// The cookies portcullis sets: the browser session, the short-lived binding of an
/// upstream login to the browser that started it, and the admin pages' session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cookie {
    Session,
    Login,
    /// SameSite=Strict: the admin pages are never the target of a cross-site navigation.
    Admin,
    /// A browser an admin has signed in from (see `admin::login::device_token`): Strict too.
    AdminDevice,
}

/// The raw value of the cookie `name` in a request, if any.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl Cookie {
    /// `__Host-` prefixed when the issuer is https.
    pub fn name(self, issuer: &str) -> &'static str {
        let is_https = issuer.starts_with("https://");
        match (self, is_https) {
            (Cookie::Session, true) => "__Host-portcullis_session",
            (Cookie::Session, false) => "portcullis_session",
            (Cookie::Login, true) => "__Host-portcullis_login",
            (Cookie::Login, false) => "portcullis_login",
            (Cookie::Admin, true) => "__Host-portcullis_admin",
            (Cookie::Admin, false) => "portcullis_admin",
            (Cookie::AdminDevice, true) => "__Host-portcullis_admin_device",
            (Cookie::AdminDevice, false) => "portcullis_admin_device",
        }
    }

    /// The cookie's value in a request, if any (not yet checked).
    pub fn read(self, issuer: &str, headers: &HeaderMap) -> Option<String> {
        cookie_value(headers, self.name(issuer)).filter(|v| !v.is_empty() && v.len() <= 128)
    }

    /// `Set-Cookie`: HttpOnly, Path=/, Secure on https, SameSite=Lax (Strict for the admin
    /// session); `max_age` 0 removes it.
    pub fn set(self, issuer: &str, value: &str, max_age: i64) -> HeaderValue {
        let secure = if issuer.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let same_site = if matches!(self, Cookie::Admin | Cookie::AdminDevice) {
            "Strict"
        } else {
            "Lax"
        };
        let header = format!(
            "{}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}",
            self.name(issuer)
        );
        HeaderValue::from_str(&header).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The session token from the request's cookie, if any (not yet checked).
#[derive(Debug, Default, Clone)]
pub struct SessionCookie(pub Option<String>);

impl FromRequestParts<AppState> for SessionCookie {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = Cookie::Session.read(app.issuer(), &parts.headers);
        Ok(SessionCookie(token))
    }
}

/// The session a cookie names, if it is live.
pub async fn current(
    app: &AppState,
    cookie: &SessionCookie,
) -> Result<Option<Session>, crate::store::StoreError> {
    let Some(token) = &cookie.0 else {
        return Ok(None);
    };
    let Some(session) = app
        .store
        .find_session_by_token(&crypto::hash_secret(token))
        .await?
    else {
        return Ok(None);
    };
    let now = app.clock.now();
    Ok((session.ended_at.is_none() && session.expires_at > now).then_some(session))
}

/// `Set-Cookie` for a new session token.
pub fn set_cookie(issuer: &str, token: &str) -> HeaderValue {
    Cookie::Session.set(issuer, token, SESSION_TTL)
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(issuer: &str) -> HeaderValue {
    Cookie::Session.set(issuer, "", 0)
}
