//! `/oidc/logout` (OIDC RP-Initiated Logout): ends the browser session; follows
//! `post_logout_redirect_uri` only with a valid `id_token_hint` for a client that
//! registered that URI.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::Response;

use super::authorize_error::with_params;
use super::form::FormParams;
use crate::app::AppState;
use crate::pages;
use crate::session::{self, SessionCookie};

#[derive(Template)]
#[template(path = "logout.html")]
struct SignedOut;

pub async fn get_logout(
    State(app): State<AppState>,
    cookie: SessionCookie,
    RawQuery(q): RawQuery,
) -> Response {
    let params = FormParams::parse(q.unwrap_or_default().as_bytes());
    if let Ok(Some(s)) = session::current(&app, &cookie).await {
        let _ = app.store.end_session(&s.id, app.clock.now()).await;
    }
    let target = post_logout_target(&app, &params).await;
    let mut response = match target {
        Some(uri) => pages::redirect(&uri, StatusCode::FOUND),
        None => pages::render(StatusCode::OK, &SignedOut),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::clear_cookie(app.issuer()));
    response
}

async fn post_logout_target(app: &AppState, params: &FormParams) -> Option<String> {
    let uri = params.get("post_logout_redirect_uri")?;
    let (_, claims) = app.keys.verify(params.get("id_token_hint")?)?;
    let client_id = claims["aud"].as_str()?;
    if params.get("client_id").is_some_and(|c| c != client_id) {
        return None;
    }
    let issuer = claims["iss"].as_str()?;
    if issuer != app.issuer() && !issuer.starts_with(&format!("{}/resources/", app.issuer())) {
        return None;
    }
    let client = app.store.find_client(client_id).await.ok()??;
    let registered = client.metadata["post_logout_redirect_uris"].as_array()?;
    if !registered.iter().any(|r| r.as_str() == Some(uri)) {
        return None;
    }
    Some(match params.get("state") {
        Some(state) => with_params(uri, &[("state", state)]),
        None => uri.to_string(),
    })
}
