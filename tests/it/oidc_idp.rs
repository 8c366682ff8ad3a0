//! The real upstream OpenID provider of the OIDC federation tests: npm `oidc-provider`
//! (pinned in tests/peers/oidc-provider, installed there by tests/run.sh) run by
//! tests/peers/oidc-provider/server.mjs on 127.0.0.1 with Node.js 22, its supported runtime,
//! pinned there as npm `node`.
//!
//! One confidential client (`client_secret_basic`, code flow, PKCE S256 optional) and the
//! users alice (`jira-admins`, `eng`), bob (`eng`), `unverified` (email_verified false) and
//! `outsider` (outsider@other.example); see the top of server.mjs. Nobody types anything: the
//! `login_hint` of the authorization request (account id or email) picks the user,
//! `login_hint=cancel` ends with `error=access_denied`. A browser following the redirects needs
//! a cookie jar (the interaction cookies are path-scoped).
//!
//! Every start generates a new RS256 key (`kid`), so [`OidcIdp::restart`] is a key rotation
//! on the same issuer. The process is killed when the `OidcIdp` is dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::peer_start;

pub struct OidcIdp {
    /// `http://127.0.0.1:<port>`, exactly as in the discovery document (no trailing slash).
    pub issuer: String,
    pub port: u16,
    child: Child,
    /// The `kid` of the current signing key (changes on every restart).
    pub kid: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    stderr: Arc<Mutex<String>>,
}

struct Started {
    child: Child,
    issuer: String,
    port: u16,
    kid: String,
    stderr: Arc<Mutex<String>>,
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc-provider")
}

/// A port that was free a moment ago, for when the IdP's issuer must be known before it
/// starts (e.g. portcullis's configuration is written first): `OidcIdp::start(free_port(), …)`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

impl OidcIdp {
    /// Starts the provider on 127.0.0.1:`port` (0 = any free port) with one client.
    /// Panics (with the provider's stderr) if it exits before serving, or if every start stalls
    /// (see `peer_start`).
    pub async fn start(
        port: u16,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
    ) -> OidcIdp {
        // Port 0: a port free a moment ago, and another if it was taken meanwhile.
        let mut attempt = 0;
        let s = loop {
            attempt += 1;
            let on = if port == 0 { free_port() } else { port };
            match spawn(on, client_id, client_secret, redirect_uri).await {
                Ok(s) => break s,
                Err(e) if port == 0 && e.contains("EADDRINUSE") && attempt < 10 => {}
                Err(e) => panic!("{e}"),
            }
        };
        OidcIdp {
            issuer: s.issuer,
            port: s.port,
            child: s.child,
            kid: s.kid,
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            redirect_uri: redirect_uri.to_string(),
            stderr: s.stderr,
        }
    }

    /// Stops the provider and starts it again on the same port: same issuer and client, a new
    /// signing key (`self.kid` is updated), and no sessions, grants or codes of the old run.
    pub async fn restart(&mut self) {
        // kill() also waits, so the port is free again when it returns.
        self.child.kill().await.expect("kill oidc-provider");
        let mut attempt = 0;
        let s = loop {
            attempt += 1;
            match spawn(
                self.port,
                &self.client_id,
                &self.client_secret,
                &self.redirect_uri,
            )
            .await
            {
                Ok(s) => break s,
                Err(e) if e.contains("EADDRINUSE") && attempt < 20 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("restart: {e}"),
            }
        };
        assert_eq!(s.issuer, self.issuer, "restarted on another issuer");
        self.child = s.child;
        self.kid = s.kid;
        self.stderr = s.stderr;
    }

    /// What the provider wrote on stderr so far (Node's warnings, server errors).
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for OidcIdp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn spawn(
    port: u16,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
) -> Result<Started, String> {
    assert_ne!(
        port, 0,
        "spawn needs the port (the issuer is known before it starts)"
    );
    let dir = peer_dir();
    if !dir
        .join("node_modules/oidc-provider/package.json")
        .is_file()
    {
        return Err(format!(
            "oidc-provider is not installed in {}: run tests/run.sh, or \
             `npm ci --prefix tests/peers/oidc-provider`",
            dir.display()
        ));
    }
    let node = dir.join("node_modules/node/bin/node");
    if !node.is_file() {
        return Err(format!(
            "Node.js 22 is not installed in {}: run tests/run.sh, or \
             `npm ci --prefix tests/peers/oidc-provider`",
            dir.display()
        ));
    }
    let issuer = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");
    for attempt in 1..=peer_start::ATTEMPTS {
        let reports = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let mut child = peer_start::node_at(&node, reports.path())
            .arg(dir.join("server.mjs"))
            .env("NODE_ENV", "production")
            .args(["--port", &port.to_string()])
            .args(["--client-id", client_id])
            .args(["--client-secret", client_secret])
            .args(["--redirect-uri", redirect_uri])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run `node` (Node.js on PATH?): {e}"))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_task = drain(child.stderr.take().expect("piped stderr"), stderr.clone());
        // stdout says `KID …` and `READY …` once listening; it is kept drained, and what it
        // said only enriches a failure: readiness is the provider serving its JWKS over HTTP.
        let said = Arc::new(Mutex::new(String::new()));
        drain(child.stdout.take().expect("piped stdout"), said.clone());
        let ready = async || jwks_kid(&http, &issuer).await;
        match peer_start::wait_ready(&mut child, reports.path(), ready).await {
            peer_start::Start::Ready(kid) => {
                return Ok(Started {
                    child,
                    issuer,
                    port,
                    kid,
                    stderr,
                });
            }
            peer_start::Start::Exited(status) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
                return Err(format!(
                    "oidc-provider on port {port}: exited ({status}) before serving; stderr:\n{}",
                    text(&stderr)
                ));
            }
            peer_start::Start::Stalled(what) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
                let what = format!(
                    "oidc-provider on port {port}, not serving {issuer}/jwks\n{what}its stdout: \
                     {:?}\nits stderr: {:?}",
                    text(&said),
                    text(&stderr)
                );
                peer_start::record_stall("oidc-provider", attempt, &what);
            }
        }
    }
    Err(format!(
        "oidc-provider on port {port}: {} starts in a row stalled (each is on stderr above)",
        peer_start::ATTEMPTS
    ))
}

/// Reads `pipe` line by line into `into` until it closes.
fn drain(
    pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut b) = into.lock() {
                b.push_str(&line);
                b.push('\n');
            }
        }
    })
}

fn text(buf: &Mutex<String>) -> String {
    buf.lock().map(|s| s.clone()).unwrap_or_default()
}

/// The `kid` of the one key the provider serves, once it serves it (503 before).
async fn jwks_kid(http: &reqwest::Client, issuer: &str) -> Option<String> {
    let res = http.get(format!("{issuer}/jwks")).send().await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    let jwks: serde_json::Value = res.json().await.ok()?;
    jwks["keys"][0]["kid"].as_str().map(str::to_string)
}

#[tokio::test]
async fn oidc_provider_starts_and_a_restart_rotates_its_key() {
    let redirect = "http://127.0.0.1:9/sso/v1/oidc/conn_test/callback";
    let mut idp = OidcIdp::start(0, "rp_selftest", "rp-selftest-secret", redirect).await;
    assert_eq!(idp.issuer, format!("http://127.0.0.1:{}", idp.port));
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };

    let discovery = get(format!("{}/.well-known/openid-configuration", idp.issuer)).await;
    assert_eq!(discovery["issuer"], idp.issuer.as_str());
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        true
    );
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap().to_string();
    let kids = |jwks: serde_json::Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kids(get(jwks_uri.clone()).await), vec![idp.kid.clone()]);

    let (old_kid, port) = (idp.kid.clone(), idp.port);
    idp.restart().await;
    assert_eq!(idp.port, port);
    assert_ne!(idp.kid, old_kid);
    assert_eq!(kids(get(jwks_uri).await), vec![idp.kid.clone()]);

    drop(idp);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "the provider still listens after drop"
    );
}
