//! The upstream side: organizations, their domains and connections, and the state of a
//! round trip to an IdP (upstream login states, the SAML replay cache). Single-use states
//! are consumed with one atomic `UPDATE … WHERE used_at IS NULL RETURNING`, and stay
//! recorded after use so a replay is recognised.

use async_trait::async_trait;

use super::{SqlStore, from_json};
use crate::store::{
    Connection, ConnectionKind, Deletion, Organization, StoreError, StoreResult, Taken,
    UpstreamLogin, UpstreamStore,
};

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: String,
    display_name: String,
    external_id: Option<String>,
    enabled: i64,
    initiate_login_uri: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DomainRow {
    domain: String,
    organization_id: String,
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: String,
    organization_id: String,
    kind: String,
    enabled: i64,
    settings: String,
}

fn connection(r: ConnectionRow) -> StoreResult<Connection> {
    Ok(Connection {
        settings: from_json(&r.settings, "connection settings")?,
        id: r.id,
        organization_id: r.organization_id,
        kind: ConnectionKind::parse(&r.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("connection kind `{}`", r.kind)))?,
        is_enabled: r.enabled != 0,
    })
}

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

#[async_trait]
impl UpstreamStore for SqlStore {
    async fn find_organization(&self, id: &str) -> StoreResult<Option<Organization>> {
        let row: Option<OrgRow> = sqlx::query_as(
            "SELECT id, display_name, external_id, enabled, initiate_login_uri FROM organizations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(o) = row else { return Ok(None) };
        let domains: Vec<DomainRow> = sqlx::query_as(
            "SELECT domain, organization_id FROM organization_domains WHERE organization_id = $1 ORDER BY domain",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some(Organization {
            domains: domains.into_iter().map(|d| d.domain).collect(),
            id: o.id,
            display_name: o.display_name,
            external_id: o.external_id,
            is_enabled: o.enabled != 0,
            initiate_login_uri: o.initiate_login_uri,
        }))
    }

    async fn find_organization_by_domain(&self, domain: &str) -> StoreResult<Option<Organization>> {
        let row: Option<DomainRow> = sqlx::query_as(
            "SELECT domain, organization_id FROM organization_domains WHERE domain = $1",
        )
        .bind(domain)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(d) => self.find_organization(&d.organization_id).await,
            None => Ok(None),
        }
    }

    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        let orgs: Vec<OrgRow> = sqlx::query_as(
            "SELECT id, display_name, external_id, enabled, initiate_login_uri FROM organizations ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        let domains: Vec<DomainRow> = sqlx::query_as(
            "SELECT domain, organization_id FROM organization_domains ORDER BY domain",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(orgs
            .into_iter()
            .map(|o| Organization {
                domains: domains
                    .iter()
                    .filter(|d| d.organization_id == o.id)
                    .map(|d| d.domain.clone())
                    .collect(),
                id: o.id,
                display_name: o.display_name,
                external_id: o.external_id,
                is_enabled: o.enabled != 0,
                initiate_login_uri: o.initiate_login_uri,
            })
            .collect())
    }

    async fn delete_organization(&self, id: &str) -> StoreResult<Deletion> {
        self.delete_unused(
            id,
            "SELECT id FROM organizations WHERE id = $1",
            &[
                (
                    "SELECT COUNT(*) AS n FROM connections WHERE organization_id = $1",
                    "connection",
                    "connections",
                ),
                (
                    "SELECT COUNT(*) AS n FROM users WHERE organization_id = $1",
                    "user",
                    "users",
                ),
                (
                    "SELECT COUNT(*) AS n FROM rules WHERE organization_id = $1",
                    "rule",
                    "rules",
                ),
                (
                    "SELECT COUNT(*) AS n FROM clients WHERE organization_id = $1",
                    "M2M client",
                    "M2M clients",
                ),
            ],
            &[
                "DELETE FROM organization_domains WHERE organization_id = $1",
                "DELETE FROM organizations WHERE id = $1",
            ],
        )
        .await
    }

    async fn find_connection(&self, id: &str) -> StoreResult<Option<Connection>> {
        let row: Option<ConnectionRow> = sqlx::query_as(
            "SELECT id, organization_id, kind, enabled, settings FROM connections WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(connection).transpose()
    }

    async fn list_connections(&self) -> StoreResult<Vec<Connection>> {
        let rows: Vec<ConnectionRow> = sqlx::query_as(
            "SELECT id, organization_id, kind, enabled, settings FROM connections ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(connection).collect()
    }

    async fn delete_connection(&self, id: &str) -> StoreResult<Deletion> {
        self.delete_unused(
            id,
            "SELECT id FROM connections WHERE id = $1",
            &[(
                "SELECT COUNT(*) AS n FROM users WHERE connection_id = $1",
                "user signed in through it",
                "users signed in through it",
            )],
            // Its SAML replay cache stays until it expires (a connection seeded again
            // under the same id must not accept a replay); logins in flight fail closed.
            &["DELETE FROM connections WHERE id = $1"],
        )
        .await
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

    async fn insert_login_request(
        &self,
        login_request_hash: &str,
        state_hash: &str,
        connection_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.login_request_insert(login_request_hash, state_hash, connection_id, expires_at)
            .await
    }

    async fn set_login_request_identity(
        &self,
        login_request_hash: &str,
        connection_id: &str,
        sealed_identity: &str,
        now: i64,
    ) -> StoreResult<bool> {
        self.login_request_set_identity(login_request_hash, connection_id, sealed_identity, now)
            .await
    }

    async fn find_login_request_identity(&self, state_hash: &str) -> StoreResult<Option<String>> {
        self.login_request_identity(state_hash).await
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
}
