//! Remembered consents per (user, client, redirect URI, resource).

use async_trait::async_trait;

use super::{SqlStore, from_json, to_json};
use crate::store::{Consent, ConsentStore, StoreResult};

const COLUMNS: &str =
    "id, user_id, client_id, redirect_uri, resource_id, scopes, created_at, revoked_at";

#[derive(sqlx::FromRow)]
struct ConsentRow {
    id: String,
    user_id: String,
    client_id: String,
    redirect_uri: String,
    resource_id: String,
    scopes: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl ConsentRow {
    fn into_consent(self) -> StoreResult<Consent> {
        Ok(Consent {
            scopes: from_json(&self.scopes, "consent scopes")?,
            id: self.id,
            user_id: self.user_id,
            client_id: self.client_id,
            redirect_uri: self.redirect_uri,
            resource_id: self.resource_id,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        })
    }
}

#[async_trait]
impl ConsentStore for SqlStore {
    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
        redirect_uri: &str,
        resource_id: &str,
    ) -> StoreResult<Option<Consent>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM consents WHERE user_id = $1 AND client_id = $2 AND redirect_uri = $3 AND resource_id = $4"
        );
        let row: Option<ConsentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .bind(client_id)
            .bind(redirect_uri)
            .bind(resource_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(ConsentRow::into_consent).transpose()
    }

    async fn upsert_consent(&self, c: &Consent) -> StoreResult<Consent> {
        let sql = format!(
            "INSERT INTO consents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) \
             ON CONFLICT (user_id, client_id, redirect_uri, resource_id) DO UPDATE SET \
             scopes = excluded.scopes, created_at = excluded.created_at, revoked_at = NULL \
             RETURNING {COLUMNS}"
        );
        let row: ConsentRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&c.id)
            .bind(&c.user_id)
            .bind(&c.client_id)
            .bind(&c.redirect_uri)
            .bind(&c.resource_id)
            .bind(to_json(&c.scopes))
            .bind(c.created_at)
            .fetch_one(self.pool())
            .await?;
        row.into_consent()
    }

    async fn find_consent_by_id(&self, id: &str) -> StoreResult<Option<Consent>> {
        let sql = format!("SELECT {COLUMNS} FROM consents WHERE id = $1");
        let row: Option<ConsentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(ConsentRow::into_consent).transpose()
    }

    async fn revoke_consent(&self, id: &str, now: i64) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE consents SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_consents(&self, user_id: &str) -> StoreResult<Vec<Consent>> {
        let sql =
            format!("SELECT {COLUMNS} FROM consents WHERE user_id = $1 ORDER BY created_at, id");
        let rows: Vec<ConsentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(ConsentRow::into_consent).collect()
    }

    async fn list_all_consents(&self, limit: i64) -> StoreResult<Vec<Consent>> {
        let sql = format!("SELECT {COLUMNS} FROM consents ORDER BY created_at DESC, id LIMIT $1");
        let rows: Vec<ConsentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit.clamp(1, 1000))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(ConsentRow::into_consent).collect()
    }
}
