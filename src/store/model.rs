//! Domain records as the store reads and writes them. Lists and documents are JSON text
//! in the database; these types hold them parsed.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeDef {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// An MCP server (protected resource) and the policy for clients that want its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub id: String,
    pub name: String,
    pub server_url: String,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub is_dcr_enabled: bool,
    pub is_cimd_enabled: bool,
    pub cimd_allowlist: Vec<String>,
    pub scopes: Vec<ScopeDef>,
    /// The `iss` of this resource's access tokens.
    pub token_issuer: TokenIssuer,
    /// Accepts identity assertion grants (ID-JAG, Cross-App Access).
    pub is_xaa_enabled: bool,
    /// When its user grants come with a refresh token.
    pub refresh_tokens: RefreshPolicy,
}

/// When a resource's user grants come with a refresh token (seed and admin key
/// `refresh_tokens`); the client must hold the `refresh_token` grant in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefreshPolicy {
    /// `always` (the default).
    #[default]
    Always,
    /// `offline_access`: only when the client asked for `offline_access`.
    OfflineAccess,
    /// `never`: the person signs in again through SSO when the access token expires.
    Never,
}

impl RefreshPolicy {
    pub const ALL: [Self; 3] = [Self::Always, Self::OfflineAccess, Self::Never];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::OfflineAccess => "offline_access",
            Self::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a grant that asked for `oidc_scopes` gets a refresh token.
    pub fn allows(self, oidc_scopes: &[String]) -> bool {
        match self {
            Self::Always => true,
            Self::OfflineAccess => oidc_scopes.iter().any(|s| s == "offline_access"),
            Self::Never => false,
        }
    }
}

/// How long a login app's access tokens live (Scalekit's login tokens: five minutes).
pub const LOGIN_ACCESS_TOKEN_TTL: i64 = 300;
/// How long a login app's refresh-token family lives.
pub const LOGIN_REFRESH_TOKEN_TTL: i64 = 7 * 86_400;

impl Resource {
    pub fn scope_names(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(|s| s.name.as_str())
    }

    /// What a login app's tokens are for: the application itself (`aud: [client_id]`),
    /// with no resource scopes and the environment issuer.
    pub fn login_app(client: &Client) -> Resource {
        Resource {
            id: client.id.clone(),
            name: client.name.clone(),
            server_url: String::new(),
            access_token_ttl: LOGIN_ACCESS_TOKEN_TTL,
            refresh_token_ttl: LOGIN_REFRESH_TOKEN_TTL,
            is_dcr_enabled: false,
            is_cimd_enabled: false,
            cimd_allowlist: Vec::new(),
            scopes: Vec::new(),
            token_issuer: TokenIssuer::Environment,
            is_xaa_enabled: false,
            refresh_tokens: RefreshPolicy::Always,
        }
    }

    /// The access token's `aud`: the resource id and its server URL (a login app: its id).
    pub fn audience(&self) -> Vec<&str> {
        [self.id.as_str(), self.server_url.as_str()]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect()
    }
}

/// The `iss` of a resource's access tokens (seed and admin key `token_issuer`). The
/// authorization server metadata and the `iss` authorization-response parameter keep the
/// endpoint's issuer either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenIssuer {
    /// `resource` (the default): the issuer of the endpoint the token came from.
    #[default]
    Resource,
    /// `environment`: the environment issuer, what Scalekit's docs validate with.
    Environment,
}

impl TokenIssuer {
    pub const ALL: [Self; 2] = [Self::Resource, Self::Environment];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resource => "resource",
            Self::Environment => "environment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether a client's authorization requests must carry a PKCE challenge (seed and admin
/// key `pkce`). `Optional` is for confidential login apps only, and then only for requests
/// that name no resource and ask for `openid` with a `nonce` (RFC 9700 §2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PkceMode {
    #[default]
    Required,
    Optional,
}

impl PkceMode {
    pub const ALL: [Self; 2] = [Self::Required, Self::Optional];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Optional => "optional",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a client came to exist; decides which grants and resources it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Seeded or admin-created.
    Static,
    /// Registered through RFC 7591 dynamic client registration.
    Dynamic,
    /// A Client ID Metadata Document (the client id is an https URL).
    Metadata,
    /// An organization's machine-to-machine client (`m2morg_…`): client credentials only,
    /// several live secrets, its tokens shaped by its settings ([`OrgClientSettings`]).
    Organization,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Dynamic => "dynamic",
            Self::Metadata => "metadata",
            Self::Organization => "organization",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "static" => Some(Self::Static),
            "dynamic" => Some(Self::Dynamic),
            "metadata" => Some(Self::Metadata),
            "organization" => Some(Self::Organization),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub kind: ClientKind,
    /// Hex SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    /// 0 = never.
    pub secret_expires_at: i64,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Static clients: the resources they may get tokens for.
    pub resources: Vec<String>,
    /// Dynamic clients registered at a resource's own endpoint are bound to it.
    pub bound_resource_id: Option<String>,
    /// Static clients: the scopes they may be granted (resource scopes or contextual forms).
    pub scopes: Vec<String>,
    pub has_introspection: bool,
    pub pkce: PkceMode,
    pub application_type: String,
    /// The registration metadata echoed back to dynamic clients (RFC 7591 §3.2.1).
    pub metadata: serde_json::Value,
    pub created_at: i64,
    /// An organization client's organization.
    pub organization_id: Option<String>,
    /// An organization client's [`OrgClientSettings`] (JSON); `{}` for the others.
    pub settings: serde_json::Value,
}

impl Client {
    /// No credential: an organization client's secrets are kept apart ([`ClientSecret`]),
    /// and a `private_key_jwt` client signs with its keys.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
            && self.kind != ClientKind::Organization
            && self.token_endpoint_auth_method != "private_key_jwt"
    }
    /// An organization client's settings (defaults for any other client).
    pub fn org_settings(&self) -> OrgClientSettings {
        serde_json::from_value(self.settings.clone()).unwrap_or_default()
    }
    pub fn has_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
    /// A login app (Scalekit's full-stack-auth and SSO clients): an admin-created
    /// confidential client, which may get tokens for itself at the environment endpoints.
    pub fn is_login_app(&self) -> bool {
        self.kind == ClientKind::Static && !self.is_public()
    }
}

/// What an organization client's tokens carry (Scalekit's `OrganizationClient`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrgClientSettings {
    pub description: String,
    /// The scopes it may be granted (all of them when a request names none).
    pub scopes: Vec<String>,
    /// Its tokens' `aud` (its own id when empty).
    pub audience: Vec<String>,
    /// Claims added to its tokens, as strings.
    pub custom_claims: Vec<CustomClaim>,
    /// Its tokens' lifetime in seconds.
    pub expiry: i64,
}

impl Default for OrgClientSettings {
    fn default() -> Self {
        Self {
            description: String::new(),
            scopes: Vec::new(),
            audience: Vec::new(),
            custom_claims: Vec::new(),
            expiry: 3600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomClaim {
    pub key: String,
    pub value: String,
}

/// One of an organization client's secrets: only its hash and last characters are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSecret {
    pub id: String,
    pub client_id: String,
    pub secret_hash: String,
    /// The secret's last four characters, to tell secrets apart.
    pub secret_suffix: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub id: String,
    pub alg: String,
    /// Public JWK (JSON text) including `kid`, `alg`, `use`.
    pub public_jwk: String,
    /// The private key (DER), sealed with the secret key, the id as associated data.
    pub private_key: String,
    pub created_at: i64,
    /// When it becomes the signing key. Published from `created_at` on.
    pub activate_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub domains: Vec<String>,
    pub is_enabled: bool,
    /// Where its IdP-initiated logins go when the connection names no URL of its own.
    pub initiate_login_uri: Option<String>,
}

/// How far an OIDC connection believes the IdP's `email_verified` (seed and admin key
/// `trust_email_verified`). An IdP vouches for its organization's domains; for another
/// company's addresses it is no authority unless an admin says so (a consumer IdP that
/// verifies every address it asserts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailVerifiedTrust {
    /// `organization_domains` (the default): only in one of the organization's domains.
    #[default]
    OrganizationDomains,
    /// `any_domain`: for every address.
    AnyDomain,
}

impl EmailVerifiedTrust {
    /// The connection setting that holds it.
    pub const KEY: &'static str = "trust_email_verified";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrganizationDomains => "organization_domains",
            Self::AnyDomain => "any_domain",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "organization_domains" => Some(Self::OrganizationDomains),
            "any_domain" => Some(Self::AnyDomain),
            _ => None,
        }
    }

    /// A connection's setting; absent or unknown is the default (fail closed).
    pub fn from_settings(settings: &serde_json::Value) -> Self {
        settings
            .get(Self::KEY)
            .and_then(serde_json::Value::as_str)
            .and_then(Self::parse)
            .unwrap_or_default()
    }
}

/// The upstream a connection signs users in through. Stored as its text name, which is
/// also its seed, admin form and API spelling; parsed once when the row is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    /// The built-in form where a tester types any identity (dev and tests only).
    IdpSimulator,
    /// An OpenID Connect provider; portcullis is its relying party.
    Oidc,
    /// A SAML 2.0 identity provider; portcullis is its service provider.
    Saml,
    /// Bring-your-own-auth: the application's own login (its `login_url`) signs the person
    /// in and posts who they are.
    Custom,
}

impl ConnectionKind {
    /// Every kind, in the order the admin form offers them.
    pub const ALL: [Self; 4] = [Self::IdpSimulator, Self::Oidc, Self::Saml, Self::Custom];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdpSimulator => "idp_simulator",
            Self::Oidc => "oidc",
            Self::Saml => "saml",
            Self::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub organization_id: String,
    pub kind: ConnectionKind,
    pub is_enabled: bool,
    /// Kind-specific settings; secrets inside are sealed.
    pub settings: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    /// A label for admins (may be empty); presentation only.
    pub name: String,
    pub resource_id: String,
    pub organization_id: Option<String>,
    pub conditions: super::Conditions,
    pub grants: Vec<String>,
    pub effect: super::RuleEffect,
    pub position: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub username: String,
    pub password_hash: String,
}

/// One audit event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub id: String,
    pub at: i64,
    pub kind: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub resource_id: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub kind: Option<String>,
    pub client_id: Option<String>,
    pub limit: i64,
}

/// The admin's audit search: every set field must match; `since`/`until` bound `at`
/// (inclusive); newest first, `offset` events skipped (paging).
#[derive(Debug, Clone, Default)]
pub struct AuditSearch {
    pub kind: Option<String>,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub resource_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// An admin's browser session. The cookie carries a random token; only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub id: String,
    pub token_hash: String,
    pub username: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    /// When the session was last used (at most [`crate::admin::login::TOUCH_EVERY`] stale).
    pub last_seen_at: i64,
}

/// A validated seed, ready to write in one transaction.
#[derive(Debug, Clone, Default)]
pub struct SeedPlan {
    pub organizations: Vec<Organization>,
    pub connections: Vec<Connection>,
    pub resources: Vec<Resource>,
    pub rules: Vec<Rule>,
    pub clients: Vec<Client>,
    pub admins: Vec<Admin>,
}

/// What deleting an organization, connection or resource did. Only what nothing refers to
/// any more is deleted (a user, rule, client or consent is never removed on the side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    NotFound,
    /// Nothing was deleted: what still refers to it, e.g. `["2 users", "1 rule"]`.
    InUse(Vec<String>),
}

/// A dynamic registration's limits and its RFC 7592 access token.
#[derive(Debug, Clone)]
pub struct Registration {
    pub from: String,
    pub token_hash: String,
    pub now: i64,
    pub window_start: i64,
    pub rate_limit: i64,
    pub max_clients: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationOutcome {
    Registered,
    RateLimited,
    Full,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_kinds_keep_their_stored_names() {
        for (kind, name) in [
            (ConnectionKind::IdpSimulator, "idp_simulator"),
            (ConnectionKind::Oidc, "oidc"),
            (ConnectionKind::Saml, "saml"),
            (ConnectionKind::Custom, "custom"),
        ] {
            assert_eq!(kind.as_str(), name);
            assert_eq!(ConnectionKind::parse(name), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
        for bad in ["", "OIDC", "saml ", "ldap"] {
            assert_eq!(ConnectionKind::parse(bad), None, "{bad:?}");
        }
    }
}
