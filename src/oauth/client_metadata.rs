//! Validation of RFC 7591 client metadata for dynamic registration, as a pure function.
//! Dynamically registered clients get only `authorization_code` and `refresh_token`
//! (docs/registration.md); anything else is refused, not silently dropped.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ErrorCode, OAuthError};
use super::{client_text, redirect_uri, scope};

pub const MAX_REDIRECT_URIS: usize = 20;
pub use super::client_text::MAX_CLIENT_NAME_CHARS;
/// Longest `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`, in bytes.
const MAX_URI: usize = 2048;
/// Longest `software_id`, `software_version` and contact, in characters.
const MAX_SHORT_TEXT: usize = 255;
const MAX_CONTACTS: usize = 10;
/// Longest `scope` string, in bytes.
const MAX_SCOPE: usize = 1024;

/// The registration request; unknown members are ignored (RFC 7591 §2).
#[derive(Debug, Default, Deserialize)]
pub struct RegistrationRequest {
    /// Only at the RFC 7592 update: must be the registered id.
    pub client_id: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub scope: Option<String>,
    pub contacts: Option<Vec<String>>,
    pub tos_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub software_id: Option<String>,
    pub software_version: Option<String>,
    pub application_type: Option<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
}

/// Registered metadata, normalised: what is stored and echoed back.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientMetadata {
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub grant_types: Vec<String>,
    pub application_type: String,
    pub client_name: Option<String>,
    /// The registered fields as RFC 7591 §3.2.1 echoes them.
    pub document: Value,
}

fn bad(d: impl Into<String>) -> OAuthError {
    OAuthError::invalid_client_metadata(d)
}

fn check_text(field: &str, value: &Option<String>, max_chars: usize) -> Result<(), OAuthError> {
    match value {
        Some(v) => client_text::check(field, v, max_chars).map_err(bad),
        None => Ok(()),
    }
}

fn check_web_uri(field: &str, value: &Option<String>) -> Result<(), OAuthError> {
    if let Some(v) = value {
        if v.len() > MAX_URI {
            return Err(bad(format!("{field} is longer than {MAX_URI} bytes")));
        }
        check_text(field, value, MAX_URI)?;
        let ok = url::Url::parse(v).is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some());
        if !ok {
            return Err(bad(format!("{field} must be an https URL")));
        }
    }
    Ok(())
}

/// The descriptive metadata a person sees (names, links, contacts), as registration and
/// metadata documents both accept it: plain text, bounded (RFC 7591 §2 leaves it to us).
pub fn check_descriptive(req: &RegistrationRequest) -> Result<(), OAuthError> {
    check_text("client_name", &req.client_name, MAX_CLIENT_NAME_CHARS)?;
    check_text("software_id", &req.software_id, MAX_SHORT_TEXT)?;
    check_text("software_version", &req.software_version, MAX_SHORT_TEXT)?;
    for (field, value) in [
        ("client_uri", &req.client_uri),
        ("logo_uri", &req.logo_uri),
        ("tos_uri", &req.tos_uri),
        ("policy_uri", &req.policy_uri),
    ] {
        check_web_uri(field, value)?;
    }
    let contacts = req.contacts.as_deref().unwrap_or_default();
    if contacts.len() > MAX_CONTACTS {
        return Err(bad(format!("contacts: at most {MAX_CONTACTS} entries")));
    }
    for c in contacts {
        client_text::check("contacts", c, MAX_SHORT_TEXT).map_err(bad)?;
    }
    if req.scope.as_ref().is_some_and(|s| s.len() > MAX_SCOPE) {
        return Err(bad(format!("scope is longer than {MAX_SCOPE} bytes")));
    }
    Ok(())
}

pub fn validate(req: RegistrationRequest) -> Result<ClientMetadata, OAuthError> {
    let application_type = req.application_type.clone().unwrap_or_else(|| "web".into());
    if !matches!(application_type.as_str(), "web" | "native") {
        return Err(bad("application_type must be `web` or `native`"));
    }
    let method = req
        .token_endpoint_auth_method
        .clone()
        .unwrap_or_else(|| "client_secret_basic".into());
    if !matches!(
        method.as_str(),
        "none" | "client_secret_basic" | "client_secret_post"
    ) {
        return Err(bad(format!(
            "token_endpoint_auth_method `{}` is not supported (none, client_secret_basic, client_secret_post)",
            method.escape_default()
        )));
    }
    let grant_types = req
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if grant_types.is_empty() {
        return Err(bad("grant_types must not be empty"));
    }
    for g in &grant_types {
        if !matches!(g.as_str(), "authorization_code" | "refresh_token") {
            return Err(bad(format!(
                "grant type `{}` is not available to dynamically registered clients",
                g.escape_default()
            )));
        }
    }
    let response_types = req
        .response_types
        .clone()
        .unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(bad("only the `code` response type is supported"));
    }
    let is_code = grant_types.iter().any(|g| g == "authorization_code");
    if is_code != response_types.iter().any(|r| r == "code") {
        return Err(bad("grant_types and response_types do not agree"));
    }

    let redirect_uris = req.redirect_uris.clone().unwrap_or_default();
    if is_code && redirect_uris.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "redirect_uris is required",
        ));
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "too many redirect_uris",
        ));
    }
    for uri in &redirect_uris {
        redirect_uri::validate(uri, application_type == "native")
            .map_err(|e| OAuthError::new(ErrorCode::InvalidRedirectUri, e))?;
    }

    let post_logout = req.post_logout_redirect_uris.clone().unwrap_or_default();
    if post_logout.len() > MAX_REDIRECT_URIS {
        return Err(bad("too many post_logout_redirect_uris"));
    }
    for uri in &post_logout {
        redirect_uri::validate(uri, application_type == "native").map_err(bad)?;
    }
    check_descriptive(&req)?;
    let scopes = match &req.scope {
        Some(s) => scope::parse(s).map_err(bad)?,
        None => Vec::new(),
    };
    if scopes.iter().any(|s| s == scope::ADMIN_SCOPE) {
        return Err(bad(
            "the admin scope is not available to dynamically registered clients",
        ));
    }
    let contacts = req.contacts.clone().unwrap_or_default();

    let mut doc = Map::new();
    doc.insert("redirect_uris".into(), json!(redirect_uris));
    doc.insert("token_endpoint_auth_method".into(), json!(method));
    doc.insert("grant_types".into(), json!(grant_types));
    doc.insert("response_types".into(), json!(response_types));
    doc.insert("application_type".into(), json!(application_type));
    let optional = [
        ("client_name", req.client_name.clone()),
        ("client_uri", req.client_uri),
        ("logo_uri", req.logo_uri),
        ("tos_uri", req.tos_uri),
        ("policy_uri", req.policy_uri),
        ("software_id", req.software_id),
        ("software_version", req.software_version),
        ("scope", (!scopes.is_empty()).then(|| scopes.join(" "))),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            doc.insert(k.into(), json!(v));
        }
    }
    if !post_logout.is_empty() {
        doc.insert("post_logout_redirect_uris".into(), json!(post_logout));
    }
    if !contacts.is_empty() {
        doc.insert("contacts".into(), json!(contacts));
    }
    Ok(ClientMetadata {
        redirect_uris,
        token_endpoint_auth_method: method,
        grant_types,
        application_type,
        client_name: req.client_name,
        document: Value::Object(doc),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> RegistrationRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_typical_mcp_public_client_registers() {
        let m = validate(req(json!({
            "client_name": "VS Code", "redirect_uris": ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none"
        })))
        .unwrap();
        assert_eq!(m.token_endpoint_auth_method, "none");
        assert_eq!(m.document["client_name"], "VS Code");
    }

    #[test]
    fn defaults_follow_rfc_7591() {
        let m = validate(req(json!({ "redirect_uris": ["https://a.example/cb"] }))).unwrap();
        assert_eq!(m.token_endpoint_auth_method, "client_secret_basic");
        assert_eq!(m.grant_types, ["authorization_code"]);
        assert_eq!(m.application_type, "web");
    }

    #[test]
    fn refusals_carry_the_rfc_7591_codes() {
        let cases = [
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"] }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"] }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "response_types": ["token"] }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt" }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "scope": "portcullis:admin" }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "application_type": "tv" }),
                "invalid_client_metadata",
            ),
            (
                json!({ "redirect_uris": ["https://a.example/cb"], "logo_uri": "javascript:alert(1)" }),
                "invalid_client_metadata",
            ),
            (json!({}), "invalid_redirect_uri"),
            (json!({ "redirect_uris": [] }), "invalid_redirect_uri"),
            (
                json!({ "redirect_uris": ["http://evil.example/cb"] }),
                "invalid_redirect_uri",
            ),
            (
                json!({ "redirect_uris": ["com.example.app:/cb"] }),
                "invalid_redirect_uri",
            ),
        ];
        for (body, code) in cases {
            let e = validate(req(body.clone())).unwrap_err();
            assert_eq!(e.code.as_str(), code, "{body}");
        }
    }

    #[test]
    fn client_names_are_plain_short_text() {
        let with = |name: &str| {
            validate(req(
                json!({ "redirect_uris": ["https://a.example/cb"], "client_name": name }),
            ))
        };
        for bad in [
            "Safe\u{202E}exe.tnemucod",
            "A\u{202A}B",
            "A\u{2066}B",
            "A\u{2069}B",
            "A\u{200F}B",
            "A\u{0}B",
            "A\nB",
            "A\u{9B}B",
        ] {
            let e = with(bad).unwrap_err();
            assert_eq!(e.code.as_str(), "invalid_client_metadata", "{bad:?}");
        }
        assert!(with(&"n".repeat(MAX_CLIENT_NAME_CHARS)).is_ok());
        assert!(with(&"n".repeat(MAX_CLIENT_NAME_CHARS + 1)).is_err());
        assert!(with("Café Ünïcode 日本").is_ok());
    }

    #[test]
    fn other_metadata_is_capped() {
        let long_uri = format!("https://a.example/{}", "x".repeat(2048));
        for (key, value) in [
            ("client_uri", json!(long_uri)),
            ("logo_uri", json!(long_uri)),
            ("tos_uri", json!(long_uri)),
            ("policy_uri", json!(long_uri)),
            ("software_id", json!("s".repeat(300))),
            ("software_version", json!("v".repeat(300))),
            ("contacts", json!(["c".repeat(300)])),
            ("contacts", json!(["a\u{202E}b@example.com"])),
            ("scope", json!("s ".repeat(600))),
        ] {
            let mut body = json!({ "redirect_uris": ["https://a.example/cb"] });
            body[key] = value;
            let e = validate(req(body)).unwrap_err();
            assert_eq!(e.code.as_str(), "invalid_client_metadata", "{key}");
        }
    }
}
