//! Test harness: the real router over a fresh database (SQLite in a temp dir, or a fresh
//! PostgreSQL database when `PORTCULLIS_TEST_BACKEND=postgres`), a `FixedClock`, keys
//! generated at start. `oneshot` for most tests; `spawn` binds 127.0.0.1:0.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use http_body_util::BodyExt;
use portcullis::clock::{Clock, FixedClock};
use portcullis::config::{Config, SigningAlg};
use portcullis::state::{AppState, Background, build_state_with_lookup};
use portcullis::store::{SqlStore, Store};

use crate::support::db::TestDb;
use serde_json::Value;
use tower::ServiceExt;

pub const T0: i64 = 1_800_000_000;
pub const SERVICE_SECRET: &str = "service-secret-0123456789abcdef";
pub const WIKI_SECRET: &str = "wiki-secret-0123456789abcdefgh";

pub const TEST_SEED: &str = r#"
[[organizations]]
id = "org_acme"
display_name = "Acme"
domains = ["example.com"]

[[organizations.connections]]
id = "conn_acme_sim"
kind = "idp_simulator"

[[resources]]
id = "res_tickets"
name = "Tickets"
server_url = "http://127.0.0.1:8081/mcp"
access_token_ttl = 300
scopes = [ { name = "tickets.read", description = "Read tickets" },
           { name = "tickets.manage", description = "Create and change tickets" } ]

[[resources]]
id = "res_wiki"
name = "Wiki"
server_url = "http://127.0.0.1:8082/mcp"
access_token_ttl = 600
dynamic_client_registration = false
scopes = [ { name = "wiki.read", description = "Read pages" } ]

[[clients]]
id = "m2m_service"
name = "Service"
secret = "service-secret-0123456789abcdef"
grant_types = ["client_credentials"]
resources = ["res_tickets"]
scopes = ["tickets.read", "tickets.manage"]

[[clients]]
id = "m2m_wiki"
name = "Wiki bot"
secret = "wiki-secret-0123456789abcdefgh"
grant_types = ["client_credentials"]
resources = ["res_wiki"]
scopes = ["wiki.read"]

[[clients]]
id = "m2m_public"
name = "Public app"
redirect_uris = ["http://127.0.0.1/cb"]
grant_types = ["authorization_code", "refresh_token"]
resources = ["res_tickets"]
scopes = ["tickets.read"]

[[clients]]
id = "m2m_introspector"
name = "Tickets gateway"
secret = "introspector-secret-0123456789ab"
grant_types = ["client_credentials"]
resources = ["res_tickets"]
scopes = ["tickets.read"]
introspection = true

[[clients]]
id = "m2m_admin"
name = "Admin automation"
secret = "admin-client-secret-0123456789"
grant_types = ["client_credentials"]
resources = ["res_tickets"]
scopes = ["portcullis:admin"]

[[rules]]
id = "rule_admins"
resource = "res_tickets"
organization = "org_acme"
when = { group = "jira-admins" }
grant = ["tickets.read", "tickets.manage:{org}"]

[[rules]]
id = "rule_readers"
resource = "res_tickets"
when = { any = true }
grant = ["tickets.read"]

[[admins]]
username = "admin"
password = "admin-password-123"
"#;
pub const INTROSPECTOR_SECRET: &str = "introspector-secret-0123456789ab";
pub const ADMIN_CLIENT_SECRET: &str = "admin-client-secret-0123456789";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

/// A change to the configuration before the app is built.
type Configure = Box<dyn FnOnce(&mut Config) + Send>;

pub struct Builder {
    seed: Option<String>,
    db: Option<TestDb>,
    alg: SigningAlg,
    clock: Option<Arc<FixedClock>>,
    refresh_interval: u64,
    simulator: bool,
    outsider: Option<Outsider>,
    configure: Option<Configure>,
}

/// How outsider-controlled URLs (CIMD documents) are fetched: the name lookup of the SSRF
/// guard, the hosts exempt from it (`PORTCULLIS_ALLOW_PRIVATE_HOSTS`), and a CA bundle to
/// trust (`PORTCULLIS_EXTRA_CA_FILE`).
struct Outsider {
    lookup: Arc<dyn portcullis::outbound::NameLookup>,
    allow_private_hosts: Vec<String>,
    extra_ca_file: Option<std::path::PathBuf>,
}

#[allow(dead_code)]
pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub clock: Arc<FixedClock>,
    pub db: TestDb,
    pub issuer: String,
    pub background: Background,
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::builder().build().await
    }

    pub fn builder() -> Builder {
        Builder {
            seed: Some(TEST_SEED.to_string()),
            db: None,
            alg: SigningAlg::Rs256,
            clock: None,
            refresh_interval: 30,
            simulator: true,
            outsider: None,
            configure: None,
        }
    }
}

impl Builder {
    pub fn seed(mut self, seed: Option<&str>) -> Self {
        self.seed = seed.map(str::to_string);
        self
    }
    pub fn db(mut self, db: TestDb) -> Self {
        self.db = Some(db);
        self
    }
    pub fn alg(mut self, alg: SigningAlg) -> Self {
        self.alg = alg;
        self
    }
    pub fn clock(mut self, clock: Arc<FixedClock>) -> Self {
        self.clock = Some(clock);
        self
    }
    pub fn refresh_interval(mut self, seconds: u64) -> Self {
        self.refresh_interval = seconds;
        self
    }

    /// `false`: a server outside `--dev` without `PORTCULLIS_ENABLE_IDP_SIMULATOR`.
    pub fn simulator(mut self, enabled: bool) -> Self {
        self.simulator = enabled;
        self
    }

    /// Outsider fetches resolve names with `lookup`, exempt `allow_private_hosts` from the
    /// SSRF guard, and trust the PEM roots of `extra_ca_file`.
    #[allow(dead_code)]
    pub fn outsider(
        mut self,
        lookup: Arc<dyn portcullis::outbound::NameLookup>,
        allow_private_hosts: &[&str],
        extra_ca_file: Option<&std::path::Path>,
    ) -> Self {
        self.outsider = Some(Outsider {
            lookup,
            allow_private_hosts: allow_private_hosts.iter().map(|h| h.to_string()).collect(),
            extra_ca_file: extra_ca_file.map(std::path::Path::to_path_buf),
        });
        self
    }

    pub async fn build(self) -> TestApp {
        self.build_with_issuer("http://127.0.0.1:8080".into()).await
    }

    /// Adjusts the configuration before the app is built (limits, switches).
    pub fn configure(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure = Some(Box::new(f));
        self
    }

    async fn build_with_issuer(self, issuer: String) -> TestApp {
        let db = match self.db {
            Some(db) => db,
            None => TestDb::fresh().await,
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(FixedClock::new(T0)));
        let mut config = Config::for_tests(&db.url);
        config.signing_alg = self.alg;
        config.key_refresh_interval = self.refresh_interval;
        config.issuer = Some(issuer.clone());
        if !self.simulator {
            config.is_dev = false;
            config.enable_idp_simulator = false;
        }
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&db.url).await.expect("open store"));
        if let Some(seed) = &self.seed {
            portcullis::seed::apply(&store, &config.secret, &|_| None, seed, T0)
                .await
                .expect("seed applies");
        }
        let lookup: Arc<dyn portcullis::outbound::NameLookup> = match self.outsider {
            Some(o) => {
                config.allow_private_hosts = o.allow_private_hosts;
                config.extra_ca_file = o.extra_ca_file;
                o.lookup
            }
            None => Arc::new(portcullis::outbound::SystemLookup),
        };
        if let Some(f) = self.configure {
            f(&mut config);
        }
        let (state, background) =
            build_state_with_lookup(config, issuer.clone(), store, clock.clone(), lookup)
                .await
                .expect("state");
        portcullis::server::spawn_housekeeping(&state);
        let router = portcullis::routes::build_router(state.clone());
        TestApp {
            state,
            router,
            clock,
            db,
            issuer,
            background,
        }
    }

    /// Binds 127.0.0.1:0 and serves; the issuer is the real address.
    pub async fn spawn(self) -> Spawned {
        self.spawn_as("http").await
    }

    /// [`Builder::spawn`] with an `https://` issuer (the address behind a TLS-terminating
    /// proxy): requests still go to the plain-http `base`, but every URL and cookie the
    /// server makes is the https issuer's (`Secure`, `__Host-`; reqwest's cookie store sends
    /// Secure cookies to loopback).
    #[allow(dead_code)]
    pub async fn spawn_https(self) -> Spawned {
        self.spawn_as("https").await
    }

    async fn spawn_as(self, scheme: &str) -> Spawned {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = self.build_with_issuer(format!("{scheme}://{addr}")).await;
        let router = app.router.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await;
        });
        Spawned {
            base: format!("http://{addr}"),
            app,
            server,
        }
    }
}

#[allow(dead_code)]
pub struct Spawned {
    pub base: String,
    pub app: TestApp,
    pub server: tokio::task::JoinHandle<()>,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[allow(dead_code)]
impl Spawned {
    /// The audit events of a kind, newest first (after flushing the writer).
    pub async fn audit(&self, kind: &str) -> Vec<portcullis::store::AuditRecord> {
        let state = &self.app.state;
        state.audit.flush().await;
        state
            .store
            .list_audit_events(&portcullis::store::AuditFilter {
                kind: Some(kind.into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
    }

    /// `portcullis connections test ID --dev` on this app's database: success and stdout.
    pub async fn connections_test(&self, connection_id: &str) -> (bool, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["connections", "test", connection_id, "--dev"])
            .env("PORTCULLIS_DATABASE_URL", &self.app.db.url)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    }

    /// Applies more seed to the running app (through its store's cache).
    pub async fn apply_seed(&self, text: &str) {
        let state = &self.app.state;
        let now = self.app.clock.now();
        portcullis::seed::apply(&state.store, &state.config.secret, &|_| None, text, now)
            .await
            .expect("seed applies");
    }
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Asserts an OAuth error: status, `error` code, and `Cache-Control: no-store`.
    pub fn assert_oauth_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.json()["error"],
            code,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("cache-control"), Some("no-store"));
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl TestApp {
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Request::get(path).body(Body::empty()).expect("request"))
            .await
    }

    /// POSTs a form; `auth` is a full Authorization header value.
    pub async fn post_form(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        auth: Option<&str>,
    ) -> TestResponse {
        let mut req =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        self.send(req.body(Body::from(form(pairs))).expect("request"))
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Body>,
        auth: Option<&str>,
    ) -> TestResponse {
        let mut req = Request::post(path).header(header::CONTENT_TYPE, content_type);
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        self.send(req.body(body.into()).expect("request")).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        self.post_raw(path, "application/json", body.to_string(), None)
            .await
    }

    /// A client_credentials token for the seeded service client.
    pub async fn service_token(&self, extra: &[(&str, &str)]) -> TestResponse {
        let mut pairs = vec![("grant_type", "client_credentials")];
        pairs.extend_from_slice(extra);
        self.post_form(
            "/oauth/token",
            &pairs,
            Some(&basic("m2m_service", SERVICE_SECRET)),
        )
        .await
    }

    /// Everything but the audit trail, to check that a refused request changed nothing.
    pub async fn snapshot(&self) -> String {
        let s = &self.state.store;
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            s.list_clients().await.expect("clients"),
            s.list_resources().await.expect("resources"),
            s.list_signing_keys().await.expect("keys"),
            s.list_organizations().await.expect("orgs"),
            s.list_connections().await.expect("connections"),
        )
    }
}

/// A JSON value as a TOML inline value.
pub fn toml_inline(v: &Value) -> String {
    match v {
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{k} = {}", toml_inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        Value::String(s) => toml::Value::String(s.clone()).to_string(),
        other => other.to_string(),
    }
}
