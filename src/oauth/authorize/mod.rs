//! The authorization endpoint (RFC 6749 §4.1.1, OAuth 2.1, RFC 8707, RFC 9207), at
//! `/oauth/authorize` and `/resources/{res}/oauth/authorize`. Validates the request,
//! keeps it server-side as a pending authorization, then continues with the browser's
//! session or sends the person to home-realm discovery and upstream login.

use crate::pages::PageCode;
use crate::pages::PagePath;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::authorize_error::AuthorizeError;
use super::endpoint::{Endpoint, default_resource_id, resolve_resource};
use super::form::FormParams;
use crate::client_ip::ClientIp;
use crate::consent;
use crate::federation;
use crate::pages::PageError;
use crate::session::{self, SessionCookie};
use crate::state::AppState;
use crate::store::{AuthorizationRequest, Client, PendingAuthorization, Resource};

pub mod parse;
#[cfg(test)]
mod tests;

pub use parse::MAX_QUERY_BYTES;
use parse::{ParsedRequest, UntrustedRequest};

/// How long a pending authorization waits for login and consent.
pub const PENDING_TTL: i64 = 600;
/// Unfinished pending authorizations one address may hold within `PENDING_TTL`.
pub const MAX_PENDING_PER_ADDRESS: i64 = 200;

pub async fn get_authorize(
    State(app): State<AppState>,
    ClientIp(from): ClientIp,
    cookie: SessionCookie,
    RawQuery(q): RawQuery,
) -> Response {
    start(
        &app,
        Endpoint::Environment,
        q.unwrap_or_default(),
        cookie,
        &from,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

pub async fn get_resource_authorize(
    State(app): State<AppState>,
    PagePath(resource): PagePath<String>,
    ClientIp(from): ClientIp,
    cookie: SessionCookie,
    RawQuery(q): RawQuery,
) -> Response {
    start(
        &app,
        Endpoint::Resource(resource),
        q.unwrap_or_default(),
        cookie,
        &from,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// Validates an authorization request and moves it on: the lookups, then [`parse`], then
/// the pending request and the browser's session.
pub async fn start(
    app: &AppState,
    endpoint: Endpoint,
    query: String,
    cookie: SessionCookie,
    from: &str,
) -> Result<Response, AuthorizeError> {
    let untrusted = parse::read(&query)?;
    let params = &untrusted.params;
    let client = find_client(app, &endpoint, &untrusted).await?;
    let resource = find_resource(app, &endpoint, params, &client).await?;
    let issuer = endpoint.issuer(app.issuer());
    let ParsedRequest {
        request,
        can_redirect,
    } = parse::parse(
        params,
        &client,
        resource.as_ref().map_err(String::as_str),
        &issuer,
    )?;
    let pending = hold(app, request, from).await?;

    if let Some(s) = session::current(app, &cookie).await?
        && parse::session_serves(&pending.request, &s, pending.created_at)
    {
        app.store.attach_session(&pending.id, &s.id).await?;
        return consent::decide(app, &pending, &s).await;
    }
    if pending.request.prompt.iter().any(|p| p == "none") {
        let (code, why) = (PageCode::LoginRequired, "the user is not signed in");
        return Err(if can_redirect {
            AuthorizeError::to_client(&pending.request, code, why)
        } else {
            AuthorizeError::page(code, why)
        });
    }
    federation::discovery::route(app, &pending)
        .await
        .map_err(AuthorizeError::Page)
}

/// The client a request names: registered here, or a Client ID Metadata Document.
async fn find_client(
    app: &AppState,
    endpoint: &Endpoint,
    untrusted: &UntrustedRequest,
) -> Result<Client, AuthorizeError> {
    let client_id = untrusted.client_id.as_str();
    if !super::cimd::is_cimd_client_id(client_id) {
        return app.store.find_client(client_id).await?.ok_or_else(|| {
            AuthorizeError::page(
                PageCode::InvalidClient,
                "The application is not registered here.",
            )
        });
    }
    // The resource's CIMD policy is checked first, so an outsider cannot make us fetch
    // URLs the resource would refuse anyway.
    match resolve_resource(app, endpoint, untrusted.params.get("resource")).await {
        Ok(Some(r))
            if r.is_cimd_enabled && super::cimd::allowlist_admits(&r.cimd_allowlist, client_id) => {
        }
        _ => {
            return Err(AuthorizeError::page(
                PageCode::InvalidTarget,
                "This application may not get tokens for that resource (its metadata-document policy refuses it).",
            ));
        }
    }
    super::cimd::resolve(app, client_id).await.map_err(|e| {
        AuthorizeError::page(
            PageCode::InvalidClient,
            format!("The application's metadata document was refused: {e}"),
        )
    })
}

/// The resource a request is for (RFC 8707): the one it names or its endpoint implies, else
/// the client's only one. `Err` inside: why there is none, for [`parse`] to report in turn.
async fn find_resource(
    app: &AppState,
    endpoint: &Endpoint,
    params: &FormParams,
    client: &Client,
) -> Result<Result<Resource, String>, AuthorizeError> {
    Ok(
        match resolve_resource(app, endpoint, params.get("resource")).await {
            Ok(Some(r)) => Ok(r),
            Ok(None) => match default_resource_id(client) {
                Some(id) => app
                    .store
                    .find_resource(id)
                    .await?
                    .ok_or_else(|| "the client's resource no longer exists".to_string()),
                None => Err("resource is required: name the MCP server".to_string()),
            },
            Err(e) => Err(e.description),
        },
    )
}

/// Keeps a parsed request server-side as a pending authorization, within the per-address cap.
async fn hold(
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

/// The redirect that completes an authorization: `code`, `state`, `iss`.
pub fn success_redirect(request: &AuthorizationRequest, code: &str) -> Response {
    let mut params = vec![("code", code)];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    params.push(("iss", &request.issuer));
    crate::pages::redirect(
        &super::authorize_error::with_params(&request.redirect_uri, &params),
        StatusCode::SEE_OTHER,
    )
}
