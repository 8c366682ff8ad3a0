//! The key ring: signing keys kept in the store with their private halves sealed under
//! `PORTCULLIS_SECRET_KEY` (the key id as associated data), the current signing key, the
//! JWKS, and a periodic reload so replicas pick up rotations without a restart.

mod material;
pub mod rotation;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use josekit::jws::{JwsSigner, JwsVerifier};
use serde::Serialize;

use crate::clock::Clock;
use crate::config::SigningAlg;
use crate::crypto::{SealError, SecretBox, b64url};
use crate::ids;
use crate::store::{SigningKeyRecord, Store, StoreError};
use rotation::KeyTimes;

/// Default for a resource's access-token lifetime when none is stored.
pub const DEFAULT_ACCESS_TOKEN_TTL: i64 = 300;
/// Clock leeway added to the publication window of superseded keys.
const RETENTION_LEEWAY: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key cannot be opened: {0}")]
    Seal(#[from] SealError),
    #[error("crypto: {0}")]
    Crypto(#[from] josekit::JoseError),
    #[error("key data is corrupt: {0}")]
    Corrupt(String),
    #[error("no signing key is active")]
    NoSigningKey,
}

struct LoadedKey {
    id: String,
    alg: String,
    times: KeyTimes,
    public_jwk: serde_json::Value,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    /// base64url of the `at+jwt` header, computed once.
    at_header: String,
}

#[derive(Default)]
struct Snapshot {
    keys: Vec<Arc<LoadedKey>>,
    retention: i64,
}

pub struct KeyRing {
    store: Arc<dyn Store>,
    secret: SecretBox,
    clock: Arc<dyn Clock>,
    refresh_interval: u64,
    state: RwLock<Arc<Snapshot>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.snapshot().keys.len())
            .finish()
    }
}

fn header_b64(alg: &str, kid: &str, typ: &str) -> String {
    let header = serde_json::json!({ "alg": alg, "kid": kid, "typ": typ });
    b64url(header.to_string().as_bytes())
}

impl KeyRing {
    /// Loads the ring; makes sure a key of `alg` signs now (creating one if needed).
    pub async fn open(
        store: Arc<dyn Store>,
        secret: SecretBox,
        clock: Arc<dyn Clock>,
        alg: SigningAlg,
        refresh_interval: u64,
    ) -> Result<Self, KeyError> {
        let ring = Self {
            store,
            secret,
            clock,
            refresh_interval,
            state: RwLock::new(Arc::new(Snapshot::default())),
        };
        ring.refresh().await?;
        let current = ring.current();
        if current.as_ref().is_none_or(|k| k.alg != alg.as_str()) {
            let kid =
                create_key(ring.store.as_ref(), &ring.secret, alg, ring.clock.now(), 0).await?;
            tracing::info!(kid = %kid, alg = alg.as_str(), "created signing key");
            ring.refresh().await?;
        }
        Ok(ring)
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn current(&self) -> Option<Arc<LoadedKey>> {
        let snap = self.snapshot();
        let times: Vec<KeyTimes> = snap.keys.iter().map(|k| k.times.clone()).collect();
        rotation::signing_index(&times, self.clock.now()).map(|i| snap.keys[i].clone())
    }

    /// Reloads keys from the store, opening only keys not already loaded.
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let records = self.store.list_signing_keys().await?;
        let max_ttl = self
            .store
            .list_resources()
            .await?
            .iter()
            .map(|r| r.access_token_ttl)
            .max()
            .unwrap_or(DEFAULT_ACCESS_TOKEN_TTL)
            .max(DEFAULT_ACCESS_TOKEN_TTL);
        let old = self.snapshot();
        let known: HashMap<&str, &Arc<LoadedKey>> =
            old.keys.iter().map(|k| (k.id.as_str(), k)).collect();
        let mut keys = Vec::with_capacity(records.len());
        for r in &records {
            match known.get(r.id.as_str()) {
                Some(k) => keys.push((*k).clone()),
                None => keys.push(Arc::new(self.load(r)?)),
            }
        }
        let retention = max_ttl + self.refresh_interval as i64 + RETENTION_LEEWAY;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(Snapshot { keys, retention });
        Ok(())
    }

    fn load(&self, r: &SigningKeyRecord) -> Result<LoadedKey, KeyError> {
        let der = self.secret.open(&r.private_key, &r.id)?;
        Ok(LoadedKey {
            signer: material::signer(&r.alg, &der)?,
            verifier: material::verifier(&r.alg, &r.public_jwk)?,
            public_jwk: serde_json::from_str(&r.public_jwk)
                .map_err(|e| KeyError::Corrupt(format!("{}: {e}", r.id)))?,
            at_header: header_b64(&r.alg, &r.id, "at+jwt"),
            id: r.id.clone(),
            alg: r.alg.clone(),
            times: KeyTimes {
                created_at: r.created_at,
                activate_at: r.activate_at,
            },
        })
    }

    /// Signs `claims` as a compact JWS with the current key; returns (jwt, kid).
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<(String, String), KeyError> {
        let key = self.current().ok_or(KeyError::NoSigningKey)?;
        let header = if typ == "at+jwt" {
            key.at_header.clone()
        } else {
            header_b64(&key.alg, &key.id, typ)
        };
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Corrupt(e.to_string()))?;
        let mut jwt = String::with_capacity(header.len() + payload.len() * 2 + 400);
        jwt.push_str(&header);
        jwt.push('.');
        jwt.push_str(&b64url(&payload));
        let signature = key.signer.sign(jwt.as_bytes())?;
        jwt.push('.');
        jwt.push_str(&b64url(&signature));
        Ok((jwt, key.id.clone()))
    }

    /// The JWK Set: every key whose tokens may still be live, and upcoming keys.
    pub fn jwks(&self) -> serde_json::Value {
        let snap = self.snapshot();
        let times: Vec<KeyTimes> = snap.keys.iter().map(|k| k.times.clone()).collect();
        let keys: Vec<&serde_json::Value> =
            rotation::published(&times, self.clock.now(), snap.retention)
                .into_iter()
                .map(|i| &snap.keys[i].public_jwk)
                .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Verifies a JWT this server signed (any key it still holds) and returns its header
    /// and claims. Expiry and audience are the caller's to check.
    pub fn verify(&self, jwt: &str) -> Option<(serde_json::Value, serde_json::Value)> {
        use base64::Engine;
        let decode = |part: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        };
        let mut parts = jwt.split('.');
        let (Some(h), Some(p), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let header = decode(h)?;
        let kid = header.get("kid")?.as_str()?;
        let snap = self.snapshot();
        let key = snap.keys.iter().find(|k| k.id == kid)?;
        if header.get("alg")?.as_str()? != key.alg {
            return None;
        }
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .ok()?;
        let signed = &jwt[..h.len() + 1 + p.len()];
        key.verifier.verify(signed.as_bytes(), &signature).ok()?;
        Some((header, decode(p)?))
    }

    /// The `kid` that signs now.
    pub fn current_kid(&self) -> Option<String> {
        self.current().map(|k| k.id.clone())
    }

    /// Reloads every `refresh_interval` seconds until the ring is dropped elsewhere.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        let every = std::time::Duration::from_secs(self.refresh_interval);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(ring) = weak.upgrade() else { break };
                if let Err(e) = ring.refresh().await {
                    tracing::warn!(error = %e, "key ring refresh failed");
                }
            }
        })
    }
}

/// Creates a key that signs from `now + delay` and is published at once. Returns its kid.
pub async fn create_key(
    store: &dyn Store,
    secret: &SecretBox,
    alg: SigningAlg,
    now: i64,
    delay: i64,
) -> Result<String, KeyError> {
    let kid = ids::generate("snk");
    let (der, public_jwk) = material::generate(alg, &kid)?;
    store
        .insert_signing_key(&SigningKeyRecord {
            private_key: secret.seal(&der, &kid),
            id: kid.clone(),
            alg: alg.as_str().to_string(),
            public_jwk,
            created_at: now,
            activate_at: now + delay,
        })
        .await?;
    Ok(kid)
}
