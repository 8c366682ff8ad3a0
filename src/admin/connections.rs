//! Upstream connections (IdP simulator, OIDC, SAML) of an organization: create with their
//! settings (validated and sealed exactly as the seed does), enable/disable, and a test.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Actor, AdminError, Touched, deleted, record, with_plan_context};
use crate::federation::check::{self, Check};
use crate::ids;
use crate::seed::file::ConnectionEntry;
use crate::seed::plan::plan_connection;
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind, SeedPlan};

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
    pub email_claim: String,
    pub name_claim: String,
    pub allowed_hd: String,
    pub allowed_tid: String,
    /// `organization_domains` (default when empty) or `any_domain`.
    pub trust_email_verified: String,
    pub idp_metadata_url: String,
    pub idp_metadata_xml: String,
    pub sp_entity_id: String,
    pub groups_attribute: String,
    pub email_attribute: String,
    pub name_attribute: String,
    pub name_id_format: String,
    pub idp_initiated_redirect: String,
    pub allow_idp_initiated: bool,
    /// The application's IdP-initiated login URL (any kind).
    pub initiate_login_uri: String,
    /// A custom connection's login page.
    pub login_url: String,
    /// The IdP trusted for identity assertion grants (ID-JAG), and its JWK Set.
    pub xaa_issuer: String,
    pub xaa_jwks_uri: String,
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
            ("email_claim", &self.email_claim),
            ("name_claim", &self.name_claim),
            ("allowed_hd", &self.allowed_hd),
            ("allowed_tid", &self.allowed_tid),
            ("trust_email_verified", &self.trust_email_verified),
            ("idp_metadata_url", &self.idp_metadata_url),
            ("idp_metadata_xml", &self.idp_metadata_xml),
            ("sp_entity_id", &self.sp_entity_id),
            ("groups_attribute", &self.groups_attribute),
            ("email_attribute", &self.email_attribute),
            ("name_attribute", &self.name_attribute),
            ("name_id_format", &self.name_id_format),
            ("idp_initiated_redirect", &self.idp_initiated_redirect),
            ("initiate_login_uri", &self.initiate_login_uri),
            ("login_url", &self.login_url),
            ("xaa_issuer", &self.xaa_issuer),
            ("xaa_jwks_uri", &self.xaa_jwks_uri),
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

impl ConnectionInput {
    /// The form of an existing connection (never its secret).
    pub fn from_connection(c: &Connection) -> Self {
        let text = |k: &str| {
            c.settings
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let scopes = c
            .settings
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        Self {
            organization_id: c.organization_id.clone(),
            kind: c.kind.as_str().to_string(),
            issuer: text("issuer"),
            client_id: text("client_id"),
            client_secret: String::new(),
            scopes,
            groups_claim: text("groups_claim"),
            email_claim: text("email_claim"),
            name_claim: text("name_claim"),
            allowed_hd: text("allowed_hd"),
            allowed_tid: text("allowed_tid"),
            trust_email_verified: text("trust_email_verified"),
            idp_metadata_url: text("idp_metadata_url"),
            idp_metadata_xml: text("idp_metadata_xml"),
            sp_entity_id: text("sp_entity_id"),
            groups_attribute: text("groups_attribute"),
            email_attribute: text("email_attribute"),
            name_attribute: text("name_attribute"),
            name_id_format: text("name_id_format"),
            idp_initiated_redirect: text("idp_initiated_redirect"),
            initiate_login_uri: text("initiate_login_uri"),
            login_url: text("login_url"),
            xaa_issuer: text("xaa_issuer"),
            xaa_jwks_uri: text("xaa_jwks_uri"),
            allow_idp_initiated: c
                .settings
                .get("allow_idp_initiated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// A connection as listed: secrets never leave the store.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    pub id: String,
    pub organization_id: String,
    pub kind: ConnectionKind,
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

pub async fn get_view(
    app: &AppState,
    id: &str,
) -> Result<(ConnectionView, ConnectionInput), AdminError> {
    let c = get(app, id).await?;
    let form = ConnectionInput::from_connection(&c);
    Ok((c.into(), form))
}

/// Validates and seals a connection exactly as the seed does, for its organization.
async fn plan_one(
    app: &AppState,
    input: &ConnectionInput,
    id: &str,
) -> Result<Connection, AdminError> {
    let org = app
        .store
        .find_organization(&input.organization_id)
        .await?
        .ok_or_else(|| AdminError::invalid("organization_id", "choose an organization"))?;
    let entry = input.entry(id)?;
    Ok(with_plan_context(app, |ctx| {
        plan_connection("connection", &org.id, entry, ctx)
    })?)
}

async fn save(app: &AppState, connection: &Connection) -> Result<(), AdminError> {
    app.store
        .apply_seed(
            &SeedPlan {
                connections: vec![connection.clone()],
                ..Default::default()
            },
            app.clock.now(),
        )
        .await?;
    Ok(())
}

pub async fn create(
    app: &AppState,
    actor: &Actor,
    input: ConnectionInput,
) -> Result<ConnectionView, AdminError> {
    let connection = plan_one(app, &input, &ids::generate("conn")).await?;
    save(app, &connection).await?;
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

/// Replaces a connection's settings (its organization and enabled flag stay); a blank
/// client secret keeps the stored one.
pub async fn update(
    app: &AppState,
    actor: &Actor,
    id: &str,
    mut input: ConnectionInput,
) -> Result<ConnectionView, AdminError> {
    let before = get(app, id).await?;
    input.organization_id = before.organization_id.clone();
    let keeps_secret = input.client_secret.trim().is_empty();
    let mut connection = plan_one(app, &input, id).await?;
    connection.is_enabled = before.is_enabled;
    if keeps_secret
        && connection.kind == before.kind
        && let (Some(old), Some(map)) = (
            before.settings.get("client_secret_sealed"),
            connection.settings.as_object_mut(),
        )
    {
        // Sealed with the connection id as associated data: still valid under the same id.
        map.insert("client_secret_sealed".into(), old.clone());
    }
    save(app, &connection).await?;
    let view = ConnectionView::from(connection);
    let old = ConnectionView::from(before);
    record(
        app,
        actor,
        "admin.connection.updated",
        id,
        Touched {
            organization_id: Some(view.organization_id.clone()),
            ..Default::default()
        },
        json!({ "before": { "kind": old.kind, "settings": old.settings },
                "after": { "kind": view.kind, "settings": view.settings },
                "secret_changed": !keeps_secret }),
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
    save(app, &connection).await?;
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

/// Deletes a connection nobody has signed in through; one with users is refused (disable
/// it instead: its users, their consents and the audit trail stay meaningful).
pub async fn delete(app: &AppState, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let before = get(app, id).await?;
    deleted(
        app.store.delete_connection(id).await?,
        "connection",
        id,
        "disable it instead",
    )?;
    record(
        app,
        actor,
        "admin.connection.deleted",
        id,
        Touched {
            organization_id: Some(before.organization_id.clone()),
            ..Default::default()
        },
        json!({ "kind": before.kind, "organization_id": before.organization_id,
                "enabled": before.is_enabled }),
    )
    .await;
    Ok(())
}

/// The checks of `portcullis connections test`, for the pages and the API.
pub async fn test(app: &AppState, id: &str) -> Result<Vec<Check>, AdminError> {
    let connection = get(app, id).await?;
    Ok(check::check(&app.http, &app.config.secret, app.issuer(), &connection).await)
}
