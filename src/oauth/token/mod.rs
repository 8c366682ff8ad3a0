//! The token endpoint (RFC 6749 §3.2), environment and per-resource. One file per grant;
//! this file dispatches and renders. Errors are RFC 6749 §5.2 JSON; successes carry
//! `Cache-Control: no-store`.

mod authorization_code;
mod client_credentials;
pub mod jwt_bearer;
mod organization_client;
mod refresh_token;

pub use client_credentials::is_environment_client;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::access_token::{self, TokenSubject};
use super::endpoint::Endpoint;
use super::error::{ErrorCode, OAuthError};
use super::form::{BasicAuth, FormParams, OAuthForm, OAuthPath, TokenClientAuth};
use super::id_token;
use crate::audit::AuditEvent;
use crate::crypto;
use crate::state::AppState;
use crate::store::{Client, Grant, Issuance, NewFamily, RefreshRecord, Resource, User};

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
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
    TokenClientAuth(basic): TokenClientAuth,
    OAuthForm(params): OAuthForm,
) -> Result<NoStore<Json<TokenResponse>>, OAuthError> {
    Ok(NoStore(Json(
        exchange(&app, Endpoint::Environment, basic, params).await?,
    )))
}

pub async fn post_resource_token(
    State(app): State<AppState>,
    OAuthPath(resource): OAuthPath<String>,
    TokenClientAuth(basic): TokenClientAuth,
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
        Some("authorization_code") => {
            authorization_code::exchange(app, &endpoint, basic, &params).await
        }
        Some("refresh_token") => refresh_token::exchange(app, &endpoint, basic, &params).await,
        Some(jwt_bearer::GRANT) => jwt_bearer::exchange(app, &endpoint, basic, &params).await,
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
                client_id: basic_client
                    .or_else(|| params.get("client_id").map(str::to_string))
                    .or_else(|| {
                        // private_key_jwt sends no client_id: the assertion names it.
                        let assertion = params.get("client_assertion")?;
                        let (_, claims) = super::jwt_assertion::peek(assertion).ok()?;
                        claims["sub"]
                            .as_str()
                            .map(|s| s.chars().take(128).collect())
                    }),
                error: e.code.as_str(),
                reason: e.description.clone(),
            })
            .await;
    }
    result
}

/// Tokens minted for a user grant, not yet handed out: the caller stores `issuance` in the
/// same transaction that consumes the code or the refresh token, then returns `response`.
pub struct Prepared {
    pub response: TokenResponse,
    pub issuance: Issuance,
}

/// Mints the access token (and a rotated or new refresh token, and an ID token for a
/// code with `openid`: `code` is that code, for `c_hash`) for a user grant of `family`.
/// Stores nothing.
#[allow(clippy::too_many_arguments)]
pub fn prepare_user_tokens(
    app: &AppState,
    client: &Client,
    grant: &Grant,
    user: &User,
    resource: &Resource,
    scopes: &[String],
    family: NewFamily,
    previous: Option<&RefreshRecord>,
    code: Option<&str>,
) -> Result<Prepared, OAuthError> {
    let now = app.clock.now();
    let issuer = access_token::token_issuer(&grant.issuer, app.issuer(), resource);
    let token = access_token::mint(
        &app.keys,
        &TokenSubject {
            issuer: &issuer,
            subject: &user.id,
            client_id: &client.id,
            organization_id: Some(&grant.organization_id),
            session_id: Some(&grant.session_id),
            extra: None,
        },
        resource,
        &super::scope::access_token_scopes(scopes, &grant.oidc_scopes),
        now,
    )?;
    // Refresh tokens for clients allowed the grant; rotation stays in the family and
    // never outlives its absolute lifetime.
    let (refresh_token, refresh) = if client.has_grant("refresh_token")
        && resource.refresh_tokens.allows(&grant.oidc_scopes)
    {
        let family_expires_at = match previous {
            Some(p) => p.family_expires_at,
            None => now + resource.refresh_token_ttl,
        };
        let refresh = crypto::random_token();
        let record = RefreshRecord {
            token_hash: crypto::hash_secret(&refresh),
            family_id: family.id.clone(),
            grant: grant.clone(),
            created_at: now,
            expires_at: family_expires_at,
            family_expires_at,
            used_at: None,
            revoked_at: None,
            is_family_revoked: false,
        };
        (Some(refresh), Some(record))
    } else {
        (None, None)
    };
    let id_token = if previous.is_none() && grant.oidc_scopes.iter().any(|s| s == "openid") {
        Some(id_token::mint(
            &app.keys, grant, user, &token.jwt, code, now,
        )?)
    } else {
        None
    };
    let mut response_scopes = scopes.to_vec();
    response_scopes.extend(
        grant
            .oidc_scopes
            .iter()
            .filter(|s| *s != "offline_access" || refresh_token.is_some())
            .cloned(),
    );
    let family = NewFamily {
        expires_at: family.expires_at.max(now + token.expires_in),
        ..family
    };
    Ok(Prepared {
        response: TokenResponse {
            access_token: token.jwt,
            token_type: "Bearer",
            expires_in: token.expires_in,
            scope: response_scopes.join(" "),
            refresh_token,
            id_token,
        },
        issuance: Issuance {
            family,
            access_jti: token.jti,
            access_expires_at: now + token.expires_in,
            refresh,
        },
    })
}

/// Audits tokens that were stored and are handed out; counts a dynamic client's use.
pub async fn record_issued(
    app: &AppState,
    client: &Client,
    grant: &Grant,
    resource: &Resource,
    scopes: Vec<String>,
    issuance: &Issuance,
    grant_type: &'static str,
) -> Result<(), OAuthError> {
    if client.kind != crate::store::ClientKind::Static {
        // Reaping counts idle time from the last use.
        app.store.touch_client(&client.id, app.clock.now()).await?;
    }
    app.audit
        .record(AuditEvent::TokenIssued {
            grant: grant_type,
            client_id: client.id.clone(),
            subject: grant.user_id.clone(),
            organization_id: Some(grant.organization_id.clone()),
            resource_id: resource.id.clone(),
            scopes,
            jti: issuance.access_jti.clone(),
            issuer: grant.issuer.clone(),
            xaa: None,
        })
        .await;
    Ok(())
}
