//! The MCP conformance suite's authorization-server tests against portcullis: npm
//! `@modelcontextprotocol/conformance` (a 0.2.0 alpha, pinned in tests/peers/conformance with
//! Node 22 from npm, installed by tests/run.sh), whose `authorization` command checks an
//! issuer's metadata and runs an authorization-code grant with PKCE against it.
//!
//! The suite has no browser of its own: it prints the authorization URL, listens on
//! `http://127.0.0.1:<port>/callback` and waits for the redirect there. This test plays the
//! person: it reads the URL from the suite's output, drives portcullis's pages over HTTP
//! (work-email form, IdP simulator, consent), and delivers the final redirect to the suite's
//! callback. The verdicts come from the `checks.json` the suite writes per scenario; every
//! check must be `SUCCESS` (a `SKIPPED`, `WARNING` or `FAILURE` fails the test), and the suite
//! must exit 0.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::support::browser::{Browser, hidden, query};
use crate::support::peers::PeerSocket;
use crate::support::{Spawned, TestApp};

/// Every authorization-server scenario of the pinned version.
const SCENARIOS: &[&str] = &[
    "authorization-server-metadata-endpoint",
    "authorization-code-grant",
];

/// A pre-registered public client for the suite; its loopback redirect matches any port.
const CLIENT_ID: &str = "m2m_conformance";
const CLIENT_SEED: &str = r#"
[[clients]]
id = "m2m_conformance"
name = "MCP conformance suite"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code"]
resources = ["res_tickets"]
scopes = ["tickets.read"]
"#;

const URL_TIMEOUT: Duration = Duration::from_secs(60);
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/conformance")
}

/// `(node, conformance)`: Node 22 from npm, and the suite's command.
fn installed_suite() -> (PathBuf, PathBuf) {
    let dir = conformance_dir();
    let node = dir.join("node_modules/node/bin/node");
    let suite = dir.join("node_modules/.bin/conformance");
    assert!(
        node.is_file() && suite.exists(),
        "@modelcontextprotocol/conformance and node 22 are not installed in {}: run \
         tests/run.sh, or `npm ci --prefix tests/peers/conformance`",
        dir.display()
    );
    (node, suite)
}

/// Follows portcullis's pages from `authorization_url` as dave@example.com would, until a
/// redirect to `callback`; returns that redirect and the pages seen on the way.
async fn drive_pages(
    b: &Browser,
    authorization_url: &str,
    callback: &str,
) -> (String, Vec<String>) {
    let mut seen = Vec::new();
    let mut url = authorization_url.to_string();
    let mut page = b.get(&url).await;
    for _ in 0..12 {
        let absolute = if url.starts_with("http") {
            url.clone()
        } else {
            format!("{}{url}", b.base)
        };
        let path = url::Url::parse(&absolute).unwrap().path().to_string();
        seen.push(format!("{} {path}", page.status.as_u16()));
        if page.status.is_redirection() {
            let next = page.location.clone().expect("a redirect has a Location");
            if next.starts_with(callback) {
                return (next, seen);
            }
            url = next;
            page = b.get(&url).await;
            continue;
        }
        assert_eq!(page.status, 200, "page {url}: {}", page.body);
        let request = hidden(&page.body, "request");
        let csrf = hidden(&page.body, "csrf");
        let mut fields = vec![("request", request.as_str()), ("csrf", csrf.as_str())];
        if path == "/sso/v1/login" {
            fields.push(("email", "dave@example.com"));
        } else if path.starts_with("/sso/v1/simulator/") {
            fields.extend([
                ("email", "dave@example.com"),
                ("name", "Dave Conformance"),
                ("groups", ""),
            ]);
        } else if path == "/oauth/consent" {
            fields.push(("decision", "approve"));
        } else {
            panic!("unexpected page {url}: {}", page.body);
        }
        url = path;
        page = b.post(&url, &fields).await;
    }
    panic!("too many pages: {seen:?}");
}

/// Reads the suite's output (kept in `output`) until a line, trimmed, satisfies `wanted`;
/// returns that line, or `None` if the suite ends or stays silent for [`URL_TIMEOUT`].
async fn wait_for_line(
    lines: &mut mpsc::UnboundedReceiver<String>,
    output: &mut Vec<String>,
    wanted: impl Fn(&str) -> bool,
) -> Option<String> {
    tokio::time::timeout(URL_TIMEOUT, async {
        while let Some(line) = lines.recv().await {
            output.push(line.clone());
            if wanted(line.trim()) {
                return Some(line.trim().to_string());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// The suite's verdicts, by scenario: the checks of its `checks.json`.
fn checks_by_scenario(out: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut by_scenario = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let scenario = SCENARIOS
            .iter()
            .find(|s| name.starts_with(&format!("authorization-server-{s}-")))
            .unwrap_or_else(|| panic!("unexpected result folder {name}"));
        let text = std::fs::read_to_string(dir.join("checks.json")).unwrap();
        let checks: Vec<Value> = serde_json::from_str(&text).unwrap();
        let before = by_scenario.insert(scenario.to_string(), checks);
        assert!(before.is_none(), "{scenario} ran twice");
    }
    by_scenario
}

#[tokio::test]
async fn the_mcp_conformance_suite_passes_against_the_per_resource_issuer() {
    let (node, suite) = installed_suite();
    let s: Spawned = TestApp::builder().spawn().await;
    portcullis::seed::apply(
        &s.app.state.store,
        &s.app.state.config.secret,
        &|_| None,
        CLIENT_SEED,
        crate::support::T0,
    )
    .await
    .expect("client seed applies");
    let issuer = format!("{}/resources/res_tickets", s.base);
    // Its callback server listens on this socket (tests/peers/listen-stdin.cjs).
    let socket = PeerSocket::bind();
    let port = socket.port;
    let callback = format!("http://127.0.0.1:{port}/callback");
    let out = tempfile::tempdir().unwrap();

    let mut child = socket
        .node(&node)
        .arg(&suite)
        .arg("authorization")
        .args(["--url", &issuer])
        .args(["--client-id", CLIENT_ID])
        .args(["--port", &port.to_string()])
        .arg("--output-dir")
        .arg(out.path())
        .env("NO_COLOR", "1")
        .current_dir(conformance_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run the conformance suite");
    let (tx, mut lines) = mpsc::unbounded_channel::<String>();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut pipe = BufReader::new(pipe).lines();
            while let Ok(Some(line)) = pipe.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    drop(tx);
    let mut output = Vec::new();

    // The suite prints the authorization request it wants a person to open.
    let authorize = format!("{issuer}/oauth/authorize?");
    let authorization_url = wait_for_line(&mut lines, &mut output, |l| l.starts_with(&authorize))
        .await
        .unwrap_or_else(|| {
            panic!(
                "the suite printed no authorization URL:\n{}",
                output.join("\n")
            )
        });
    let request = query(&authorization_url);
    assert_eq!(request["client_id"], CLIENT_ID);
    assert_eq!(request["redirect_uri"], callback);
    assert_eq!(request["code_challenge_method"], "S256");

    let b = Browser::new(&s);
    let (redirect, pages) = drive_pages(&b, &authorization_url, &callback).await;
    assert_eq!(
        pages,
        [
            "303 /resources/res_tickets/oauth/authorize",
            "200 /sso/v1/login",
            "303 /sso/v1/login",
            "200 /sso/v1/simulator/conn_acme_sim",
            "303 /sso/v1/simulator/conn_acme_sim",
            "200 /oauth/consent",
            "303 /oauth/consent"
        ],
        "{}",
        output.join("\n")
    );
    let answer = query(&redirect);
    assert_eq!(answer["state"], request["state"]);
    assert_eq!(answer["iss"], issuer, "RFC 9207 iss in the response");
    // The browser lands on the suite's callback server, once it listens.
    let listening = format!("Callback server started: http://127.0.0.1:{port}");
    wait_for_line(&mut lines, &mut output, |l| l == listening)
        .await
        .unwrap_or_else(|| {
            panic!(
                "the suite's callback server did not start:\n{}",
                output.join("\n")
            )
        });
    let delivered = reqwest::get(&redirect).await.expect("the suite's callback");
    assert_eq!(delivered.status(), 200);

    let status = tokio::time::timeout(RUN_TIMEOUT, async {
        while let Some(line) = lines.recv().await {
            output.push(line);
        }
        child.wait().await
    })
    .await
    .unwrap_or_else(|_| panic!("the suite did not finish:\n{}", output.join("\n")))
    .expect("wait for the suite");
    let output = output.join("\n");
    // Shown with `--nocapture`: the suite's own report.
    println!("{output}");

    let checks = checks_by_scenario(out.path());
    assert_eq!(
        checks.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut all = SCENARIOS.to_vec();
            all.sort();
            all
        },
        "every scenario ran:\n{output}"
    );
    for (scenario, checks) in &checks {
        assert!(!checks.is_empty(), "{scenario} has no checks:\n{output}");
        for check in checks {
            assert_eq!(
                check["status"], "SUCCESS",
                "{scenario}: {} is {}: {}\n{output}",
                check["id"], check["status"], check["errorMessage"]
            );
        }
    }
    let ids = |scenario: &str| -> Vec<&str> {
        checks[scenario]
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect()
    };
    assert_eq!(
        ids("authorization-server-metadata-endpoint"),
        [
            "authorization-server-metadata",
            "authorization-server-metadata-cimd"
        ]
    );
    assert_eq!(
        ids("authorization-code-grant"),
        ["authorization-code-grant"]
    );
    // The grant the suite saw is the one this test drove.
    let grant = &checks["authorization-code-grant"][0]["details"];
    assert_eq!(grant["authorizationResponseUrl"], redirect.as_str());
    assert_eq!(grant["body"]["token_type"], "Bearer", "{grant:#}");
    assert!(status.success(), "the suite exited {status}:\n{output}");
    assert!(output.contains("Total: 3 passed, 0 failed"), "{output}");
}
