//! Scope strings (RFC 6749 §3.3) and the intersection rule (docs/authorization.md, "Scope
//! rules"): a requested base scope (`tickets.manage`) is met by the allowed contextual
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

/// The scopes of an authorization request, split: resource scopes for the rules (`None`:
/// `scope` omitted, so the resource's scopes the rules allow) and OIDC scopes.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestedScopes {
    pub resource: Option<Vec<String>>,
    pub oidc: Vec<String>,
}

/// The `scope` of a login app's request naming no resource: OpenID scopes only (there is
/// no resource whose scopes could be asked for).
pub fn login_request(text: Option<&str>) -> Result<Vec<String>, String> {
    let all = parse(text.unwrap_or(""))?;
    match all.iter().find(|s| !OIDC_SCOPES.contains(&s.as_str())) {
        Some(other) => Err(format!(
            "`{}` is not an OpenID scope: this request names no resource (send `resource` for \
             an MCP server's scopes)",
            other.escape_default()
        )),
        None => Ok(all),
    }
}

/// Splits an authorization request's `scope` parameter. Only an omitted `scope` means "the
/// resource's scopes"; one that names OIDC scopes alone names no resource scope, and a
/// token without one is of no use at the resource, so it is refused (`invalid_scope`).
pub fn split_request(text: Option<&str>) -> Result<RequestedScopes, String> {
    let Some(text) = text else {
        return Ok(RequestedScopes {
            resource: None,
            oidc: Vec::new(),
        });
    };
    let all = parse(text)?;
    if all.iter().any(|s| s == ADMIN_SCOPE) {
        return Err("the admin scope cannot be requested here".into());
    }
    let (oidc, resource): (Vec<String>, Vec<String>) = all
        .into_iter()
        .partition(|s| OIDC_SCOPES.contains(&s.as_str()));
    if resource.is_empty() && !oidc.is_empty() {
        return Err(
            "scope names no scope of the resource: name the resource's scopes next to the \
             OpenID ones, or omit scope for all the scopes you are allowed"
                .into(),
        );
    }
    Ok(RequestedScopes {
        resource: Some(resource),
        oidc,
    })
}

/// The `scope`/`scopes` of a user's access token: the granted resource scopes, then the
/// granted OIDC scopes (userinfo reads `openid`, `email`, `profile` there; a resource server
/// looks only for its own). `offline_access` is about the refresh token, not this one.
pub fn access_token_scopes(resource_scopes: &[String], oidc_scopes: &[String]) -> Vec<String> {
    resource_scopes
        .iter()
        .chain(oidc_scopes.iter().filter(|s| *s != "offline_access"))
        .cloned()
        .collect()
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
    fn only_an_omitted_scope_means_the_resource_scopes() {
        assert_eq!(
            split_request(None).unwrap(),
            RequestedScopes {
                resource: None,
                oidc: vec![]
            }
        );
        assert_eq!(
            split_request(Some("openid tickets.read email")).unwrap(),
            RequestedScopes {
                resource: Some(v(&["tickets.read"])),
                oidc: v(&["openid", "email"])
            }
        );
        for oidc_only in ["openid", "openid email profile", "offline_access"] {
            assert!(split_request(Some(oidc_only)).is_err(), "{oidc_only}");
        }
        assert!(split_request(Some("tickets.read portcullis:admin")).is_err());
        assert!(split_request(Some("a\"b")).is_err());
    }

    #[test]
    fn access_tokens_list_the_oidc_scopes_after_the_resource_scopes() {
        assert_eq!(
            access_token_scopes(
                &v(&["tickets.read"]),
                &v(&["openid", "offline_access", "email"])
            ),
            v(&["tickets.read", "openid", "email"])
        );
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
