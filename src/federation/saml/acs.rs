//! `POST /sso/v1/saml/{conn}/acs`: the IdP's response. A RelayState naming an outstanding
//! request of this connection makes it solicited: its AuthnRequest ID is the only
//! acceptable InResponseTo, and the pending authorization it belongs to is completed.
//! Anything else is unsolicited (IdP-initiated): refused unless the connection allows it,
//! and then it only signs the person in; it never completes a pending authorization.

use crate::pages::PagePath;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::metadata::{IdpMetadata, idp_metadata, refetch_idp_metadata};
use super::verify::{self, Expected, Refusal, Verified, verify_response};
use super::{SamlSettings, settings};
use crate::app::AppState;
use crate::crypto;
use crate::federation::{complete_login, open_pending, record_login_failed, refuse};
use crate::pages::{PageError, PageForm};
use crate::session::SessionCookie;
use crate::store::{Connection, Taken, UpstreamLogin};

#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState", default)]
    relay_state: String,
}

pub async fn post_acs(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    cookie: SessionCookie,
    PageForm(form): PageForm<AcsForm>,
) -> Response {
    acs(&app, &conn, form, &cookie)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn acs(
    app: &AppState,
    conn: &str,
    form: AcsForm,
    cookie: &SessionCookie,
) -> Result<Response, PageError> {
    let connection = app
        .store
        .find_connection(conn)
        .await?
        .filter(|c| c.kind == "saml")
        .ok_or_else(|| {
            PageError::new(
                StatusCode::NOT_FOUND,
                "unknown_connection",
                "Unknown connection",
                "No SAML connection has this id.",
            )
        })?;
    let s = settings(app.issuer(), &connection);
    let outstanding = if form.relay_state.is_empty() || form.relay_state.len() > 128 {
        None
    } else {
        let hash = crypto::hash_secret(&form.relay_state);
        match app
            .store
            .take_upstream_login(&hash, app.clock.now())
            .await?
        {
            Taken::Fresh(login) if login.expires_at > app.clock.now() => Some(login),
            Taken::Fresh(_) => None,
            Taken::Replayed(_) | Taken::Missing => None,
        }
    };
    match outstanding {
        Some(login) => solicited(app, &connection, &s, login, &form.saml_response, cookie).await,
        None => unsolicited(app, &connection, &s, &form.saml_response).await,
    }
}

async fn solicited(
    app: &AppState,
    connection: &Connection,
    s: &SamlSettings,
    login: UpstreamLogin,
    saml_response: &str,
    cookie: &SessionCookie,
) -> Result<Response, PageError> {
    let pending = open_pending(app, &login.pending_id).await?;
    let denied = |r: Refusal| refuse(app, &pending, connection, "access_denied", r.reason());
    if login.connection_id != connection.id {
        let r = verify::refuse("relay_state", "it was issued for another connection");
        return Ok(denied(r).await);
    }
    if !connection.is_enabled {
        return Ok(denied(verify::refuse("connection", "disabled")).await);
    }
    let request_id = app
        .config
        .secret
        .open(&login.secrets, &login.state_hash)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("request_id")?.as_str().map(str::to_string))
        .ok_or_else(PageError::server_error)?;
    let idp = match idp_metadata(app, s).await {
        Ok(m) => m,
        Err(why) => return Ok(refuse(app, &pending, connection, "server_error", why).await),
    };
    match check(app, connection, s, &idp, Some(request_id), saml_response).await {
        Ok(verified) => complete_login(app, &pending, connection, verified.identity, cookie).await,
        Err(r) => Ok(denied(r).await),
    }
}

async fn unsolicited(
    app: &AppState,
    connection: &Connection,
    s: &SamlSettings,
    saml_response: &str,
) -> Result<Response, PageError> {
    if !s.allow_idp_initiated || !connection.is_enabled {
        let detail = if connection.is_enabled {
            "no outstanding request matches its RelayState, and IdP-initiated login is off for this connection"
        } else {
            "the connection is disabled"
        };
        let r = verify::refuse("unsolicited", detail);
        return Ok(refuse_unsolicited(app, connection, &r).await);
    }
    let idp = idp_metadata(app, s).await.map_err(|why| {
        tracing::warn!(connection = %connection.id, reason = %why, "SAML IdP metadata unavailable");
        PageError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
            "Sign-in is unavailable",
            "Your organization's identity provider cannot be reached. Try again later.",
        )
    })?;
    let verified = match check(app, connection, s, &idp, None, saml_response).await {
        Ok(v) => v,
        Err(r) => return Ok(refuse_unsolicited(app, connection, &r).await),
    };
    Ok(super::confirm::ask(app, connection, verified.identity))
}

/// The checks (off the async runtime; once more with refetched metadata when the signature
/// is by a certificate the metadata did not list, as after a key rotation), then the replay
/// cache: an assertion ID is accepted once, remembered in the store until it could no
/// longer be valid.
async fn check(
    app: &AppState,
    connection: &Connection,
    s: &SamlSettings,
    idp: &IdpMetadata,
    request_id: Option<String>,
    saml_response: &str,
) -> Result<Verified, Refusal> {
    let mut verified = verify_blocking(s, idp.clone(), request_id.clone(), saml_response).await;
    if matches!(&verified, Err(r) if r.check == "signature")
        && let Some(fresh) = refetch_idp_metadata(app, s).await
    {
        verified = verify_blocking(s, (*fresh).clone(), request_id, saml_response).await;
    }
    let verified = verified?;
    let is_first = app
        .store
        .remember_assertion(
            &connection.id,
            &verified.assertion_id,
            verified.remember_until,
        )
        .await
        .map_err(|_| Refusal {
            check: "internal",
            detail: "the replay cache is unavailable".into(),
        })?;
    if !is_first {
        return Err(Refusal {
            check: "replay",
            detail: "this assertion was already used".into(),
        });
    }
    Ok(verified)
}

async fn verify_blocking(
    s: &SamlSettings,
    idp: IdpMetadata,
    request_id: Option<String>,
    saml_response: &str,
) -> Result<Verified, Refusal> {
    let (s, encoded) = (s.clone(), saml_response.to_string());
    tokio::task::spawn_blocking(move || {
        verify_response(
            &encoded,
            &Expected {
                sp_entity_id: &s.sp_entity_id,
                acs_url: &s.acs_url,
                idp: &idp,
                request_id: request_id.as_deref(),
                mapping: &s.mapping,
            },
        )
    })
    .await
    .map_err(|_| Refusal {
        check: "internal",
        detail: "the verification task failed".into(),
    })?
}

async fn refuse_unsolicited(app: &AppState, connection: &Connection, r: &Refusal) -> Response {
    let reason = r.reason();
    tracing::info!(connection = %connection.id, %reason, "SAML response refused");
    record_login_failed(app, connection, reason).await;
    PageError::new(
        StatusCode::FORBIDDEN,
        "upstream_refused",
        "Sign-in failed",
        "Your organization's identity provider did not sign you in here. Start again from your application.",
    )
    .into_response()
}
