//! The client configuration endpoint (RFC 7592) for dynamically registered clients:
//! `GET` reads, `PUT` replaces and `DELETE` removes a registration, authorized by the registration access
//! token returned at registration (stored hashed). Any failure is 401 `invalid_token`, so
//! the endpoint does not reveal which client ids exist.

use super::form::OAuthPath;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::{ErrorCode, OAuthError};
use super::token::NoStore;
use super::userinfo::BearerToken;
use crate::audit::AuditEvent;
use crate::crypto;
use crate::state::AppState;
use crate::store::{Client, ClientKind};

fn invalid_token() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidToken,
        "the registration access token is not valid for this client",
    )
    .with_status(StatusCode::UNAUTHORIZED)
}

async fn authorized(app: &AppState, client_id: &str, token: &str) -> Result<Client, OAuthError> {
    let hash = app
        .store
        .registration_token_hash(client_id)
        .await?
        .ok_or_else(invalid_token)?;
    if !crypto::verify_secret(token, &hash) {
        return Err(invalid_token());
    }
    app.store
        .find_client(client_id)
        .await?
        .filter(|c| c.kind == ClientKind::Dynamic)
        .ok_or_else(invalid_token)
}

pub async fn get_client_config(
    State(app): State<AppState>,
    OAuthPath(client_id): OAuthPath<String>,
    BearerToken(token): BearerToken,
) -> Result<NoStore<Json<Value>>, OAuthError> {
    let client = authorized(&app, &client_id, &token).await?;
    let mut body = client.metadata.clone();
    body["client_id"] = json!(client.id);
    body["client_id_issued_at"] = json!(client.created_at);
    Ok(NoStore(Json(body)))
}

pub async fn delete_client_config(
    State(app): State<AppState>,
    OAuthPath(client_id): OAuthPath<String>,
    BearerToken(token): BearerToken,
) -> Result<StatusCode, OAuthError> {
    let client = authorized(&app, &client_id, &token).await?;
    app.store.delete_client(&client.id).await?;
    app.audit
        .record(AuditEvent::ClientDeleted {
            client_id: client.id,
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get_resource_client_config(
    state: State<AppState>,
    OAuthPath((_resource, client_id)): OAuthPath<(String, String)>,
    token: BearerToken,
) -> Result<NoStore<Json<Value>>, OAuthError> {
    get_client_config(state, OAuthPath(client_id), token).await
}

pub async fn put_resource_client_config(
    state: State<AppState>,
    OAuthPath((_resource, client_id)): OAuthPath<(String, String)>,
    token: BearerToken,
    body: super::register::RegistrationBody,
) -> Result<NoStore<Json<Value>>, OAuthError> {
    put_client_config(state, OAuthPath(client_id), token, body).await
}

pub async fn delete_resource_client_config(
    state: State<AppState>,
    OAuthPath((_resource, client_id)): OAuthPath<(String, String)>,
    token: BearerToken,
) -> Result<StatusCode, OAuthError> {
    delete_client_config(state, OAuthPath(client_id), token).await
}

/// `PUT`: replaces the registered metadata (RFC 7592 §2.2). The client id and any secret
/// sent must be the registered ones; the authentication method cannot change.
pub async fn put_client_config(
    State(app): State<AppState>,
    OAuthPath(client_id): OAuthPath<String>,
    BearerToken(token): BearerToken,
    super::register::RegistrationBody(req): super::register::RegistrationBody,
) -> Result<NoStore<Json<Value>>, OAuthError> {
    update(&app, &client_id, &token, req)
        .await
        .map(|v| NoStore(Json(v)))
}

async fn update(
    app: &AppState,
    client_id: &str,
    token: &str,
    req: super::client_metadata::RegistrationRequest,
) -> Result<Value, OAuthError> {
    let mut client = authorized(app, client_id, token).await?;
    if req.client_id.as_deref().is_some_and(|id| id != client.id) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the registration",
        ));
    }
    let meta = super::client_metadata::validate(req)?;
    if meta.token_endpoint_auth_method != client.token_endpoint_auth_method {
        return Err(OAuthError::invalid_client_metadata(
            "token_endpoint_auth_method cannot change",
        ));
    }
    client.name = meta
        .client_name
        .clone()
        .unwrap_or_else(|| client.id.clone());
    client.redirect_uris = meta.redirect_uris.clone();
    client.grant_types = meta.grant_types.clone();
    client.application_type = meta.application_type.clone();
    client.metadata = meta.document.clone();
    app.store.upsert_client(&client).await?;
    app.audit
        .record(AuditEvent::ClientRegistered {
            client_id: client.id.clone(),
            resource_id: client.bound_resource_id.clone(),
            is_public: client.is_public(),
            client_name: client.name.clone(),
        })
        .await;
    let mut body = meta.document;
    body["client_id"] = json!(client.id);
    body["client_id_issued_at"] = json!(client.created_at);
    Ok(body)
}
