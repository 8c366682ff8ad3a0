//! The `refresh_token` grant (RFC 6749 §6, OAuth 2.1 §4.3): bound to client and resource,
//! rotated at every use (the old token consumed and the new one stored in one transaction);
//! a rotated token presented again revokes the whole family, access tokens included; the
//! family has an absolute lifetime; the grant must still be allowed; the rules are evaluated again on the identity stored
//! at the last login, so the scope may narrow and never widens.

use super::{TokenResponse, prepare_user_tokens, record_issued};
use crate::audit::AuditEvent;
use crate::crypto;
use crate::oauth::client_auth;
use crate::oauth::endpoint::Endpoint;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::form::{BasicAuth, FormParams};
use crate::oauth::scope;
use crate::oauth::still_allowed::{self, ConsentCheck, GrantParties};
use crate::state::AppState;
use crate::store::{GrantTarget, NewFamily, Redeemed, RefreshRecord};

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
    if record.revoked_at.is_some() || record.is_family_revoked {
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
    // Evaluate again: the client's right to the resource, a deleted resource, a disabled
    // user, connection or organization, a revoked consent.
    let parties = GrantParties::of(&client, grant);
    let allowed = match still_allowed::check(app, &parties, ConsentCheck::AfterConsent).await? {
        Ok(allowed) => allowed,
        Err(refusal) => {
            if refusal.ends_family() {
                // For good: a resource made again under the same id, a user enabled again,
                // brings nothing back.
                app.store.revoke_family(&record.family_id, now).await?;
            }
            return Err(OAuthError::invalid_grant(refusal.description()));
        }
    };
    let resource = &allowed.resource;
    if let Some(r) = params.get("resource")
        && r != resource.id
        && r != resource.server_url
    {
        return Err(OAuthError::invalid_target(
            "a refresh token is bound to its resource",
        ));
    }

    let scopes = match grant.target {
        // A login grant carries OpenID scopes only: no rules to evaluate.
        GrantTarget::Login => Vec::new(),
        GrantTarget::Resource => {
            let ceiling = narrowed_scopes(params.get("scope"), &grant.scopes)?;
            // The rules again, on the identity stored at the last login: lost groups lose
            // scopes.
            let decision = crate::flow::rule_decision(
                app,
                &allowed.user,
                &allowed.organization,
                resource,
                Some(&ceiling),
            )
            .await?;
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
            scopes
        }
    };
    let family = NewFamily {
        id: record.family_id.clone(),
        client_id: client.id.clone(),
        user_id: grant.user_id.clone(),
        created_at: record.created_at,
        expires_at: record.family_expires_at,
    };
    let prepared = prepare_user_tokens(
        app,
        &client,
        grant,
        &allowed.user,
        resource,
        &scopes,
        family,
        Some(&record),
        None,
    )?;
    match app
        .store
        .rotate_refresh(&hash, now, &prepared.issuance)
        .await?
    {
        Redeemed::Done => {}
        // Rotated concurrently: this presentation is the reuse.
        Redeemed::Used(r) => return Err(reuse_detected(app, &r, now).await?),
        Redeemed::Revoked => return Err(OAuthError::invalid_grant("the refresh token is revoked")),
        Redeemed::Missing => return Err(OAuthError::invalid_grant("the refresh token is unknown")),
    }
    record_issued(
        app,
        &client,
        grant,
        resource,
        scopes.clone(),
        &prepared.issuance,
        "refresh_token",
    )
    .await?;
    app.audit
        .record(AuditEvent::RefreshRotated {
            client_id: client.id.clone(),
            user_id: grant.user_id.clone(),
            family_id: record.family_id.clone(),
            scopes,
        })
        .await;
    Ok(prepared.response)
}

/// The scopes a refresh asks for: the original grant's, or a narrower `scope`; never wider.
fn narrowed_scopes(requested: Option<&str>, granted: &[String]) -> Result<Vec<String>, OAuthError> {
    let Some(text) = requested else {
        return Ok(granted.to_vec());
    };
    let requested: Vec<String> = scope::parse(text)
        .map_err(OAuthError::invalid_scope)?
        .into_iter()
        .filter(|s| !scope::OIDC_SCOPES.contains(&s.as_str()))
        .collect();
    let narrowed = scope::intersect(&requested, granted);
    if narrowed.is_empty()
        || requested
            .iter()
            .any(|r| scope::intersect(std::slice::from_ref(r), granted).is_empty())
    {
        return Err(OAuthError::invalid_scope(
            "a refresh may narrow the scope, never widen it",
        ));
    }
    Ok(narrowed)
}
