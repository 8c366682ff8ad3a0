//! Home-realm discovery: which connection signs this person in. From `connection_id`,
//! `organization_id`, `domain`/`domain_hint`, or the domain of `login_hint`; otherwise a
//! page asks for a work email. Unknown domains and disabled connections get a page.

use askama::Template;

use crate::pages::PageCode;
use crate::pages::PageQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{check_connection_fits, open_pending, upstream_start_url};
use crate::pages::{self, PageError, PageForm};
use crate::state::AppState;
use crate::store::{Connection, PendingAuthorization};

fn domain_of(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_ascii_lowercase())
        .filter(|d| d.contains('.'))
}

async fn first_connection(app: &AppState, organization_id: &str) -> Result<Connection, PageError> {
    let org = app
        .store
        .find_organization(organization_id)
        .await?
        .ok_or_else(|| {
            PageError::bad_request(
                PageCode::UnknownOrganization,
                "This organization is not known here.",
            )
        })?;
    if !org.is_enabled {
        return Err(PageError::bad_request(
            PageCode::OrganizationDisabled,
            "This organization is disabled.",
        ));
    }
    let connections: Vec<Connection> = app
        .store
        .list_connections()
        .await?
        .into_iter()
        .filter(|c| c.organization_id == org.id)
        .collect();
    connections
        .iter()
        .find(|c| c.is_enabled)
        .cloned()
        .ok_or_else(|| {
            if connections.is_empty() {
                PageError::bad_request(
                    PageCode::NoConnection,
                    "This organization has no sign-in connection.",
                )
            } else {
                PageError::bad_request(
                    PageCode::ConnectionDisabled,
                    "This organization's sign-in connection is disabled.",
                )
            }
        })
}

async fn connection_for_domain(app: &AppState, domain: &str) -> Result<Connection, PageError> {
    let org = app
        .store
        .find_organization_by_domain(domain)
        .await?
        .ok_or_else(|| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                PageCode::UnknownDomain,
                "Unknown domain",
                format!("No organization signs in with addresses at {domain}."),
            )
        })?;
    first_connection(app, &org.id).await
}

fn go(pending: &PendingAuthorization, connection: &Connection) -> Result<Response, PageError> {
    check_connection_fits(pending, connection)?;
    let url = upstream_start_url(connection, &pending.id).ok_or_else(|| {
        PageError::bad_request(
            PageCode::ConnectionUnsupported,
            "This kind of sign-in connection is not available yet.",
        )
    })?;
    Ok(pages::redirect(&url, StatusCode::SEE_OTHER))
}

/// Picks the connection from the request's hints, or asks for an email.
pub async fn route(app: &AppState, pending: &PendingAuthorization) -> Result<Response, PageError> {
    let r = &pending.request;
    let connection = if let Some(id) = &r.connection_id {
        app.store.find_connection(id).await?.ok_or_else(|| {
            PageError::bad_request(
                PageCode::UnknownConnection,
                "This sign-in connection is not known here.",
            )
        })?
    } else if let Some(org) = &r.organization_id {
        first_connection(app, org).await?
    } else if let Some(domain) = &r.domain_hint {
        connection_for_domain(app, &domain.to_ascii_lowercase()).await?
    } else if let Some(domain) = r.login_hint.as_deref().and_then(domain_of) {
        connection_for_domain(app, &domain).await?
    } else {
        let request = form_urlencoded::byte_serialize(pending.id.as_bytes()).collect::<String>();
        return Ok(pages::redirect(
            &format!("/sso/v1/login?request={request}"),
            StatusCode::SEE_OTHER,
        ));
    };
    go(pending, &connection)
}

#[derive(Template)]
#[template(path = "login/email.html")]
struct EmailPage<'a> {
    request: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    email: &'a str,
}

#[derive(Deserialize)]
pub struct RequestQuery {
    request: String,
}

#[derive(Deserialize)]
pub struct EmailForm {
    request: String,
    csrf: String,
    email: String,
}

/// `GET /sso/v1/login?request=…`: the work-email form.
pub async fn get_login(
    State(app): State<AppState>,
    PageQuery(q): PageQuery<RequestQuery>,
) -> Response {
    match open_pending(&app, &q.request).await {
        Ok(p) => {
            let csrf = app.config.secret.mac("login", &p.id);
            pages::render(
                StatusCode::OK,
                &EmailPage {
                    request: &p.id,
                    csrf: &csrf,
                    error: None,
                    email: "",
                },
            )
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /sso/v1/login`: route by the email's domain.
pub async fn post_login(State(app): State<AppState>, PageForm(f): PageForm<EmailForm>) -> Response {
    let result = async {
        let pending = open_pending(&app, &f.request).await?;
        if !app.config.secret.verify_mac("login", &pending.id, &f.csrf) {
            return Err(PageError::bad_request(
                PageCode::InvalidCsrf,
                "The form expired. Start again from your application.",
            ));
        }
        let Some(domain) = domain_of(&f.email) else {
            let csrf = app.config.secret.mac("login", &pending.id);
            let page = EmailPage {
                request: &pending.id,
                csrf: &csrf,
                error: Some("Enter your work email address."),
                email: &f.email,
            };
            return Ok(pages::render(StatusCode::BAD_REQUEST, &page));
        };
        go(&pending, &connection_for_domain(&app, &domain).await?)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
