//! Typed configuration: a TOML file plus `PORTCULLIS_*` environment variables (the
//! environment wins). Everything is parsed and checked here, once; a bad value stops the
//! server at start with a message naming the key and the problem.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::crypto::SecretBox;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://portcullis.db?mode=rwc";

/// Every configuration key, as (TOML key, environment variable). The docker-compose test
/// and the table of docs/configuration.md are checked against this list.
pub const KEYS: &[(&str, &str)] = &[
    ("listen", "PORTCULLIS_LISTEN"),
    ("issuer", "PORTCULLIS_ISSUER"),
    ("database_url", "PORTCULLIS_DATABASE_URL"),
    ("secret_key", "PORTCULLIS_SECRET_KEY"),
    ("secret_key_file", "PORTCULLIS_SECRET_KEY_FILE"),
    ("signing_alg", "PORTCULLIS_SIGNING_ALG"),
    ("admin_password", "PORTCULLIS_ADMIN_PASSWORD"),
    ("extra_ca_file", "PORTCULLIS_EXTRA_CA_FILE"),
    ("allow_private_hosts", "PORTCULLIS_ALLOW_PRIVATE_HOSTS"),
    ("enable_idp_simulator", "PORTCULLIS_ENABLE_IDP_SIMULATOR"),
    ("trusted_proxies", "PORTCULLIS_TRUSTED_PROXIES"),
    ("key_rotation_delay", "PORTCULLIS_KEY_ROTATION_DELAY"),
    ("key_refresh_interval", "PORTCULLIS_KEY_REFRESH_INTERVAL"),
    ("log_format", "PORTCULLIS_LOG_FORMAT"),
    ("dcr_rate_limit", "PORTCULLIS_DCR_RATE_LIMIT"),
    ("dcr_max_clients", "PORTCULLIS_DCR_MAX_CLIENTS"),
    ("dcr_idle_ttl", "PORTCULLIS_DCR_IDLE_TTL"),
    ("max_connections", "PORTCULLIS_MAX_CONNECTIONS"),
    ("shutdown_timeout", "PORTCULLIS_SHUTDOWN_TIMEOUT"),
];

/// The secret key used under `--dev` when none is configured. Public on purpose: a dev
/// database is not protected at rest, and the log says so.
const DEV_SECRET_KEY: [u8; 32] = *b"portcullis-dev-only-not-a-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    Rs256,
    Es256,
    EdDsa,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The environment issuer, byte-for-byte. `None` until known when it defaults to the
    /// listen address and that address uses port 0 (tests): `serve` fills it in after bind.
    pub issuer: Option<String>,
    pub database_url: String,
    pub secret: SecretBox,
    pub is_dev_secret: bool,
    pub signing_alg: SigningAlg,
    pub admin_password: Option<SecretString>,
    pub extra_ca_file: Option<PathBuf>,
    pub allow_private_hosts: Vec<String>,
    pub enable_idp_simulator: bool,
    pub trusted_proxies: Vec<IpAddr>,
    /// Seconds between `keys rotate` publishing a key and signing with it.
    pub key_rotation_delay: i64,
    /// Seconds between reloads of the key ring from the store (replicas pick up rotations).
    pub key_refresh_interval: u64,
    pub log_format: LogFormat,
    /// Dynamic registrations allowed per address per hour.
    pub dcr_rate_limit: i64,
    /// Dynamic clients allowed in all.
    pub dcr_max_clients: i64,
    /// Seconds after which an unused dynamic client without live refresh tokens is reaped.
    pub dcr_idle_ttl: i64,
    /// Connections served at once (health checks keep a little headroom beyond it).
    pub max_connections: i64,
    /// Seconds a shutdown waits for requests in flight before it closes what is left.
    pub shutdown_timeout: i64,
    pub is_dev: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {key}: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

fn err(key: &str, problem: impl Into<String>) -> ConfigError {
    let env = KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, e)| format!("{e} ({key})"))
        .unwrap_or_else(|| key.to_string());
    ConfigError {
        key: env,
        problem: problem.into(),
    }
}

/// The file form: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    issuer: Option<String>,
    database_url: Option<String>,
    secret_key: Option<String>,
    secret_key_file: Option<String>,
    signing_alg: Option<String>,
    admin_password: Option<String>,
    extra_ca_file: Option<String>,
    allow_private_hosts: Option<Vec<String>>,
    enable_idp_simulator: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    key_rotation_delay: Option<i64>,
    key_refresh_interval: Option<u64>,
    log_format: Option<String>,
    dcr_rate_limit: Option<i64>,
    dcr_max_clients: Option<i64>,
    dcr_idle_ttl: Option<i64>,
    max_connections: Option<i64>,
    shutdown_timeout: Option<i64>,
}

impl FileConfig {
    /// Flattens to strings so the file and the environment share one parser.
    fn into_map(self) -> HashMap<&'static str, String> {
        let mut m = HashMap::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                m.insert(k, v);
            }
        };
        put("listen", self.listen);
        put("issuer", self.issuer);
        put("database_url", self.database_url);
        put("secret_key", self.secret_key);
        put("secret_key_file", self.secret_key_file);
        put("signing_alg", self.signing_alg);
        put("admin_password", self.admin_password);
        put("extra_ca_file", self.extra_ca_file);
        put(
            "allow_private_hosts",
            self.allow_private_hosts.map(|v| v.join(",")),
        );
        put(
            "enable_idp_simulator",
            self.enable_idp_simulator.map(|b| b.to_string()),
        );
        put("trusted_proxies", self.trusted_proxies.map(|v| v.join(",")));
        put(
            "key_rotation_delay",
            self.key_rotation_delay.map(|v| v.to_string()),
        );
        put(
            "key_refresh_interval",
            self.key_refresh_interval.map(|v| v.to_string()),
        );
        put("log_format", self.log_format);
        put("dcr_rate_limit", self.dcr_rate_limit.map(|v| v.to_string()));
        put(
            "dcr_max_clients",
            self.dcr_max_clients.map(|v| v.to_string()),
        );
        put("dcr_idle_ttl", self.dcr_idle_ttl.map(|v| v.to_string()));
        put(
            "max_connections",
            self.max_connections.map(|v| v.to_string()),
        );
        put(
            "shutdown_timeout",
            self.shutdown_timeout.map(|v| v.to_string()),
        );
        m
    }
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(err(key, format!("`{v}` is not a boolean (true/false)"))),
    }
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

impl Config {
    /// Loads the file (if any), overlays the environment, checks everything.
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        is_dev: bool,
    ) -> Result<Config, ConfigError> {
        let mut values = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    key: path.display().to_string(),
                    problem: format!("cannot read: {e}"),
                })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| ConfigError {
                        key: path.display().to_string(),
                        problem: e.to_string(),
                    })?
                    .into_map()
            }
            None => HashMap::new(),
        };
        for (key, var) in KEYS {
            if let Some(v) = env.get(*var) {
                values.insert(key, v.clone());
            }
        }
        Self::from_values(&values, is_dev)
    }

    fn from_values(v: &HashMap<&'static str, String>, is_dev: bool) -> Result<Config, ConfigError> {
        let get = |k: &str| v.get(k).map(String::as_str).filter(|s| !s.is_empty());

        let listen_text = get("listen").unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            err(
                "listen",
                format!("`{listen_text}` is not an address like 127.0.0.1:8080"),
            )
        })?;
        if is_dev && !listen.ip().is_loopback() {
            return Err(err("listen", "--dev serves only on a loopback address"));
        }

        let issuer = match get("issuer") {
            Some(text) => Some(check_issuer(text, is_dev)?),
            None if listen.port() == 0 => None,
            None => Some(check_issuer(&format!("http://{listen}"), is_dev)?),
        };

        let secret_text = match (get("secret_key"), get("secret_key_file")) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "secret_key",
                    "set either the key or the key file, not both",
                ));
            }
            (Some(s), None) => Some(s.to_string()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| err("secret_key_file", format!("cannot read `{path}`: {e}")))?,
            ),
            (None, None) => None,
        };
        let (secret, is_dev_secret) = match secret_text {
            Some(text) => (
                SecretBox::from_base64(&text).map_err(|p| err("secret_key", p))?,
                false,
            ),
            None if is_dev => (SecretBox::new(DEV_SECRET_KEY), true),
            None => {
                return Err(err(
                    "secret_key",
                    "required outside --dev (base64url of 32 random bytes, e.g. `openssl rand -base64 32 | tr '+/' '-_' | tr -d '='`)",
                ));
            }
        };

        let signing_alg = match get("signing_alg") {
            None => SigningAlg::Rs256,
            Some(s) => SigningAlg::parse(s).ok_or_else(|| {
                err(
                    "signing_alg",
                    format!("`{s}` is not one of RS256, ES256, EdDSA"),
                )
            })?,
        };

        let trusted_proxies = list(get("trusted_proxies").unwrap_or(""))
            .iter()
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| err("trusted_proxies", format!("`{s}` is not an IP address")))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let key_rotation_delay = match get("key_rotation_delay") {
            None => 600,
            Some(s) => s.parse::<i64>().ok().filter(|d| *d >= 0).ok_or_else(|| {
                err(
                    "key_rotation_delay",
                    format!("`{s}` is not a number of seconds"),
                )
            })?,
        };
        let key_refresh_interval = match get("key_refresh_interval") {
            None => 30,
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|d| (1..=60).contains(d))
                .ok_or_else(|| {
                    err(
                        "key_refresh_interval",
                        format!("`{s}` must be 1 to 60 seconds"),
                    )
                })?,
        };
        let log_format = match get("log_format") {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(s) => return Err(err("log_format", format!("`{s}` is not `text` or `json`"))),
        };

        let positive = |key: &str, default: i64| -> Result<i64, ConfigError> {
            match get(key) {
                None => Ok(default),
                Some(s) => s
                    .parse::<i64>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| err(key, format!("`{s}` is not a positive number"))),
            }
        };
        if let Some(path) = get("extra_ca_file") {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| err("extra_ca_file", format!("cannot read `{path}`: {e}")))?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(err(
                    "extra_ca_file",
                    format!("`{path}` holds no PEM certificate"),
                ));
            }
        }
        let dcr_rate_limit = positive("dcr_rate_limit", 30)?;
        let dcr_max_clients = positive("dcr_max_clients", 10_000)?;
        let dcr_idle_ttl = positive("dcr_idle_ttl", 30 * 86_400)?;
        let max_connections = positive("max_connections", 1_024)?;
        let shutdown_timeout = positive("shutdown_timeout", 20)?;
        Ok(Config {
            listen,
            issuer,
            database_url: get("database_url")
                .unwrap_or(DEFAULT_DATABASE_URL)
                .to_string(),
            secret,
            is_dev_secret,
            signing_alg,
            admin_password: get("admin_password").map(|s| SecretString::from(s.to_string())),
            extra_ca_file: get("extra_ca_file").map(PathBuf::from),
            allow_private_hosts: list(get("allow_private_hosts").unwrap_or("")),
            enable_idp_simulator: parse_bool(
                "enable_idp_simulator",
                get("enable_idp_simulator").unwrap_or(""),
            )?,
            trusted_proxies,
            key_rotation_delay,
            key_refresh_interval,
            log_format,
            dcr_rate_limit,
            dcr_max_clients,
            dcr_idle_ttl,
            max_connections,
            shutdown_timeout,
            is_dev,
        })
    }

    /// The issuer once known (after bind when it defaults to a port-0 listen address).
    pub fn issuer(&self) -> &str {
        self.issuer.as_deref().unwrap_or("http://127.0.0.1")
    }

    /// A configuration for tests: dev switches on, fixed secret, loopback.
    pub fn for_tests(database_url: &str) -> Config {
        let mut values = HashMap::new();
        values.insert("listen", "127.0.0.1:0".to_string());
        values.insert("issuer", "http://127.0.0.1:8080".to_string());
        values.insert("database_url", database_url.to_string());
        #[allow(clippy::expect_used)]
        Self::from_values(&values, true).expect("test configuration is valid")
    }
}

/// The issuer is used byte-for-byte: an absolute http(s) URL without trailing slash, query
/// or fragment; plain http only for loopback hosts outside `--dev`.
pub fn check_issuer(text: &str, is_dev: bool) -> Result<String, ConfigError> {
    let url =
        url::Url::parse(text).map_err(|e| err("issuer", format!("`{text}` is not a URL: {e}")))?;
    if text.ends_with('/') {
        return Err(err(
            "issuer",
            format!("`{text}` must not end with `/` (it is used byte-for-byte)"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err("issuer", "must not have a query or fragment"));
    }
    let host = url.host_str().unwrap_or("");
    match url.scheme() {
        "https" => {}
        "http" if is_dev || is_loopback_host(host) => {}
        "http" => {
            return Err(err(
                "issuer",
                format!(
                    "`{text}` is plain http on a non-loopback host; use https (TLS may end at a proxy in front)"
                ),
            ));
        }
        s => return Err(err("issuer", format!("scheme `{s}` is not http or https"))),
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests;
