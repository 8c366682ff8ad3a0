//! Organizations and their email domains: create, edit, enable/disable. Validation is the
//! seed's `plan_organization` (docs/seed-file.md), so the pages, the API and the seed
//! accept the same input.

use serde::Deserialize;
use serde_json::json;

use super::{Actor, AdminError, Touched, deleted, record};
use crate::ids;
use crate::seed::file::OrganizationEntry;
use crate::seed::plan::{Known, plan_organization};
use crate::state::AppState;
use crate::store::{Organization, SeedPlan, StoreError};

/// An organization as an admin writes it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrganizationInput {
    pub display_name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub domains: Vec<String>,
    /// `enabled` as the API shows it; absent keeps the stored value (new ones: enabled), so
    /// a read-modify-write round trip never re-enables a disabled organization.
    #[serde(default, rename = "enabled", alias = "is_enabled")]
    pub is_enabled: Option<bool>,
    /// Where its IdP-initiated logins go when the connection names none.
    #[serde(default)]
    pub initiate_login_uri: Option<String>,
}

pub async fn list(app: &AppState) -> Result<Vec<Organization>, AdminError> {
    Ok(app.store.list_organizations().await?)
}

pub async fn get(app: &AppState, id: &str) -> Result<Organization, AdminError> {
    app.store
        .find_organization(id)
        .await?
        .ok_or(AdminError::NotFound("organization"))
}

/// Plans the organization against the stored ones: a domain or external id another one
/// holds is refused naming its field.
async fn plan(app: &AppState, entry: &OrganizationEntry) -> Result<Organization, AdminError> {
    let known = Known::new(app.store.list_organizations().await?, Vec::new());
    Ok(plan_organization("organization", entry, &known)?)
}

/// Validates through the seed's planner and writes in one transaction.
async fn write(
    app: &AppState,
    id: &str,
    input: OrganizationInput,
) -> Result<Organization, AdminError> {
    let entry = OrganizationEntry {
        id: Some(id.to_string()),
        display_name: input.display_name.trim().to_string(),
        external_id: input.external_id.filter(|e| !e.trim().is_empty()),
        enabled: Some(input.is_enabled.unwrap_or(true)),
        domains: input.domains,
        connections: Vec::new(),
        initiate_login_uri: input.initiate_login_uri.filter(|u| !u.trim().is_empty()),
    };
    if entry.display_name.chars().count() > 200 {
        return Err(AdminError::invalid(
            "display_name",
            "must be at most 200 characters",
        ));
    }
    let org = plan(app, &entry).await?;
    let written = app
        .store
        .apply_seed(
            &SeedPlan {
                organizations: vec![org.clone()],
                ..Default::default()
            },
            app.clock.now(),
        )
        .await;
    match written {
        Ok(()) => Ok(org),
        // Another write took a domain or the external id since planning: planned again,
        // the conflict names its field.
        Err(StoreError::Conflict(what)) => {
            plan(app, &entry).await?;
            Err(AdminError::invalid("", what))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn create(
    app: &AppState,
    actor: &Actor,
    input: OrganizationInput,
) -> Result<Organization, AdminError> {
    let org = write(app, &ids::generate("org"), input).await?;
    record(
        app,
        actor,
        "admin.organization.created",
        &org.id,
        Touched {
            organization_id: Some(org.id.clone()),
            ..Default::default()
        },
        json!({ "display_name": org.display_name, "external_id": org.external_id,
                "domains": org.domains, "enabled": org.is_enabled }),
    )
    .await;
    Ok(org)
}

pub async fn update(
    app: &AppState,
    actor: &Actor,
    id: &str,
    input: OrganizationInput,
) -> Result<Organization, AdminError> {
    let before = get(app, id).await?;
    let input = OrganizationInput {
        is_enabled: input.is_enabled.or(Some(before.is_enabled)),
        ..input
    };
    let org = write(app, id, input).await?;
    record(
        app,
        actor,
        "admin.organization.updated",
        id,
        Touched {
            organization_id: Some(id.to_string()),
            ..Default::default()
        },
        json!({
            "before": { "display_name": before.display_name, "external_id": before.external_id,
                        "domains": before.domains, "enabled": before.is_enabled },
            "after": { "display_name": org.display_name, "external_id": org.external_id,
                       "domains": org.domains, "enabled": org.is_enabled },
        }),
    )
    .await;
    Ok(org)
}

/// Disabling stops sign-ins and the next refresh of every token of its users at once.
pub async fn set_enabled(
    app: &AppState,
    actor: &Actor,
    id: &str,
    is_enabled: bool,
) -> Result<Organization, AdminError> {
    let before = get(app, id).await?;
    let org = write(
        app,
        id,
        OrganizationInput {
            display_name: before.display_name,
            external_id: before.external_id,
            domains: before.domains,
            is_enabled: Some(is_enabled),
            initiate_login_uri: before.initiate_login_uri,
        },
    )
    .await?;
    record(
        app,
        actor,
        if is_enabled {
            "admin.organization.enabled"
        } else {
            "admin.organization.disabled"
        },
        id,
        Touched {
            organization_id: Some(id.to_string()),
            ..Default::default()
        },
        json!({ "enabled": is_enabled }),
    )
    .await;
    Ok(org)
}

/// Deletes an organization no connection, user or rule refers to any more (its domains go
/// with it); one still in use is refused and stays as it was.
pub async fn delete(app: &AppState, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let before = get(app, id).await?;
    deleted(
        app.store.delete_organization(id).await?,
        "organization",
        id,
        "delete its rules and connections first, or disable it instead",
    )?;
    record(
        app,
        actor,
        "admin.organization.deleted",
        id,
        Touched {
            organization_id: Some(id.to_string()),
            ..Default::default()
        },
        json!({ "display_name": before.display_name, "external_id": before.external_id,
                "domains": before.domains, "enabled": before.is_enabled }),
    )
    .await;
    Ok(())
}
