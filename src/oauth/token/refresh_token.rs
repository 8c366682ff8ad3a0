//! The `refresh_token` grant (RFC 6749 §6, OAuth 2.1 §4.3): bound to client and resource,
//! rotated at every use; a rotated token presented again revokes the whole family; the
//! family has an absolute lifetime; the rules are evaluated again on the identity stored
//! at the last login, so the scope may narrow and never widens.

use super::{TokenResponse, issue_user_tokens};
use crate::app::AppState;
use crate::audit::AuditEvent;
use crate::crypto;
use crate::oauth::client_auth;
use crate::oauth::endpoint::Endpoint;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::form::{BasicAuth, FormParams};
use crate::oauth::scope;
use crate::store::{RefreshRecord, Taken};

/// A rotated token presented again: someone holds a copy. Kill the family.
async fn reuse_detected(
    app: &AppState,
    record: &RefreshRecord,
    now: i64,
) -> Result<OAuthError, OAuthError> {
    app.store.revoke_family(&record.family_id, now).await?;
    app.audit
        .record(AuditEvent::RefreshReuseDetected {
            client_id: record.grant.client_id.clone(),
            user_id: record.grant.user_id.clone(),
            family_id: record.family_id.clone(),
        })
        .await;
    Ok(OAuthError::invalid_grant(
        "the refresh token was already used; its family is revoked",
    ))
}

pub async fn exchange(
    app: &AppState,
    endpoint: &Endpoint,
    basic: BasicAuth,
    params: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    let client = client_auth::authenticate(app, basic, params).await?.client;
    if !client.has_grant("refresh_token") {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the refresh_token grant",
        ));
    }
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let now = app.clock.now();
    let hash = crypto::hash_secret(token);
    // Checks first, consumption last: a refused request leaves the token usable.
    let record = app
        .store
        .find_refresh(&hash)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token is unknown"))?;
    if record.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("the refresh token is revoked"));
    }
    if record.used_at.is_some() {
        return Err(reuse_detected(app, &record, now).await?);
    }
    let grant = &record.grant;
    if grant.client_id != client.id {
        app.store.revoke_family(&record.family_id, now).await?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if record.expires_at <= now || record.family_expires_at <= now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    if endpoint.issuer(app.issuer()) != grant.issuer {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued by another endpoint",
        ));
    }
    let Some(resource) = app.store.find_resource(&grant.resource_id).await? else {
        // Deleted: the family ends for good (a resource made again under the same id
        // does not bring it back).
        app.store.revoke_family(&record.family_id, now).await?;
        return Err(OAuthError::invalid_grant("the resource no longer exists"));
    };
    if let Some(r) = params.get("resource")
        && r != resource.id
        && r != resource.server_url
    {
        return Err(OAuthError::invalid_target(
            "a refresh token is bound to its resource",
        ));
    }

    // Never wider than the original grant.
    let ceiling = match params.get("scope") {
        None => grant.scopes.clone(),
        Some(text) => {
            let requested: Vec<String> = scope::parse(text)
                .map_err(OAuthError::invalid_scope)?
                .into_iter()
                .filter(|s| !scope::OIDC_SCOPES.contains(&s.as_str()))
                .collect();
            let narrowed = scope::intersect(&requested, &grant.scopes);
            if narrowed.is_empty()
                || requested
                    .iter()
                    .any(|r| scope::intersect(std::slice::from_ref(r), &grant.scopes).is_empty())
            {
                return Err(OAuthError::invalid_scope(
                    "a refresh may narrow the scope, never widen it",
                ));
            }
            narrowed
        }
    };

    // Evaluate again: disabled user, connection or organization, revoked consent, lost groups.
    let user = app
        .store
        .find_user(&grant.user_id)
        .await?
        .filter(|u| u.is_enabled);
    let org = app
        .store
        .find_organization(&grant.organization_id)
        .await?
        .filter(|o| o.is_enabled);
    let connection_ok = app
        .store
        .find_connection(&grant.connection_id)
        .await?
        .is_some_and(|c| c.is_enabled);
    let (Some(user), Some(org), true) = (user, org, connection_ok) else {
        app.store.revoke_family(&record.family_id, now).await?;
        return Err(OAuthError::invalid_grant(
            "the user, connection or organization is disabled",
        ));
    };
    let consent = app
        .store
        .find_consent(&user.id, &client.id, &grant.redirect_uri, &resource.id)
        .await?
        .filter(|c| c.revoked_at.is_none());
    if consent.is_none() {
        app.store.revoke_family(&record.family_id, now).await?;
        return Err(OAuthError::invalid_grant("the user's consent was revoked"));
    }
    let decision =
        crate::consent::rule_decision(app, &user, &org, &resource, Some(&ceiling)).await?;
    let scopes: Vec<String> = ceiling
        .iter()
        .filter(|s| decision.granted.contains(s))
        .cloned()
        .collect();
    if scopes.is_empty() {
        return Err(OAuthError::invalid_grant(
            "the rules no longer allow any of these scopes",
        ));
    }
    match app.store.take_refresh(&hash, now).await? {
        Taken::Fresh(_) => {}
        Taken::Replayed(r) => return Err(reuse_detected(app, &r, now).await?),
        Taken::Missing => return Err(OAuthError::invalid_grant("the refresh token is unknown")),
    }
    let issued = issue_user_tokens(
        app,
        &client,
        grant,
        &user,
        &resource,
        scopes.clone(),
        Some(&record),
        "refresh_token",
    )
    .await?;
    app.audit
        .record(AuditEvent::RefreshRotated {
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            family_id: record.family_id.clone(),
            scopes,
        })
        .await;
    Ok(issued.response)
}
