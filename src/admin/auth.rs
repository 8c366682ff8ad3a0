//! Authentication of the admin API: a bearer access token this server issued through
//! `client_credentials` to an admin-created client holding `portcullis:admin`, with the
//! admin API as its audience (RFC 6750), the admin session cookie (writes then also need
//! the session's CSRF token in `X-CSRF-Token`), or, for reads only, HTTP Basic with an
//! admin's password or such a client's secret.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use super::{Actor, AdminPrincipal, login};
use crate::client_ip::ClientIp;
use crate::crypto;
use crate::oauth::scope::ADMIN_SCOPE;
use crate::state::AppState;
use crate::store::ClientKind;

/// An authenticated admin API caller.
pub struct AdminAuth(pub Actor);

/// A refused admin API request (RFC 6750 §3 challenges for bearer tokens).
#[derive(Debug)]
pub struct AdminRejection {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: &'static str,
}

impl AdminRejection {
    fn new(status: StatusCode, error: &'static str, description: &'static str) -> Self {
        Self {
            status,
            error,
            description,
        }
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "admin credentials are required",
        )
    }
    fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is invalid, expired or revoked",
        )
    }
    fn insufficient_scope() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the token does not carry portcullis:admin",
        )
    }
    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "please try again later",
        )
    }
}

impl IntoResponse for AdminRejection {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut r = (self.status, Json(body)).into_response();
        let h = r.headers_mut();
        let challenge = match self.error {
            "invalid_token" => {
                Some("Bearer realm=\"portcullis admin\", error=\"invalid_token\"".to_string())
            }
            "insufficient_scope" => Some(format!(
                "Bearer realm=\"portcullis admin\", error=\"insufficient_scope\", scope=\"{ADMIN_SCOPE}\""
            )),
            _ if self.status == StatusCode::UNAUTHORIZED => {
                Some("Bearer realm=\"portcullis admin\"".to_string())
            }
            _ => None,
        };
        // No Basic challenge: a browser would prompt, remember the password and send it
        // with cross-site requests (CSRF).
        if let Some(c) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.append(header::WWW_AUTHENTICATE, c);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// The address, user agent and request id of a request, for the audit trail.
pub(crate) async fn request_context(parts: &mut Parts, app: &AppState) -> (String, String, String) {
    let address = match ClientIp::from_request_parts(parts, app).await {
        Ok(ClientIp(a)) => a,
        Err(never) => match never {},
    };
    let text = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>()
    };
    (address, text("user-agent"), text("x-request-id"))
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = AdminRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (address, user_agent, request_id) = request_context(parts, app).await;
        let principal = principal(parts, app, &address).await?;
        Ok(AdminAuth(Actor {
            principal,
            address,
            user_agent,
            request_id,
        }))
    }
}

async fn principal(
    parts: &Parts,
    app: &AppState,
    address: &str,
) -> Result<AdminPrincipal, AdminRejection> {
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(value) = authorization {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        return match scheme.to_ascii_lowercase().as_str() {
            "bearer" => bearer(app, rest.trim()).await,
            // HTTP Basic reads only: browsers send remembered Basic credentials with
            // cross-site requests, so writes need a bearer token or the session + CSRF.
            "basic" if matches!(parts.method, Method::GET | Method::HEAD) => {
                basic(app, rest.trim(), address).await
            }
            "basic" => Err(AdminRejection::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "HTTP Basic may only read: write with a bearer token or the admin session and its CSRF token",
            )),
            _ => Err(AdminRejection::unauthorized()),
        };
    }
    let Some(token) = crate::session::Cookie::Admin.read(app.issuer(), &parts.headers) else {
        return Err(AdminRejection::unauthorized());
    };
    let session = login::current(app, &token)
        .await
        .map_err(|_| AdminRejection::server_error())?
        .ok_or_else(AdminRejection::unauthorized)?;
    let is_safe = matches!(parts.method, Method::GET | Method::HEAD);
    let csrf = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_safe && !login::csrf_matches(&token, csrf) {
        return Err(AdminRejection::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "writes with the admin session need its X-CSRF-Token",
        ));
    }
    Ok(AdminPrincipal::Admin(session.username))
}

/// A JWT access token of ours: signature, `typ`, issuer, live (time, not revoked, not cut
/// off), issued to a client (client_credentials) that still exists and still holds
/// `portcullis:admin`.
async fn bearer(app: &AppState, token: &str) -> Result<AdminPrincipal, AdminRejection> {
    let invalid = AdminRejection::invalid_token;
    let now = app.clock.now();
    let claims = crate::oauth::access_token::verify_live(&app.keys, app.store.as_ref(), token, now)
        .await
        .map_err(|_| AdminRejection::server_error())?
        .ok_or_else(invalid)?;
    let issuer = app.issuer();
    let iss = claims["iss"].as_str().unwrap_or("");
    let is_ours = iss == issuer
        || iss
            .strip_prefix(issuer)
            .is_some_and(|rest| rest.starts_with("/resources/"));
    if !is_ours {
        return Err(invalid());
    }
    let has_admin_scope = claims["scope"]
        .as_str()
        .unwrap_or("")
        .split(' ')
        .any(|s| s == ADMIN_SCOPE);
    let client_id = claims["client_id"].as_str().unwrap_or("");
    // Admin tokens: the environment issuer and the admin API as audience (a token meant for
    // an MCP server never opens the admin API, whatever its scope), issued by
    // client_credentials (sub = client). Any other token of ours is valid but not enough.
    let audience = crate::oauth::scope::admin_audience(issuer);
    let is_for_admin_api = iss == issuer
        && claims["aud"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(audience.as_str())));
    if !has_admin_scope || !is_for_admin_api || claims["sub"].as_str() != Some(client_id) {
        return Err(AdminRejection::insufficient_scope());
    }
    let client = app
        .store
        .find_client(client_id)
        .await
        .map_err(|_| AdminRejection::server_error())?
        .ok_or_else(invalid)?;
    if client.kind != ClientKind::Static || !client.scopes.iter().any(|s| s == ADMIN_SCOPE) {
        return Err(invalid());
    }
    Ok(AdminPrincipal::Client(client.id))
}

/// HTTP Basic: an admin's username and password, or an admin client's id and secret.
async fn basic(
    app: &AppState,
    encoded: &str,
    address: &str,
) -> Result<AdminPrincipal, AdminRejection> {
    let fail = AdminRejection::unauthorized;
    let (user, password) = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        })
        .ok_or_else(fail)?;
    let server_error = |_| AdminRejection::server_error();
    if app
        .store
        .find_admin(&user)
        .await
        .map_err(server_error)?
        .is_some()
    {
        // The sign-in page's rate limit applies to admin passwords here too.
        return match login::check_password(app, &user, password, address, None).await {
            Ok(_) => Ok(AdminPrincipal::Admin(user)),
            Err(login::LoginError::Invalid) => Err(fail()),
            Err(login::LoginError::RateLimited) => Err(AdminRejection::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many failed sign-ins; wait 15 minutes",
            )),
            Err(login::LoginError::Store(_)) => Err(AdminRejection::server_error()),
        };
    }
    let client = app
        .store
        .find_client(&user)
        .await
        .map_err(server_error)?
        .ok_or_else(fail)?;
    let secret_ok = client
        .secret_hash
        .as_deref()
        .is_some_and(|h| crypto::verify_secret(&password, h));
    if !secret_ok {
        return Err(fail());
    }
    if client.kind != ClientKind::Static || !client.scopes.iter().any(|s| s == ADMIN_SCOPE) {
        return Err(AdminRejection::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this client does not hold portcullis:admin",
        ));
    }
    Ok(AdminPrincipal::Client(client.id))
}
