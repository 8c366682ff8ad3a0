//! The demo tickets MCP server (`tickets-mcp`, demo/) as a child process serving on a socket
//! the harness bound ([`PeerSocket`], passed with `--listen-stdin`), trusting portcullis only
//! through its metadata and JWKS; it says `tickets-mcp listening on …` once it serves.
//!
//! The binary is taken from the target directory this test binary runs from
//! (`<target>/<profile>/tickets-mcp`, whatever `CARGO_TARGET_DIR` is), or from
//! `PORTCULLIS_TEST_TICKETS_MCP`. `cargo test --workspace` builds it before any test runs
//! (the demo package's own integration tests need it), and tests/run.sh builds it explicitly
//! too; alone, `cargo test --test it` does not, so a missing binary, or one older than the
//! demo's sources, fails with the command to run (`cargo build -p tickets-mcp`) instead of
//! testing stale code. (Building it from inside the test would wait on the build lock that the
//! running `cargo test` holds.)

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::process::Command;

use crate::support::peers::{Peer, PeerSocket};

/// The demo MCP server; killed when dropped.
pub struct Demo {
    /// `http://127.0.0.1:<port>/mcp`, its canonical resource URL.
    pub url: String,
    peer: Peer,
    _socket: PeerSocket,
}

impl Demo {
    /// Starts the demo for `issuer` as the resource `url` (on `socket`'s port), with JSON
    /// logs, and waits until it serves.
    pub async fn start(issuer: &str, url: &str, socket: PeerSocket) -> Demo {
        let mut cmd = Command::new(tickets_mcp_binary());
        cmd.args(["--issuer", issuer])
            .args(["--resource", url])
            .arg("--listen-stdin")
            .arg("--json-logs")
            .env("RUST_LOG", "info")
            .stdin(socket.stdin());
        let listening = format!("tickets-mcp listening on http://127.0.0.1:{}", socket.port);
        let (peer, _) = Peer::start("tickets-mcp", cmd, |l| l == listening).await;
        Demo {
            url: url.to_string(),
            peer,
            _socket: socket,
        }
    }

    /// Its log lines (stdout and stderr; JSON but for the "listening on" line).
    pub fn logs(&self) -> Vec<String> {
        self.peer.output()
    }

    /// The audit lines (`target` `audit`) of tool-call decisions, as their `fields`.
    pub fn tool_call_audit(&self) -> Vec<Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"] == "audit" && v["fields"]["message"] == "tool call")
            .map(|v| v["fields"].clone())
            .collect()
    }
}

/// `<target>/<profile>/tickets-mcp`, next to the directory of this test binary (`deps/`).
fn tickets_mcp_binary() -> PathBuf {
    if let Ok(p) = std::env::var("PORTCULLIS_TEST_TICKETS_MCP") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let bin = profile_dir.join(format!("tickets-mcp{}", std::env::consts::EXE_SUFFIX));
    let build = "run `cargo build -p tickets-mcp` (with the same CARGO_TARGET_DIR), \
                 or tests/run.sh, or `cargo test --workspace`";
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is not built: {build}", bin.display()));
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let newest = newest_mtime(&demo.join("src"))
        .into_iter()
        .chain(newest_mtime(&demo.join("Cargo.toml")))
        .max();
    if let Some(newest) = newest {
        assert!(
            built >= newest,
            "{} is older than the demo's sources: {build}",
            bin.display()
        );
    }
    bin
}

fn newest_mtime(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}
