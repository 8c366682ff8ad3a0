//! Assembles the tickets MCP server: protected-resource metadata routes, and the rmcp
//! streamable-HTTP service under the resource's path behind the verifier layer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::access::{self, TicketsPolicy};
use crate::store::TicketStore;
use crate::tickets::{Clock, TicketsServer};
use crate::verifier::{ConfigError, Verifier, VerifierConfig};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// Default canonical URL (the dev seed's "Tickets" resource).
pub const DEFAULT_RESOURCE: &str = "http://127.0.0.1:8081/mcp";
/// Default issuer: the dev seed resource's own issuer on a `portcullis serve --dev`.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080/resources/res_tickets";

/// What the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub issuer: String,
    pub resource: String,
    pub listen: SocketAddr,
    pub allowed_origins: Vec<String>,
}

/// The verifier settings of the tickets server.
pub fn verifier_config(config: &Config) -> VerifierConfig {
    let mut v = VerifierConfig::new(config.issuer.clone(), config.resource.clone());
    v.scopes_supported = vec![access::READ.into(), access::MANAGE.into()];
    v.challenge_scopes = vec![access::READ.into()];
    v.allowed_origins = config.allowed_origins.clone();
    v.resource_name = Some("Tickets".into());
    v
}

/// The system clock in unix seconds.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    })
}

/// The whole HTTP app, and the rmcp settings (whose cancellation token ends open streams).
pub fn build_router(
    verifier: Arc<Verifier>,
    store: Arc<TicketStore>,
    clock: Clock,
) -> (Router, StreamableHttpServerConfig) {
    let resource = verifier.resource_url().clone();
    // rmcp refuses Host headers other than loopback (DNS rebinding); add our own host.
    let mut hosts = StreamableHttpServerConfig::default().allowed_hosts;
    if let Some(h) = resource.host_str() {
        hosts.push(h.trim_start_matches('[').trim_end_matches(']').to_string());
    }
    let mcp_config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts);
    let service = StreamableHttpService::new(
        move || Ok(TicketsServer::new(store.clone(), clock.clone())),
        Arc::new(LocalSessionManager::default()),
        mcp_config.clone(),
    );
    let guarded = tower::Layer::layer(&verifier.layer(Arc::new(TicketsPolicy)), service);
    let path = resource.path().trim_end_matches('/');
    let router = Router::new().route("/healthz", get(|| async { "ok" }));
    let router = if path.is_empty() {
        router.fallback_service(guarded)
    } else {
        router.nest_service(path, guarded)
    };
    (router.merge(verifier.metadata_router()), mcp_config)
}

/// Binds `config.listen`, then [`serve_on`].
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    serve_on(config, listener).await
}

/// Serves on `listener` (its address, not `config.listen`, is where it listens) until Ctrl-C,
/// then closes open MCP streams. Once it accepts connections it prints
/// `tickets-mcp listening on http://ADDR` on stdout, so whoever started it with port 0 (or
/// handed it a socket) learns the address.
pub async fn serve_on(config: Config, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let verifier = Arc::new(
        Verifier::new(verifier_config(&config))
            .map_err(|e: ConfigError| anyhow::anyhow!("invalid configuration: {e}"))?,
    );
    let clock = system_clock();
    let store = Arc::new(TicketStore::seeded(clock()));
    let (router, mcp_config) = build_router(verifier.clone(), store, clock);
    let local = listener.local_addr()?;
    tracing::info!(
        listen = %local,
        resource = %config.resource,
        issuer = %config.issuer,
        metadata = %verifier.metadata_url(),
        "tickets MCP server listening"
    );
    tokio::spawn({
        let verifier = verifier.clone();
        async move { verifier.prefetch_keys().await }
    });
    let cancel = mcp_config.cancellation_token.clone();
    println!("tickets-mcp listening on http://{local}");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            cancel.cancel();
        })
        .await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix (containers, CI).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
