//! Pending authorizations, authorization codes, refresh tokens and revoked access
//! tokens. Single-use items are consumed with one atomic `UPDATE … WHERE used_at IS NULL
//! RETURNING`, and stay recorded after use so a replay is recognised.

use async_trait::async_trait;

use super::{SqlStore, from_json, to_json};
use crate::store::{
    CodeRecord, GrantStore, PendingAuthorization, RefreshRecord, StoreResult, Taken, UpstreamLogin,
};

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

#[derive(sqlx::FromRow)]
struct CodeRow {
    code_hash: String,
    grant_json: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    access_jti: Option<String>,
    family_id: Option<String>,
}

impl CodeRow {
    fn into_record(self) -> StoreResult<CodeRecord> {
        Ok(CodeRecord {
            grant: from_json(&self.grant_json, "code grant")?,
            code_hash: self.code_hash,
            created_at: self.created_at,
            expires_at: self.expires_at,
            used_at: self.used_at,
            access_jti: self.access_jti,
            family_id: self.family_id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    token_hash: String,
    family_id: String,
    grant_json: String,
    created_at: i64,
    expires_at: i64,
    family_expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl RefreshRow {
    fn into_record(self) -> StoreResult<RefreshRecord> {
        Ok(RefreshRecord {
            grant: from_json(&self.grant_json, "refresh grant")?,
            token_hash: self.token_hash,
            family_id: self.family_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            family_expires_at: self.family_expires_at,
            used_at: self.used_at,
            revoked_at: self.revoked_at,
        })
    }
}

const CODE_COLUMNS: &str =
    "code_hash, grant_json, created_at, expires_at, used_at, access_jti, family_id";
const REFRESH_COLUMNS: &str = "token_hash, family_id, grant_json, created_at, expires_at, family_expires_at, used_at, revoked_at";

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_pending(&self, p: &PendingAuthorization) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO pending_authorizations (id, client_id, request, session_id, created_at, expires_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&p.id)
        .bind(&p.request.client_id)
        .bind(to_json(&p.request))
        .bind(p.session_id.as_deref())
        .bind(p.created_at)
        .bind(p.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
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

    async fn insert_code(&self, c: &CodeRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, grant_json, created_at, expires_at, used_at, access_jti, family_id) \
             VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL)",
        )
        .bind(&c.code_hash)
        .bind(&c.grant.client_id)
        .bind(to_json(&c.grant))
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn take_code(&self, code_hash: &str, now: i64) -> StoreResult<Taken<CodeRecord>> {
        let sql = format!(
            "UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL RETURNING {CODE_COLUMNS}"
        );
        let fresh: Option<CodeRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(code_hash)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = fresh {
            return Ok(Taken::Fresh(row.into_record()?));
        }
        let sql = format!("SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = $1");
        let used: Option<CodeRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(code_hash)
            .fetch_optional(self.pool())
            .await?;
        Ok(match used {
            Some(row) => Taken::Replayed(row.into_record()?),
            None => Taken::Missing,
        })
    }

    async fn record_code_tokens(
        &self,
        code_hash: &str,
        access_jti: &str,
        family_id: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE authorization_codes SET access_jti = $2, family_id = $3 WHERE code_hash = $1",
        )
        .bind(code_hash)
        .bind(access_jti)
        .bind(family_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn insert_refresh(&self, r: &RefreshRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, client_id, grant_json, created_at, expires_at, \
             family_expires_at, used_at, revoked_at, user_id) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8)",
        )
        .bind(&r.token_hash)
        .bind(&r.family_id)
        .bind(&r.grant.client_id)
        .bind(to_json(&r.grant))
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(r.family_expires_at)
        .bind(&r.grant.user_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn take_refresh(&self, token_hash: &str, now: i64) -> StoreResult<Taken<RefreshRecord>> {
        let sql = format!(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL \
             RETURNING {REFRESH_COLUMNS}"
        );
        let fresh: Option<RefreshRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = fresh {
            return Ok(Taken::Fresh(row.into_record()?));
        }
        Ok(match self.find_refresh(token_hash).await? {
            Some(r) => Taken::Replayed(r),
            None => Taken::Missing,
        })
    }

    async fn find_refresh(&self, token_hash: &str) -> StoreResult<Option<RefreshRecord>> {
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
        let row: Option<RefreshRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        row.map(RefreshRow::into_record).transpose()
    }

    async fn revoke_family(&self, family_id: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        // Used codes stay until they expire (replays are recognised), then an hour more.
        let statements = [
            "DELETE FROM pending_authorizations WHERE expires_at < $1 - 3600",
            "DELETE FROM authorization_codes WHERE expires_at < $1 - 3600",
            "DELETE FROM refresh_tokens WHERE family_expires_at < $1",
            "DELETE FROM revoked_tokens WHERE expires_at < $1",
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

    async fn take_upstream_login(
        &self,
        state_hash: &str,
        now: i64,
    ) -> StoreResult<Taken<UpstreamLogin>> {
        const COLUMNS: &str = "state_hash, connection_id, pending_id, browser_hash, secrets, created_at, expires_at, used_at";
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

    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT jti FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }
}
