//! Operations endpoints: `/healthz` (the process answers) and `/readyz` (the store too).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::AppState;

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
    use askama::Template;
    use axum::response::{Html, IntoResponse};
    match (IndexPage {
        issuer: app.issuer(),
    })
    .render()
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering the index page failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
