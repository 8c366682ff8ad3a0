//! Fitting a connection to a pending authorization. Home-realm discovery picks it from
//! `connection_id`, `organization_id`, `domain`/`domain_hint`, or the domain of
//! `login_hint`, otherwise sends the browser to the work-email page (whose form lands in
//! [`go`] too); unknown domains and disabled connections get a page. Whatever connection
//! answers must fit the request: enabled, and the one or in the organization it names.

use axum::http::StatusCode;
use axum::response::Response;

use crate::pages::{self, PageCode, PageError};
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind, PendingAuthorization};

use super::open::find_open;

/// The domain of an email address, lowercased; none without a dot.
pub fn domain_of(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_ascii_lowercase())
        .filter(|d| d.contains('.'))
}

/// The first enabled connection of an enabled organization.
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

/// The first enabled connection of the organization that owns `domain`.
pub async fn connection_for_domain(app: &AppState, domain: &str) -> Result<Connection, PageError> {
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

/// Sends the browser to sign in at `connection`, once it fits the request.
pub fn go(pending: &PendingAuthorization, connection: &Connection) -> Result<Response, PageError> {
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

/// Where the browser goes to sign in at a connection.
pub fn upstream_start_url(connection: &Connection, pending_id: &str) -> Option<String> {
    let request = form_urlencoded::byte_serialize(pending_id.as_bytes()).collect::<String>();
    match connection.kind {
        ConnectionKind::IdpSimulator => Some(format!(
            "/sso/v1/simulator/{}?request={request}",
            connection.id
        )),
        ConnectionKind::Oidc => Some(format!(
            "/sso/v1/oidc/{}/start?request={request}",
            connection.id
        )),
        ConnectionKind::Saml => Some(format!(
            "/sso/v1/saml/{}/start?request={request}",
            connection.id
        )),
        ConnectionKind::Custom => Some(format!(
            "/sso/v1/connections/{}/start?request={request}",
            connection.id
        )),
    }
}

/// Checks that a login through `connection` may answer this pending request.
pub fn check_connection_fits(
    pending: &PendingAuthorization,
    connection: &Connection,
) -> Result<(), PageError> {
    if !connection.is_enabled {
        return Err(PageError::bad_request(
            PageCode::ConnectionDisabled,
            "This sign-in connection is disabled.",
        ));
    }
    let r = &pending.request;
    if r.connection_id
        .as_ref()
        .is_some_and(|c| *c != connection.id)
        || r.organization_id
            .as_ref()
            .is_some_and(|o| *o != connection.organization_id)
    {
        return Err(PageError::bad_request(
            PageCode::ConnectionMismatch,
            "This sign-in request is for another organization or connection.",
        ));
    }
    Ok(())
}

/// The open pending request and the connection of kind `kind` a start URL names, checked
/// to fit each other.
pub async fn pending_and_connection(
    app: &AppState,
    conn: &str,
    kind: ConnectionKind,
    request: &str,
) -> Result<(PendingAuthorization, Connection), PageError> {
    let pending = find_open(app, request).await?;
    let connection = app
        .store
        .find_connection(conn)
        .await?
        .filter(|c| c.kind == kind)
        .ok_or_else(|| {
            PageError::bad_request(
                PageCode::UnknownConnection,
                "This sign-in connection is not known here.",
            )
        })?;
    check_connection_fits(&pending, &connection)?;
    Ok((pending, connection))
}
