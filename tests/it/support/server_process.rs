//! The real `portcullis` binary: commands over a clean environment run to completion, and
//! `serve` on 127.0.0.1:0 (`PORTCULLIS_LISTEN`), whose address comes from the
//! "portcullis listening on" line of its start-up banner.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// A secret key for the databases the CLI tests make themselves.
pub const SECRET_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA";

/// The test apps' (dev) secret key, base64url: a real binary given it opens their keys.
pub const TEST_SECRET_KEY_B64: &str = "cG9ydGN1bGxpcy1kZXYtb25seS1ub3QtYS1zZWNyZXQ";

/// The binary over a clean environment (`PATH` kept) on the database `db_url`.
pub fn command(db_url: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORTCULLIS_DATABASE_URL", db_url)
        .env("RUST_LOG", "warn");
    c
}

/// Runs the binary to completion; returns (success, stdout + stderr).
pub fn run(mut c: Command) -> (bool, String) {
    let out = c.output().expect("run portcullis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The binary serving on 127.0.0.1:0; killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    /// Its start-up banner, line by line.
    pub stdout: Vec<String>,
}

impl ServerProcess {
    /// `portcullis serve` (no `--dev`) with `env` over a clean environment.
    pub fn start(env: &[(&str, &str)]) -> ServerProcess {
        let mut c = Command::new(BIN);
        c.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied());
        Self::serve(c)
    }

    /// Runs `c` (a `serve` command) on 127.0.0.1:0 and waits for its banner.
    pub fn serve(mut c: Command) -> ServerProcess {
        c.env("PORTCULLIS_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = c.spawn().expect("spawn portcullis");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut stdout = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            assert!(
                Instant::now() < deadline,
                "server did not start: {stdout:?}"
            );
            let line = lines
                .next()
                .expect("server exited before listening")
                .expect("utf-8");
            stdout.push(line.clone());
            if let Some(url) = line.strip_prefix("portcullis listening on ") {
                break url.trim().to_string();
            }
        };
        // The banner ends with an empty line.
        for line in lines.by_ref() {
            let line = line.expect("utf-8");
            if line.is_empty() {
                break;
            }
            stdout.push(line);
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess {
            child,
            base,
            stdout,
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
