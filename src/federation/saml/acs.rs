//! `POST /sso/v1/saml/{conn}/acs`: the IdP's response. A RelayState naming an outstanding
//! request of this connection makes it solicited: its AuthnRequest ID is the only
//! acceptable InResponseTo, and the pending authorization it belongs to is completed, but
//! only in the browser that started it (the binding cookie, see [`super::binding`]); a
//! response from another browser is refused over https and asked about over http, and
//! neither uses anything up. Anything else is unsolicited (IdP-initiated): refused unless
//! the connection allows it, and then it only signs the person in, or, when the connection
//! names its application's `initiate_login_uri`, only sends the browser there (see
//! `federation::idp_initiated`); it never completes a pending authorization.

use crate::pages::PageCode;
use crate::pages::PagePath;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::binding::{self, Binding, BindingCookies};
use super::metadata::{IdpMetadata, idp_metadata, refetch_idp_metadata};
use super::start::acs_path;
use super::verify::{self, Expected, Refusal, Verified, verify_response};
use super::{SamlSettings, settings};
use crate::crypto;
use crate::federation::{complete_login, idp_initiated};
use crate::flow::{find_open, record_login_failed, refuse};
use crate::pages::{PageError, PageForm};
use crate::session::SessionCookie;
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind, Taken, UpstreamLogin};

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
    binding: BindingCookies,
    PageForm(form): PageForm<AcsForm>,
) -> Response {
    acs(&app, &conn, form, &binding, &cookie)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn acs(
    app: &AppState,
    conn: &str,
    form: AcsForm,
    binding: &BindingCookies,
    cookie: &SessionCookie,
) -> Result<Response, PageError> {
    let connection = app
        .store
        .find_connection(conn)
        .await?
        .filter(|c| c.kind == ConnectionKind::Saml)
        .ok_or_else(|| {
            PageError::new(
                StatusCode::NOT_FOUND,
                PageCode::UnknownConnection,
                "Unknown connection",
                "No SAML connection has this id.",
            )
        })?;
    let s = settings(app.issuer(), &connection);
    let now = app.clock.now();
    // Found, not taken: whether this browser may answer it is decided first.
    let outstanding = if form.relay_state.is_empty() || form.relay_state.len() > 128 {
        None
    } else {
        let hash = crypto::hash_secret(&form.relay_state);
        app.store
            .find_upstream_login(&hash)
            .await?
            .filter(|l| l.used_at.is_none() && l.expires_at > now)
    };
    let Some(login) = outstanding else {
        return unsolicited(app, &connection, &s, &form).await;
    };
    let presented = binding.value_for(app.issuer(), &login.state_hash);
    match binding::decide(app.issuer(), presented, &login.browser_hash) {
        Binding::Refuse(why) => {
            let r = verify::refuse("browser", why);
            Ok(refuse_here(app, &connection, &r).await)
        }
        Binding::Ask => ask(app, &connection, &s, login, &form.saml_response).await,
        Binding::ThisBrowser => {
            let used = binding::set_cookie(
                app.issuer(),
                &acs_path(&s.acs_url),
                &login.state_hash,
                "",
                0,
            );
            let mut response = solicited(app, &connection, &s, login, &form.saml_response, cookie)
                .await
                .unwrap_or_else(IntoResponse::into_response);
            response.headers_mut().append(header::SET_COOKIE, used);
            Ok(response)
        }
    }
}

/// The AuthnRequest ID an upstream login keeps sealed.
fn request_id(app: &AppState, login: &UpstreamLogin) -> Result<String, PageError> {
    app.config
        .secret
        .open(&login.secrets, &login.state_hash)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("request_id")?.as_str().map(str::to_string))
        .ok_or_else(PageError::server_error)
}

/// The browser that started the login: the request is used up and completed.
async fn solicited(
    app: &AppState,
    connection: &Connection,
    s: &SamlSettings,
    login: UpstreamLogin,
    saml_response: &str,
    cookie: &SessionCookie,
) -> Result<Response, PageError> {
    let now = app.clock.now();
    let login = match app
        .store
        .take_upstream_login(&login.state_hash, now)
        .await?
    {
        Taken::Fresh(l) if l.expires_at > now => l,
        // Answered in the meantime (a double submit).
        _ => {
            let r = verify::refuse("replay", "this request was already answered");
            return Ok(refuse_here(app, connection, &r).await);
        }
    };
    let pending = find_open(app, &login.pending_id).await?;
    let denied = |r: Refusal| {
        refuse(
            app,
            &pending,
            connection,
            PageCode::AccessDenied,
            r.reason(),
        )
    };
    if login.connection_id != connection.id {
        let r = verify::refuse("relay_state", "it was issued for another connection");
        return Ok(denied(r).await);
    }
    if !connection.is_enabled {
        return Ok(denied(verify::refuse("connection", "disabled")).await);
    }
    let request_id = request_id(app, &login)?;
    let idp = match idp_metadata(app, s).await {
        Ok(m) => m,
        Err(why) => return Ok(refuse(app, &pending, connection, PageCode::ServerError, why).await),
    };
    match check(app, connection, s, &idp, Some(request_id), saml_response).await {
        Ok(verified) => complete_login(app, &pending, connection, verified.identity, cookie).await,
        Err(r) => Ok(denied(r).await),
    }
}

/// Over plain http without the binding cookie: the response is checked but not used up,
/// and the person is asked, by name, whether to go on (see [`super::confirm`]). Nothing
/// here touches the pending request: this browser may not be the one that started it.
async fn ask(
    app: &AppState,
    connection: &Connection,
    s: &SamlSettings,
    login: UpstreamLogin,
    saml_response: &str,
) -> Result<Response, PageError> {
    if login.connection_id != connection.id || !connection.is_enabled {
        let r = if connection.is_enabled {
            verify::refuse("relay_state", "it was issued for another connection")
        } else {
            verify::refuse("connection", "disabled")
        };
        return Ok(refuse_here(app, connection, &r).await);
    }
    let pending = find_open(app, &login.pending_id).await?;
    let request_id = request_id(app, &login)?;
    let idp = idp_metadata(app, s)
        .await
        .map_err(|why| unavailable(connection, why))?;
    match verify_refetching(app, s, &idp, Some(request_id), saml_response).await {
        Ok(verified) => {
            Ok(super::confirm::ask_solicited(app, connection, &pending, &login, verified).await)
        }
        Err(r) => Ok(refuse_here(app, connection, &r).await),
    }
}

fn unavailable(connection: &Connection, why: String) -> PageError {
    tracing::warn!(connection = %connection.id, reason = %why, "SAML IdP metadata unavailable");
    PageError::new(
        StatusCode::BAD_GATEWAY,
        PageCode::UpstreamUnavailable,
        "Sign-in is unavailable",
        "Your organization's identity provider cannot be reached. Try again later.",
    )
}

async fn unsolicited(
    app: &AppState,
    connection: &Connection,
    s: &SamlSettings,
    form: &AcsForm,
) -> Result<Response, PageError> {
    let saml_response = form.saml_response.as_str();
    let forward_to = idp_initiated::initiate_login_uri(app, connection).await?;
    if !(s.allow_idp_initiated || forward_to.is_some()) || !connection.is_enabled {
        let detail = if connection.is_enabled {
            "no outstanding request matches its RelayState, and IdP-initiated login is off for this connection"
        } else {
            "the connection is disabled"
        };
        let r = verify::refuse("unsolicited", detail);
        return Ok(refuse_here(app, connection, &r).await);
    }
    let idp = idp_metadata(app, s)
        .await
        .map_err(|why| unavailable(connection, why))?;
    let verified = match check(app, connection, s, &idp, None, saml_response).await {
        Ok(v) => v,
        Err(r) => return Ok(refuse_here(app, connection, &r).await),
    };
    // The application starts its own login: nothing is signed in here.
    if let Some(uri) = forward_to.as_deref() {
        let identity = &verified.identity;
        let hint = identity.email.as_deref().unwrap_or(&identity.subject);
        let relay_state = (form.relay_state.len() <= 1_024).then_some(form.relay_state.as_str());
        return idp_initiated::forward(app, connection, uri, hint, relay_state).await;
    }
    Ok(super::confirm::ask(app, connection, verified.identity))
}

/// The checks of [`verify_refetching`], then the replay cache: an assertion ID is accepted
/// once, remembered in the store until it could no longer be valid.
async fn check(
    app: &AppState,
    connection: &Connection,
    s: &SamlSettings,
    idp: &IdpMetadata,
    request_id: Option<String>,
    saml_response: &str,
) -> Result<Verified, Refusal> {
    let verified = verify_refetching(app, s, idp, request_id, saml_response).await?;
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

/// The checks (off the async runtime; once more with refetched metadata when the signature
/// is by a certificate the metadata did not list, as after a key rotation).
async fn verify_refetching(
    app: &AppState,
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
    verified
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

/// A refusal that touches no pending request (this browser may not be the one that
/// started it): audited, and a page.
async fn refuse_here(app: &AppState, connection: &Connection, r: &Refusal) -> Response {
    let reason = r.reason();
    tracing::info!(connection = %connection.id, %reason, "SAML response refused");
    record_login_failed(app, connection, reason).await;
    PageError::new(
        StatusCode::FORBIDDEN,
        PageCode::UpstreamRefused,
        "Sign-in failed",
        "Your organization's identity provider did not sign you in here. Start again from your application.",
    )
    .into_response()
}
