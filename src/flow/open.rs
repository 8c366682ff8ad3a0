//! Opening a pending authorization: a parsed request (see `oauth::authorize::parse`) kept
//! server-side under a random request id (no parameter is ever read back from a form),
//! capped per address; finding an open one again by that id; and the first step after
//! opening (a session that may serve it, `prompt=none`, or home-realm discovery).

use axum::http::StatusCode;
use axum::response::Response;

use super::connection;
use super::decide::decide;
use crate::oauth::authorize_error::AuthorizeError;
use crate::pages::{PageCode, PageError};
use crate::state::AppState;
use crate::store::{AuthorizationRequest, PendingAuthorization, Session};

/// How long a pending authorization waits for login and consent.
pub const PENDING_TTL: i64 = 600;
/// Unfinished pending authorizations one address may hold within `PENDING_TTL`.
pub const MAX_PENDING_PER_ADDRESS: i64 = 200;

/// Keeps a parsed request server-side as a pending authorization, within the per-address cap.
pub async fn open(
    app: &AppState,
    request: AuthorizationRequest,
    from: &str,
) -> Result<PendingAuthorization, AuthorizeError> {
    let now = app.clock.now();
    let pending = PendingAuthorization {
        id: crate::crypto::random_token(),
        request,
        session_id: None,
        created_at: now,
        expires_at: now + PENDING_TTL,
        finished_at: None,
    };
    // Each pending request stores its parameters until it expires: one address may hold
    // only so many unfinished ones.
    if app
        .store
        .count_pending_from(from, now - PENDING_TTL)
        .await?
        >= MAX_PENDING_PER_ADDRESS
    {
        return Err(AuthorizeError::Page(PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            PageCode::TooManyRequests,
            "Too many sign-ins in progress",
            "Too many sign-ins are in progress from your address. Finish one, or try again in a few minutes.",
        )));
    }
    app.store.insert_pending(&pending, from).await?;
    Ok(pending)
}

/// A pending request that is still open.
pub async fn find_open(app: &AppState, id: &str) -> Result<PendingAuthorization, PageError> {
    let pending = app.store.find_pending(id).await?.ok_or_else(|| {
        PageError::bad_request(
            PageCode::UnknownRequest,
            "This sign-in request is unknown. Start again from your application.",
        )
    })?;
    if pending.finished_at.is_some() || pending.expires_at <= app.clock.now() {
        return Err(PageError::bad_request(
            PageCode::RequestExpired,
            "This sign-in request has expired or was already completed. Start again from your application.",
        ));
    }
    Ok(pending)
}

/// Moves a just-opened request on: a signed-in session that may serve it (the caller
/// checked) goes to the rules; without one, `prompt=none` is `login_required` (OIDC Core
/// §3.1.2.6), by redirect only when the request allows it; anyone else goes to home-realm
/// discovery and upstream login.
pub async fn proceed(
    app: &AppState,
    pending: &PendingAuthorization,
    session: Option<&Session>,
    can_redirect: bool,
) -> Result<Response, AuthorizeError> {
    if let Some(s) = session {
        app.store.attach_session(&pending.id, &s.id).await?;
        return decide(app, pending, s).await;
    }
    if pending.request.prompt.iter().any(|p| p == "none") {
        let (code, why) = (PageCode::LoginRequired, "the user is not signed in");
        return Err(if can_redirect {
            AuthorizeError::to_client(&pending.request, code, why)
        } else {
            AuthorizeError::page(code, why)
        });
    }
    connection::route(app, pending)
        .await
        .map_err(AuthorizeError::Page)
}
