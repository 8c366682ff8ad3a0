//! Fuzz targets for the parsers that take outsider input, as property tests: each target
//! states the invariants that matter (no panic, bounded work, what an accepted value must
//! look like) over generated and mutated input. A plain `cargo test` runs each target for
//! [`QUICK_CASES`] cases; `PORTCULLIS_FUZZ_SECONDS=N` makes each run for N seconds and
//! report its figures (`bench/fuzz.sh` drives that long run).

mod oauth;
mod saml;
mod seed;
mod text;

use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// Cases per target in the ordinary test run.
pub const QUICK_CASES: u32 = 256;
/// Cases per round in a long run (each round has a fresh random seed).
const ROUND_CASES: u32 = 2_000;
/// No single input may take longer than this (a generous bound for unoptimised builds).
const MAX_CASE_TIME: Duration = Duration::from_secs(2);

/// The long-run budget per target, from `PORTCULLIS_FUZZ_SECONDS`.
fn budget() -> Option<Duration> {
    std::env::var("PORTCULLIS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

/// Runs `test` over `strategy`: [`QUICK_CASES`] cases, or rounds of fresh random cases
/// until the long-run budget is spent. Panics with the (shrunk) failing input.
pub fn run<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let timed = |value: S::Value| {
        let started = Instant::now();
        let result = test(value);
        let took = started.elapsed();
        if took > MAX_CASE_TIME {
            return Err(TestCaseError::fail(format!("one input took {took:?}")));
        }
        result
    };
    let Some(budget) = budget() else {
        check(
            name,
            TestRunner::new(config(QUICK_CASES)).run(&strategy, timed),
        );
        return;
    };
    let started = Instant::now();
    let mut iterations: u64 = 0;
    while started.elapsed() < budget {
        let mut runner = TestRunner::new(config(ROUND_CASES));
        check(name, runner.run(&strategy, timed));
        iterations += u64::from(ROUND_CASES);
    }
    println!(
        "fuzz-result target={name} iterations={iterations} seconds={:.1}",
        started.elapsed().as_secs_f64()
    );
}

fn check<T: std::fmt::Debug>(name: &str, result: Result<(), TestError<T>>) {
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => {
            panic!("fuzz target {name} failed: {why}\nminimal input: {input:#?}")
        }
        Err(TestError::Abort(why)) => panic!("fuzz target {name} aborted: {why}"),
    }
}
