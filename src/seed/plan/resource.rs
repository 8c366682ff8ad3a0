//! Planning a resource, an MCP server (`[[resources]]`, and the admin's resource form): its
//! id (explicit, or derived from `server_url`), token lifetimes in range, plain scope
//! names listed once, and a `server_url` no other resource uses (RFC 8707: the URL is the
//! resource's identity in `aud`).

use super::{Known, check_url, id_or_derived};
use crate::oauth::scope;
use crate::seed::SeedError;
use crate::seed::file::ResourceEntry;
use crate::store::{RefreshPolicy, Resource, ScopeDef, TokenIssuer};

/// The resource an entry describes, or the first rule it breaks.
pub fn plan_resource(entry: &str, r: ResourceEntry, known: &Known) -> Result<Resource, SeedError> {
    check_url(entry, "server_url", &r.server_url)?;
    let id = id_or_derived(entry, "res", &r.id, &r.server_url)?;
    let ttl = r.access_token_ttl.unwrap_or(300);
    if !(10..=86_400).contains(&ttl) {
        return Err(SeedError::new(
            entry,
            "access_token_ttl",
            "must be 10 to 86400 seconds",
        ));
    }
    let refresh_ttl = r.refresh_token_ttl.unwrap_or(86_400);
    if !(60..=31_536_000).contains(&refresh_ttl) {
        return Err(SeedError::new(
            entry,
            "refresh_token_ttl",
            "must be 60 to 31536000 seconds",
        ));
    }
    let mut scopes: Vec<ScopeDef> = Vec::new();
    for s in r.scopes {
        let parsed = scope::parse(&s.name).map_err(|p| SeedError::new(entry, "scopes", p))?;
        if parsed.len() != 1
            || s.name.contains(':')
            || scope::OIDC_SCOPES.contains(&s.name.as_str())
        {
            return Err(SeedError::new(
                entry,
                "scopes",
                format!("`{}` is not a plain resource scope name", s.name),
            ));
        }
        if scopes.iter().any(|x| x.name == s.name) {
            return Err(SeedError::new(
                entry,
                "scopes",
                format!("`{}` is listed twice", s.name),
            ));
        }
        scopes.push(ScopeDef {
            name: s.name,
            description: s.description,
        });
    }
    let token_issuer = match r.token_issuer.as_deref() {
        None => TokenIssuer::default(),
        Some(text) => TokenIssuer::parse(text).ok_or_else(|| {
            SeedError::new(entry, "token_issuer", "must be `resource` or `environment`")
        })?,
    };
    let refresh_tokens = match r.refresh_tokens.as_deref() {
        None => RefreshPolicy::default(),
        Some(text) => RefreshPolicy::parse(text).ok_or_else(|| {
            SeedError::new(
                entry,
                "refresh_tokens",
                "must be `always`, `offline_access` or `never`",
            )
        })?,
    };
    if let Some(other) = known
        .resources
        .iter()
        .find(|x| x.server_url == r.server_url && x.id != id)
    {
        return Err(SeedError::conflict(
            entry,
            "server_url",
            format!("already used by {}", other.id),
        ));
    }
    Ok(Resource {
        id,
        name: r.name,
        server_url: r.server_url,
        access_token_ttl: ttl,
        refresh_token_ttl: refresh_ttl,
        is_dcr_enabled: r.dynamic_client_registration.unwrap_or(true),
        is_cimd_enabled: r.client_id_metadata_documents.unwrap_or(true),
        cimd_allowlist: r.cimd_allowlist,
        scopes,
        token_issuer,
        is_xaa_enabled: r.xaa_enabled.unwrap_or(false),
        refresh_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::file::ScopeEntry;

    fn entry(url: &str, scopes: &[&str]) -> ResourceEntry {
        ResourceEntry {
            id: None,
            name: "T".into(),
            server_url: url.into(),
            access_token_ttl: None,
            refresh_token_ttl: None,
            dynamic_client_registration: None,
            client_id_metadata_documents: None,
            cimd_allowlist: Vec::new(),
            token_issuer: None,
            xaa_enabled: None,
            refresh_tokens: None,
            scopes: scopes
                .iter()
                .map(|s| ScopeEntry {
                    name: s.to_string(),
                    description: String::new(),
                })
                .collect(),
        }
    }

    fn refused(r: ResourceEntry, known: &Known) -> (bool, String, String) {
        match plan_resource("r", r, known) {
            Err(SeedError::Invalid { key, problem, .. }) => (false, key, problem),
            Err(SeedError::Conflict { key, problem, .. }) => (true, key, problem),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    const URL: &str = "http://127.0.0.1:1/mcp";

    #[test]
    fn token_issuer_is_resource_or_environment() {
        let r = plan_resource("r", entry(URL, &["t.read"]), &Known::default()).expect("valid");
        assert_eq!(r.token_issuer, TokenIssuer::Resource);
        let mut e = entry(URL, &["t.read"]);
        e.token_issuer = Some("environment".into());
        let r = plan_resource("r", e, &Known::default()).expect("valid");
        assert_eq!(r.token_issuer, TokenIssuer::Environment);
        let mut e = entry(URL, &["t.read"]);
        e.token_issuer = Some("Environment".into());
        assert_eq!(refused(e, &Known::default()).1, "token_issuer");
    }

    #[test]
    fn defaults_and_a_derived_id() {
        let r = plan_resource("r", entry(URL, &["t.read"]), &Known::default()).expect("valid");
        assert!(r.id.starts_with("res_"));
        assert_eq!((r.access_token_ttl, r.refresh_token_ttl), (300, 86_400));
        assert!(r.is_dcr_enabled && r.is_cimd_enabled);
    }

    #[test]
    fn bad_fields_are_named() {
        let k = Known::default();
        assert_eq!(refused(entry("not a url", &[]), &k).1, "server_url");
        let mut e = entry(URL, &[]);
        e.access_token_ttl = Some(5);
        assert_eq!(refused(e, &k).1, "access_token_ttl");
        let mut e = entry(URL, &[]);
        e.refresh_token_ttl = Some(59);
        assert_eq!(refused(e, &k).1, "refresh_token_ttl");
        for bad in [
            &["openid"][..],
            &["t.read:x"],
            &["a b"],
            &["t.read", "t.read"],
        ] {
            assert_eq!(refused(entry(URL, bad), &k).1, "scopes", "{bad:?}");
        }
        let mut e = entry(URL, &[]);
        e.id = Some("org_1".into());
        assert_eq!(refused(e, &k).1, "id");
    }

    #[test]
    fn another_resources_server_url_is_a_conflict_named_server_url() {
        let k = Known::new(
            Vec::new(),
            vec![plan_resource("r", entry(URL, &[]), &Known::default()).expect("valid")],
        );
        let mut e = entry(URL, &[]);
        e.id = Some("res_other".into());
        let (is_conflict, key, problem) = refused(e, &k);
        assert!(is_conflict);
        assert_eq!(key, "server_url");
        assert!(problem.starts_with("already used by res_"), "{problem}");
        // The same resource again is an update, not a conflict.
        assert!(plan_resource("r", entry(URL, &[]), &k).is_ok());
    }
}
