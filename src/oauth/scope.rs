//! Scope strings (RFC 6749 §3.3) and the intersection rule of DESIGN.md "Scopes and
//! rules": a requested base scope (`tickets.manage`) is met by the allowed contextual
//! forms (`tickets.manage:org_1`); a requested contextual scope only by itself.

/// OIDC scopes: not resource scopes, handled outside the rules.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The admin API scope; never granted to dynamic or metadata clients, nor through rules.
pub const ADMIN_SCOPE: &str = "portcullis:admin";
/// The `aud` (and resource indicator) of admin tokens: `{issuer}` + this path. Admin tokens
/// carry only [`ADMIN_SCOPE`] and this audience, so no MCP server ever holds one.
pub const ADMIN_API_PATH: &str = "/api/v1/admin";

/// The admin API's audience for an issuer.
pub fn admin_audience(issuer: &str) -> String {
    format!("{issuer}{ADMIN_API_PATH}")
}

/// Splits a space-separated scope string, refusing characters outside RFC 6749 §3.3.
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for token in text.split(' ').filter(|t| !t.is_empty()) {
        if !token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        {
            return Err(format!(
                "scope `{}` has characters RFC 6749 does not allow",
                token.escape_default()
            ));
        }
        if !out.iter().any(|s| s == token) {
            out.push(token.to_string());
        }
    }
    Ok(out)
}

/// The base of a contextual scope: `tickets.manage:org_1` → `tickets.manage`.
pub fn base(scope: &str) -> &str {
    scope.split_once(':').map_or(scope, |(b, _)| b)
}

/// Granted = requested ∩ allowed, in the order of `allowed`.
pub fn intersect(requested: &[String], allowed: &[String]) -> Vec<String> {
    allowed
        .iter()
        .filter(|a| {
            requested
                .iter()
                .any(|r| *a == r || (!r.contains(':') && base(a) == r.as_str() && a.contains(':')))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_and_dedups() {
        assert_eq!(parse("a  b a").unwrap(), v(&["a", "b"]));
        assert!(parse("a \"b").is_err());
        assert!(parse("a\\b").is_err());
        assert_eq!(parse("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn base_scope_is_met_by_contextual_forms() {
        let allowed = v(&["tickets.read", "tickets.manage:org_1"]);
        assert_eq!(
            intersect(&v(&["tickets.manage"]), &allowed),
            v(&["tickets.manage:org_1"])
        );
        assert_eq!(
            intersect(&v(&["tickets.manage:org_1"]), &allowed),
            v(&["tickets.manage:org_1"])
        );
        assert!(intersect(&v(&["tickets.manage:org_2"]), &allowed).is_empty());
        assert!(intersect(&v(&["tickets.read:org_1"]), &allowed).is_empty());
        assert_eq!(
            intersect(&v(&["tickets.read", "x"]), &allowed),
            v(&["tickets.read"])
        );
    }
}
