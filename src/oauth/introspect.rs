//! Token introspection (RFC 7662) at `/oauth/introspect` and
//! `/resources/{res}/oauth/introspect`: only admin-created clients with the introspection
//! permission, and only for access tokens whose audience includes a resource they are
//! bound to. Anything else — expired, revoked, foreign, refresh tokens — is
//! `{"active": false}`.

use super::form::OAuthPath;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::{ErrorCode, OAuthError};
use super::form::{BasicAuth, FormParams, OAuthForm};
use super::token::NoStore;
use super::{access_token, client_auth};
use crate::state::AppState;
use crate::store::ClientKind;

pub async fn post_introspect(
    State(app): State<AppState>,
    basic: BasicAuth,
    OAuthForm(params): OAuthForm,
) -> Result<NoStore<Json<Value>>, OAuthError> {
    Ok(NoStore(Json(introspect(&app, basic, &params).await?)))
}

pub async fn post_resource_introspect(
    State(app): State<AppState>,
    OAuthPath(_resource): OAuthPath<String>,
    basic: BasicAuth,
    OAuthForm(params): OAuthForm,
) -> Result<NoStore<Json<Value>>, OAuthError> {
    Ok(NoStore(Json(introspect(&app, basic, &params).await?)))
}

pub async fn introspect(
    app: &AppState,
    basic: BasicAuth,
    params: &FormParams,
) -> Result<Value, OAuthError> {
    let authed = client_auth::authenticate(app, basic, params).await?;
    let client = authed.client;
    if client.kind != ClientKind::Static || client.is_public() || !client.has_introspection {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not introspect tokens",
        )
        .with_status(StatusCode::FORBIDDEN));
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let inactive = json!({ "active": false });
    let now = app.clock.now();
    let Some(claims) = access_token::verify_live(&app.keys, app.store.as_ref(), token, now).await?
    else {
        return Ok(inactive);
    };
    let audience: Vec<&str> = claims["aud"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !client
        .resources
        .iter()
        .any(|r| audience.contains(&r.as_str()))
    {
        return Ok(inactive);
    }
    let mut out = json!({ "active": true, "token_type": "Bearer" });
    for k in [
        "scope",
        "client_id",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "nbf",
        "jti",
        "oid",
        "sid",
    ] {
        if let Some(v) = claims.get(k) {
            out[k] = v.clone();
        }
    }
    Ok(out)
}
