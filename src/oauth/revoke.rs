//! Token revocation (RFC 7009) at `/oauth/revoke` and `/resources/{res}/oauth/revoke`.
//! A client revokes only its own tokens; public clients identify themselves by
//! `client_id`. Unknown or foreign tokens are answered 200 as the RFC asks (§2.2).
//! A revoked access token reads inactive at introspection, but resource servers that
//! verify locally accept it until it expires.

use super::form::OAuthPath;
use axum::extract::State;
use axum::http::StatusCode;

use super::client_auth;
use super::error::OAuthError;
use super::form::{BasicAuth, FormParams, OAuthForm};
use super::token::NoStore;
use crate::audit::AuditEvent;
use crate::crypto;
use crate::state::AppState;

pub async fn post_revoke(
    State(app): State<AppState>,
    basic: BasicAuth,
    OAuthForm(params): OAuthForm,
) -> Result<NoStore<StatusCode>, OAuthError> {
    revoke(&app, basic, &params).await?;
    Ok(NoStore(StatusCode::OK))
}

pub async fn post_resource_revoke(
    State(app): State<AppState>,
    OAuthPath(_resource): OAuthPath<String>,
    basic: BasicAuth,
    OAuthForm(params): OAuthForm,
) -> Result<NoStore<StatusCode>, OAuthError> {
    revoke(&app, basic, &params).await?;
    Ok(NoStore(StatusCode::OK))
}

pub async fn revoke(
    app: &AppState,
    basic: BasicAuth,
    params: &FormParams,
) -> Result<(), OAuthError> {
    let client = client_auth::authenticate(app, basic, params).await?.client;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let now = app.clock.now();
    if token.matches('.').count() == 2 {
        if let Some((_, claims)) = app.keys.verify(token)
            && claims["client_id"].as_str() == Some(client.id.as_str())
            && let Some(jti) = claims["jti"].as_str()
        {
            let exp = claims["exp"].as_i64().unwrap_or(now);
            app.store.revoke_access_token(jti, exp).await?;
            app.audit
                .record(AuditEvent::TokenRevoked {
                    client_id: client.id.clone(),
                    token_kind: "access_token",
                    jti_or_family: jti.to_string(),
                })
                .await;
        }
        return Ok(());
    }
    if let Some(r) = app.store.find_refresh(&crypto::hash_secret(token)).await?
        && r.grant.client_id == client.id
    {
        app.store.revoke_family(&r.family_id, now).await?;
        app.audit
            .record(AuditEvent::TokenRevoked {
                client_id: client.id.clone(),
                token_kind: "refresh_token",
                jti_or_family: r.family_id,
            })
            .await;
    }
    Ok(())
}
