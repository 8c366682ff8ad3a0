//! Upstream login. Every upstream (the IdP simulator, OIDC, SAML) ends in
//! [`complete_login`] with a [`VerifiedIdentity`]; the organization of the identity is
//! the organization of the connection used, never a request parameter.

pub mod check;
pub mod claims;
pub mod discovery;
pub mod oidc;
pub mod saml;
pub mod simulator;

use axum::http::header;
use axum::response::Response;
use serde_json::{Map, Value};

use crate::audit::AuditEvent;
use crate::consent;
use crate::crypto;
use crate::ids;
use crate::pages::PageCode;
use crate::pages::PageError;
use crate::session::{self, SessionCookie};
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind, PendingAuthorization, Session, User};

/// What an upstream asserted about a person, after its checks.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VerifiedIdentity {
    pub subject: String,
    pub email: Option<String>,
    pub email_trust: EmailTrust,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub attributes: Map<String, Value>,
}

/// How far an upstream vouches for the address it asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EmailTrust {
    /// It says the address is verified (OIDC `email_verified: true` from a connection
    /// trusted for any domain; the simulator).
    Verified,
    Unverified,
    /// It has no such statement (SAML), or says so as an IdP trusted only for its
    /// organization (OIDC by default): the organization's IdP is the authority for the
    /// organization's own domains, not for anyone else's.
    OrganizationDomains,
}

/// How far an OIDC connection believes the IdP's `email_verified` (seed and admin key
/// `trust_email_verified`). An IdP vouches for its organization's domains; for another
/// company's addresses it is no authority unless an admin says so (a consumer IdP that
/// verifies every address it asserts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailVerifiedTrust {
    /// `organization_domains` (the default): only in one of the organization's domains.
    #[default]
    OrganizationDomains,
    /// `any_domain`: for every address.
    AnyDomain,
}

impl EmailVerifiedTrust {
    /// The connection setting that holds it.
    pub const KEY: &'static str = "trust_email_verified";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrganizationDomains => "organization_domains",
            Self::AnyDomain => "any_domain",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "organization_domains" => Some(Self::OrganizationDomains),
            "any_domain" => Some(Self::AnyDomain),
            _ => None,
        }
    }

    /// A connection's setting; absent or unknown is the default (fail closed).
    pub fn from_settings(settings: &Value) -> Self {
        settings
            .get(Self::KEY)
            .and_then(Value::as_str)
            .and_then(Self::parse)
            .unwrap_or_default()
    }
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
    }
}

/// A pending request that is still open.
pub async fn open_pending(app: &AppState, id: &str) -> Result<PendingAuthorization, PageError> {
    let pending = app.store.find_pending(id).await?.ok_or_else(|| {
        PageError::bad_request(
            PageCode::UnknownRequest,
            "This sign-in request is unknown. Start again from your application.",
        )
    })?;
    if pending.finished_at.is_some() || pending.expires_at <= app.clock.now() {
        return Err(PageError::bad_request(
            PageCode::RequestExpired,
            "This sign-in request has expired or was already completed. Start again from your application.",
        ));
    }
    Ok(pending)
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

/// Ends an upstream login: user upserted, a new session (new id and token: no fixation),
/// attached to the pending request, then on to rules and consent.
pub async fn complete_login(
    app: &AppState,
    pending: &PendingAuthorization,
    connection: &Connection,
    identity: VerifiedIdentity,
    old_cookie: &SessionCookie,
) -> Result<Response, PageError> {
    let (session, cookie) = establish_session(app, connection, identity, old_cookie).await?;
    app.store.attach_session(&pending.id, &session.id).await?;
    let mut response = match consent::decide(app, pending, &session).await {
        Ok(r) => r,
        Err(e) => axum::response::IntoResponse::into_response(e),
    };
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Whether the address counts as verified, by the upstream's [`EmailTrust`]: with
/// `OrganizationDomains`, only in one of the organization's domains, so `email_verified` in
/// our ID tokens and userinfo never vouches for an address another IdP or mailbox provider
/// owns.
fn is_email_verified(identity: &VerifiedIdentity, domains: &[String]) -> bool {
    match identity.email_trust {
        EmailTrust::Verified => true,
        EmailTrust::Unverified => false,
        // Exactly one '@': `victim@gmail.example@fx.example` vouches for no one.
        EmailTrust::OrganizationDomains => identity
            .email
            .as_deref()
            .and_then(|e| e.split_once('@'))
            .is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
            }),
    }
}

/// Signs a verified identity in: the user upserted (refused when disabled, or when the
/// organization is), the old session ended, a new session; returns it with its cookie.
pub async fn establish_session(
    app: &AppState,
    connection: &Connection,
    identity: VerifiedIdentity,
    old_cookie: &SessionCookie,
) -> Result<(Session, axum::http::HeaderValue), PageError> {
    let now = app.clock.now();
    let org = app
        .store
        .find_organization(&connection.organization_id)
        .await?
        .filter(|o| o.is_enabled)
        .ok_or_else(|| {
            PageError::bad_request(
                PageCode::OrganizationDisabled,
                "This organization is disabled.",
            )
        })?;
    let user = app
        .store
        .upsert_user(&User {
            id: String::new(),
            connection_id: connection.id.clone(),
            organization_id: org.id.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            is_email_verified: is_email_verified(&identity, &org.domains),
            name: identity.name.clone(),
            groups: identity.groups.clone(),
            attributes: identity.attributes.clone(),
            is_enabled: true,
            last_login_at: now,
        })
        .await?;
    let is_simulated = connection.kind == ConnectionKind::IdpSimulator;
    if !user.is_enabled {
        record_login_failed(app, connection, "user disabled".into()).await;
        return Err(PageError::new(
            axum::http::StatusCode::FORBIDDEN,
            PageCode::UserDisabled,
            "Access denied",
            "Your account is disabled here.",
        ));
    }
    if let Some(old) = session::current(app, old_cookie).await? {
        app.store.end_session(&old.id, now).await?;
    }
    let token = crypto::random_token();
    let session = Session {
        id: ids::generate("ses"),
        token_hash: crypto::hash_secret(&token),
        user_id: user.id.clone(),
        connection_id: connection.id.clone(),
        organization_id: org.id.clone(),
        auth_time: now,
        expires_at: now + session::SESSION_TTL,
        ended_at: None,
    };
    app.store.insert_session(&session).await?;
    app.audit
        .record(AuditEvent::LoginSucceeded {
            user_id: user.id.clone(),
            organization_id: org.id.clone(),
            connection_id: connection.id.clone(),
            connection_kind: connection.kind,
            session_id: session.id.clone(),
            is_simulated,
            claim_names: identity.attributes.keys().cloned().collect(),
            has_groups: !identity.groups.is_empty(),
        })
        .await;
    Ok((session, session::set_cookie(app.issuer(), &token)))
}

/// The `login.failed` audit event of a login through `connection`.
pub(crate) async fn record_login_failed(app: &AppState, connection: &Connection, reason: String) {
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

#[derive(serde::Deserialize)]
pub struct StartQuery {
    pub(crate) request: String,
}

/// The open pending request and the connection of kind `kind` a start URL names, checked
/// to fit each other.
pub(crate) async fn pending_and_connection(
    app: &AppState,
    conn: &str,
    kind: ConnectionKind,
    request: &str,
) -> Result<(PendingAuthorization, Connection), PageError> {
    let pending = open_pending(app, request).await?;
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

/// `GET /sso/v1/oidc/{conn}/start?request=…`: begins the upstream OIDC login.
pub async fn get_oidc_start(
    axum::extract::State(app): axum::extract::State<AppState>,
    crate::pages::PagePath(conn): crate::pages::PagePath<String>,
    crate::pages::PageQuery(q): crate::pages::PageQuery<StartQuery>,
) -> Response {
    let result = async {
        let (pending, connection) =
            pending_and_connection(&app, &conn, ConnectionKind::Oidc, &q.request).await?;
        oidc::start(&app, &pending, &connection).await
    }
    .await;
    result.unwrap_or_else(axum::response::IntoResponse::into_response)
}
