//! The `client_credentials` grant (RFC 6749 §4.4) for admin-created confidential clients:
//! `resource` (RFC 8707) binds `aud`; the scope is the request ∩ what the client may have.

use super::TokenResponse;
use crate::app::AppState;
use crate::audit::AuditEvent;
use crate::oauth::access_token::{self, TokenSubject};
use crate::oauth::client_auth;
use crate::oauth::endpoint::{Endpoint, resolve_resource};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::form::{BasicAuth, FormParams};
use crate::oauth::scope;
use crate::store::ClientKind;

pub async fn exchange(
    app: &AppState,
    endpoint: &Endpoint,
    basic: BasicAuth,
    params: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    let authed = client_auth::authenticate(app, basic, params).await?;
    let client = &authed.client;
    // DESIGN.md: client_credentials is for admin-created confidential clients only.
    if client.kind != ClientKind::Static
        || client.is_public()
        || !client.has_grant("client_credentials")
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the client_credentials grant",
        ));
    }

    let resource = match resolve_resource(app, endpoint, params.get("resource")).await? {
        Some(r) => r,
        None => match client.resources.as_slice() {
            [only] => app.store.find_resource(only).await?.ok_or_else(|| {
                OAuthError::invalid_target("the client's resource no longer exists")
            })?,
            _ => {
                return Err(OAuthError::invalid_target(
                    "`resource` is required: name the MCP server",
                ));
            }
        },
    };
    if !client.resources.contains(&resource.id) {
        return Err(OAuthError::invalid_target(
            "this client may not get tokens for that resource",
        ));
    }

    // The admin scope goes only to the admin-created clients that hold it (never to
    // dynamic or metadata clients, which cannot reach this grant).
    let allowed: Vec<String> = client
        .scopes
        .iter()
        .filter(|s| *s == scope::ADMIN_SCOPE || resource.scope_names().any(|n| n == scope::base(s)))
        .cloned()
        .collect();
    let granted = match params.get("scope") {
        None => allowed,
        Some(text) => {
            let requested = scope::parse(text).map_err(OAuthError::invalid_scope)?;
            scope::intersect(&requested, &allowed)
        }
    };
    if granted.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the requested scopes is allowed for this client",
        ));
    }

    let issuer = endpoint.issuer(app.issuer());
    let now = app.clock.now();
    let token = access_token::mint(
        &app.keys,
        &TokenSubject {
            issuer: &issuer,
            subject: &client.id,
            client_id: &client.id,
            organization_id: None,
            session_id: None,
        },
        &resource,
        &granted,
        now,
    )?;
    app.audit
        .record(AuditEvent::TokenIssued {
            grant: "client_credentials",
            client_id: client.id.clone(),
            subject: client.id.clone(),
            organization_id: None,
            resource_id: resource.id.clone(),
            scopes: granted.clone(),
            jti: token.jti.clone(),
            issuer,
        })
        .await;
    Ok(TokenResponse {
        access_token: token.jwt,
        token_type: "Bearer",
        expires_in: token.expires_in,
        scope: granted.join(" "),
        refresh_token: None,
        id_token: None,
    })
}
