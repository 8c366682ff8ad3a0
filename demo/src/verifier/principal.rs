//! The caller a verified access token speaks for, as the layer hands it to the MCP server
//! (through the request extensions).

use std::collections::BTreeSet;

/// Who is calling, taken from a verified access token (RFC 9068 claims plus Scalekit's
/// `oid`/`sid`). Never holds the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `sub`: the user (`usr_…`) or, for client_credentials, the client.
    pub subject: String,
    /// `client_id`: the OAuth client that obtained the token.
    pub client_id: Option<String>,
    /// `oid`: the organization the user signed in through.
    pub organization_id: Option<String>,
    /// `sid`: the authorization server's session.
    pub session_id: Option<String>,
    /// Scopes from `scope` (space-separated) and `scopes` (array), merged.
    pub scopes: BTreeSet<String>,
}

impl Principal {
    /// Whether the token carries exactly this scope string.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// `client_id` or `-` for logs.
    pub fn client_label(&self) -> &str {
        self.client_id.as_deref().unwrap_or("-")
    }

    /// `oid` or `-` for logs.
    pub fn organization_label(&self) -> &str {
        self.organization_id.as_deref().unwrap_or("-")
    }
}
