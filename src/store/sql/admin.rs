//! Admin sessions, the admin login rate limit, and the listings and bulk revocations of
//! the admin pages.

use async_trait::async_trait;

use super::SqlStore;
use super::consents::{COLUMNS as CONSENT_COLUMNS, ConsentRow};
use super::users::{USER_COLUMNS, UserRow, cut_user_tokens};
use crate::store::{
    AdminConsoleStore, AdminSession, AuditRecord, AuditSearch, Consent, StoreResult, User,
};

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
struct LastUsedRow {
    id: String,
    last_used_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

#[derive(sqlx::FromRow)]
struct UserCountRow {
    user_id: String,
    n: i64,
}

#[async_trait]
impl AdminConsoleStore for SqlStore {
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

    async fn delete_rule(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM rules WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user(&self, user_id: &str, now: i64) -> StoreResult<Option<u64>> {
        let mut tx = self.pool().begin().await?;
        let revoked = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Sessions and consents go with the row (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(None); // rolls back
        }
        cut_user_tokens(&mut tx, user_id, now).await?;
        tx.commit().await?;
        Ok(Some(revoked))
    }

    async fn list_users(&self, limit: i64) -> StoreResult<Vec<User>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users ORDER BY last_login_at DESC, id LIMIT $1");
        let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit.clamp(1, 1000))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(UserRow::into_user).collect()
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

    async fn revoke_user_grants(&self, user_id: &str, now: i64) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        cut_user_tokens(&mut tx, user_id, now).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn revoke_client_grants(&self, client_id: &str, now: i64) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
        )
        .bind(client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE token_families SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
        )
        .bind(client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO client_token_cutoffs (client_id, not_before) VALUES ($1, $2) \
             ON CONFLICT (client_id) DO UPDATE SET not_before = excluded.not_before \
             WHERE client_token_cutoffs.not_before < excluded.not_before",
        )
        .bind(client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn client_tokens_cutoff(&self, client_id: &str) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT not_before FROM client_token_cutoffs WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }

    async fn user_tokens_cutoff(&self, user_id: &str) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT not_before FROM user_token_cutoffs WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }

    async fn list_all_consents(&self, limit: i64) -> StoreResult<Vec<Consent>> {
        let sql =
            format!("SELECT {CONSENT_COLUMNS} FROM consents ORDER BY created_at DESC, id LIMIT $1");
        let rows: Vec<ConsentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit.clamp(1, 1000))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(ConsentRow::into_consent).collect()
    }

    async fn search_audit_events(&self, search: &AuditSearch) -> StoreResult<Vec<AuditRecord>> {
        self.search(search).await
    }

    async fn list_client_last_used(&self) -> StoreResult<Vec<(String, Option<i64>)>> {
        let rows: Vec<LastUsedRow> =
            sqlx::query_as("SELECT id, last_used_at FROM clients ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|r| (r.id, r.last_used_at)).collect())
    }
}
