//! Turns a parsed seed file into a [`SeedPlan`]: ids resolved (explicit, or derived from
//! a natural key so re-applying updates instead of duplicating), references checked,
//! secrets hashed or sealed. Every error names the entry and the key.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::SeedError;
use super::file::*;
use crate::crypto::{self, SecretBox};
use crate::ids;
use crate::oauth::{redirect_uri, scope};
use crate::store::{
    self, Admin, Client, ClientKind, Conditions, Organization, Resource, Rule, RuleEffect,
    ScopeDef, SeedPlan,
};

/// What planning needs to know about the world outside the file.
pub struct PlanContext<'a> {
    pub secret: &'a SecretBox,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub existing_resources: Vec<Resource>,
    pub existing_organizations: Vec<String>,
    pub now: i64,
}

/// An admin password to hash (argon2 runs after planning, off the async threads).
pub struct PendingAdmin {
    pub username: String,
    pub password: Option<String>,
    pub password_hash: Option<String>,
}

pub(super) fn id_or_derived(
    entry: &str,
    prefix: &str,
    id: &Option<String>,
    natural: &str,
) -> Result<String, SeedError> {
    match id {
        Some(id) => ids::validate(prefix, id)
            .map(|_| id.clone())
            .map_err(|p| SeedError::new(entry, "id", p)),
        None => Ok(ids::derived(prefix, natural)),
    }
}

pub(super) fn secret_from(
    entry: &str,
    ctx: &PlanContext<'_>,
    keys: (&str, &str, &str),
    values: (&Option<String>, &Option<String>, &Option<String>),
) -> Result<Option<String>, SeedError> {
    match values {
        (None, None, None) => Ok(None),
        (Some(s), None, None) => Ok(Some(s.clone())),
        (None, Some(var), None) => (ctx.env)(var)
            .filter(|v| !v.is_empty())
            .map(Some)
            .ok_or_else(|| {
                SeedError::new(
                    entry,
                    keys.1,
                    format!("environment variable `{var}` is not set"),
                )
            }),
        (None, None, Some(path)) => read_secret_file(path)
            .map(|s| Some(s.trim_end_matches(['\n', '\r']).to_string()))
            .map_err(|e| SeedError::new(entry, keys.2, format!("cannot read `{path}`: {e}"))),
        _ => Err(SeedError::new(
            entry,
            keys.0,
            format!("set only one of {}, {}, {}", keys.0, keys.1, keys.2),
        )),
    }
}

pub(super) fn check_url(entry: &str, key: &str, text: &str) -> Result<(), SeedError> {
    match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(SeedError::new(
            entry,
            key,
            format!("`{text}` is not an http(s) URL"),
        )),
    }
}

pub fn plan(
    file: SeedFile,
    ctx: &PlanContext<'_>,
) -> Result<(SeedPlan, Vec<PendingAdmin>), SeedError> {
    let mut out = SeedPlan::default();
    let mut org_ids: HashSet<String> = ctx.existing_organizations.iter().cloned().collect();
    let mut seen_domains: HashMap<String, String> = HashMap::new();

    for (i, o) in file.organizations.into_iter().enumerate() {
        let entry = format!("organizations[{i}]");
        if o.display_name.trim().is_empty() {
            return Err(SeedError::new(&entry, "display_name", "must not be empty"));
        }
        let natural = o
            .external_id
            .clone()
            .unwrap_or_else(|| o.display_name.clone());
        let id = id_or_derived(&entry, "org", &o.id, &natural)?;
        let mut domains = Vec::new();
        for d in &o.domains {
            let d = d.trim().to_ascii_lowercase();
            if d.is_empty() || d.contains(['@', '/', ' ']) || !d.contains('.') {
                return Err(SeedError::new(
                    &entry,
                    "domains",
                    format!("`{d}` is not a domain name"),
                ));
            }
            if let Some(other) = seen_domains.insert(d.clone(), id.clone())
                && other != id
            {
                return Err(SeedError::new(
                    &entry,
                    "domains",
                    format!("`{d}` is already listed for {other}"),
                ));
            }
            domains.push(d);
        }
        for (j, c) in o.connections.into_iter().enumerate() {
            let centry = format!("{entry}.connections[{j}]");
            out.connections
                .push(super::connection::plan_connection(&centry, &id, c, ctx)?);
        }
        org_ids.insert(id.clone());
        out.organizations.push(Organization {
            id,
            display_name: o.display_name,
            external_id: o.external_id,
            domains,
            is_enabled: o.enabled.unwrap_or(true),
        });
    }

    let mut resources: HashMap<String, Resource> = ctx
        .existing_resources
        .iter()
        .map(|r| (r.id.clone(), r.clone()))
        .collect();
    for (i, r) in file.resources.into_iter().enumerate() {
        let entry = format!("resources[{i}]");
        check_url(&entry, "server_url", &r.server_url)?;
        let id = id_or_derived(&entry, "res", &r.id, &r.server_url)?;
        let ttl = r.access_token_ttl.unwrap_or(300);
        if !(10..=86_400).contains(&ttl) {
            return Err(SeedError::new(
                &entry,
                "access_token_ttl",
                "must be 10 to 86400 seconds",
            ));
        }
        let refresh_ttl = r.refresh_token_ttl.unwrap_or(86_400);
        if !(60..=31_536_000).contains(&refresh_ttl) {
            return Err(SeedError::new(
                &entry,
                "refresh_token_ttl",
                "must be 60 to 31536000 seconds",
            ));
        }
        let mut scopes: Vec<ScopeDef> = Vec::new();
        for s in r.scopes {
            let parsed = scope::parse(&s.name).map_err(|p| SeedError::new(&entry, "scopes", p))?;
            if parsed.len() != 1
                || s.name.contains(':')
                || scope::OIDC_SCOPES.contains(&s.name.as_str())
            {
                return Err(SeedError::new(
                    &entry,
                    "scopes",
                    format!("`{}` is not a plain resource scope name", s.name),
                ));
            }
            if scopes.iter().any(|x| x.name == s.name) {
                return Err(SeedError::new(
                    &entry,
                    "scopes",
                    format!("`{}` is listed twice", s.name),
                ));
            }
            scopes.push(ScopeDef {
                name: s.name,
                description: s.description,
            });
        }
        let resource = Resource {
            id: id.clone(),
            name: r.name,
            server_url: r.server_url,
            access_token_ttl: ttl,
            refresh_token_ttl: refresh_ttl,
            is_dcr_enabled: r.dynamic_client_registration.unwrap_or(true),
            is_cimd_enabled: r.client_id_metadata_documents.unwrap_or(true),
            cimd_allowlist: r.cimd_allowlist,
            scopes,
        };
        if let Some(other) = resources
            .values()
            .find(|x| x.server_url == resource.server_url && x.id != id)
        {
            return Err(SeedError::new(
                &entry,
                "server_url",
                format!("already used by {}", other.id),
            ));
        }
        resources.insert(id, resource.clone());
        out.resources.push(resource);
    }

    // A scope is valid for a resource when its base is one of the resource's scopes.
    let check_scopes =
        |entry: &str, key: &str, res: &Resource, list: &[String]| -> Result<(), SeedError> {
            for s in list {
                if !res.scope_names().any(|n| n == scope::base(s)) {
                    return Err(SeedError::new(
                        entry,
                        key,
                        format!("`{s}` is not a scope of {}", res.id),
                    ));
                }
            }
            Ok(())
        };

    for (i, r) in file.rules.into_iter().enumerate() {
        let entry = format!("rules[{i}]");
        let res = resources.get(&r.resource).ok_or_else(|| {
            SeedError::new(
                &entry,
                "resource",
                format!("unknown resource `{}`", r.resource),
            )
        })?;
        if let Some(org) = &r.organization
            && !org_ids.contains(org)
        {
            return Err(SeedError::new(
                &entry,
                "organization",
                format!("unknown organization `{org}`"),
            ));
        }
        let conditions = plan_condition(&entry, &r.when)?;
        if r.grant.is_empty() {
            return Err(SeedError::new(
                &entry,
                "grant",
                "must name at least one scope",
            ));
        }
        check_scopes(&entry, "grant", res, &r.grant)?;
        let effect = match r.effect.as_deref() {
            None => RuleEffect::Allow,
            Some(e) => RuleEffect::parse(e)
                .ok_or_else(|| SeedError::new(&entry, "effect", "must be `allow` or `deny`"))?,
        };
        let natural = format!(
            "{}|{:?}|{}|{}|{}",
            r.resource,
            r.organization,
            conditions.to_json(),
            r.grant.join(" "),
            effect
        );
        let id = id_or_derived(&entry, "rule", &r.id, &natural)?;
        out.rules.push(Rule {
            id,
            name: r.name.unwrap_or_default(),
            resource_id: res.id.clone(),
            organization_id: r.organization,
            conditions,
            grants: r.grant,
            effect,
            position: i as i64,
        });
    }

    for (i, c) in file.clients.into_iter().enumerate() {
        let entry = format!("clients[{i}]");
        let id = match &c.id {
            Some(id) if id.starts_with("skc_") => id_or_derived(&entry, "skc", &c.id, "")?,
            _ => id_or_derived(&entry, "m2m", &c.id, &c.name)?,
        };
        let secret = secret_from(
            &entry,
            ctx,
            ("secret", "secret_env", "secret_file"),
            (&c.secret, &c.secret_env, &c.secret_file),
        )?;
        if secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err(SeedError::new(
                &entry,
                "secret",
                "must be at least 16 characters",
            ));
        }
        for g in &c.grant_types {
            if !matches!(
                g.as_str(),
                "authorization_code" | "refresh_token" | "client_credentials"
            ) {
                return Err(SeedError::new(
                    &entry,
                    "grant_types",
                    format!("`{g}` is not supported"),
                ));
            }
        }
        if c.grant_types.iter().any(|g| g == "client_credentials") && secret.is_none() {
            return Err(SeedError::new(
                &entry,
                "secret",
                "client_credentials needs a confidential client",
            ));
        }
        let application_type = c.application_type.unwrap_or_else(|| "web".into());
        if application_type != "web" && application_type != "native" {
            return Err(SeedError::new(
                &entry,
                "application_type",
                "must be `web` or `native`",
            ));
        }
        for uri in &c.redirect_uris {
            redirect_uri::validate(uri, application_type == "native")
                .map_err(|p| SeedError::new(&entry, "redirect_uris", p))?;
        }
        for uri in &c.post_logout_redirect_uris {
            redirect_uri::validate(uri, application_type == "native")
                .map_err(|p| SeedError::new(&entry, "post_logout_redirect_uris", p))?;
        }
        if c.grant_types.iter().any(|g| g == "authorization_code") && c.redirect_uris.is_empty() {
            return Err(SeedError::new(
                &entry,
                "redirect_uris",
                "authorization_code needs a redirect URI",
            ));
        }
        let mut bound: Vec<&Resource> = Vec::new();
        for r in &c.resources {
            bound.push(resources.get(r).ok_or_else(|| {
                SeedError::new(&entry, "resources", format!("unknown resource `{r}`"))
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
                    &entry,
                    "scopes",
                    format!("`{s}` is not a scope of the client's resources"),
                ));
            }
        }
        let method = if secret.is_some() {
            "client_secret_basic"
        } else {
            "none"
        };
        out.clients.push(Client {
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
            application_type,
            created_at: ctx.now,
        });
    }

    let mut admins = Vec::new();
    for (i, a) in file.admins.into_iter().enumerate() {
        let entry = format!("admins[{i}]");
        if a.username.trim().is_empty() || a.username.len() > 64 {
            return Err(SeedError::new(
                &entry,
                "username",
                "must be 1 to 64 characters",
            ));
        }
        match (&a.password, &a.password_hash) {
            (Some(p), None) if p.len() < 8 => {
                return Err(SeedError::new(
                    &entry,
                    "password",
                    "must be at least 8 characters",
                ));
            }
            (Some(_), None) => {}
            (None, Some(h)) if crate::password::is_argon2id_hash(h) => {}
            (None, Some(_)) => {
                return Err(SeedError::new(
                    &entry,
                    "password_hash",
                    "must be an $argon2id$ PHC string",
                ));
            }
            _ => {
                return Err(SeedError::new(
                    &entry,
                    "password",
                    "set exactly one of password, password_hash",
                ));
            }
        }
        admins.push(PendingAdmin {
            username: a.username,
            password: a.password,
            password_hash: a.password_hash,
        });
    }
    Ok((out, admins))
}

pub(super) fn plan_condition(entry: &str, c: &Condition) -> Result<Conditions, SeedError> {
    let mut out = Vec::new();
    if let Some(g) = &c.group {
        out.push(store::Condition::Group(g.clone()));
    }
    if let Some(d) = &c.email_domain {
        out.push(store::Condition::EmailDomain(d.to_ascii_lowercase()));
    }
    match (&c.attribute, &c.equals) {
        (Some(a), Some(v)) => out.push(store::Condition::Attribute {
            name: a.clone(),
            equals: v.clone(),
        }),
        (None, None) => {}
        _ => {
            return Err(SeedError::new(
                entry,
                "when",
                "`attribute` and `equals` go together",
            ));
        }
    }
    match c.any {
        Some(true) => out.push(store::Condition::Any),
        Some(false) => {
            return Err(SeedError::new(
                entry,
                "when.any",
                "write `any = true` or leave it out",
            ));
        }
        None => {}
    }
    Conditions::new(out).ok_or_else(|| {
        SeedError::new(
            entry,
            "when",
            "needs a condition: group, email_domain, attribute/equals or any",
        )
    })
}

/// Admins from pending entries: hash plain passwords with argon2id.
pub async fn hash_admins(pending: Vec<PendingAdmin>) -> Result<Vec<Admin>, SeedError> {
    let mut out = Vec::new();
    for a in pending {
        let password_hash = match (a.password, a.password_hash) {
            (Some(p), _) => crate::password::hash(p)
                .await
                .map_err(|e| SeedError::new("admins", "password", e))?,
            (None, Some(h)) => h,
            (None, None) => continue,
        };
        out.push(Admin {
            username: a.username,
            password_hash,
        });
    }
    Ok(out)
}

/// A secret file is small: at most this many bytes are read (a path to `/dev/zero` or a
/// large file is refused instead of read forever).
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

fn read_secret_file(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_SECRET_FILE_BYTES} bytes"
        )));
    }
    Ok(text)
}
