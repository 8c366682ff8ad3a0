//! Application state, the whole URL map, the middleware stack, and `serve`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, Method, header};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::audit::{AuditEvent, AuditLog};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::federation::{self, discovery, simulator};
use crate::keys::{KeyError, KeyRing, jwks};
use crate::oauth::{
    authorize, client_config, form, introspect, logout, metadata, register, revoke, token, userinfo,
};
use crate::outbound::{self, NameLookup, SystemLookup};
use crate::store::{CachedStore, SqlStore, Store};
use crate::{admin, consent, ops, seed};

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
    let roots = extra_roots(&config);
    let http = outbound_client(&roots);
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

/// The client for outbound calls to admin-configured hosts (IdP discovery, JWKS, tokens):
/// no redirects, no proxy variables, a timeout, and `PORTCULLIS_EXTRA_CA_FILE` trusted.
pub(crate) fn outbound_client(roots: &[reqwest::Certificate]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10));
    for cert in roots {
        builder = builder.add_root_certificate(cert.clone());
    }
    builder.build().unwrap_or_default()
}

/// The certificates of `PORTCULLIS_EXTRA_CA_FILE`, trusted for outbound https.
pub(crate) fn extra_roots(config: &Config) -> Vec<reqwest::Certificate> {
    let Some(path) = &config.extra_ca_file else {
        return Vec::new();
    };
    match std::fs::read(path).map(|pem| reqwest::Certificate::from_pem_bundle(&pem)) {
        Ok(Ok(certs)) => certs,
        _ => {
            tracing::error!(file = %path.display(), "PORTCULLIS_EXTRA_CA_FILE is not a readable PEM bundle");
            Vec::new()
        }
    }
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

/// CORS for browser-based MCP clients (MCP Inspector): any origin, never credentials.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("mcp-protocol-version"),
        ])
        .max_age(Duration::from_secs(600))
}

/// The whole URL map.
pub fn build_router(state: AppState) -> Router {
    let token = Router::new()
        .route("/oauth/token", post(token::post_token))
        .route(
            "/resources/{res}/oauth/token",
            post(token::post_resource_token),
        )
        .layer(DefaultBodyLimit::max(form::MAX_FORM_BYTES));
    let revocation = Router::new()
        .route("/oauth/revoke", post(revoke::post_revoke))
        .route(
            "/resources/{res}/oauth/revoke",
            post(revoke::post_resource_revoke),
        )
        .layer(DefaultBodyLimit::max(form::MAX_FORM_BYTES));
    let registration = Router::new()
        .route("/oauth/register", post(register::post_register))
        .route(
            "/resources/{res}/oauth/register",
            post(register::post_resource_register),
        )
        .route(
            "/api/v1/resources/{res}/clients:register",
            post(register::post_resource_register),
        )
        .route(
            "/oauth/register/{client_id}",
            get(client_config::get_client_config)
                .put(client_config::put_client_config)
                .delete(client_config::delete_client_config),
        )
        .route(
            "/resources/{res}/oauth/register/{client_id}",
            get(client_config::get_resource_client_config)
                .put(client_config::put_resource_client_config)
                .delete(client_config::delete_resource_client_config),
        )
        .layer(DefaultBodyLimit::max(register::MAX_REGISTRATION_BYTES));
    let public = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::get_authorization_server),
        )
        .route(
            "/.well-known/oauth-authorization-server/resources/{res}",
            get(metadata::get_resource_authorization_server),
        )
        .route(
            "/resources/{res}/.well-known/oauth-authorization-server",
            get(metadata::get_resource_authorization_server),
        )
        .route(
            "/.well-known/openid-configuration",
            get(metadata::get_openid_configuration),
        )
        .route("/keys", get(jwks::get_jwks))
        .route("/.well-known/jwks.json", get(jwks::get_jwks))
        .merge(token)
        .merge(revocation)
        .merge(registration)
        .layer(cors());
    let flow = Router::new()
        .route("/oauth/authorize", get(authorize::get_authorize))
        .route(
            "/resources/{res}/oauth/authorize",
            get(authorize::get_resource_authorize),
        )
        .route(
            "/oauth/consent",
            get(consent::get_consent).post(consent::post_consent),
        )
        .route(
            "/sso/v1/login",
            get(discovery::get_login).post(discovery::post_login),
        )
        .route(
            "/sso/v1/simulator/{conn}",
            get(simulator::get_simulator).post(simulator::post_simulator),
        )
        .route("/sso/v1/oidc/{conn}/start", get(federation::get_oidc_start))
        .route(
            "/sso/v1/saml/{conn}/start",
            get(federation::saml::get_start),
        )
        .route(
            "/sso/v1/saml/{conn}/metadata",
            get(federation::saml::get_sp_metadata),
        )
        .route(
            "/sso/v1/saml/{conn}/continue",
            post(federation::saml::post_continue),
        )
        .route(
            "/sso/v1/saml/{conn}/acs",
            post(federation::saml::post_acs).layer(DefaultBodyLimit::max(
                federation::saml::verify::MAX_RESPONSE_BYTES * 4,
            )),
        )
        .route(
            "/sso/v1/oidc/{conn}/callback",
            get(federation::oidc::get_callback),
        )
        .route("/oauth/introspect", post(introspect::post_introspect))
        .route(
            "/resources/{res}/oauth/introspect",
            post(introspect::post_resource_introspect),
        )
        .route(
            "/oauth/userinfo",
            get(userinfo::get_userinfo).post(userinfo::get_userinfo),
        )
        .route("/oidc/logout", get(logout::get_logout));

    Router::new()
        .merge(public)
        .merge(flow)
        .merge(admin_pages())
        .merge(admin_api())
        .route("/", get(ops::get_index))
        .route("/healthz", get(ops::get_healthz))
        .route("/readyz", get(ops::get_readyz))
        .layer(DefaultBodyLimit::max(form::MAX_FORM_BYTES))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // Never the full URI: query strings carry codes and state.
            let path = req
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str)
                .unwrap_or("unmatched");
            let request_id = req
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path, request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The admin pages (`/admin/…`): server-rendered, session cookie, CSRF on every form.
fn admin_pages() -> Router<AppState> {
    use admin::pages::{
        clients, connections, dashboard, keys, login, organizations, resources, rules, users,
    };
    Router::new()
        .route("/admin", get(dashboard::get_dashboard))
        .route(
            "/admin/login",
            get(login::get_login).post(login::post_login),
        )
        .route("/admin/logout", post(login::post_logout))
        .route(
            "/admin/organizations",
            get(organizations::get_organizations).post(organizations::post_organizations),
        )
        .route(
            "/admin/organizations/{id}",
            get(organizations::get_organization).post(organizations::post_organization),
        )
        .route(
            "/admin/organizations/{id}/enabled",
            post(organizations::post_organization_enabled),
        )
        .route(
            "/admin/connections",
            get(connections::get_connections).post(connections::post_connections),
        )
        .route(
            "/admin/connections/{id}",
            get(connections::get_connection).post(connections::post_connection),
        )
        .route(
            "/admin/connections/{id}/enabled",
            post(connections::post_connection_enabled),
        )
        .route(
            "/admin/connections/{id}/test",
            get(connections::get_connection_test),
        )
        .route(
            "/admin/resources",
            get(resources::get_resources).post(resources::post_resources),
        )
        .route(
            "/admin/resources/{id}",
            get(resources::get_resource).post(resources::post_resource),
        )
        .route(
            "/admin/rules",
            get(rules::get_rules).post(rules::post_rules),
        )
        .route(
            "/admin/rules/{id}",
            get(rules::get_rule).post(rules::post_rule),
        )
        .route("/admin/rules/{id}/delete", post(rules::post_rule_delete))
        .route("/admin/simulator", get(rules::get_simulator))
        .route(
            "/admin/clients",
            get(clients::get_clients).post(clients::post_clients),
        )
        .route("/admin/clients/revoke", post(clients::post_client_revoke))
        .route("/admin/clients/delete", post(clients::post_client_delete))
        .route("/admin/users", get(users::get_users))
        .route("/admin/users/{id}/enabled", post(users::post_user_enabled))
        .route("/admin/users/{id}/revoke", post(users::post_user_revoke))
        .route("/admin/consents", get(users::get_consents))
        .route(
            "/admin/consents/{id}/revoke",
            post(users::post_consent_revoke),
        )
        .route("/admin/audit", get(dashboard::get_audit))
        .route("/admin/audit/export", get(dashboard::get_audit_export))
        .route("/admin/keys", get(keys::get_keys))
        .route("/admin/keys/rotate", post(keys::post_rotate))
        // SAML IdP metadata pasted into a form can be large.
        .layer(DefaultBodyLimit::max(512 * 1024))
}

/// The JSON admin API (`/api/v1/admin/…`) over the same domain functions as the pages.
fn admin_api() -> Router<AppState> {
    use admin::api;
    Router::new()
        .route(
            "/api/v1/admin/organizations",
            get(api::get_organizations).post(api::post_organizations),
        )
        .route(
            "/api/v1/admin/organizations/{id}",
            get(api::get_organization).put(api::put_organization),
        )
        .route(
            "/api/v1/admin/organizations/{id}/{action}",
            post(api::post_organization_action),
        )
        .route(
            "/api/v1/admin/connections",
            get(api::get_connections).post(api::post_connections),
        )
        .route(
            "/api/v1/admin/connections/{id}",
            get(api::get_connection).put(api::put_connection),
        )
        .route(
            "/api/v1/admin/connections/{id}/{action}",
            post(api::post_connection_action),
        )
        .route(
            "/api/v1/admin/resources",
            get(api::get_resources).post(api::post_resources),
        )
        .route(
            "/api/v1/admin/resources/{id}",
            get(api::get_resource).put(api::put_resource),
        )
        .route(
            "/api/v1/admin/rules",
            get(api::get_rules).post(api::post_rules),
        )
        .route("/api/v1/admin/rules:simulate", post(api::post_simulate))
        .route(
            "/api/v1/admin/rules/{id}",
            get(api::get_rule)
                .put(api::put_rule)
                .delete(api::delete_rule),
        )
        .route(
            "/api/v1/admin/clients",
            get(api::get_clients)
                .post(api::post_clients)
                .delete(api::delete_client),
        )
        .route(
            "/api/v1/admin/clients:revoke-tokens",
            post(api::post_client_revoke),
        )
        .route("/api/v1/admin/users", get(api::get_users))
        .route(
            "/api/v1/admin/users/{id}/{action}",
            post(api::post_user_action),
        )
        .route("/api/v1/admin/consents", get(api::get_consents))
        .route(
            "/api/v1/admin/consents/{id}/revoke",
            post(api::post_consent_revoke),
        )
        .route("/api/v1/admin/audit-events", get(api::get_audit_events))
        .route(
            "/api/v1/admin/audit-events:export",
            get(api::get_audit_export),
        )
        .route("/api/v1/admin/keys", get(api::get_keys))
        .route("/api/v1/admin/keys:rotate", post(api::post_rotate))
        .layer(DefaultBodyLimit::max(512 * 1024))
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Runs the server until SIGTERM or Ctrl-C, then drains requests and the audit queue.
pub async fn serve(config: Config, seed_file: Option<&Path>) -> anyhow::Result<()> {
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

    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
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
