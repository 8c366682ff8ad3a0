//! Load generator for bench/run.sh's full-flow mode: complete OAuth authorization-code
//! flows over HTTP against a running portcullis, concurrently, for a fixed time.
//!
//! Usage: portcullis-bench-flow BASE_URL      (e.g. http://127.0.0.1:8080)
//!
//! Environment:
//!   BENCH_DURATION     measured seconds (default 10)
//!   BENCH_WARMUP       seconds of flows before the measurement, not counted (default 2)
//!   BENCH_CONCURRENCY  concurrent browsers (default 4)
//!
//! The server needs bench/seed.toml (resource `res_bench`, organization with domain
//! `bench.example` and an `idp_simulator` connection, a rule granting `bench.read` to anyone)
//! and PORTCULLIS_ENABLE_IDP_SIMULATOR=true.
//!
//! At start it registers one public client (DCR) that every flow uses. Worker N is a browser
//! with its own cookie jar, signing in as `userN@bench.example` (no groups). One flow:
//!   GET  /resources/res_bench/oauth/authorize (PKCE S256, login_hint, prompt=login)
//!        → 303 to the simulator (prompt=login: the browser's live session is not reused)
//!   GET  /sso/v1/simulator/{conn}?request=…  → 200 (hidden `request`, `csrf`)
//!   POST /sso/v1/simulator/{conn}             → 303 to the consent page the first time a
//!        browser's user signs in, afterwards (consent remembered) straight to the callback
//!   [GET /oauth/consent?request=… → 200; POST /oauth/consent decision=approve → 303]
//!   callback http://127.0.0.1:9/cb?code=…&state=…&iss=… (not followed; state checked)
//!   POST /resources/res_bench/oauth/token (authorization_code + code_verifier) → 200 with
//!        an access_token
//! Any other status is an error: counted, the first one printed; the exit status is 1 when
//! there was any error (or no flow completed), 2 on bad usage or a failed registration.
//!
//! Prints on stdout one line for scripts:
//!   RESULT flows=N seconds=S flows_per_s=F p50_ms=A p99_ms=B errors=E consents=C
//! (flows, rate and latencies count flows that completed inside the measured window), and
//! on stderr a summary with the mean time of each kind of request and this process's CPU.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::LOCATION;
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use sha2::{Digest, Sha256};

const RESOURCE: &str = "res_bench";
const SCOPE: &str = "bench.read";
const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";

/// The HTTP requests of a flow, in order (for the per-request mean times).
const STEPS: [&str; 6] = [
    "authorize",
    "simulator page",
    "simulator login",
    "consent page",
    "consent approve",
    "token",
];

/// Time of each request of one flow (None: not made).
type Laps = [Option<Duration>; STEPS.len()];

/// `send`, timed into `laps[i]`.
async fn timed(laps: &mut Laps, i: usize, request: RequestBuilder) -> Step<Reply> {
    let t = Instant::now();
    let r = send(STEPS[i], request).await;
    laps[i] = Some(t.elapsed());
    r
}

/// Why a flow failed: the step and what came back.
#[derive(Debug, Clone)]
struct Failure {
    step: &'static str,
    detail: String,
}

type Step<T> = Result<T, Failure>;

fn fail(step: &'static str, detail: impl Into<String>) -> Failure {
    Failure {
        step,
        detail: detail.into(),
    }
}

struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

/// The start of a response body for an error message: an HTML page's text without tags.
fn snippet(body: &str) -> String {
    let body = body.find("<body").map_or(body, |i| &body[i..]);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    words.join(" ").chars().take(300).collect()
}

async fn send(step: &'static str, request: RequestBuilder) -> Step<Reply> {
    let res = request
        .send()
        .await
        .map_err(|e| fail(step, format!("request failed: {e}")))?;
    let status = res.status();
    let location = res
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body = res
        .text()
        .await
        .map_err(|e| fail(step, format!("reading the body failed: {e}")))?;
    Ok(Reply {
        status,
        location,
        body,
    })
}

/// A 302/303 with a Location, resolved against `base`.
fn redirect(step: &'static str, base: &Url, r: &Reply) -> Step<Url> {
    match (&r.location, r.status) {
        (Some(loc), StatusCode::FOUND | StatusCode::SEE_OTHER) => base
            .join(loc)
            .map_err(|e| fail(step, format!("bad Location {loc:?}: {e}"))),
        _ => Err(fail(
            step,
            format!(
                "expected a redirect, got {} (Location {:?}): {}",
                r.status,
                r.location,
                snippet(&r.body)
            ),
        )),
    }
}

fn ok_page(step: &'static str, r: &Reply) -> Step<()> {
    if r.status == StatusCode::OK {
        Ok(())
    } else {
        Err(fail(
            step,
            format!("expected 200, got {}: {}", r.status, snippet(&r.body)),
        ))
    }
}

/// The value of a hidden form field (`name="…" value="…"`).
fn hidden(step: &'static str, html: &str, name: &str) -> Step<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).ok_or_else(|| {
        fail(
            step,
            format!("no field {name} in the page: {}", snippet(html)),
        )
    })? + marker.len();
    Ok(html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A PKCE pair (RFC 7636, S256): (verifier, challenge).
fn pkce() -> (String, String) {
    let verifier = random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

struct Browser {
    http: Client,
    base: Url,
    client_id: String,
    email: String,
}

impl Browser {
    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("a valid path")
    }

    /// One complete flow; `Ok(true)` when the consent page was shown and approved.
    async fn flow(&self, laps: &mut Laps) -> Step<bool> {
        let (verifier, challenge) = pkce();
        let state = random_token();
        let mut authorize = self.url(&format!("/resources/{RESOURCE}/oauth/authorize"));
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .append_pair("scope", SCOPE)
            .append_pair("login_hint", &self.email)
            .append_pair("prompt", "login");
        let r = timed(laps, 0, self.http.get(authorize)).await?;
        let simulator = redirect("authorize", &self.base, &r)?;
        if !simulator.path().starts_with("/sso/v1/simulator/") {
            return Err(fail(
                "authorize",
                format!("expected a redirect to the simulator, got {simulator}"),
            ));
        }

        let r = timed(laps, 1, self.http.get(simulator.clone())).await?;
        ok_page("simulator page", &r)?;
        let request = hidden("simulator page", &r.body, "request")?;
        let csrf = hidden("simulator page", &r.body, "csrf")?;
        let mut action = simulator;
        action.set_query(None);
        let form = [
            ("request", request.as_str()),
            ("csrf", csrf.as_str()),
            ("email", self.email.as_str()),
            ("name", "Bench User"),
            ("groups", ""),
        ];
        let r = timed(laps, 2, self.http.post(action).form(&form)).await?;
        let mut next = redirect("simulator login", &self.base, &r)?;

        let mut consented = false;
        if next.path() == "/oauth/consent" {
            let r = timed(laps, 3, self.http.get(next)).await?;
            ok_page("consent page", &r)?;
            let request = hidden("consent page", &r.body, "request")?;
            let csrf = hidden("consent page", &r.body, "csrf")?;
            let form = [
                ("request", request.as_str()),
                ("csrf", csrf.as_str()),
                ("decision", "approve"),
            ];
            let r = timed(
                laps,
                4,
                self.http.post(self.url("/oauth/consent")).form(&form),
            )
            .await?;
            next = redirect("consent approve", &self.base, &r)?;
            consented = true;
        }

        if !next.as_str().starts_with(&format!("{REDIRECT_URI}?")) {
            return Err(fail(
                "callback",
                format!("expected the client's redirect URI, got {next}"),
            ));
        }
        let param = |name: &str| {
            next.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(error) = param("error") {
            return Err(fail(
                "callback",
                format!(
                    "error={error} error_description={:?}",
                    param("error_description").unwrap_or_default()
                ),
            ));
        }
        if param("state").as_deref() != Some(state.as_str()) {
            return Err(fail("callback", format!("state not passed back: {next}")));
        }
        let code = param("code").ok_or_else(|| fail("callback", format!("no code: {next}")))?;

        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
            ("client_id", self.client_id.as_str()),
        ];
        let r = timed(
            laps,
            5,
            self.http
                .post(self.url(&format!("/resources/{RESOURCE}/oauth/token")))
                .form(&form),
        )
        .await?;
        ok_page("token", &r)?;
        let body: serde_json::Value = serde_json::from_str(&r.body)
            .map_err(|e| fail("token", format!("not JSON ({e}): {}", snippet(&r.body))))?;
        if !body["access_token"].is_string() {
            return Err(fail(
                "token",
                format!("no access_token: {}", snippet(&r.body)),
            ));
        }
        Ok(consented)
    }
}

fn browser_http() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// Registers the one public client every flow uses; returns its client_id.
async fn register(base: &Url) -> Step<String> {
    let body = serde_json::json!({
        "client_name": "portcullis bench flow",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none"
    });
    let url = base
        .join(&format!("/resources/{RESOURCE}/oauth/register"))
        .expect("a valid path");
    let r = send("register", browser_http().post(url).json(&body)).await?;
    if r.status != StatusCode::CREATED {
        return Err(fail(
            "register",
            format!("expected 201, got {}: {}", r.status, snippet(&r.body)),
        ));
    }
    let v: serde_json::Value = serde_json::from_str(&r.body)
        .map_err(|e| fail("register", format!("not JSON ({e}): {}", snippet(&r.body))))?;
    v["client_id"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| fail("register", format!("no client_id: {}", snippet(&r.body))))
}

#[derive(Default)]
struct WorkerStats {
    latencies: Vec<Duration>,
    completed: u64,
    errors: u64,
    consents: u64,
    first_error: Option<(Instant, Failure)>,
    /// Per request of the measured flows: total time and count.
    step_sums: [(Duration, u64); STEPS.len()],
}

async fn run_worker(browser: Browser, measure_from: Instant, until: Instant) -> WorkerStats {
    let mut stats = WorkerStats::default();
    while Instant::now() < until {
        let mut laps: Laps = Default::default();
        let t0 = Instant::now();
        let result = browser.flow(&mut laps).await;
        let t1 = Instant::now();
        match result {
            Ok(consented) => {
                stats.completed += 1;
                stats.consents += u64::from(consented);
                if t1 >= measure_from && t1 <= until {
                    stats.latencies.push(t1 - t0);
                    for (sum, lap) in stats.step_sums.iter_mut().zip(laps) {
                        if let Some(d) = lap {
                            sum.0 += d;
                            sum.1 += 1;
                        }
                    }
                }
            }
            Err(f) => {
                stats.errors += 1;
                if stats.first_error.is_none() {
                    stats.first_error = Some((t1, f));
                }
            }
        }
    }
    stats
}

fn env_u64(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .parse()
            .map_err(|_| format!("{name} must be a non-negative integer (got {v:?})")),
    }
}

/// This process's user + system CPU seconds (from /proc/self/stat; 0 when unreadable).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15, in clock ticks.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

// One thread: the generator should not compete with the server for more than one core.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let settings = (|| -> Result<(Url, u64, u64, u64), String> {
        let [_, base] = args.as_slice() else {
            return Err("usage: portcullis-bench-flow BASE_URL".into());
        };
        let base = Url::parse(base).map_err(|e| format!("bad BASE_URL {base:?}: {e}"))?;
        let duration = env_u64("BENCH_DURATION", 10)?;
        let warmup = env_u64("BENCH_WARMUP", 2)?;
        let concurrency = env_u64("BENCH_CONCURRENCY", 4)?;
        if duration == 0 || concurrency == 0 {
            return Err("BENCH_DURATION and BENCH_CONCURRENCY must be at least 1".into());
        }
        Ok((base, duration, warmup, concurrency))
    })();
    let (base, duration, warmup, concurrency) = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench-flow: {e}");
            return ExitCode::from(2);
        }
    };

    let client_id = match register(&base).await {
        Ok(id) => id,
        Err(f) => {
            eprintln!("bench-flow: {}: {}", f.step, f.detail);
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "bench-flow: client {client_id}; {concurrency} browsers, {warmup}s warm-up, {duration}s measured, against {base}"
    );

    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let measure_from = start + Duration::from_secs(warmup);
    let until = measure_from + Duration::from_secs(duration);
    let workers: Vec<_> = (0..concurrency)
        .map(|n| {
            let browser = Browser {
                http: browser_http(),
                base: base.clone(),
                client_id: client_id.clone(),
                email: format!("user{n}@bench.example"),
            };
            tokio::spawn(run_worker(browser, measure_from, until))
        })
        .collect();
    let mut total = WorkerStats::default();
    for w in workers {
        let s = w.await.expect("a worker panicked");
        total.latencies.extend(s.latencies);
        total.completed += s.completed;
        total.errors += s.errors;
        total.consents += s.consents;
        for (sum, s) in total.step_sums.iter_mut().zip(s.step_sums) {
            sum.0 += s.0;
            sum.1 += s.1;
        }
        if let Some((t, f)) = s.first_error
            && total.first_error.as_ref().is_none_or(|(t0, _)| t < *t0)
        {
            total.first_error = Some((t, f));
        }
    }
    let cpu = cpu_seconds() - cpu_start;
    let wall = start.elapsed().as_secs_f64();

    total.latencies.sort();
    let flows = total.latencies.len();
    let rate = flows as f64 / duration as f64;
    let p50 = percentile_ms(&total.latencies, 0.50);
    let p99 = percentile_ms(&total.latencies, 0.99);
    if let Some((_, f)) = &total.first_error {
        eprintln!("bench-flow: first error, at step {}: {}", f.step, f.detail);
    }
    eprintln!(
        "bench-flow: {flows} flows in {duration}s = {rate:.1} flows/s, p50 {p50:.2} ms, p99 {p99:.2} ms, \
         {} errors, {} consent pages, {} flows in all (with warm-up); generator CPU {:.0}% of one core",
        total.errors,
        total.consents,
        total.completed,
        100.0 * cpu / wall
    );
    let steps: Vec<String> = STEPS
        .iter()
        .zip(total.step_sums)
        .filter(|(_, (_, n))| *n > 0)
        .map(|(name, (d, n))| format!("{name} {:.2} ms", d.as_secs_f64() * 1000.0 / n as f64))
        .collect();
    if !steps.is_empty() {
        eprintln!("bench-flow: mean time per request: {}", steps.join(", "));
    }
    println!(
        "RESULT flows={flows} seconds={duration} flows_per_s={rate:.1} p50_ms={p50:.2} p99_ms={p99:.2} errors={} consents={}",
        total.errors, total.consents
    );
    if total.errors > 0 || flows == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
