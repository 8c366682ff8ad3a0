//! Clients: seeded, admin-created, dynamically registered. `find_client` reads through the
//! client cache; every method here that writes clients clears it.

use async_trait::async_trait;

use super::{SqlStore, from_json, to_json};
use crate::store::{
    Client, ClientKind, ClientStore, PkceMode, Registration, RegistrationOutcome, StoreError,
    StoreResult,
};

pub(super) const CLIENT_COLUMNS: &str = "id, name, kind, secret_hash, secret_expires_at, \
    token_endpoint_auth_method, redirect_uris, grant_types, resources, bound_resource_id, \
    scopes, introspection, application_type, metadata, created_at, pkce, organization_id, settings";

#[derive(sqlx::FromRow)]
pub(super) struct ClientRow {
    id: String,
    name: String,
    kind: String,
    secret_hash: Option<String>,
    secret_expires_at: i64,
    token_endpoint_auth_method: String,
    redirect_uris: String,
    grant_types: String,
    resources: String,
    bound_resource_id: Option<String>,
    scopes: String,
    introspection: i64,
    application_type: String,
    metadata: String,
    created_at: i64,
    pkce: String,
    organization_id: Option<String>,
    settings: String,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> StoreResult<Client> {
        Ok(Client {
            kind: ClientKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("client kind `{}`", r.kind)))?,
            redirect_uris: from_json(&r.redirect_uris, "client redirect_uris")?,
            grant_types: from_json(&r.grant_types, "client grant_types")?,
            resources: from_json(&r.resources, "client resources")?,
            scopes: from_json(&r.scopes, "client scopes")?,
            metadata: from_json(&r.metadata, "client metadata")?,
            settings: from_json(&r.settings, "client settings")?,
            organization_id: r.organization_id,
            pkce: PkceMode::parse(&r.pkce)
                .ok_or_else(|| StoreError::Corrupt(format!("client pkce `{}`", r.pkce)))?,
            id: r.id,
            name: r.name,
            secret_hash: r.secret_hash,
            secret_expires_at: r.secret_expires_at,
            token_endpoint_auth_method: r.token_endpoint_auth_method,
            bound_resource_id: r.bound_resource_id,
            has_introspection: r.introspection != 0,
            application_type: r.application_type,
            created_at: r.created_at,
        })
    }
}

/// Insert or update by id (the seed's upsert and registration's insert share it).
pub(super) const UPSERT_CLIENT: &str = "INSERT INTO clients (id, name, kind, secret_hash, \
    secret_expires_at, token_endpoint_auth_method, redirect_uris, grant_types, resources, \
    bound_resource_id, scopes, introspection, application_type, metadata, created_at, updated_at, pkce, organization_id, settings) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18) \
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
    secret_hash = excluded.secret_hash, secret_expires_at = excluded.secret_expires_at, \
    token_endpoint_auth_method = excluded.token_endpoint_auth_method, \
    redirect_uris = excluded.redirect_uris, grant_types = excluded.grant_types, \
    resources = excluded.resources, bound_resource_id = excluded.bound_resource_id, \
    scopes = excluded.scopes, introspection = excluded.introspection, \
    application_type = excluded.application_type, metadata = excluded.metadata, \
    updated_at = excluded.updated_at, pkce = excluded.pkce, \
    organization_id = excluded.organization_id, settings = excluded.settings";

pub(super) const INSERT_CLIENT: &str = "INSERT INTO clients (id, name, kind, secret_hash, \
    secret_expires_at, token_endpoint_auth_method, redirect_uris, grant_types, resources, \
    bound_resource_id, scopes, introspection, application_type, metadata, created_at, updated_at, pkce, organization_id, settings) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18)";

pub(super) fn bind_client<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    c: &'q Client,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(&c.id)
        .bind(&c.name)
        .bind(c.kind.as_str())
        .bind(c.secret_hash.as_deref())
        .bind(c.secret_expires_at)
        .bind(&c.token_endpoint_auth_method)
        .bind(to_json(&c.redirect_uris))
        .bind(to_json(&c.grant_types))
        .bind(to_json(&c.resources))
        .bind(c.bound_resource_id.as_deref())
        .bind(to_json(&c.scopes))
        .bind(i64::from(c.has_introspection))
        .bind(&c.application_type)
        .bind(to_json(&c.metadata))
        .bind(c.created_at)
        .bind(c.pkce.as_str())
        .bind(c.organization_id.as_deref())
        .bind(to_json(&c.settings))
}

#[derive(sqlx::FromRow)]
struct LastUsedRow {
    id: String,
    last_used_at: Option<i64>,
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn find_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let load = async {
            let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1");
            let row: Option<ClientRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
            row.map(Client::try_from).transpose()
        };
        self.cache.clients.get_or_load(id, load).await
    }

    async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        let _written = self.cache.clients_written();
        bind_client(sqlx::query(INSERT_CLIENT), client)
            .execute(self.pool())
            .await
            .map_err(|e| StoreError::from_write(e, "client id already exists"))?;
        Ok(())
    }

    async fn upsert_client(&self, client: &Client) -> StoreResult<()> {
        let _written = self.cache.clients_written();
        bind_client(sqlx::query(UPSERT_CLIENT), client)
            .execute(self.pool())
            .await
            .map_err(|e| StoreError::from_write(e, "client"))?;
        Ok(())
    }

    async fn count_dynamic_clients(&self) -> StoreResult<i64> {
        let mut conn = self.pool().acquire().await?;
        count_outsider_clients(&mut conn).await
    }

    async fn register_client(
        &self,
        client: &Client,
        reg: &Registration,
    ) -> StoreResult<RegistrationOutcome> {
        let mut tx = self.pool().begin().await?;
        take_registration_lock(&mut tx).await?;
        let (recent,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM client_registrations WHERE registered_from = $1 AND at >= $2",
        )
        .bind(&reg.from)
        .bind(reg.window_start)
        .fetch_one(&mut *tx)
        .await?;
        if recent >= reg.rate_limit {
            tx.rollback().await?;
            return Ok(RegistrationOutcome::RateLimited);
        }
        if count_outsider_clients(&mut tx).await? >= reg.max_clients {
            tx.rollback().await?;
            return Ok(RegistrationOutcome::Full);
        }
        bind_client(sqlx::query(INSERT_CLIENT), client)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_write(e, "client id already exists"))?;
        sqlx::query(
            "UPDATE clients SET registered_from = $2, registration_token_hash = $3, last_used_at = $4 WHERE id = $1",
        )
        .bind(&client.id)
        .bind(&reg.from)
        .bind(&reg.token_hash)
        .bind(reg.now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO client_registrations (registered_from, at) VALUES ($1, $2)")
            .bind(&reg.from)
            .bind(reg.now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RegistrationOutcome::Registered)
    }

    async fn store_metadata_client(&self, client: &Client, max_clients: i64) -> StoreResult<bool> {
        let _written = self.cache.clients_written();
        let mut tx = self.pool().begin().await?;
        take_registration_lock(&mut tx).await?;
        let known: Option<(String,)> = sqlx::query_as("SELECT id FROM clients WHERE id = $1")
            .bind(&client.id)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() && count_outsider_clients(&mut tx).await? >= max_clients {
            tx.rollback().await?;
            return Ok(false);
        }
        bind_client(sqlx::query(UPSERT_CLIENT), client)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_write(e, "client"))?;
        tx.commit().await?;
        Ok(true)
    }

    async fn touch_client(&self, client_id: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE clients SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2 - 3600)",
        )
        .bind(client_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn reap_idle_clients(&self, idle_before: i64, now: i64) -> StoreResult<Vec<String>> {
        let _written = self.cache.clients_written();
        // Safe with several replicas: a second reaper deletes nothing more.
        let rows: Vec<(String,)> = sqlx::query_as(
            "DELETE FROM clients WHERE kind IN ('dynamic', 'metadata') AND COALESCE(last_used_at, created_at) < $1 \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.client_id = clients.id \
             AND r.revoked_at IS NULL AND r.used_at IS NULL AND r.family_expires_at > $2) RETURNING id",
        )
        .bind(idle_before)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn registration_token_hash(&self, client_id: &str) -> StoreResult<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT registration_token_hash FROM clients WHERE id = $1")
                .bind(client_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|(h,)| h))
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let _written = self.cache.clients_written();
        let done = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(client_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_clients_page(&self, after: Option<&str>, limit: i64) -> StoreResult<Vec<Client>> {
        // Keyset paging on (created_at, id): the cursor is a client id (one deleted since
        // starts the list over).
        let sql = format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE $1 = '' OR created_at > \
             COALESCE((SELECT created_at FROM clients WHERE id = $1), -1) OR (created_at = \
             COALESCE((SELECT created_at FROM clients WHERE id = $1), -1) AND id > $1) \
             ORDER BY created_at, id LIMIT $2"
        );
        let rows: Vec<ClientRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn count_clients_by_kind(&self) -> StoreResult<Vec<(ClientKind, i64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT kind, COUNT(*) FROM clients GROUP BY kind")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, n)| ClientKind::parse(&kind).map(|k| (k, n)))
            .collect())
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, id");
        let rows: Vec<ClientRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn list_client_last_used(&self) -> StoreResult<Vec<(String, Option<i64>)>> {
        let rows: Vec<LastUsedRow> =
            sqlx::query_as("SELECT id, last_used_at FROM clients ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|r| (r.id, r.last_used_at)).collect())
    }
}

/// Registrations serialize on one row: the first statement of their transaction writes it
/// (PostgreSQL locks the row; SQLite takes its write lock).
async fn take_registration_lock(conn: &mut sqlx::AnyConnection) -> StoreResult<()> {
    sqlx::query("UPDATE registration_lock SET n = n + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

async fn count_outsider_clients(conn: &mut sqlx::AnyConnection) -> StoreResult<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM clients WHERE kind IN ('dynamic', 'metadata')")
            .fetch_one(conn)
            .await?;
    Ok(n)
}
