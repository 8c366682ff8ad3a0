//! Resources (MCP servers). Their lookups by id and by URL read through the resource
//! caches; every method here that writes resources clears them (the seed writes them too,
//! in `database`).

use async_trait::async_trait;

use super::{SqlStore, from_json};
use crate::store::{
    Deletion, RefreshPolicy, Resource, ResourceStore, StoreError, StoreResult, TokenIssuer,
};

const RESOURCE_COLUMNS: &str = "id, name, server_url, access_token_ttl, refresh_token_ttl, \
    dynamic_client_registration, client_id_metadata_documents, cimd_allowlist, scopes, token_issuer, xaa_enabled, \
    refresh_tokens";

#[derive(sqlx::FromRow)]
struct ResourceRow {
    id: String,
    name: String,
    server_url: String,
    access_token_ttl: i64,
    refresh_token_ttl: i64,
    dynamic_client_registration: i64,
    client_id_metadata_documents: i64,
    cimd_allowlist: String,
    scopes: String,
    token_issuer: String,
    xaa_enabled: i64,
    refresh_tokens: String,
}

impl TryFrom<ResourceRow> for Resource {
    type Error = StoreError;
    fn try_from(r: ResourceRow) -> StoreResult<Resource> {
        Ok(Resource {
            cimd_allowlist: from_json(&r.cimd_allowlist, "resource cimd_allowlist")?,
            scopes: from_json(&r.scopes, "resource scopes")?,
            token_issuer: TokenIssuer::parse(&r.token_issuer).ok_or_else(|| {
                StoreError::Corrupt(format!("resource token_issuer `{}`", r.token_issuer))
            })?,
            id: r.id,
            name: r.name,
            server_url: r.server_url,
            access_token_ttl: r.access_token_ttl,
            refresh_token_ttl: r.refresh_token_ttl,
            is_dcr_enabled: r.dynamic_client_registration != 0,
            is_cimd_enabled: r.client_id_metadata_documents != 0,
            is_xaa_enabled: r.xaa_enabled != 0,
            refresh_tokens: RefreshPolicy::parse(&r.refresh_tokens).ok_or_else(|| {
                StoreError::Corrupt(format!("resource refresh_tokens `{}`", r.refresh_tokens))
            })?,
        })
    }
}

impl SqlStore {
    async fn resource_where(&self, clause: &str, value: &str) -> StoreResult<Option<Resource>> {
        let sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE {clause} = $1");
        let row: Option<ResourceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(self.pool())
            .await?;
        row.map(Resource::try_from).transpose()
    }
}

#[async_trait]
impl ResourceStore for SqlStore {
    async fn find_resource(&self, id: &str) -> StoreResult<Option<Resource>> {
        let load = self.resource_where("id", id);
        self.cache.resources.get_or_load(id, load).await
    }

    async fn find_resource_by_url(&self, server_url: &str) -> StoreResult<Option<Resource>> {
        let load = self.resource_where("server_url", server_url);
        self.cache
            .resources_by_url
            .get_or_load(server_url, load)
            .await
    }

    async fn list_resources(&self) -> StoreResult<Vec<Resource>> {
        let sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources ORDER BY id");
        let rows: Vec<ResourceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Resource::try_from).collect()
    }

    async fn delete_resource(&self, id: &str) -> StoreResult<Deletion> {
        // Clients bound to it would go with it (ON DELETE CASCADE, though none is deleted
        // while one refers to it): the client cache is cleared too.
        let _written = self.cache.clients_and_resources_written();
        self.delete_unused(
            id,
            "SELECT id FROM resources WHERE id = $1",
            &[
                (
                    "SELECT COUNT(*) AS n FROM rules WHERE resource_id = $1",
                    "rule",
                    "rules",
                ),
                // Clients bound to it, or listing it among their resources (a JSON array of
                // ids: `"res_x"` quoted, `_` escaped for LIKE; SQLite's LIKE also ignores
                // ASCII case, which can only refuse more).
                (
                    "SELECT COUNT(*) AS n FROM clients WHERE bound_resource_id = $1 \
                     OR resources LIKE '%\"' || REPLACE($1, '_', '!_') || '\"%' ESCAPE '!'",
                    "client",
                    "clients",
                ),
                (
                    "SELECT COUNT(*) AS n FROM consents \
                     WHERE resource_id = $1 AND revoked_at IS NULL",
                    "consent",
                    "consents",
                ),
            ],
            &["DELETE FROM resources WHERE id = $1"],
        )
        .await
    }
}
