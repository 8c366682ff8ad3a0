//! Refusing a pending authorization. Before the person has authenticated, an error is a
//! page (an attacker can register any redirect URI); afterwards, or for a static client
//! whose redirect URI an admin set, it goes back to the client as an RFC 6749 §4.1.2.1
//! error redirect with `state` and `iss` (RFC 9207). Refused upstream logins are audited.

use axum::response::Response;

use crate::audit::AuditEvent;
use crate::oauth::authorize_error::AuthorizeError;
use crate::pages::{PageCode, PageError};
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind, PendingAuthorization};

/// An error for the client by redirect (RFC 6749 §4.1.2.1), for use once the person has
/// authenticated.
pub fn redirect_error(
    pending: &PendingAuthorization,
    error: PageCode,
    description: &str,
) -> AuthorizeError {
    AuthorizeError::to_client(&pending.request, error, description)
}

/// The `login.failed` audit event of a login through `connection`.
pub async fn record_login_failed(app: &AppState, connection: &Connection, reason: String) {
    app.audit
        .record(AuditEvent::LoginFailed {
            connection_id: connection.id.clone(),
            connection_kind: connection.kind,
            reason,
            is_simulated: connection.kind == ConnectionKind::IdpSimulator,
        })
        .await;
}

/// An upstream login that failed: audited with the reason; the MCP client gets `error`
/// by redirect when its redirect URI is trusted (static clients), the person a page.
pub async fn refuse(
    app: &AppState,
    pending: &PendingAuthorization,
    connection: &Connection,
    error: PageCode,
    reason: String,
) -> Response {
    tracing::info!(connection = %connection.id, %reason, "upstream login refused");
    record_login_failed(app, connection, reason).await;
    let is_static = matches!(
        app.store.find_client(&pending.request.client_id).await,
        Ok(Some(c)) if c.kind == crate::store::ClientKind::Static
    );
    if is_static
        && app
            .store
            .finish_pending(&pending.id, app.clock.now())
            .await
            .unwrap_or(false)
    {
        let description = if error == PageCode::ServerError {
            "the identity provider is unavailable"
        } else {
            "the identity provider did not sign the user in"
        };
        return axum::response::IntoResponse::into_response(
            crate::oauth::authorize_error::AuthorizeError::to_client(
                &pending.request,
                error,
                description,
            ),
        );
    }
    let (status, title, message) = if error == PageCode::ServerError {
        (
            axum::http::StatusCode::BAD_GATEWAY,
            "Sign-in is unavailable",
            "Your organization's identity provider cannot be reached. Try again later.",
        )
    } else {
        (
            axum::http::StatusCode::FORBIDDEN,
            "Sign-in failed",
            "Your organization's identity provider did not sign you in. Start again from your application.",
        )
    };
    axum::response::IntoResponse::into_response(PageError::new(
        status,
        if error == PageCode::ServerError {
            PageCode::UpstreamUnavailable
        } else {
            PageCode::UpstreamRefused
        },
        title,
        message,
    ))
}
