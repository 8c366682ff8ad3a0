//! OpenID Connect ID tokens for the authorization code flow (OIDC Core §2, §3.1.3.6):
//! `sub oid amr sid nonce at_hash c_hash` with `aud` = `[client]` and `azp` = the client
//! (the shape Scalekit's SDKs read: `amr[0]` is the connection, `oid` the organization),
//! and the profile claims the granted scopes ask for (OIDC Core §5.4), the same ones
//! userinfo answers.

use serde::Serialize;

use crate::crypto;
use crate::keys::{KeyError, KeyRing};
use crate::store::{Grant, User};

pub const ID_TOKEN_TTL: i64 = 300;

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: [&'a str; 1],
    azp: &'a str,
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
    c_hash: Option<String>,
    #[serde(flatten)]
    profile: ProfileClaims<'a>,
}

/// OIDC Core §3.1.3.6 (`at_hash`) and §3.3.2.11 (`c_hash`): base64url of the left half
/// of the SHA-256 of the access token or the code.
pub fn half_hash(value: &str) -> String {
    let digest = crypto::sha256(value.as_bytes());
    crypto::b64url(&digest[..16])
}

/// The user claims the granted OIDC scopes release (OIDC Core §5.4): `email` and
/// `email_verified` with `email`; `name`, and `given_name`, `family_name`,
/// `preferred_username` where the upstream asserted them, with `profile`. No scope asks for
/// groups.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProfileClaims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<&'a str>,
}

pub fn profile_claims<'a>(user: &'a User, scopes: &[impl AsRef<str>]) -> ProfileClaims<'a> {
    let wants = |s: &str| scopes.iter().any(|x| x.as_ref() == s);
    let email = if wants("email") {
        user.email.as_deref()
    } else {
        None
    };
    let profile = |key: &str| {
        if wants("profile") {
            user.attributes.get(key).and_then(serde_json::Value::as_str)
        } else {
            None
        }
    };
    ProfileClaims {
        email,
        email_verified: email.map(|_| user.is_email_verified),
        name: if wants("profile") {
            user.name.as_deref()
        } else {
            None
        },
        given_name: profile("given_name"),
        family_name: profile("family_name"),
        preferred_username: profile("preferred_username"),
    }
}

pub fn mint(
    keys: &KeyRing,
    grant: &Grant,
    user: &User,
    access_token: &str,
    code: Option<&str>,
    now: i64,
) -> Result<String, KeyError> {
    let claims = IdTokenClaims {
        iss: &grant.issuer,
        sub: &user.id,
        aud: [&grant.client_id],
        azp: &grant.client_id,
        exp: now + ID_TOKEN_TTL,
        iat: now,
        auth_time: grant.auth_time,
        nonce: grant.nonce.as_deref(),
        sid: &grant.session_id,
        oid: &grant.organization_id,
        amr: [&grant.connection_id],
        at_hash: half_hash(access_token),
        c_hash: code.map(half_hash),
        profile: profile_claims(user, &grant.oidc_scopes),
    };
    Ok(keys.sign("JWT", &claims)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: "usr_1".into(),
            connection_id: "conn_1".into(),
            organization_id: "org_1".into(),
            subject: "s".into(),
            email: Some("a@example.com".into()),
            is_email_verified: true,
            name: Some("A".into()),
            groups: vec!["jira-admins".into()],
            attributes: Default::default(),
            is_enabled: true,
            last_login_at: 0,
        }
    }

    #[test]
    fn profile_claims_follow_the_scopes() {
        let u = user();
        assert_eq!(profile_claims(&u, &["openid"]), ProfileClaims::default());
        let email = profile_claims(&u, &["openid", "email"]);
        assert_eq!(
            (email.email, email.email_verified, email.name),
            (Some("a@example.com"), Some(true), None)
        );
        let profile = profile_claims(&u, &["openid", "profile"]);
        assert_eq!((profile.email, profile.name), (None, Some("A")));
        let mut named = user();
        named
            .attributes
            .insert("given_name".into(), serde_json::json!("Ann"));
        named
            .attributes
            .insert("family_name".into(), serde_json::json!(["not", "text"]));
        let profile = profile_claims(&named, &["profile"]);
        assert_eq!(
            (profile.given_name, profile.family_name),
            (Some("Ann"), None)
        );
        assert_eq!(profile_claims(&named, &["email"]).given_name, None);
        let no_address = User {
            email: None,
            ..user()
        };
        assert_eq!(profile_claims(&no_address, &["email"]).email_verified, None);
    }
}
