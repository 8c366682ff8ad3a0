//! Turns a parsed seed file into a [`SeedPlan`]: ids resolved (explicit, or derived from
//! a natural key so re-applying updates instead of duplicating), references checked,
//! secrets hashed or sealed. One plain planner per entity (`plan_organization`,
//! `plan_connection`, `plan_resource`, `plan_rule`, `plan_client`, `plan_admin`), each
//! from its entry and what is [`Known`] to a planned write or a [`SeedError`] naming the
//! key; the admin writes call the same planners. Every error names the entry and the key.

mod admin;
mod client;
mod connection;
mod organization;
mod resource;
mod rule;

use std::collections::HashSet;

use super::SeedError;
use super::file::SeedFile;
use crate::crypto::SecretBox;
use crate::ids;
use crate::store::{Admin, Organization, Resource, SeedPlan};
pub use admin::plan_admin;
pub use client::plan_client;
pub use connection::{INITIATE_LOGIN_URI, XAA_ISSUER, XAA_JWKS_URI, plan_connection};
pub use organization::plan_organization;
pub use resource::plan_resource;
pub use rule::{plan_condition, plan_rule};

/// What planning needs to know about the world outside the file.
pub struct PlanContext<'a> {
    pub secret: &'a SecretBox,
    pub env: &'a dyn Fn(&str) -> Option<String>,
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

/// What already exists, stored or planned earlier from the same file: what entries may
/// refer to, and what they must not collide with. Planning an entry replaces the one with
/// its id, as applying the plan will.
#[derive(Debug, Default)]
pub struct Known {
    pub organizations: Vec<Organization>,
    pub resources: Vec<Resource>,
    /// Organizations planned from the file (a domain they list is "already listed").
    planned: HashSet<String>,
}

impl Known {
    pub fn new(organizations: Vec<Organization>, resources: Vec<Resource>) -> Self {
        Self {
            organizations,
            resources,
            planned: HashSet::new(),
        }
    }

    pub fn organization(&self, id: &str) -> Option<&Organization> {
        self.organizations.iter().find(|o| o.id == id)
    }

    pub fn resource(&self, id: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.id == id)
    }

    /// Whether the organization was planned from the file rather than found stored.
    pub fn is_planned(&self, id: &str) -> bool {
        self.planned.contains(id)
    }

    pub fn plan_organization(&mut self, o: Organization) {
        self.planned.insert(o.id.clone());
        self.organizations.retain(|x| x.id != o.id);
        self.organizations.push(o);
    }

    pub fn plan_resource(&mut self, r: Resource) {
        self.resources.retain(|x| x.id != r.id);
        self.resources.push(r);
    }
}

/// Plans a whole file, entry by entry, in the order applying it writes them, against what
/// is stored (`known`).
pub fn plan(
    file: SeedFile,
    ctx: &PlanContext<'_>,
    mut known: Known,
) -> Result<(SeedPlan, Vec<PendingAdmin>), SeedError> {
    let mut out = SeedPlan::default();
    for (i, mut o) in file.organizations.into_iter().enumerate() {
        let entry = format!("organizations[{i}]");
        let connections = std::mem::take(&mut o.connections);
        let org = plan_organization(&entry, &o, &known)?;
        for (j, c) in connections.into_iter().enumerate() {
            let centry = format!("{entry}.connections[{j}]");
            out.connections
                .push(plan_connection(&centry, &org.id, c, ctx)?);
        }
        known.plan_organization(org.clone());
        out.organizations.push(org);
    }
    for (i, r) in file.resources.into_iter().enumerate() {
        let resource = plan_resource(&format!("resources[{i}]"), r, &known)?;
        known.plan_resource(resource.clone());
        out.resources.push(resource);
    }
    for (i, r) in file.rules.into_iter().enumerate() {
        out.rules
            .push(plan_rule(&format!("rules[{i}]"), r, i as i64, &known)?);
    }
    for (i, c) in file.clients.into_iter().enumerate() {
        out.clients
            .push(plan_client(&format!("clients[{i}]"), c, ctx, &known)?);
    }
    let mut admins = Vec::new();
    for (i, a) in file.admins.into_iter().enumerate() {
        admins.push(plan_admin(&format!("admins[{i}]"), a)?);
    }
    Ok((out, admins))
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
