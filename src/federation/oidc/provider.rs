//! The upstream IdPs' discovery documents and keys, cached per connection for ten minutes
//! (in [`crate::caches::oidc`]); the JWKS refetched after an unknown `kid`, at most every
//! 30 s.

use std::time::Instant;

use openidconnect::IssuerUrl;
use openidconnect::core::CoreJsonWebKeySet;

pub use crate::caches::oidc::{IssParameter, ProviderMetadata, Upstreams};
use crate::state::AppState;

/// Does the IdP promise `iss` on its authorization responses (then it must send it)?
pub fn is_iss_required(metadata: &ProviderMetadata) -> bool {
    metadata
        .additional_metadata()
        .authorization_response_iss_parameter_supported
}

/// The provider's discovery document (cached; the IdP's `issuer` must equal ours).
pub async fn provider(
    app: &AppState,
    connection_id: &str,
    issuer: &str,
) -> Result<ProviderMetadata, String> {
    if let Some(metadata) = app.upstreams.fresh(connection_id, issuer) {
        return Ok(metadata);
    }
    let url = IssuerUrl::new(issuer.to_string()).map_err(|e| format!("issuer URL: {e}"))?;
    // openidconnect checks that the document's issuer equals the configured one.
    let metadata = ProviderMetadata::discover_async(url, &app.http)
        .await
        .map_err(|e| format!("discovery at {issuer} failed: {e}"))?;
    app.upstreams.remember(connection_id, &metadata, None);
    Ok(metadata)
}

/// Refetches the JWKS after an unknown `kid`, at most every 30 s per connection.
pub(super) async fn refetch_jwks(
    app: &AppState,
    connection_id: &str,
    metadata: &ProviderMetadata,
) -> Option<ProviderMetadata> {
    if app.upstreams.is_jwks_refetch_recent(connection_id) {
        return None;
    }
    let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &app.http)
        .await
        .ok()?;
    let updated = metadata.clone().set_jwks(jwks);
    app.upstreams
        .remember(connection_id, &updated, Some(Instant::now()));
    Some(updated)
}
