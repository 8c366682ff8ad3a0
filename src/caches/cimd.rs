//! The cache of Client ID Metadata Documents (`oauth::cimd` fetches and validates them):
//! bounded, keyed by client-id URL, each entry until its own expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::store::Client;

/// At most this many documents (each at most `MAX_DOCUMENT_BYTES`) are cached.
pub const MAX_CACHE_ENTRIES: usize = 1_000;

/// Fetched documents per client-id URL: bounded; only URLs that passed the syntax and
/// policy checks are ever fetched, so only they are cached.
#[derive(Default)]
pub struct CimdCache {
    entries: Mutex<HashMap<String, CacheEntry>>,
}

/// Until when, and what: the client or why it was refused.
pub type CacheEntry = (Instant, Result<Client, String>);

impl CimdCache {
    pub fn get(&self, client_id: &str) -> Option<Result<Client, String>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(client_id)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, result)| result.clone())
    }

    /// Inserts, first dropping expired entries and then, while full, the ones that expire
    /// soonest.
    pub fn put(&self, client_id: &str, entry: CacheEntry) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CACHE_ENTRIES && !entries.contains_key(client_id) {
            let now = Instant::now();
            entries.retain(|_, (until, _)| *until > now);
            while entries.len() >= MAX_CACHE_ENTRIES {
                let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, (until, _))| *until)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                entries.remove(&soonest);
            }
        }
        entries.insert(client_id.to_string(), entry);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for CimdCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CimdCache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_cache_is_bounded_and_drops_what_expires_soonest() {
        let cache = CimdCache::default();
        let now = Instant::now();
        for i in 0..MAX_CACHE_ENTRIES + 500 {
            let until = now + Duration::from_secs(60 + i as u64);
            cache.put(
                &format!("https://a.example/{i}"),
                (until, Err("refused".into())),
            );
        }
        assert_eq!(cache.len(), MAX_CACHE_ENTRIES);
        // The newest stay; the ones that expire soonest went first.
        assert!(
            cache
                .get(&format!("https://a.example/{}", MAX_CACHE_ENTRIES + 499))
                .is_some()
        );
        assert!(cache.get("https://a.example/0").is_none());
        // Expired entries are never answered.
        cache.put("https://b.example/x", (now, Err("old".into())));
        assert!(cache.get("https://b.example/x").is_none());
    }
}
