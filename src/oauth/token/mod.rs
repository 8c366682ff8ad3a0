//! The token endpoint (RFC 6749 §3.2), environment and per-resource. One file per grant;
//! this file dispatches and renders. Errors are RFC 6749 §5.2 JSON; successes carry
//! `Cache-Control: no-store`.

mod client_credentials;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::endpoint::Endpoint;
use super::error::{ErrorCode, OAuthError};
use super::form::{BasicAuth, FormParams, OAuthForm};
use crate::app::AppState;
use crate::audit::AuditEvent;

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// JSON with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub struct NoStore<T>(pub T);

impl<T: IntoResponse> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        let mut r = self.0.into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r.headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        r
    }
}

pub async fn post_token(
    State(app): State<AppState>,
    basic: BasicAuth,
    OAuthForm(params): OAuthForm,
) -> Result<NoStore<Json<TokenResponse>>, OAuthError> {
    Ok(NoStore(Json(
        exchange(&app, Endpoint::Environment, basic, params).await?,
    )))
}

pub async fn post_resource_token(
    State(app): State<AppState>,
    Path(resource): Path<String>,
    basic: BasicAuth,
    OAuthForm(params): OAuthForm,
) -> Result<NoStore<Json<TokenResponse>>, OAuthError> {
    Ok(NoStore(Json(
        exchange(&app, Endpoint::Resource(resource), basic, params).await?,
    )))
}

/// Runs the grant named by `grant_type`; every refusal leaves an audit event.
pub async fn exchange(
    app: &AppState,
    endpoint: Endpoint,
    basic: BasicAuth,
    params: FormParams,
) -> Result<TokenResponse, OAuthError> {
    let grant = params.get("grant_type").map(str::to_string);
    let basic_client = basic.0.as_ref().map(|(id, _)| id.clone());
    let result = match grant.as_deref() {
        None => Err(OAuthError::invalid_request("grant_type is required")),
        Some("client_credentials") => {
            client_credentials::exchange(app, &endpoint, basic, &params).await
        }
        Some(other) => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant type `{}` is not supported", other.escape_default()),
        )),
    };
    if let Err(e) = &result
        && e.code != ErrorCode::ServerError
    {
        app.audit
            .record(AuditEvent::TokenRefused {
                grant,
                client_id: basic_client.or_else(|| params.get("client_id").map(str::to_string)),
                error: e.code.as_str(),
                reason: e.description.clone(),
            })
            .await;
    }
    result
}
