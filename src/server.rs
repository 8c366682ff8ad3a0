//! Start-up (`portcullis serve`): seeds, the admin bootstrap, the banner, the listener;
//! the housekeeping tasks; and the graceful shutdown on SIGTERM or Ctrl-C, which drains
//! requests and the audit queue. The state is built in `state`, the URL map is in `routes`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditEvent;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::oauth::register;
use crate::routes::build_router;
use crate::state::{AppState, build_state};
use crate::store::{SqlStore, Store};
use crate::{admin, seed};

/// Starts the housekeeping tasks: the purger of expired flow records (it stops once the
/// store is dropped) and the reaper of idle dynamic clients, whose handle is returned.
pub fn spawn_housekeeping(state: &AppState) -> tokio::task::JoinHandle<()> {
    spawn_purger(state.store.clone(), state.clock.clone());
    spawn_reaper(state.clone())
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
            admin::bootstrap::DEFAULT_ADMIN,
            secrecy::ExposeSecret::expose_secret(password),
            clock.now(),
        )
        .await?;
        tracing::info!("PORTCULLIS_ADMIN_PASSWORD set the password of admin `admin`");
    }
    let (state, background) = build_state(config, issuer.clone(), store.clone(), clock).await?;
    let reaper = spawn_housekeeping(&state);
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
    print_banner(&issuer, local, dev_credentials.as_ref());

    crate::listener::serve(listener, router, limits, shutdown_signal()).await;
    tracing::info!("shutting down: flushing the audit queue");
    audit.flush().await;
    drop(audit);
    background.key_refresher.abort();
    reaper.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), background.audit_writer).await;
    sql.close().await;
    Ok(())
}

/// The start-up banner on stdout: where to find the server and, with `--dev`, the
/// credentials of the dev seed.
fn print_banner(
    issuer: &str,
    local: std::net::SocketAddr,
    dev_credentials: Option<&(String, String)>,
) {
    println!("portcullis listening on http://{local}");
    println!("  issuer:            {issuer}");
    println!("  metadata:          {issuer}/.well-known/oauth-authorization-server");
    println!("  jwks:              {issuer}/keys");
    println!("  admin pages:       {issuer}/admin");
    if let Some((client_secret, admin_password)) = dev_credentials {
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
