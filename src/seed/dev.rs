//! The built-in dev seed of `--dev` (docs/getting-started.md): a "Test Organization" with domains
//! `example.com` and `example.org` and an IdP-simulator connection, the demo "Tickets"
//! resource, rules mapping `jira-admins` to `tickets.read tickets.manage:{org}` and anyone
//! else to `tickets.read`, an environment client and an admin account. The environment
//! client `skc_dev` is also a ready login app (authorization code with PKCE optional,
//! refresh, loopback redirect and post-logout URIs), as Scalekit's environment client is.

pub const ORGANIZATION_ID: &str = "org_test";
pub const CONNECTION_ID: &str = "conn_simulator";
pub const RESOURCE_ID: &str = "res_tickets";
pub const RESOURCE_URL: &str = "http://127.0.0.1:8081/mcp";
pub const CLIENT_ID: &str = "skc_dev";
pub const ADMIN_USERNAME: &str = "admin";

const TEMPLATE: &str = r#"
[[organizations]]
id = "org_test"
display_name = "Test Organization"
domains = ["example.com", "example.org"]

[[organizations.connections]]
id = "conn_simulator"
kind = "idp_simulator"

[[resources]]
id = "res_tickets"
name = "Tickets"
server_url = "http://127.0.0.1:8081/mcp"
access_token_ttl = 300
refresh_token_ttl = 86400
dynamic_client_registration = true
client_id_metadata_documents = true
scopes = [ { name = "tickets.read", description = "Read tickets" },
           { name = "tickets.manage", description = "Create and change tickets" } ]

[[rules]]
id = "rule_admins"
name = "Jira admins manage their organization's tickets"
resource = "res_tickets"
organization = "org_test"
when = { group = "jira-admins" }
grant = ["tickets.read", "tickets.manage:{org}"]

[[rules]]
id = "rule_readers"
name = "Everyone reads tickets"
resource = "res_tickets"
when = { any = true }
grant = ["tickets.read"]

[[clients]]
id = "skc_dev"
name = "Dev environment client"
secret_env = "CLIENT_SECRET"
grant_types = ["client_credentials", "authorization_code", "refresh_token"]
resources = ["res_tickets"]
scopes = ["tickets.read", "tickets.manage"]
introspection = true
pkce = "optional"
redirect_uris = [REDIRECT_URIS]
post_logout_redirect_uris = [POST_LOGOUT_REDIRECT_URIS]

[[admins]]
username = "admin"
password_env = "ADMIN_PASSWORD"
"#;

/// The paths `skc_dev` may redirect to after sign-in, on `127.0.0.1` and `localhost` at
/// any port (loopback redirect URIs match at any port, RFC 8252 §7.3): the callback paths
/// of common web frameworks and Scalekit's samples.
pub const REDIRECT_PATHS: &[&str] = &[
    "/",
    "/callback",
    "/auth/callback",
    "/oauth/callback",
    "/api/callback",
    "/api/auth/callback",
    "/auth/scalekit/callback",
    "/sso/callback",
];

/// The paths `skc_dev` may return to after sign-out, on the same hosts.
pub const POST_LOGOUT_PATHS: &[&str] = &["/", "/logout", "/signed-out", "/login"];

fn loopback_uris(paths: &[&str]) -> String {
    ["127.0.0.1", "localhost"]
        .iter()
        .flat_map(|host| {
            paths
                .iter()
                .map(move |p| quoted(&format!("http://{host}{p}")))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The dev seed as TOML, with the secrets it prints at start.
pub fn seed_text(client_secret: &str, admin_password: &str) -> String {
    TEMPLATE
        .replace(
            "[REDIRECT_URIS]",
            &format!("[{}]", loopback_uris(REDIRECT_PATHS)),
        )
        .replace(
            "[POST_LOGOUT_REDIRECT_URIS]",
            &format!("[{}]", loopback_uris(POST_LOGOUT_PATHS)),
        )
        .replace(
            "secret_env = \"CLIENT_SECRET\"",
            &format!("secret = {}", quoted(client_secret)),
        )
        .replace(
            "password_env = \"ADMIN_PASSWORD\"",
            &format!("password = {}", quoted(admin_password)),
        )
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
