//! Administration: the server-rendered admin pages under `/admin/…` and the JSON admin API
//! under `/api/v1/admin/…`, both thin layers over the domain functions of this module
//! (one file per area). Every change leaves an `admin.*` audit event naming the admin, the
//! address, the user agent, the request id and what changed.

pub mod api;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod clients;
pub mod connections;
pub mod dashboard;
pub mod keys;
pub mod login;
pub mod org_clients;
pub mod org_clients_api;
pub mod organizations;
pub mod pages;
pub mod resources;
pub mod rules;
pub mod time;
pub mod users;

use serde_json::Value;

use crate::audit::{AdminActor, AuditEvent};
use crate::seed::SeedError;
use crate::seed::plan::PlanContext;
use crate::state::AppState;
use crate::store::{Deletion, StoreError};

pub use auth::{AdminAuth, AdminRejection};

/// Who is calling: an admin (pages, Basic) or an admin-created client (bearer or Basic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminPrincipal {
    Admin(String),
    Client(String),
}

impl AdminPrincipal {
    pub fn label(&self) -> String {
        match self {
            Self::Admin(u) => format!("admin:{u}"),
            Self::Client(c) => format!("client:{c}"),
        }
    }
}

/// The caller of an admin operation and where the request came from (for the audit trail).
#[derive(Debug, Clone)]
pub struct Actor {
    pub principal: AdminPrincipal,
    pub address: String,
    pub user_agent: String,
    pub request_id: String,
}

impl Actor {
    fn audit(&self) -> AdminActor {
        AdminActor {
            principal: self.principal.label(),
            address: self.address.clone(),
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// Why an admin operation did not happen. Nothing was written in any case.
#[derive(Debug)]
pub enum AdminError {
    /// Bad input, named by the form field / JSON key it concerns.
    Invalid {
        field: String,
        message: String,
    },
    NotFound(&'static str),
    /// A delete refused because other things still refer to it (the message says which).
    InUse(String),
    Store(StoreError),
}

impl AdminError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<SeedError> for AdminError {
    fn from(e: SeedError) -> Self {
        match e {
            SeedError::Invalid { key, problem, .. } | SeedError::Conflict { key, problem, .. } => {
                Self::Invalid {
                    field: key.split('.').next().unwrap_or("").to_string(),
                    message: problem,
                }
            }
            SeedError::Parse(p) => Self::invalid("", p),
            SeedError::Store(s) => Self::Store(s),
        }
    }
}

impl From<crate::keys::KeyError> for AdminError {
    fn from(e: crate::keys::KeyError) -> Self {
        match e {
            crate::keys::KeyError::Store(s) => Self::Store(s),
            other => Self::Store(StoreError::Corrupt(other.to_string())),
        }
    }
}

/// What a store delete means to an admin: done, no such thing, or a refusal saying what
/// still refers to it and what to do instead.
pub(crate) fn deleted(
    outcome: Deletion,
    what: &'static str,
    id: &str,
    instead: &str,
) -> Result<(), AdminError> {
    match outcome {
        Deletion::Deleted => Ok(()),
        Deletion::NotFound => Err(AdminError::NotFound(what)),
        Deletion::InUse(uses) => Err(AdminError::InUse(format!(
            "The {what} {id} is still in use ({}): {instead}",
            uses.join(", ")
        ))),
    }
}

/// What an admin change touched, for the audit event.
#[derive(Default)]
pub(crate) struct Touched {
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub organization_id: Option<String>,
    pub resource_id: Option<String>,
}

/// Records an admin change.
pub(crate) async fn record(
    app: &AppState,
    actor: &Actor,
    kind: &'static str,
    target: &str,
    touched: Touched,
    changes: Value,
) {
    app.audit
        .record(AuditEvent::AdminChanged {
            kind,
            actor: actor.audit(),
            target: target.to_string(),
            client_id: touched.client_id,
            user_id: touched.user_id,
            organization_id: touched.organization_id,
            resource_id: touched.resource_id,
            changes,
        })
        .await;
}

/// Runs a seed planner (the seed's validation, so the pages, the API and the seed accept
/// the same input) with what an admin write brings: no environment variables, the clock.
pub(crate) fn with_plan_context<T>(app: &AppState, plan: impl FnOnce(&PlanContext<'_>) -> T) -> T {
    let no_env = |_: &str| None;
    plan(&PlanContext {
        secret: &app.config.secret,
        env: &no_env,
        now: app.clock.now(),
    })
}

/// Splits a list typed in a form: commas, spaces or new lines separate items.
/// Group names, one per line or comma-separated: a group name may hold spaces
/// (`Jira Admins`), exactly as the rules and the IdP spell it.
pub fn split_groups(text: &str) -> Vec<String> {
    text.split([',', '\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn split_list(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n', '\r', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_commas_spaces_and_lines() {
        assert_eq!(
            split_list("a.com, b.com\nc.com  d.com,"),
            vec!["a.com", "b.com", "c.com", "d.com"]
        );
        assert!(split_list(" ,\n").is_empty());
    }
}
