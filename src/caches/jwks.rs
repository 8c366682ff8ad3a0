//! JWK Sets (and IdP discovery documents) fetched from URLs an admin configured (an XAA
//! IdP's, a client's `jwks_uri`), by URL: used for ten minutes; fetched again sooner after an
//! unknown `kid`, but never more than once every 30 s per URL, failed attempts included, so
//! outsiders presenting random `kid`s cannot make us fetch in a loop; when a fetch fails, the
//! last good copy is used.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

const TTL: Duration = Duration::from_secs(600);
const REFETCH_MIN: Duration = Duration::from_secs(30);
/// The largest document we read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

#[derive(Default)]
pub struct JwksCache {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    /// The last good copy and when it was fetched.
    good: Option<(Value, Instant)>,
    /// The last attempt, good or not.
    attempted_at: Instant,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwksCache")
    }
}

/// What to do for a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Use this copy.
    Use(Value),
    /// Fetch (the attempt is recorded now), falling back to the stale copy if any.
    Fetch(Option<Value>),
    /// Tried less than 30 s ago without a copy to use.
    RecentlyFailed,
}

impl JwksCache {
    /// Decides for `url`; `after_unknown_kid` asks for a refetch of a fresh copy.
    pub fn lookup(&self, url: &str, after_unknown_kid: bool) -> Lookup {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 1_000 {
            entries.clear();
        }
        let now = Instant::now();
        let entry = entries.entry(url.to_string()).or_insert(Entry {
            good: None,
            attempted_at: now - REFETCH_MIN,
        });
        let fresh = entry
            .good
            .as_ref()
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(v, _)| v.clone());
        let may_try = entry.attempted_at.elapsed() >= REFETCH_MIN;
        match (fresh, may_try) {
            (Some(v), _) if !after_unknown_kid => Lookup::Use(v),
            (Some(v), false) => Lookup::Use(v),
            (_, true) => {
                entry.attempted_at = now;
                Lookup::Fetch(entry.good.as_ref().map(|(v, _)| v.clone()))
            }
            (None, false) => match &entry.good {
                Some((stale, _)) => Lookup::Use(stale.clone()),
                None => Lookup::RecentlyFailed,
            },
        }
    }

    pub fn store(&self, url: &str, value: Value) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        entries.insert(
            url.to_string(),
            Entry {
                good: Some((value, now)),
                attempted_at: now,
            },
        );
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("fetching {url} failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let body = crate::outbound::read_capped(response, MAX_JWKS_BYTES).await?;
    serde_json::from_slice(&body).map_err(|_| format!("{url} is not JSON"))
}

/// The document at `url`, through the cache; `check` says whether a fetched one is usable.
async fn cached(
    cache: &JwksCache,
    http: &reqwest::Client,
    url: &str,
    after_unknown_kid: bool,
    check: impl Fn(&Value) -> Result<(), String>,
) -> Result<Value, String> {
    match cache.lookup(url, after_unknown_kid) {
        Lookup::Use(v) => Ok(v),
        Lookup::RecentlyFailed => Err(format!("{url} failed less than 30 s ago")),
        Lookup::Fetch(stale) => match get_json(http, url)
            .await
            .and_then(|v| check(&v).map(|()| v))
        {
            Ok(v) => {
                cache.store(url, v.clone());
                Ok(v)
            }
            Err(e) => stale.ok_or(e),
        },
    }
}

/// The JWK Set at `url`.
pub async fn fetch(
    cache: &JwksCache,
    http: &reqwest::Client,
    url: &str,
    after_unknown_kid: bool,
) -> Result<Value, String> {
    cached(cache, http, url, after_unknown_kid, |v| {
        if v["keys"].is_array() {
            Ok(())
        } else {
            Err(format!("the JWK Set at {url} has no `keys`"))
        }
    })
    .await
}

/// A JSON document (an IdP's discovery document) at `url`.
pub async fn fetch_document(
    cache: &JwksCache,
    http: &reqwest::Client,
    url: &str,
) -> Result<Value, String> {
    cached(cache, http, url, false, |v| {
        if v.is_object() {
            Ok(())
        } else {
            Err(format!("{url} is not a JSON object"))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn attempts_are_rate_limited_and_a_good_copy_outlives_failures() {
        let cache = JwksCache::default();
        // First sight: fetch (and the attempt is recorded).
        assert_eq!(cache.lookup("u", false), Lookup::Fetch(None));
        // It failed: within 30 s no new attempt, whatever the kid.
        assert_eq!(cache.lookup("u", true), Lookup::RecentlyFailed);
        assert_eq!(cache.lookup("u", false), Lookup::RecentlyFailed);
        // A good copy is used; an unknown kid right after does not refetch.
        cache.store("u", json!({ "keys": [] }));
        assert_eq!(cache.lookup("u", false), Lookup::Use(json!({ "keys": [] })));
        assert_eq!(cache.lookup("u", true), Lookup::Use(json!({ "keys": [] })));
    }
}
