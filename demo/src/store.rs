//! The in-memory ticket store: tickets belong to organizations, and every read or write names
//! the caller's organization, so one organization never sees another's tickets.

use std::collections::HashMap;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    InProgress,
    Done,
    Closed,
}

/// A Jira-like ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    /// `<PROJECT>-<n>`, e.g. `TEST-1`.
    pub id: String,
    pub organization_id: String,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub assignee: Option<String>,
    pub reporter: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Fields a caller may change.
#[derive(Debug, Clone, Default)]
pub struct TicketChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<Status>,
    pub assignee: Option<String>,
}

/// Why a store operation did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No such ticket in the caller's organization (another organization's tickets look
    /// exactly like missing ones).
    #[error("ticket {0} not found")]
    NotFound(String),
    #[error("ticket {0} is closed")]
    Closed(String),
}

#[derive(Default)]
struct Inner {
    tickets: Vec<Ticket>,
    next_number: HashMap<String, u64>,
}

/// All tickets, in creation order.
#[derive(Default)]
pub struct TicketStore {
    inner: RwLock<Inner>,
}

/// The Jira-like project key of an organization: `org_test` → `TEST`.
pub fn project_key(organization_id: &str) -> String {
    let key: String = organization_id
        .strip_prefix("org_")
        .unwrap_or(organization_id)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect::<String>()
        .to_ascii_uppercase();
    if key.is_empty() { "TCK".into() } else { key }
}

impl TicketStore {
    /// A store with a few tickets for `org_test` (the dev seed's organization) and
    /// `org_acme`.
    pub fn seeded(now: i64) -> Self {
        let store = Self::default();
        let seed = [
            (
                "org_test",
                "Login page times out",
                "Users on the EU cluster see a 504 after 30 s.",
                Some("usr_alice"),
            ),
            (
                "org_test",
                "Add dark mode",
                "The dashboard should follow the system theme.",
                None,
            ),
            (
                "org_test",
                "Export tickets as CSV",
                "Finance needs a monthly export.",
                Some("usr_bob"),
            ),
            (
                "org_acme",
                "Renew TLS certificate",
                "The certificate of acme.example expires next week.",
                None,
            ),
            (
                "org_acme",
                "Onboard new hires",
                "Accounts for five engineers starting Monday.",
                Some("usr_carol"),
            ),
        ];
        for (org, title, description, assignee) in seed {
            let t = store.create(org, "usr_seed", title, description, now);
            if let Some(a) = assignee {
                let changes = TicketChanges {
                    assignee: Some(a.into()),
                    ..Default::default()
                };
                let _ = store.update(org, &t.id, changes, now);
            }
        }
        store
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The tickets of `organization_id`, optionally only those with `status`.
    pub fn list(&self, organization_id: &str, status: Option<Status>) -> Vec<Ticket> {
        self.read()
            .tickets
            .iter()
            .filter(|t| t.organization_id == organization_id)
            .filter(|t| status.is_none_or(|s| t.status == s))
            .cloned()
            .collect()
    }

    pub fn get(&self, organization_id: &str, id: &str) -> Result<Ticket, StoreError> {
        self.read()
            .tickets
            .iter()
            .find(|t| t.organization_id == organization_id && t.id.eq_ignore_ascii_case(id))
            .cloned()
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    pub fn create(
        &self,
        organization_id: &str,
        reporter: &str,
        title: &str,
        description: &str,
        now: i64,
    ) -> Ticket {
        let mut inner = self.write();
        let n = inner
            .next_number
            .entry(organization_id.to_string())
            .or_insert(1);
        let id = format!("{}-{n}", project_key(organization_id));
        *n += 1;
        let ticket = Ticket {
            id,
            organization_id: organization_id.to_string(),
            title: title.to_string(),
            description: description.to_string(),
            status: Status::Open,
            assignee: None,
            reporter: reporter.to_string(),
            resolution: None,
            created_at: now,
            updated_at: now,
        };
        inner.tickets.push(ticket.clone());
        ticket
    }

    fn modify(
        &self,
        organization_id: &str,
        id: &str,
        now: i64,
        f: impl FnOnce(&mut Ticket),
    ) -> Result<Ticket, StoreError> {
        let mut inner = self.write();
        let ticket = inner
            .tickets
            .iter_mut()
            .find(|t| t.organization_id == organization_id && t.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        if ticket.status == Status::Closed {
            return Err(StoreError::Closed(ticket.id.clone()));
        }
        f(ticket);
        ticket.updated_at = now;
        Ok(ticket.clone())
    }

    pub fn update(
        &self,
        organization_id: &str,
        id: &str,
        changes: TicketChanges,
        now: i64,
    ) -> Result<Ticket, StoreError> {
        self.modify(organization_id, id, now, |t| {
            if let Some(v) = changes.title {
                t.title = v;
            }
            if let Some(v) = changes.description {
                t.description = v;
            }
            if let Some(v) = changes.status {
                t.status = v;
            }
            if let Some(v) = changes.assignee {
                t.assignee = Some(v).filter(|a| !a.is_empty());
            }
        })
    }

    pub fn close(
        &self,
        organization_id: &str,
        id: &str,
        resolution: Option<String>,
        now: i64,
    ) -> Result<Ticket, StoreError> {
        self.modify(organization_id, id, now, |t| {
            t.status = Status::Closed;
            t.resolution = Some(resolution.unwrap_or_else(|| "done".into()));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_has_tickets_for_both_organizations() {
        let s = TicketStore::seeded(100);
        assert_eq!(s.list("org_test", None).len(), 3);
        assert_eq!(s.list("org_acme", None).len(), 2);
        assert_eq!(
            s.get("org_test", "TEST-1").unwrap().assignee.as_deref(),
            Some("usr_alice")
        );
        assert_eq!(
            s.get("org_acme", "ACME-2").unwrap().title,
            "Onboard new hires"
        );
    }

    #[test]
    fn organizations_never_see_each_other() {
        let s = TicketStore::seeded(100);
        assert_eq!(
            s.get("org_acme", "TEST-1"),
            Err(StoreError::NotFound("TEST-1".into()))
        );
        assert!(
            s.update("org_acme", "TEST-1", TicketChanges::default(), 1)
                .is_err()
        );
        assert!(s.close("org_acme", "TEST-1", None, 1).is_err());
        assert_eq!(s.get("org_test", "TEST-1").unwrap().status, Status::Open);
    }

    #[test]
    fn create_update_close() {
        let s = TicketStore::seeded(100);
        let t = s.create("org_test", "usr_alice", "New", "desc", 200);
        assert_eq!(t.id, "TEST-4");
        let changes = TicketChanges {
            status: Some(Status::InProgress),
            assignee: Some("usr_bob".into()),
            ..Default::default()
        };
        let t = s.update("org_test", "test-4", changes, 300).unwrap();
        assert_eq!((t.status, t.updated_at), (Status::InProgress, 300));
        let t = s
            .close("org_test", "TEST-4", Some("fixed".into()), 400)
            .unwrap();
        assert_eq!(t.status, Status::Closed);
        assert_eq!(
            s.update("org_test", "TEST-4", TicketChanges::default(), 500),
            Err(StoreError::Closed("TEST-4".into()))
        );
        assert_eq!(s.list("org_test", Some(Status::Closed)).len(), 1);
    }

    #[test]
    fn project_keys() {
        assert_eq!(project_key("org_test"), "TEST");
        assert_eq!(project_key("org_123456"), "123456");
        assert_eq!(project_key("org_"), "TCK");
    }
}
