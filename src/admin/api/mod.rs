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

/// `POST …/{id}/enable` and `…/{id}/disable` share this shape.
#[derive(Deserialize)]
pub struct Toggle {
    pub(super) id: String,
    pub(super) action: String,
}

pub(super) fn toggle(action: &str) -> Result<bool, ApiError> {
    match action {
        "enable" => Ok(true),
        "disable" => Ok(false),
        _ => Err(ApiError(
            StatusCode::NOT_FOUND,
            json!({ "error": "not_found", "error_description": "use enable or disable" }),
        )),
    }
}

mod clients;
mod resources;
mod upstream;

pub use clients::*;
pub use resources::*;
pub use upstream::*;
