//! Organizations, their domains and connections, and scope rules.

use async_trait::async_trait;

use super::{SqlStore, from_json};
use crate::store::{
    Conditions, Connection, ConnectionKind, Deletion, Organization, OrganizationStore, Rule,
    RuleEffect, StoreError, StoreResult,
};

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: String,
    display_name: String,
    external_id: Option<String>,
    enabled: i64,
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

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: String,
    name: String,
    resource_id: String,
    organization_id: Option<String>,
    conditions: String,
    grants: String,
    effect: String,
    position: i64,
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

#[async_trait]
impl OrganizationStore for SqlStore {
    async fn find_organization(&self, id: &str) -> StoreResult<Option<Organization>> {
        let row: Option<OrgRow> = sqlx::query_as(
            "SELECT id, display_name, external_id, enabled FROM organizations WHERE id = $1",
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

    async fn find_connection(&self, id: &str) -> StoreResult<Option<Connection>> {
        let row: Option<ConnectionRow> = sqlx::query_as(
            "SELECT id, organization_id, kind, enabled, settings FROM connections WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(connection).transpose()
    }

    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        let orgs: Vec<OrgRow> = sqlx::query_as(
            "SELECT id, display_name, external_id, enabled FROM organizations ORDER BY id",
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
            })
            .collect())
    }

    async fn list_connections(&self) -> StoreResult<Vec<Connection>> {
        let rows: Vec<ConnectionRow> = sqlx::query_as(
            "SELECT id, organization_id, kind, enabled, settings FROM connections ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(connection).collect()
    }

    async fn list_rules(&self, resource_id: &str) -> StoreResult<Vec<Rule>> {
        let rows: Vec<RuleRow> = sqlx::query_as(
            "SELECT id, name, resource_id, organization_id, conditions, grants, effect, position \
             FROM rules WHERE resource_id = $1 ORDER BY position, id",
        )
        .bind(resource_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let conditions = from_json(&r.conditions, "rule conditions")?;
                Ok(Rule {
                    conditions: Conditions::from_json(&conditions).map_err(|e| {
                        StoreError::Corrupt(format!("rule {} conditions: {e}", r.id))
                    })?,
                    effect: RuleEffect::parse(&r.effect).ok_or_else(|| {
                        StoreError::Corrupt(format!("rule {} effect `{}`", r.id, r.effect))
                    })?,
                    grants: from_json(&r.grants, "rule grants")?,
                    id: r.id,
                    name: r.name,
                    resource_id: r.resource_id,
                    organization_id: r.organization_id,
                    position: r.position,
                })
            })
            .collect()
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
            ],
            &[
                "DELETE FROM organization_domains WHERE organization_id = $1",
                "DELETE FROM organizations WHERE id = $1",
            ],
        )
        .await
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
}
