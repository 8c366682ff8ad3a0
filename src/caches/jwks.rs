//! JWK Sets fetched from URLs an admin configured (an XAA IdP's `xaa_jwks_uri`, a client's
//! `jwks_uri`), by URL: used for ten minutes, refetched sooner after an unknown `kid` at
//! most every 30 s (a key rotation, without letting anyone make us fetch in a loop).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

const TTL: Duration = Duration::from_secs(600);
const REFETCH_MIN: Duration = Duration::from_secs(30);
/// The largest JWK Set we read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

#[derive(Default)]
pub struct JwksCache {
    sets: Mutex<HashMap<String, (Value, Instant)>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwksCache")
    }
}

/// Whether a cached set may be used, or must (or may) be fetched again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Fresh(Value),
    /// Absent, stale, or an unknown `kid` after [`REFETCH_MIN`]: fetch.
    Fetch,
}

impl JwksCache {
    /// The cached set of `url`; `after_unknown_kid` asks for a refetch, which is granted at
    /// most every 30 s.
    pub fn lookup(&self, url: &str, after_unknown_kid: bool) -> Lookup {
        let sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        match sets.get(url) {
            Some((set, at)) if at.elapsed() < TTL => {
                if after_unknown_kid && at.elapsed() >= REFETCH_MIN {
                    Lookup::Fetch
                } else {
                    Lookup::Fresh(set.clone())
                }
            }
            _ => Lookup::Fetch,
        }
    }

    pub fn store(&self, url: &str, set: Value) {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        if sets.len() > 1_000 {
            sets.clear();
        }
        sets.insert(url.to_string(), (set, Instant::now()));
    }
}

/// The JWK Set at `url` (admin-configured: the admin-configured client), cached.
pub async fn fetch(
    cache: &JwksCache,
    http: &reqwest::Client,
    url: &str,
    after_unknown_kid: bool,
) -> Result<Value, String> {
    if let Lookup::Fresh(set) = cache.lookup(url, after_unknown_kid) {
        return Ok(set);
    }
    let response = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("fetching the JWK Set at {url} failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "the JWK Set at {url} answered {}",
            response.status()
        ));
    }
    let body = crate::outbound::read_capped(response, MAX_JWKS_BYTES).await?;
    let set: Value =
        serde_json::from_slice(&body).map_err(|_| format!("the JWK Set at {url} is not JSON"))?;
    if !set["keys"].is_array() {
        return Err(format!("the JWK Set at {url} has no `keys`"));
    }
    cache.store(url, set.clone());
    Ok(set)
}

/// A JSON document (an IdP's discovery document) at `url`, cached as the sets are.
pub async fn fetch_document(
    cache: &JwksCache,
    http: &reqwest::Client,
    url: &str,
) -> Result<Value, String> {
    if let Lookup::Fresh(doc) = cache.lookup(url, false) {
        return Ok(doc);
    }
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
    let doc: Value = serde_json::from_slice(&body).map_err(|_| format!("{url} is not JSON"))?;
    cache.store(url, doc.clone());
    Ok(doc)
}
