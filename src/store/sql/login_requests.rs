//! Bring-your-own-auth login requests: the hash of the id handed to the application, the
//! upstream login it belongs to, and the identity the application posts for it (sealed),
//! set once. The `UpstreamStore` methods call these.

use super::SqlStore;
use crate::store::StoreResult;

#[derive(sqlx::FromRow)]
struct IdentityRow {
    identity: Option<String>,
}

impl SqlStore {
    pub(super) async fn login_request_insert(
        &self,
        login_request_hash: &str,
        state_hash: &str,
        connection_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO login_requests (login_request_hash, state_hash, connection_id, \
             identity, expires_at) VALUES ($1, $2, $3, NULL, $4)",
        )
        .bind(login_request_hash)
        .bind(state_hash)
        .bind(connection_id)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(super) async fn login_request_set_identity(
        &self,
        login_request_hash: &str,
        connection_id: &str,
        sealed_identity: &str,
        now: i64,
    ) -> StoreResult<bool> {
        // Once, while the login is open: one statement, so two posts cannot both set it.
        let done = sqlx::query(
            "UPDATE login_requests SET identity = $3 \
             WHERE login_request_hash = $1 AND connection_id = $2 AND identity IS NULL \
             AND expires_at > $4 AND EXISTS (SELECT 1 FROM upstream_logins u \
               WHERE u.state_hash = login_requests.state_hash AND u.used_at IS NULL)",
        )
        .bind(login_request_hash)
        .bind(connection_id)
        .bind(sealed_identity)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn login_request_identity(
        &self,
        state_hash: &str,
    ) -> StoreResult<Option<String>> {
        let row: Option<IdentityRow> =
            sqlx::query_as("SELECT identity FROM login_requests WHERE state_hash = $1")
                .bind(state_hash)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|r| r.identity))
    }
}
