//! Records of the authorization code flow: users, browser sessions, pending
//! authorizations, codes, refresh tokens, consents.

use serde::{Deserialize, Serialize};

/// A person as an upstream connection asserted them, updated at each login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub connection_id: String,
    pub organization_id: String,
    pub subject: String,
    pub email: Option<String>,
    pub is_email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub is_enabled: bool,
    pub last_login_at: i64,
}

/// A browser session. The cookie carries a random token; only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub token_hash: String,
    pub user_id: String,
    pub connection_id: String,
    pub organization_id: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

/// What a grant's tokens are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantTarget {
    /// An MCP server (`resource_id`): what every MCP client asks for.
    #[default]
    Resource,
    /// The login app itself (a request at an environment endpoint naming no resource):
    /// `resource_id` holds the client's id, and the tokens carry `aud: [client_id]`.
    Login,
}

/// A validated authorization request waiting for login and consent, kept server-side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub resource_id: String,
    #[serde(default)]
    pub target: GrantTarget,
    /// The issuer of the endpoint the request arrived at.
    pub issuer: String,
    /// Resource scopes asked for; `None` when `scope` was omitted.
    pub scopes: Option<Vec<String>>,
    /// OIDC scopes asked for (`openid`, `profile`, `email`, `offline_access`).
    pub oidc_scopes: Vec<String>,
    pub state: Option<String>,
    /// `None` only for a login app whose PKCE is optional (then `nonce` is required).
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub organization_id: Option<String>,
    pub connection_id: Option<String>,
    pub domain_hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    pub id: String,
    pub request: AuthorizationRequest,
    pub session_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub finished_at: Option<i64>,
}

/// What a code (and the refresh tokens that descend from it) grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: String,
    pub user_id: String,
    pub session_id: String,
    pub organization_id: String,
    pub connection_id: String,
    pub resource_id: String,
    #[serde(default)]
    pub target: GrantTarget,
    pub redirect_uri: String,
    pub issuer: String,
    /// Granted resource scopes: the ceiling for every refresh.
    pub scopes: Vec<String>,
    pub oidc_scopes: Vec<String>,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub auth_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub code_hash: String,
    pub grant: Grant,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub access_jti: Option<String>,
    /// The token family the code opens (created with the code; `None` only for codes
    /// issued before families existed).
    pub family_id: Option<String>,
    /// The family was revoked (a replay, or an admin revoking the user or the client).
    pub is_family_revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub token_hash: String,
    pub family_id: String,
    pub grant: Grant,
    pub created_at: i64,
    pub expires_at: i64,
    pub family_expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The whole family was revoked (reuse, a code replay, an admin's revocation).
    pub is_family_revoked: bool,
}

/// A token family as it is created, with its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFamily {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub created_at: i64,
    /// At least as late as anything the family may issue.
    pub expires_at: i64,
}

/// What one code redemption or refresh rotation stores, all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuance {
    pub family: NewFamily,
    pub access_jti: String,
    pub access_expires_at: i64,
    pub refresh: Option<RefreshRecord>,
}

/// The result of redeeming a code or rotating a refresh token in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed<T> {
    /// Consumed, and the issuance stored.
    Done,
    /// Already used (a replay or reuse): nothing was stored; the record is returned so
    /// its family can be revoked.
    Used(T),
    /// Its family (or the token itself) is revoked: nothing was stored.
    Revoked,
    Missing,
}

/// What portcullis knows of an access token's `jti`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessTokenStatus {
    /// Revoked on its own (RFC 7009) or with its family.
    Revoked,
    /// Issued for a user grant whose family is live.
    LiveFamily,
    /// Not recorded with a family (client credentials, or issued before families).
    Unrecorded,
}

/// The result of consuming a single-use item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken<T> {
    /// First use: now marked used.
    Fresh(T),
    /// Already used before (a replay); the record is returned so its descendants can be revoked.
    Replayed(T),
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consent {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub resource_id: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// An upstream login in flight: `secrets` holds, sealed, the OIDC nonce and PKCE verifier
/// or the SAML AuthnRequest ID; `browser_hash` is the hash of the cookie that binds it to
/// the browser that started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamLogin {
    pub state_hash: String,
    pub connection_id: String,
    pub pending_id: String,
    pub browser_hash: String,
    pub secrets: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}
