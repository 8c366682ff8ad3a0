//! MCP servers (protected resources): server URL, scopes with descriptions, token
//! lifetimes, and the registration switches (DCR, CIMD with its allowlist).

use serde::Deserialize;
use serde_json::json;

use super::{Actor, AdminError, Touched, deleted, record};
use crate::ids;
use crate::seed::file::{ResourceEntry, ScopeEntry};
use crate::seed::plan::{Known, plan_resource};
use crate::state::AppState;
use crate::store::{Resource, ScopeDef, SeedPlan, StoreError};

/// A resource as an admin writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceInput {
    pub name: String,
    pub server_url: String,
    #[serde(default = "default_access_ttl")]
    pub access_token_ttl: i64,
    #[serde(default = "default_refresh_ttl")]
    pub refresh_token_ttl: i64,
    #[serde(default)]
    pub dynamic_client_registration: bool,
    #[serde(default)]
    pub client_id_metadata_documents: bool,
    #[serde(default)]
    pub cimd_allowlist: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<ScopeDef>,
    /// `resource` (default) or `environment`.
    #[serde(default)]
    pub token_issuer: Option<String>,
    /// Accept identity assertion grants (ID-JAG).
    #[serde(default)]
    pub xaa_enabled: bool,
    /// `always` (default), `offline_access` or `never`.
    #[serde(default)]
    pub refresh_tokens: Option<String>,
}

fn default_access_ttl() -> i64 {
    300
}
fn default_refresh_ttl() -> i64 {
    86_400
}

/// Scopes typed one per line: the name, then its description.
pub fn parse_scope_lines(text: &str) -> Vec<ScopeDef> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, description) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            ScopeDef {
                name: name.to_string(),
                description: description.trim().to_string(),
            }
        })
        .collect()
}

pub async fn list(app: &AppState) -> Result<Vec<Resource>, AdminError> {
    Ok(app.store.list_resources().await?)
}

pub async fn get(app: &AppState, id: &str) -> Result<Resource, AdminError> {
    app.store
        .find_resource(id)
        .await?
        .ok_or(AdminError::NotFound("resource"))
}

async fn write(app: &AppState, id: &str, input: ResourceInput) -> Result<Resource, AdminError> {
    if input.name.trim().is_empty() || input.name.chars().count() > 200 {
        return Err(AdminError::invalid("name", "must be 1 to 200 characters"));
    }
    if input.scopes.is_empty() {
        return Err(AdminError::invalid("scopes", "list at least one scope"));
    }
    let entry = ResourceEntry {
        id: Some(id.to_string()),
        name: input.name.trim().to_string(),
        server_url: input.server_url.trim().to_string(),
        access_token_ttl: Some(input.access_token_ttl),
        refresh_token_ttl: Some(input.refresh_token_ttl),
        dynamic_client_registration: Some(input.dynamic_client_registration),
        client_id_metadata_documents: Some(input.client_id_metadata_documents),
        cimd_allowlist: input.cimd_allowlist,
        scopes: input
            .scopes
            .into_iter()
            .map(|s| ScopeEntry {
                name: s.name,
                description: s.description,
            })
            .collect(),
        token_issuer: input.token_issuer.filter(|t| !t.is_empty()),
        xaa_enabled: Some(input.xaa_enabled),
        refresh_tokens: input.refresh_tokens.filter(|r| !r.is_empty()),
    };
    let known = Known::new(Vec::new(), app.store.list_resources().await?);
    let resource = plan_resource("resource", entry, &known)?;
    let written = app
        .store
        .apply_seed(
            &SeedPlan {
                resources: vec![resource.clone()],
                ..Default::default()
            },
            app.clock.now(),
        )
        .await;
    match written {
        Ok(()) => Ok(resource),
        // Another write took the server URL since planning (its only unique field).
        Err(StoreError::Conflict(what)) => Err(AdminError::invalid("server_url", what)),
        Err(e) => Err(e.into()),
    }
}

fn summary(r: &Resource) -> serde_json::Value {
    json!({ "name": r.name, "server_url": r.server_url, "access_token_ttl": r.access_token_ttl,
            "refresh_token_ttl": r.refresh_token_ttl, "dynamic_client_registration": r.is_dcr_enabled,
            "client_id_metadata_documents": r.is_cimd_enabled, "cimd_allowlist": r.cimd_allowlist,
            "scopes": r.scopes, "token_issuer": r.token_issuer.as_str(),
            "xaa_enabled": r.is_xaa_enabled, "refresh_tokens": r.refresh_tokens.as_str() })
}

pub async fn create(
    app: &AppState,
    actor: &Actor,
    input: ResourceInput,
) -> Result<Resource, AdminError> {
    let resource = write(app, &ids::generate("res"), input).await?;
    record(
        app,
        actor,
        "admin.resource.created",
        &resource.id,
        Touched {
            resource_id: Some(resource.id.clone()),
            ..Default::default()
        },
        summary(&resource),
    )
    .await;
    Ok(resource)
}

pub async fn update(
    app: &AppState,
    actor: &Actor,
    id: &str,
    input: ResourceInput,
) -> Result<Resource, AdminError> {
    let before = get(app, id).await?;
    let resource = write(app, id, input).await?;
    record(
        app,
        actor,
        "admin.resource.updated",
        id,
        Touched {
            resource_id: Some(id.to_string()),
            ..Default::default()
        },
        json!({ "before": summary(&before), "after": summary(&resource) }),
    )
    .await;
    Ok(resource)
}

/// Deletes an MCP server no rule, client or live consent refers to; one still in use is
/// refused and stays as it was.
pub async fn delete(app: &AppState, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let before = get(app, id).await?;
    deleted(
        app.store.delete_resource(id).await?,
        "MCP server",
        id,
        "delete its rules and clients and revoke its consents first",
    )?;
    record(
        app,
        actor,
        "admin.resource.deleted",
        id,
        Touched {
            resource_id: Some(id.to_string()),
            ..Default::default()
        },
        summary(&before),
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lines_are_a_name_and_a_description() {
        let s = parse_scope_lines("tickets.read Read tickets\n\n  tickets.manage\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "tickets.read");
        assert_eq!(s[0].description, "Read tickets");
        assert_eq!(s[1].description, "");
    }
}
