//! The `client_credentials` grant (RFC 6749 §4.4) for admin-created confidential clients:
//! `resource` (RFC 8707) binds `aud`; the scope is the request ∩ what the client may have.
//! Without `resource`, an environment API client (`skc_…`) gets its management token, a
//! token for itself (`aud: [client_id]`, what Scalekit's SDKs fetch); another client
//! allowed exactly one resource gets a token for it; any other a token for itself.
//! `portcullis:admin` is a token of its own: asked alone, at the environment's endpoint,
//! with the admin API (`{issuer}/api/v1/admin`) as its only audience, never beside an MCP
//! server's scopes (a token an MCP server receives must not open the admin API).

use super::TokenResponse;
use crate::audit::AuditEvent;
use crate::oauth::access_token::{self, TokenSubject};
use crate::oauth::client_auth;
use crate::oauth::endpoint::{Endpoint, resolve_resource};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::form::{BasicAuth, FormParams};
use crate::oauth::scope;
use crate::state::AppState;
use crate::store::{Client, ClientKind, Resource, TokenIssuer};

pub async fn exchange(
    app: &AppState,
    endpoint: &Endpoint,
    basic: BasicAuth,
    params: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    let authed = client_auth::authenticate(app, basic, params).await?;
    let client = &authed.client;
    if client.kind == ClientKind::Organization {
        return super::organization_client::exchange(app, endpoint, client, params).await;
    }
    // client_credentials is for admin-created confidential clients only.
    if client.kind != ClientKind::Static
        || client.is_public()
        || !client.has_grant("client_credentials")
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the client_credentials grant",
        ));
    }

    let requested = params
        .get("scope")
        .map(scope::parse)
        .transpose()
        .map_err(OAuthError::invalid_scope)?;
    let admin_audience = scope::admin_audience(app.issuer());
    let wants_admin = params.get("resource") == Some(admin_audience.as_str())
        || requested
            .as_ref()
            .is_some_and(|r| r.iter().any(|s| s == scope::ADMIN_SCOPE));
    if wants_admin {
        return admin_token(app, endpoint, client, requested.as_deref(), params).await;
    }

    let resource = match resolve_resource(app, endpoint, params.get("resource")).await? {
        Some(r) => r,
        // An environment API client's token naming no resource is its management token
        // (what Scalekit's SDKs fetch with `skc_…` credentials).
        None if is_environment_client(client) => {
            return own_token(app, client, requested.as_deref()).await;
        }
        None => match client.resources.as_slice() {
            [only] => app.store.find_resource(only).await?.ok_or_else(|| {
                OAuthError::invalid_target("the client's resource no longer exists")
            })?,
            // No resource to default to: a token for the client itself (Scalekit's
            // management and client tokens, `aud: [client_id]`).
            _ => return own_token(app, client, requested.as_deref()).await,
        },
    };
    if !client.resources.contains(&resource.id) {
        return Err(OAuthError::invalid_target(
            "this client may not get tokens for that resource",
        ));
    }

    let allowed: Vec<String> = client
        .scopes
        .iter()
        .filter(|s| resource.scope_names().any(|n| n == scope::base(s)))
        .cloned()
        .collect();
    let granted = match &requested {
        None => allowed,
        Some(requested) => scope::intersect(requested, &allowed),
    };
    if granted.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the requested scopes is allowed for this client",
        ));
    }

    let issuer =
        access_token::token_issuer(&endpoint.issuer(app.issuer()), app.issuer(), &resource);
    issue(app, &issuer, client, &resource, granted).await
}

/// An environment API client (`skc_…`, Scalekit's environment client ids).
pub fn is_environment_client(client: &Client) -> bool {
    client.id.starts_with("skc_")
}

/// A token for the client itself, naming no resource: `aud: [client_id]`, the environment
/// issuer, no resource scopes (there is no resource they could be for).
async fn own_token(
    app: &AppState,
    client: &Client,
    requested: Option<&[String]>,
) -> Result<TokenResponse, OAuthError> {
    if requested.is_some_and(|r| !r.is_empty()) {
        return Err(OAuthError::invalid_target(
            "`resource` is required for scopes: name the MCP server",
        ));
    }
    let resource = Resource::login_app(client);
    issue(app, app.issuer(), client, &resource, Vec::new()).await
}

/// A `portcullis:admin` token: only that scope, only the admin API as audience.
async fn admin_token(
    app: &AppState,
    endpoint: &Endpoint,
    client: &Client,
    requested: Option<&[String]>,
    params: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    let audience = scope::admin_audience(app.issuer());
    if !matches!(endpoint, Endpoint::Environment) {
        return Err(OAuthError::invalid_target(
            "admin tokens are issued at the environment's token endpoint only",
        ));
    }
    if params.get("resource").is_some_and(|r| r != audience) {
        return Err(OAuthError::invalid_scope(format!(
            "{} is requested alone, for the resource {audience}",
            scope::ADMIN_SCOPE
        )));
    }
    if requested.is_some_and(|r| r.iter().any(|s| s != scope::ADMIN_SCOPE)) {
        return Err(OAuthError::invalid_scope(format!(
            "{} is requested alone; ask for an MCP server's scopes in another token",
            scope::ADMIN_SCOPE
        )));
    }
    if !client.scopes.iter().any(|s| s == scope::ADMIN_SCOPE) {
        return Err(OAuthError::invalid_scope(format!(
            "this client does not hold {}",
            scope::ADMIN_SCOPE
        )));
    }
    let resource = Resource {
        id: ADMIN_RESOURCE_ID.into(),
        name: "portcullis admin API".into(),
        server_url: audience,
        access_token_ttl: ADMIN_TOKEN_TTL,
        refresh_token_ttl: 0,
        is_dcr_enabled: false,
        is_cimd_enabled: false,
        cimd_allowlist: Vec::new(),
        scopes: Vec::new(),
        token_issuer: TokenIssuer::Environment,
        is_xaa_enabled: false,
        refresh_tokens: crate::store::RefreshPolicy::Always,
    };
    let granted = vec![scope::ADMIN_SCOPE.to_string()];
    issue(app, app.issuer(), client, &resource, granted).await
}

/// The `aud` id of admin tokens (beside the admin API's URL).
pub const ADMIN_RESOURCE_ID: &str = "portcullis_admin";
/// Admin tokens live five minutes.
const ADMIN_TOKEN_TTL: i64 = 300;

async fn issue(
    app: &AppState,
    issuer: &str,
    client: &Client,
    resource: &Resource,
    granted: Vec<String>,
) -> Result<TokenResponse, OAuthError> {
    let issuer = issuer.to_string();
    let now = app.clock.now();
    let token = access_token::mint(
        &app.keys,
        &TokenSubject {
            issuer: &issuer,
            subject: &client.id,
            client_id: &client.id,
            organization_id: None,
            session_id: None,
            extra: None,
        },
        resource,
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
