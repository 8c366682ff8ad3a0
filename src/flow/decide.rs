//! Deciding a pending authorization once the person is signed in: the grant still allowed
//! (client, user, organization, connection, resource), the resource's rules turned into
//! granted scopes (requested ∩ allowed, see `policy`), then a remembered consent (per user,
//! client, redirect URI and resource; never skipped for a new one) or the consent page.

use axum::http::StatusCode;
use axum::response::Response;

use super::code::issue_code;
use super::refuse::redirect_error;
use crate::oauth::authorize_error::AuthorizeError;
use crate::oauth::still_allowed::{self, Allowed, ConsentCheck, GrantParties, Refusal};
use crate::pages::{self, PageCode};
use crate::policy::{self, Decision, Identity, OrgContext};
use crate::state::AppState;
use crate::store::{
    AuthorizationRequest, GrantTarget, Organization, PendingAuthorization, Resource, Session,
    StoreError, User,
};

/// What the rules allow this person for this pending request.
pub struct Granted {
    pub user: User,
    pub resource: Resource,
    pub scopes: Vec<String>,
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
        target: r.target,
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
    // A login request asks for OpenID scopes only: no resource, no rules.
    if r.target == GrantTarget::Login {
        return Ok(Granted {
            user,
            resource,
            scopes: Vec::new(),
        });
    }
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

/// What a consent covers: the granted resource scopes, or for a login request (no resource)
/// the OpenID scopes it releases (`email`, `profile`, `offline_access` …), so a wider sign-in
/// is asked again.
pub fn consented_scopes(r: &AuthorizationRequest, granted: &Granted) -> Vec<String> {
    match r.target {
        GrantTarget::Resource => granted.scopes.clone(),
        GrantTarget::Login => r.oidc_scopes.clone(),
    }
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
        .filter(|c| {
            c.revoked_at.is_none()
                && consented_scopes(r, &granted)
                    .iter()
                    .all(|s| c.scopes.contains(s))
        });
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
