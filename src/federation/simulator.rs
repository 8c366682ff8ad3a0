//! The IdP simulator: a form where a tester types who they are (email, name, groups).
//! It lets anyone claim any identity, so it answers only under `--dev` or with
//! `PORTCULLIS_ENABLE_IDP_SIMULATOR`, and audit events mark its logins. Stable field
//! names (`email`, `name`, `groups`, comma separated) so scripts can post it. Its
//! "IdP-initiated" option (`/sso/v1/simulator/{conn}/idp-initiated`) starts a login from the
//! IdP's side for a connection that names its application's `initiate_login_uri`.

use askama::Template;

use crate::pages::PageCode;
use crate::pages::{PagePath, PageQuery};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Map;

use super::{EmailTrust, VerifiedIdentity, complete_login, idp_initiated};
use crate::flow::{check_connection_fits, find_open};
use crate::pages::{self, PageError, PageForm};
use crate::session::SessionCookie;
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind};

pub fn is_enabled(app: &AppState) -> bool {
    app.config.is_dev || app.config.enable_idp_simulator
}

#[derive(Template)]
#[template(path = "login/simulator.html")]
struct SimulatorPage<'a> {
    connection_id: &'a str,
    request: &'a str,
    csrf: &'a str,
    login_hint: &'a str,
}

#[derive(Deserialize)]
pub struct RequestQuery {
    request: String,
}

#[derive(Deserialize)]
pub struct SimulatorForm {
    request: String,
    csrf: String,
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    groups: String,
}

async fn simulator_connection(app: &AppState, id: &str) -> Result<Connection, PageError> {
    if !is_enabled(app) {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            PageCode::SimulatorDisabled,
            "Not available",
            "The IdP simulator is turned off on this server.",
        ));
    }
    app.store
        .find_connection(id)
        .await?
        .filter(|c| c.kind == ConnectionKind::IdpSimulator)
        .ok_or_else(|| {
            PageError::bad_request(
                PageCode::UnknownConnection,
                "This sign-in connection is not known here.",
            )
        })
}

/// `GET /sso/v1/simulator/{conn}?request=…`
pub async fn get_simulator(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    PageQuery(q): PageQuery<RequestQuery>,
) -> Response {
    let result = async {
        let connection = simulator_connection(&app, &conn).await?;
        let pending = find_open(&app, &q.request).await?;
        check_connection_fits(&pending, &connection)?;
        let csrf = app.config.secret.mac("simulator", &pending.id);
        let hint = pending.request.login_hint.clone().unwrap_or_default();
        Ok::<_, PageError>(pages::render(
            StatusCode::OK,
            &SimulatorPage {
                connection_id: &connection.id,
                request: &pending.id,
                csrf: &csrf,
                login_hint: &hint,
            },
        ))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /sso/v1/simulator/{conn}`: the tester's identity, taken as verified.
pub async fn post_simulator(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    cookie: SessionCookie,
    PageForm(f): PageForm<SimulatorForm>,
) -> Response {
    let result = async {
        let connection = simulator_connection(&app, &conn).await?;
        let pending = find_open(&app, &f.request).await?;
        if !app
            .config
            .secret
            .verify_mac("simulator", &pending.id, &f.csrf)
        {
            return Err(PageError::bad_request(
                PageCode::InvalidCsrf,
                "The form expired. Start again from your application.",
            ));
        }
        check_connection_fits(&pending, &connection)?;
        let email = f.email.trim().to_ascii_lowercase();
        if !email.contains('@') || email.len() > 254 {
            return Err(PageError::bad_request(
                PageCode::InvalidEmail,
                "Enter an email address.",
            ));
        }
        let groups: Vec<String> = f
            .groups
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(String::from)
            .collect();
        let name = f.name.trim();
        let identity = VerifiedIdentity {
            subject: email.clone(),
            email: Some(email),
            email_trust: EmailTrust::Verified,
            name: (!name.is_empty()).then(|| name.to_string()),
            groups,
            attributes: Map::new(),
        };
        complete_login(&app, &pending, &connection, identity, &cookie).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The cookie that binds the IdP-initiated form to the browser it was shown in, and the
/// purpose of its CSRF token.
const IDP_FORM_COOKIE: &str = "portcullis_simulator_idp";
const IDP_FORM_PURPOSE: &str = "simulator-idp-initiated";

#[derive(Template)]
#[template(path = "login/simulator_idp_initiated.html")]
struct IdpInitiatedPage<'a> {
    connection_id: &'a str,
    initiate_login_uri: &'a str,
    csrf: &'a str,
}

#[derive(Deserialize)]
pub struct IdpInitiatedForm {
    csrf: String,
    email: String,
    #[serde(default)]
    relay_state: String,
}

/// A simulator connection whose application takes IdP-initiated logins.
async fn initiating_connection(
    app: &AppState,
    id: &str,
) -> Result<(Connection, String), PageError> {
    let connection = simulator_connection(app, id).await?;
    let uri = idp_initiated::initiate_login_uri(app, &connection)
        .await?
        .filter(|_| connection.is_enabled)
        .ok_or_else(|| {
            PageError::bad_request(
                PageCode::UnknownConnection,
                "This connection names no application login URL (initiate_login_uri), or is disabled.",
            )
        })?;
    Ok((connection, uri))
}

/// `GET /sso/v1/simulator/{conn}/idp-initiated`: the simulator's "IdP-initiated" option.
pub async fn get_idp_initiated(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
) -> Response {
    let result = async {
        let (connection, uri) = initiating_connection(&app, &conn).await?;
        let browser = crate::crypto::random_token();
        let csrf = app
            .config
            .secret
            .mac(IDP_FORM_PURPOSE, &format!("{}|{browser}", connection.id));
        let mut response = pages::render(
            StatusCode::OK,
            &IdpInitiatedPage {
                connection_id: &connection.id,
                initiate_login_uri: &uri,
                csrf: &csrf,
            },
        );
        let secure = if app.issuer().starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{IDP_FORM_COOKIE}={browser}; Path=/sso/v1/simulator/; HttpOnly; SameSite=Strict; \
             Max-Age=600{secure}"
        )) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        Ok::<_, PageError>(response)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /sso/v1/simulator/{conn}/idp-initiated`: the application's login URL with
/// `idp_initiated_login`; no session is opened.
pub async fn post_idp_initiated(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    headers: HeaderMap,
    PageForm(f): PageForm<IdpInitiatedForm>,
) -> Response {
    let result = async {
        let (connection, uri) = initiating_connection(&app, &conn).await?;
        // The token is bound to this browser's cookie: another site cannot post the form.
        let browser = crate::session::cookie_value(&headers, IDP_FORM_COOKIE).unwrap_or_default();
        if browser.is_empty()
            || !app.config.secret.verify_mac(
                IDP_FORM_PURPOSE,
                &format!("{}|{browser}", connection.id),
                &f.csrf,
            )
        {
            return Err(PageError::bad_request(
                PageCode::InvalidCsrf,
                "The form expired. Reload it and try again.",
            ));
        }
        let email = f.email.trim().to_ascii_lowercase();
        if !email.contains('@') || email.len() > 254 || f.relay_state.len() > 1_024 {
            return Err(PageError::bad_request(
                PageCode::InvalidEmail,
                "Enter an email address (and a relay state of at most 1024 characters).",
            ));
        }
        idp_initiated::forward(&app, &connection, &uri, &email, Some(f.relay_state.trim())).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
