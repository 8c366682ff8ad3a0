//! Starting the Node.js test peers (oidc-provider, saml-idp): how long one start may take, and
//! what is recorded when a start stalls.
//!
//! A peer process has, rarely and only in full CI runs, stalled during its own start-up: asleep
//! after a fraction of a second of CPU, never listening, nothing on stdout — before portcullis
//! is involved at all. It was never reproduced in isolation (hundreds of starts, also under
//! load). Such a start is killed (after [`ATTEMPT_TIMEOUT`] without CPU progress) and the peer is started again, at
//! most [`ATTEMPTS`] times in all; every stall is written to stderr and to the stall log
//! (`PORTCULLIS_TEST_STALL_LOG`, which tests/run.sh prints at its end) with what the process was
//! doing: its threads' kernel wait channels and system calls and, when Node could still write
//! one, its diagnostic report (JavaScript stack, libuv handles and requests).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A start is a stall when the peer is not ready after this long and used no CPU time in the
/// last [`PROGRESS_WINDOW`]. A start takes well under a second on an idle machine and a few
/// seconds on a loaded one; a stall never ends by itself (the stalled processes seen had
/// slept for minutes after a fraction of a second of CPU).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// While a slow start is still using CPU, its time is extended by this much…
const PROGRESS_WINDOW: Duration = Duration::from_secs(15);
/// (CPU progress: at least this many clock ticks, 50 ms at the usual 100 Hz, in the window)
const PROGRESS_TICKS: u64 = 5;
/// …up to this in all.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(120);
/// Starts of one peer in all before the test fails.
pub const ATTEMPTS: usize = 3;

pub enum Start<T> {
    /// What the readiness check answered.
    Ready(T),
    Exited(ExitStatus),
    /// Not ready in its time (see [`ATTEMPT_TIMEOUT`]): what the process was doing (it is
    /// killed).
    Stalled(String),
}

/// A `node` command (`node` from PATH) that writes a diagnostic report into `report_dir` on
/// SIGUSR2.
pub fn node(report_dir: &Path) -> Command {
    node_at(Path::new("node"), report_dir)
}

/// [`node`] with the Node.js binary at `program`.
pub fn node_at(program: &Path, report_dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.arg("--report-on-signal")
        .arg("--report-signal=SIGUSR2")
        .arg(format!("--report-directory={}", report_dir.display()));
    cmd
}

/// Polls `ready` every 100 ms until it answers something, the process exits, or the attempt's
/// time is up (then the process is examined and killed). A check that does not answer by the
/// deadline counts as not ready.
pub async fn wait_ready<T>(
    child: &mut Child,
    report_dir: &Path,
    mut ready: impl AsyncFnMut() -> Option<T>,
) -> Start<T> {
    let started = tokio::time::Instant::now();
    let mut deadline = started + ATTEMPT_TIMEOUT;
    let mut cpu = cpu_ticks(child);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Start::Exited(status);
        }
        if let Ok(Some(answer)) = tokio::time::timeout_at(deadline, ready()).await {
            return Start::Ready(answer);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            // Slow, not stalled, while it still uses CPU (more than answering the probes takes).
            let used = cpu_ticks(child);
            if used >= cpu + PROGRESS_TICKS && now + PROGRESS_WINDOW <= started + ATTEMPT_LIMIT {
                cpu = used;
                deadline = now + PROGRESS_WINDOW;
                continue;
            }
            let what = examine(child, report_dir).await;
            let _ = child.kill().await;
            return Start::Stalled(format!("not ready after {:?}\n{what}", started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The process's user and system CPU time so far, in clock ticks (0 when unknown).
fn cpu_ticks(child: &Child) -> u64 {
    let Some(pid) = child.id() else { return 0 };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name: state is the 3rd field, utime the 14th.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// Writes a stall to stderr and appends it to the stall log.
pub fn record_stall(peer: &str, attempt: usize, what: &str) {
    let next = if attempt < ATTEMPTS {
        "started again"
    } else {
        "giving up"
    };
    let entry = format!("=== {peer}: start {attempt} of {ATTEMPTS} stalled; {next}\n{what}\n");
    eprint!("{entry}");
    let log = std::env::var_os("PORTCULLIS_TEST_STALL_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("peer-stalls.log"));
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        let _ = f.write_all(entry.as_bytes());
    }
}

/// The process's state, its threads' wait channels and system calls, the load, and Node's
/// diagnostic report if it writes one within 5 s of SIGUSR2.
async fn examine(child: &mut Child, report_dir: &Path) -> String {
    let Some(pid) = child.id() else {
        return "(no pid)".into();
    };
    let mut out = format!(
        "load average {}\nprocess {}\n",
        first_line("/proc/loadavg"),
        first_line(&format!("/proc/{pid}/stat"))
    );
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let t = task.path();
            let read = |f: &str| first_line(&t.join(f).to_string_lossy());
            out.push_str(&format!(
                "  thread {} {} wchan {} syscall {}\n",
                task.file_name().to_string_lossy(),
                read("comm"),
                read("wchan"),
                read("syscall"),
            ));
        }
    }
    let stack = std::fs::read_to_string(format!("/proc/{pid}/stack")).unwrap_or_default();
    if !stack.is_empty() {
        out.push_str(&format!("kernel stack of the main thread:\n{stack}"));
    }
    let _ = std::process::Command::new("kill")
        .args(["-USR2", &pid.to_string()])
        .status();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(Some(status)) = child.try_wait() {
            out.push_str(&format!(
                "SIGUSR2 ended it ({status}): Node had not set up its report handler yet\n"
            ));
            return out;
        }
        if let Some(report) = node_report(report_dir) {
            out.push_str(&report);
            return out;
        }
    }
    out.push_str("no diagnostic report from Node within 5 s of SIGUSR2\n");
    out
}

/// The parts of Node's diagnostic report that say where it waits.
fn node_report(dir: &Path) -> Option<String> {
    let file = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".json"))?;
    let text = std::fs::read_to_string(file.path()).ok()?;
    let report: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(format!(
        "Node's report:\n  JavaScript stack: {}\n  libuv handles:\n{}",
        report["javascriptStack"],
        report["libuv"]
            .as_array()
            .map(|handles| handles
                .iter()
                .map(|h| format!("    {h}\n"))
                .collect::<String>())
            .unwrap_or_default(),
    ))
}

fn first_line(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.lines().next().unwrap_or_default().to_string())
        .unwrap_or_else(|e| format!("({path}: {e})"))
}
