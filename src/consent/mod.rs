//! After login: the rules decide what may be granted, then consent (remembered per user,
//! client, redirect URI and resource; never skipped for a new one), then the code.

mod page;

pub use page::{get_consent, post_consent};

use axum::http::StatusCode;
use axum::response::Response;

use crate::audit::AuditEvent;
use crate::crypto;
use crate::oauth::authorize::success_redirect;
use crate::oauth::authorize_error::AuthorizeError;
use crate::oauth::still_allowed::{self, Allowed, ConsentCheck, GrantParties, Refusal};
use crate::pages;
use crate::pages::PageCode;
use crate::policy::{self, Decision, Identity, OrgContext};
use crate::state::AppState;
use crate::store::{
    CodeRecord, Grant, NewFamily, Organization, PendingAuthorization, Resource, Session,
    StoreError, User,
};

/// A code lives 60 seconds.
pub const CODE_TTL: i64 = 60;

/// What the rules allow this person for this pending request.
pub struct Granted {
    pub user: User,
    pub resource: Resource,
    pub scopes: Vec<String>,
}

fn redirect_error(
    pending: &PendingAuthorization,
    error: PageCode,
    description: &str,
) -> AuthorizeError {
    AuthorizeError::to_client(&pending.request, error, description)
}

/// The resource's rules evaluated for a user of an organization (at authorization and at
/// every refresh, on the identity stored at the last login).
pub async fn rule_decision(
    app: &AppState,
    user: &User,
    org: &Organization,
    resource: &Resource,
    requested: Option<&[String]>,
) -> Result<Decision, StoreError> {
    let rules = app.store.list_rules(&resource.id).await?;
    let resource_scopes: Vec<String> = resource.scope_names().map(str::to_string).collect();
    Ok(policy::evaluate(
        &Identity {
            email: user.email.as_deref(),
            is_email_verified: user.is_email_verified,
            groups: &user.groups,
            attributes: &user.attributes,
        },
        &OrgContext {
            organization_id: &org.id,
            domains: &org.domains,
        },
        &rules,
        &resource_scopes,
        requested,
    ))
}

/// Evaluates the rules for the session's user. The person has authenticated, so refusals
/// may now redirect to the client.
pub async fn evaluate(
    app: &AppState,
    pending: &PendingAuthorization,
    session: &Session,
) -> Result<Granted, AuthorizeError> {
    let r = &pending.request;
    let client = app.store.find_client(&r.client_id).await?.ok_or_else(|| {
        AuthorizeError::page(
            PageCode::InvalidClient,
            "The application is no longer registered here.",
        )
    })?;
    let parties = GrantParties {
        client: &client,
        user_id: &session.user_id,
        organization_id: &session.organization_id,
        connection_id: &session.connection_id,
        resource_id: &r.resource_id,
        redirect_uri: &r.redirect_uri,
    };
    let Allowed {
        user,
        organization: org,
        resource,
    } = still_allowed::check(app, &parties, ConsentCheck::BeforeConsent)
        .await?
        .map_err(|refusal| {
            let error = match refusal {
                Refusal::ResourceGone => PageCode::InvalidTarget,
                _ => PageCode::AccessDenied,
            };
            redirect_error(pending, error, refusal.description())
        })?;
    let decision = rule_decision(
        app,
        &user,
        &org,
        &resource,
        pending.request.scopes.as_deref(),
    )
    .await?;
    if decision.granted.is_empty() {
        return Err(redirect_error(
            pending,
            PageCode::AccessDenied,
            "none of the requested scopes is allowed for this user",
        ));
    }
    Ok(Granted {
        user,
        resource,
        scopes: decision.granted,
    })
}

/// Continues a pending request for a signed-in session: code if consent is remembered,
/// else the consent page (or `consent_required` under `prompt=none`).
pub async fn decide(
    app: &AppState,
    pending: &PendingAuthorization,
    session: &Session,
) -> Result<Response, AuthorizeError> {
    let granted = evaluate(app, pending, session).await?;
    let r = &pending.request;
    let is_forced = r.prompt.iter().any(|p| p == "consent");
    let remembered = app
        .store
        .find_consent(
            &granted.user.id,
            &r.client_id,
            &r.redirect_uri,
            &r.resource_id,
        )
        .await?
        .filter(|c| c.revoked_at.is_none() && granted.scopes.iter().all(|s| c.scopes.contains(s)));
    if remembered.is_some() && !is_forced {
        return issue_code(app, pending, session, &granted).await;
    }
    if r.prompt.iter().any(|p| p == "none") {
        return Err(redirect_error(
            pending,
            PageCode::ConsentRequired,
            "the user has not approved this client",
        ));
    }
    let request = form_urlencoded::byte_serialize(pending.id.as_bytes()).collect::<String>();
    Ok(pages::redirect(
        &format!("/oauth/consent?request={request}"),
        StatusCode::SEE_OTHER,
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
