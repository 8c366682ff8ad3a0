//! Upstream login. Every upstream (the IdP simulator, OIDC, SAML) ends in
//! [`complete_login`] with a [`VerifiedIdentity`]; the organization of the identity is
//! the organization of the connection used, never a request parameter. The pending
//! authorization the login answers (open, fit, refuse, decide) is `flow`'s.

pub mod check;
pub mod claims;
pub mod custom;
pub mod discovery;
pub mod idp_initiated;
pub mod oidc;
pub mod saml;
pub mod simulator;
pub mod simulator_idp;

use axum::http::header;
use axum::response::Response;
use serde_json::{Map, Value};

use crate::audit::AuditEvent;
use crate::crypto;
use crate::flow::{self, pending_and_connection, record_login_failed};
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

pub use crate::store::EmailVerifiedTrust;

/// Ends an upstream login: user upserted, a new session (new id and token: no fixation),
/// attached to the pending request, then on to its rules and consent ([`flow::decide`]).
pub async fn complete_login(
    app: &AppState,
    pending: &PendingAuthorization,
    connection: &Connection,
    identity: VerifiedIdentity,
    old_cookie: &SessionCookie,
) -> Result<Response, PageError> {
    let (session, cookie) = establish_session(app, connection, identity, old_cookie).await?;
    app.store.attach_session(&pending.id, &session.id).await?;
    let mut response = match flow::decide(app, pending, &session).await {
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
pub(crate) fn is_email_verified(identity: &VerifiedIdentity, domains: &[String]) -> bool {
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

#[derive(serde::Deserialize)]
pub struct StartQuery {
    pub(crate) request: String,
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
