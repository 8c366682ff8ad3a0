//! SAML 2.0 service provider (samael with xmlsec): SP-initiated login with an AuthnRequest
//! over HTTP-Redirect, responses over HTTP-POST at `/sso/v1/saml/{conn}/acs`, SP metadata
//! at `/sso/v1/saml/{conn}/metadata`. The outstanding request is found through a
//! server-side RelayState (single use, 10 minutes) and is answered only in the browser
//! that started it: a cookie scoped to the ACS, `SameSite=None; Secure` over https so the
//! IdP's cross-site POST carries it ([`binding`]); over plain http a response that comes
//! without it is confirmed by the person first. Every check is in [`verify`];
//! IdP-initiated login is off unless the connection allows it, it never completes a
//! pending authorization, and it signs the person in only after they confirm on our own
//! page (no login CSRF).

mod acs;
pub mod binding;
mod confirm;
pub mod metadata;
mod start;
pub mod verify;

pub use acs::post_acs;
pub use confirm::post_continue;
pub use metadata::get_sp_metadata;
pub use start::get_start;

use serde_json::Value;

use crate::store::Connection;

/// A `saml` connection's settings.
#[derive(Debug, Clone)]
pub struct SamlSettings {
    pub connection_id: String,
    pub idp_metadata_url: Option<String>,
    pub idp_metadata_xml: Option<String>,
    pub sp_entity_id: String,
    pub acs_url: String,
    pub mapping: AttributeMapping,
    pub name_id_format: Option<String>,
    pub allow_idp_initiated: bool,
    pub idp_initiated_redirect: Option<String>,
}

/// Which SAML attributes (by `Name` or `FriendlyName`) hold the email, name and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeMapping {
    pub email: String,
    pub name: String,
    pub groups: String,
}

/// The ACS URL of a connection.
pub fn acs_url(issuer: &str, connection_id: &str) -> String {
    format!("{issuer}/sso/v1/saml/{connection_id}/acs")
}

/// The SP metadata URL of a connection, also the default SP entity id.
pub fn metadata_url(issuer: &str, connection_id: &str) -> String {
    format!("{issuer}/sso/v1/saml/{connection_id}/metadata")
}

pub fn settings(issuer: &str, c: &Connection) -> SamlSettings {
    let s = &c.settings;
    let text = |k: &str| {
        s.get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    SamlSettings {
        connection_id: c.id.clone(),
        idp_metadata_url: text("idp_metadata_url"),
        idp_metadata_xml: text("idp_metadata_xml"),
        sp_entity_id: text("sp_entity_id").unwrap_or_else(|| metadata_url(issuer, &c.id)),
        acs_url: acs_url(issuer, &c.id),
        mapping: AttributeMapping {
            email: text("email_attribute").unwrap_or_else(|| "email".into()),
            name: text("name_attribute").unwrap_or_else(|| "displayName".into()),
            groups: text("groups_attribute").unwrap_or_else(|| "groups".into()),
        },
        name_id_format: text("name_id_format"),
        allow_idp_initiated: s
            .get("allow_idp_initiated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        idp_initiated_redirect: text("idp_initiated_redirect").filter(|t| is_local_target(t)),
    }
}

/// A path on this server (no scheme, no host, no `//`): where an IdP-initiated login may
/// land without becoming an open redirect.
pub fn is_local_target(target: &str) -> bool {
    target.starts_with('/')
        && !target.starts_with("//")
        && !target.contains('\\')
        && !target.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_targets_only() {
        assert!(is_local_target("/welcome"));
        assert!(is_local_target("/admin/?x=1"));
        for bad in [
            "https://evil.test/",
            "//evil.test/",
            "/\\evil.test",
            "welcome",
            "",
            "/a\nb",
        ] {
            assert!(!is_local_target(bad), "{bad:?}");
        }
    }

    #[test]
    fn defaults_follow_the_public_paths() {
        let c = Connection {
            id: "conn_x".into(),
            organization_id: "org_x".into(),
            kind: crate::store::ConnectionKind::Saml,
            is_enabled: true,
            settings: serde_json::json!({ "idp_metadata_url": "https://idp.example/md" }),
        };
        let s = settings("https://auth.example", &c);
        assert_eq!(
            s.sp_entity_id,
            "https://auth.example/sso/v1/saml/conn_x/metadata"
        );
        assert_eq!(s.acs_url, "https://auth.example/sso/v1/saml/conn_x/acs");
        assert!(
            !s.allow_idp_initiated,
            "IdP-initiated login is off by default"
        );
        assert_eq!(s.mapping.groups, "groups");
    }
}
