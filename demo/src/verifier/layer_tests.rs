//! Layer tests: challenges for missing, query-string and bad tokens, the `Origin` check
//! and CORS, per-tool scope refusals (403 `insufficient_scope`), the principal handed to the
//! inner service, and the audit log (which never holds the token).

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

use super::testkit::{FakeIssuer, Key, MetadataAt, RESOURCE, claims, now};
use super::*;

const METADATA: &str = "http://127.0.0.1:8081/.well-known/oauth-protected-resource/mcp";

/// The inner service: echoes the principal it was handed and the body it received.
fn echo() -> Router {
    Router::new().fallback(|req: Request<Body>| async move {
        let p = req.extensions().get::<Principal>().cloned();
        let body = axum::body::to_bytes(req.into_body(), 1 << 20)
            .await
            .unwrap();
        axum::Json(json!({
            "sub": p.as_ref().map(|p| p.subject.clone()),
            "oid": p.as_ref().and_then(|p| p.organization_id.clone()),
            "body": String::from_utf8_lossy(&body),
        }))
    })
}

struct Setup {
    issuer: FakeIssuer,
    key: Key,
    service: BearerService<Router, ScopeTable>,
}

async fn setup() -> Setup {
    let issuer = FakeIssuer::start("", MetadataAt::Appended).await;
    let key = Key::new("RS256", "snk_1");
    issuer.publish(&key);
    let mut config = VerifierConfig::new(issuer.issuer.clone(), RESOURCE);
    config.challenge_scopes = vec!["tickets.read".into()];
    config.allowed_origins = vec!["https://app.example.com".into()];
    config.max_body_bytes = 10_000;
    let verifier = Arc::new(Verifier::new(config).unwrap());
    let policy = Arc::new(ScopeTable::new().tool("write", &["tickets.write", "tickets.read"]));
    let service = verifier.layer(policy).layer(echo());
    Setup {
        issuer,
        key,
        service,
    }
}

impl Setup {
    fn token(&self) -> String {
        self.key.sign(&claims(&self.issuer.issuer, now()))
    }

    async fn send(&self, req: Request<Body>) -> Response {
        self.service.clone().oneshot(req).await.unwrap()
    }
}

fn call(tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
           "params": {"name": tool, "arguments": {"id": "TEST-1"}}})
    .to_string()
}

fn post() -> axum::http::request::Builder {
    Request::post("/mcp").header("content-type", "application/json")
}

fn challenge(resp: &Response) -> String {
    resp.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn json_body(resp: Response) -> Value {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn no_token_gets_a_401_challenge_naming_metadata_and_scope() {
    let s = setup().await;
    let resp = s.send(post().body(Body::from(call("read"))).unwrap()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp),
        format!("Bearer scope=\"tickets.read\", resource_metadata=\"{METADATA}\"")
    );
}

#[tokio::test]
async fn a_token_in_the_query_string_is_ignored() {
    let s = setup().await;
    let uri = format!("/mcp?access_token={}", s.token());
    let req = Request::post(uri).body(Body::from(call("read"))).unwrap();
    let resp = s.send(req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenge(&resp).contains("error="), "{}", challenge(&resp));
}

#[tokio::test]
async fn other_schemes_count_as_no_token_and_two_headers_are_a_bad_request() {
    let s = setup().await;
    let req = Request::post("/mcp")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .body(Body::empty())
        .unwrap();
    let resp = s.send(req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenge(&resp).contains("error="));
    let req = Request::post("/mcp")
        .header("authorization", format!("Bearer {}", s.token()))
        .header("authorization", format!("Bearer {}", s.token()))
        .body(Body::empty())
        .unwrap();
    assert_eq!(s.send(req).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_bad_token_gets_invalid_token() {
    let s = setup().await;
    let expired = s.key.sign(&json!({
        "iss": s.issuer.issuer, "sub": "usr_1", "aud": RESOURCE, "exp": now() - 3600
    }));
    for token in ["garbage".to_string(), expired] {
        let req = Request::post("/mcp")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(call("read")))
            .unwrap();
        let resp = s.send(req).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let c = challenge(&resp);
        assert!(c.starts_with("Bearer error=\"invalid_token\""), "{c}");
        assert!(
            c.contains(&format!("resource_metadata=\"{METADATA}\"")),
            "{c}"
        );
        assert!(c.contains("scope=\"tickets.read\""), "{c}");
    }
}

#[tokio::test]
async fn a_valid_token_reaches_the_server_with_the_principal_and_the_body() {
    let s = setup().await;
    // lowercase scheme is fine (RFC 7235 §2.1: case-insensitive)
    let req = post()
        .header("authorization", format!("bearer {}", s.token()))
        .body(Body::from(call("read")))
        .unwrap();
    let resp = s.send(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json_body(resp).await;
    assert_eq!(body["sub"], "usr_alice");
    assert_eq!(body["oid"], "org_test");
    assert_eq!(body["body"], call("read"));
    // GET (the SSE stream) and DELETE need the token too, and pass with it.
    for method in ["GET", "DELETE"] {
        let req = Request::builder()
            .method(method)
            .uri("/mcp")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            s.send(req).await.status(),
            StatusCode::UNAUTHORIZED,
            "{method}"
        );
        let req = Request::builder()
            .method(method)
            .uri("/mcp")
            .header("authorization", format!("Bearer {}", s.token()))
            .body(Body::empty())
            .unwrap();
        assert_eq!(s.send(req).await.status(), StatusCode::OK, "{method}");
    }
}

#[tokio::test]
async fn a_call_without_its_scopes_gets_403_insufficient_scope() {
    let s = setup().await;
    let req = post()
        .header("authorization", format!("Bearer {}", s.token()))
        .body(Body::from(call("write")))
        .unwrap();
    let resp = s.send(req).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let c = challenge(&resp);
    assert!(c.starts_with("Bearer error=\"insufficient_scope\""), "{c}");
    // Every scope the call needs, in one challenge.
    assert!(c.contains("scope=\"tickets.write tickets.read\""), "{c}");
    assert!(
        c.contains(&format!("resource_metadata=\"{METADATA}\"")),
        "{c}"
    );
    // A batch is refused as a whole when one call is refused.
    let batch = format!("[{},{}]", call("read"), call("write"));
    let req = post()
        .header("authorization", format!("Bearer {}", s.token()))
        .body(Body::from(batch))
        .unwrap();
    assert_eq!(s.send(req).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn foreign_origins_get_403_and_allowed_ones_get_cors() {
    let s = setup().await;
    let req = post()
        .header("origin", "https://evil.example")
        .header("authorization", format!("Bearer {}", s.token()))
        .body(Body::from(call("read")))
        .unwrap();
    let resp = s.send(req).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    for origin in [
        "http://localhost:6274",
        "https://app.example.com",
        "http://127.0.0.1:8081",
    ] {
        let req = post()
            .header("origin", origin)
            .header("authorization", format!("Bearer {}", s.token()))
            .body(Body::from(call("read")))
            .unwrap();
        let resp = s.send(req).await;
        assert_eq!(resp.status(), StatusCode::OK, "{origin}");
        assert_eq!(resp.headers()["access-control-allow-origin"], origin);
        let expose = resp.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap();
        assert!(expose.contains("www-authenticate") && expose.contains("mcp-session-id"));
    }
    // A 401 is readable cross-origin too (the client must see the challenge).
    let req = post()
        .header("origin", "http://localhost:6274")
        .body(Body::empty())
        .unwrap();
    let resp = s.send(req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "http://localhost:6274"
    );
    // Preflight needs no token.
    let req = Request::options("/mcp")
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(Body::empty())
        .unwrap();
    let resp = s.send(req).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(
        resp.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let s = setup().await;
    let req = post()
        .header("authorization", format!("Bearer {}", s.token()))
        .body(Body::from(vec![b' '; 20_000]))
        .unwrap();
    assert_eq!(s.send(req).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unreachable_keys_are_a_503_not_a_401() {
    let key = Key::new("RS256", "snk_1");
    // Nothing listens on port 9 of 127.0.0.1 (discard); the fetch fails fast.
    let verifier =
        Arc::new(Verifier::new(VerifierConfig::new("http://127.0.0.1:9", RESOURCE)).unwrap());
    let service = verifier.layer(Arc::new(ScopeTable::new())).layer(echo());
    let token = key.sign(&claims("http://127.0.0.1:9", now()));
    let req = Request::post("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = service.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

#[tokio::test]
async fn tool_calls_are_audited_without_the_token() {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = setup().await;
    let token = s.token();
    for tool in ["read", "write"] {
        let req = post()
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(call(tool)))
            .unwrap();
        s.send(req).await;
    }
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("tool call")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, tool, decision) in [
        (lines[0], "read", "allowed"),
        (lines[1], "write", "refused"),
    ] {
        for field in [
            "sub=usr_alice",
            "client_id=m2m_client",
            "oid=org_test",
            &format!("tool={tool}"),
            &format!("decision=\"{decision}\""),
        ] {
            assert!(line.contains(field), "{field} missing in {line}");
        }
    }
    assert!(!text.contains(&token), "the token leaked into the log");
    assert!(!text.contains(token.split('.').nth(2).unwrap()));
}
