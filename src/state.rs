//! The application state every handler receives, and its construction for the server and
//! the tests: key ring (creating a signing key if needed), audit writer, outbound clients.
//! Start-up and the housekeeping tasks are in `server`; the URL map is in `routes`.

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::caches::cimd::CimdCache;
use crate::caches::oidc::Upstreams;
use crate::caches::saml::IdpCache;
use crate::clock::Clock;
use crate::config::Config;
use crate::keys::{KeyError, KeyRing};
use crate::outbound::{self, NameLookup, SystemLookup};
use crate::store::Store;

#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    /// The environment issuer, byte-for-byte.
    pub issuer: Arc<str>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyRing>,
    pub clock: Arc<dyn Clock>,
    pub audit: AuditLog,
    pub http: reqwest::Client,
    /// The SSRF-guarded client for URLs outsiders control (CIMD documents).
    pub outsider_http: reqwest::Client,
    /// Discovery documents of OIDC connections.
    pub upstreams: Arc<Upstreams>,
    /// IdP metadata of SAML connections.
    pub saml: Arc<IdpCache>,
    /// Client ID Metadata Documents.
    pub cimd: Arc<CimdCache>,
    /// JWK Sets of XAA IdPs and `private_key_jwt` clients.
    pub jwks: Arc<crate::caches::jwks::JwksCache>,
}

impl AppState {
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// Background tasks owned by the state (the housekeeping tasks are `server`'s).
pub struct Background {
    pub audit_writer: tokio::task::JoinHandle<()>,
    pub key_refresher: tokio::task::JoinHandle<()>,
}

/// Builds the state: key ring (creating a signing key if needed), audit writer.
pub async fn build_state(
    config: Config,
    issuer: String,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> Result<(AppState, Background), KeyError> {
    build_state_with_lookup(config, issuer, store, clock, Arc::new(SystemLookup)).await
}

/// [`build_state`] with the name lookup of outsider-controlled fetches (a test seam).
pub async fn build_state_with_lookup(
    config: Config,
    issuer: String,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    lookup: Arc<dyn NameLookup>,
) -> Result<(AppState, Background), KeyError> {
    let keys = Arc::new(
        KeyRing::open(
            store.clone(),
            config.secret.clone(),
            clock.clone(),
            config.signing_alg,
            config.key_refresh_interval,
        )
        .await?,
    );
    let (audit, audit_writer) = AuditLog::start(store.clone(), clock.clone());
    let key_refresher = keys.spawn_refresher();
    let roots = outbound::extra_roots(&config);
    let http = outbound::outbound_client(&roots);
    let outsider_http =
        outbound::guarded_client(lookup, config.allow_private_hosts.clone(), &roots);
    let state = AppState {
        config: Arc::new(config),
        issuer: issuer.into(),
        store,
        keys,
        clock,
        audit,
        http,
        outsider_http,
        upstreams: Arc::default(),
        saml: Arc::default(),
        cimd: Arc::default(),
        jwks: Arc::default(),
    };
    Ok((
        state,
        Background {
            audit_writer,
            key_refresher,
        },
    ))
}
