//! Planning a static client (`[[clients]]`, and the admin's client form): its id (`m2m_…`
//! or `skc_…`, explicit or derived from `name`), a secret from exactly one source, hashed
//! (at least 16 characters), supported grant types, redirect URIs by the OAuth 2.1 rules
//! (RFC 8252 for native clients), known resources, and scopes those resources have.

use serde_json::json;

use super::{Known, PlanContext, id_or_derived, secret_from};
use crate::crypto;
use crate::oauth::client_auth::PRIVATE_KEY_JWT;
use crate::oauth::{redirect_uri, scope};
use crate::seed::SeedError;
use crate::seed::file::ClientEntry;
use crate::store::{Client, ClientKind, PkceMode, Resource};

/// The client an entry describes, or the first rule it breaks.
pub fn plan_client(
    entry: &str,
    c: ClientEntry,
    ctx: &PlanContext<'_>,
    known: &Known,
) -> Result<Client, SeedError> {
    let id = match &c.id {
        Some(id) if id.starts_with("skc_") => id_or_derived(entry, "skc", &c.id, "")?,
        _ => id_or_derived(entry, "m2m", &c.id, &c.name)?,
    };
    let secret = secret_from(
        entry,
        ctx,
        ("secret", "secret_env", "secret_file"),
        (&c.secret, &c.secret_env, &c.secret_file),
    )?;
    if secret.as_ref().is_some_and(|s| s.len() < 16) {
        return Err(SeedError::new(
            entry,
            "secret",
            "must be at least 16 characters",
        ));
    }
    for g in &c.grant_types {
        if !matches!(
            g.as_str(),
            "authorization_code"
                | "refresh_token"
                | "client_credentials"
                | crate::oauth::token::jwt_bearer::GRANT
        ) {
            return Err(SeedError::new(
                entry,
                "grant_types",
                format!("`{g}` is not supported"),
            ));
        }
    }
    let application_type = c.application_type.unwrap_or_else(|| "web".into());
    if application_type != "web" && application_type != "native" {
        return Err(SeedError::new(
            entry,
            "application_type",
            "must be `web` or `native`",
        ));
    }
    for uri in &c.redirect_uris {
        redirect_uri::validate(uri, application_type == "native")
            .map_err(|p| SeedError::new(entry, "redirect_uris", p))?;
    }
    for uri in &c.post_logout_redirect_uris {
        redirect_uri::validate(uri, application_type == "native")
            .map_err(|p| SeedError::new(entry, "post_logout_redirect_uris", p))?;
    }
    if c.grant_types.iter().any(|g| g == "authorization_code") && c.redirect_uris.is_empty() {
        return Err(SeedError::new(
            entry,
            "redirect_uris",
            "authorization_code needs a redirect URI",
        ));
    }
    let mut bound: Vec<&Resource> = Vec::new();
    for r in &c.resources {
        bound.push(known.resource(r).ok_or_else(|| {
            SeedError::new(entry, "resources", format!("unknown resource `{r}`"))
        })?);
    }
    for s in &c.scopes {
        if s == scope::ADMIN_SCOPE {
            continue;
        }
        if !bound
            .iter()
            .any(|r| r.scope_names().any(|n| n == scope::base(s)))
        {
            return Err(SeedError::new(
                entry,
                "scopes",
                format!("`{s}` is not a scope of the client's resources"),
            ));
        }
    }
    let pkce = match c.pkce.as_deref() {
        None => PkceMode::default(),
        Some(text) => PkceMode::parse(text)
            .ok_or_else(|| SeedError::new(entry, "pkce", "must be `required` or `optional`"))?,
    };
    // RFC 9700 §2.1.1: only a client that authenticates may replace PKCE by a nonce.
    if pkce == PkceMode::Optional && secret.is_none() && c.jwks.is_none() && c.jwks_uri.is_none() {
        return Err(SeedError::new(
            entry,
            "pkce",
            "`optional` is for confidential clients (with a secret) only",
        ));
    }
    let method = match c.token_endpoint_auth_method.as_deref() {
        None if secret.is_some() => "client_secret_basic",
        None if c.jwks.is_some() || c.jwks_uri.is_some() => PRIVATE_KEY_JWT,
        None => "none",
        Some(m @ ("client_secret_basic" | "client_secret_post")) if secret.is_some() => m,
        Some(PRIVATE_KEY_JWT) if secret.is_none() => PRIVATE_KEY_JWT,
        Some(other) => {
            return Err(SeedError::new(
                entry,
                "token_endpoint_auth_method",
                format!(
                    "`{}` does not fit: client_secret_basic or client_secret_post need a secret, \
                     private_key_jwt needs jwks or jwks_uri and no secret",
                    other.escape_default()
                ),
            ));
        }
    };
    let mut settings = serde_json::Map::new();
    match (&c.jwks, &c.jwks_uri) {
        (Some(_), Some(_)) => {
            return Err(SeedError::new(
                entry,
                "jwks",
                "set jwks or jwks_uri, not both",
            ));
        }
        (Some(jwks), None) => {
            crate::oauth::jwt_assertion::check_public_jwks(jwks)
                .map_err(|p| SeedError::new(entry, "jwks", p))?;
            settings.insert("jwks".into(), jwks.clone());
        }
        (None, Some(uri)) => {
            super::check_url(entry, "jwks_uri", uri)?;
            settings.insert("jwks_uri".into(), json!(uri));
        }
        (None, None) => {}
    }
    if method == PRIVATE_KEY_JWT && settings.is_empty() {
        return Err(SeedError::new(
            entry,
            "jwks",
            "private_key_jwt needs the client's keys: jwks or jwks_uri",
        ));
    }
    if method != PRIVATE_KEY_JWT && !settings.is_empty() {
        return Err(SeedError::new(
            entry,
            "jwks",
            "keys are for a client that authenticates with private_key_jwt (and no secret)",
        ));
    }
    if c.grant_types.iter().any(|g| g == "client_credentials")
        && secret.is_none()
        && method != PRIVATE_KEY_JWT
    {
        return Err(SeedError::new(
            entry,
            "secret",
            "client_credentials needs a confidential client",
        ));
    }
    Ok(Client {
        metadata: json!({ "client_name": c.name, "redirect_uris": c.redirect_uris,
                          "post_logout_redirect_uris": c.post_logout_redirect_uris }),
        id,
        name: c.name,
        kind: ClientKind::Static,
        secret_hash: secret.as_deref().map(crypto::hash_secret),
        secret_expires_at: 0,
        token_endpoint_auth_method: method.into(),
        redirect_uris: c.redirect_uris,
        grant_types: c.grant_types,
        resources: c.resources,
        bound_resource_id: None,
        scopes: c.scopes,
        has_introspection: c.introspection,
        pkce,
        organization_id: None,
        settings: serde_json::Value::Object(settings),
        application_type,
        created_at: ctx.now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretBox;
    use crate::store::ScopeDef;

    fn known() -> Known {
        Known::new(
            Vec::new(),
            vec![Resource {
                id: "res_t".into(),
                name: "T".into(),
                server_url: "http://127.0.0.1:1/mcp".into(),
                access_token_ttl: 300,
                refresh_token_ttl: 86_400,
                is_dcr_enabled: true,
                is_cimd_enabled: true,
                token_issuer: crate::store::TokenIssuer::Resource,
                is_xaa_enabled: false,
                refresh_tokens: crate::store::RefreshPolicy::Always,
                cimd_allowlist: Vec::new(),
                scopes: vec![ScopeDef {
                    name: "t.read".into(),
                    description: String::new(),
                }],
            }],
        )
    }

    fn entry() -> ClientEntry {
        ClientEntry {
            id: None,
            name: "svc".into(),
            secret: Some("0123456789abcdef".into()),
            secret_env: None,
            secret_file: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec!["client_credentials".into()],
            resources: vec!["res_t".into()],
            scopes: vec!["t.read".into()],
            introspection: false,
            application_type: None,
            pkce: None,
            token_endpoint_auth_method: None,
            jwks: None,
            jwks_uri: None,
        }
    }

    fn plan(c: ClientEntry) -> Result<Client, SeedError> {
        let secret = SecretBox::new([1; 32]);
        let no_env = |_: &str| None;
        let ctx = PlanContext {
            secret: &secret,
            env: &no_env,
            now: 7,
        };
        plan_client("c", c, &ctx, &known())
    }

    fn key(r: Result<Client, SeedError>) -> String {
        match r {
            Err(SeedError::Invalid { key, .. }) => key,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_confidential_service_client_is_hashed_and_static() {
        let c = plan(entry()).expect("valid");
        assert!(c.id.starts_with("m2m_"));
        assert_eq!(c.kind, ClientKind::Static);
        assert_eq!(c.token_endpoint_auth_method, "client_secret_basic");
        assert_ne!(c.secret_hash.as_deref(), Some("0123456789abcdef"));
        assert_eq!(c.created_at, 7);
    }

    #[test]
    fn secrets_grants_and_uris_are_checked() {
        let mut e = entry();
        e.secret = Some("short".into());
        assert_eq!(key(plan(e)), "secret");
        let mut e = entry();
        e.secret = None;
        assert_eq!(key(plan(e)), "secret");
        let mut e = entry();
        e.secret_env = Some("X".into());
        assert_eq!(key(plan(e)), "secret");
        let mut e = entry();
        e.grant_types = vec!["password".into()];
        assert_eq!(key(plan(e)), "grant_types");
        let mut e = entry();
        e.grant_types = vec!["authorization_code".into()];
        assert_eq!(key(plan(e)), "redirect_uris");
        let mut e = entry();
        e.redirect_uris = vec!["http://evil.example/cb".into()];
        assert_eq!(key(plan(e)), "redirect_uris");
        let mut e = entry();
        e.application_type = Some("tv".into());
        assert_eq!(key(plan(e)), "application_type");
    }

    #[test]
    fn pkce_is_required_unless_a_confidential_client_says_optional() {
        assert_eq!(plan(entry()).unwrap().pkce, PkceMode::Required);
        let mut e = entry();
        e.pkce = Some("optional".into());
        assert_eq!(plan(e).unwrap().pkce, PkceMode::Optional);
        let mut e = entry();
        e.pkce = Some("plain".into());
        assert_eq!(key(plan(e)), "pkce");
        // RFC 9700 §2.1.1: a public client has nothing but PKCE.
        let mut e = entry();
        e.secret = None;
        e.grant_types = vec!["authorization_code".into()];
        e.redirect_uris = vec!["http://127.0.0.1/cb".into()];
        e.pkce = Some("optional".into());
        assert_eq!(key(plan(e)), "pkce");
    }

    #[test]
    fn resources_must_exist_and_scopes_be_theirs() {
        let mut e = entry();
        e.resources = vec!["res_nope".into()];
        assert_eq!(key(plan(e)), "resources");
        let mut e = entry();
        e.scopes = vec!["other".into()];
        assert_eq!(key(plan(e)), "scopes");
        let mut e = entry();
        e.scopes = vec![scope::ADMIN_SCOPE.into()];
        assert!(plan(e).is_ok(), "the admin scope needs no resource");
    }
}
