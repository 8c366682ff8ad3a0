//! Organization M2M clients and their secrets. The clients live in `clients` (kind
//! `organization`, with `organization_id` and `settings`); their secrets, only hashed, in
//! `client_secrets`. Writes here clear the client cache like every client write.

use async_trait::async_trait;

use super::SqlStore;
use super::clients::{CLIENT_COLUMNS, ClientRow, INSERT_CLIENT, bind_client};
use crate::store::{Client, ClientSecret, Deletion, OrgClientStore, StoreError, StoreResult};

#[derive(sqlx::FromRow)]
struct SecretRow {
    id: String,
    client_id: String,
    secret_hash: String,
    secret_suffix: String,
    created_at: i64,
}

impl From<SecretRow> for ClientSecret {
    fn from(r: SecretRow) -> Self {
        Self {
            id: r.id,
            client_id: r.client_id,
            secret_hash: r.secret_hash,
            secret_suffix: r.secret_suffix,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

#[async_trait]
impl OrgClientStore for SqlStore {
    async fn insert_org_client(&self, client: &Client, secret: &ClientSecret) -> StoreResult<()> {
        let _written = self.cache.clients_written();
        let mut tx = self.pool().begin().await?;
        bind_client(sqlx::query(INSERT_CLIENT), client)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_write(e, "client id already exists"))?;
        sqlx::query(
            "INSERT INTO client_secrets (id, client_id, secret_hash, secret_suffix, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&secret.id)
        .bind(&secret.client_id)
        .bind(&secret.secret_hash)
        .bind(&secret.secret_suffix)
        .bind(secret.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_org_clients(&self, organization_id: &str) -> StoreResult<Vec<Client>> {
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE organization_id = $1 \
             ORDER BY created_at, id"
        );
        let rows: Vec<ClientRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(organization_id)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn insert_client_secret(&self, secret: &ClientSecret, max: i64) -> StoreResult<bool> {
        // Counted and inserted in one statement: two rotations at once cannot pass the cap.
        let mut tx = self.pool().begin().await?;
        if self.backend() == super::Backend::Postgres {
            sqlx::query("SELECT id FROM clients WHERE id = $1 FOR UPDATE")
                .bind(&secret.client_id)
                .execute(&mut *tx)
                .await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO client_secrets (id, client_id, secret_hash, secret_suffix, created_at) \
             SELECT $1, $2, $3, $4, $5 \
             WHERE (SELECT COUNT(*) FROM client_secrets WHERE client_id = $2) < $6",
        )
        .bind(&secret.id)
        .bind(&secret.client_id)
        .bind(&secret.secret_hash)
        .bind(&secret.secret_suffix)
        .bind(secret.created_at)
        .bind(max)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn list_client_secrets(&self, client_id: &str) -> StoreResult<Vec<ClientSecret>> {
        let rows: Vec<SecretRow> = sqlx::query_as(
            "SELECT id, client_id, secret_hash, secret_suffix, created_at FROM client_secrets \
             WHERE client_id = $1 ORDER BY created_at, id",
        )
        .bind(client_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(ClientSecret::from).collect())
    }

    async fn delete_client_secret(
        &self,
        client_id: &str,
        secret_id: &str,
    ) -> StoreResult<Deletion> {
        let mut tx = self.pool().begin().await?;
        if self.backend() == super::Backend::Postgres {
            sqlx::query("SELECT id FROM clients WHERE id = $1 FOR UPDATE")
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
        }
        let count: CountRow =
            sqlx::query_as("SELECT COUNT(*) AS n FROM client_secrets WHERE client_id = $1")
                .bind(client_id)
                .fetch_one(&mut *tx)
                .await?;
        let exists: CountRow = sqlx::query_as(
            "SELECT COUNT(*) AS n FROM client_secrets WHERE client_id = $1 AND id = $2",
        )
        .bind(client_id)
        .bind(secret_id)
        .fetch_one(&mut *tx)
        .await?;
        if exists.n == 0 {
            return Ok(Deletion::NotFound);
        }
        if count.n <= 1 {
            return Ok(Deletion::InUse(vec!["its last secret".into()]));
        }
        sqlx::query("DELETE FROM client_secrets WHERE client_id = $1 AND id = $2")
            .bind(client_id)
            .bind(secret_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Deletion::Deleted)
    }
}
