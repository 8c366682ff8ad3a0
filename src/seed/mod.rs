//! Configuration as code: the seed file (docs/seed-file.md), applied idempotently
//! and atomically. A bad file changes nothing and the error names the entry and key.
//!
//! Idempotent means: every entry has an id, written or derived from a natural key
//! (organization: `external_id`, else `display_name`; connection: organization + kind +
//! issuer/metadata URL; resource: `server_url`; rule: all its fields; client: `name`).
//! Applying a file upserts each entry by id: named fields are set to the file's values,
//! objects the file does not name are left alone, nothing is deleted (except that an
//! organization's `domains` list is replaced by the file's list).

pub mod dev;
pub mod file;
pub mod plan;

use std::sync::Arc;

use serde_json::json;

use crate::crypto::SecretBox;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("seed: {entry}: {key}: {problem}")]
    Invalid {
        entry: String,
        key: String,
        problem: String,
    },
    /// The entry collides with another organization or resource (stored, or earlier in the
    /// file) on a field that must be unique.
    #[error("seed: {entry}: {key}: {problem}")]
    Conflict {
        entry: String,
        key: String,
        problem: String,
    },
    #[error("seed: {0}")]
    Parse(String),
    #[error("seed: {0}")]
    Store(#[from] StoreError),
}

impl SeedError {
    pub fn new(entry: &str, key: &str, problem: impl Into<String>) -> Self {
        SeedError::Invalid {
            entry: entry.to_string(),
            key: key.to_string(),
            problem: problem.into(),
        }
    }

    pub fn conflict(entry: &str, key: &str, problem: impl Into<String>) -> Self {
        SeedError::Conflict {
            entry: entry.to_string(),
            key: key.to_string(),
            problem: problem.into(),
        }
    }
}

pub fn parse(text: &str) -> Result<file::SeedFile, SeedError> {
    toml::from_str(text).map_err(|e| SeedError::Parse(e.to_string()))
}

/// Counts of what a seed named, for the audit trail and the CLI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub organizations: usize,
    pub connections: usize,
    pub resources: usize,
    pub rules: usize,
    pub clients: usize,
    pub admins: usize,
}

/// Parses, validates and writes a seed in one transaction.
pub async fn apply(
    store: &Arc<dyn Store>,
    secret: &SecretBox,
    env: &dyn Fn(&str) -> Option<String>,
    text: &str,
    now: i64,
) -> Result<SeedSummary, SeedError> {
    let file = parse(text)?;
    let ctx = plan::PlanContext { secret, env, now };
    let known = plan::Known::new(
        store.list_organizations().await?,
        store.list_resources().await?,
    );
    let (mut seed, pending) = plan::plan(file, &ctx, known)?;
    seed.admins = plan::hash_admins(pending).await?;
    store.apply_seed(&seed, now).await.map_err(|e| match e {
        StoreError::Conflict(what) => SeedError::Parse(what.to_string()),
        other => SeedError::Store(other),
    })?;
    Ok(SeedSummary {
        organizations: seed.organizations.len(),
        connections: seed.connections.len(),
        resources: seed.resources.len(),
        rules: seed.rules.len(),
        clients: seed.clients.len(),
        admins: seed.admins.len(),
    })
}

impl SeedSummary {
    pub fn to_json(self) -> serde_json::Value {
        json!({
            "organizations": self.organizations, "connections": self.connections,
            "resources": self.resources, "rules": self.rules,
            "clients": self.clients, "admins": self.admins,
        })
    }
}

#[cfg(test)]
mod tests;
