//! `/admin/connections`: connections of every organization, a form to add one (IdP
//! simulator, OIDC, SAML), enable/disable, "test connection", and for SAML the SP
//! metadata URL to hand to the IdP's admin.

use crate::pages::{PagePath, PageQuery};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{AdminPage, AdminPost, Errors, Fields, Refused, form_error, page_error};
use crate::admin::connections::{self, ConnectionInput, ConnectionView};
use crate::admin::organizations;
use crate::federation::check::Check;
use crate::state::AppState;
use crate::store::ConnectionKind;
use crate::store::Organization;

#[derive(Template)]
#[template(path = "admin/connections.html")]
struct ListPage<'a> {
    page: &'a AdminPage,
    issuer: &'a str,
    connections: Vec<ConnectionView>,
    organizations: Vec<Organization>,
    form: ConnectionInput,
    errors: Errors,
    tested: Option<(String, Vec<Check>)>,
    is_edit: bool,
}

#[derive(Template)]
#[template(path = "admin/connection.html")]
struct EditPage<'a> {
    page: &'a AdminPage,
    issuer: &'a str,
    connection: ConnectionView,
    form: ConnectionInput,
    errors: Errors,
    is_edit: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    organization_id: String,
}

fn input(f: &Fields) -> ConnectionInput {
    ConnectionInput {
        organization_id: f.get("organization_id"),
        kind: f.get("kind"),
        issuer: f.get("issuer"),
        client_id: f.get("client_id"),
        client_secret: f.get("client_secret"),
        scopes: f.get("scopes"),
        groups_claim: f.get("groups_claim"),
        email_claim: f.get("email_claim"),
        name_claim: f.get("name_claim"),
        allowed_hd: f.get("allowed_hd"),
        allowed_tid: f.get("allowed_tid"),
        trust_email_verified: f.get("trust_email_verified"),
        idp_metadata_url: f.get("idp_metadata_url"),
        idp_metadata_xml: f.get("idp_metadata_xml"),
        sp_entity_id: f.get("sp_entity_id"),
        groups_attribute: f.get("groups_attribute"),
        email_attribute: f.get("email_attribute"),
        name_attribute: f.get("name_attribute"),
        name_id_format: f.get("name_id_format"),
        idp_initiated_redirect: f.get("idp_initiated_redirect"),
        initiate_login_uri: f.get("initiate_login_uri"),
        login_url: f.get("login_url"),
        xaa_issuer: f.get("xaa_issuer"),
        xaa_jwks_uri: f.get("xaa_jwks_uri"),
        allow_idp_initiated: f.is_checked("allow_idp_initiated"),
    }
}

async fn list_page(
    app: &AppState,
    page: &AdminPage,
    mut form: ConnectionInput,
    errors: Errors,
    tested: Option<(String, Vec<Check>)>,
) -> Result<Response, Refused> {
    let connections = connections::list(app).await.map_err(page_error)?;
    let organizations = organizations::list(app).await.map_err(page_error)?;
    // The secret is never sent back to the browser.
    form.client_secret.clear();
    let status = if errors.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(page.render(
        status,
        &ListPage {
            page,
            issuer: app.issuer(),
            connections,
            organizations,
            form,
            errors,
            tested,
            is_edit: false,
        },
    ))
}

pub async fn get_connections(
    State(app): State<AppState>,
    page: AdminPage,
    PageQuery(q): PageQuery<ListQuery>,
) -> Result<Response, Refused> {
    let form = ConnectionInput {
        organization_id: q.organization_id,
        kind: ConnectionKind::IdpSimulator.as_str().into(),
        ..Default::default()
    };
    list_page(&app, &page, form, Errors::none(), None).await
}

pub async fn post_connections(
    State(app): State<AppState>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let form = input(&post.fields);
    match connections::create(&app, &post.page.actor, form.clone()).await {
        Ok(c) => Ok(post.page.done(
            "/admin/connections",
            &format!("Connection {} ({}) created.", c.id, c.kind),
        )),
        Err(e) => list_page(&app, &post.page, form, form_error(e)?, None).await,
    }
}

pub async fn post_connection_enabled(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let is_enabled = post.fields.is_checked("enabled");
    connections::set_enabled(&app, &post.page.actor, &id, is_enabled)
        .await
        .map_err(page_error)?;
    Ok(post.page.done(
        "/admin/connections",
        &format!(
            "Connection {id} {}.",
            if is_enabled { "enabled" } else { "disabled" }
        ),
    ))
}

/// Runs the checks (no change is made, so a plain GET) and shows them above the list.
pub async fn get_connection_test(
    State(app): State<AppState>,
    page: AdminPage,
    PagePath(id): PagePath<String>,
) -> Result<Response, Refused> {
    let checks = connections::test(&app, &id).await.map_err(page_error)?;
    let form = ConnectionInput {
        kind: ConnectionKind::IdpSimulator.as_str().into(),
        ..Default::default()
    };
    list_page(&app, &page, form, Errors::none(), Some((id, checks))).await
}

async fn edit_page(
    app: &AppState,
    page: &AdminPage,
    id: &str,
    form: Option<ConnectionInput>,
    errors: Errors,
) -> Result<Response, Refused> {
    let (connection, current) = connections::get_view(app, id).await.map_err(page_error)?;
    let mut form = form.unwrap_or(current);
    form.client_secret.clear();
    let status = if errors.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(page.render(
        status,
        &EditPage {
            page,
            issuer: app.issuer(),
            connection,
            form,
            errors,
            is_edit: true,
        },
    ))
}

pub async fn get_connection(
    State(app): State<AppState>,
    page: AdminPage,
    PagePath(id): PagePath<String>,
) -> Result<Response, Refused> {
    edit_page(&app, &page, &id, None, Errors::none()).await
}

pub async fn post_connection(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let form = input(&post.fields);
    match connections::update(&app, &post.page.actor, &id, form.clone()).await {
        Ok(c) => Ok(post
            .page
            .done(&format!("/admin/connections/{}", c.id), "Connection saved.")),
        Err(e) => edit_page(&app, &post.page, &id, Some(form), form_error(e)?).await,
    }
}

pub async fn post_connection_delete(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    connections::delete(&app, &post.page.actor, &id)
        .await
        .map_err(page_error)?;
    Ok(post
        .page
        .done("/admin/connections", &format!("Connection {id} deleted.")))
}
