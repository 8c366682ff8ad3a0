//! Users (as their IdP last described them) and their sessions and consents: disable,
//! revoke everything a user holds, revoke a consent. Each stops the next refresh at once:
//! the refresh grant reads users, consents and families from the store, never a cache.

use serde::Serialize;
use serde_json::json;

use super::{Actor, AdminError, Touched, record};
use crate::state::AppState;
use crate::store::{Consent, User};

/// What revoking a user ended.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    pub sessions_ended: u64,
    pub refresh_tokens_revoked: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub organization_id: String,
    pub connection_id: String,
    pub groups: Vec<String>,
    pub is_enabled: bool,
    pub last_login_at: i64,
    /// Browser sessions not ended and not expired.
    pub live_sessions: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            live_sessions: 0,
            id: u.id,
            email: u.email,
            name: u.name,
            organization_id: u.organization_id,
            connection_id: u.connection_id,
            groups: u.groups,
            is_enabled: u.is_enabled,
            last_login_at: u.last_login_at,
        }
    }
}

/// Users, most recent sign-in first, with their live sessions.
pub async fn list(app: &AppState) -> Result<Vec<UserView>, AdminError> {
    let live = app.store.count_live_sessions(app.clock.now()).await?;
    Ok(app
        .store
        .list_users(500)
        .await?
        .into_iter()
        .map(|u| {
            let mut v = UserView::from(u);
            v.live_sessions = live
                .iter()
                .find(|(id, _)| *id == v.id)
                .map_or(0, |(_, n)| *n);
            v
        })
        .collect())
}

async fn get(app: &AppState, id: &str) -> Result<User, AdminError> {
    app.store
        .find_user(id)
        .await?
        .ok_or(AdminError::NotFound("user"))
}

fn touched(u: &User) -> Touched {
    Touched {
        user_id: Some(u.id.clone()),
        organization_id: Some(u.organization_id.clone()),
        ..Default::default()
    }
}

/// Disabling refuses the user's sign-ins and the next refresh of their tokens, and cuts off
/// the access tokens they hold (introspection, userinfo; MCP servers that verify locally accept
/// them until `exp`); enabling again does not revive those.
pub async fn set_enabled(
    app: &AppState,
    actor: &Actor,
    id: &str,
    is_enabled: bool,
) -> Result<(), AdminError> {
    let user = get(app, id).await?;
    app.store
        .set_user_enabled(id, is_enabled, app.clock.now())
        .await?;
    record(
        app,
        actor,
        if is_enabled {
            "admin.user.enabled"
        } else {
            "admin.user.disabled"
        },
        id,
        touched(&user),
        json!({ "enabled": is_enabled }),
    )
    .await;
    Ok(())
}

/// Ends all of a user's browser sessions, revokes all their refresh tokens and cuts off their
/// access tokens and unused codes (introspection, userinfo, the token endpoint; MCP servers
/// that verify locally accept an access token until its `exp`).
pub async fn revoke(app: &AppState, actor: &Actor, id: &str) -> Result<Revoked, AdminError> {
    let user = get(app, id).await?;
    let now = app.clock.now();
    // Sessions first: none of them can ask for a code after the cut-off is set.
    let sessions_ended = app.store.end_user_sessions(id, now).await?;
    let revoked = Revoked {
        refresh_tokens_revoked: app.store.revoke_user_grants(id, now).await?,
        sessions_ended,
    };
    record(
        app,
        actor,
        "admin.user.revoked",
        id,
        touched(&user),
        json!(revoked),
    )
    .await;
    Ok(revoked)
}

/// Deletes a user: their refresh tokens are revoked and their access tokens cut off, their
/// sessions and consents go with them. A later sign-in through their IdP makes a new user. The audit event keeps ids only.
pub async fn delete(app: &AppState, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let user = get(app, id).await?;
    let revoked = app
        .store
        .delete_user(id, app.clock.now())
        .await?
        .ok_or(AdminError::NotFound("user"))?;
    record(
        app,
        actor,
        "admin.user.deleted",
        id,
        touched(&user),
        json!({ "connection_id": user.connection_id, "refresh_tokens_revoked": revoked }),
    )
    .await;
    Ok(())
}

pub async fn list_consents(app: &AppState) -> Result<Vec<Consent>, AdminError> {
    Ok(app.store.list_all_consents(500).await?)
}

/// Revoking a consent stops the next refresh of tokens issued under it.
pub async fn revoke_consent(app: &AppState, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let consent = app
        .store
        .find_consent_by_id(id)
        .await?
        .ok_or(AdminError::NotFound("consent"))?;
    app.store.revoke_consent(id, app.clock.now()).await?;
    record(
        app,
        actor,
        "admin.consent.revoked",
        id,
        Touched {
            user_id: Some(consent.user_id.clone()),
            client_id: Some(consent.client_id.clone()),
            resource_id: Some(consent.resource_id.clone()),
            ..Default::default()
        },
        json!({ "scopes": consent.scopes, "redirect_uri": consent.redirect_uri }),
    )
    .await;
    Ok(())
}
