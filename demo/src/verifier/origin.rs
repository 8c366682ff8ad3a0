//! `Origin` checks for the MCP endpoint (MCP transport spec, "Security Warning": servers MUST
//! validate `Origin` to stop DNS-rebinding pages from reaching a local server) and the CORS
//! headers browser-based MCP clients need to read our challenges.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, header};
use url::Url;

/// Whether a request carrying `Origin: origin` may reach the server. Loopback origins
/// (`localhost`, `127.0.0.0/8`, `[::1]`), the resource's own origin and the configured
/// origins (compared as RFC 6454 ASCII serializations) are allowed; `null` and anything
/// unparsable are not.
pub fn is_allowed(origin: &str, resource_origin: &str, allowed: &[String]) -> bool {
    let Ok(url) = Url::parse(origin) else {
        return false;
    };
    let serialized = url.origin().ascii_serialization();
    if serialized == "null" {
        return false;
    }
    if serialized == resource_origin || allowed.iter().any(|a| normalize(a) == serialized) {
        return true;
    }
    matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(is_loopback_host)
}

fn normalize(origin: &str) -> String {
    Url::parse(origin)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Headers browser clients send to the MCP endpoint.
const ALLOW_HEADERS: &str =
    "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id";
/// Headers browser clients must be able to read: the challenge and the session id.
const EXPOSE_HEADERS: &str = "www-authenticate, mcp-session-id, mcp-protocol-version";

/// Adds CORS headers for an allowed `origin` to a response.
pub fn add_cors(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}

/// Adds the preflight answer's headers.
pub fn add_preflight(headers: &mut HeaderMap, origin: &HeaderValue) {
    add_cors(headers, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const RES: &str = "https://tickets.example.com";

    #[test]
    fn loopback_origins_are_allowed() {
        for o in [
            "http://localhost:6274",
            "http://127.0.0.1:3000",
            "http://127.8.9.1",
            "http://[::1]:8080",
            "https://LOCALHOST",
        ] {
            assert!(is_allowed(o, RES, &[]), "{o}");
        }
    }

    #[test]
    fn the_resource_origin_and_configured_origins_are_allowed() {
        assert!(is_allowed("https://tickets.example.com", RES, &[]));
        assert!(is_allowed("https://tickets.example.com:443", RES, &[]));
        let allowed = vec!["https://app.example.com".to_string()];
        assert!(is_allowed("https://app.example.com", RES, &allowed));
        assert!(!is_allowed("https://app.example.com:8443", RES, &allowed));
    }

    #[test]
    fn foreign_null_and_garbage_origins_are_refused() {
        for o in [
            "https://evil.example",
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example",
            "null",
            "",
            "file:///etc/passwd",
            "http://10.0.0.1",
        ] {
            assert!(!is_allowed(o, RES, &[]), "{o}");
        }
    }
}
