//! Configuration loading: defaults, refusals naming their key, file and environment.
use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
const KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";

#[test]
fn defaults_apply_under_dev() {
    let c = Config::load(None, &env(&[]), true).unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.issuer(), "http://127.0.0.1:8080");
    assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
    assert!(c.is_dev_secret);
    assert_eq!(c.signing_alg, SigningAlg::Rs256);
}

#[test]
fn secret_key_is_required_outside_dev() {
    let e = Config::load(None, &env(&[]), false).unwrap_err();
    assert!(e.key.contains("PORTCULLIS_SECRET_KEY"), "{e}");
    assert!(Config::load(None, &env(&[("PORTCULLIS_SECRET_KEY", KEY)]), false).is_ok());
}

#[test]
fn issuer_with_trailing_slash_is_refused() {
    let e = Config::load(
        None,
        &env(&[("PORTCULLIS_ISSUER", "https://auth.example.com/")]),
        true,
    )
    .unwrap_err();
    assert!(
        e.key.contains("PORTCULLIS_ISSUER") && e.problem.contains("/"),
        "{e}"
    );
}

#[test]
fn http_issuer_must_be_loopback_outside_dev() {
    let base = [
        ("PORTCULLIS_SECRET_KEY", KEY),
        ("PORTCULLIS_ISSUER", "http://auth.example.com"),
    ];
    assert!(Config::load(None, &env(&base), false).is_err());
    let ok = [
        ("PORTCULLIS_SECRET_KEY", KEY),
        ("PORTCULLIS_ISSUER", "http://localhost:9000"),
    ];
    assert!(Config::load(None, &env(&ok), false).is_ok());
    let https = [
        ("PORTCULLIS_SECRET_KEY", KEY),
        ("PORTCULLIS_ISSUER", "https://auth.example.com/t1"),
    ];
    assert_eq!(
        Config::load(None, &env(&https), false).unwrap().issuer(),
        "https://auth.example.com/t1"
    );
}

#[test]
fn dev_refuses_non_loopback_listen() {
    let e = Config::load(None, &env(&[("PORTCULLIS_LISTEN", "0.0.0.0:8080")]), true).unwrap_err();
    assert!(e.key.contains("PORTCULLIS_LISTEN"), "{e}");
}

#[test]
fn bad_values_name_their_key() {
    for (var, value) in [
        ("PORTCULLIS_SIGNING_ALG", "HS256"),
        ("PORTCULLIS_LISTEN", "nope"),
        ("PORTCULLIS_SECRET_KEY", "short"),
        ("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.1,bogus"),
        ("PORTCULLIS_ENABLE_IDP_SIMULATOR", "maybe"),
    ] {
        let e = Config::load(None, &env(&[(var, value)]), true).unwrap_err();
        assert!(e.key.contains(var), "{var}: {e}");
    }
}

#[test]
fn file_values_are_overridden_by_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:9000\"\nsigning_alg = \"ES256\"\n",
    )
    .unwrap();
    let c = Config::load(
        Some(&path),
        &env(&[("PORTCULLIS_SIGNING_ALG", "EdDSA")]),
        true,
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.signing_alg, SigningAlg::EdDsa);
    std::fs::write(&path, "lisen = \"x\"\n").unwrap();
    assert!(Config::load(Some(&path), &env(&[]), true).is_err());
}

#[test]
fn an_unreadable_or_empty_extra_ca_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let e = Config::load(
        None,
        &env(&[("PORTCULLIS_EXTRA_CA_FILE", missing.to_str().unwrap())]),
        true,
    )
    .unwrap_err();
    assert!(e.key.contains("PORTCULLIS_EXTRA_CA_FILE"), "{e}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").unwrap();
    assert!(
        Config::load(
            None,
            &env(&[("PORTCULLIS_EXTRA_CA_FILE", empty.to_str().unwrap())]),
            true
        )
        .is_err()
    );
}
