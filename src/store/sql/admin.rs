//! Admins, their console sessions and the admin login rate limit.

use async_trait::async_trait;

use super::SqlStore;
use crate::store::{Admin, AdminSession, AdminStore, StoreResult};

#[derive(sqlx::FromRow)]
struct AdminRow {
    username: String,
    password_hash: String,
}

#[derive(sqlx::FromRow)]
struct AdminSessionRow {
    id: String,
    token_hash: String,
    username: String,
    created_at: i64,
    expires_at: i64,
    ended_at: Option<i64>,
    last_seen_at: i64,
}

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

#[async_trait]
impl AdminStore for SqlStore {
    async fn find_admin(&self, username: &str) -> StoreResult<Option<Admin>> {
        let row: Option<AdminRow> =
            sqlx::query_as("SELECT username, password_hash FROM admins WHERE username = $1")
                .bind(username)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| Admin {
            username: r.username,
            password_hash: r.password_hash,
        }))
    }

    async fn insert_admin_session(&self, s: &AdminSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO admin_sessions \
             (id, token_hash, username, created_at, expires_at, ended_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, $6)",
        )
        .bind(&s.id)
        .bind(&s.token_hash)
        .bind(&s.username)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.last_seen_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn find_admin_session(&self, token_hash: &str) -> StoreResult<Option<AdminSession>> {
        let row: Option<AdminSessionRow> = sqlx::query_as(
            "SELECT id, token_hash, username, created_at, expires_at, ended_at, \
             COALESCE(last_seen_at, created_at) AS last_seen_at \
             FROM admin_sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| AdminSession {
            id: r.id,
            token_hash: r.token_hash,
            username: r.username,
            created_at: r.created_at,
            expires_at: r.expires_at,
            ended_at: r.ended_at,
            last_seen_at: r.last_seen_at,
        }))
    }

    async fn end_admin_session(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE admin_sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn touch_admin_session(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE admin_sessions SET last_seen_at = $2 \
             WHERE id = $1 AND ended_at IS NULL AND last_seen_at < $2",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn record_login_failure(&self, key: &str, at: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO admin_login_failures (key, at) VALUES ($1, $2)")
            .bind(key)
            .bind(at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn count_login_failures(&self, key: &str, since: i64) -> StoreResult<i64> {
        let row: CountRow = sqlx::query_as(
            "SELECT COUNT(*) AS n FROM admin_login_failures WHERE key = $1 AND at >= $2",
        )
        .bind(key)
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(row.n)
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM admin_login_failures WHERE key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
