//! Redirect URI rules for registration (RFC 7591 §2, RFC 8252 §7, OAuth 2.1 §2.3.1):
//! https anywhere; http only on loopback (`127.0.0.1`, `[::1]`, `localhost`), where any
//! port matches at request time; private-use schemes only for native clients; never a
//! fragment or a dangerous scheme.

use url::Url;

const DANGEROUS_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "filesystem",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "tel",
    "chrome",
    "chrome-extension",
    "view-source",
];

pub fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

/// Checks one redirect URI for a client of `application_type` (`web` or `native`).
pub fn validate(uri: &str, is_native: bool) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|_| format!("`{uri}` is not an absolute URI"))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err(format!("`{uri}` must not contain a fragment"));
    }
    let scheme = url.scheme();
    match scheme {
        "https" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err(format!("`{uri}` has no host"));
            }
        }
        "http" => {
            let host = url.host_str().unwrap_or("");
            if !is_loopback_host(host) {
                return Err(format!(
                    "`{uri}`: plain http is allowed only for 127.0.0.1, [::1] or localhost"
                ));
            }
        }
        s if DANGEROUS_SCHEMES.contains(&s) => {
            return Err(format!("`{uri}`: the `{s}` scheme is not allowed"));
        }
        _ => {
            if !is_native {
                return Err(format!(
                    "`{uri}`: private-use URI schemes need application_type `native`"
                ));
            }
        }
    }
    if url.username() != "" || url.password().is_some() {
        return Err(format!("`{uri}` must not carry credentials"));
    }
    Ok(())
}

/// RFC 8252 §7.3 and OAuth 2.1: an exact match, except that a loopback http redirect
/// registered without regard to port matches any port with the same path and query.
pub fn matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(r), Ok(p)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    r.scheme() == "http"
        && p.scheme() == "http"
        && r.host_str().is_some_and(is_loopback_host)
        && r.host_str() == p.host_str()
        && r.path() == p.path()
        && r.query() == p.query()
        && p.fragment().is_none()
        && p.username().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        assert!(validate("https://app.example.com/cb", false).is_ok());
        assert!(validate("http://127.0.0.1:33418/cb", false).is_ok());
        assert!(validate("http://[::1]/cb", false).is_ok());
        assert!(validate("http://localhost:6274/oauth/callback", false).is_ok());
    }

    #[test]
    fn refuses_http_elsewhere_fragments_and_dangerous_schemes() {
        assert!(validate("http://evil.example/cb", false).is_err());
        assert!(validate("http://127.0.0.1.evil.example/cb", false).is_err());
        assert!(validate("https://app.example.com/cb#x", false).is_err());
        assert!(validate("javascript:alert(1)", true).is_err());
        assert!(validate("data:text/html,hi", true).is_err());
        assert!(validate("file:///etc/passwd", true).is_err());
        assert!(validate("/relative", false).is_err());
        assert!(validate("https://user:pw@app.example.com/cb", false).is_err());
    }

    #[test]
    fn private_use_schemes_only_for_native() {
        assert!(validate("com.example.app:/cb", true).is_ok());
        assert!(validate("com.example.app:/cb", false).is_err());
    }

    #[test]
    fn loopback_matches_any_port_with_exact_path() {
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:51000/cb"));
        assert!(matches(
            "http://localhost:3000/cb",
            "http://localhost:4000/cb"
        ));
        assert!(!matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51000/cb2"
        ));
        assert!(!matches("http://127.0.0.1/cb", "http://localhost:51000/cb"));
        assert!(!matches("https://a.example/cb", "https://a.example/cb/"));
        assert!(!matches(
            "https://a.example:443/cb",
            "https://a.example:444/cb"
        ));
    }
}
