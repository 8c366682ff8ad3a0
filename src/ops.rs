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
