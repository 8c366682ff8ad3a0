//! Upstream connections (IdP simulator, OIDC, SAML) of an organization: create with their
//! settings (validated and sealed exactly as the seed does), enable/disable, and a test.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Actor, AdminError, Touched, plan_entries, record};
use crate::app::AppState;
use crate::ids;
use crate::seed::file::{ConnectionEntry, OrganizationEntry, SeedFile};
use crate::store::{Connection, SeedPlan};

/// A new connection as an admin writes it; empty strings mean "not set".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConnectionInput {
    pub organization_id: String,
    pub kind: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Space-separated.
    pub scopes: String,
    pub groups_claim: String,
    pub allowed_hd: String,
    pub allowed_tid: String,
    pub idp_metadata_url: String,
    pub idp_metadata_xml: String,
    pub sp_entity_id: String,
    pub groups_attribute: String,
    pub email_attribute: String,
    pub allow_idp_initiated: bool,
}

impl ConnectionInput {
    /// The seed entry: only the keys that are set (future kinds' keys pass through serde).
    fn entry(&self, id: &str) -> Result<ConnectionEntry, AdminError> {
        let mut m = Map::new();
        m.insert("id".into(), json!(id));
        m.insert("kind".into(), json!(self.kind.trim()));
        for (key, value) in [
            ("issuer", &self.issuer),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("groups_claim", &self.groups_claim),
            ("allowed_hd", &self.allowed_hd),
            ("allowed_tid", &self.allowed_tid),
            ("idp_metadata_url", &self.idp_metadata_url),
            ("idp_metadata_xml", &self.idp_metadata_xml),
            ("sp_entity_id", &self.sp_entity_id),
            ("groups_attribute", &self.groups_attribute),
            ("email_attribute", &self.email_attribute),
        ] {
            if !value.trim().is_empty() {
                m.insert(key.into(), json!(value.trim()));
            }
        }
        if !self.scopes.trim().is_empty() {
            m.insert("scopes".into(), json!(super::split_list(&self.scopes)));
        }
        if self.allow_idp_initiated {
            m.insert("allow_idp_initiated".into(), json!(true));
        }
        serde_json::from_value(Value::Object(m))
            .map_err(|e| AdminError::invalid("kind", e.to_string()))
    }
}

/// A connection as listed: secrets never leave the store.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    pub id: String,
    pub organization_id: String,
    pub kind: String,
    pub is_enabled: bool,
    /// Settings without sealed secrets.
    pub settings: Value,
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        let mut settings = c.settings;
        if let Some(map) = settings.as_object_mut() {
            map.retain(|k, _| !k.contains("secret") && !k.contains("private"));
        }
        Self {
            id: c.id,
            organization_id: c.organization_id,
            kind: c.kind,
            is_enabled: c.is_enabled,
            settings,
        }
    }
}

/// One line of a connection test.
#[derive(Debug, Clone, Serialize)]
pub struct CheckLine {
    pub name: String,
    pub is_ok: bool,
    pub detail: String,
}

pub async fn list(app: &AppState) -> Result<Vec<ConnectionView>, AdminError> {
    Ok(app
        .store
        .list_connections()
        .await?
        .into_iter()
        .map(ConnectionView::from)
        .collect())
}

async fn get(app: &AppState, id: &str) -> Result<Connection, AdminError> {
    app.store
        .find_connection(id)
        .await?
        .ok_or(AdminError::NotFound("connection"))
}

pub async fn create(
    app: &AppState,
    actor: &Actor,
    input: ConnectionInput,
) -> Result<ConnectionView, AdminError> {
    let org = app
        .store
        .find_organization(&input.organization_id)
        .await?
        .ok_or_else(|| AdminError::invalid("organization_id", "choose an organization"))?;
    let id = ids::generate("conn");
    let now = app.clock.now();
    // Planned as part of its organization (unchanged) so the seed's checks apply.
    let file = SeedFile {
        organizations: vec![OrganizationEntry {
            id: Some(org.id.clone()),
            display_name: org.display_name.clone(),
            external_id: org.external_id.clone(),
            enabled: Some(org.is_enabled),
            domains: org.domains.clone(),
            connections: vec![input.entry(&id)?],
        }],
        ..Default::default()
    };
    let planned = plan_entries(app, file, Vec::new(), Vec::new())?;
    let connection = planned
        .connections
        .first()
        .cloned()
        .ok_or(AdminError::NotFound("connection"))?;
    app.store
        .apply_seed(
            &SeedPlan {
                connections: planned.connections,
                ..Default::default()
            },
            now,
        )
        .await?;
    let view = ConnectionView::from(connection);
    record(
        app,
        actor,
        "admin.connection.created",
        &view.id,
        Touched {
            organization_id: Some(view.organization_id.clone()),
            ..Default::default()
        },
        json!({ "kind": view.kind, "settings": view.settings }),
    )
    .await;
    Ok(view)
}

/// Disabling refuses sign-ins through it and the next refresh of tokens it led to.
pub async fn set_enabled(
    app: &AppState,
    actor: &Actor,
    id: &str,
    is_enabled: bool,
) -> Result<ConnectionView, AdminError> {
    let mut connection = get(app, id).await?;
    connection.is_enabled = is_enabled;
    app.store
        .apply_seed(
            &SeedPlan {
                connections: vec![connection.clone()],
                ..Default::default()
            },
            app.clock.now(),
        )
        .await?;
    record(
        app,
        actor,
        if is_enabled {
            "admin.connection.enabled"
        } else {
            "admin.connection.disabled"
        },
        id,
        Touched {
            organization_id: Some(connection.organization_id.clone()),
            ..Default::default()
        },
        json!({ "enabled": is_enabled }),
    )
    .await;
    Ok(connection.into())
}

/// The checks of `portcullis connections test`, for the pages and the API.
pub async fn test(app: &AppState, id: &str) -> Result<Vec<CheckLine>, AdminError> {
    let connection = get(app, id).await?;
    let line = |name: &str, is_ok: bool, detail: String| CheckLine {
        name: name.to_string(),
        is_ok,
        detail,
    };
    Ok(match connection.kind.as_str() {
        "oidc" => match crate::federation::oidc::settings(&app.config.secret, &connection) {
            Ok(settings) => crate::federation::test::check_connection(&app.http, &settings)
                .await
                .into_iter()
                .map(|c| line(c.name, c.is_ok, c.detail))
                .collect(),
            Err(e) => vec![line("settings", false, e)],
        },
        "idp_simulator" => vec![line("simulator", true, "no upstream to reach".into())],
        "saml" => {
            let settings = crate::federation::saml::settings(app.issuer(), &connection);
            let mut lines: Vec<CheckLine> =
                crate::federation::test::check_saml(&app.http, &settings)
                    .await
                    .into_iter()
                    .map(|c| line(c.name, c.is_ok, c.detail))
                    .collect();
            lines.push(line(
                "sp_metadata",
                true,
                format!("{}/sso/v1/saml/{}/metadata", app.issuer(), connection.id),
            ));
            lines
        }
        other => vec![line(other, false, "no test for this kind".into())],
    })
}
