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
use super::endpoint::{Endpoint, client_may_use, default_resource_id, resolve_resource};
use super::form::FormParams;
use super::{pkce, redirect_uri, scope};
use crate::app::AppState;
use crate::client_ip::ClientIp;
use crate::consent;
use crate::federation;
use crate::pages::PageError;
use crate::session::{self, SessionCookie};
use crate::store::{AuthorizationRequest, ClientKind, PendingAuthorization};

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

/// Validates an authorization request and moves it on.
pub async fn start(
    app: &AppState,
    endpoint: Endpoint,
    query: String,
    cookie: SessionCookie,
    from: &str,
) -> Result<Response, AuthorizeError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(AuthorizeError::page(
            PageCode::InvalidRequest,
            format!("The authorization request is too long (at most {MAX_QUERY_BYTES} bytes)."),
        ));
    }
    let params = FormParams::parse(query.as_bytes());
    if let Some((name, max)) = oversized_parameter(&params) {
        return Err(AuthorizeError::page(
            PageCode::InvalidRequest,
            format!("The parameter `{name}` is too long (at most {max} characters)."),
        ));
    }
    let repeated = params.repeated();
    if repeated
        .iter()
        .any(|n| n == "client_id" || n == "redirect_uri")
    {
        return Err(AuthorizeError::page(
            PageCode::InvalidRequest,
            "client_id or redirect_uri is repeated.",
        ));
    }
    let client_id = params.get("client_id").ok_or_else(|| {
        AuthorizeError::page(
            PageCode::InvalidRequest,
            "The request names no client (client_id).",
        )
    })?;
    let client = if super::cimd::is_cimd_client_id(client_id) {
        // A Client ID Metadata Document. The resource's CIMD policy is checked first, so an
        // outsider cannot make us fetch URLs the resource would refuse anyway.
        let target = || {
            AuthorizeError::page(
                PageCode::InvalidTarget,
                "This application may not get tokens for that resource (its metadata-document policy refuses it).",
            )
        };
        match resolve_resource(app, &endpoint, params.get("resource")).await {
            Ok(Some(r))
                if r.is_cimd_enabled
                    && super::cimd::allowlist_admits(&r.cimd_allowlist, client_id) => {}
            _ => return Err(target()),
        }
        super::cimd::resolve(app, client_id).await.map_err(|e| {
            AuthorizeError::page(
                PageCode::InvalidClient,
                format!("The application's metadata document was refused: {e}"),
            )
        })?
    } else {
        app.store.find_client(client_id).await?.ok_or_else(|| {
            AuthorizeError::page(
                PageCode::InvalidClient,
                "The application is not registered here.",
            )
        })?
    };
    let registered = |u: &str| {
        client
            .redirect_uris
            .iter()
            .any(|r| redirect_uri::matches(r, u))
    };
    let redirect_uri = match params.get("redirect_uri") {
        Some(u) if registered(u) => u.to_string(),
        Some(_) => {
            return Err(AuthorizeError::page(
                PageCode::InvalidRedirectUri,
                "The redirect URI is not registered for this application.",
            ));
        }
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => {
                return Err(AuthorizeError::page(
                    PageCode::InvalidRedirectUri,
                    "The request names no redirect URI.",
                ));
            }
        },
    };
    let issuer = endpoint.issuer(app.issuer());
    let state = params.get("state").map(str::to_string);
    // Anyone can register a dynamic client with any redirect URI: until the person has
    // authenticated, such a client gets a page, never an error redirect.
    let can_redirect = client.kind == ClientKind::Static;
    let fail = |error: PageCode, description: String| {
        if can_redirect {
            AuthorizeError::Redirect {
                redirect_uri: redirect_uri.clone(),
                state: state.clone(),
                issuer: issuer.clone(),
                error,
                description,
            }
        } else {
            AuthorizeError::Page(PageError::bad_request(error, description))
        }
    };

    if let Some(name) = repeated.first() {
        return Err(fail(
            PageCode::InvalidRequest,
            format!("parameter `{name}` is repeated"),
        ));
    }
    if !client.has_grant("authorization_code") {
        return Err(fail(
            PageCode::UnauthorizedClient,
            "this client may not use the authorization code flow".into(),
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => {
            return Err(fail(
                PageCode::InvalidRequest,
                "response_type is required".into(),
            ));
        }
        Some(_) => {
            return Err(fail(
                PageCode::UnsupportedResponseType,
                "only response_type=code is supported".into(),
            ));
        }
    }
    // RFC 7636 / OAuth 2.1: PKCE with S256 on every request.
    let challenge = params.get("code_challenge").ok_or_else(|| {
        fail(
            PageCode::InvalidRequest,
            "PKCE is required: send code_challenge".into(),
        )
    })?;
    if params.get("code_challenge_method") != Some("S256") {
        return Err(fail(
            PageCode::InvalidRequest,
            "code_challenge_method must be S256".into(),
        ));
    }
    if !pkce::is_valid_challenge(challenge) {
        return Err(fail(
            PageCode::InvalidRequest,
            "code_challenge is not a base64url SHA-256".into(),
        ));
    }

    let resource = match resolve_resource(app, &endpoint, params.get("resource")).await {
        Ok(Some(r)) => r,
        Ok(None) => match default_resource_id(&client) {
            Some(id) => app.store.find_resource(id).await?.ok_or_else(|| {
                fail(
                    PageCode::InvalidTarget,
                    "the client's resource no longer exists".into(),
                )
            })?,
            None => {
                return Err(fail(
                    PageCode::InvalidTarget,
                    "resource is required: name the MCP server".into(),
                ));
            }
        },
        Err(e) => return Err(fail(PageCode::InvalidTarget, e.description)),
    };
    if !client_may_use(&client, &resource) {
        return Err(fail(
            PageCode::InvalidTarget,
            "this client may not get tokens for that resource".into(),
        ));
    }

    let scope::RequestedScopes {
        resource: scopes,
        oidc: oidc_scopes,
    } = scope::split_request(params.get("scope")).map_err(|e| fail(PageCode::InvalidScope, e))?;
    let prompt: Vec<String> = params
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    if prompt
        .iter()
        .any(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account"))
        || (prompt.iter().any(|p| p == "none") && prompt.len() > 1)
    {
        return Err(fail(
            PageCode::InvalidRequest,
            "prompt must be none, or any of login, consent, select_account".into(),
        ));
    }
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(|| {
            fail(
                PageCode::InvalidRequest,
                "max_age must be a number of seconds".into(),
            )
        })?),
    };

    let now = app.clock.now();
    let pending = PendingAuthorization {
        id: crate::crypto::random_token(),
        request: AuthorizationRequest {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            resource_id: resource.id.clone(),
            issuer: issuer.clone(),
            scopes,
            oidc_scopes,
            state: state.clone(),
            code_challenge: challenge.to_string(),
            nonce: params.get("nonce").map(str::to_string),
            prompt,
            max_age,
            login_hint: params.get("login_hint").map(str::to_string),
            organization_id: params.get("organization_id").map(str::to_string),
            connection_id: params.get("connection_id").map(str::to_string),
            domain_hint: params
                .get("domain_hint")
                .or_else(|| params.get("domain"))
                .map(str::to_string),
        },
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

    let wants_login = pending
        .request
        .prompt
        .iter()
        .any(|p| p == "login" || p == "select_account");
    if let Some(s) = session::current(app, &cookie).await? {
        let fresh_enough = pending
            .request
            .max_age
            .is_none_or(|m| now - s.auth_time <= m);
        let fits_hints = pending
            .request
            .connection_id
            .as_ref()
            .is_none_or(|c| *c == s.connection_id)
            && pending
                .request
                .organization_id
                .as_ref()
                .is_none_or(|o| *o == s.organization_id);
        if !wants_login && fresh_enough && fits_hints {
            app.store.attach_session(&pending.id, &s.id).await?;
            return consent::decide(app, &pending, &s).await;
        }
    }
    if pending.request.prompt.iter().any(|p| p == "none") {
        return Err(fail(
            PageCode::LoginRequired,
            "the user is not signed in".into(),
        ));
    }
    federation::discovery::route(app, &pending)
        .await
        .map_err(AuthorizeError::Page)
}

/// The longest authorization request (its query string) we read.
pub const MAX_QUERY_BYTES: usize = 8_192;

/// Caps on what an authorization request may carry, in characters: everything here is
/// stored with the pending request, and some of it shown on pages.
const PARAMETER_CAPS: &[(&str, usize)] = &[
    ("client_id", 2_048),
    ("redirect_uri", 2_048),
    ("resource", 2_048),
    ("state", 1_024),
    ("nonce", 512),
    ("login_hint", 320),
    ("organization_id", 64),
    ("connection_id", 64),
    ("domain_hint", 253),
    ("domain", 253),
    ("scope", 1_024),
    ("code_challenge", 128),
    ("prompt", 64),
    ("max_age", 20),
];

/// The first parameter longer than its cap, with the cap.
fn oversized_parameter(params: &FormParams) -> Option<(&'static str, usize)> {
    PARAMETER_CAPS
        .iter()
        .find(|(name, max)| params.get(name).is_some_and(|v| v.chars().count() > *max))
        .copied()
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
