//! The upstream IdPs' discovery documents and keys, cached per connection for ten minutes;
//! the JWKS refetched after an unknown `kid`, at most every 30 s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openidconnect::IssuerUrl;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use serde::{Deserialize, Serialize};

use crate::state::AppState;

const METADATA_TTL: Duration = Duration::from_secs(600);
const JWKS_REFETCH_MIN: Duration = Duration::from_secs(30);

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

/// Does the IdP promise `iss` on its authorization responses (then it must send it)?
pub fn is_iss_required(metadata: &ProviderMetadata) -> bool {
    metadata
        .additional_metadata()
        .authorization_response_iss_parameter_supported
}

fn remember(
    app: &AppState,
    connection_id: &str,
    metadata: &ProviderMetadata,
    jwks_refetched_at: Option<Instant>,
) {
    app.upstreams
        .providers
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

/// The provider's discovery document (cached; the IdP's `issuer` must equal ours).
pub async fn provider(
    app: &AppState,
    connection_id: &str,
    issuer: &str,
) -> Result<ProviderMetadata, String> {
    {
        let cache = app
            .upstreams
            .providers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache
            .get(connection_id)
            // An admin may have changed the connection's issuer since.
            .filter(|c| {
                c.fetched_at.elapsed() < METADATA_TTL && c.metadata.issuer().as_str() == issuer
            })
        {
            return Ok(c.metadata.clone());
        }
    }
    let url = IssuerUrl::new(issuer.to_string()).map_err(|e| format!("issuer URL: {e}"))?;
    // openidconnect checks that the document's issuer equals the configured one.
    let metadata = ProviderMetadata::discover_async(url, &app.http)
        .await
        .map_err(|e| format!("discovery at {issuer} failed: {e}"))?;
    remember(app, connection_id, &metadata, None);
    Ok(metadata)
}

/// Refetches the JWKS after an unknown `kid`, at most every 30 s per connection.
pub(super) async fn refetch_jwks(
    app: &AppState,
    connection_id: &str,
    metadata: &ProviderMetadata,
) -> Option<ProviderMetadata> {
    {
        let cache = app
            .upstreams
            .providers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if cache
            .get(connection_id)
            .and_then(|c| c.jwks_refetched_at)
            .is_some_and(|at| at.elapsed() < JWKS_REFETCH_MIN)
        {
            return None;
        }
    }
    let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &app.http)
        .await
        .ok()?;
    let updated = metadata.clone().set_jwks(jwks);
    remember(app, connection_id, &updated, Some(Instant::now()));
    Some(updated)
}
