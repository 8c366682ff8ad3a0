//! OpenID Connect ID tokens for the authorization code flow (OIDC Core §2, §3.1.3.6):
//! `sub email name oid amr sid nonce at_hash` with `aud` = the client.

use serde::Serialize;

use crate::crypto;
use crate::keys::{KeyError, KeyRing};
use crate::store::{Grant, User};

pub const ID_TOKEN_TTL: i64 = 300;

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    sid: &'a str,
    oid: &'a str,
    amr: [&'a str; 1],
    at_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// OIDC Core §3.1.3.6: base64url of the left half of the hash of the access token.
pub fn at_hash(access_token: &str) -> String {
    let digest = crypto::sha256(access_token.as_bytes());
    crypto::b64url(&digest[..16])
}

pub fn mint(
    keys: &KeyRing,
    grant: &Grant,
    user: &User,
    access_token: &str,
    now: i64,
) -> Result<String, KeyError> {
    let wants = |s: &str| grant.oidc_scopes.iter().any(|x| x == s);
    let claims = IdTokenClaims {
        iss: &grant.issuer,
        sub: &user.id,
        aud: &grant.client_id,
        exp: now + ID_TOKEN_TTL,
        iat: now,
        auth_time: grant.auth_time,
        nonce: grant.nonce.as_deref(),
        sid: &grant.session_id,
        oid: &grant.organization_id,
        amr: [&grant.connection_id],
        at_hash: at_hash(access_token),
        email: if wants("email") || wants("openid") {
            user.email.as_deref()
        } else {
            None
        },
        email_verified: (wants("email") && user.email.is_some()).then_some(user.is_email_verified),
        name: if wants("profile") || wants("openid") {
            user.name.as_deref()
        } else {
            None
        },
    };
    Ok(keys.sign("JWT", &claims)?.0)
}
