//! JWT access tokens (RFC 9068 profile, Scalekit-compatible claims): header `alg`, `kid`,
//! `typ: at+jwt`; claims `iss sub aud exp iat nbf jti client_id scope scopes` and `oid`,
//! `sid` where they apply. Nothing else. `aud` is the resource id and its server URL, or a
//! login app's own id; `iss` follows the resource's `token_issuer` ([`token_issuer`]).

use serde::Serialize;

use crate::ids;
use crate::keys::{KeyError, KeyRing};
use crate::store::{AccessTokenStatus, Resource, Store, StoreResult, TokenIssuer};

#[derive(Debug, Serialize)]
pub struct AccessTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: Vec<&'a str>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: &'a str,
    pub client_id: &'a str,
    pub scope: String,
    pub scopes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    /// An organization client's custom claims (never one of the names above).
    #[serde(flatten)]
    pub extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// What the caller needs to know about a token it minted.
#[derive(Debug)]
pub struct MintedToken {
    pub jwt: String,
    pub jti: String,
    pub expires_in: i64,
}

pub struct TokenSubject<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub organization_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    /// Claims added to the token (an organization client's custom claims).
    pub extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

pub fn mint(
    keys: &KeyRing,
    who: &TokenSubject<'_>,
    resource: &Resource,
    scopes: &[String],
    now: i64,
) -> Result<MintedToken, KeyError> {
    mint_for(
        keys,
        who,
        &resource.audience(),
        resource.access_token_ttl,
        scopes,
        now,
    )
}

/// A token for `audience` living `ttl` seconds.
pub fn mint_for(
    keys: &KeyRing,
    who: &TokenSubject<'_>,
    audience: &[&str],
    ttl: i64,
    scopes: &[String],
    now: i64,
) -> Result<MintedToken, KeyError> {
    let jti = ids::generate("tkn");
    let claims = AccessTokenClaims {
        iss: who.issuer,
        sub: who.subject,
        aud: audience.to_vec(),
        exp: now + ttl,
        // iat and nbf are the issue time, never in the future (no SDK leeway).
        iat: now,
        nbf: now,
        jti: &jti,
        client_id: who.client_id,
        scope: scopes.join(" "),
        scopes,
        oid: who.organization_id,
        sid: who.session_id,
        extra: who.extra,
    };
    let (jwt, _kid) = keys.sign("at+jwt", &claims)?;
    Ok(MintedToken {
        jwt,
        jti,
        expires_in: ttl,
    })
}

/// The `iss` of an access token for `resource` issued at an endpoint whose issuer is
/// `endpoint_issuer`: that issuer, unless the resource asks for the environment's.
pub fn token_issuer(
    endpoint_issuer: &str,
    environment_issuer: &str,
    resource: &Resource,
) -> String {
    match resource.token_issuer {
        TokenIssuer::Resource => endpoint_issuer,
        TokenIssuer::Environment => environment_issuer,
    }
    .to_string()
}

/// The claims of `token` if it is one of our access tokens (signature, `typ: at+jwt`, so
/// never an ID token) and live now (see [`is_live`]).
pub async fn verify_live(
    keys: &KeyRing,
    store: &dyn Store,
    token: &str,
    now: i64,
) -> StoreResult<Option<serde_json::Value>> {
    let Some((header, claims)) = keys.verify(token) else {
        return Ok(None);
    };
    if header["typ"] != "at+jwt" || !is_live(store, &claims, now).await? {
        return Ok(None);
    }
    Ok(Some(claims))
}

/// Whether the verified claims of one of our access tokens are live now: within
/// `nbf`..`exp`, with a `jti` that was not revoked, in a token family that was not revoked
/// (user grants), or else (client credentials) issued after any cut-off of its client's
/// tokens (an admin's "revoke its tokens") and of its user's (revoked, disabled or deleted
/// by an admin).
pub async fn is_live(store: &dyn Store, claims: &serde_json::Value, now: i64) -> StoreResult<bool> {
    let (Some(exp), Some(nbf), Some(jti)) = (
        claims["exp"].as_i64(),
        claims["nbf"].as_i64(),
        claims["jti"].as_str(),
    ) else {
        return Ok(false);
    };
    if exp <= now || nbf > now {
        return Ok(false);
    }
    match store.access_token_status(jti).await? {
        AccessTokenStatus::Revoked => return Ok(false),
        // Revocations of its user or client marked the family: ordered, not timed, so a
        // token issued after a user was enabled again in the same second lives.
        AccessTokenStatus::LiveFamily => return Ok(true),
        AccessTokenStatus::Unrecorded => {}
    }
    let client_id = claims["client_id"].as_str().unwrap_or_default();
    let sub = claims["sub"].as_str().unwrap_or_default();
    // Without `iat` a token counts as issued before any cut-off.
    let iat = claims["iat"].as_i64().unwrap_or(i64::MIN);
    Ok(!is_cut_off(store, client_id, sub, iat).await?)
}

/// Whether what was issued at `issued_at` to `client_id` for `subject` (an access token, a
/// code) is at or before an admin's cut-off of the client's tokens or of the user's (revoked,
/// disabled or deleted).
pub async fn is_cut_off(
    store: &dyn Store,
    client_id: &str,
    subject: &str,
    issued_at: i64,
) -> StoreResult<bool> {
    let before = |cutoff: Option<i64>| cutoff.is_some_and(|c| issued_at <= c);
    if before(store.client_tokens_cutoff(client_id).await?) {
        return Ok(true);
    }
    // `subject` is the user, or the client itself for client_credentials (not a user).
    Ok(subject != client_id && before(store.user_tokens_cutoff(subject).await?))
}
