//! The reference scenario end to end with MCP clients nobody here wrote: portcullis (in
//! process, real clock) → the demo tickets MCP server (`tickets-mcp`, a child process on a
//! socket bound by the harness, trusting portcullis only through its metadata and JWKS) → the official MCP
//! clients, whose browser part is a script driving portcullis's pages over HTTP:
//!
//! - npm `@modelcontextprotocol/sdk` (pinned in tests/peers/mcp-ts, installed by
//!   tests/run.sh), run by tests/peers/mcp-ts/client.mjs with `node` from PATH;
//! - PyPI `mcp` (pinned in tests/peers/requirements.txt), run by
//!   tests/peers/mcp_py_client.py with the test peers' Python.
//!
//! The TypeScript client also runs with a Client ID Metadata Document instead of DCR: its
//! `clientMetadataUrl` names a document served over https on loopback by the CIMD tests'
//! server (tests/it/support/cimd_server.rs, with its test CA), which portcullis fetches.
//!
//! The clients' redirect URL `http://127.0.0.1:<CALLBACK_PORT>/callback` is a name only:
//! their scripted browser takes the redirect from the `Location` header, nothing listens
//! there and nothing connects to it.
//!
//! Refresh runs through the TypeScript client (its saved access token swapped for an expired
//! one, so the demo's 401 makes the SDK refresh); the demo's refusals are asserted with raw
//! streamable HTTP over reqwest and real tokens minted with portcullis's keys.
//!
//! The demo and its binary: tests/it/support/demo.rs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use portcullis::clock::{Clock, FixedClock, SystemClock};
use portcullis::outbound::StaticLookup;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::support::cimd_server::{DocServer, make_pki};
use crate::support::demo::Demo;
use crate::support::peers::PeerSocket;
use crate::support::{Builder, Spawned, TestApp, peer_python};

/// The port of the clients' redirect URL (nothing listens on it; see above).
const CALLBACK_PORT: u16 = 33418;
// A guard against a client that never ends, not a timing test: generous for a loaded 2-core CI.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// The demo's resource: its URL is the demo's real address, known only once a port is picked;
/// its access tokens live `access_token_ttl` seconds.
fn demo_seed(server_url: &str, access_token_ttl: i64) -> String {
    format!(
        r#"
[[resources]]
id = "res_demo"
name = "Tickets (demo)"
server_url = "{server_url}"
access_token_ttl = {access_token_ttl}
dynamic_client_registration = true
scopes = [ {{ name = "tickets.read", description = "Read tickets" }},
           {{ name = "tickets.manage", description = "Create and change tickets" }} ]

[[rules]]
id = "rule_demo_admins"
resource = "res_demo"
organization = "org_acme"
when = {{ group = "jira-admins" }}
grant = ["tickets.read", "tickets.manage:{{org}}"]

[[rules]]
id = "rule_demo_readers"
resource = "res_demo"
organization = "org_acme"
when = {{ any = true }}
grant = ["tickets.read"]

[[clients]]
id = "m2m_demo_preregistered"
name = "Pre-registered MCP client"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code"]
resources = ["res_demo"]
scopes = ["tickets.read", "tickets.manage"]
"#
    )
}

/// portcullis on a real clock with the demo resource seeded, and the demo trusting it.
async fn start() -> (Spawned, Demo) {
    start_with(TestApp::builder()).await
}

/// [`start`], with portcullis built from `builder` (its clock is set here).
async fn start_with(builder: Builder) -> (Spawned, Demo) {
    start_with_ttl(builder, 300).await
}

/// [`start_with`], the demo's access tokens living `access_token_ttl` seconds.
async fn start_with_ttl(builder: Builder, access_token_ttl: i64) -> (Spawned, Demo) {
    // The demo checks `exp`/`iat` against the real time.
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let s = builder.clock(clock).spawn().await;

    // The demo's address is in portcullis's seed before the demo starts: it serves on a
    // socket bound here.
    let socket = PeerSocket::bind();
    let url = format!("http://127.0.0.1:{}/mcp", socket.port);
    portcullis::seed::apply(
        &s.app.state.store,
        &s.app.state.config.secret,
        &|_| None,
        &demo_seed(&url, access_token_ttl),
        SystemClock.now(),
    )
    .await
    .expect("demo seed applies");

    let issuer = format!("{}/resources/res_demo", s.base);
    let demo = Demo::start(&issuer, &url, socket).await;
    (s, demo)
}

async fn run_client(cmd: Command, what: &str, demo: &Demo) -> Value {
    run_once(cmd, what, demo).await.accepted(what, demo)
}

/// One client run: its exit status, JSON summary and stderr.
struct Run {
    is_success: bool,
    status: std::process::ExitStatus,
    summary: Value,
    stderr: String,
}

impl Run {
    /// The summary of a run that succeeded; panics with everything known otherwise.
    fn accepted(self, what: &str, demo: &Demo) -> Value {
        assert!(
            self.is_success,
            "{what} failed ({}): {:#}\nstderr:\n{}\ndemo:\n{}",
            self.status,
            self.summary,
            self.stderr,
            demo.logs().join("\n")
        );
        self.summary
    }
}

async fn run_once(mut cmd: Command, what: &str, demo: &Demo) -> Run {
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(CLIENT_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {CLIENT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "{what} printed no JSON summary ({}); stdout:\n{stdout}\nstderr:\n{stderr}\ndemo:\n{}",
                out.status,
                demo.logs().join("\n")
            )
        });
    // Shown when the test fails (the harness captures it otherwise).
    eprintln!("{what}: {summary:#}\nstderr:\n{stderr}");
    Run {
        is_success: out.status.success() && summary.get("fatal").is_none(),
        status: out.status,
        summary,
        stderr: stderr.into_owned(),
    }
}

fn mcp_ts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/mcp-ts")
}

/// Runs the TypeScript SDK client against the demo; returns its JSON summary.
async fn ts_client(demo: &Demo, args: &[&str]) -> Value {
    ts_client_on(demo, CALLBACK_PORT, args, &[]).await
}

/// [`ts_client`] with its redirect URL `http://127.0.0.1:<callback_port>/callback` and extra
/// environment variables.
async fn ts_client_on(
    demo: &Demo,
    callback_port: u16,
    args: &[&str],
    env: &[(&str, &Path)],
) -> Value {
    let dir = mcp_ts_dir();
    assert!(
        dir.join("node_modules/@modelcontextprotocol/sdk/package.json")
            .is_file(),
        "@modelcontextprotocol/sdk is not installed in {}: run tests/run.sh, or \
         `npm ci --prefix tests/peers/mcp-ts`",
        dir.display()
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("client.mjs"))
        .args(["--server", &demo.url])
        .args(["--callback-port", &callback_port.to_string()])
        .args(args)
        .envs(env.iter().copied())
        .current_dir(&dir);
    run_client(cmd, "the MCP TypeScript SDK client", demo).await
}

/// Runs the Python `mcp` client against the demo; returns its JSON summary.
async fn py_client(demo: &Demo, args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/mcp_py_client.py");
    let mut cmd = Command::new(peer_python());
    cmd.arg(&script)
        .args(["--server", &demo.url])
        .args(["--callback-port", &CALLBACK_PORT.to_string()])
        .args(args);
    run_client(cmd, "the Python mcp client", demo).await
}

/// The `token.issued` events of the demo resource for `client_id` (in no particular order:
/// the clock is fixed, so they share one timestamp).
async fn tokens_issued(s: &Spawned, client_id: &str) -> Vec<portcullis::store::AuditRecord> {
    let events: Vec<_> = s
        .audit("token.issued")
        .await
        .into_iter()
        .filter(|e| e.client_id.as_deref() == Some(client_id))
        .collect();
    for e in &events {
        assert_eq!(e.resource_id.as_deref(), Some("res_demo"), "{e:?}");
        assert_eq!(
            e.detail["iss"],
            format!("{}/resources/res_demo", s.base),
            "tokens for the demo carry the per-resource issuer: {e:?}"
        );
        assert_eq!(e.organization_id.as_deref(), Some("org_acme"), "{e:?}");
    }
    events
}

/// `(grant_type, scopes)` of each token issued to `client_id`, sorted.
async fn grants(s: &Spawned, client_id: &str) -> Vec<(Value, Value)> {
    let mut grants: Vec<_> = tokens_issued(s, client_id)
        .await
        .iter()
        .map(|e| (e.detail["grant_type"].clone(), e.detail["scopes"].clone()))
        .collect();
    grants.sort_by_key(|g| format!("{g:?}"));
    grants
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list of ids: {v}"))
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect()
}

/// What every TypeScript run shares: discovery of the per-resource issuer, a registered
/// public client, the first authorization with PKCE, `resource` and `state`, and reads.
fn assert_ts_first_authorization(s: &Spawned, demo: &Demo, sum: &Value) {
    let issuer = format!("{}/resources/res_demo", s.base);
    assert!(
        sum["sdk_version"].as_str().unwrap().starts_with("1.32."),
        "{sum:#}"
    );
    assert_eq!(
        sum["discovery"]["authorization_server_url"],
        issuer.as_str()
    );
    assert_eq!(sum["discovery"]["metadata_issuer"], issuer.as_str());
    assert_eq!(sum["discovery"]["resource"], demo.url.as_str());
    let first = &sum["authorizations"][0];
    assert_eq!(
        first["endpoint"],
        format!("{issuer}/oauth/authorize"),
        "{sum:#}"
    );
    assert_eq!(first["resource"], demo.url.as_str());
    assert_eq!(first["code_challenge_method"], "S256");
    assert_eq!(first["has_state"], true);
    // The 401 challenge's scope (the demo names tickets.read) is what the SDK asks for.
    assert_eq!(first["scope"], "tickets.read", "{sum:#}");
    assert_eq!(first["callback"]["has_code"], true, "{sum:#}");
    assert_eq!(first["callback"]["state_matches"], true);
    assert_eq!(first["callback"]["iss"], issuer.as_str());
    assert_eq!(
        sum["tools"],
        json!([
            "close_ticket",
            "create_ticket",
            "get_ticket",
            "list_tickets",
            "update_ticket"
        ])
    );
    assert_eq!(sum["list_tickets"]["ok"], true, "{sum:#}");
    assert_eq!(
        ids(&sum["list_tickets"]["ids"]),
        ["ACME-1", "ACME-2"],
        "{sum:#}"
    );
    assert_eq!(sum["get_ticket"]["ok"], true, "{sum:#}");
    assert_eq!(sum["get_ticket"]["id"], "ACME-1", "{sum:#}");
}

#[tokio::test]
async fn ts_sdk_alice_registers_signs_in_steps_up_and_creates_a_ticket() {
    let (s, demo) = start().await;
    let sum = ts_client(
        &demo,
        &["--email", "alice@example.com", "--groups", "jira-admins"],
    )
    .await;
    assert_ts_first_authorization(&s, &demo, &sum);

    // Registered by DCR at the per-resource registration endpoint, as a public client.
    let client_id = sum["registered"]["client_id"].as_str().unwrap().to_string();
    assert_eq!(sum["registered"]["token_endpoint_auth_method"], "none");
    assert_eq!(sum["registered"]["has_client_secret"], false);
    let first = &sum["authorizations"][0];
    assert_eq!(
        first["pages"],
        json!([
            "303 /resources/res_demo/oauth/authorize",
            "200 /sso/v1/login",
            "303 /sso/v1/login",
            "200 /sso/v1/simulator/conn_acme_sim",
            "303 /sso/v1/simulator/conn_acme_sim",
            "200 /oauth/consent",
            "303 /oauth/consent"
        ]),
        "{sum:#}"
    );

    // create_ticket: 403 insufficient_scope naming tickets.manage:org_acme → the SDK starts a
    // new authorization for that scope (no refresh token to try first), alice's browser
    // session is reused, consent for the new scope, finishAuth, and the retry succeeds.
    let created = &sum["create_ticket"];
    assert_eq!(created["ok"], true, "{sum:#}");
    assert_eq!(created["stepped_up"], true, "{sum:#}");
    assert_eq!(
        created["first_error"]["name"], "UnauthorizedError",
        "{sum:#}"
    );
    let step_up = &sum["authorizations"][1];
    assert_eq!(step_up["scope"], "tickets.manage:org_acme", "{sum:#}");
    assert_eq!(step_up["callback"]["has_code"], true, "{sum:#}");
    let ticket = &created["ticket"];
    assert!(
        ticket["id"].as_str().unwrap().starts_with("ACME-"),
        "{sum:#}"
    );
    assert_eq!(ticket["organization_id"], "org_acme", "{sum:#}");
    // The new token (tickets.manage:org_acme only) still reads: the scope hierarchy.
    assert_eq!(sum["get_ticket_after"]["ok"], true, "{sum:#}");
    assert_eq!(sum["get_ticket_after"]["ticket"]["id"], ticket["id"]);
    assert!(
        ids(&sum["list_tickets_after"]["ids"])
            .contains(&ticket["id"].as_str().unwrap().to_string())
    );
    assert_eq!(
        sum["tokens"],
        json!([
            { "scope": "tickets.read", "has_refresh_token": false,
              "issuer": format!("{}/resources/res_demo", s.base) },
            { "scope": "tickets.manage:org_acme", "has_refresh_token": false,
              "issuer": format!("{}/resources/res_demo", s.base) }
        ]),
        "{sum:#}"
    );

    // portcullis's audit: the registration and both tokens, per-resource issuer.
    let registered = s.audit("client.registered").await;
    assert_eq!(registered.len(), 1, "{registered:?}");
    assert_eq!(registered[0].client_id.as_deref(), Some(client_id.as_str()));
    assert_eq!(registered[0].resource_id.as_deref(), Some("res_demo"));
    assert_eq!(registered[0].detail["public"], true);
    assert_eq!(
        grants(&s, &client_id).await,
        [
            (
                json!("authorization_code"),
                json!(["tickets.manage:org_acme"])
            ),
            (json!("authorization_code"), json!(["tickets.read"]))
        ]
    );

    // The demo's audit: the refused create, then the allowed one, by alice's token.
    let decisions: Vec<_> = demo
        .tool_call_audit()
        .into_iter()
        .filter(|f| f["tool"] == "create_ticket")
        .map(|f| {
            (
                f["decision"].clone(),
                f["client_id"].clone(),
                f["oid"].clone(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            (json!("refused"), json!(client_id), json!("org_acme")),
            (json!("allowed"), json!(client_id), json!("org_acme"))
        ],
        "{:#?}",
        demo.logs()
    );
}

#[tokio::test]
async fn ts_sdk_bob_reads_and_is_refused_create_ticket() {
    let (s, demo) = start().await;

    // A client with refresh tokens (the usual MCP client): on the 403 the SDK 1.32 refreshes
    // (refresh never widens the scope), retries, gets the same 403 and gives up with a
    // StreamableHTTPError 403 — no new authorization is started (typescript-sdk#2255).
    let sum = ts_client(
        &demo,
        &["--email", "bob@example.com", "--groups", "eng", "--refresh"],
    )
    .await;
    assert_ts_first_authorization(&s, &demo, &sum);
    let created = &sum["create_ticket"];
    assert_eq!(created["ok"], false, "{sum:#}");
    assert_eq!(created["stepped_up"], false, "{sum:#}");
    assert_eq!(
        created["error"],
        json!({
            "name": "StreamableHTTPError",
            "code": 403,
            "message": "Streamable HTTP error: Server returned 403 after trying upscoping",
            "is_unauthorized_error": false,
            "is_streamable_http_error": true
        }),
        "{sum:#}"
    );
    assert_eq!(created["authorizations_started"], 0, "{sum:#}");
    assert_eq!(
        created["tokens_saved"], 1,
        "the SDK refreshed once: {sum:#}"
    );
    let client_id = sum["client_id"].as_str().unwrap().to_string();
    assert_eq!(
        grants(&s, &client_id).await,
        [
            (json!("authorization_code"), json!(["tickets.read"])),
            (json!("refresh_token"), json!(["tickets.read"]))
        ]
    );

    // Without a refresh token the SDK starts the step-up authorization; bob's rules grant
    // nothing of tickets.manage:org_acme, so portcullis answers access_denied and the SDK's
    // call ends in UnauthorizedError (the authorization did not complete).
    let sum = ts_client(&demo, &["--email", "bob@example.com", "--groups", "eng"]).await;
    assert_ts_first_authorization(&s, &demo, &sum);
    let created = &sum["create_ticket"];
    assert_eq!(created["ok"], false, "{sum:#}");
    assert_eq!(created["error"]["name"], "UnauthorizedError", "{sum:#}");
    let step_up = &sum["authorizations"][1];
    assert_eq!(step_up["scope"], "tickets.manage:org_acme", "{sum:#}");
    assert_eq!(step_up["callback"]["has_code"], false, "{sum:#}");
    assert_eq!(step_up["callback"]["error"], "access_denied", "{sum:#}");
    assert_eq!(
        step_up["callback"]["iss"],
        format!("{}/resources/res_demo", s.base)
    );

    let refused: Vec<_> = demo
        .tool_call_audit()
        .into_iter()
        .filter(|f| f["tool"] == "create_ticket")
        .map(|f| f["decision"].clone())
        .collect();
    // Twice for the first client (before and after its refresh), once for the second.
    assert_eq!(refused, vec![json!("refused"); 3], "{:#?}", demo.logs());
    assert_eq!(s.audit("client.registered").await.len(), 2);
}

#[tokio::test]
async fn ts_sdk_steps_up_in_a_fresh_browser_session_as_an_admin() {
    let (s, demo) = start().await;
    // bob reads; create_ticket gets 403 insufficient_scope; the step-up authorization runs in
    // a new browser (no session of bob to reuse) where carol of jira-admins signs in; the
    // retried call succeeds and reads still work with the new token.
    let sum = ts_client(
        &demo,
        &[
            "--email",
            "bob@example.com",
            "--groups",
            "eng",
            "--step-up",
            "fresh:carol@example.com:jira-admins",
        ],
    )
    .await;
    assert_ts_first_authorization(&s, &demo, &sum);
    let created = &sum["create_ticket"];
    assert_eq!(created["ok"], true, "{sum:#}");
    assert_eq!(created["stepped_up"], true, "{sum:#}");
    let step_up = &sum["authorizations"][1];
    assert_eq!(step_up["as"], "carol@example.com", "{sum:#}");
    assert_eq!(step_up["scope"], "tickets.manage:org_acme", "{sum:#}");
    assert_eq!(
        step_up["pages"],
        json!([
            "303 /resources/res_demo/oauth/authorize",
            "200 /sso/v1/login",
            "303 /sso/v1/login",
            "200 /sso/v1/simulator/conn_acme_sim",
            "303 /sso/v1/simulator/conn_acme_sim",
            "200 /oauth/consent",
            "303 /oauth/consent"
        ]),
        "a fresh session signs in again: {sum:#}"
    );
    assert_eq!(created["ticket"]["organization_id"], "org_acme");
    assert_eq!(sum["get_ticket_after"]["ok"], true, "{sum:#}");

    // The demo saw two people: bob refused, carol allowed.
    let calls: Vec<_> = demo
        .tool_call_audit()
        .into_iter()
        .filter(|f| f["tool"] == "create_ticket")
        .collect();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[0]["decision"], "refused");
    assert_eq!(calls[1]["decision"], "allowed");
    assert_ne!(calls[0]["sub"], calls[1]["sub"], "{calls:#?}");
    assert_eq!(created["ticket"]["reporter"], calls[1]["sub"]);
}

#[tokio::test]
async fn ts_sdk_with_a_preregistered_client() {
    let (s, demo) = start().await;
    let sum = ts_client(
        &demo,
        &[
            "--client-id",
            "m2m_demo_preregistered",
            "--email",
            "alice@example.com",
            "--groups",
            "jira-admins",
        ],
    )
    .await;
    assert_ts_first_authorization(&s, &demo, &sum);
    assert_eq!(sum["registered"], Value::Null, "{sum:#}");
    assert_eq!(sum["client_id"], "m2m_demo_preregistered");
    assert_eq!(sum["create_ticket"]["ok"], true, "{sum:#}");
    assert!(s.audit("client.registered").await.is_empty());
    assert_eq!(tokens_issued(&s, "m2m_demo_preregistered").await.len(), 2);
}

#[tokio::test]
async fn ts_sdk_with_a_client_id_metadata_document_registers_nothing() {
    // The client's Client ID Metadata Document, served over https on loopback by the CIMD
    // tests' server (tests/it/support/cimd_server.rs) with a certificate of their test CA that names
    // 127.0.0.1; its `redirect_uris` is the redirect URL of client.mjs on this port.
    let pki = make_pki();
    let callback_port = CALLBACK_PORT;
    let redirect_uri = format!("http://127.0.0.1:{callback_port}/callback");
    let documents = DocServer::start_for(pki.certs.clone(), &redirect_uri).await;
    let client_id = documents.url("127.0.0.1", "/client.json");

    let (s, demo) = start_with(TestApp::builder().outsider(
        // No names to resolve: the client id is an IP literal.
        Arc::new(StaticLookup::default()),
        // The SSRF guard refuses loopback, and IP literals never reach its resolver: only
        // this exemption (PORTCULLIS_ALLOW_PRIVATE_HOSTS=127.0.0.1) lets portcullis fetch
        // the document from the test server.
        &["127.0.0.1"],
        // PORTCULLIS_EXTRA_CA_FILE: the server's certificate is signed by the test CA.
        Some(&pki.ca_file),
    ))
    .await;

    let sum = ts_client_on(
        &demo,
        callback_port,
        &[
            "--client-metadata-url",
            &client_id,
            "--email",
            "alice@example.com",
            "--groups",
            "jira-admins",
        ],
        // Only portcullis fetches the document; were Node to connect there, it would trust
        // the test CA.
        &[("NODE_EXTRA_CA_CERTS", pki.ca_file.as_path())],
    )
    .await;
    assert_ts_first_authorization(&s, &demo, &sum);

    // The SDK took the URL as its client_id (portcullis advertises
    // client_id_metadata_document_supported) although DCR was open to it: it never asked the
    // registration endpoint, and portcullis registered nothing.
    assert_eq!(sum["client_id"], client_id.as_str(), "{sum:#}");
    assert_eq!(sum["registered"], Value::Null, "{sum:#}");
    let registration_endpoint = sum["discovery"]["registration_endpoint"]
        .as_str()
        .unwrap_or_else(|| panic!("DCR is open on res_demo: {sum:#}"));
    let requests: Vec<&str> = sum["sdk_requests"]
        .as_array()
        .unwrap_or_else(|| panic!("{sum:#}"))
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        requests
            .iter()
            .any(|r| *r == format!("POST {}/resources/res_demo/oauth/token", s.base)),
        "{requests:#?}"
    );
    assert!(
        !requests.iter().any(|r| r.ends_with(registration_endpoint)),
        "the SDK called the registration endpoint: {requests:#?}"
    );
    assert!(s.audit("client.registered").await.is_empty());
    let first = &sum["authorizations"][0];
    assert_eq!(first["client_id"], client_id.as_str(), "{sum:#}");
    assert_eq!(first["redirect_uri"], redirect_uri.as_str(), "{sum:#}");
    assert_eq!(
        first["pages"],
        json!([
            "303 /resources/res_demo/oauth/authorize",
            "200 /sso/v1/login",
            "303 /sso/v1/login",
            "200 /sso/v1/simulator/conn_acme_sim",
            "303 /sso/v1/simulator/conn_acme_sim",
            "200 /oauth/consent",
            "303 /oauth/consent"
        ]),
        "{sum:#}"
    );

    // portcullis fetched the document (successfully) and its tokens name the URL as client.
    let fetched: Vec<_> = s
        .audit("client_metadata.fetched")
        .await
        .into_iter()
        .filter(|e| e.client_id.as_deref() == Some(client_id.as_str()))
        .collect();
    // Once: the document says max-age=300, and later requests are answered from the cache.
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    assert_eq!(fetched[0].detail["error"], Value::Null, "{fetched:?}");
    assert!(s.audit("client_metadata.refused").await.is_empty());
    assert_eq!(documents.hits("127.0.0.1", "/client.json"), 1);
    let token_client_ids = sum["token_client_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("{sum:#}"));
    assert!(!token_client_ids.is_empty(), "{sum:#}");
    for id in token_client_ids {
        assert_eq!(
            id,
            client_id.as_str(),
            "the access token's client_id: {sum:#}"
        );
    }
    // The document grants refresh_token too: on create_ticket's 403 the SDK refreshes first
    // (as in ts_sdk_bob_reads_and_is_refused_create_ticket), as the same client.
    assert_eq!(token_client_ids.len(), 2, "{sum:#}");
    assert_eq!(
        grants(&s, &client_id).await,
        [
            (json!("authorization_code"), json!(["tickets.read"])),
            (json!("refresh_token"), json!(["tickets.read"]))
        ]
    );

    // The demo authorized list_tickets for that client.
    let listed: Vec<_> = demo
        .tool_call_audit()
        .into_iter()
        .filter(|f| f["tool"] == "list_tickets")
        .collect();
    assert!(!listed.is_empty(), "{:#?}", demo.logs());
    assert_eq!(listed[0]["decision"], "allowed", "{listed:#?}");
    assert_eq!(listed[0]["client_id"], client_id.as_str(), "{listed:#?}");
}

#[tokio::test]
async fn python_mcp_client_completes_the_flow() {
    let (s, demo) = start().await;
    let issuer = format!("{}/resources/res_demo", s.base);

    // bob: reads.
    let sum = py_client(&demo, &["--email", "bob@example.com", "--groups", "eng"]).await;
    assert_eq!(sum["list_tickets"]["ok"], true, "{sum:#}");
    assert_eq!(
        ids(&sum["list_tickets"]["ids"]),
        ["ACME-1", "ACME-2"],
        "{sum:#}"
    );
    assert!(
        sum["sdk_version"].as_str().unwrap().starts_with("2."),
        "{sum:#}"
    );
    let first = &sum["authorizations"][0];
    assert_eq!(first["endpoint"], format!("{issuer}/oauth/authorize"));
    assert_eq!(first["resource"], demo.url.as_str());
    assert_eq!(first["scope"], "tickets.read", "{sum:#}");
    assert_eq!(first["code_challenge_method"], "S256");
    // The SDK itself compared state and RFC 9207 iss (against the metadata issuer, which it
    // required to be the PRM's authorization server) before exchanging the code.
    assert_eq!(first["callback"]["state_echoed"], true);
    assert_eq!(first["callback"]["iss"], issuer.as_str());
    let client_id = sum["client_id"].as_str().unwrap().to_string();
    assert_eq!(tokens_issued(&s, &client_id).await.len(), 1);

    // alice: the SDK's own step-up (SEP-2350: the union of the granted and challenged scopes)
    // gets tickets.manage:org_acme and create_ticket succeeds.
    let sum = py_client(
        &demo,
        &[
            "--email",
            "alice@example.com",
            "--groups",
            "jira-admins",
            "--create",
        ],
    )
    .await;
    assert_eq!(sum["list_tickets"]["ok"], true, "{sum:#}");
    assert_eq!(sum["create_ticket"]["ok"], true, "{sum:#}");
    let ticket = &sum["create_ticket"]["ticket"];
    assert_eq!(ticket["organization_id"], "org_acme", "{sum:#}");
    assert_eq!(
        sum["authorizations"][1]["scope"], "tickets.read tickets.manage:org_acme",
        "{sum:#}"
    );
    let client_id = sum["client_id"].as_str().unwrap().to_string();
    assert_eq!(
        grants(&s, &client_id).await,
        [
            (
                json!("authorization_code"),
                json!(["tickets.read", "tickets.manage:org_acme"])
            ),
            (json!("authorization_code"), json!(["tickets.read"]))
        ]
    );
}

/// A real access token of portcullis (its keys, its minting code) for `resource_id`, issued by
/// the per-resource issuer of `issuer_resource`, to someone of `oid` with `scopes`, at unix time
/// `now` (so `exp` is `now` + the resource's `access_token_ttl`).
async fn mint_token(
    s: &Spawned,
    issuer_resource: &str,
    resource_id: &str,
    oid: &str,
    scopes: &[&str],
    now: i64,
) -> String {
    let resource = s
        .app
        .state
        .store
        .find_resource(resource_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{resource_id} is seeded"));
    let issuer = format!("{}/resources/{issuer_resource}", s.base);
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    portcullis::oauth::access_token::mint(
        &s.app.state.keys,
        &portcullis::oauth::access_token::TokenSubject {
            issuer: &issuer,
            subject: "usr_e2e_minted",
            client_id: "m2m_demo_preregistered",
            organization_id: Some(oid),
            session_id: None,
            extra: None,
        },
        &resource,
        &scopes,
        now,
    )
    .expect("portcullis mints")
    .jwt
}

/// `jwt`'s header and payload signed again by a fresh RSA key under a `kid` no JWKS names.
fn signed_by_an_unknown_key(jwt: &str) -> String {
    use base64::Engine;
    use josekit::jws::RS256;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let payload = jwt.split('.').nth(1).expect("a compact JWS");
    let pair = RS256.generate_key_pair(2048).unwrap();
    let signer = RS256.signer_from_der(pair.to_der_private_key()).unwrap();
    let header = json!({ "alg": "RS256", "kid": "snk_unknown0000000000000000", "typ": "at+jwt" });
    let input = format!("{}.{payload}", b64(header.to_string().as_bytes()));
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signature))
}

/// One answer of the demo's MCP endpoint.
#[derive(Debug)]
struct McpAnswer {
    status: u16,
    challenge: Option<String>,
    session: Option<String>,
    /// The JSON-RPC response (a JSON body, or the first one on the SSE stream), if any.
    message: Option<Value>,
}

/// A raw streamable-HTTP request to the demo: `body` POSTed to `url` with `token` (if any) in
/// the `Authorization` header and the session's headers (if any).
async fn post_mcp(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    session: Option<&str>,
    body: &Value,
) -> McpAnswer {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    let resp = req.send().await.unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let status = resp.status().as_u16();
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
    McpAnswer {
        status,
        challenge,
        session,
        message,
    }
}

fn initialize_request() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "portcullis-e2e-raw", "version": "0"}
        }
    })
}

fn tool_call(tool: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}
    })
}

/// The demo's lines of `message` (its `fields`), in order.
fn demo_log_lines(demo: &Demo, message: &str) -> Vec<Value> {
    demo.logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == message)
        .map(|v| v["fields"].clone())
        .collect()
}

#[tokio::test]
async fn ts_sdk_refreshes_and_the_rotated_refresh_token_is_refused() {
    // Access tokens of the demo live 10 s (the least portcullis allows). The SDK 1.32 never
    // refreshes ahead of `expires_in`, only on the server's 401; waiting for a real 401 (10 s +
    // the demo's 60 s of skew) is too slow, so after its first call the client's saved access
    // token is swapped for a real portcullis token for the demo that expired an hour ago.
    let (s, demo) = start_with_ttl(TestApp::builder(), 10).await;
    let issuer = format!("{}/resources/res_demo", s.base);
    let expired = mint_token(
        &s,
        "res_demo",
        "res_demo",
        "org_acme",
        &["tickets.read"],
        SystemClock.now() - 3600,
    )
    .await;

    let sum = ts_client(
        &demo,
        &[
            "--email",
            "bob@example.com",
            "--groups",
            "eng",
            "--refresh",
            "--no-create",
            "--expired-access-token",
            &expired,
            "--print-refresh-tokens",
        ],
    )
    .await;
    assert_ts_first_authorization(&s, &demo, &sum);
    let client_id = sum["client_id"].as_str().unwrap().to_string();
    assert_eq!(
        sum["registered"]["grant_types"],
        json!(["authorization_code", "refresh_token"]),
        "{sum:#}"
    );

    // get_ticket: the demo answered 401 invalid_token to the expired token, the SDK refreshed
    // (no new authorization), saved the new tokens and retried with success.
    let got = &sum["get_ticket"];
    assert_eq!(got["ok"], true, "{sum:#}");
    assert_eq!(got["tokens_saved"], 1, "the SDK refreshed once: {sum:#}");
    assert_eq!(got["authorizations_started"], 0, "{sum:#}");
    assert_eq!(sum["authorizations"].as_array().unwrap().len(), 1);
    assert_eq!(sum["token_expires_in"], json!([10, 10]), "{sum:#}");
    assert_eq!(
        sum["tokens"],
        json!([
            { "scope": "tickets.read", "has_refresh_token": true, "issuer": issuer },
            { "scope": "tickets.read", "has_refresh_token": true, "issuer": issuer }
        ]),
        "{sum:#}"
    );
    let token_endpoint = format!("{issuer}/oauth/token");
    let token_requests = sum["sdk_requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.as_str() == Some(format!("POST {token_endpoint}").as_str()))
        .count();
    assert_eq!(token_requests, 2, "code, then refresh: {sum:#}");
    let expired_refusals: Vec<_> = demo_log_lines(&demo, "refused an invalid token")
        .into_iter()
        .filter(|f| f["reason"] == "the token has expired")
        .collect();
    assert_eq!(expired_refusals.len(), 1, "{:#?}", demo.logs());
    let reads: Vec<_> = demo
        .tool_call_audit()
        .into_iter()
        .filter(|f| f["tool"] == "get_ticket")
        .map(|f| (f["decision"].clone(), f["client_id"].clone()))
        .collect();
    assert_eq!(
        reads,
        [(json!("allowed"), json!(client_id))],
        "only the refreshed token reached the tool check: {:#?}",
        demo.logs()
    );

    // portcullis: a code grant, then a refresh grant that rotated the family once.
    assert_eq!(
        grants(&s, &client_id).await,
        [
            (json!("authorization_code"), json!(["tickets.read"])),
            (json!("refresh_token"), json!(["tickets.read"]))
        ]
    );
    let rotated: Vec<_> = s
        .audit("refresh.rotated")
        .await
        .into_iter()
        .filter(|e| e.client_id.as_deref() == Some(client_id.as_str()))
        .collect();
    assert_eq!(rotated.len(), 1, "{rotated:?}");
    let family = rotated[0].detail["family_id"].clone();
    assert!(family.is_string(), "{rotated:?}");
    assert!(s.audit("refresh.reuse_detected").await.is_empty());

    // The refresh token of the code grant was rotated away; presented again, it is refused
    // and portcullis revokes the family, so the current refresh token dies with it.
    let refresh_tokens = ids(&sum["refresh_tokens"]);
    assert_eq!(refresh_tokens.len(), 2, "{sum:#}");
    assert_ne!(refresh_tokens[0], refresh_tokens[1]);
    let http = reqwest::Client::new();
    let present = |refresh_token: String| {
        let http = http.clone();
        let form = [
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", refresh_token),
            ("client_id", client_id.clone()),
            ("resource", demo.url.clone()),
        ];
        let token_endpoint = token_endpoint.clone();
        async move {
            let resp = http.post(&token_endpoint).form(&form).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = present(refresh_tokens[0].clone()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let reused = s.audit("refresh.reuse_detected").await;
    assert_eq!(reused.len(), 1, "{reused:?}");
    assert_eq!(reused[0].client_id.as_deref(), Some(client_id.as_str()));
    assert_eq!(reused[0].detail["family_id"], family, "{reused:?}");
    assert_eq!(reused[0].user_id, rotated[0].user_id);

    let (status, body) = present(refresh_tokens[1].clone()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert_eq!(
        tokens_issued(&s, &client_id).await.len(),
        2,
        "no token for a revoked family"
    );
}

#[tokio::test]
async fn the_demo_refuses_bad_tokens_from_portcullis() {
    let (s, demo) = start().await;
    let http = reqwest::Client::new();
    let now = SystemClock.now();
    let prm = demo
        .url
        .replace("/mcp", "/.well-known/oauth-protected-resource/mcp");
    let read = ["tickets.read"];
    let valid = mint_token(&s, "res_demo", "res_demo", "org_acme", &read, now).await;
    let get_acme_1 = tool_call("get_ticket", json!({"id": "ACME-1"}));

    // No token: 401 with a plain challenge (no error code, RFC 6750 §3.1), naming the scope
    // to ask for and the metadata.
    let plain = format!(r#"Bearer scope="tickets.read", resource_metadata="{prm}""#);
    let answer = post_mcp(&http, &demo.url, None, None, &initialize_request()).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.challenge.as_deref(), Some(plain.as_str()));

    // A valid portcullis token opens a session and reads.
    let init = post_mcp(&http, &demo.url, Some(&valid), None, &initialize_request()).await;
    assert_eq!(init.status, 200, "{init:?}");
    let session = init.session.clone().expect("an MCP session id");
    let session = Some(session.as_str());
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let noted = post_mcp(&http, &demo.url, Some(&valid), session, &note).await;
    assert_eq!(noted.status, 202, "{noted:?}");
    let ok = post_mcp(&http, &demo.url, Some(&valid), session, &get_acme_1).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let result = &ok.message.as_ref().expect("a JSON-RPC response")["result"];
    assert_eq!(result["isError"], false, "{ok:?}");
    assert_eq!(result["structuredContent"]["id"], "ACME-1", "{ok:?}");

    // In that session, each bad token gets 401 invalid_token, the reason in the description.
    let invalid = |description: &str| {
        format!(
            r#"Bearer error="invalid_token", error_description="{description}", scope="tickets.read", resource_metadata="{prm}""#
        )
    };
    let wiki = mint_token(&s, "res_wiki", "res_wiki", "org_acme", &["wiki.read"], now).await;
    let wiki_audience = mint_token(&s, "res_demo", "res_wiki", "org_acme", &read, now).await;
    let expired = mint_token(&s, "res_demo", "res_demo", "org_acme", &read, now - 3600).await;
    let unknown_key = signed_by_an_unknown_key(&valid);
    let cases = [
        (
            "a token of res_wiki (its issuer, its audience)",
            wiki,
            "the token was issued by another issuer",
        ),
        (
            "a token for res_wiki from the demo's issuer",
            wiki_audience,
            "the token is not meant for this resource",
        ),
        (
            "a token expired an hour ago",
            expired,
            "the token has expired",
        ),
        (
            "the claims of a valid token signed by an unknown key",
            unknown_key,
            "the token's signing key is unknown",
        ),
    ];
    for (what, token, description) in &cases {
        let (_, claims) = crate::support::decode_jwt(token);
        let answer = post_mcp(&http, &demo.url, Some(token), session, &get_acme_1).await;
        assert_eq!(answer.status, 401, "{what} ({claims}): {answer:?}");
        assert_eq!(
            answer.challenge.as_deref(),
            Some(invalid(description).as_str()),
            "{what} ({claims})"
        );
    }
    let refusals: Vec<_> = demo_log_lines(&demo, "refused an invalid token")
        .iter()
        .map(|f| f["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    let expected: Vec<_> = cases.iter().map(|(_, _, d)| d.to_string()).collect();
    assert_eq!(refusals, expected, "{:#?}", demo.logs());

    // No token in the session.
    let answer = post_mcp(&http, &demo.url, None, session, &get_acme_1).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.challenge.as_deref(), Some(plain.as_str()));

    // A valid token only in the query string is not looked at: as if there were none.
    let mut with_query = url::Url::parse(&demo.url).unwrap();
    with_query
        .query_pairs_mut()
        .append_pair("access_token", &valid);
    let answer = post_mcp(&http, with_query.as_str(), None, session, &get_acme_1).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.challenge.as_deref(), Some(plain.as_str()));
    let answer = post_mcp(
        &http,
        with_query.as_str(),
        None,
        None,
        &initialize_request(),
    )
    .await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.challenge.as_deref(), Some(plain.as_str()));

    // Another organization's manage scope: an org_acme user holding tickets.manage:org_other
    // reads, but may neither create a ticket in org_acme nor change ACME-1: 403 naming the
    // scope of its own organization.
    let other_manage = mint_token(
        &s,
        "res_demo",
        "res_demo",
        "org_acme",
        &["tickets.read", "tickets.manage:org_other"],
        now,
    )
    .await;
    let insufficient = format!(
        r#"Bearer error="insufficient_scope", error_description="changing tickets of org_acme needs tickets.manage:org_acme", scope="tickets.manage:org_acme", resource_metadata="{prm}""#
    );
    for call in [
        tool_call("create_ticket", json!({"title": "Printer on fire"})),
        tool_call(
            "update_ticket",
            json!({"id": "ACME-1", "title": "Printer on fire"}),
        ),
    ] {
        let answer = post_mcp(&http, &demo.url, Some(&other_manage), session, &call).await;
        assert_eq!(answer.status, 403, "{call}: {answer:?}");
        assert_eq!(
            answer.challenge.as_deref(),
            Some(insufficient.as_str()),
            "{call}"
        );
    }
    let read_ok = post_mcp(&http, &demo.url, Some(&other_manage), session, &get_acme_1).await;
    assert_eq!(read_ok.status, 200, "{read_ok:?}");
    let decisions: Vec<_> = demo
        .tool_call_audit()
        .into_iter()
        .map(|f| {
            (
                f["tool"].clone(),
                f["decision"].clone(),
                f["oid"].clone(),
                f["object"].clone(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            (
                json!("get_ticket"),
                json!("allowed"),
                json!("org_acme"),
                json!("ACME-1")
            ),
            (
                json!("create_ticket"),
                json!("refused"),
                json!("org_acme"),
                json!("-")
            ),
            (
                json!("update_ticket"),
                json!("refused"),
                json!("org_acme"),
                json!("ACME-1")
            ),
            (
                json!("get_ticket"),
                json!("allowed"),
                json!("org_acme"),
                json!("ACME-1")
            ),
        ],
        "{:#?}",
        demo.logs()
    );
    // The refused update never reached the tool: ACME-1 keeps its title.
    let after = post_mcp(&http, &demo.url, Some(&valid), session, &get_acme_1).await;
    assert_eq!(
        after.message.as_ref().unwrap()["result"]["structuredContent"]["title"],
        result["structuredContent"]["title"]
    );
    // The demo never logs a token.
    for token in [&valid, &other_manage] {
        assert!(
            !demo.logs().iter().any(|l| l.contains(token.as_str())),
            "a token in the demo's log"
        );
    }
}
