//! The append-only audit trail.

use async_trait::async_trait;

use super::{SqlStore, from_json, to_json};
use crate::store::{AuditFilter, AuditRecord, AuditSearch, AuditStore, StoreResult};

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    at: i64,
    kind: String,
    client_id: Option<String>,
    user_id: Option<String>,
    organization_id: Option<String>,
    resource_id: Option<String>,
    detail: String,
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn insert_audit_events(&self, events: &[AuditRecord]) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        for e in events {
            sqlx::query(
                "INSERT INTO audit_events (id, at, kind, client_id, user_id, organization_id, \
                 resource_id, detail, seq) SELECT $1, $2, $3, $4, $5, $6, $7, $8, \
                 COALESCE(MAX(seq), 0) + 1 FROM audit_events",
            )
            .bind(&e.id)
            .bind(e.at)
            .bind(&e.kind)
            .bind(e.client_id.as_deref())
            .bind(e.user_id.as_deref())
            .bind(e.organization_id.as_deref())
            .bind(e.resource_id.as_deref())
            .bind(to_json(&e.detail))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit_events(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        self.search_audit_events(&AuditSearch {
            kind: filter.kind.clone(),
            client_id: filter.client_id.clone(),
            limit: filter.limit,
            ..Default::default()
        })
        .await
    }

    async fn search_audit_events(&self, filter: &AuditSearch) -> StoreResult<Vec<AuditRecord>> {
        let limit = if filter.limit <= 0 {
            100
        } else {
            filter.limit.min(1000)
        };
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at, kind, client_id, user_id, organization_id, resource_id, detail \
             FROM audit_events \
             WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR client_id = $2) \
             AND ($3 = '' OR user_id = $3) AND ($4 = '' OR organization_id = $4) \
             AND ($5 = '' OR resource_id = $5) AND at >= $6 AND at <= $7 \
             ORDER BY at DESC, seq DESC, id DESC LIMIT $8 OFFSET $9",
        )
        .bind(filter.kind.clone().unwrap_or_default())
        .bind(filter.client_id.clone().unwrap_or_default())
        .bind(filter.user_id.clone().unwrap_or_default())
        .bind(filter.organization_id.clone().unwrap_or_default())
        .bind(filter.resource_id.clone().unwrap_or_default())
        .bind(filter.since.unwrap_or(i64::MIN))
        .bind(filter.until.unwrap_or(i64::MAX))
        .bind(limit)
        .bind(filter.offset.max(0))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditRecord {
                    detail: from_json(&r.detail, "audit detail")?,
                    id: r.id,
                    at: r.at,
                    kind: r.kind,
                    client_id: r.client_id,
                    user_id: r.user_id,
                    organization_id: r.organization_id,
                    resource_id: r.resource_id,
                })
            })
            .collect()
    }
}
