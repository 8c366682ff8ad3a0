//! The seed file's shape (TOML, docs/seed-file.md). Unknown keys are refused so a
//! typo is an error naming the key, not a silently ignored setting.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    #[serde(default)]
    pub organizations: Vec<OrganizationEntry>,
    #[serde(default)]
    pub resources: Vec<ResourceEntry>,
    #[serde(default)]
    pub rules: Vec<RuleEntry>,
    #[serde(default)]
    pub clients: Vec<ClientEntry>,
    #[serde(default)]
    pub admins: Vec<AdminEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationEntry {
    pub id: Option<String>,
    pub display_name: String,
    pub external_id: Option<String>,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub connections: Vec<ConnectionEntry>,
    /// The application URL its IdP-initiated logins go to when the connection names none.
    pub initiate_login_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionEntry {
    pub id: Option<String>,
    pub kind: String,
    pub enabled: Option<bool>,
    // oidc
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub groups_claim: Option<String>,
    pub email_claim: Option<String>,
    pub name_claim: Option<String>,
    /// Google Workspace: the `hd` claim every account must carry.
    pub allowed_hd: Option<String>,
    /// Entra ID: the `tid` claim every account must carry.
    pub allowed_tid: Option<String>,
    /// `organization_domains` (default) or `any_domain`: where the IdP's `email_verified`
    /// counts.
    pub trust_email_verified: Option<String>,
    // saml
    pub idp_metadata_url: Option<String>,
    pub idp_metadata_xml: Option<String>,
    pub sp_entity_id: Option<String>,
    pub groups_attribute: Option<String>,
    pub email_attribute: Option<String>,
    pub allow_idp_initiated: Option<bool>,
    pub name_attribute: Option<String>,
    /// The NameID format asked for in AuthnRequests (default: the IdP's choice).
    pub name_id_format: Option<String>,
    /// Where an IdP-initiated login lands (a path or URL on this server's origin); by
    /// default a page that says the person is signed in.
    pub idp_initiated_redirect: Option<String>,
    // custom (bring-your-own-auth)
    /// The application's login page: the browser is sent there with `login_request_id` and
    /// `state`.
    pub login_url: Option<String>,
    // oidc, saml (and the simulator, which is its own IdP)
    /// Trust this connection's IdP for identity assertion grants (ID-JAG): its issuer…
    pub xaa_issuer: Option<String>,
    /// …and its JWK Set (default: from the issuer's discovery document).
    pub xaa_jwks_uri: Option<String>,
    // any kind
    /// Scalekit's IdP-initiated login: the application URL an IdP-initiated login (SAML, or
    /// the simulator's) is sent to with `idp_initiated_login=<JWT>`, for the application to
    /// start a normal login; no session is opened by the unsolicited login itself.
    pub initiate_login_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeEntry {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceEntry {
    pub id: Option<String>,
    pub name: String,
    pub server_url: String,
    pub access_token_ttl: Option<i64>,
    pub refresh_token_ttl: Option<i64>,
    pub dynamic_client_registration: Option<bool>,
    pub client_id_metadata_documents: Option<bool>,
    #[serde(default)]
    pub cimd_allowlist: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<ScopeEntry>,
    /// `resource` (default) or `environment`: the `iss` of its access tokens.
    pub token_issuer: Option<String>,
    /// Accept identity assertion grants (ID-JAG, Cross-App Access); default false.
    pub xaa_enabled: Option<bool>,
    /// `always` (default), `offline_access` or `never`: when user grants get refresh tokens.
    pub refresh_tokens: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub group: Option<String>,
    pub email_domain: Option<String>,
    pub attribute: Option<String>,
    pub equals: Option<String>,
    pub any: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    pub id: Option<String>,
    /// A label for admins.
    pub name: Option<String>,
    pub resource: String,
    pub organization: Option<String>,
    pub when: Condition,
    pub grant: Vec<String>,
    pub effect: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub id: Option<String>,
    pub name: String,
    pub secret: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// OIDC RP-Initiated Logout: where `/oidc/logout` may send the browser afterwards.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub introspection: bool,
    pub application_type: Option<String>,
    /// `required` (default) or `optional` (a confidential login app only).
    pub pkce: Option<String>,
    /// `client_secret_basic` (default with a secret), `client_secret_post`, or
    /// `private_key_jwt` (with `jwks` or `jwks_uri`, and no secret).
    pub token_endpoint_auth_method: Option<String>,
    /// The client's public keys for `private_key_jwt`, inline (a JWK Set).
    pub jwks: Option<serde_json::Value>,
    /// …or where to fetch them.
    pub jwks_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminEntry {
    pub username: String,
    pub password: Option<String>,
    pub password_hash: Option<String>,
}
