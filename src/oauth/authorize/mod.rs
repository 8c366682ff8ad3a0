//! The authorization endpoint (RFC 6749 §4.1.1, OAuth 2.1, RFC 8707, RFC 9207), at
//! `/oauth/authorize` and `/resources/{res}/oauth/authorize`. Validates the request,
//! hands it to `flow`, which keeps it server-side as a pending authorization and continues
//! with the browser's session or sends the person to home-realm discovery.

use crate::pages::PageCode;
use crate::pages::PagePath;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::authorize_error::AuthorizeError;
use super::endpoint::{Endpoint, default_resource_id, resolve_resource};
use super::form::FormParams;
use crate::client_ip::ClientIp;
use crate::flow;
use crate::session::{self, SessionCookie};
use crate::state::AppState;
use crate::store::{Client, GrantTarget, Resource};

pub mod parse;
#[cfg(test)]
mod tests;

pub use parse::MAX_QUERY_BYTES;
use parse::{ParsedRequest, UntrustedRequest};

pub use crate::flow::{MAX_PENDING_PER_ADDRESS, PENDING_TTL};

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
/// the pending request ([`flow::open`]) and, with the browser's session when it may serve
/// the request, [`flow::proceed`].
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
        resource
            .as_ref()
            .map(|(r, target)| (r, *target))
            .map_err(String::as_str),
        &issuer,
    )?;
    let pending = flow::open(app, request, from).await?;
    let session = session::current(app, &cookie)
        .await?
        .filter(|s| parse::session_serves(&pending.request, s, pending.created_at));
    flow::proceed(app, &pending, session.as_ref(), can_redirect).await
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

/// A login app's request naming no resource is for the app itself when it asks for OpenID
/// scopes only, or when the app has no single resource it would have meant (a request for
/// resource scopes keeps meaning that resource, as before login apps existed).
fn signs_in_for_itself(client: &Client, scope: Option<&str>) -> bool {
    let only_openid = scope.is_some_and(|s| {
        s.split(' ')
            .filter(|s| !s.is_empty())
            .all(|s| super::scope::OIDC_SCOPES.contains(&s))
    });
    client.is_login_app() && (only_openid || default_resource_id(client).is_none())
}

/// What a request is for (RFC 8707): the resource it names or its endpoint implies; at the
/// environment endpoint, a login app naming none signs in for itself
/// ([`Resource::login_app`]); else the client's only resource. `Err` inside: why there is
/// none, for [`parse`] to report in turn.
async fn find_resource(
    app: &AppState,
    endpoint: &Endpoint,
    params: &FormParams,
    client: &Client,
) -> Result<Result<(Resource, GrantTarget), String>, AuthorizeError> {
    let for_resource = |r: Resource| (r, GrantTarget::Resource);
    Ok(
        match resolve_resource(app, endpoint, params.get("resource")).await {
            Ok(Some(r)) => Ok(for_resource(r)),
            Ok(None) if signs_in_for_itself(client, params.get("scope")) => {
                Ok((Resource::login_app(client), GrantTarget::Login))
            }
            Ok(None) => match default_resource_id(client) {
                Some(id) => app
                    .store
                    .find_resource(id)
                    .await?
                    .map(for_resource)
                    .ok_or_else(|| "the client's resource no longer exists".to_string()),
                None => Err("resource is required: name the MCP server".to_string()),
            },
            Err(e) => Err(e.description),
        },
    )
}
