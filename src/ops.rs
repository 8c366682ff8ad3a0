//! Operations endpoints: `/healthz` (the process answers) and `/readyz` (the store too).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

pub async fn get_healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn get_readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "store unreachable" })),
            )
        }
    }
}

#[derive(askama::Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    issuer: &'a str,
}

/// `GET /`: where to find the metadata.
pub async fn get_index(State(app): State<AppState>) -> axum::response::Response {
    crate::pages::render(
        StatusCode::OK,
        &IndexPage {
            issuer: app.issuer(),
        },
    )
}

/// Unknown paths: a small 404, JSON under the APIs, the 404 page elsewhere.
pub async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        let mut r = (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "not_found", "error_description": "no such path" })),
        )
            .into_response();
        r.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        r
    } else {
        crate::pages::not_found().into_response()
    }
}
