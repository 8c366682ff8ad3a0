//! Bring-your-own-auth (Scalekit's custom connections): the application's own login signs
//! the person in. The start (`/sso/v1/connections/{conn}/start`) sends the browser to the
//! connection's `login_url` with `login_request_id` and `state`, and binds the login to
//! this browser (the upstream-login cookie, as for OIDC); the application posts who signed
//! in ([`auth_request`]) with its management token, then sends the browser to
//! `/sso/v1/connections/{conn}/partner:callback?state=…`, which completes the login once,
//! in the browser that started it, and the flow goes on with rules and consent.

pub mod auth_request;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{VerifiedIdentity, complete_login};
use crate::crypto;
use crate::flow::{find_open, pending_and_connection, record_login_failed};
use crate::oauth::authorize_error::with_params;
use crate::oauth::form::FormParams;
use crate::pages::{self, PageCode, PageError, PagePath, PageQuery};
use crate::session::{Cookie, SessionCookie};
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind, Taken, UpstreamLogin};

/// How long the application has to sign the person in and post who they are.
pub const LOGIN_TTL: i64 = 600;

#[derive(Deserialize)]
pub struct StartQuery {
    request: String,
}

/// `GET /sso/v1/connections/{conn}/start?request=…`
pub async fn get_start(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    PageQuery(q): PageQuery<StartQuery>,
) -> Response {
    start(&app, &conn, &q.request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn start(app: &AppState, conn: &str, request: &str) -> Result<Response, PageError> {
    let (pending, connection) =
        pending_and_connection(app, conn, ConnectionKind::Custom, request).await?;
    let login_url = connection.settings["login_url"]
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(PageError::server_error)?
        .to_string();
    let (state, login_request_id, browser) = (
        crypto::random_token(),
        crypto::random_token(),
        crypto::random_token(),
    );
    let now = app.clock.now();
    let state_hash = crypto::hash_secret(&state);
    app.store
        .insert_upstream_login(&UpstreamLogin {
            secrets: String::new(),
            state_hash: state_hash.clone(),
            connection_id: connection.id.clone(),
            pending_id: pending.id.clone(),
            browser_hash: crypto::hash_secret(&browser),
            created_at: now,
            expires_at: now + LOGIN_TTL,
            used_at: None,
        })
        .await?;
    app.store
        .insert_login_request(
            &crypto::hash_secret(&login_request_id),
            &state_hash,
            &connection.id,
            now + LOGIN_TTL,
        )
        .await?;
    let to = with_params(
        &login_url,
        &[("login_request_id", &login_request_id), ("state", &state)],
    );
    let mut response = pages::redirect(&to, StatusCode::SEE_OTHER);
    response.headers_mut().append(
        header::SET_COOKIE,
        Cookie::Login.set(app.issuer(), &browser, LOGIN_TTL),
    );
    Ok(response)
}

/// `GET /sso/v1/connections/{conn}/partner:callback?state=…`
pub async fn get_partner_callback(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    headers: HeaderMap,
    cookie: SessionCookie,
    RawQuery(q): RawQuery,
) -> Response {
    let params = FormParams::parse(q.unwrap_or_default().as_bytes());
    let browser = Cookie::Login.read(app.issuer(), &headers);
    match callback(&app, &conn, &params, browser.as_deref(), &cookie).await {
        // The login is used up: its cookie goes. A refusal keeps it, so the browser can
        // come back once the application has posted the user.
        Ok(mut response) => {
            response
                .headers_mut()
                .append(header::SET_COOKIE, Cookie::Login.set(app.issuer(), "", 0));
            response
        }
        Err(refused) => refused.into_response(),
    }
}

async fn callback(
    app: &AppState,
    conn: &str,
    params: &FormParams,
    browser: Option<&str>,
    cookie: &SessionCookie,
) -> Result<Response, PageError> {
    let connection = custom_connection(app, conn).await?;
    let refused = |code: PageCode, why: &'static str| {
        let app = app.clone();
        let connection = connection.clone();
        async move {
            record_login_failed(&app, &connection, why.to_string()).await;
            PageError::bad_request(
                code,
                "This sign-in is not valid for this browser. Start again from your application.",
            )
        }
    };
    let Some(state) = params.get("state") else {
        return Err(refused(PageCode::InvalidState, "partner callback without state").await);
    };
    let state_hash = crypto::hash_secret(state);
    let now = app.clock.now();
    // Checked before it is used up: another browser's attempt leaves the login to its own.
    let Some(login) = app.store.find_upstream_login(&state_hash).await? else {
        return Err(refused(PageCode::InvalidState, "unknown partner callback state").await);
    };
    if login.connection_id != connection.id {
        return Err(refused(
            PageCode::InvalidState,
            "partner callback state belongs to another connection",
        )
        .await);
    }
    let same_browser = browser.is_some_and(|b| crypto::verify_secret(b, &login.browser_hash));
    if !same_browser {
        return Err(refused(
            PageCode::BrowserMismatch,
            "partner callback state belongs to another browser",
        )
        .await);
    }
    if login.used_at.is_some() {
        return Err(refused(
            PageCode::StateReplayed,
            "partner callback used before (replay)",
        )
        .await);
    }
    if login.expires_at <= now {
        return Err(refused(
            PageCode::RequestExpired,
            "the application's login took too long",
        )
        .await);
    }
    let Some(sealed) = app.store.find_login_request_identity(&state_hash).await? else {
        return Err(refused(
            PageCode::InvalidState,
            "the application has not posted the signed-in user",
        )
        .await);
    };
    match app.store.take_upstream_login(&state_hash, now).await? {
        Taken::Fresh(_) => {}
        _ => {
            return Err(refused(
                PageCode::StateReplayed,
                "partner callback used before (replay)",
            )
            .await);
        }
    }
    let identity: VerifiedIdentity = app
        .config
        .secret
        .open(&sealed, &auth_request::identity_aad(&connection.id))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(PageError::server_error)?;
    let pending = find_open(app, &login.pending_id).await?;
    complete_login(app, &pending, &connection, identity, cookie).await
}

async fn custom_connection(app: &AppState, conn: &str) -> Result<Connection, PageError> {
    app.store
        .find_connection(conn)
        .await?
        .filter(|c| c.kind == ConnectionKind::Custom)
        .ok_or_else(|| {
            PageError::bad_request(
                PageCode::UnknownConnection,
                "This sign-in connection is not known here.",
            )
        })
}
