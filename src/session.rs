//! Browser sessions: an HttpOnly, SameSite=Lax cookie holding a random token (only its
//! hash is stored), `__Host-` prefixed and Secure when the issuer is https. A new token
//! and session id at every login (no fixation), and a maximum age.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};

use crate::app::AppState;
use crate::crypto;
use crate::store::Session;

/// Maximum session age: 8 hours.
pub const SESSION_TTL: i64 = 8 * 3600;

pub fn cookie_name(issuer: &str) -> &'static str {
    if issuer.starts_with("https://") {
        "__Host-portcullis_session"
    } else {
        "portcullis_session"
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
        let name = cookie_name(app.issuer());
        let token = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty() && v.len() <= 128);
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
    let secure = if issuer.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_TTL}{secure}",
        cookie_name(issuer)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(issuer: &str) -> HeaderValue {
    let secure = if issuer.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        cookie_name(issuer)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}
