//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707): a single-use
//! code, redeemed by the client it was issued to, with the same redirect URI, the PKCE
//! verifier and the same resource, at an endpoint of the same issuer, while the grant is
//! still allowed. The code is consumed and its tokens stored in one transaction; a replayed
//! code revokes its whole token family.

use super::{TokenResponse, prepare_user_tokens, record_issued};
use crate::audit::AuditEvent;
use crate::crypto;
use crate::oauth::endpoint::Endpoint;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::form::{BasicAuth, FormParams};
use crate::oauth::pkce;
use crate::oauth::still_allowed::{self, ConsentCheck, GrantParties};
use crate::oauth::{access_token, client_auth};
use crate::state::AppState;
use crate::store::{CodeRecord, NewFamily, Redeemed};

pub async fn exchange(
    app: &AppState,
    endpoint: &Endpoint,
    basic: BasicAuth,
    params: &FormParams,
) -> Result<TokenResponse, OAuthError> {
    let authed = client_auth::authenticate(app, basic, params).await?;
    let client = authed.client;
    if !client.has_grant("authorization_code") {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization_code grant",
        ));
    }
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let now = app.clock.now();
    let hash = crypto::hash_secret(code);
    // Checks first, consumption last: a request refused for the wrong client, verifier or
    // redirect URI leaves the code unused (and is not a replay).
    let record = app
        .store
        .find_code(&hash)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the code is unknown"))?;
    if record.used_at.is_some() {
        return Err(replayed(app, &record, now).await?);
    }
    let grant = &record.grant;
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    match params.get("redirect_uri") {
        Some(uri) if uri == grant.redirect_uri => {}
        Some(_) => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        None if client.redirect_uris.len() == 1 => {}
        None => return Err(OAuthError::invalid_request("redirect_uri is required")),
    }
    match (grant.code_challenge.as_deref(), params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !pkce::verify(challenge, verifier) {
                return Err(OAuthError::invalid_grant(
                    "the PKCE code_verifier does not match",
                ));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "code_verifier is required (PKCE)",
            ));
        }
        // RFC 9700 §2.1.1: a verifier for a code requested without a challenge is a PKCE
        // downgrade attempt (an attacker's code injected into a flow that used PKCE).
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "the authorization request had no code_challenge: code_verifier is refused",
            ));
        }
        // A confidential login app's request with a nonce (its ID token carries it); the
        // client authenticated with its secret above.
        (None, None) => {}
    }
    if endpoint.issuer(app.issuer()) != grant.issuer {
        return Err(OAuthError::invalid_grant(
            "the code was issued by another endpoint",
        ));
    }
    let revoked = || {
        OAuthError::invalid_grant(
            "the tokens of this user or client were revoked after this code was issued",
        )
    };
    if record.is_family_revoked {
        return Err(revoked());
    }
    // A code issued before families existed: an admin's cut-off decides.
    if record.family_id.is_none()
        && access_token::is_cut_off(
            app.store.as_ref(),
            &client.id,
            &grant.user_id,
            record.created_at,
        )
        .await?
    {
        return Err(revoked());
    }
    let parties = GrantParties::of(&client, grant);
    let allowed = still_allowed::check(app, &parties, ConsentCheck::AfterConsent)
        .await?
        .map_err(|refusal| OAuthError::invalid_grant(refusal.description()))?;
    if let Some(r) = params.get("resource")
        && r != allowed.resource.id
        && r != allowed.resource.server_url
    {
        return Err(OAuthError::invalid_target(
            "resource differs from the authorization request",
        ));
    }
    let family = NewFamily {
        id: record
            .family_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
        client_id: client.id.clone(),
        user_id: grant.user_id.clone(),
        created_at: now,
        expires_at: now + allowed.resource.refresh_token_ttl,
    };
    let prepared = prepare_user_tokens(
        app,
        &client,
        grant,
        &allowed.user,
        &allowed.resource,
        &grant.scopes,
        family,
        None,
        Some(code),
    )?;
    match app
        .store
        .redeem_code(&hash, now, &prepared.issuance)
        .await?
    {
        Redeemed::Done => {}
        // Redeemed concurrently: this presentation is the replay.
        Redeemed::Used(r) => return Err(replayed(app, &r, now).await?),
        Redeemed::Revoked => return Err(revoked()),
        Redeemed::Missing => return Err(OAuthError::invalid_grant("the code is unknown")),
    }
    record_issued(
        app,
        &client,
        grant,
        &allowed.resource,
        grant.scopes.clone(),
        &prepared.issuance,
        "authorization_code",
    )
    .await?;
    Ok(prepared.response)
}

/// A used code presented again: revoke everything it issued (its whole family).
async fn replayed(app: &AppState, r: &CodeRecord, now: i64) -> Result<OAuthError, OAuthError> {
    // Codes redeemed before families existed recorded their access token alone.
    if let Some(jti) = &r.access_jti {
        app.store.revoke_access_token(jti, now + 86_400).await?;
    }
    if let Some(family) = &r.family_id {
        app.store.revoke_family(family, now).await?;
    }
    app.audit
        .record(AuditEvent::CodeReplayDetected {
            client_id: r.grant.client_id.clone(),
            user_id: r.grant.user_id.clone(),
            revoked_jti: r.access_jti.clone(),
            revoked_family: r.family_id.clone(),
        })
        .await;
    Ok(OAuthError::invalid_grant(
        "the code was already used; the tokens it issued are revoked",
    ))
}
