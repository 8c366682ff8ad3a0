//! The authorization request as a value (RFC 6749 §4.1.1, OAuth 2.1, RFC 7636, RFC 8707,
//! OIDC Core §3.1.2.1): pure checks, no I/O. [`read`] does the page-only checks made before
//! the client is known; [`parse`] checks the rest against the client and the resource the
//! caller looked up, and decides whether an error may go back to the client as a redirect;
//! [`session_serves`] says whether a signed-in session may answer it without a new login.

use crate::oauth::authorize_error::AuthorizeError;
use crate::oauth::endpoint::client_may_use;
use crate::oauth::form::FormParams;
use crate::oauth::{pkce, redirect_uri, scope};
use crate::pages::{PageCode, PageError};
use crate::store::{
    AuthorizationRequest, Client, ClientKind, GrantTarget, PkceMode, Resource, Session,
};

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

/// An authorization request whose client is not yet known: nothing in it is trusted.
#[derive(Debug)]
pub struct UntrustedRequest {
    pub params: FormParams,
    pub client_id: String,
}

/// The checks made before the client is known. Every failure is a page: without a client
/// and its registered redirect URI there is nowhere safe to redirect to.
pub fn read(query: &str) -> Result<UntrustedRequest, AuthorizeError> {
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
    if params
        .repeated()
        .iter()
        .any(|n| n == "client_id" || n == "redirect_uri")
    {
        return Err(AuthorizeError::page(
            PageCode::InvalidRequest,
            "client_id or redirect_uri is repeated.",
        ));
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| {
            AuthorizeError::page(
                PageCode::InvalidRequest,
                "The request names no client (client_id).",
            )
        })?
        .to_string();
    Ok(UntrustedRequest { params, client_id })
}

/// The first parameter longer than its cap, with the cap.
fn oversized_parameter(params: &FormParams) -> Option<(&'static str, usize)> {
    PARAMETER_CAPS
        .iter()
        .find(|(name, max)| params.get(name).is_some_and(|v| v.chars().count() > *max))
        .copied()
}

/// A valid authorization request, and how its later errors are shown.
#[derive(Debug)]
pub struct ParsedRequest {
    pub request: AuthorizationRequest,
    /// May an error go back to the client as a redirect? Only a static client's, before
    /// the person has authenticated.
    pub can_redirect: bool,
}

/// Where an error goes once the client and its redirect URI are known.
struct Failure<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    issuer: &'a str,
    can_redirect: bool,
}

impl Failure<'_> {
    fn fail(&self, error: PageCode, description: String) -> AuthorizeError {
        if self.can_redirect {
            AuthorizeError::Redirect {
                redirect_uri: self.redirect_uri.to_string(),
                state: self.state.map(str::to_string),
                issuer: self.issuer.to_string(),
                error,
                description,
            }
        } else {
            AuthorizeError::Page(PageError::bad_request(error, description))
        }
    }
}

/// Checks an authorization request against its client. `resource` is what the caller
/// found for it: the resource and what the tokens are for (a login request's resource is
/// [`Resource::login_app`]), or why there is none (reported as `invalid_target` in its
/// turn, after the PKCE checks). `issuer` is the issuer of the endpoint it arrived at.
pub fn parse(
    params: &FormParams,
    client: &Client,
    resource: Result<(&Resource, GrantTarget), &str>,
    issuer: &str,
) -> Result<ParsedRequest, AuthorizeError> {
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
    let state = params.get("state");
    // Anyone can register a dynamic client with any redirect URI: until the person has
    // authenticated, such a client gets a page, never an error redirect.
    let can_redirect = client.kind == ClientKind::Static;
    let failure = Failure {
        redirect_uri: &redirect_uri,
        state,
        issuer,
        can_redirect,
    };
    let fail = |error: PageCode, description: String| failure.fail(error, description);

    if let Some(name) = params.repeated().first() {
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
    let target = resource.map_or(GrantTarget::Resource, |(_, t)| t);
    let requested_scopes = match target {
        GrantTarget::Resource => scope::split_request(params.get("scope")),
        GrantTarget::Login => {
            scope::login_request(params.get("scope")).map(|oidc| scope::RequestedScopes {
                resource: Some(Vec::new()),
                oidc,
            })
        }
    };
    // RFC 7636 / OAuth 2.1: PKCE with S256 on every request, but a confidential login
    // app's whose PKCE is optional may send `openid` and a `nonce` instead (RFC 9700 §2.1.1).
    let may_omit =
        target == GrantTarget::Login && client.is_login_app() && client.pkce == PkceMode::Optional;
    let has_openid_nonce = params.get("nonce").is_some_and(|n| !n.is_empty())
        && requested_scopes
            .as_ref()
            .is_ok_and(|r| r.oidc.iter().any(|s| s == "openid"));
    let code_challenge = pkce::challenge_of(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
        may_omit,
        has_openid_nonce,
    )
    .map_err(|e| fail(PageCode::InvalidRequest, e.into()))?;

    let (resource, target) =
        resource.map_err(|why| fail(PageCode::InvalidTarget, why.to_string()))?;
    // A login request is for the client itself (the caller checked it is a login app).
    if target == GrantTarget::Resource && !client_may_use(client, resource) {
        return Err(fail(
            PageCode::InvalidTarget,
            "this client may not get tokens for that resource".into(),
        ));
    }

    let scope::RequestedScopes {
        resource: scopes,
        oidc: oidc_scopes,
    } = requested_scopes.map_err(|e| fail(PageCode::InvalidScope, e))?;
    let prompt: Vec<String> = params
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    // OIDC Core §3.1.2.1: `none` stands alone.
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

    let text = |name: &str| params.get(name).map(str::to_string);
    Ok(ParsedRequest {
        request: AuthorizationRequest {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            resource_id: resource.id.clone(),
            target,
            issuer: issuer.to_string(),
            scopes,
            oidc_scopes,
            state: text("state"),
            code_challenge,
            nonce: text("nonce"),
            prompt,
            max_age,
            login_hint: text("login_hint"),
            organization_id: text("organization_id"),
            connection_id: text("connection_id"),
            domain_hint: text("domain_hint").or_else(|| text("domain")),
        },
        can_redirect,
    })
}

/// May the browser's signed-in session serve this request without a new login? Not when
/// `prompt` asks for a login or an account choice, when the login is older than `max_age`
/// (OIDC Core §3.1.2.1), or when the request's connection or organization hint names
/// another than the session's.
pub fn session_serves(request: &AuthorizationRequest, session: &Session, now: i64) -> bool {
    let wants_login = request
        .prompt
        .iter()
        .any(|p| p == "login" || p == "select_account");
    let fresh_enough = request.max_age.is_none_or(|m| now - session.auth_time <= m);
    let fits_hints = request
        .connection_id
        .as_ref()
        .is_none_or(|c| *c == session.connection_id)
        && request
            .organization_id
            .as_ref()
            .is_none_or(|o| *o == session.organization_id);
    !wants_login && fresh_enough && fits_hints
}
