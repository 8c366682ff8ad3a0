//! Pending authorizations, upstream login states and the SAML replay cache. Single-use
//! items are consumed with one atomic `UPDATE … WHERE used_at IS NULL RETURNING`, and stay
//! recorded after use so a replay is recognised.

use async_trait::async_trait;

use super::{SqlStore, from_json, to_json};
use crate::store::{GrantStore, PendingAuthorization, StoreResult, Taken, UpstreamLogin};

const UPSTREAM_COLUMNS: &str =
    "state_hash, connection_id, pending_id, browser_hash, secrets, created_at, expires_at, used_at";

#[derive(sqlx::FromRow)]
struct UpstreamRow {
    state_hash: String,
    connection_id: String,
    pending_id: String,
    browser_hash: String,
    secrets: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl From<UpstreamRow> for UpstreamLogin {
    fn from(r: UpstreamRow) -> Self {
        UpstreamLogin {
            state_hash: r.state_hash,
            connection_id: r.connection_id,
            pending_id: r.pending_id,
            browser_hash: r.browser_hash,
            secrets: r.secrets,
            created_at: r.created_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
        }
    }
}

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
impl GrantStore for SqlStore {
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

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        // Used codes stay until they expire (replays are recognised), then an hour more.
        let statements = [
            "DELETE FROM pending_authorizations WHERE expires_at < $1 - 300",
            "DELETE FROM authorization_codes WHERE expires_at < $1 - 3600",
            "DELETE FROM refresh_tokens WHERE family_expires_at < $1",
            "DELETE FROM revoked_tokens WHERE expires_at < $1",
            "DELETE FROM family_access_tokens WHERE expires_at < $1",
            "DELETE FROM token_families WHERE expires_at < $1",
            "DELETE FROM client_registrations WHERE at < $1 - 86400",
            "DELETE FROM sessions WHERE expires_at < $1 - 86400",
            "DELETE FROM upstream_logins WHERE expires_at < $1 - 3600",
            "DELETE FROM saml_assertions WHERE expires_at < $1",
            "DELETE FROM admin_sessions WHERE expires_at < $1 - 86400",
            "DELETE FROM admin_login_failures WHERE at < $1 - 86400",
        ];
        let mut total = 0;
        for sql in statements {
            total += sqlx::query(sql)
                .bind(now)
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        Ok(total)
    }

    async fn insert_upstream_login(&self, l: &UpstreamLogin) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO upstream_logins (state_hash, connection_id, pending_id, browser_hash, secrets, \
             created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&l.state_hash)
        .bind(&l.connection_id)
        .bind(&l.pending_id)
        .bind(&l.browser_hash)
        .bind(&l.secrets)
        .bind(l.created_at)
        .bind(l.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn remember_assertion(
        &self,
        connection_id: &str,
        assertion_id: &str,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO saml_assertions (connection_id, assertion_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (connection_id, assertion_id) DO NOTHING",
        )
        .bind(connection_id)
        .bind(assertion_id)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn find_upstream_login(&self, state_hash: &str) -> StoreResult<Option<UpstreamLogin>> {
        let row: Option<UpstreamRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {UPSTREAM_COLUMNS} FROM upstream_logins WHERE state_hash = $1"
        )))
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(Into::into))
    }

    async fn take_upstream_login(
        &self,
        state_hash: &str,
        now: i64,
    ) -> StoreResult<Taken<UpstreamLogin>> {
        const COLUMNS: &str = UPSTREAM_COLUMNS;
        let fresh: Option<UpstreamRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE upstream_logins SET used_at = $2 WHERE state_hash = $1 AND used_at IS NULL RETURNING {COLUMNS}"
        )))
        .bind(state_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        if let Some(r) = fresh {
            return Ok(Taken::Fresh(r.into()));
        }
        let used: Option<UpstreamRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM upstream_logins WHERE state_hash = $1"
        )))
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(match used {
            Some(r) => Taken::Replayed(r.into()),
            None => Taken::Missing,
        })
    }
}
