//! Test helpers: signing keys, token minting with josekit, and a fake issuer (RFC 8414
//! metadata + JWKS) on 127.0.0.1:0.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use josekit::jwk::KeyPair;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{ES256, EdDSA, JwsSigner, RS256};
use serde_json::{Value, json};

pub const RESOURCE: &str = "http://127.0.0.1:8081/mcp";

pub struct Key {
    pub kid: String,
    pub alg: &'static str,
    pub signer: Box<dyn JwsSigner>,
    pub public: Value,
}

impl Key {
    pub fn new(alg: &'static str, kid: &str) -> Self {
        let pair: Box<dyn KeyPair> = match alg {
            "RS256" => Box::new(RS256.generate_key_pair(2048).unwrap()),
            "ES256" => Box::new(ES256.generate_key_pair().unwrap()),
            "EdDSA" => Box::new(EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap()),
            other => panic!("no test key for {other}"),
        };
        let der = pair.to_der_private_key();
        let signer: Box<dyn JwsSigner> = match alg {
            "RS256" => Box::new(RS256.signer_from_der(&der).unwrap()),
            "ES256" => Box::new(ES256.signer_from_der(&der).unwrap()),
            _ => Box::new(EdDSA.signer_from_der(&der).unwrap()),
        };
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        jwk.set_algorithm(alg);
        jwk.set_key_use("sig");
        Self {
            kid: kid.into(),
            alg,
            signer,
            public: serde_json::to_value(jwk.as_ref()).unwrap(),
        }
    }

    /// An `at+jwt` signed by this key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": self.alg, "kid": self.kid, "typ": "at+jwt"}),
            claims,
        )
    }

    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        sign_raw(header, claims, |input| self.signer.sign(input).unwrap())
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature` with whatever `sign` returns for the signing input.
pub fn sign_raw(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Portcullis-shaped access-token claims.
pub fn claims(issuer: &str, now: i64) -> Value {
    json!({
        "iss": issuer,
        "sub": "usr_alice",
        "aud": ["res_tickets", RESOURCE],
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": "tkn_1",
        "client_id": "m2m_client",
        "scope": "tickets.read",
        "scopes": ["tickets.read", "tickets.manage:org_test"],
        "oid": "org_test",
        "sid": "ses_1",
    })
}

/// Where the fake issuer serves its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataAt {
    /// `{issuer}/.well-known/oauth-authorization-server`
    Appended,
    /// RFC 8414 path-inserted only.
    PathInserted,
}

#[derive(Clone)]
struct IssuerState {
    issuer: Arc<RwLock<String>>,
    claimed_issuer: Arc<RwLock<Option<String>>>,
    keys: Arc<RwLock<Vec<Value>>>,
    jwks_fetches: Arc<AtomicUsize>,
}

/// An authorization server that serves only metadata and a JWKS.
pub struct FakeIssuer {
    pub issuer: String,
    state: IssuerState,
}

impl FakeIssuer {
    pub async fn start(path: &str, at: MetadataAt) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let issuer = format!("{origin}{path}");
        let state = IssuerState {
            issuer: Arc::new(RwLock::new(issuer.clone())),
            claimed_issuer: Arc::default(),
            keys: Arc::default(),
            jwks_fetches: Arc::default(),
        };
        let metadata_path = match at {
            MetadataAt::Appended => format!("{path}/.well-known/oauth-authorization-server"),
            MetadataAt::PathInserted => format!("/.well-known/oauth-authorization-server{path}"),
        };
        let app = Router::new()
            .route(&metadata_path, get(metadata))
            .route("/keys", get(jwks))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { issuer, state }
    }

    pub fn publish(&self, key: &Key) {
        self.state.keys.write().unwrap().push(key.public.clone());
    }

    pub fn publish_raw(&self, jwk: Value) {
        self.state.keys.write().unwrap().push(jwk);
    }

    /// Makes the metadata claim another issuer.
    pub fn claim_issuer(&self, issuer: &str) {
        *self.state.claimed_issuer.write().unwrap() = Some(issuer.into());
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }
}

async fn metadata(State(s): State<IssuerState>) -> axum::Json<Value> {
    let issuer = s.issuer.read().unwrap().clone();
    let claimed = s.claimed_issuer.read().unwrap().clone();
    let origin = issuer.split('/').take(3).collect::<Vec<_>>().join("/");
    axum::Json(json!({
        "issuer": claimed.unwrap_or(issuer),
        "jwks_uri": format!("{origin}/keys"),
    }))
}

async fn jwks(State(s): State<IssuerState>) -> axum::Json<Value> {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({ "keys": s.keys.read().unwrap().clone() }))
}
