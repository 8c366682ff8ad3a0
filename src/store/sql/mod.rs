//! The portable SQL store: one set of queries (`$n` placeholders, `ON CONFLICT`,
//! `RETURNING`) for SQLite and PostgreSQL through sqlx's `Any` driver, one file per
//! aggregate. The caches of clients and resources ([`cache`]) sit in front of their reads;
//! the methods that write them clear them.

mod admin;
mod audit;
mod authorizations;
mod cache;
mod clients;
mod consents;
mod database;
mod deletes;
mod keys;
mod login_requests;
mod org_clients;
mod resources;
mod rules;
mod sessions;
mod tokens;
mod upstream;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use super::{HealthStore, StoreError, StoreResult};
use cache::Caches;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Clones share the pool and the caches.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    cache: Arc<Caches>,
}

impl SqlStore {
    /// Connects (SQLite: WAL, busy timeout, foreign keys on) without migrating.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or_else(|| {
            StoreError::Backend(sqlx::Error::Configuration(
                "database URL must start with sqlite: or postgres:".into(),
            ))
        })?;
        let options = AnyConnectOptions::from_str(url)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Self {
            pool,
            backend,
            cache: Arc::new(Caches::new(cache::TTL)),
        })
    }

    /// Connects and applies pending migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Another replica on the same database: the same pool, its own caches, whose entries
    /// live `ttl`.
    #[cfg(test)]
    pub(crate) fn replica(&self, ttl: Duration) -> Self {
        Self {
            pool: self.pool.clone(),
            backend: self.backend,
            cache: Arc::new(Caches::new(ttl)),
        }
    }
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[async_trait]
impl HealthStore for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
