//! Application state, its background tasks, and `serve`. The URL map is in `routes`.

pub use crate::routes::build_router;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditEvent, AuditLog};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::federation;
use crate::keys::{KeyError, KeyRing};
use crate::oauth::register;
use crate::outbound::{self, NameLookup, SystemLookup};
use crate::store::{CachedStore, SqlStore, Store};
use crate::{admin, seed};

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
    pub upstreams: Arc<federation::oidc::Upstreams>,
    /// IdP metadata of SAML connections.
    pub saml: Arc<federation::saml::metadata::IdpCache>,
    pub cimd: Arc<crate::oauth::cimd::CimdCache>,
}

impl AppState {
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// Background tasks owned by a running app.
pub struct Background {
    pub audit_writer: tokio::task::JoinHandle<()>,
    pub key_refresher: tokio::task::JoinHandle<()>,
    /// Reaps idle dynamic clients every ten minutes.
    pub reaper: tokio::task::JoinHandle<()>,
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
    let store: Arc<dyn Store> = Arc::new(CachedStore::new(store));
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
    spawn_purger(store.clone(), clock.clone());
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
    };
    let reaper = spawn_reaper(state.clone());
    Ok((
        state,
        Background {
            audit_writer,
            key_refresher,
            reaper,
        },
    ))
}

/// Reaps idle dynamic clients every ten minutes (safe with several replicas).
fn spawn_reaper(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        tick.tick().await;
        loop {
            tick.tick().await;
            match register::reap_idle(&state).await {
                Ok(ids) if !ids.is_empty() => {
                    tracing::info!(count = ids.len(), "reaped idle dynamic clients")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reaping idle dynamic clients failed"),
            }
        }
    })
}

/// Deletes expired flow records every ten minutes.
fn spawn_purger(store: Arc<dyn Store>, clock: Arc<dyn Clock>) {
    let weak = Arc::downgrade(&store);
    drop(store);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let Some(store) = weak.upgrade() else { break };
            match store.purge_expired(clock.now()).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, "purged expired flow records"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging expired flow records failed"),
            }
        }
    });
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Runs the server until SIGTERM or Ctrl-C, then drains requests and the audit queue.
pub async fn serve(config: Config, seed_file: Option<&Path>) -> anyhow::Result<()> {
    let limits = crate::listener::Limits {
        max_connections: usize::try_from(config.max_connections).unwrap_or(1_024),
        shutdown_timeout: Duration::from_secs(config.shutdown_timeout.unsigned_abs()),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let local = listener.local_addr()?;
    let issuer = config
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sql = Arc::new(SqlStore::open(&config.database_url).await?);
    let store: Arc<dyn Store> = sql.clone();

    if config.is_dev {
        tracing::warn!(
            "DEV SERVER: --dev is for local testing only (dev seed, IdP simulator, public secret key)"
        );
    }
    if config.is_dev_secret {
        tracing::warn!("no PORTCULLIS_SECRET_KEY: private keys are sealed with the public dev key");
    }
    if !config.allow_private_hosts.is_empty() {
        tracing::warn!(hosts = ?config.allow_private_hosts, "PORTCULLIS_ALLOW_PRIVATE_HOSTS exempts these hosts from the SSRF guard");
    }
    let dev_credentials = if config.is_dev {
        let client_secret = crate::crypto::random_token();
        let admin_password = match &config.admin_password {
            Some(p) => secrecy::ExposeSecret::expose_secret(p).to_string(),
            None => crate::crypto::random_token()[..20].to_string(),
        };
        let text = seed::dev::seed_text(&client_secret, &admin_password);
        let summary = seed::apply(&store, &config.secret, &env_lookup, &text, clock.now()).await?;
        tracing::info!(?summary, "applied the dev seed");
        Some((client_secret, admin_password))
    } else {
        None
    };
    let seed_summary = match seed_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read seed file {}: {e}", path.display()))?;
            let summary =
                seed::apply(&store, &config.secret, &env_lookup, &text, clock.now()).await?;
            tracing::info!(?summary, file = %path.display(), "applied seed file");
            Some((path.display().to_string(), summary))
        }
        None => None,
    };

    if !config.is_dev
        && let Some(password) = &config.admin_password
    {
        admin::bootstrap::upsert_admin(
            &store,
            &config.secret,
            admin::bootstrap::DEFAULT_ADMIN,
            secrecy::ExposeSecret::expose_secret(password),
            clock.now(),
        )
        .await?;
        tracing::info!("PORTCULLIS_ADMIN_PASSWORD set the password of admin `admin`");
    }
    let (state, background) = build_state(config, issuer.clone(), store.clone(), clock).await?;
    if let Some((source, summary)) = seed_summary {
        state
            .audit
            .record(AuditEvent::SeedApplied {
                source,
                counts: summary.to_json(),
            })
            .await;
    }
    let audit = state.audit.clone();
    let router = build_router(state);

    tracing::info!(%issuer, listen = %local, "portcullis is serving");
    println!("portcullis listening on http://{local}");
    println!("  issuer:            {issuer}");
    println!("  metadata:          {issuer}/.well-known/oauth-authorization-server");
    println!("  jwks:              {issuer}/keys");
    println!("  admin pages:       {issuer}/admin");
    if let Some((client_secret, admin_password)) = &dev_credentials {
        println!(
            "  *** DEV SERVER: dev seed, IdP simulator, public secret key. For local testing only. ***"
        );
        println!(
            "  resource (dev):    {} at {}",
            seed::dev::RESOURCE_ID,
            seed::dev::RESOURCE_URL
        );
        println!(
            "  resource metadata: {issuer}/.well-known/oauth-authorization-server/resources/{}",
            seed::dev::RESOURCE_ID
        );
        println!(
            "  client (dev):      client_id={} client_secret={client_secret}",
            seed::dev::CLIENT_ID
        );
        println!(
            "  admin (dev):       username={} password={admin_password}",
            seed::dev::ADMIN_USERNAME
        );
        println!(
            "  try: curl -s -u {}:{client_secret} -d grant_type=client_credentials -d resource={} {issuer}/oauth/token",
            seed::dev::CLIENT_ID,
            seed::dev::RESOURCE_ID
        );
    }
    println!();

    crate::listener::serve(listener, router, limits, shutdown_signal()).await;
    tracing::info!("shutting down: flushing the audit queue");
    audit.flush().await;
    drop(audit);
    background.key_refresher.abort();
    background.reaper.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), background.audit_writer).await;
    sql.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
