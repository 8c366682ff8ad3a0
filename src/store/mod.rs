//! All persistence, behind small traits per aggregate. One portable SQL implementation
//! ([`sql::SqlStore`]) serves SQLite and PostgreSQL through sqlx's `Any` driver; the
//! backend is chosen by the URL scheme and only `connect` knows the difference.

mod cache;
mod error;
pub mod model;
mod sql;
#[cfg(test)]
mod tests;

use async_trait::async_trait;

pub use cache::CachedStore;
pub use error::StoreError;
pub use model::*;
pub use sql::{Backend, SqlStore};

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait ClientStore {
    async fn find_client(&self, id: &str) -> StoreResult<Option<Client>>;
    async fn insert_client(&self, client: &Client) -> StoreResult<()>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
}

#[async_trait]
pub trait ResourceStore {
    async fn find_resource(&self, id: &str) -> StoreResult<Option<Resource>>;
    async fn find_resource_by_url(&self, server_url: &str) -> StoreResult<Option<Resource>>;
    async fn list_resources(&self) -> StoreResult<Vec<Resource>>;
}

#[async_trait]
pub trait OrganizationStore {
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>>;
    async fn list_connections(&self) -> StoreResult<Vec<Connection>>;
    async fn list_rules(&self, resource_id: &str) -> StoreResult<Vec<Rule>>;
}

#[async_trait]
pub trait KeyStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
}

#[async_trait]
pub trait AuditStore {
    async fn insert_audit_events(&self, events: &[AuditRecord]) -> StoreResult<()>;
    async fn list_audit_events(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;
}

#[async_trait]
pub trait AdminStore {
    async fn find_admin(&self, username: &str) -> StoreResult<Option<Admin>>;
}

#[async_trait]
pub trait SeedStore {
    /// Writes the whole plan in one transaction: all of it or nothing.
    async fn apply_seed(&self, plan: &SeedPlan, now: i64) -> StoreResult<()>;
}

#[async_trait]
pub trait HealthStore {
    async fn ping(&self) -> StoreResult<()>;
}

/// Everything the application needs from storage.
pub trait Store:
    ClientStore
    + ResourceStore
    + OrganizationStore
    + KeyStore
    + AuditStore
    + AdminStore
    + SeedStore
    + HealthStore
    + Send
    + Sync
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: ClientStore
        + ResourceStore
        + OrganizationStore
        + KeyStore
        + AuditStore
        + AdminStore
        + SeedStore
        + HealthStore
        + Send
        + Sync
        + std::fmt::Debug
{
}
