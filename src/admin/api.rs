//! The JSON admin API under `/api/v1/admin/…`: the same domain functions as the pages,
//! authenticated by [`AdminAuth`] (bearer token with `portcullis:admin`, Basic, or the
//! admin session plus `X-CSRF-Token`). Errors: `{"error", "error_description", "field"}`.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::audit::AuditQuery;
use super::clients::StaticClientInput;
use super::connections::ConnectionInput;
use super::organizations::OrganizationInput;
use super::resources::ResourceInput;
use super::rules::{RuleInput, SimulationInput};
use super::{AdminAuth, AdminError};
use crate::state::AppState;

/// An admin API failure.
pub struct ApiError(StatusCode, Value);

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid { field, message } => ApiError(
                StatusCode::BAD_REQUEST,
                json!({ "error": "invalid_request", "error_description": message, "field": field }),
            ),
            AdminError::NotFound(what) => ApiError(
                StatusCode::NOT_FOUND,
                json!({ "error": "not_found", "error_description": format!("no such {what}") }),
            ),
            AdminError::InUse(message) => ApiError(
                StatusCode::CONFLICT,
                json!({ "error": "in_use", "error_description": message }),
            ),
            AdminError::Store(e) => {
                tracing::error!(error = %e, "admin API store failure");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "server_error", "error_description": "please try again later" }),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        no_store((self.0, Json(self.1)).into_response())
    }
}

pub(super) fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) fn ok(value: impl serde::Serialize) -> Response {
    no_store(Json(value).into_response())
}

pub(super) fn created(value: impl serde::Serialize) -> Response {
    no_store((StatusCode::CREATED, Json(value)).into_response())
}

pub(super) type ApiResult = Result<Response, ApiError>;

/// A JSON body whose rejection is a JSON `invalid_request` in our words (axum's rejection
/// text names framework internals).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        use axum::extract::rejection::JsonRejection;
        Json::<T>::from_request(req, state)
            .await
            .map(|j| ApiJson(j.0))
            .map_err(|e| {
                let (status, description) = match e {
                    JsonRejection::MissingJsonContentType(_) => (
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "the body must be application/json".to_string(),
                    ),
                    JsonRejection::JsonSyntaxError(_) => (
                        StatusCode::BAD_REQUEST,
                        "the body is not valid JSON".to_string(),
                    ),
                    JsonRejection::JsonDataError(e) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, data_error(&e.body_text()))
                    }
                    _ => (
                        StatusCode::BAD_REQUEST,
                        "the body is too large or unreadable".to_string(),
                    ),
                };
                ApiError(
                    status,
                    json!({ "error": "invalid_request", "error_description": description }),
                )
            })
    }
}

/// The useful part of serde's message (which field is missing or of the wrong type),
/// without axum's "Failed to deserialize the JSON body into the target type" preamble.
fn data_error(text: &str) -> String {
    let detail = text.rsplit_once(": ").map_or(text, |(_, d)| d);
    let detail = detail.split(" at line ").next().unwrap_or(detail);
    format!("the body does not fit: {}", detail.replace('`', "'"))
}

/// A query string whose rejection is a JSON `invalid_request`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|_| {
                ApiError(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "invalid_request",
                            "error_description": "the query parameters are missing or malformed" }),
                )
            })
    }
}

/// Path parameters whose rejection is a JSON `not_found`.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| {
                ApiError(
                    StatusCode::NOT_FOUND,
                    json!({ "error": "not_found", "error_description": "no such path" }),
                )
            })
    }
}

// Organizations

pub async fn get_organizations(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    Ok(ok(
        json!({ "organizations": organizations_json(super::organizations::list(&app).await?) }),
    ))
}

fn organization_json(o: crate::store::Organization) -> Value {
    json!({ "id": o.id, "display_name": o.display_name, "external_id": o.external_id,
            "domains": o.domains, "enabled": o.is_enabled,
            "initiate_login_uri": o.initiate_login_uri })
}

fn organizations_json(list: Vec<crate::store::Organization>) -> Vec<Value> {
    list.into_iter().map(organization_json).collect()
}

pub async fn post_organizations(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiJson(input): ApiJson<OrganizationInput>,
) -> ApiResult {
    Ok(created(organization_json(
        super::organizations::create(&app, &actor, input).await?,
    )))
}

pub async fn get_organization(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    Ok(ok(organization_json(
        super::organizations::get(&app, &id).await?,
    )))
}

pub async fn put_organization(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<OrganizationInput>,
) -> ApiResult {
    Ok(ok(organization_json(
        super::organizations::update(&app, &actor, &id, input).await?,
    )))
}

/// `DELETE`: 204, 404, or 409 `in_use` saying what still refers to it.
pub async fn delete_organization(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    super::organizations::delete(&app, &actor, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

/// `POST …/{id}/enable` and `…/{id}/disable` share this shape.
#[derive(Deserialize)]
pub struct Toggle {
    id: String,
    action: String,
}

fn toggle(action: &str) -> Result<bool, ApiError> {
    match action {
        "enable" => Ok(true),
        "disable" => Ok(false),
        _ => Err(ApiError(
            StatusCode::NOT_FOUND,
            json!({ "error": "not_found", "error_description": "use enable or disable" }),
        )),
    }
}

pub async fn post_organization_action(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(t): ApiPath<Toggle>,
) -> ApiResult {
    let is_enabled = toggle(&t.action)?;
    Ok(ok(organization_json(
        super::organizations::set_enabled(&app, &actor, &t.id, is_enabled).await?,
    )))
}

// Connections

pub async fn get_connections(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    Ok(ok(
        json!({ "connections": super::connections::list(&app).await? }),
    ))
}

pub async fn post_connections(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiJson(input): ApiJson<ConnectionInput>,
) -> ApiResult {
    Ok(created(
        super::connections::create(&app, &actor, input).await?,
    ))
}

pub async fn get_connection(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    Ok(ok(super::connections::get_view(&app, &id).await?.0))
}

/// Replaces the settings; a blank or absent `client_secret` keeps the stored one.
pub async fn put_connection(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ConnectionInput>,
) -> ApiResult {
    Ok(ok(
        super::connections::update(&app, &actor, &id, input).await?
    ))
}

/// `DELETE`: 204, 404, or 409 `in_use` saying what still refers to it.
pub async fn delete_connection(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    super::connections::delete(&app, &actor, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

pub async fn post_connection_action(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(t): ApiPath<Toggle>,
) -> ApiResult {
    if t.action == "test" {
        let checks = super::connections::test(&app, &t.id).await?;
        let is_ok = checks.iter().all(|c| c.is_ok);
        return Ok(ok(json!({ "ok": is_ok, "checks": checks })));
    }
    let is_enabled = toggle(&t.action)?;
    Ok(ok(super::connections::set_enabled(
        &app, &actor, &t.id, is_enabled,
    )
    .await?))
}

// Resources

fn resource_json(r: crate::store::Resource) -> Value {
    json!({ "id": r.id, "name": r.name, "server_url": r.server_url,
            "access_token_ttl": r.access_token_ttl, "refresh_token_ttl": r.refresh_token_ttl,
            "dynamic_client_registration": r.is_dcr_enabled,
            "client_id_metadata_documents": r.is_cimd_enabled,
            "cimd_allowlist": r.cimd_allowlist, "scopes": r.scopes,
            "token_issuer": r.token_issuer.as_str(), "xaa_enabled": r.is_xaa_enabled,
            "refresh_tokens": r.refresh_tokens.as_str() })
}

pub async fn get_resources(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    let list: Vec<Value> = super::resources::list(&app)
        .await?
        .into_iter()
        .map(resource_json)
        .collect();
    Ok(ok(json!({ "resources": list })))
}

pub async fn post_resources(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiJson(input): ApiJson<ResourceInput>,
) -> ApiResult {
    Ok(created(resource_json(
        super::resources::create(&app, &actor, input).await?,
    )))
}

pub async fn get_resource(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    Ok(ok(resource_json(super::resources::get(&app, &id).await?)))
}

pub async fn put_resource(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<ResourceInput>,
) -> ApiResult {
    Ok(ok(resource_json(
        super::resources::update(&app, &actor, &id, input).await?,
    )))
}

/// `DELETE`: 204, 404, or 409 `in_use` saying what still refers to it.
pub async fn delete_resource(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    super::resources::delete(&app, &actor, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

// Rules

fn rule_json(r: crate::store::Rule) -> Value {
    json!({ "id": r.id, "name": r.name, "resource_id": r.resource_id,
            "organization_id": r.organization_id, "conditions": r.conditions,
            "grants": r.grants, "effect": r.effect, "position": r.position })
}

pub async fn get_rules(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    let list: Vec<Value> = super::rules::list(&app)
        .await?
        .into_iter()
        .map(rule_json)
        .collect();
    Ok(ok(json!({ "rules": list })))
}

pub async fn post_rules(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiJson(input): ApiJson<RuleInput>,
) -> ApiResult {
    Ok(created(rule_json(
        super::rules::create(&app, &actor, input).await?,
    )))
}

pub async fn get_rule(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    Ok(ok(rule_json(super::rules::get(&app, &id).await?)))
}

pub async fn put_rule(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<RuleInput>,
) -> ApiResult {
    Ok(ok(rule_json(
        super::rules::update(&app, &actor, &id, input).await?,
    )))
}

pub async fn delete_rule(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    super::rules::delete(&app, &actor, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

pub async fn post_simulate(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiJson(input): ApiJson<SimulationInput>,
) -> ApiResult {
    Ok(ok(super::rules::simulate(&app, input).await?))
}

// Clients

/// `?after=<client id>` pages; `next` is the cursor of the next page (or null).
pub async fn get_clients(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiQuery(query): ApiQuery<ClientsQuery>,
) -> ApiResult {
    let list = super::clients::list(&app, query.after.as_deref()).await?;
    Ok(ok(json!({ "clients": list.clients, "next": list.next })))
}

#[derive(Debug, Deserialize)]
pub struct ClientsQuery {
    after: Option<String>,
}

pub async fn post_clients(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiJson(input): ApiJson<StaticClientInput>,
) -> ApiResult {
    Ok(created(
        super::clients::create_static(&app, &actor, input).await?,
    ))
}

/// The client id is a query parameter: metadata-document client ids are URLs.
#[derive(Deserialize)]
pub struct ClientQuery {
    client_id: String,
}

pub async fn delete_client(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiQuery(q): ApiQuery<ClientQuery>,
) -> ApiResult {
    super::clients::delete(&app, &actor, &q.client_id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

pub async fn post_client_revoke(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiQuery(q): ApiQuery<ClientQuery>,
) -> ApiResult {
    let n = super::clients::revoke_tokens(&app, &actor, &q.client_id).await?;
    Ok(ok(json!({ "refresh_tokens_revoked": n })))
}

// Users and consents

/// `DELETE /users/{id}`: 204 or 404.
pub async fn delete_user(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    super::users::delete(&app, &actor, &id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

pub async fn get_users(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    Ok(ok(json!({ "users": super::users::list(&app).await? })))
}

pub async fn post_user_action(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(t): ApiPath<Toggle>,
) -> ApiResult {
    if t.action == "revoke" {
        return Ok(ok(super::users::revoke(&app, &actor, &t.id).await?));
    }
    let is_enabled = toggle(&t.action)?;
    super::users::set_enabled(&app, &actor, &t.id, is_enabled).await?;
    Ok(ok(json!({ "id": t.id, "enabled": is_enabled })))
}

pub async fn get_consents(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    Ok(ok(
        json!({ "consents": super::users::list_consents(&app).await? }),
    ))
}

pub async fn post_consent_revoke(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult {
    super::users::revoke_consent(&app, &actor, &id).await?;
    Ok(ok(json!({ "id": id, "revoked": true })))
}

// Audit events

/// `?kind=&user_id=&client_id=&organization_id=&resource_id=&since=&until=&page=&limit=`
pub async fn get_audit_events(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult {
    let (events, has_more) = super::audit::list(&app, &q).await?;
    Ok(ok(
        json!({ "events": events, "page": q.page(), "has_more": has_more }),
    ))
}

pub async fn get_audit_export(
    State(app): State<AppState>,
    _a: AdminAuth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult {
    let mut r = super::audit::export(&app, &q).await?.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(no_store(r))
}

// Keys

pub async fn get_keys(State(app): State<AppState>, _a: AdminAuth) -> ApiResult {
    Ok(ok(json!({ "keys": super::keys::list(&app).await? })))
}

/// `?now=true` signs with the new key at once.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RotateRequest {
    now: bool,
}

pub async fn post_rotate(
    State(app): State<AppState>,
    AdminAuth(actor): AdminAuth,
    ApiQuery(q): ApiQuery<RotateRequest>,
) -> ApiResult {
    let kid = super::keys::rotate(&app, &actor, q.now).await?;
    Ok(created(json!({ "kid": kid })))
}
