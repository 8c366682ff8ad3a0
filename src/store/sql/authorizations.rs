//! Pending authorizations: `/authorize` requests between the redirect to sign-in and the
//! code.

use async_trait::async_trait;

use super::{SqlStore, from_json, to_json};
use crate::store::{AuthorizationStore, PendingAuthorization, StoreResult};

#[derive(sqlx::FromRow)]
struct PendingRow {
    id: String,
    request: String,
    session_id: Option<String>,
    created_at: i64,
    expires_at: i64,
    finished_at: Option<i64>,
}

#[async_trait]
impl AuthorizationStore for SqlStore {
    async fn insert_pending(
        &self,
        p: &PendingAuthorization,
        from_address: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO pending_authorizations (id, client_id, request, session_id, created_at, expires_at, finished_at, from_address) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
        )
        .bind(&p.id)
        .bind(&p.request.client_id)
        .bind(to_json(&p.request))
        .bind(p.session_id.as_deref())
        .bind(p.created_at)
        .bind(p.expires_at)
        .bind(from_address)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn count_pending_from(&self, from_address: &str, since: i64) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pending_authorizations \
             WHERE from_address = $1 AND created_at >= $2 AND finished_at IS NULL",
        )
        .bind(from_address)
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    async fn find_pending(&self, id: &str) -> StoreResult<Option<PendingAuthorization>> {
        let row: Option<PendingRow> = sqlx::query_as(
            "SELECT id, request, session_id, created_at, expires_at, finished_at FROM pending_authorizations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(PendingAuthorization {
                request: from_json(&r.request, "pending request")?,
                id: r.id,
                session_id: r.session_id,
                created_at: r.created_at,
                expires_at: r.expires_at,
                finished_at: r.finished_at,
            })
        })
        .transpose()
    }

    async fn attach_session(&self, pending_id: &str, session_id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE pending_authorizations SET session_id = $2 WHERE id = $1")
            .bind(pending_id)
            .bind(session_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn finish_pending(&self, id: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE pending_authorizations SET finished_at = $2 WHERE id = $1 AND finished_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
