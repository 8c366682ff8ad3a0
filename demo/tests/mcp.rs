//! The tickets server over HTTP, as an MCP client sees it: discovery from the 401, the
//! streamable-HTTP session (initialize → tools/list → tools/call), per-tool scopes with 403
//! step-up challenges, organizations kept apart, and the refusals issue 8 lists.

// Helpers in an integration-test crate are test code too.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::{Key, World};

const READ: &str = "tickets.read";
const MANAGE_TEST: &str = "tickets.manage:org_test";

fn tickets(answer: &support::Answer) -> Vec<String> {
    answer.result()["structuredContent"]["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

fn is_error(answer: &support::Answer) -> bool {
    answer.result()["isError"] == json!(true)
}

#[tokio::test]
async fn a_client_discovers_the_issuer_from_the_401() {
    let w = World::start().await;
    let mut anonymous = w.client(None);
    let answer = anonymous.initialize().await;
    assert_eq!(answer.status, 401);
    let challenge = answer.challenge.unwrap();
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", w.base);
    assert_eq!(
        challenge,
        format!("Bearer scope=\"tickets.read\", resource_metadata=\"{metadata_url}\"")
    );
    let doc: Value = w
        .http
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource"], w.resource);
    assert_eq!(doc["authorization_servers"], json!([w.issuer]));
    assert_eq!(
        doc["scopes_supported"],
        json!(["tickets.read", "tickets.manage"])
    );
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    let root: Value = w
        .http
        .get(format!("{}/.well-known/oauth-protected-resource", w.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(root, doc);
}

#[tokio::test]
async fn a_reader_lists_and_reads_the_tickets_of_its_organization() {
    let w = World::start().await;
    let mut c = w.client(Some(w.token("org_test", &[READ])));
    let init = c.initialize().await;
    assert_eq!(init.status, 200);
    assert!(c.session.is_some(), "initialize returns a session id");
    assert_eq!(init.result()["serverInfo"]["name"], "tickets-mcp");

    let tools = c.list_tools().await;
    let mut names: Vec<&str> = tools.result()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "close_ticket",
            "create_ticket",
            "get_ticket",
            "list_tickets",
            "update_ticket"
        ]
    );

    let list = c.call("list_tickets", json!({})).await;
    assert_eq!(list.status, 200);
    assert_eq!(tickets(&list), ["TEST-1", "TEST-2", "TEST-3"]);
    let one = c.call("get_ticket", json!({"id": "TEST-1"})).await;
    assert_eq!(
        one.result()["structuredContent"]["title"],
        "Login page times out"
    );
    // Another organization's ticket looks exactly like a missing one.
    let other = c.call("get_ticket", json!({"id": "ACME-1"})).await;
    assert_eq!(other.status, 200);
    assert!(is_error(&other));
}

#[tokio::test]
async fn changing_tickets_needs_the_manage_scope_of_the_own_organization() {
    let w = World::start().await;
    for scopes in [
        vec![READ],
        vec![READ, "tickets.manage"],
        vec![READ, "tickets.manage:org_acme"],
    ] {
        let mut c = w.client(Some(w.token("org_test", &scopes)));
        assert_eq!(c.initialize().await.status, 200);
        for (tool, args) in [
            ("create_ticket", json!({"title": "x"})),
            ("update_ticket", json!({"id": "TEST-1", "title": "x"})),
            ("close_ticket", json!({"id": "TEST-1"})),
        ] {
            let answer = c.call(tool, args).await;
            assert_eq!(answer.status, 403, "{tool} with {scopes:?}");
            let challenge = answer.challenge.unwrap();
            assert!(
                challenge.starts_with("Bearer error=\"insufficient_scope\""),
                "{challenge}"
            );
            assert!(
                challenge.contains("scope=\"tickets.manage:org_test\""),
                "{challenge}"
            );
            assert!(challenge.contains(&format!(
                "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
                w.base
            )));
        }
        // Reads still work in the same session.
        assert_eq!(
            c.call("get_ticket", json!({"id": "TEST-2"})).await.status,
            200
        );
    }
}

#[tokio::test]
async fn a_manager_creates_updates_and_closes_and_still_reads() {
    let w = World::start().await;
    // Only the manage scope: it includes reading for its organization (step-up that
    // replaces scopes keeps reads).
    let mut c = w.client(Some(w.token("org_test", &[MANAGE_TEST])));
    assert_eq!(c.initialize().await.status, 200);
    let created = c
        .call(
            "create_ticket",
            json!({"title": "Printer on fire", "description": "3rd floor"}),
        )
        .await;
    assert_eq!(created.status, 200);
    let ticket = &created.result()["structuredContent"];
    assert_eq!(ticket["id"], "TEST-4");
    assert_eq!(ticket["organization_id"], "org_test");
    assert_eq!(ticket["reporter"], "usr_alice");

    let updated = c
        .call(
            "update_ticket",
            json!({"id": "TEST-4", "status": "in_progress", "assignee": "usr_bob"}),
        )
        .await;
    assert_eq!(
        updated.result()["structuredContent"]["status"],
        "in_progress"
    );
    let closed = c
        .call(
            "close_ticket",
            json!({"id": "TEST-4", "resolution": "extinguished"}),
        )
        .await;
    assert_eq!(closed.result()["structuredContent"]["status"], "closed");
    let read = c.call("get_ticket", json!({"id": "TEST-4"})).await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.result()["structuredContent"]["resolution"],
        "extinguished"
    );
    assert_eq!(
        tickets(&c.call("list_tickets", json!({"status": "closed"})).await),
        ["TEST-4"]
    );
    // Another organization's ticket cannot be touched.
    let foreign = c.call("close_ticket", json!({"id": "ACME-1"})).await;
    assert_eq!(foreign.status, 200);
    assert!(is_error(&foreign));
}

#[tokio::test]
async fn organizations_are_kept_apart() {
    let w = World::start().await;
    let mut acme = w.client(Some(w.token("org_acme", &["tickets.manage:org_acme"])));
    assert_eq!(acme.initialize().await.status, 200);
    assert_eq!(
        tickets(&acme.call("list_tickets", json!({})).await),
        ["ACME-1", "ACME-2"]
    );
    assert!(is_error(
        &acme.call("close_ticket", json!({"id": "TEST-1"})).await
    ));
    let mut test = w.client(Some(w.token("org_test", &[READ])));
    assert_eq!(test.initialize().await.status, 200);
    let t1 = test.call("get_ticket", json!({"id": "TEST-1"})).await;
    assert_eq!(t1.result()["structuredContent"]["status"], "open");
}

#[tokio::test]
async fn bad_tokens_are_refused_with_invalid_token() {
    let w = World::start().await;
    let t = support::now();
    let mut other_resource = w.claims("org_test", &[READ]);
    other_resource["aud"] = json!(["res_other", "http://127.0.0.1:9999/mcp"]);
    let mut expired = w.claims("org_test", &[READ]);
    expired["exp"] = json!(t - 120);
    expired["iat"] = json!(t - 420);
    expired["nbf"] = json!(t - 420);
    let mut other_issuer = w.claims("org_test", &[READ]);
    other_issuer["iss"] = json!(format!("{}/", w.issuer));
    let unknown_key = Key::new("snk_unknown");
    for (what, token) in [
        ("another resource", w.key.sign(&other_resource)),
        ("expired", w.key.sign(&expired)),
        ("another issuer", w.key.sign(&other_issuer)),
        (
            "unknown key",
            unknown_key.sign(&w.claims("org_test", &[READ])),
        ),
    ] {
        let answer = w.client(Some(token)).initialize().await;
        assert_eq!(answer.status, 401, "{what}");
        let challenge = answer.challenge.unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        assert!(challenge.contains("resource_metadata="), "{what}");
    }
}

#[tokio::test]
async fn a_token_in_the_query_string_is_not_accepted() {
    let w = World::start().await;
    let token = w.token("org_test", &[READ]);
    let resp = w
        .http
        .post(format!("{}?access_token={token}", w.resource))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(!challenge.contains("error="), "{challenge}");
}

#[tokio::test]
async fn a_foreign_origin_is_forbidden() {
    let w = World::start().await;
    let resp = w
        .http
        .post(&w.resource)
        .header("origin", "https://evil.example")
        .bearer_auth(w.token("org_test", &[READ]))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn a_stateless_2026_request_is_guarded_the_same_way() {
    let w = World::start().await;
    let body = |tool: &str, args: Value| {
        json!({
            "jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {
                "name": tool, "arguments": args,
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
                    "io.modelcontextprotocol/clientCapabilities": {}
                }
            }
        })
    };
    let send = |tool: &'static str, args: Value, token: String| {
        let req = w
            .http
            .post(&w.resource)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool)
            .body(body(tool, args).to_string());
        async move { req.send().await.unwrap() }
    };
    let denied = send(
        "create_ticket",
        json!({"title": "x"}),
        w.token("org_test", &[READ]),
    )
    .await;
    assert_eq!(denied.status(), 403);
    let allowed = send(
        "get_ticket",
        json!({"id": "TEST-3"}),
        w.token("org_test", &[READ]),
    )
    .await;
    assert_eq!(allowed.status(), 200);
    let text = allowed.text().await.unwrap();
    assert!(text.contains("Export tickets as CSV"), "{text}");
}

#[tokio::test]
async fn step_up_within_a_session_uses_the_new_token() {
    let w = World::start().await;
    let mut c = w.client(Some(w.token("org_test", &[READ])));
    assert_eq!(c.initialize().await.status, 200);
    let session = c.session.clone();
    assert_eq!(
        c.call("create_ticket", json!({"title": "x"})).await.status,
        403
    );
    // The client re-authorizes and keeps its session; each request speaks for its own token.
    c.token = Some(w.token("org_test", &[MANAGE_TEST]));
    let created = c.call("create_ticket", json!({"title": "x"})).await;
    assert_eq!(created.status, 200);
    assert_eq!(created.result()["structuredContent"]["id"], "TEST-4");
    assert_eq!(c.session, session);
    assert_eq!(
        c.call("get_ticket", json!({"id": "TEST-4"})).await.status,
        200
    );
    // Dropping back to a read token loses the manage rights at once.
    c.token = Some(w.token("org_test", &[READ]));
    assert_eq!(
        c.call("close_ticket", json!({"id": "TEST-4"})).await.status,
        403
    );
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body) from `s`; its status line, or
/// `None` when the connection ends first.
async fn read_response(s: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return text.lines().next().map(str::to_string);
            }
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A request refused on its headers alone (no token) whose body comes a moment after the
/// headers, as clients send it in two writes: the server reads the body before answering, so
/// the connection stays usable for the next request (the Python MCP client sends its
/// discovery request on it). It used to be closed after a 401 that did not say so.
#[tokio::test]
async fn a_refusal_reads_a_late_body_and_keeps_the_connection() {
    use tokio::io::AsyncWriteExt;
    let w = World::start().await;
    let addr = w.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}).to_string();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    s.write_all(body.as_bytes()).await.unwrap();
    let first = read_response(&mut s).await;
    assert_eq!(first.as_deref(), Some("HTTP/1.1 401 Unauthorized"));
    let next =
        format!("GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    s.write_all(next.as_bytes()).await.unwrap();
    let second = read_response(&mut s).await;
    assert_eq!(
        second.as_deref(),
        Some("HTTP/1.1 200 OK"),
        "the connection was closed after the refusal"
    );
}
