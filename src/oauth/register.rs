//! Dynamic Client Registration (RFC 7591) at `/oauth/register`,
//! `/resources/{res}/oauth/register` and Scalekit's
//! `/api/v1/resources/{res}/clients:register`. A client registered at a resource's
//! endpoint is bound to that resource; one registered at the environment endpoint may be
//! used with any resource that allows dynamic registration.

use super::form::OAuthPath;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use serde_json::{Value, json};

use super::client_metadata::{self, RegistrationRequest};
use super::endpoint::Endpoint;
use super::error::{ErrorCode, OAuthError};
use super::token::NoStore;
use crate::audit::AuditEvent;
use crate::client_ip::ClientIp;
use crate::crypto;
use crate::ids;
use crate::state::AppState;
use crate::store::{Client, ClientKind, Registration, RegistrationOutcome};

/// Largest registration body accepted.
pub const MAX_REGISTRATION_BYTES: usize = 64 * 1024;

/// A JSON registration body; malformed input is `invalid_client_metadata`.
pub struct RegistrationBody(pub RegistrationRequest);

impl<S: Send + Sync> FromRequest<S> for RegistrationBody {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(OAuthError::invalid_client_metadata(
                "the body must be application/json",
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|_| {
            OAuthError::invalid_client_metadata("the registration request is too large")
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        })?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| OAuthError::invalid_client_metadata(format!("malformed JSON: {e}")))?;
        if !value.is_object() {
            return Err(OAuthError::invalid_client_metadata(
                "the body must be a JSON object",
            ));
        }
        let request = serde_json::from_value(value)
            .map_err(|e| OAuthError::invalid_client_metadata(e.to_string()))?;
        Ok(RegistrationBody(request))
    }
}

type Registered = (StatusCode, NoStore<Json<Value>>);

pub async fn post_register(
    State(app): State<AppState>,
    ClientIp(from): ClientIp,
    RegistrationBody(req): RegistrationBody,
) -> Result<Registered, OAuthError> {
    let body = register_client(&app, Endpoint::Environment, req, &from).await?;
    Ok((StatusCode::CREATED, NoStore(Json(body))))
}

pub async fn post_resource_register(
    State(app): State<AppState>,
    OAuthPath(resource): OAuthPath<String>,
    ClientIp(from): ClientIp,
    RegistrationBody(req): RegistrationBody,
) -> Result<Registered, OAuthError> {
    let body = register_client(&app, Endpoint::Resource(resource), req, &from).await?;
    Ok((StatusCode::CREATED, NoStore(Json(body))))
}

/// Validates, stores and answers a registration; refusals are audited.
pub async fn register_client(
    app: &AppState,
    endpoint: Endpoint,
    req: RegistrationRequest,
    from: &str,
) -> Result<Value, OAuthError> {
    let result = register(app, &endpoint, req, from).await;
    match &result {
        Ok(body) => {
            app.audit
                .record(AuditEvent::ClientRegistered {
                    client_id: body["client_id"].as_str().unwrap_or_default().to_string(),
                    resource_id: endpoint.resource_id().map(str::to_string),
                    is_public: body.get("client_secret").is_none(),
                    client_name: body["client_name"].as_str().unwrap_or_default().to_string(),
                })
                .await;
        }
        Err(e) if e.code != ErrorCode::ServerError => {
            app.audit
                .record(AuditEvent::ClientRegistrationRefused {
                    resource_id: endpoint.resource_id().map(str::to_string),
                    error: e.code.as_str(),
                    reason: e.description.clone(),
                })
                .await;
        }
        Err(_) => {}
    }
    result
}

async fn register(
    app: &AppState,
    endpoint: &Endpoint,
    req: RegistrationRequest,
    from: &str,
) -> Result<Value, OAuthError> {
    let disabled = || {
        OAuthError::new(
            ErrorCode::AccessDenied,
            "dynamic client registration is disabled here",
        )
    };
    let bound_resource_id = match endpoint {
        Endpoint::Resource(id) => {
            let resource = app.store.find_resource(id).await?.ok_or_else(|| {
                OAuthError::invalid_request(format!("unknown resource `{id}`"))
                    .with_status(StatusCode::NOT_FOUND)
            })?;
            if !resource.is_dcr_enabled {
                return Err(disabled());
            }
            Some(resource.id)
        }
        Endpoint::Environment => {
            if !app
                .store
                .list_resources()
                .await?
                .iter()
                .any(|r| r.is_dcr_enabled)
            {
                return Err(disabled());
            }
            None
        }
    };

    let meta = client_metadata::validate(req)?;
    let id = ids::generate("m2m");
    let secret = (meta.token_endpoint_auth_method != "none").then(crypto::random_token);
    let now = app.clock.now();
    let client = Client {
        name: meta.client_name.clone().unwrap_or_else(|| id.clone()),
        id: id.clone(),
        kind: ClientKind::Dynamic,
        secret_hash: secret.as_deref().map(crypto::hash_secret),
        secret_expires_at: 0,
        token_endpoint_auth_method: meta.token_endpoint_auth_method.clone(),
        redirect_uris: meta.redirect_uris.clone(),
        grant_types: meta.grant_types.clone(),
        resources: Vec::new(),
        bound_resource_id,
        scopes: Vec::new(),
        has_introspection: false,
        pkce: crate::store::PkceMode::Required,
        organization_id: None,
        settings: serde_json::json!({}),
        application_type: meta.application_type.clone(),
        metadata: meta.document.clone(),
        created_at: now,
    };
    // RFC 7592: a registration access token for reading and deleting the registration.
    let registration_token = crypto::random_token();
    let registration = Registration {
        from: from.to_string(),
        token_hash: crypto::hash_secret(&registration_token),
        now,
        window_start: now - RATE_WINDOW,
        rate_limit: app.config.dcr_rate_limit,
        max_clients: app.config.dcr_max_clients,
    };
    match app.store.register_client(&client, &registration).await? {
        RegistrationOutcome::Registered => {}
        RegistrationOutcome::RateLimited => {
            return Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many registrations from this address; try again later",
            )
            .with_status(StatusCode::TOO_MANY_REQUESTS)
            .with_retry_after(60));
        }
        RegistrationOutcome::Full => return Err(registration_limit_reached()),
    }

    let mut body = meta.document;
    body["client_id"] = json!(id);
    body["client_id_issued_at"] = json!(now);
    body["registration_access_token"] = json!(registration_token);
    body["registration_client_uri"] = json!(format!(
        "{}/oauth/register/{id}",
        endpoint.issuer(app.issuer())
    ));
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    Ok(body)
}

/// The registration window of the rate limit.
pub const RATE_WINDOW: i64 = 3600;

/// The cap on clients that outsiders create (dynamic and metadata-document) is reached.
pub fn registration_limit_reached() -> OAuthError {
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the registration limit of this server is reached",
    )
    .with_status(StatusCode::SERVICE_UNAVAILABLE)
}

/// Deletes dynamic clients idle for `dcr_idle_ttl` that hold no live refresh token; a
/// reaped client's next request gets `invalid_client` and it registers again.
pub async fn reap_idle(app: &AppState) -> Result<Vec<String>, crate::store::StoreError> {
    let now = app.clock.now();
    let reaped = app
        .store
        .reap_idle_clients(now - app.config.dcr_idle_ttl, now)
        .await?;
    for id in &reaped {
        app.audit
            .record(AuditEvent::ClientReaped {
                client_id: id.clone(),
            })
            .await;
    }
    Ok(reaped)
}
