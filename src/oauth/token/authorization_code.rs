//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707): a single-use
//! code, redeemed by the client it was issued to, with the same redirect URI, the PKCE
//! verifier and the same resource, at an endpoint of the same issuer. A replayed code
//! revokes what it issued.

use super::{TokenResponse, issue_user_tokens};
use crate::app::AppState;
use crate::audit::AuditEvent;
use crate::crypto;
use crate::oauth::endpoint::Endpoint;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::form::{BasicAuth, FormParams};
use crate::oauth::pkce;
use crate::oauth::{access_token, client_auth};
use crate::store::Taken;

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
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let now = app.clock.now();
    let record = match app.store.take_code(&crypto::hash_secret(code), now).await? {
        Taken::Fresh(r) => r,
        Taken::Missing => return Err(OAuthError::invalid_grant("the code is unknown")),
        Taken::Replayed(r) => {
            // A used code presented again: revoke everything it issued.
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
            return Err(OAuthError::invalid_grant(
                "the code was already used; the tokens it issued are revoked",
            ));
        }
    };
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
    if !pkce::verify(&grant.code_challenge, verifier) {
        return Err(OAuthError::invalid_grant(
            "the PKCE code_verifier does not match",
        ));
    }
    if endpoint.issuer(app.issuer()) != grant.issuer {
        return Err(OAuthError::invalid_grant(
            "the code was issued by another endpoint",
        ));
    }
    let resource = app
        .store
        .find_resource(&grant.resource_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the resource no longer exists"))?;
    if let Some(r) = params.get("resource")
        && r != resource.id
        && r != resource.server_url
    {
        return Err(OAuthError::invalid_target(
            "resource differs from the authorization request",
        ));
    }
    let user = app
        .store
        .find_user(&grant.user_id)
        .await?
        .filter(|u| u.is_enabled)
        .ok_or_else(|| OAuthError::invalid_grant("the user is disabled"))?;
    // A code issued before an admin revoked the user's or the client's tokens goes with them.
    if access_token::is_cut_off(app.store.as_ref(), &client.id, &user.id, record.created_at).await?
    {
        return Err(OAuthError::invalid_grant(
            "the tokens of this user or client were revoked after this code was issued",
        ));
    }
    let issued = issue_user_tokens(
        app,
        &client,
        grant,
        &user,
        &resource,
        grant.scopes.clone(),
        None,
        "authorization_code",
    )
    .await?;
    app.store
        .record_code_tokens(&record.code_hash, &issued.jti, issued.family_id.as_deref())
        .await?;
    Ok(issued.response)
}
