//! The `client_credentials` grant for an organization's M2M client (`m2morg_…`, Scalekit's
//! organization clients): at the environment's token endpoint only; `aud` is the client's
//! audience (its own id when it has none), and a `resource` (RFC 8707) must be one of them;
//! the scope is the request ∩ the client's scopes (all of them when none is asked);
//! `oid` is its organization and its custom claims are added; it lives the client's expiry.

use serde_json::{Map, Value};

use super::TokenResponse;
use crate::audit::AuditEvent;
use crate::oauth::access_token::{self, TokenSubject};
use crate::oauth::endpoint::Endpoint;
use crate::oauth::error::OAuthError;
use crate::oauth::form::FormParams;
use crate::oauth::scope;
use crate::state::AppState;
use crate::store::Client;

pub async fn exchange(
    app: &AppState,
    endpoint: &Endpoint,
    client: &Client,
    params: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    if !matches!(endpoint, Endpoint::Environment) {
        return Err(OAuthError::invalid_target(
            "an organization client gets tokens at the environment's token endpoint",
        ));
    }
    let organization_id = client.organization_id.as_deref().ok_or_else(|| {
        OAuthError::invalid_client("this organization client has no organization".to_string())
    })?;
    // A client of a disabled organization gets nothing.
    let is_enabled = app
        .store
        .find_organization(organization_id)
        .await?
        .is_some_and(|o| o.is_enabled);
    if !is_enabled {
        return Err(OAuthError::invalid_client(
            "the client's organization is disabled".to_string(),
        ));
    }
    let settings = client.org_settings();
    let audience: Vec<&str> = if settings.audience.is_empty() {
        vec![client.id.as_str()]
    } else {
        settings.audience.iter().map(String::as_str).collect()
    };
    if let Some(r) = params.get("resource")
        && !audience.contains(&r)
    {
        return Err(OAuthError::invalid_target(
            "resource is not one of this client's audiences",
        ));
    }
    let granted = match params.get("scope") {
        None => settings.scopes.clone(),
        Some(text) => {
            let requested = scope::parse(text).map_err(OAuthError::invalid_scope)?;
            let granted: Vec<String> = requested
                .into_iter()
                .filter(|s| settings.scopes.contains(s))
                .collect();
            if granted.is_empty() {
                return Err(OAuthError::invalid_scope(
                    "none of the requested scopes is allowed for this client",
                ));
            }
            granted
        }
    };
    let extra: Map<String, Value> = settings
        .custom_claims
        .iter()
        .map(|c| (c.key.clone(), Value::String(c.value.clone())))
        .collect();
    let now = app.clock.now();
    let issuer = app.issuer().to_string();
    let token = access_token::mint_for(
        &app.keys,
        &TokenSubject {
            issuer: &issuer,
            subject: &client.id,
            client_id: &client.id,
            organization_id: Some(organization_id),
            session_id: None,
            extra: Some(&extra),
        },
        &audience,
        settings.expiry,
        &granted,
        now,
    )?;
    app.audit
        .record(AuditEvent::TokenIssued {
            grant: "client_credentials",
            client_id: client.id.clone(),
            subject: client.id.clone(),
            organization_id: Some(organization_id.to_string()),
            resource_id: audience.join(" "),
            scopes: granted.clone(),
            jti: token.jti.clone(),
            issuer,
            xaa: None,
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
