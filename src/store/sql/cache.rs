//! Read-through caches of the two lookups every token request makes (client by id,
//! resource by id or URL). Entries live one second, so a change made through another
//! replica is seen within a second; the store's own writes clear them at once (each method
//! that writes clients or resources takes an [`Invalidate`] guard first). Misses are never
//! cached (a client registered at another replica works here immediately).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{Client, Resource, StoreResult};

pub(super) const TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: usize = 10_000;

/// One map of entries that live `ttl`, at most [`MAX_ENTRIES`] of them.
pub(super) struct ReadThrough<T> {
    ttl: Duration,
    map: Mutex<HashMap<String, (Instant, T)>>,
}

impl<T: Clone> ReadThrough<T> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The cached value under `key`, else what `load` finds (then cached).
    pub(super) async fn get_or_load(
        &self,
        key: &str,
        load: impl Future<Output = StoreResult<Option<T>>>,
    ) -> StoreResult<Option<T>> {
        if let Some(value) = self.get(key) {
            return Ok(Some(value));
        }
        let found = load.await?;
        if let Some(value) = &found {
            self.put(key, value.clone());
        }
        Ok(found)
    }

    fn get(&self, key: &str) -> Option<T> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: &str, value: T) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key.to_string(), (Instant::now(), value));
    }

    fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl<T> std::fmt::Debug for ReadThrough<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.map.lock().map_or(0, |m| m.len());
        f.debug_struct("ReadThrough")
            .field("ttl", &self.ttl)
            .field("entries", &len)
            .finish()
    }
}

/// The caches of one store (and its clones): one replica's.
#[derive(Debug)]
pub(super) struct Caches {
    pub(super) clients: ReadThrough<Client>,
    pub(super) resources: ReadThrough<Resource>,
    pub(super) resources_by_url: ReadThrough<Resource>,
}

impl Caches {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            clients: ReadThrough::new(ttl),
            resources: ReadThrough::new(ttl),
            resources_by_url: ReadThrough::new(ttl),
        }
    }

    /// Taken by a method that writes clients: clears their cache when it returns.
    pub(super) fn clients_written(&self) -> Invalidate<'_> {
        Invalidate {
            caches: self,
            clients: true,
            resources: false,
        }
    }

    /// Taken by a method that writes clients and resources: clears both when it returns.
    pub(super) fn clients_and_resources_written(&self) -> Invalidate<'_> {
        Invalidate {
            caches: self,
            clients: true,
            resources: true,
        }
    }
}

/// Clears caches when dropped: at the end of the writing method that holds it, after its
/// statements and whatever their outcome (a write that reported an error may still have
/// committed). A read racing the write may put back what it read before the write; that
/// entry lives one second, like another replica's change.
#[must_use]
pub(super) struct Invalidate<'a> {
    caches: &'a Caches,
    clients: bool,
    resources: bool,
}

impl Drop for Invalidate<'_> {
    fn drop(&mut self) {
        if self.clients {
            self.caches.clients.clear();
        }
        if self.resources {
            self.caches.resources.clear();
            self.caches.resources_by_url.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(value: &str) -> impl Future<Output = StoreResult<Option<String>>> + use<> {
        std::future::ready(Ok(Some(value.to_string())))
    }

    #[tokio::test]
    async fn entries_live_the_ttl_misses_are_not_kept_and_clear_empties() {
        let cache = ReadThrough::<String>::new(Duration::from_millis(200));
        let missing = cache.get_or_load("k", std::future::ready(Ok(None))).await;
        assert_eq!(missing.unwrap(), None);
        let first = cache.get_or_load("k", found("a")).await.unwrap();
        assert_eq!(first.as_deref(), Some("a"), "a miss is not cached");
        let hit = cache.get_or_load("k", found("b")).await.unwrap();
        assert_eq!(hit.as_deref(), Some("a"));
        tokio::time::sleep(Duration::from_millis(250)).await;
        let expired = cache.get_or_load("k", found("c")).await.unwrap();
        assert_eq!(expired.as_deref(), Some("c"));
        cache.clear();
        let cleared = cache.get_or_load("k", found("d")).await.unwrap();
        assert_eq!(cleared.as_deref(), Some("d"));
    }

    #[test]
    fn a_full_map_drops_its_expired_entries_then_everything() {
        let cache = ReadThrough::<u32>::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES {
            cache.put(&i.to_string(), 1);
        }
        cache.put("one more", 2);
        assert_eq!(cache.get("one more"), Some(2));
        assert_eq!(cache.get("0"), None, "nothing had expired: all went");
        assert_eq!(cache.map.lock().unwrap().len(), 1);
    }
}
