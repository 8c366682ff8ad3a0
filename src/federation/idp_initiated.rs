//! IdP-initiated login the Scalekit way: when a connection names its application's
//! `initiate_login_uri`, an IdP-initiated login (a verified unsolicited SAML response, or the
//! simulator's "IdP-initiated" form) opens no session here; the browser is sent to that URL
//! with `idp_initiated_login=<JWT>` (claims `connection_id`, `organization_id`,
//! `login_hint`, `relay_state`; signed with our keys, `typ` of its own so it never passes
//! as an access token or an ID token hint, short-lived). The application verifies it (the
//! SDKs' `get_idp_initiated_login_claims`) and starts a normal SP-initiated login.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::audit::AuditEvent;
use crate::oauth::authorize_error::with_params;
use crate::pages::{self, PageError};
use crate::seed::plan::INITIATE_LOGIN_URI;
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind};

/// The JWT header `typ`: neither `at+jwt` (access tokens) nor `JWT` (ID tokens).
pub const TYP: &str = "idp-initiated+jwt";
/// How long the application has to present it: a redirect, not a credential.
pub const TTL: i64 = 120;

#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
    connection_id: &'a str,
    organization_id: &'a str,
    login_hint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    relay_state: Option<&'a str>,
}

/// The application URL a connection's IdP-initiated logins go to: its own, else its
/// organization's, if either names one.
pub async fn initiate_login_uri(
    app: &AppState,
    connection: &Connection,
) -> Result<Option<String>, crate::store::StoreError> {
    if let Some(own) = connection
        .settings
        .get(INITIATE_LOGIN_URI)
        .and_then(serde_json::Value::as_str)
        .filter(|u| !u.is_empty())
    {
        return Ok(Some(own.to_string()));
    }
    Ok(app
        .store
        .find_organization(&connection.organization_id)
        .await?
        .and_then(|o| o.initiate_login_uri)
        .filter(|u| !u.is_empty()))
}

/// Sends the browser to `uri?idp_initiated_login=<JWT>` for the person `login_hint` (their
/// email, or the IdP's subject) and audits it.
pub async fn forward(
    app: &AppState,
    connection: &Connection,
    uri: &str,
    login_hint: &str,
    relay_state: Option<&str>,
) -> Result<Response, PageError> {
    let now = app.clock.now();
    let claims = Claims {
        iss: app.issuer(),
        iat: now,
        nbf: now,
        exp: now + TTL,
        jti: crate::ids::generate("tkn"),
        connection_id: &connection.id,
        organization_id: &connection.organization_id,
        login_hint,
        relay_state: relay_state.filter(|r| !r.is_empty()),
    };
    let (jwt, _kid) = app.keys.sign(TYP, &claims).map_err(|e| {
        tracing::error!(error = %e, "signing an IdP-initiated login token failed");
        PageError::server_error()
    })?;
    app.audit
        .record(AuditEvent::IdpInitiatedLoginForwarded {
            organization_id: connection.organization_id.clone(),
            connection_id: connection.id.clone(),
            connection_kind: connection.kind,
            is_simulated: connection.kind == ConnectionKind::IdpSimulator,
        })
        .await;
    Ok(pages::redirect(
        &with_params(uri, &[("idp_initiated_login", &jwt)]),
        StatusCode::SEE_OTHER,
    ))
}
