//! The in-memory caches the application state holds, below every handler module: the
//! upstream OIDC discovery documents, the SAML IdP metadata and the Client ID Metadata
//! Documents. Each module keeps only the cached values and their freshness; fetching and
//! checking stay with the protocol code that uses them.

pub mod cimd;
pub mod jwks;
pub mod oidc;
pub mod saml;
