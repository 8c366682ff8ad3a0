//! `/admin/resources`: MCP servers, a form to add one; `/admin/resources/{id}`: edit its
//! server URL, scopes with descriptions, token lifetimes and registration switches.

use crate::pages::PagePath;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{AdminPage, AdminPost, Errors, Fields, Refused, form_error, page_error};
use crate::admin::resources::{self, ResourceInput, parse_scope_lines};
use crate::admin::{AdminError, split_list};
use crate::state::AppState;
use crate::store::{RefreshPolicy, Resource, TokenIssuer};

/// What the resource form shows.
pub struct ResourceForm {
    pub name: String,
    pub server_url: String,
    pub access_token_ttl: String,
    pub refresh_token_ttl: String,
    pub is_dcr_enabled: bool,
    pub is_cimd_enabled: bool,
    pub cimd_allowlist: String,
    pub scopes: String,
    /// `resource` or `environment`.
    pub token_issuer: String,
    pub is_xaa_enabled: bool,
    /// `always`, `offline_access` or `never`.
    pub refresh_tokens: String,
}

impl Default for ResourceForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            server_url: String::new(),
            access_token_ttl: "300".into(),
            refresh_token_ttl: "86400".into(),
            is_dcr_enabled: true,
            is_cimd_enabled: true,
            cimd_allowlist: String::new(),
            scopes: String::new(),
            token_issuer: TokenIssuer::default().as_str().into(),
            is_xaa_enabled: false,
            refresh_tokens: RefreshPolicy::default().as_str().into(),
        }
    }
}

impl ResourceForm {
    fn from_resource(r: &Resource) -> Self {
        Self {
            name: r.name.clone(),
            server_url: r.server_url.clone(),
            access_token_ttl: r.access_token_ttl.to_string(),
            refresh_token_ttl: r.refresh_token_ttl.to_string(),
            is_dcr_enabled: r.is_dcr_enabled,
            is_cimd_enabled: r.is_cimd_enabled,
            cimd_allowlist: r.cimd_allowlist.join("\n"),
            scopes: r
                .scopes
                .iter()
                .map(|s| format!("{} {}", s.name, s.description).trim().to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            token_issuer: r.token_issuer.as_str().into(),
            is_xaa_enabled: r.is_xaa_enabled,
            refresh_tokens: r.refresh_tokens.as_str().into(),
        }
    }
    fn from_fields(f: &Fields) -> Self {
        Self {
            name: f.get("name"),
            server_url: f.get("server_url"),
            access_token_ttl: f.get("access_token_ttl"),
            refresh_token_ttl: f.get("refresh_token_ttl"),
            is_dcr_enabled: f.is_checked("dynamic_client_registration"),
            is_cimd_enabled: f.is_checked("client_id_metadata_documents"),
            cimd_allowlist: f.get("cimd_allowlist"),
            scopes: f.get("scopes"),
            token_issuer: f.get("token_issuer"),
            is_xaa_enabled: f.is_checked("xaa_enabled"),
            refresh_tokens: f.get("refresh_tokens"),
        }
    }
    fn input(&self) -> Result<ResourceInput, AdminError> {
        let number = |field: &str, text: &str, default: i64| match text.trim() {
            "" => Ok(default),
            t => t
                .parse::<i64>()
                .map_err(|_| AdminError::invalid(field, "must be a whole number of seconds")),
        };
        Ok(ResourceInput {
            name: self.name.clone(),
            server_url: self.server_url.clone(),
            access_token_ttl: number("access_token_ttl", &self.access_token_ttl, 300)?,
            refresh_token_ttl: number("refresh_token_ttl", &self.refresh_token_ttl, 86_400)?,
            dynamic_client_registration: self.is_dcr_enabled,
            client_id_metadata_documents: self.is_cimd_enabled,
            cimd_allowlist: split_list(&self.cimd_allowlist),
            scopes: parse_scope_lines(&self.scopes),
            token_issuer: Some(self.token_issuer.clone()),
            xaa_enabled: self.is_xaa_enabled,
            refresh_tokens: Some(self.refresh_tokens.clone()),
        })
    }
}

#[derive(Template)]
#[template(path = "admin/resources.html")]
struct ListPage<'a> {
    page: &'a AdminPage,
    issuer: &'a str,
    resources: Vec<Resource>,
    form: ResourceForm,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "admin/resource.html")]
struct EditPage<'a> {
    page: &'a AdminPage,
    resource: Resource,
    form: ResourceForm,
    errors: Errors,
}

fn status(errors: &Errors) -> StatusCode {
    if errors.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

async fn list_page(
    app: &AppState,
    page: &AdminPage,
    form: ResourceForm,
    errors: Errors,
) -> Result<Response, Refused> {
    let resources = resources::list(app).await.map_err(page_error)?;
    Ok(page.render(
        status(&errors),
        &ListPage {
            page,
            issuer: app.issuer(),
            resources,
            form,
            errors,
        },
    ))
}

async fn edit_page(
    app: &AppState,
    page: &AdminPage,
    id: &str,
    form: Option<ResourceForm>,
    errors: Errors,
) -> Result<Response, Refused> {
    let resource = resources::get(app, id).await.map_err(page_error)?;
    let form = form.unwrap_or_else(|| ResourceForm::from_resource(&resource));
    Ok(page.render(
        status(&errors),
        &EditPage {
            page,
            resource,
            form,
            errors,
        },
    ))
}

pub async fn get_resources(
    State(app): State<AppState>,
    page: AdminPage,
) -> Result<Response, Refused> {
    list_page(&app, &page, ResourceForm::default(), Errors::none()).await
}

pub async fn post_resources(
    State(app): State<AppState>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let form = ResourceForm::from_fields(&post.fields);
    let result = match form.input() {
        Ok(input) => resources::create(&app, &post.page.actor, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => Ok(post.page.done(
            &format!("/admin/resources/{}", r.id),
            &format!("MCP server {} created.", r.name),
        )),
        Err(e) => list_page(&app, &post.page, form, form_error(e)?).await,
    }
}

pub async fn get_resource(
    State(app): State<AppState>,
    page: AdminPage,
    PagePath(id): PagePath<String>,
) -> Result<Response, Refused> {
    edit_page(&app, &page, &id, None, Errors::none()).await
}

pub async fn post_resource(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let form = ResourceForm::from_fields(&post.fields);
    let result = match form.input() {
        Ok(input) => resources::update(&app, &post.page.actor, &id, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => Ok(post
            .page
            .done(&format!("/admin/resources/{}", r.id), "MCP server saved.")),
        Err(e) => edit_page(&app, &post.page, &id, Some(form), form_error(e)?).await,
    }
}

pub async fn post_resource_delete(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    resources::delete(&app, &post.page.actor, &id)
        .await
        .map_err(page_error)?;
    Ok(post
        .page
        .done("/admin/resources", &format!("MCP server {id} deleted.")))
}
