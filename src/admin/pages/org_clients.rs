//! An organization's M2M clients on its page (`/admin/organizations/{id}`): create one (its
//! secret shown once, on the response to the POST), add a secret (shown once), remove a
//! secret, delete the client.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::organizations::edit_page;
use super::{AdminPage, AdminPost, Errors, Fields, Refused, form_error, page_error};
use crate::admin::org_clients::{self, OrgClientInput, OrgClientView, SecretView, WithPlainSecret};
use crate::admin::{AdminError, split_list};
use crate::pages::PagePath;
use crate::state::AppState;
use crate::store::CustomClaim;

/// What the new-M2M-client form shows.
#[derive(Default)]
pub struct OrgClientForm {
    pub name: String,
    pub description: String,
    pub scopes: String,
    pub audience: String,
    /// `key=value`, one per line.
    pub custom_claims: String,
    pub expiry: String,
}

impl OrgClientForm {
    fn from_fields(f: &Fields) -> Self {
        Self {
            name: f.get("name"),
            description: f.get("description"),
            scopes: f.get("scopes"),
            audience: f.get("audience"),
            custom_claims: f.get("custom_claims"),
            expiry: f.get("expiry"),
        }
    }

    fn input(&self, f: &Fields) -> Result<OrgClientInput, AdminError> {
        let custom_claims = self
            .custom_claims
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (key, value) = l.split_once('=').ok_or_else(|| {
                    AdminError::invalid("custom_claims", "one `name=value` per line")
                })?;
                Ok(CustomClaim {
                    key: key.trim().to_string(),
                    value: value.trim().to_string(),
                })
            })
            .collect::<Result<Vec<_>, AdminError>>()?;
        Ok(OrgClientInput {
            name: self.name.clone(),
            description: self.description.clone(),
            scopes: split_list(&self.scopes),
            audience: split_list(&self.audience),
            custom_claims,
            expiry: Some(f.number("expiry", 3_600)?),
        })
    }
}

#[derive(Template)]
#[template(path = "admin/org_client_secret.html")]
struct SecretPage<'a> {
    page: &'a AdminPage,
    organization_id: &'a str,
    client_id: &'a str,
    secret_id: &'a str,
    plain_secret: &'a str,
}

fn secret_page(
    page: &AdminPage,
    organization_id: &str,
    client_id: &str,
    secret: &SecretView,
    plain: &str,
) -> Response {
    page.render(
        StatusCode::CREATED,
        &SecretPage {
            page,
            organization_id,
            client_id,
            secret_id: &secret.id,
            plain_secret: plain,
        },
    )
}

#[derive(Deserialize)]
pub struct ClientPath {
    id: String,
    client_id: String,
}

#[derive(Deserialize)]
pub struct SecretPath {
    id: String,
    client_id: String,
    secret_id: String,
}

pub async fn post_org_clients(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let form = OrgClientForm::from_fields(&post.fields);
    let created = match form.input(&post.fields) {
        Ok(input) => org_clients::create(&app, &post.page.actor, &id, input).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(WithPlainSecret {
            item: OrgClientView {
                client_id, secrets, ..
            },
            plain_secret,
        }) => {
            let secret = secrets
                .first()
                .ok_or_else(|| page_error(AdminError::NotFound("secret of the new client")))?;
            Ok(secret_page(
                &post.page,
                &id,
                &client_id,
                secret,
                &plain_secret,
            ))
        }
        Err(e) => {
            let errors: Errors = form_error(e)?;
            edit_page(&app, &post.page, &id, None, form, errors).await
        }
    }
}

pub async fn post_org_client_secrets(
    State(app): State<AppState>,
    PagePath(p): PagePath<ClientPath>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let added = org_clients::add_secret(&app, &post.page.actor, &p.id, &p.client_id)
        .await
        .map_err(page_error)?;
    Ok(secret_page(
        &post.page,
        &p.id,
        &p.client_id,
        &added.item,
        &added.plain_secret,
    ))
}

pub async fn post_org_client_secret_delete(
    State(app): State<AppState>,
    PagePath(p): PagePath<SecretPath>,
    post: AdminPost,
) -> Result<Response, Refused> {
    org_clients::remove_secret(&app, &post.page.actor, &p.id, &p.client_id, &p.secret_id)
        .await
        .map_err(page_error)?;
    Ok(post.page.done(
        &format!("/admin/organizations/{}", p.id),
        &format!("Secret {} removed from {}.", p.secret_id, p.client_id),
    ))
}

pub async fn post_org_client_delete(
    State(app): State<AppState>,
    PagePath(p): PagePath<ClientPath>,
    post: AdminPost,
) -> Result<Response, Refused> {
    org_clients::delete(&app, &post.page.actor, &p.id, &p.client_id)
        .await
        .map_err(page_error)?;
    Ok(post.page.done(
        &format!("/admin/organizations/{}", p.id),
        &format!("M2M client {} deleted.", p.client_id),
    ))
}
