//! The upstream OIDC IdPs' discovery documents (OpenID Connect Discovery 1.0) with their
//! JWKS, by connection (`federation::oidc::provider` fetches them): used for ten minutes,
//! and the time of the last JWKS refetch after an unknown `kid` (at most every 30 s).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use serde::{Deserialize, Serialize};

const METADATA_TTL: Duration = Duration::from_secs(600);
const JWKS_REFETCH_MIN: Duration = Duration::from_secs(30);

/// RFC 9207's discovery field, which the crate's core metadata does not keep.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IssParameter {
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl openidconnect::AdditionalProviderMetadata for IssParameter {}

/// The core discovery document plus [`IssParameter`], read in one fetch.
pub type ProviderMetadata = openidconnect::ProviderMetadata<
    IssParameter,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Discovery documents per connection, with their JWKS.
#[derive(Default)]
pub struct Upstreams {
    providers: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upstreams")
    }
}

struct Cached {
    metadata: ProviderMetadata,
    fetched_at: Instant,
    /// The last refetch of the JWKS after an unknown `kid` (rate limit).
    jwks_refetched_at: Option<Instant>,
}

impl Upstreams {
    /// The connection's document while it is fresh and still for `issuer`.
    pub fn fresh(&self, connection_id: &str, issuer: &str) -> Option<ProviderMetadata> {
        let cache = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(connection_id)
            // An admin may have changed the connection's issuer since.
            .filter(|c| {
                c.fetched_at.elapsed() < METADATA_TTL && c.metadata.issuer().as_str() == issuer
            })
            .map(|c| c.metadata.clone())
    }

    /// Whether the connection's JWKS was refetched less than 30 s ago.
    pub fn is_jwks_refetch_recent(&self, connection_id: &str) -> bool {
        let cache = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(connection_id)
            .and_then(|c| c.jwks_refetched_at)
            .is_some_and(|at| at.elapsed() < JWKS_REFETCH_MIN)
    }

    pub fn remember(
        &self,
        connection_id: &str,
        metadata: &ProviderMetadata,
        jwks_refetched_at: Option<Instant>,
    ) {
        self.providers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                connection_id.to_string(),
                Cached {
                    metadata: metadata.clone(),
                    fetched_at: Instant::now(),
                    jwks_refetched_at,
                },
            );
    }
}
