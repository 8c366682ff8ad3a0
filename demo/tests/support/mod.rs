//! A fake portcullis (RFC 8414 metadata + JWKS on 127.0.0.1:0, tokens signed with josekit),
//! the tickets server on 127.0.0.1:0, and a raw streamable-HTTP MCP client over reqwest.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use josekit::jws::{JwsSigner, RS256};
use serde_json::{Value, json};
use tickets_mcp::app::{self, Config};
use tickets_mcp::store::TicketStore;
use tickets_mcp::verifier::Verifier;

pub const ISSUER_PATH: &str = "/resources/res_tickets";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A signing key and its public JWK.
pub struct Key {
    pub kid: String,
    signer: Box<dyn JwsSigner>,
    pub public: Value,
}

impl Key {
    pub fn new(kid: &str) -> Self {
        let pair = RS256.generate_key_pair(2048).unwrap();
        let signer = Box::new(RS256.signer_from_der(pair.to_der_private_key()).unwrap());
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(kid);
        jwk.set_algorithm("RS256");
        jwk.set_key_use("sig");
        Self {
            kid: kid.into(),
            signer,
            public: serde_json::to_value(jwk.as_ref()).unwrap(),
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": self.kid, "typ": "at+jwt"});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64(&sig))
    }
}

/// The fake authorization server and the tickets server it protects.
pub struct World {
    pub issuer: String,
    pub resource: String,
    pub base: String,
    pub key: Key,
    pub http: reqwest::Client,
}

impl World {
    pub async fn start() -> Self {
        let key = Key::new("snk_1");
        let as_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}{ISSUER_PATH}", as_listener.local_addr().unwrap());
        let origin = format!("http://{}", as_listener.local_addr().unwrap());
        let metadata = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "jwks_uri": format!("{origin}/keys"),
        });
        let jwks = json!({ "keys": [key.public] });
        let fake_as = Router::new()
            .route(
                &format!("{ISSUER_PATH}/.well-known/oauth-authorization-server"),
                get(move || async move { axum::Json(metadata) }),
            )
            .route("/keys", get(move || async move { axum::Json(jwks) }));
        tokio::spawn(async move { axum::serve(as_listener, fake_as).await.unwrap() });

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let config = Config {
            issuer: issuer.clone(),
            resource: format!("{base}/mcp"),
            listen: addr,
            allowed_origins: vec![],
        };
        let verifier = Arc::new(Verifier::new(app::verifier_config(&config)).unwrap());
        let store = Arc::new(TicketStore::seeded(now()));
        let (router, _) = app::build_router(verifier, store, app::system_clock());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            issuer,
            resource: config.resource,
            base,
            key,
            http: reqwest::Client::new(),
        }
    }

    /// Portcullis-shaped claims for a user of `oid` with `scopes`.
    pub fn claims(&self, oid: &str, scopes: &[&str]) -> Value {
        let t = now();
        json!({
            "iss": self.issuer,
            "sub": "usr_alice",
            "aud": ["res_tickets", self.resource],
            "exp": t + 300,
            "iat": t,
            "nbf": t,
            "jti": "tkn_1",
            "client_id": "m2m_client",
            "scope": scopes.join(" "),
            "scopes": scopes,
            "oid": oid,
            "sid": "ses_1",
        })
    }

    pub fn token(&self, oid: &str, scopes: &[&str]) -> String {
        self.key.sign(&self.claims(oid, scopes))
    }

    /// An MCP client session (not yet initialized) using `token`.
    pub fn client(&self, token: Option<String>) -> Mcp {
        Mcp {
            http: self.http.clone(),
            url: self.resource.clone(),
            token,
            session: None,
        }
    }
}

/// One HTTP answer of the MCP endpoint.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub challenge: Option<String>,
    pub session: Option<String>,
    /// The JSON-RPC response (from a JSON body or the SSE stream), if any.
    pub message: Option<Value>,
}

impl Answer {
    pub fn result(&self) -> &Value {
        &self.message.as_ref().expect("a JSON-RPC message")["result"]
    }
}

/// A raw streamable-HTTP MCP client.
pub struct Mcp {
    http: reqwest::Client,
    url: String,
    pub token: Option<String>,
    pub session: Option<String>,
}

impl Mcp {
    pub async fn post(&self, body: &Value) -> Answer {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(s) = &self.session {
            req = req
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-11-25");
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let challenge = header("www-authenticate");
        let session = header("mcp-session-id");
        let is_sse = header("content-type").is_some_and(|c| c.starts_with("text/event-stream"));
        let text = resp.text().await.unwrap();
        let message = if is_sse {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|m| m.get("id").is_some())
        } else {
            serde_json::from_str(&text).ok()
        };
        Answer {
            status,
            challenge,
            session,
            message,
        }
    }

    /// `initialize` + `notifications/initialized`; keeps the session id.
    pub async fn initialize(&mut self) -> Answer {
        let answer = self
            .post(&json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "tickets-mcp-tests", "version": "0"}
                }
            }))
            .await;
        if answer.status == 200 {
            self.session = answer.session.clone();
            let note = self
                .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
                .await;
            assert_eq!(note.status, 202, "initialized notification");
        }
        answer
    }

    pub async fn list_tools(&self) -> Answer {
        self.post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .await
    }

    pub async fn call(&self, tool: &str, arguments: Value) -> Answer {
        self.post(&json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}
        }))
        .await
    }
}
