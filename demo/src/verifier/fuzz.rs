//! Fuzz target for the token parser (RFC 7515 compact serialization, RFC 9068 §4 header
//! and claim checks), as a property test: 256 cases in `cargo test`, or
//! `PORTCULLIS_FUZZ_SECONDS` seconds of fresh random rounds (`bench/fuzz.sh`).

use std::time::{Duration, Instant};

use base64::Engine;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestError, TestRunner};
use serde_json::{Map, Value, json};

use super::token::{self, ALLOWED_ALGORITHMS, CLOCK_SKEW, Expected};

const ISSUER: &str = "https://as.example";
const AUDIENCE: &str = "https://mcp.example/mcp";
const NOW: i64 = 1_700_000_000;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn json_value() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        select(
            &[
                "at+jwt",
                "AT+JWT",
                "application/at+jwt",
                "JWT",
                "RS256",
                "ES256",
                "EdDSA",
                "none",
                "HS256",
                "snk_1",
                "",
                "https://as.example",
                "https://mcp.example/mcp",
                "tickets.read tickets.manage",
                "usr_1"
            ][..]
        )
        .prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (NOW - 200..NOW + 200).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(Value::Null),
        Just(json!(["https://mcp.example/mcp", 1])),
        Just(json!(["tickets.read", "x"])),
        Just(json!({"a": []})),
        any::<bool>().prop_map(Value::from),
    ]
}

fn object(keys: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((select(keys), json_value()), 0..8)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn part() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => object(&["typ", "alg", "kid", "crit", "cty", "jku"]).prop_map(|m| b64(Value::Object(m).to_string().as_bytes())),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(|b| b64(&b)),
        1 => "[A-Za-z0-9_=+/.-]{0,12}",
        1 => any::<String>(),
    ]
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (part(), part(), part()).prop_map(|(h, p, s)| format!("{h}.{p}.{s}")),
        1 => prop::collection::vec(part(), 0..6).prop_map(|p| p.join(".")),
        1 => Just(format!("{}.x.y", "a".repeat(17 * 1024))),
    ]
}

fn run_target<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let config = |cases| Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let report = |r: Result<(), TestError<S::Value>>| {
        if let Err(e) = r {
            panic!("fuzz target {name} failed: {e}");
        }
    };
    let budget = std::env::var("PORTCULLIS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let Some(budget) = budget.filter(|s| *s > 0).map(Duration::from_secs) else {
        report(TestRunner::new(config(256)).run(&strategy, &test));
        return;
    };
    let started = Instant::now();
    let mut iterations: u64 = 0;
    while started.elapsed() < budget {
        report(TestRunner::new(config(2_000)).run(&strategy, &test));
        iterations += 2_000;
    }
    println!(
        "fuzz-result target={name} iterations={iterations} seconds={:.1}",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn fuzz_jwt() {
    let claims = object(&[
        "iss",
        "aud",
        "exp",
        "nbf",
        "iat",
        "sub",
        "scope",
        "scopes",
        "client_id",
        "oid",
        "sid",
    ]);
    run_target("jwt", (token(), claims), |(text, claims)| {
        if let Ok(jws) = token::parse(&text) {
            prop_assert!(text.len() <= 16 * 1024);
            prop_assert!(ALLOWED_ALGORITHMS.contains(&jws.alg.as_str()));
            prop_assert!(!jws.kid.is_empty());
            prop_assert_eq!(text.matches('.').count(), 2);
            prop_assert_eq!(
                Some(jws.signing_input),
                text.rsplit_once('.').map(|(h, _)| h)
            );
        }
        let expected = Expected {
            issuer: ISSUER,
            audience: AUDIENCE,
        };
        if let Ok(p) = token::check_claims(&claims, &expected, NOW) {
            prop_assert_eq!(claims.get("iss"), Some(&json!(ISSUER)));
            let aud = &claims["aud"];
            prop_assert!(
                aud == AUDIENCE || aud.as_array().is_some_and(|a| a.contains(&json!(AUDIENCE)))
            );
            let exp = claims["exp"].as_f64().unwrap_or(f64::MIN);
            prop_assert!(
                exp.floor() + CLOCK_SKEW as f64 > NOW as f64,
                "expired token accepted: {claims:?}"
            );
            prop_assert!(!p.subject.is_empty());
        }
        let _ = token::claims(
            serde_json::to_string(&claims)
                .unwrap_or_default()
                .as_bytes(),
        );
        Ok(())
    });
}
