//! A token verifier for Rust MCP servers protected by portcullis (or any OAuth 2.1
//! authorization server that publishes RFC 8414 metadata and a JWKS). It knows the
//! authorization server only through its issuer string: keys come from
//! `{issuer}/.well-known/oauth-authorization-server` → `jwks_uri`; tokens are checked
//! locally (RFC 9068); nothing is called per request.
//!
//! Use it as a tower layer in front of the MCP endpoint ([`Verifier::layer`]) plus the
//! protected-resource metadata routes ([`Verifier::metadata_router`]), or call
//! [`Verifier::verify`] yourself.

mod challenge;
mod jwks;
mod layer;
mod metadata;
mod origin;
mod policy;
mod principal;
mod token;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use url::Url;

pub use challenge::{BearerError, ChallengeContext};
pub use jwks::{JwksCache, JwksError, KeySet, path_inserted_metadata_url};
pub use layer::{BearerLayer, BearerService};
pub use metadata::{ProtectedResourceMetadata, metadata_paths, metadata_url};
pub use origin::is_allowed as is_origin_allowed;
pub use policy::{Decision, ScopeTable, ToolCall, ToolPolicy, tool_calls};
pub use principal::Principal;
pub use token::{ALLOWED_ALGORITHMS, CLOCK_SKEW, Expected, TokenError, check_claims};

/// How the verifier is set up.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The issuer the tokens carry, byte for byte (e.g. portcullis's per-resource issuer
    /// `http://127.0.0.1:8080/resources/res_tickets`).
    pub issuer: String,
    /// This server's canonical URL (RFC 8707 resource), which `aud` must contain.
    pub resource: String,
    /// `scopes_supported` of the protected-resource metadata.
    pub scopes_supported: Vec<String>,
    /// Scopes named in 401 challenges: what a client should ask for first.
    pub challenge_scopes: Vec<String>,
    /// Browser origins allowed besides loopback and the resource's own origin.
    pub allowed_origins: Vec<String>,
    /// `resource_name` of the metadata.
    pub resource_name: Option<String>,
    /// At most one JWKS fetch per this interval.
    pub refetch_interval: Duration,
    /// Cached keys older than this are refetched on the next request.
    pub keys_max_age: Duration,
    /// Largest request body the layer reads to find tool calls.
    pub max_body_bytes: usize,
}

impl VerifierConfig {
    pub fn new(issuer: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            resource: resource.into(),
            scopes_supported: Vec::new(),
            challenge_scopes: Vec::new(),
            allowed_origins: Vec::new(),
            resource_name: None,
            refetch_interval: Duration::from_secs(30),
            keys_max_age: Duration::from_secs(300),
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A configuration the verifier cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not an absolute http(s) URL: {value}")]
    BadUrl { name: &'static str, value: String },
    #[error("the resource URL must not have a fragment: {0}")]
    ResourceFragment(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

fn http_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| ConfigError::BadUrl {
            name,
            value: value.to_string(),
        })
}

/// Verifies access tokens for one resource and serves its protected-resource metadata.
#[derive(Debug)]
pub struct Verifier {
    config: VerifierConfig,
    resource_url: Url,
    metadata_url: String,
    resource_origin: String,
    keys: JwksCache,
}

impl Verifier {
    /// A verifier with its own HTTP client (10 s timeout, no redirects).
    pub fn new(config: VerifierConfig) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Self::with_http_client(config, http)
    }

    pub fn with_http_client(
        config: VerifierConfig,
        http: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        http_url("issuer", &config.issuer)?;
        let resource_url = http_url("resource", &config.resource)?;
        // RFC 8707 §2: the resource indicator MUST NOT include a fragment.
        if resource_url.fragment().is_some() {
            return Err(ConfigError::ResourceFragment(config.resource.clone()));
        }
        let keys = JwksCache::new(
            config.issuer.clone(),
            http,
            config.refetch_interval,
            config.keys_max_age,
        );
        Ok(Self {
            metadata_url: metadata_url(&resource_url),
            resource_origin: resource_url.origin().ascii_serialization(),
            resource_url,
            keys,
            config,
        })
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// The resource URL as parsed.
    pub fn resource_url(&self) -> &Url {
        &self.resource_url
    }

    /// Where this resource's metadata lives (named in every challenge).
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// Fetches the keys once (at startup), so the first request does not wait.
    pub async fn prefetch_keys(&self) {
        self.keys.refresh_rate_limited().await;
    }

    /// Verifies a bearer token now.
    pub async fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.verify_at(token, now).await
    }

    /// Verifies a bearer token at unix time `now`: header, signature with a key from the
    /// JWKS, then the claims.
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<Principal, TokenError> {
        let jws = token::parse(token)?;
        let key = self.keys.verifier(&jws.kid, &jws.alg).await?;
        key.verify(jws.signing_input.as_bytes(), &jws.signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims = token::claims(&jws.payload)?;
        let expected = Expected {
            issuer: &self.config.issuer,
            audience: &self.config.resource,
        };
        check_claims(&claims, &expected, now)
    }

    /// The RFC 9728 document for this resource.
    pub fn metadata(&self) -> ProtectedResourceMetadata {
        ProtectedResourceMetadata::new(
            &self.config.resource,
            &self.config.issuer,
            &self.config.scopes_supported,
            self.config.resource_name.clone(),
        )
    }

    /// Routes serving the metadata at every path of [`metadata_paths`], readable from any
    /// origin (it is public, and browser-based clients fetch it cross-origin).
    pub fn metadata_router(&self) -> Router {
        let doc = Arc::new(self.metadata());
        let mut router = Router::new();
        for path in metadata_paths(&self.resource_url) {
            let doc = doc.clone();
            let get = move || {
                let doc = doc.clone();
                async move {
                    let mut resp = axum::Json(doc.as_ref().clone()).into_response();
                    public_cors(resp.headers_mut());
                    resp
                }
            };
            let options = || async {
                let mut resp = axum::http::StatusCode::NO_CONTENT.into_response();
                public_cors(resp.headers_mut());
                resp.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("*"),
                );
                resp
            };
            router = router.route(&path, axum::routing::get(get).options(options));
        }
        router
    }

    /// The tower layer guarding the MCP endpoint with `policy` deciding per-tool scopes.
    pub fn layer<P: ToolPolicy>(self: &Arc<Self>, policy: Arc<P>) -> BearerLayer<P> {
        BearerLayer::new(self.clone(), policy)
    }

    fn challenge_context(&self) -> ChallengeContext<'_> {
        ChallengeContext {
            resource_metadata: &self.metadata_url,
            default_scopes: &self.config.challenge_scopes,
        }
    }
}

fn public_cors(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod layer_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
