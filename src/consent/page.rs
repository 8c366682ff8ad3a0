//! The consent page: who asks (client name, redirect host, a warning for localhost),
//! for what (resource, scopes with descriptions). The POST names the pending request and
//! carries a CSRF token bound to the session and that request; scopes and redirect URI
//! are never read back from the form.

use askama::Template;

use crate::pages::PageCode;
use crate::pages::PageQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::flow::{self, Granted, evaluate, find_open};
use crate::oauth::authorize_error::AuthorizeError;
use crate::oauth::scope;
use crate::pages::{self, PageError, PageForm};
use crate::session::{self, SessionCookie};
use crate::state::AppState;
use crate::store::{ClientKind, GrantTarget, PendingAuthorization, Session};

pub struct ScopeLine {
    pub name: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "consent/consent.html")]
struct ConsentPage<'a> {
    client_name: &'a str,
    is_unverified_client: bool,
    /// The host that serves a metadata-document client's identity.
    cimd_host: Option<String>,
    redirect_host: &'a str,
    is_localhost: bool,
    resource_name: &'a str,
    /// A login app signing the person in to itself (no MCP server).
    is_login: bool,
    user_email: &'a str,
    scopes: Vec<ScopeLine>,
    request: &'a str,
    csrf: &'a str,
}

#[derive(Deserialize)]
pub struct RequestQuery {
    request: String,
}

#[derive(Deserialize)]
pub struct ConsentForm {
    request: String,
    csrf: String,
    decision: String,
}

fn csrf_message(session: &Session, pending: &PendingAuthorization) -> String {
    format!("{}|{}", session.id, pending.id)
}

/// The pending request and the session it belongs to; refuses any other browser.
async fn load(
    app: &AppState,
    cookie: &SessionCookie,
    request: &str,
) -> Result<(PendingAuthorization, Session), PageError> {
    let pending = find_open(app, request).await?;
    let session = session::current(app, cookie)
        .await?
        .filter(|s| pending.session_id.as_deref() == Some(s.id.as_str()))
        .ok_or_else(|| {
            PageError::new(
                StatusCode::FORBIDDEN,
                PageCode::SessionMismatch,
                "Sign in again",
                "This consent request belongs to another sign-in. Start again from your application.",
            )
        })?;
    Ok((pending, session))
}

/// What a login request's OpenID scopes release (OIDC Core §5.4).
fn oidc_scope_lines(oidc_scopes: &[String]) -> Vec<ScopeLine> {
    oidc_scopes
        .iter()
        .map(|s| ScopeLine {
            name: s.clone(),
            description: match s.as_str() {
                "openid" => "know who you are",
                "profile" => "see your name",
                "email" => "see your email address",
                "offline_access" => "keep you signed in",
                _ => "",
            }
            .into(),
        })
        .collect()
}

fn scope_lines(granted: &Granted) -> Vec<ScopeLine> {
    granted
        .scopes
        .iter()
        .map(|s| {
            let base = scope::base(s);
            let description = granted
                .resource
                .scopes
                .iter()
                .find(|d| d.name == base)
                .map(|d| d.description.clone())
                .unwrap_or_default();
            ScopeLine {
                name: s.clone(),
                description,
            }
        })
        .collect()
}

/// `GET /oauth/consent?request=…`
pub async fn get_consent(
    State(app): State<AppState>,
    cookie: SessionCookie,
    PageQuery(q): PageQuery<RequestQuery>,
) -> Response {
    let result = async {
        let (pending, session) = load(&app, &cookie, &q.request).await?;
        let granted = evaluate(&app, &pending, &session).await?;
        let client = app
            .store
            .find_client(&pending.request.client_id)
            .await?
            .ok_or_else(|| {
                AuthorizeError::page(
                    PageCode::InvalidClient,
                    "The application is no longer registered.",
                )
            })?;
        let url = url::Url::parse(&pending.request.redirect_uri).ok();
        let host = url
            .as_ref()
            .and_then(|u| u.host_str())
            .unwrap_or(pending.request.redirect_uri.as_str())
            .to_string();
        let is_localhost = matches!(host.as_str(), "127.0.0.1" | "[::1]" | "localhost");
        let csrf = app
            .config
            .secret
            .mac("consent", &csrf_message(&session, &pending));
        // A name stored before registration refused bidi overrides, or set by an admin.
        let client_name = crate::oauth::client_text::for_display(&client.name);
        let page = ConsentPage {
            client_name: &client_name,
            is_unverified_client: client.kind == ClientKind::Dynamic,
            cimd_host: (client.kind == ClientKind::Metadata)
                .then(|| {
                    url::Url::parse(&client.id)
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_string))
                })
                .flatten(),
            redirect_host: &host,
            is_localhost,
            resource_name: &granted.resource.name,
            is_login: pending.request.target == GrantTarget::Login,
            user_email: granted
                .user
                .email
                .as_deref()
                .unwrap_or(&granted.user.subject),
            scopes: match pending.request.target {
                GrantTarget::Resource => scope_lines(&granted),
                GrantTarget::Login => oidc_scope_lines(&pending.request.oidc_scopes),
            },
            request: &pending.id,
            csrf: &csrf,
        };
        Ok::<_, AuthorizeError>(pages::render(StatusCode::OK, &page))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /oauth/consent`: approve or deny the named pending request.
pub async fn post_consent(
    State(app): State<AppState>,
    cookie: SessionCookie,
    PageForm(f): PageForm<ConsentForm>,
) -> Response {
    let result = async {
        let (pending, session) = load(&app, &cookie, &f.request).await?;
        if !app.config.secret.verify_mac("consent", &csrf_message(&session, &pending), &f.csrf) {
            return Err(AuthorizeError::Page(PageError::new(
                StatusCode::FORBIDDEN,
                PageCode::InvalidCsrf,
                "Request refused",
                "The consent form is not valid for this sign-in. Start again from your application.",
            )));
        }
        // Scopes come from the rules again, never from the form.
        let granted = evaluate(&app, &pending, &session).await?;
        match f.decision.as_str() {
            "approve" => flow::approve(&app, &pending, &session, &granted).await,
            "deny" => flow::deny(&app, &pending, &granted).await,
            _ => Err(AuthorizeError::page(PageCode::InvalidRequest, "The form's decision is not approve or deny.")),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
