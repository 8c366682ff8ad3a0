//! The authorization server's signing keys, known only through its metadata (RFC 8414 §3:
//! `{issuer}/.well-known/oauth-authorization-server` → `jwks_uri`) and its JWK Set
//! (RFC 7517 §5). Cached; refetched when a token names an unknown `kid` or the cache is old,
//! at most once per `refetch_interval`, so a stream of forged `kid`s cannot make us hammer
//! the authorization server.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, JwsVerifier, RS256};
use serde_json::Value;

use super::token::TokenError;

/// Metadata and JWK Set documents larger than this are refused.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
/// After a failed fetch, the next attempt may come this soon (when shorter than the
/// refetch interval), so a server started before its authorization server recovers fast.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Why the keys could not be fetched (logged, never sent to a client).
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{0} is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge(String),
    #[error("{0} is not a JSON object")]
    NotJson(String),
    #[error("the metadata names issuer {found:?}, expected {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("the metadata has no jwks_uri")]
    NoJwksUri,
}

/// Verifiers for the keys of one JWK Set, by `kid`. Keys that are not signature keys of an
/// allowed algorithm (HMAC `oct` keys, `use: enc`, unknown curves) are left out.
#[derive(Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Vec<Arc<dyn JwsVerifier>>>,
}

impl KeySet {
    /// Parses a JWK Set document, skipping keys it cannot use.
    pub fn from_json(doc: &Value) -> Self {
        let mut by_kid: HashMap<String, Vec<Arc<dyn JwsVerifier>>> = HashMap::new();
        let keys = doc.get("keys").and_then(Value::as_array);
        for key in keys.into_iter().flatten() {
            let Some(map) = key.as_object() else { continue };
            let Ok(jwk) = Jwk::from_map(map.clone()) else {
                continue;
            };
            let Some(kid) = jwk.key_id().map(str::to_string) else {
                continue;
            };
            if let Some(v) = verifier_for(&jwk) {
                by_kid.entry(kid).or_default().push(v);
            }
        }
        Self { by_kid }
    }

    /// The verifier for `kid` whose algorithm is `alg`.
    pub fn find(&self, kid: &str, alg: &str) -> Option<Arc<dyn JwsVerifier>> {
        self.by_kid
            .get(kid)?
            .iter()
            .find(|v| v.algorithm().name() == alg)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }
}

/// One verifier per usable key: the algorithm follows from `kty`/`crv` and must agree with
/// the key's own `alg` when it names one (josekit checks that, and `use`/`key_ops`).
fn verifier_for(jwk: &Jwk) -> Option<Arc<dyn JwsVerifier>> {
    let crv = jwk.curve();
    match (jwk.key_type(), crv) {
        ("RSA", _) => Some(Arc::new(RS256.verifier_from_jwk(jwk).ok()?)),
        ("EC", Some("P-256")) => Some(Arc::new(ES256.verifier_from_jwk(jwk).ok()?)),
        ("OKP", Some("Ed25519")) => Some(Arc::new(EdDSA.verifier_from_jwk(jwk).ok()?)),
        _ => None,
    }
}

struct Cached {
    keys: Arc<KeySet>,
    fetched_at: Option<Instant>,
}

/// The cached JWK Set of one issuer.
pub struct JwksCache {
    issuer: String,
    http: reqwest::Client,
    refetch_interval: Duration,
    max_age: Duration,
    cached: RwLock<Cached>,
    /// Time and success of the last fetch attempt; held while fetching so concurrent misses
    /// wait for one fetch instead of starting their own.
    last_attempt: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("issuer", &self.issuer)
            .field("keys", &self.snapshot().len())
            .finish()
    }
}

impl JwksCache {
    pub fn new(
        issuer: String,
        http: reqwest::Client,
        refetch_interval: Duration,
        max_age: Duration,
    ) -> Self {
        Self {
            issuer,
            http,
            refetch_interval,
            max_age,
            cached: RwLock::new(Cached {
                keys: Arc::new(KeySet::default()),
                fetched_at: None,
            }),
            last_attempt: tokio::sync::Mutex::new(None),
        }
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.cached
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys
            .clone()
    }

    fn is_stale(&self) -> bool {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        cached
            .fetched_at
            .is_none_or(|t| t.elapsed() >= self.max_age)
    }

    /// The verifier for a token's `kid` and `alg`, refetching the JWKS (rate-limited) when
    /// the key is unknown or the cache has aged out.
    pub async fn verifier(&self, kid: &str, alg: &str) -> Result<Arc<dyn JwsVerifier>, TokenError> {
        if !self.is_stale()
            && let Some(v) = self.snapshot().find(kid, alg)
        {
            return Ok(v);
        }
        self.refresh_rate_limited().await;
        let keys = self.snapshot();
        if let Some(v) = keys.find(kid, alg) {
            return Ok(v);
        }
        let never_fetched = self
            .cached
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .fetched_at
            .is_none();
        Err(if never_fetched {
            TokenError::KeysUnavailable
        } else {
            TokenError::UnknownKey
        })
    }

    /// Fetches now unless another fetch was attempted within `refetch_interval` (or, after
    /// a failed one, within 5 s). A failed fetch keeps the keys already cached.
    pub async fn refresh_rate_limited(&self) {
        let mut last = self.last_attempt.lock().await;
        if let Some((at, ok)) = *last {
            let wait = if ok {
                self.refetch_interval
            } else {
                self.refetch_interval.min(RETRY_AFTER_FAILURE)
            };
            if at.elapsed() < wait {
                return;
            }
        }
        let result = self.fetch().await;
        *last = Some((Instant::now(), result.is_ok()));
        match result {
            Ok(keys) => {
                tracing::info!(issuer = %self.issuer, keys = keys.len(), "fetched JWKS");
                *self.cached.write().unwrap_or_else(|e| e.into_inner()) = Cached {
                    keys: Arc::new(keys),
                    fetched_at: Some(Instant::now()),
                };
            }
            Err(e) => tracing::warn!(issuer = %self.issuer, error = %e, "JWKS fetch failed"),
        }
    }

    async fn fetch(&self) -> Result<KeySet, JwksError> {
        let metadata = self.metadata().await?;
        let jwks_uri = metadata
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or(JwksError::NoJwksUri)?;
        let doc = get_json(&self.http, jwks_uri).await?;
        Ok(KeySet::from_json(&doc))
    }

    /// The issuer's metadata: `{issuer}/.well-known/oauth-authorization-server` (which
    /// portcullis serves for per-resource issuers too), else the RFC 8414 §3.1 path-inserted
    /// form. Its `issuer` must equal ours (RFC 8414 §3.3).
    async fn metadata(&self) -> Result<Value, JwksError> {
        let mut urls = vec![format!(
            "{}/.well-known/oauth-authorization-server",
            self.issuer
        )];
        if let Some(inserted) = path_inserted_metadata_url(&self.issuer) {
            urls.push(inserted);
        }
        let mut last_err = None;
        for url in urls {
            match get_json(&self.http, &url).await {
                Ok(doc) => {
                    let found = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
                    if found != self.issuer {
                        return Err(JwksError::IssuerMismatch {
                            expected: self.issuer.clone(),
                            found: found.to_string(),
                        });
                    }
                    return Ok(doc);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or(JwksError::NoJwksUri))
    }
}

/// `https://as/.well-known/oauth-authorization-server/tenant` for issuer
/// `https://as/tenant`; `None` when the issuer has no path.
pub fn path_inserted_metadata_url(issuer: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    let path = url.path().trim_end_matches('/');
    if path.is_empty() {
        return None;
    }
    Some(format!(
        "{}/.well-known/oauth-authorization-server{path}",
        url.origin().ascii_serialization()
    ))
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, JwksError> {
    let http_err = |source| JwksError::Http {
        url: url.to_string(),
        source,
    };
    let mut resp = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(http_err)?;
    if !resp.status().is_success() {
        return Err(JwksError::Status {
            url: url.to_string(),
            status: resp.status().as_u16(),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(http_err)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(JwksError::TooLarge(url.to_string()));
        }
        body.extend_from_slice(&chunk);
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(doc) if doc.is_object() => Ok(doc),
        _ => Err(JwksError::NotJson(url.to_string())),
    }
}
