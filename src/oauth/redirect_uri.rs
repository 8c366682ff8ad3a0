//! Redirect URI rules for registration (RFC 7591 §2, RFC 8252 §7, OAuth 2.1 §2.3.1):
//! https anywhere; http only on loopback (`127.0.0.1`, `[::1]`, `localhost`), where any
//! port matches at request time; private-use schemes only for native clients and only in
//! reverse-DNS form (RFC 8252 §7.1), so no client claims an OS handler (`ms-msdt:`,
//! `search-ms:`); never a fragment or credentials; and only URIs already in normal form,
//! so what is registered, matched and redirected to is the string a browser would use.

use url::Url;

pub fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

/// Is `uri` exactly the string a URL parser makes of it? Browsers strip surrounding
/// space and control characters and repair `https:///x` or `https:host/x`; a URI that
/// relies on that could be matched here and followed elsewhere as another one. The one
/// difference tolerated is the empty path of `https://host` (RFC 3986 §6.2.3).
fn parse_normal(uri: &str) -> Result<Url, String> {
    let shown = uri.escape_default();
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("`{shown}` contains spaces or control characters"));
    }
    let url = Url::parse(uri).map_err(|_| format!("`{shown}` is not an absolute URI"))?;
    let is_bare_origin = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.as_str().strip_suffix('/') == Some(uri);
    if url.as_str() != uri && !is_bare_origin {
        return Err(format!(
            "`{shown}` is not in normal form (as parsed: `{}`)",
            url.as_str()
        ));
    }
    Ok(url)
}

/// RFC 8252 §7.1: a private-use scheme is a reverse domain name the client controls
/// (`com.example.app`), never a short name an operating system may already handle.
fn is_reverse_dns_scheme(scheme: &str) -> bool {
    scheme.contains('.') && scheme.split('.').all(|label| !label.is_empty())
}

/// Checks one redirect URI for a client of `application_type` (`web` or `native`).
pub fn validate(uri: &str, is_native: bool) -> Result<(), String> {
    let url = parse_normal(uri)?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err(format!("`{uri}` must not contain a fragment"));
    }
    match url.scheme() {
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
        // RFC 8252 §7.1: private-use schemes in reverse-DNS form, for native clients only.
        s if !is_reverse_dns_scheme(s) => {
            return Err(format!(
                "`{uri}`: the `{s}` scheme is not allowed; a private-use scheme is a reverse domain name such as `com.example.app`"
            ));
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
/// registered without regard to port matches any port with the same path and query. A
/// presented URI not in normal form never matches, whatever was registered.
pub fn matches(registered: &str, presented: &str) -> bool {
    let Ok(p) = parse_normal(presented) else {
        return false;
    };
    if registered == presented {
        return true;
    }
    let Ok(r) = Url::parse(registered) else {
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
        && p.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_uri_with_userinfo_never_matches() {
        assert!(matches("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb"));
        assert!(!matches(
            "http://127.0.0.1/cb",
            "http://:pw@127.0.0.1:5000/cb"
        ));
        assert!(!matches(
            "http://127.0.0.1/cb",
            "http://u@127.0.0.1:5000/cb"
        ));
    }

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
    fn private_use_schemes_must_be_reverse_dns() {
        // RFC 8252 §7.1: OS handler schemes are not the client's to claim.
        for bad in [
            "ms-msdt:/id",
            "search-ms:query=x",
            "ms-settings:privacy",
            "myapp:/cb",
            "com.example.:/cb",
        ] {
            assert!(validate(bad, true).is_err(), "{bad}");
        }
        assert!(validate("com.example.app:/oauth2redirect", true).is_ok());
        assert!(validate("io.github.tool://callback", true).is_ok());
    }

    #[test]
    fn only_uris_in_normal_form() {
        for bad in [
            " https://app.example.com/cb",
            "https://app.example.com/cb ",
            "https://app.example.com/c\u{0}b",
            "https://app.example.com/c\tb",
            "https://app.example.com/cb\n",
            "https://app.example.com/c\u{85}b",
            "https:///cb",
            "https:evil.example/cb",
            "https:/evil.example/cb",
            "https://App.Example.com/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com/a/../cb",
            "http://127.0.0.1:3000/c b",
            "com.example.app:/c\u{1}b",
        ] {
            assert!(validate(bad, true).is_err(), "{bad:?}");
            assert!(!matches(bad, bad), "{bad:?} is never matched at /authorize");
        }
        assert!(
            validate("https://app.example.com", false).is_ok(),
            "an empty path is the only tolerated difference"
        );
    }

    #[test]
    fn a_presented_uri_matches_only_in_normal_form() {
        let registered = "http://127.0.0.1/cb";
        for presented in [
            "http://127.0.0.1:5000/cb ",
            " http://127.0.0.1:5000/cb",
            "http://127.0.0.1:5000/c\tb",
            "http:127.0.0.1:5000/cb",
            "http:///127.0.0.1:5000/cb",
        ] {
            assert!(!matches(registered, presented), "{presented:?}");
        }
        assert!(matches(registered, "http://127.0.0.1:5000/cb"));
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
