//! Test peers: the pinned Python interpreter, and child processes that are handed a listening
//! socket bound by the harness (127.0.0.1:0, so the port is known before they start and stays
//! theirs across restarts) and say on stdout when they serve.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The Python interpreter with the pinned test peers (PyJWT), set up by tests/run.sh.
pub fn peer_python() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("PORTCULLIS_TEST_PYTHON") {
        return p.into();
    }
    let venv =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/.venv/bin/python");
    assert!(
        venv.exists(),
        "test peers are not installed: run tests/run.sh (it creates tests/peers/.venv with PyJWT)"
    );
    venv
}

/// How long a peer may take to say it serves: a guard against one that never does, not a
/// timing test (generous for a loaded 2-core CI machine).
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A listening socket on 127.0.0.1:0 for a peer. The harness keeps it: each start of the
/// peer gets a handle of it as standard input, so the port is known before the peer starts
/// and stays the peer's between a stop and the next start.
pub struct PeerSocket {
    socket: std::net::TcpListener,
    pub port: u16,
}

impl PeerSocket {
    pub fn bind() -> PeerSocket {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = socket.local_addr().expect("local address").port();
        PeerSocket { socket, port }
    }

    /// A handle of the socket, for a child's standard input.
    pub fn stdin(&self) -> Stdio {
        let handle = self.socket.try_clone().expect("duplicate the socket");
        Stdio::from(OwnedFd::from(handle))
    }

    /// `node` at `program` preloading tests/peers/listen-stdin.cjs: the peer's server asking
    /// for this port listens on this socket (as standard input).
    pub fn node(&self, program: &Path) -> Command {
        let preload = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/listen-stdin.cjs");
        let mut cmd = Command::new(program);
        cmd.arg("--require")
            .arg(preload)
            .env("PORTCULLIS_PEER_PORT", self.port.to_string())
            .stdin(self.stdin());
        cmd
    }
}

/// A peer process: its stdout and stderr lines are collected (and stdout lines also handed to
/// [`Peer::wait_for`]); it is killed when dropped.
pub struct Peer {
    name: String,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    stdout: mpsc::UnboundedReceiver<String>,
}

impl Peer {
    /// Spawns `cmd` with stdout and stderr piped (stdin is left as `cmd` set it).
    pub fn spawn(name: &str, mut cmd: Command) -> Peer {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, stdout) = mpsc::unbounded_channel();
        let pipes: [(Box<dyn tokio::io::AsyncRead + Unpin + Send>, bool); 2] = [
            (Box::new(child.stdout.take().expect("stdout")), true),
            (Box::new(child.stderr.take().expect("stderr")), false),
        ];
        for (pipe, is_stdout) in pipes {
            let (output, tx) = (output.clone(), tx.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if is_stdout {
                        let _ = tx.send(line.clone());
                    }
                    if let Ok(mut o) = output.lock() {
                        o.push(line);
                    }
                }
            });
        }
        Peer {
            name: name.to_string(),
            child,
            output,
            stdout,
        }
    }

    /// [`Peer::spawn`], then waits for the stdout line that says it serves.
    pub async fn start(name: &str, cmd: Command, ready: impl Fn(&str) -> bool) -> (Peer, String) {
        let mut peer = Peer::spawn(name, cmd);
        let line = peer.wait_for(ready).await;
        (peer, line)
    }

    /// The next stdout line (trimmed) that satisfies `wanted`; panics with the peer's output
    /// if it exits first or stays silent for [`READY_TIMEOUT`].
    pub async fn wait_for(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let found = tokio::time::timeout(READY_TIMEOUT, async {
            while let Some(line) = self.stdout.recv().await {
                if wanted(line.trim()) {
                    return Some(line.trim().to_string());
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => {
                let status = self.child.wait().await;
                panic!(
                    "{} exited ({status:?}) before it served; its output:\n{}",
                    self.name,
                    self.output().join("\n")
                )
            }
            Err(_) => panic!(
                "{} did not say it serves within {READY_TIMEOUT:?}; its output:\n{}",
                self.name,
                self.output().join("\n")
            ),
        }
    }

    /// Everything it wrote so far, stdout and stderr, line by line.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Kills it and waits for it to be gone.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// A one-shot peer driver: `input` as JSON on its stdin, its output once it exits (within
/// 120 s, a guard against a driver that never ends).
pub async fn run_json_driver(mut cmd: Command, input: &serde_json::Value) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("start the driver");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.to_string().as_bytes())
        .await
        .expect("write the request");
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the driver answers within 120 s")
        .expect("the driver runs")
}
