//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document that tells an MCP client
//! which authorization server to use for this resource, served at
//! `/.well-known/oauth-protected-resource` and at the path-inserted form for the resource's
//! path (RFC 9728 §3.1), e.g. `/.well-known/oauth-protected-resource/mcp`.

use serde::Serialize;
use url::Url;

/// The well-known suffix of RFC 9728 §3.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// RFC 9728 §2 metadata.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProtectedResourceMetadata {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

impl ProtectedResourceMetadata {
    pub fn new(
        resource: &str,
        issuer: &str,
        scopes_supported: &[String],
        resource_name: Option<String>,
    ) -> Self {
        Self {
            resource: resource.to_string(),
            authorization_servers: vec![issuer.to_string()],
            scopes_supported: scopes_supported.to_vec(),
            // Tokens are accepted in the Authorization header only (never the query string).
            bearer_methods_supported: vec!["header".into()],
            resource_name,
        }
    }
}

/// The resource path without a terminating slash (`""` for the root).
fn resource_path(resource: &Url) -> &str {
    resource.path().trim_end_matches('/')
}

/// RFC 9728 §3.1: the metadata URL for `resource`, the well-known suffix inserted between
/// the host and the path: `http://h/mcp` → `http://h/.well-known/oauth-protected-resource/mcp`.
pub fn metadata_url(resource: &Url) -> String {
    format!(
        "{}{WELL_KNOWN}{}",
        resource.origin().ascii_serialization(),
        resource_path(resource)
    )
}

/// Paths the metadata is served at: the path-inserted form and the bare well-known path
/// (clients that start from the origin look there).
pub fn metadata_paths(resource: &Url) -> Vec<String> {
    let mut paths = vec![WELL_KNOWN.to_string()];
    let path = resource_path(resource);
    if !path.is_empty() {
        paths.push(format!("{WELL_KNOWN}{path}"));
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_inserts_the_well_known_suffix_before_the_path() {
        let r = Url::parse("http://127.0.0.1:8081/mcp").unwrap();
        assert_eq!(
            metadata_url(&r),
            "http://127.0.0.1:8081/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_paths(&r),
            vec![
                "/.well-known/oauth-protected-resource",
                "/.well-known/oauth-protected-resource/mcp"
            ]
        );
        let root = Url::parse("https://tickets.example.com/").unwrap();
        assert_eq!(
            metadata_url(&root),
            "https://tickets.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(metadata_paths(&root).len(), 1);
    }

    #[test]
    fn document_has_the_rfc_9728_fields() {
        let doc = ProtectedResourceMetadata::new(
            "http://127.0.0.1:8081/mcp",
            "http://127.0.0.1:8080/resources/res_tickets",
            &["tickets.read".into(), "tickets.manage".into()],
            None,
        );
        let v = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "resource": "http://127.0.0.1:8081/mcp",
                "authorization_servers": ["http://127.0.0.1:8080/resources/res_tickets"],
                "scopes_supported": ["tickets.read", "tickets.manage"],
                "bearer_methods_supported": ["header"],
            })
        );
    }
}
