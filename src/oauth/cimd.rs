//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, as the MCP
//! authorization spec uses them): a `client_id` that is an https URL names a JSON document
//! describing the client. It is fetched through the SSRF guard (5 s, 5,120 bytes, no
//! redirects), validated, cached (Cache-Control max-age clamped to 60 s … 24 h; failures
//! 30 s), and the client it describes may use resources that allow CIMD and admit it.

use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

use super::client_metadata::{self, RegistrationRequest};
use super::redirect_uri;
use crate::audit::AuditEvent;
use crate::outbound;
use crate::state::AppState;
use crate::store::{Client, ClientKind};

pub const MAX_DOCUMENT_BYTES: usize = 5_120;
const MIN_TTL: u64 = 60;
const MAX_TTL: u64 = 86_400;
const NEGATIVE_TTL: Duration = Duration::from_secs(30);

/// Does this client id name a metadata document?
pub fn is_cimd_client_id(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

/// The client-id URL rules: https, a host, a path, no fragment, no userinfo, no dot
/// segments, and already in normal form (so the string compares byte for byte).
pub fn validate_url(client_id: &str) -> Result<Url, String> {
    let url = Url::parse(client_id).map_err(|_| "the client id is not a URL".to_string())?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err("a client id URL must be https with a host".into());
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("a client id URL has no fragment and no userinfo".into());
    }
    let raw_path = client_id.splitn(4, '/').nth(3).unwrap_or("");
    // The draft's client id URL MUST contain a path: `/` with a query is none.
    if raw_path.is_empty()
        || url.path() == "/"
        || raw_path
            .split(['/', '?'])
            .any(|seg| seg == "." || seg == "..")
    {
        return Err("a client id URL needs a path without dot segments".into());
    }
    if url.as_str() != client_id {
        return Err("the client id URL is not in normal form".into());
    }
    Ok(url)
}

/// Validates a fetched document for `client_id` and describes the client.
pub fn validate_document(client_id: &str, doc: &Value) -> Result<Client, String> {
    let obj = doc.as_object().ok_or("the document is not a JSON object")?;
    if obj.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err("the document's client_id differs from its URL".into());
    }
    if obj.contains_key("client_secret") || obj.contains_key("client_secret_expires_at") {
        return Err("a metadata document must not carry a client secret".into());
    }
    match obj
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        None | Some("none") => {}
        Some(other) => {
            return Err(format!(
                "token_endpoint_auth_method `{other}` is not supported (only none)"
            ));
        }
    }
    let strings = |key: &str| -> Result<Option<Vec<String>>, String> {
        match obj.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or(format!("{key} must be strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(format!("{key} must be an array")),
        }
    };
    let grant_types = strings("grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    if grant_types.is_empty()
        || grant_types
            .iter()
            .any(|g| g != "authorization_code" && g != "refresh_token")
    {
        return Err("only the authorization_code and refresh_token grants are available".into());
    }
    if strings("response_types")?.is_some_and(|r| r.iter().any(|t| t != "code")) {
        return Err("only the code response type is available".into());
    }
    let application_type = obj
        .get("application_type")
        .and_then(Value::as_str)
        .unwrap_or("web")
        .to_string();
    if application_type != "web" && application_type != "native" {
        return Err("application_type must be `web` or `native`".into());
    }
    let redirect_uris = strings("redirect_uris")?
        .filter(|r| !r.is_empty())
        .ok_or("redirect_uris is required")?;
    for uri in &redirect_uris {
        redirect_uri::validate(uri, application_type == "native")?;
    }
    // The same descriptive-metadata rules as registration (names shown on consent pages).
    let descriptive: RegistrationRequest = serde_json::from_value(doc.clone())
        .map_err(|e| format!("the document's metadata is malformed: {e}"))?;
    client_metadata::check_descriptive(&descriptive).map_err(|e| e.description)?;
    let name = obj
        .get("client_name")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Client {
        id: client_id.to_string(),
        name: name.unwrap_or_else(|| client_id.to_string()),
        kind: ClientKind::Metadata,
        secret_hash: None,
        secret_expires_at: 0,
        token_endpoint_auth_method: "none".into(),
        redirect_uris,
        grant_types,
        resources: Vec::new(),
        bound_resource_id: None,
        scopes: Vec::new(),
        has_introspection: false,
        pkce: crate::store::PkceMode::Required,
        organization_id: None,
        settings: serde_json::json!({}),
        application_type,
        metadata: doc.clone(),
        created_at: 0,
    })
}

/// A resource's allowlist: exact client-id URLs, or host patterns (`app.example`,
/// `*.example.com`). Empty admits any.
pub fn allowlist_admits(allowlist: &[String], client_id: &str) -> bool {
    if allowlist.is_empty() {
        return true;
    }
    let host = Url::parse(client_id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    allowlist.iter().any(|entry| {
        if entry.starts_with("https://") {
            entry == client_id
        } else if let Some(suffix) = entry.strip_prefix("*.") {
            host.ends_with(&format!(".{}", suffix.to_ascii_lowercase()))
        } else {
            host == entry.to_ascii_lowercase()
        }
    })
}

fn max_age(headers: &reqwest::header::HeaderMap) -> u64 {
    headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',').find_map(|d| {
                d.trim()
                    .strip_prefix("max-age=")
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(MIN_TTL)
        .clamp(MIN_TTL, MAX_TTL)
}

async fn fetch(app: &AppState, url: &Url) -> Result<(Client, Duration), String> {
    outbound::check_literal_host(url, &app.config.allow_private_hosts)?;
    let response = app
        .outsider_http
        .get(url.as_str())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "fetching the document timed out".to_string()
            } else {
                format!("fetching the document failed: {}", innermost(&e))
            }
        })?;
    if response.status().is_redirection() {
        return Err("the document URL redirects; redirects are not followed".into());
    }
    if !response.status().is_success() {
        return Err(format!("the document URL answered {}", response.status()));
    }
    let ttl = Duration::from_secs(max_age(response.headers()));
    let body = outbound::read_capped(response, MAX_DOCUMENT_BYTES).await?;
    let doc: Value =
        serde_json::from_slice(&body).map_err(|e| format!("the document is not JSON: {e}"))?;
    Ok((validate_document(url.as_str(), &doc)?, ttl))
}

/// The innermost cause of an error chain (reqwest hides the guard's or TLS's reason).
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The client a metadata document describes (cached), or why not. Callers check the
/// resource's CIMD policy first; a URL that breaks the syntax rules is refused without a
/// fetch and without a cache entry.
pub async fn resolve(app: &AppState, client_id: &str) -> Result<Client, String> {
    if let Some(result) = app.cimd.get(client_id) {
        return result;
    }
    let url = validate_url(client_id)?;
    let result = fetch(app, &url).await;
    app.audit
        .record(AuditEvent::ClientMetadataFetched {
            client_id: client_id.to_string(),
            error: result.as_ref().err().cloned(),
        })
        .await;
    let (entry, out) = match result {
        Ok((mut client, ttl)) => {
            client.created_at = app.clock.now();
            match app
                .store
                .store_metadata_client(&client, app.config.dcr_max_clients)
                .await
            {
                Ok(true) => ((Instant::now() + ttl, Ok(client.clone())), Ok(client)),
                Ok(false) => {
                    // Not cached: room may come back when idle clients are reaped.
                    return Err("the limit on registered clients of this server is reached".into());
                }
                Err(e) => {
                    tracing::error!(error = %e, "storing a metadata-document client failed");
                    return Err("the client could not be stored".into());
                }
            }
        }
        Err(e) => ((Instant::now() + NEGATIVE_TTL, Err(e.clone())), Err(e)),
    };
    app.cimd.put(client_id, entry);
    out
}

/// Whether any resource's CIMD policy admits this client id (the token, revocation and
/// introspection endpoints ask before touching a metadata-document client).
pub async fn any_resource_admits(
    app: &AppState,
    client_id: &str,
) -> Result<bool, crate::store::StoreError> {
    Ok(app
        .store
        .list_resources()
        .await?
        .iter()
        .any(|r| r.is_cimd_enabled && allowlist_admits(&r.cimd_allowlist, client_id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "https://app.example.com/oauth/client.json";

    fn doc() -> Value {
        json!({ "client_id": ID, "client_name": "App", "redirect_uris": ["http://127.0.0.1:3000/cb"],
                "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none" })
    }

    #[test]
    fn url_rules() {
        assert!(validate_url(ID).is_ok());
        for bad in [
            "http://app.example.com/c.json",
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/a/../c.json",
            "https://app.example.com/./c.json",
            "https://u:p@app.example.com/c",
            "https://app.example.com/c#frag",
            "https://APP.example.com/c",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn document_rules() {
        assert_eq!(
            validate_document(ID, &doc()).unwrap().kind,
            ClientKind::Metadata
        );
        let mut d = doc();
        d["client_id"] = json!("https://other.example.com/c.json");
        assert!(validate_document(ID, &d).unwrap_err().contains("differs"));
        for (key, value) in [
            ("token_endpoint_auth_method", json!("private_key_jwt")),
            ("client_secret", json!("s")),
            ("grant_types", json!(["client_credentials"])),
            ("redirect_uris", json!([])),
            ("redirect_uris", json!(["http://evil.example/cb"])),
            ("response_types", json!(["token"])),
        ] {
            let mut d = doc();
            d[key] = value;
            assert!(validate_document(ID, &d).is_err(), "{key}");
        }
        assert!(validate_document(ID, &json!([1])).is_err());
    }

    #[test]
    fn a_query_is_no_path() {
        // Found by fuzz_cimd: `https://host/?x` passed the path rule.
        assert!(validate_url("https://app.example/?client.json").is_err());
        assert!(validate_url("https://app.example/c?x=1").is_ok());
    }

    #[test]
    fn application_type_is_web_or_native() {
        // Found by fuzz_cimd: any string (even "") was accepted and stored.
        for bad in ["", "tv", "Web"] {
            let mut d = doc();
            d["application_type"] = json!(bad);
            assert!(validate_document(ID, &d).is_err(), "{bad:?}");
        }
        let mut d = doc();
        d["application_type"] = json!("native");
        assert!(validate_document(ID, &d).is_ok());
    }

    #[test]
    fn documents_follow_the_registration_input_rules() {
        for (key, value) in [
            ("redirect_uris", json!(["https:///cb"])),
            ("redirect_uris", json!(["https:evil.example/cb"])),
            ("redirect_uris", json!(["https://app.example.com/cb "])),
            ("redirect_uris", json!(["https://app.example.com/c\u{0}b"])),
            ("client_name", json!("Safe\u{202E}exe.tnemucod")),
            ("client_name", json!("A\u{2067}B")),
            ("client_name", json!("A\rB")),
            ("client_name", json!("n".repeat(101))),
            ("client_name", json!(42)),
            (
                "client_uri",
                json!(format!("https://a.example/{}", "x".repeat(2048))),
            ),
            ("logo_uri", json!("javascript:alert(1)")),
        ] {
            let mut d = doc();
            d[key] = value.clone();
            assert!(validate_document(ID, &d).is_err(), "{key}: {value}");
        }
        let mut d = doc();
        d["application_type"] = json!("native");
        d["redirect_uris"] = json!(["ms-msdt:/id"]);
        assert!(validate_document(ID, &d).is_err(), "OS handler scheme");
        d["redirect_uris"] = json!(["com.example.app:/cb"]);
        assert!(validate_document(ID, &d).is_ok());
    }

    #[test]
    fn allowlists_match_urls_and_host_patterns() {
        assert!(allowlist_admits(&[], ID));
        assert!(allowlist_admits(&[ID.to_string()], ID));
        assert!(allowlist_admits(&["app.example.com".into()], ID));
        assert!(allowlist_admits(&["*.example.com".into()], ID));
        assert!(!allowlist_admits(
            &["*.example.org".into(), "example.com".into()],
            ID
        ));
        assert!(!allowlist_admits(
            &["https://app.example.com/other.json".into()],
            ID
        ));
    }
}
