//! Browser sessions of signed-in users.

use async_trait::async_trait;

use super::SqlStore;
use crate::store::{Session, SessionStore, StoreResult};

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    token_hash: String,
    user_id: String,
    connection_id: String,
    organization_id: String,
    auth_time: i64,
    expires_at: i64,
    ended_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct UserCountRow {
    user_id: String,
    n: i64,
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(&self, s: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, connection_id, organization_id, auth_time, \
             expires_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&s.id)
        .bind(&s.token_hash)
        .bind(&s.user_id)
        .bind(&s.connection_id)
        .bind(&s.organization_id)
        .bind(s.auth_time)
        .bind(s.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn find_session_by_token(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT id, token_hash, user_id, connection_id, organization_id, auth_time, expires_at, ended_at \
             FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| Session {
            id: r.id,
            token_hash: r.token_hash,
            user_id: r.user_id,
            connection_id: r.connection_id,
            organization_id: r.organization_id,
            auth_time: r.auth_time,
            expires_at: r.expires_at,
            ended_at: r.ended_at,
        }))
    }

    async fn end_session(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn count_live_sessions(&self, now: i64) -> StoreResult<Vec<(String, i64)>> {
        let rows: Vec<UserCountRow> = sqlx::query_as(
            "SELECT user_id, COUNT(*) AS n FROM sessions WHERE ended_at IS NULL AND expires_at > $1 \
             GROUP BY user_id ORDER BY user_id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| (r.user_id, r.n)).collect())
    }

    async fn end_user_sessions(&self, user_id: &str, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
