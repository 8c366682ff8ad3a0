//! `/oauth/userinfo` (OIDC Core §5.3) for access tokens issued to users with `openid`,
//! answering the claims their OIDC scopes release (§5.4), as the ID token does. Errors are
//! RFC 6750 §3 challenges.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{access_token, id_token};
use crate::state::AppState;

/// RFC 6750 §3: `WWW-Authenticate: Bearer error=…`.
#[derive(Debug)]
pub struct BearerError {
    pub status: StatusCode,
    pub error: Option<&'static str>,
    pub description: &'static str,
}

impl BearerError {
    pub(crate) fn invalid_token(description: &'static str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: Some("invalid_token"),
            description,
        }
    }

    /// RFC 6750 §3.1: the token lacks a scope this endpoint needs.
    pub(crate) fn insufficient_scope(description: &'static str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            error: Some("insufficient_scope"),
            description,
        }
    }

    /// The store failed: 500, without a challenge (the token may well be fine).
    pub(crate) fn server_error() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: Some("server_error"),
            description: "the token could not be checked",
        }
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let challenge = match self.error {
            Some(e) => format!(
                "Bearer realm=\"portcullis\", error=\"{e}\", error_description=\"{}\"",
                self.description
            ),
            None => "Bearer realm=\"portcullis\"".to_string(),
        };
        let mut r = (self.status, Json(json!({ "error": self.error.unwrap_or("invalid_request"), "error_description": self.description })))
            .into_response();
        if self.status.is_client_error()
            && let Ok(v) = HeaderValue::from_str(&challenge)
        {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// The bearer token of the Authorization header.
pub struct BearerToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = BearerError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match value.and_then(|v| v.split_once(' ')) {
            Some((scheme, token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
            {
                Ok(BearerToken(token.trim().to_string()))
            }
            _ => Err(BearerError {
                status: StatusCode::UNAUTHORIZED,
                error: None,
                description: "a bearer token is required",
            }),
        }
    }
}

pub async fn get_userinfo(
    State(app): State<AppState>,
    BearerToken(token): BearerToken,
) -> Result<Json<Value>, BearerError> {
    let live = access_token::verify_live(&app.keys, app.store.as_ref(), &token, app.clock.now())
        .await
        .map_err(|_| BearerError::server_error())?;
    let Some(claims) = live else {
        return Err(BearerError::invalid_token(
            "the token is not a valid access token: expired, revoked or not ours",
        ));
    };
    let scopes = token_scopes(&claims);
    // OIDC Core §5.3.1: userinfo is for access tokens obtained in an OpenID request.
    if !scopes.contains(&"openid") {
        return Err(BearerError::insufficient_scope(
            "userinfo needs an access token granted the openid scope",
        ));
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    let user = match app.store.find_user(sub).await {
        Ok(Some(u)) if u.is_enabled => u,
        Err(_) => return Err(BearerError::server_error()),
        Ok(_) => {
            return Err(BearerError::invalid_token(
                "the token does not belong to a user",
            ));
        }
    };
    Ok(Json(user_claims(&user, &scopes)))
}

/// The scopes an access token names (`scopes` array, else the `scope` string).
fn token_scopes(claims: &Value) -> Vec<&str> {
    match claims["scopes"].as_array() {
        Some(list) => list.iter().filter_map(Value::as_str).collect(),
        None => claims["scope"]
            .as_str()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect(),
    }
}

/// `sub` and `oid` always (as in the ID token), then what the scopes release.
fn user_claims(user: &crate::store::User, scopes: &[&str]) -> Value {
    let mut out = json!({ "sub": user.id, "oid": user.organization_id });
    if let (Some(map), Ok(Value::Object(profile))) = (
        out.as_object_mut(),
        serde_json::to_value(id_token::profile_claims(user, scopes)),
    ) {
        map.extend(profile);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_scopes_read_the_array_or_the_string() {
        assert_eq!(
            token_scopes(&json!({ "scopes": ["a", "openid"], "scope": "x" })),
            ["a", "openid"]
        );
        assert_eq!(
            token_scopes(&json!({ "scope": "a  openid" })),
            ["a", "openid"]
        );
        assert!(token_scopes(&json!({})).is_empty());
    }
}
