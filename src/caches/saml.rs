//! The parsed IdP metadata of SAML connections (`federation::saml::metadata` reads and
//! checks it), by connection, with its source and the refetch rate limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use samael::metadata::EntityDescriptor;

/// After a signature by an unknown certificate, the metadata is fetched again at once, but
/// not more often than this (the IdP may have rotated its key).
const REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// What we use of an IdP's metadata.
#[derive(Debug, Clone)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub descriptor: EntityDescriptor,
    /// The IdP's SingleSignOnService for the HTTP-Redirect binding.
    pub sso_redirect_url: String,
    /// How many signing certificates it lists (more than one while the IdP rotates).
    pub signing_certificates: usize,
}

/// Parsed IdP metadata of a connection, with its source (URL or digest) and when it was read.
struct Entry {
    source: String,
    read_at: Instant,
    refetched_at: Option<Instant>,
    metadata: Arc<IdpMetadata>,
}

/// Parsed IdP metadata by connection.
#[derive(Default)]
pub struct IdpCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for IdpCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdpCache")
    }
}

impl IdpCache {
    pub fn get(
        &self,
        connection_id: &str,
        source: &str,
        ttl: Option<Duration>,
    ) -> Option<Arc<IdpMetadata>> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(connection_id)?;
        (e.source == source && ttl.is_none_or(|t| e.read_at.elapsed() < t))
            .then(|| e.metadata.clone())
    }

    pub fn put(&self, connection_id: &str, source: &str, metadata: Arc<IdpMetadata>) {
        if let Ok(mut entries) = self.entries.lock() {
            let refetched_at = entries.get(connection_id).and_then(|e| e.refetched_at);
            entries.insert(
                connection_id.to_string(),
                Entry {
                    source: source.to_string(),
                    read_at: Instant::now(),
                    refetched_at,
                    metadata,
                },
            );
        }
    }

    /// Claims the right to refetch now (at most once per [`REFETCH_INTERVAL`]).
    pub fn claim_refetch(&self, connection_id: &str) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        match entries.get_mut(connection_id) {
            Some(e)
                if e.refetched_at
                    .is_none_or(|t| t.elapsed() >= REFETCH_INTERVAL) =>
            {
                e.refetched_at = Some(Instant::now());
                true
            }
            _ => false,
        }
    }
}
