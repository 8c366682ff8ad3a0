//! The end of a pending authorization: the person's answer on the consent page (approve
//! remembers the consent; deny is `access_denied`), then a single-use code (RFC 6749
//! §4.1.2, bound to client, redirect URI, resource, PKCE challenge and session, its refresh
//! family created first) and the redirect `redirect_uri?code&state&iss` (RFC 9207).

use axum::http::StatusCode;
use axum::response::Response;

use super::decide::Granted;
use super::refuse::redirect_error;
use crate::audit::AuditEvent;
use crate::crypto;
use crate::oauth::authorize_error::AuthorizeError;
use crate::pages::PageCode;
use crate::state::AppState;
use crate::store::{
    AuthorizationRequest, CodeRecord, Consent, Grant, NewFamily, PendingAuthorization, Session,
};

/// A code lives 60 seconds.
pub const CODE_TTL: i64 = 60;

/// The person approved: the consent remembered and audited, then the code.
pub async fn approve(
    app: &AppState,
    pending: &PendingAuthorization,
    session: &Session,
    granted: &Granted,
) -> Result<Response, AuthorizeError> {
    let r = &pending.request;
    let scopes = super::decide::consented_scopes(r, granted);
    let consent = app
        .store
        .upsert_consent(&Consent {
            id: crate::ids::generate("usrcnst"),
            user_id: granted.user.id.clone(),
            client_id: r.client_id.clone(),
            redirect_uri: r.redirect_uri.clone(),
            resource_id: r.resource_id.clone(),
            scopes: scopes.clone(),
            created_at: app.clock.now(),
            revoked_at: None,
        })
        .await?;
    app.audit
        .record(AuditEvent::ConsentGranted {
            consent_id: consent.id,
            user_id: granted.user.id.clone(),
            client_id: r.client_id.clone(),
            resource_id: r.resource_id.clone(),
            scopes,
        })
        .await;
    issue_code(app, pending, session, granted).await
}

/// The person denied: the request finished and audited; `access_denied` to the client.
pub async fn deny(
    app: &AppState,
    pending: &PendingAuthorization,
    granted: &Granted,
) -> Result<Response, AuthorizeError> {
    let r = &pending.request;
    if !app
        .store
        .finish_pending(&pending.id, app.clock.now())
        .await?
    {
        return Err(AuthorizeError::page(
            PageCode::RequestExpired,
            "This sign-in request was already completed.",
        ));
    }
    app.audit
        .record(AuditEvent::ConsentDenied {
            user_id: granted.user.id.clone(),
            client_id: r.client_id.clone(),
            resource_id: r.resource_id.clone(),
        })
        .await;
    Err(redirect_error(
        pending,
        PageCode::AccessDenied,
        "the user denied the request",
    ))
}

/// Issues a single-use code bound to client, redirect URI, resource, PKCE and session.
pub async fn issue_code(
    app: &AppState,
    pending: &PendingAuthorization,
    session: &Session,
    granted: &Granted,
) -> Result<Response, AuthorizeError> {
    let now = app.clock.now();
    if !app.store.finish_pending(&pending.id, now).await? {
        return Err(AuthorizeError::page(
            PageCode::RequestExpired,
            "This sign-in request was already completed.",
        ));
    }
    let r = &pending.request;
    let code = crypto::random_token();
    let grant = Grant {
        client_id: r.client_id.clone(),
        user_id: granted.user.id.clone(),
        session_id: session.id.clone(),
        organization_id: session.organization_id.clone(),
        connection_id: session.connection_id.clone(),
        resource_id: granted.resource.id.clone(),
        target: r.target,
        redirect_uri: r.redirect_uri.clone(),
        issuer: r.issuer.clone(),
        scopes: granted.scopes.clone(),
        oidc_scopes: r.oidc_scopes.clone(),
        code_challenge: r.code_challenge.clone(),
        nonce: r.nonce.clone(),
        auth_time: session.auth_time,
    };
    // The family exists before any token: a replay or a revocation can always mark it.
    let family = NewFamily {
        id: uuid::Uuid::new_v4().simple().to_string(),
        client_id: r.client_id.clone(),
        user_id: granted.user.id.clone(),
        created_at: now,
        expires_at: now
            + CODE_TTL
            + granted.resource.access_token_ttl
            + granted.resource.refresh_token_ttl,
    };
    app.store
        .insert_code(
            &CodeRecord {
                code_hash: crypto::hash_secret(&code),
                grant,
                created_at: now,
                expires_at: now + CODE_TTL,
                used_at: None,
                access_jti: None,
                family_id: Some(family.id.clone()),
                is_family_revoked: false,
            },
            &family,
        )
        .await?;
    app.audit
        .record(AuditEvent::CodeIssued {
            client_id: r.client_id.clone(),
            user_id: granted.user.id.clone(),
            organization_id: session.organization_id.clone(),
            resource_id: granted.resource.id.clone(),
            scopes: granted.scopes.clone(),
        })
        .await;
    Ok(success_redirect(r, &code))
}

/// The redirect that completes an authorization: `code`, `state`, `iss`.
pub fn success_redirect(request: &AuthorizationRequest, code: &str) -> Response {
    let mut params = vec![("code", code)];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    params.push(("iss", &request.issuer));
    crate::pages::redirect(
        &crate::oauth::authorize_error::with_params(&request.redirect_uri, &params),
        StatusCode::SEE_OTHER,
    )
}
