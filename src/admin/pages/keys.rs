//! `/admin/keys`: the signing keys (which signs, which is next, which are retired) and
//! a rotation.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{AdminPage, AdminPost, Refused, page_error};
use crate::admin::keys::{self, KeyView};
use crate::state::AppState;

pub struct KeyRow {
    pub key: KeyView,
    pub created: String,
    pub activates: String,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage<'a> {
    page: &'a AdminPage,
    keys: Vec<KeyRow>,
    delay: i64,
}

pub async fn get_keys(State(app): State<AppState>, page: AdminPage) -> Result<Response, Refused> {
    let keys = keys::list(&app)
        .await
        .map_err(page_error)?
        .into_iter()
        .map(|k| KeyRow {
            created: crate::admin::time::format(k.created_at),
            activates: crate::admin::time::format(k.activate_at),
            key: k,
        })
        .collect();
    Ok(page.render(
        StatusCode::OK,
        &KeysPage {
            page: &page,
            keys,
            delay: app.config.key_rotation_delay,
        },
    ))
}

pub async fn post_rotate(
    State(app): State<AppState>,
    post: AdminPost,
) -> Result<Response, Refused> {
    let is_immediate = post.fields.is_checked("now");
    let kid = keys::rotate(&app, &post.page.actor, is_immediate)
        .await
        .map_err(page_error)?;
    Ok(post
        .page
        .done("/admin/keys", &format!("New signing key {kid} published.")))
}
