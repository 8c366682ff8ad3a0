//! `/admin/users`: users with their last sign-in and groups then; disable/enable; revoke
//! all of a user's sessions and tokens. `/admin/consents`: remembered consents; revoke.

use crate::pages::PagePath;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{AdminPage, AdminPost, Refused, page_error};
use crate::admin::users::{self, UserView};
use crate::state::AppState;
use crate::store::Consent;

pub struct UserRow {
    pub user: UserView,
    pub last_login: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage<'a> {
    page: &'a AdminPage,
    users: Vec<UserRow>,
}

pub async fn get_users(State(app): State<AppState>, page: AdminPage) -> Result<Response, Refused> {
    let users = users::list(&app)
        .await
        .map_err(page_error)?
        .into_iter()
        .map(|u| UserRow {
            last_login: crate::admin::time::format(u.last_login_at),
            user: u,
        })
        .collect();
    Ok(page.render(StatusCode::OK, &UsersPage { page: &page, users }))
}

pub async fn post_user_enabled(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let is_enabled = post.fields.is_checked("enabled");
    users::set_enabled(&app, &post.page.actor, &id, is_enabled)
        .await
        .map_err(page_error)?;
    Ok(post.page.done(
        "/admin/users",
        &if is_enabled {
            format!("User {id} enabled.")
        } else {
            format!(
                "User {id} disabled: no sign-in, no refresh; introspection and userinfo refuse \
                 their access tokens (MCP servers that verify locally accept them until they expire)."
            )
        },
    ))
}

pub async fn post_user_delete(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    users::delete(&app, &post.page.actor, &id)
        .await
        .map_err(page_error)?;
    Ok(post
        .page
        .done("/admin/users", &format!("User {id} deleted.")))
}

pub async fn post_user_revoke(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let r = users::revoke(&app, &post.page.actor, &id)
        .await
        .map_err(page_error)?;
    Ok(post.page.done(
        "/admin/users",
        &format!(
            "Ended {} sessions and revoked {} refresh tokens of {id}; introspection and \
             userinfo refuse their access tokens (MCP servers that verify locally accept them until they expire).",
            r.sessions_ended, r.refresh_tokens_revoked
        ),
    ))
}

pub struct ConsentRow {
    pub consent: Consent,
    /// The client's name (empty when the client is gone).
    pub client_name: String,
    pub created: String,
    pub revoked: String,
}

#[derive(Template)]
#[template(path = "admin/consents.html")]
struct ConsentsPage<'a> {
    page: &'a AdminPage,
    consents: Vec<ConsentRow>,
}

pub async fn get_consents(
    State(app): State<AppState>,
    page: AdminPage,
) -> Result<Response, Refused> {
    let names: std::collections::HashMap<String, String> = app
        .store
        .list_clients()
        .await
        .map_err(|e| page_error(e.into()))?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let consents = users::list_consents(&app)
        .await
        .map_err(page_error)?
        .into_iter()
        .map(|c| ConsentRow {
            client_name: names
                .get(&c.client_id)
                .map(|n| crate::oauth::client_text::for_display(n))
                .unwrap_or_default(),
            created: crate::admin::time::format(c.created_at),
            revoked: c
                .revoked_at
                .map(crate::admin::time::format)
                .unwrap_or_default(),
            consent: c,
        })
        .collect();
    Ok(page.render(
        StatusCode::OK,
        &ConsentsPage {
            page: &page,
            consents,
        },
    ))
}

pub async fn post_consent_revoke(
    State(app): State<AppState>,
    PagePath(id): PagePath<String>,
    post: AdminPost,
) -> Result<Response, Refused> {
    users::revoke_consent(&app, &post.page.actor, &id)
        .await
        .map_err(page_error)?;
    Ok(post.page.done(
        "/admin/consents",
        &format!("Consent {id} revoked: the next refresh under it fails."),
    ))
}
