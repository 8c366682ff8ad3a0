//! `GET /api/v1/admin/audit-events?kind=&client_id=&limit=`: the audit trail, newest first.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminAuth, AdminRejection};
use crate::app::AppState;
use crate::store::AuditFilter;

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    kind: Option<String>,
    client_id: Option<String>,
    limit: Option<i64>,
}

pub async fn get_audit_events(
    State(app): State<AppState>,
    _admin: AdminAuth,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, AdminRejection> {
    app.audit.flush().await;
    let events = app
        .store
        .list_audit_events(&AuditFilter {
            kind: q.kind,
            client_id: q.client_id,
            limit: q.limit.unwrap_or(100),
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "listing audit events failed");
            AdminRejection(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
            )
        })?;
    Ok(Json(json!({ "events": events })))
}
