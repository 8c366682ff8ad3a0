//! `/admin/organizations`: list and create; `/admin/organizations/{id}`: edit, enable or
//! disable, its connections and its M2M clients (`org_clients`).

use crate::pages::PagePath;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::org_clients::OrgClientForm;
use super::{AdminPage, AdminPost, Errors, Fields, Refused, form_error, page_error};
use crate::admin::connections::{self, ConnectionView};
use crate::admin::org_clients::{self, OrgClientView};
use crate::admin::organizations::{self, OrganizationInput};
use crate::state::AppState;
use crate::store::Organization;

/// What the organization form shows (what was typed, after an error).
#[derive(Default)]
pub struct OrgForm {
    pub display_name: String,
    pub external_id: String,
    pub domains: String,
    pub initiate_login_uri: String,
}

impl OrgForm {
    fn from_org(o: &Organization) -> Self {
        Self {
            display_name: o.display_name.clone(),
            external_id: o.external_id.clone().unwrap_or_default(),
            domains: o.domains.join("\n"),
            initiate_login_uri: o.initiate_login_uri.clone().unwrap_or_default(),
        }
    }
    fn from_fields(f: &Fields) -> Self {
        Self {
            display_name: f.get("display_name"),
            external_id: f.get("external_id"),
            domains: f.get("domains"),
            initiate_login_uri: f.get("initiate_login_uri"),
        }
    }
    fn input(&self, is_enabled: Option<bool>) -> OrganizationInput {
        OrganizationInput {
            display_name: self.display_name.clone(),
            external_id: Some(self.external_id.clone()),
            domains: crate::admin::split_list(&self.domains),
            is_enabled,
            initiate_login_uri: Some(self.initiate_login_uri.clone()),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/organizations.html")]
struct ListPage<'a> {
    page: &'a AdminPage,
    organizations: Vec<Organization>,
    form: OrgForm,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "admin/organization.html")]
struct EditPage<'a> {
    page: &'a AdminPage,
    org: Organization,
    connections: Vec<ConnectionView>,
    org_clients: Vec<OrgClientView>,
    form: OrgForm,
    client_form: OrgClientForm,
    errors: Errors,
}

async fn list_page(
    app: &AppState,
    page: &AdminPage,
    form: OrgForm,
    errors: Errors,
) -> Result<Response, Refused> {
    let organizations = organizations::list(app).await.map_err(page_error)?;
    let status = if errors.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(page.render(
        status,
        &ListPage {
            page,
            organizations,
            form,
            errors,
        },
    ))
}

/// The organization page; `client_form` is the new-M2M-client form (what was typed, after
/// an error there).
pub(super) async fn edit_page(
    app: &AppState,
    page: &AdminPage,
    id: &str,
    form: Option<OrgForm>,
    client_form: OrgClientForm,
    errors: Errors,
) -> Result<Response, Refused> {
    let org = organizations::get(app, id).await.map_err(page_error)?;
    let connections = connections::list(app)
        .await
        .map_err(page_error)?
        .into_iter()
        .filter(|c| c.organization_id == org.id)
        .collect();
    let org_clients = org_clients::list(app, &org.id).await.map_err(page_error)?;
    let form = form.unwrap_or_else(|| OrgForm::from_org(&org));
    let status = if errors.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(page.render(
        status,
        &EditPage {
            page,
            org,
            connections,
            org_clients,
            form,
            client_form,
            errors,
        },
    ))
}

pub async fn get_organizations(
    State(app): State<AppState>,
    page: AdminPage,
) -> Result<Response, Refused> {
    list_page(&app, &page, OrgForm::default(), Errors::none()).await
}

pub async fn post_organizations(
    State(app): State<AppState>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let form = OrgForm::from_fields(&post.fields);
    match organizations::create(&app, &post.page.actor, form.input(Some(true))).await {
        Ok(org) => Ok(post.page.done(
            &format!("/admin/organizations/{}", org.id),
            &format!("Organization {} created.", org.display_name),
        )),
        Err(e) => list_page(&app, &post.page, form, form_error(e)?).await,
    }
}

pub async fn get_organization(
    State(app): State<AppState>,
    page: AdminPage,
    PagePath(id): PagePath<String>,
) -> Result<Response, Refused> {
    edit_page(
        &app,
        &page,
        &id,
        None,
        OrgClientForm::default(),
        Errors::none(),
    )
    .await
}

pub async fn post_organization(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let form = OrgForm::from_fields(&post.fields);
    // `enabled` is not on this form: the update keeps the stored value.
    match organizations::update(&app, &post.page.actor, &id, form.input(None)).await {
        Ok(org) => Ok(post.page.done(
            &format!("/admin/organizations/{}", org.id),
            "Organization saved.",
        )),
        Err(e) => {
            let errors = form_error(e)?;
            edit_page(
                &app,
                &post.page,
                &id,
                Some(form),
                OrgClientForm::default(),
                errors,
            )
            .await
        }
    }
}

pub async fn post_organization_enabled(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let is_enabled = post.fields.is_checked("enabled");
    organizations::set_enabled(&app, &post.page.actor, &id, is_enabled)
        .await
        .map_err(page_error)?;
    Ok(post.page.done(
        &format!("/admin/organizations/{id}"),
        if is_enabled {
            "Organization enabled."
        } else {
            "Organization disabled: its users cannot sign in or refresh tokens."
        },
    ))
}

pub async fn post_organization_delete(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    organizations::delete(&app, &post.page.actor, &id)
        .await
        .map_err(page_error)?;
    Ok(post.page.done(
        "/admin/organizations",
        &format!("Organization {id} deleted."),
    ))
}
