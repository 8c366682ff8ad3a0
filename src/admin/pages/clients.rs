//! `/admin/clients`: static, DCR and CIMD clients with their last use; create a static
//! client (the secret is shown once, on the response to the POST), revoke its tokens, delete.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{AdminPage, AdminPost, Errors, Fields, Refused, form_error, page_error};
use crate::admin::clients::{self, ClientView, CreatedClient, StaticClientInput};
use crate::admin::{resources, split_list};
use crate::pages::PageQuery;
use crate::state::AppState;
use crate::store::Resource;

/// What the new-client form shows.
#[derive(Default)]
pub struct ClientForm {
    pub name: String,
    pub is_confidential: bool,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: Vec<String>,
    pub resources: Vec<String>,
    pub scopes: String,
    pub introspection: bool,
    /// Checked: PKCE optional (a confidential login app).
    pub is_pkce_optional: bool,
    /// `private_key_jwt`: the client's JWK Set (JSON) or its URL.
    pub jwks: String,
    pub jwks_uri: String,
}

impl ClientForm {
    fn from_fields(f: &Fields) -> Self {
        Self {
            name: f.get("name"),
            is_confidential: f.is_checked("confidential"),
            redirect_uris: f.get("redirect_uris"),
            post_logout_redirect_uris: f.get("post_logout_redirect_uris"),
            grant_types: f.all("grant_types"),
            resources: f.all("resources"),
            scopes: f.get("scopes"),
            introspection: f.is_checked("introspection"),
            is_pkce_optional: f.is_checked("pkce_optional"),
            jwks: f.get("jwks"),
            jwks_uri: f.get("jwks_uri"),
        }
    }
    fn input(&self) -> StaticClientInput {
        StaticClientInput {
            name: self.name.clone(),
            is_confidential: self.is_confidential,
            redirect_uris: split_list(&self.redirect_uris),
            post_logout_redirect_uris: split_list(&self.post_logout_redirect_uris),
            grant_types: self.grant_types.clone(),
            resources: self.resources.clone(),
            scopes: split_list(&self.scopes),
            introspection: self.introspection,
            application_type: None,
            pkce: Some(
                if self.is_pkce_optional {
                    "optional"
                } else {
                    "required"
                }
                .into(),
            ),
            token_endpoint_auth_method: (!self.jwks.is_empty() || !self.jwks_uri.is_empty())
                .then(|| "private_key_jwt".to_string()),
            // Not JSON: kept as text, which the planner refuses as no JWK Set.
            jwks: (!self.jwks.is_empty()).then(|| {
                serde_json::from_str(&self.jwks)
                    .unwrap_or_else(|_| serde_json::Value::String(self.jwks.clone()))
            }),
            jwks_uri: (!self.jwks_uri.is_empty()).then(|| self.jwks_uri.clone()),
        }
    }
    pub fn has_grant(&self, g: &str) -> bool {
        self.grant_types.iter().any(|x| x == g)
    }
    pub fn has_resource(&self, r: &str) -> bool {
        self.resources.iter().any(|x| x == r)
    }
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ListPage<'a> {
    page: &'a AdminPage,
    clients: Vec<ClientView>,
    /// The query string of the next page, if there is one.
    next: Option<String>,
    resources: Vec<Resource>,
    form: ClientForm,
    errors: Errors,
}

/// `?after=<client id>`: the page after that client.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ClientsQuery {
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/client_created.html")]
struct CreatedPage<'a> {
    page: &'a AdminPage,
    created: CreatedClient,
}

async fn list_page(
    app: &AppState,
    page: &AdminPage,
    after: Option<&str>,
    form: ClientForm,
    errors: Errors,
) -> Result<Response, Refused> {
    let list = clients::list(app, after).await.map_err(page_error)?;
    let next = list.next.map(|id| {
        format!(
            "?after={}",
            form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        )
    });
    let clients = list.clients;
    let resources = resources::list(app).await.map_err(page_error)?;
    let status = if errors.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(page.render(
        status,
        &ListPage {
            page,
            clients,
            next,
            resources,
            form,
            errors,
        },
    ))
}

pub async fn get_clients(
    State(app): State<AppState>,
    page: AdminPage,
    PageQuery(query): PageQuery<ClientsQuery>,
) -> Result<Response, Refused> {
    let form = ClientForm {
        is_confidential: true,
        grant_types: vec!["client_credentials".into()],
        ..Default::default()
    };
    list_page(&app, &page, query.after.as_deref(), form, Errors::none()).await
}

/// Not a redirect: the secret is shown on this response, once, and never stored in clear.
pub async fn post_clients(
    State(app): State<AppState>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let form = ClientForm::from_fields(&post.fields);
    match clients::create_static(&app, &post.page.actor, form.input()).await {
        Ok(created) => Ok(post.page.render(
            StatusCode::CREATED,
            &CreatedPage {
                page: &post.page,
                created,
            },
        )),
        Err(e) => list_page(&app, &post.page, None, form, form_error(e)?).await,
    }
}

/// The client id travels in the form: metadata-document client ids are URLs.
pub async fn post_client_revoke(
    State(app): State<AppState>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let id = post.fields.get("client_id");
    let n = clients::revoke_tokens(&app, &post.page.actor, &id)
        .await
        .map_err(page_error)?;
    Ok(post.page.done(
        "/admin/clients",
        &format!(
            "Revoked {n} refresh tokens and the unused codes of {id}; introspection and \
             userinfo refuse its access tokens (MCP servers that verify locally accept them \
             until they expire)."
        ),
    ))
}

pub async fn post_client_delete(
    State(app): State<AppState>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let id = post.fields.get("client_id");
    clients::delete(&app, &post.page.actor, &id)
        .await
        .map_err(page_error)?;
    Ok(post
        .page
        .done("/admin/clients", &format!("Client {id} deleted.")))
}
