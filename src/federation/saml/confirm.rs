//! IdP-initiated logins are confirmed by the person before they sign anyone in. The ACS
//! answers an unsolicited response with a page naming the account ("Continue as …") and a
//! sealed, five-minute copy of the verified identity bound to this browser by a cookie;
//! only the person's own same-origin POST of that page to `/sso/v1/saml/{conn}/continue`
//! opens the session. A page that auto-posts someone else's response into a victim's
//! browser (login CSRF, an account swap) thus signs no one in, and the sealed copy is
//! useless in any other browser.
//!
//! The same page, naming the application too, answers an SP-initiated response that came
//! over plain http without its binding cookie (see [`super::binding`]): the sealed copy then
//! also names the outstanding request and the assertion, and only the confirmation uses
//! them up and completes the pending authorization.

use crate::pages::PageCode;
use crate::pages::PagePath;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::settings;
use super::verify::Verified;
use crate::crypto;
use crate::federation::{VerifiedIdentity, complete_login, establish_session};
use crate::flow::find_open;
use crate::pages::{self, PageError, PageForm};
use crate::session::{Cookie, SessionCookie};
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind, PendingAuthorization, Taken, UpstreamLogin};

/// How long the person has to confirm.
const CONFIRM_TTL: i64 = 300;
/// Associated data of the sealed identity.
const PURPOSE: &str = "saml-idp-initiated";

#[derive(Serialize, Deserialize)]
struct Sealed {
    connection_id: String,
    expires_at: i64,
    /// Hash of the browser-binding cookie's value.
    browser_hash: String,
    identity: VerifiedIdentity,
    /// For a solicited response: what confirming it uses up.
    #[serde(default)]
    answers: Option<Answers>,
}

/// The outstanding request a solicited response answers, and its assertion.
#[derive(Serialize, Deserialize)]
struct Answers {
    /// The upstream login's key (the RelayState's hash).
    state_hash: String,
    assertion_id: String,
    remember_until: i64,
}

#[derive(Template)]
#[template(path = "login/saml_continue.html")]
struct ContinuePage<'a> {
    email: &'a str,
    connection: &'a str,
    login: &'a str,
}

#[derive(Template)]
#[template(path = "login/saml_continue_request.html")]
struct ContinueRequestPage<'a> {
    email: &'a str,
    application: &'a str,
    connection: &'a str,
    login: &'a str,
}

#[derive(Template)]
#[template(path = "login/saml_signed_in.html")]
struct SignedInPage<'a> {
    email: &'a str,
    connection: &'a str,
}

/// The confirmation page for a verified unsolicited response.
pub fn ask(app: &AppState, connection: &Connection, identity: VerifiedIdentity) -> Response {
    let email = shown_name(&identity);
    bound_page(app, connection, identity, None, |login| {
        pages::render(
            StatusCode::OK,
            &ContinuePage {
                email: &email,
                connection: &connection.id,
                login,
            },
        )
    })
}

/// The confirmation page for a verified SP-initiated response that came without its
/// binding cookie: "Continue signing in to <application> as <account>?". Nothing is used
/// up until the person confirms.
pub async fn ask_solicited(
    app: &AppState,
    connection: &Connection,
    pending: &PendingAuthorization,
    login: &UpstreamLogin,
    verified: Verified,
) -> Response {
    let client_id = &pending.request.client_id;
    let application = match app.store.find_client(client_id).await {
        Ok(Some(c)) if !c.name.is_empty() => c.name,
        _ => client_id.clone(),
    };
    let email = shown_name(&verified.identity);
    let answers = Answers {
        state_hash: login.state_hash.clone(),
        assertion_id: verified.assertion_id,
        remember_until: verified.remember_until,
    };
    bound_page(
        app,
        connection,
        verified.identity,
        Some(answers),
        |sealed| {
            pages::render(
                StatusCode::OK,
                &ContinueRequestPage {
                    email: &email,
                    application: &application,
                    connection: &connection.id,
                    login: sealed,
                },
            )
        },
    )
}

fn shown_name(identity: &VerifiedIdentity) -> String {
    identity
        .email
        .clone()
        .unwrap_or_else(|| identity.subject.clone())
}

/// A page carrying the sealed identity, bound to this browser by a fresh cookie.
fn bound_page(
    app: &AppState,
    connection: &Connection,
    identity: VerifiedIdentity,
    answers: Option<Answers>,
    render: impl FnOnce(&str) -> Response,
) -> Response {
    let browser = crypto::random_token();
    let sealed = Sealed {
        connection_id: connection.id.clone(),
        expires_at: app.clock.now() + CONFIRM_TTL,
        browser_hash: crypto::hash_secret(&browser),
        identity,
        answers,
    };
    let Ok(json) = serde_json::to_vec(&sealed) else {
        return PageError::server_error().into_response();
    };
    let mut response = render(&app.config.secret.seal(&json, PURPOSE));
    response.headers_mut().append(
        header::SET_COOKIE,
        Cookie::Login.set(app.issuer(), &browser, CONFIRM_TTL),
    );
    response
}

#[derive(Deserialize)]
pub struct ContinueForm {
    login: String,
}

/// `POST /sso/v1/saml/{conn}/continue`: the person confirmed; the session opens.
pub async fn post_continue(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    headers: HeaderMap,
    cookie: SessionCookie,
    PageForm(form): PageForm<ContinueForm>,
) -> Response {
    let browser = Cookie::Login.read(app.issuer(), &headers);
    let mut response = confirm(&app, &conn, &form.login, browser.as_deref(), &cookie)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    response
        .headers_mut()
        .append(header::SET_COOKIE, Cookie::Login.set(app.issuer(), "", 0));
    response
}

async fn confirm(
    app: &AppState,
    conn: &str,
    login: &str,
    browser: Option<&str>,
    cookie: &SessionCookie,
) -> Result<Response, PageError> {
    let stale = || {
        PageError::bad_request(
            PageCode::ConfirmationInvalid,
            "This confirmation is not valid in this browser or has expired. Sign in again at your identity provider.",
        )
    };
    let sealed: Sealed = app
        .config
        .secret
        .open(login, PURPOSE)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(stale)?;
    let is_this_browser = browser.is_some_and(|b| crypto::verify_secret(b, &sealed.browser_hash));
    if sealed.connection_id != conn || sealed.expires_at <= app.clock.now() || !is_this_browser {
        return Err(stale());
    }
    let connection = app
        .store
        .find_connection(conn)
        .await?
        .filter(|c| c.kind == ConnectionKind::Saml && c.is_enabled)
        .ok_or_else(stale)?;
    if let Some(answers) = sealed.answers {
        return complete_answer(app, &connection, answers, sealed.identity, cookie)
            .await?
            .ok_or_else(stale);
    }
    let s = settings(app.issuer(), &connection);
    if !s.allow_idp_initiated {
        return Err(stale());
    }
    let email = shown_name(&sealed.identity);
    let (_, set_cookie) = establish_session(app, &connection, sealed.identity, cookie).await?;
    let mut response = match &s.idp_initiated_redirect {
        Some(to) => pages::redirect(to, StatusCode::SEE_OTHER),
        None => pages::render(
            StatusCode::OK,
            &SignedInPage {
                email: &email,
                connection: &connection.id,
            },
        ),
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie);
    Ok(response)
}

/// A confirmed SP-initiated response: the outstanding request and the assertion are used
/// up now (`None` when either already was), and the pending authorization completes.
async fn complete_answer(
    app: &AppState,
    connection: &Connection,
    answers: Answers,
    identity: VerifiedIdentity,
    cookie: &SessionCookie,
) -> Result<Option<Response>, PageError> {
    let now = app.clock.now();
    let login = match app
        .store
        .take_upstream_login(&answers.state_hash, now)
        .await?
    {
        Taken::Fresh(l) if l.connection_id == connection.id && l.expires_at > now => l,
        _ => return Ok(None),
    };
    let is_first = app
        .store
        .remember_assertion(
            &connection.id,
            &answers.assertion_id,
            answers.remember_until,
        )
        .await?;
    if !is_first {
        return Ok(None);
    }
    let pending = find_open(app, &login.pending_id).await?;
    complete_login(app, &pending, connection, identity, cookie)
        .await
        .map(Some)
}
