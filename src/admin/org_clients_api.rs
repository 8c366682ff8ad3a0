//! The admin API of organization M2M clients:
//! `/api/v1/admin/organizations/{org}/clients[/{client}[/secrets[/{secret}]]]`.
//! A created client's and a new secret's `plain_secret` is in that response only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::AdminAuth;
use super::api::{ApiJson, ApiPath, ApiResult, created, no_store, ok};
use super::org_clients::{self, OrgClientInput};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct OrgPath {
    id: String,
}

#[derive(Deserialize)]
pub struct ClientPath {
    id: String,
    client_id: String,
}

#[derive(Deserialize)]
pub struct SecretPath {
    id: String,
    client_id: String,
    secret_id: String,
}

pub async fn get_org_clients(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiPath(p): ApiPath<OrgPath>,
) -> ApiResult {
    Ok(ok(serde_json::json!({
        "clients": org_clients::list(&app, &p.id).await?
    })))
}

pub async fn post_org_clients(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(p): ApiPath<OrgPath>,
    ApiJson(input): ApiJson<OrgClientInput>,
) -> ApiResult {
    Ok(created(
        org_clients::create(&app, &actor, &p.id, input).await?,
    ))
}

pub async fn get_org_client(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiPath(p): ApiPath<ClientPath>,
) -> ApiResult {
    Ok(ok(org_clients::get(&app, &p.id, &p.client_id).await?))
}

pub async fn delete_org_client(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(p): ApiPath<ClientPath>,
) -> ApiResult {
    org_clients::delete(&app, &actor, &p.id, &p.client_id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

pub async fn post_org_client_secrets(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(p): ApiPath<ClientPath>,
) -> ApiResult {
    Ok(created(
        org_clients::add_secret(&app, &actor, &p.id, &p.client_id).await?,
    ))
}

pub async fn delete_org_client_secret(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(p): ApiPath<SecretPath>,
) -> ApiResult {
    org_clients::remove_secret(&app, &actor, &p.id, &p.client_id, &p.secret_id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}
