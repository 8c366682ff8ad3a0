//! A resource's scope rules.

use async_trait::async_trait;

use super::{SqlStore, from_json};
use crate::store::{Conditions, Rule, RuleEffect, RuleStore, StoreError, StoreResult};

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

#[async_trait]
impl RuleStore for SqlStore {
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

    async fn delete_rule(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM rules WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
