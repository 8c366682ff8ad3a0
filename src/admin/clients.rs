//! MCP clients: static (seeded or admin-created), dynamically registered and metadata-
//! document clients, with their last use; create a static client (its secret is shown
//! once and only its hash stored), revoke its tokens, delete.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Actor, AdminError, Touched, record, with_plan_context};
use crate::crypto;
use crate::ids;
use crate::seed::file::ClientEntry;
use crate::seed::plan::{Known, plan_client};
use crate::state::AppState;
use crate::store::{Client, ClientKind, StoreError};

/// A client as listed (never its secret hash).
#[derive(Debug, Clone, Serialize)]
pub struct ClientView {
    pub id: String,
    pub name: String,
    pub kind: ClientKind,
    pub is_public: bool,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub resources: Vec<String>,
    pub bound_resource_id: Option<String>,
    pub scopes: Vec<String>,
    pub has_introspection: bool,
    pub pkce: &'static str,
    pub post_logout_redirect_uris: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl ClientView {
    fn new(c: Client, last_used_at: Option<i64>) -> Self {
        let post_logout_redirect_uris = c.metadata["post_logout_redirect_uris"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            is_public: c.is_public(),
            pkce: c.pkce.as_str(),
            post_logout_redirect_uris,
            id: c.id,
            name: c.name,
            kind: c.kind,
            redirect_uris: c.redirect_uris,
            grant_types: c.grant_types,
            resources: c.resources,
            bound_resource_id: c.bound_resource_id,
            scopes: c.scopes,
            has_introspection: c.has_introspection,
            created_at: c.created_at,
            last_used_at,
        }
    }
    /// The name as pages show it (bidi and control characters neutralised, capped).
    pub fn display_name(&self) -> String {
        crate::oauth::client_text::for_display(&self.name)
    }
    pub fn created(&self) -> String {
        super::time::format(self.created_at)
    }
    pub fn last_used(&self) -> String {
        self.last_used_at
            .map(super::time::format)
            .unwrap_or_else(|| "never".into())
    }
    pub fn kind_label(&self) -> &'static str {
        match self.kind {
            ClientKind::Static => "static",
            ClientKind::Dynamic => "DCR",
            ClientKind::Metadata => "CIMD",
            ClientKind::Organization => "organization M2M",
        }
    }
}

/// A static client as an admin creates it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StaticClientInput {
    pub name: String,
    /// Gets a generated secret (shown once).
    pub is_confidential: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub resources: Vec<String>,
    pub scopes: Vec<String>,
    pub introspection: bool,
    pub application_type: Option<String>,
    /// `required` (default) or `optional` (a confidential login app).
    pub pkce: Option<String>,
    /// `private_key_jwt` with `jwks` or `jwks_uri` (then no secret is made).
    pub token_endpoint_auth_method: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
}

/// A created client and its secret, which is never shown again.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedClient {
    pub client: ClientView,
    pub client_secret: Option<String>,
}

/// Clients listed per page (outsiders can create thousands through DCR and CIMD).
pub const PAGE_SIZE: i64 = 100;

/// One page of clients, and the cursor of the next page if there is one.
#[derive(Debug, Clone, Serialize)]
pub struct ClientList {
    pub clients: Vec<ClientView>,
    pub next: Option<String>,
}

pub async fn list(app: &AppState, after: Option<&str>) -> Result<ClientList, AdminError> {
    let mut page = app.store.list_clients_page(after, PAGE_SIZE + 1).await?;
    let next = if page.len() as i64 > PAGE_SIZE {
        page.truncate(PAGE_SIZE as usize);
        page.last().map(|c| c.id.clone())
    } else {
        None
    };
    let used = app.store.list_client_last_used().await?;
    let clients = page
        .into_iter()
        .map(|c| {
            let last = used
                .iter()
                .find(|(id, _)| *id == c.id)
                .and_then(|(_, t)| *t);
            ClientView::new(c, last)
        })
        .collect();
    Ok(ClientList { clients, next })
}

pub async fn create_static(
    app: &AppState,
    actor: &Actor,
    input: StaticClientInput,
) -> Result<CreatedClient, AdminError> {
    if input.name.trim().is_empty() || input.name.chars().count() > 200 {
        return Err(AdminError::invalid("name", "must be 1 to 200 characters"));
    }
    // A client that signs its own assertions gets no secret.
    let signs_assertions = input.token_endpoint_auth_method.as_deref() == Some("private_key_jwt");
    let secret = (input.is_confidential && !signs_assertions).then(crypto::random_token);
    let entry = ClientEntry {
        id: Some(ids::generate("m2m")),
        name: input.name.trim().to_string(),
        secret: secret.clone(),
        secret_env: None,
        secret_file: None,
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        grant_types: input.grant_types,
        resources: input.resources,
        scopes: input.scopes,
        introspection: input.introspection,
        application_type: input.application_type,
        pkce: input.pkce.filter(|p| !p.is_empty()),
        token_endpoint_auth_method: input.token_endpoint_auth_method.filter(|m| !m.is_empty()),
        jwks: input.jwks,
        jwks_uri: input.jwks_uri.filter(|u| !u.is_empty()),
    };
    let known = Known::new(Vec::new(), app.store.list_resources().await?);
    let client = with_plan_context(app, |ctx| plan_client("client", entry, ctx, &known))?;
    app.store
        .insert_client(&client)
        .await
        .map_err(|e| match e {
            // The id is a client's only unique field.
            StoreError::Conflict(what) => AdminError::invalid("id", what),
            other => AdminError::Store(other),
        })?;
    let view = ClientView::new(client, None);
    record(
        app,
        actor,
        "admin.client.created",
        &view.id,
        Touched {
            client_id: Some(view.id.clone()),
            ..Default::default()
        },
        json!({ "name": view.name, "public": view.is_public, "grant_types": view.grant_types,
                "resources": view.resources, "scopes": view.scopes,
                "redirect_uris": view.redirect_uris, "introspection": view.has_introspection,
                "pkce": view.pkce, "post_logout_redirect_uris": view.post_logout_redirect_uris }),
    )
    .await;
    Ok(CreatedClient {
        client: view,
        client_secret: secret,
    })
}

/// Revokes every refresh token issued to the client, and cuts off its access tokens and unused
/// codes (introspection, userinfo, the admin API, the token endpoint; MCP servers that verify
/// locally accept an access token until its `exp`).
pub async fn revoke_tokens(app: &AppState, actor: &Actor, id: &str) -> Result<u64, AdminError> {
    app.store
        .find_client(id)
        .await?
        .ok_or(AdminError::NotFound("client"))?;
    let n = app.store.revoke_client_grants(id, app.clock.now()).await?;
    record(
        app,
        actor,
        "admin.client.tokens_revoked",
        id,
        Touched {
            client_id: Some(id.to_string()),
            ..Default::default()
        },
        json!({ "refresh_tokens_revoked": n }),
    )
    .await;
    Ok(n)
}

/// Revokes the client's tokens, then deletes it.
pub async fn delete(app: &AppState, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let client = app
        .store
        .find_client(id)
        .await?
        .ok_or(AdminError::NotFound("client"))?;
    let n = app.store.revoke_client_grants(id, app.clock.now()).await?;
    if !app.store.delete_client(id).await? {
        return Err(AdminError::NotFound("client"));
    }
    record(
        app,
        actor,
        "admin.client.deleted",
        id,
        Touched {
            client_id: Some(id.to_string()),
            ..Default::default()
        },
        json!({ "name": client.name, "kind": client.kind.as_str(), "refresh_tokens_revoked": n }),
    )
    .await;
    Ok(())
}
