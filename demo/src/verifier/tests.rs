//! Verifier tests: every token check, the JWKS cache (discovery, unknown-`kid` refetch,
//! rate limit, rotation) against a fake issuer on 127.0.0.1:0, and the metadata routes.

use std::time::Duration;

use serde_json::{Value, json};

use super::testkit::{FakeIssuer, Key, MetadataAt, RESOURCE, b64, claims, now, sign_raw};
use super::*;

fn config(issuer: &str) -> VerifierConfig {
    let mut c = VerifierConfig::new(issuer, RESOURCE);
    c.scopes_supported = vec!["tickets.read".into(), "tickets.manage".into()];
    c.challenge_scopes = vec!["tickets.read".into()];
    c
}

async fn setup() -> (FakeIssuer, Key, Verifier) {
    let issuer = FakeIssuer::start("/resources/res_tickets", MetadataAt::Appended).await;
    let key = Key::new("RS256", "snk_1");
    issuer.publish(&key);
    let verifier = Verifier::new(config(&issuer.issuer)).unwrap();
    (issuer, key, verifier)
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

#[tokio::test]
async fn a_portcullis_token_yields_the_principal() {
    let (issuer, key, verifier) = setup().await;
    let t = now();
    let p = verifier
        .verify_at(&key.sign(&claims(&issuer.issuer, t)), t)
        .await
        .unwrap();
    assert_eq!(p.subject, "usr_alice");
    assert_eq!(p.client_id.as_deref(), Some("m2m_client"));
    assert_eq!(p.organization_id.as_deref(), Some("org_test"));
    assert_eq!(p.session_id.as_deref(), Some("ses_1"));
    // `scope` and `scopes` are merged.
    assert!(p.has_scope("tickets.read") && p.has_scope("tickets.manage:org_test"));
    assert_eq!(p.scopes.len(), 2);
}

#[tokio::test]
async fn es256_and_eddsa_keys_verify_too() {
    let (issuer, _, verifier) = setup().await;
    let t = now();
    for (alg, kid) in [("ES256", "snk_ec"), ("EdDSA", "snk_ed")] {
        let key = Key::new(alg, kid);
        issuer.publish(&key);
        let mut c = config(&issuer.issuer);
        c.refetch_interval = Duration::ZERO;
        let v = Verifier::new(c).unwrap();
        let p = v.verify_at(&key.sign(&claims(&issuer.issuer, t)), t).await;
        assert!(p.is_ok(), "{alg}: {p:?}");
    }
    drop(verifier);
}

#[tokio::test]
async fn typ_must_be_at_jwt() {
    let (issuer, key, verifier) = setup().await;
    let t = now();
    let c = claims(&issuer.issuer, t);
    for (typ, ok) in [
        (json!("at+jwt"), true),
        (json!("application/at+JWT"), true),
        (json!("JWT"), false),
        (json!("id_token+jwt"), false),
        (Value::Null, false),
    ] {
        let mut header = json!({"alg": "RS256", "kid": "snk_1"});
        if !typ.is_null() {
            header["typ"] = typ.clone();
        }
        let r = verifier
            .verify_at(&key.sign_with_header(&header, &c), t)
            .await;
        if ok {
            assert!(r.is_ok(), "{typ}: {r:?}");
        } else {
            assert_eq!(r, Err(TokenError::WrongType), "{typ}");
        }
    }
}

#[tokio::test]
async fn none_and_hmac_are_never_accepted() {
    let (issuer, key, verifier) = setup().await;
    let t = now();
    let c = claims(&issuer.issuer, t);
    let none = sign_raw(
        &json!({"alg": "none", "kid": "snk_1", "typ": "at+jwt"}),
        &c,
        |_| vec![],
    );
    assert_eq!(
        verifier.verify_at(&none, t).await,
        Err(TokenError::AlgorithmNotAllowed)
    );
    // Algorithm confusion: HS256 keyed with the published public key.
    let public = key.public.to_string();
    let hmac = josekit::jws::HS256
        .signer_from_bytes(public.as_bytes())
        .unwrap();
    let forged = sign_raw(
        &json!({"alg": "HS256", "kid": "snk_1", "typ": "at+jwt"}),
        &c,
        |i| josekit::jws::JwsSigner::sign(&hmac, i).unwrap(),
    );
    assert_eq!(
        verifier.verify_at(&forged, t).await,
        Err(TokenError::AlgorithmNotAllowed)
    );
    // An RS256 key cannot be used under another allowed algorithm either.
    let es = Key::new("ES256", "snk_1");
    let r = verifier.verify_at(&es.sign(&c), t).await;
    assert_eq!(r, Err(TokenError::UnknownKey));
}

#[tokio::test]
async fn a_bad_signature_or_garbage_is_refused() {
    let (issuer, key, verifier) = setup().await;
    let t = now();
    let token = key.sign(&claims(&issuer.issuer, t));
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let forged = with(
        claims(&issuer.issuer, t),
        "scope",
        json!("tickets.read tickets.manage:org_test"),
    );
    parts[1] = b64(forged.to_string().as_bytes());
    assert_eq!(
        verifier.verify_at(&parts.join("."), t).await,
        Err(TokenError::BadSignature)
    );
    let other = Key::new("RS256", "snk_1");
    assert_eq!(
        verifier
            .verify_at(&other.sign(&claims(&issuer.issuer, t)), t)
            .await,
        Err(TokenError::BadSignature)
    );
    for garbage in ["", "a.b", "a.b.c.d", "!!.??.##"] {
        assert_eq!(
            verifier.verify_at(garbage, t).await,
            Err(TokenError::Malformed),
            "{garbage}"
        );
    }
    let no_kid = key.sign_with_header(
        &json!({"alg": "RS256", "typ": "at+jwt"}),
        &claims(&issuer.issuer, t),
    );
    assert_eq!(
        verifier.verify_at(&no_kid, t).await,
        Err(TokenError::MissingKeyId)
    );
}

#[tokio::test]
async fn unknown_kid_refetches_at_most_once_per_interval() {
    let (issuer, key, verifier) = setup().await;
    let t = now();
    verifier
        .verify_at(&key.sign(&claims(&issuer.issuer, t)), t)
        .await
        .unwrap();
    assert_eq!(issuer.jwks_fetches(), 1);
    // Known key: no fetch.
    verifier
        .verify_at(&key.sign(&claims(&issuer.issuer, t)), t)
        .await
        .unwrap();
    assert_eq!(issuer.jwks_fetches(), 1);
    // A rotated-in key within the 30 s window: no refetch, so it is unknown for now.
    let next = Key::new("RS256", "snk_2");
    issuer.publish(&next);
    let r = verifier
        .verify_at(&next.sign(&claims(&issuer.issuer, t)), t)
        .await;
    assert_eq!(r, Err(TokenError::UnknownKey));
    let forged = Key::new("RS256", "snk_forged");
    for _ in 0..5 {
        let _ = verifier
            .verify_at(&forged.sign(&claims(&issuer.issuer, t)), t)
            .await;
    }
    assert_eq!(
        issuer.jwks_fetches(),
        1,
        "unknown kids must not hammer the issuer"
    );
}

#[tokio::test]
async fn a_rotated_key_is_found_by_refetching() {
    let (issuer, key, _) = setup().await;
    let mut c = config(&issuer.issuer);
    c.refetch_interval = Duration::ZERO;
    let verifier = Verifier::new(c).unwrap();
    let t = now();
    verifier
        .verify_at(&key.sign(&claims(&issuer.issuer, t)), t)
        .await
        .unwrap();
    let next = Key::new("ES256", "snk_2");
    issuer.publish(&next);
    verifier
        .verify_at(&next.sign(&claims(&issuer.issuer, t)), t)
        .await
        .unwrap();
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn unusable_jwks_entries_are_skipped() {
    let (issuer, key, _) = setup().await;
    issuer.publish_raw(json!({"kty": "oct", "kid": "snk_hmac", "k": b64(b"secret")}));
    issuer.publish_raw(
        json!({"kty": "RSA", "kid": "snk_enc", "use": "enc", "n": "AQAB", "e": "AQAB"}),
    );
    issuer.publish_raw(json!({"kty": "weird"}));
    let verifier = Verifier::new(config(&issuer.issuer)).unwrap();
    let t = now();
    verifier
        .verify_at(&key.sign(&claims(&issuer.issuer, t)), t)
        .await
        .unwrap();
}

#[tokio::test]
async fn metadata_naming_another_issuer_yields_no_keys() {
    let (issuer, key, verifier) = setup().await;
    issuer.claim_issuer("http://evil.example");
    let t = now();
    let r = verifier
        .verify_at(&key.sign(&claims(&issuer.issuer, t)), t)
        .await;
    assert_eq!(r, Err(TokenError::KeysUnavailable));
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn path_inserted_metadata_is_the_fallback() {
    let issuer = FakeIssuer::start("/resources/res_tickets", MetadataAt::PathInserted).await;
    let key = Key::new("EdDSA", "snk_1");
    issuer.publish(&key);
    let verifier = Verifier::new(config(&issuer.issuer)).unwrap();
    let t = now();
    verifier
        .verify_at(&key.sign(&claims(&issuer.issuer, t)), t)
        .await
        .unwrap();
}

#[tokio::test]
async fn iss_must_match_byte_for_byte() {
    let (issuer, key, verifier) = setup().await;
    let t = now();
    for iss in [format!("{}/", issuer.issuer), issuer.issuer.to_uppercase()] {
        let c = with(claims(&issuer.issuer, t), "iss", json!(iss));
        assert_eq!(
            verifier.verify_at(&key.sign(&c), t).await,
            Err(TokenError::WrongIssuer)
        );
    }
    let c = without(claims(&issuer.issuer, t), "iss");
    assert_eq!(
        verifier.verify_at(&key.sign(&c), t).await,
        Err(TokenError::MissingClaim("iss"))
    );
}

#[test]
fn aud_string_or_array_must_contain_the_resource() {
    let t = 1_000;
    let expected = Expected {
        issuer: "https://as",
        audience: RESOURCE,
    };
    let base = claims("https://as", t);
    assert!(check_claims(base.as_object().unwrap(), &expected, t).is_ok());
    let single = with(base.clone(), "aud", json!(RESOURCE));
    assert!(check_claims(single.as_object().unwrap(), &expected, t).is_ok());
    for aud in [
        json!("http://127.0.0.1:8081/mcp/"),
        json!(["res_tickets", "http://127.0.0.1:9999/mcp"]),
        json!([]),
    ] {
        let c = with(base.clone(), "aud", aud.clone());
        assert_eq!(
            check_claims(c.as_object().unwrap(), &expected, t),
            Err(TokenError::WrongAudience),
            "{aud}"
        );
    }
    let c = without(base.clone(), "aud");
    assert_eq!(
        check_claims(c.as_object().unwrap(), &expected, t),
        Err(TokenError::MissingClaim("aud"))
    );
    let c = with(base, "aud", json!(42));
    assert_eq!(
        check_claims(c.as_object().unwrap(), &expected, t),
        Err(TokenError::BadClaim("aud"))
    );
}

#[test]
fn time_claims_allow_sixty_seconds_of_skew() {
    let t = 1_000_000;
    let expected = Expected {
        issuer: "https://as",
        audience: RESOURCE,
    };
    let check = |c: Value, now: i64| check_claims(c.as_object().unwrap(), &expected, now);
    let base = claims("https://as", t);
    // exp = t + 300
    assert!(check(base.clone(), t + 300 + 59).is_ok());
    assert_eq!(check(base.clone(), t + 300 + 60), Err(TokenError::Expired));
    assert_eq!(
        check(without(base.clone(), "exp"), t),
        Err(TokenError::MissingClaim("exp"))
    );
    // nbf and iat in the future
    assert!(check(with(base.clone(), "nbf", json!(t + 60)), t).is_ok());
    assert_eq!(
        check(with(base.clone(), "nbf", json!(t + 61)), t),
        Err(TokenError::NotYetValid)
    );
    assert!(check(with(base.clone(), "iat", json!(t + 60)), t).is_ok());
    assert_eq!(
        check(with(base.clone(), "iat", json!(t + 61)), t),
        Err(TokenError::IssuedInFuture)
    );
    assert_eq!(
        check(with(base.clone(), "exp", json!("soon")), t),
        Err(TokenError::BadClaim("exp"))
    );
    // nbf and iat are optional
    assert!(check(without(without(base, "nbf"), "iat"), t).is_ok());
}

#[test]
fn scopes_come_from_scope_or_scopes() {
    let t = 1_000;
    let expected = Expected {
        issuer: "https://as",
        audience: RESOURCE,
    };
    let check = |c: Value| check_claims(c.as_object().unwrap(), &expected, t);
    let only_scope = without(
        with(claims("https://as", t), "scope", json!("a  b\tc")),
        "scopes",
    );
    let p = check(only_scope).unwrap();
    assert_eq!(p.scopes.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    let only_scopes = without(
        with(claims("https://as", t), "scopes", json!(["x", "y:org_1"])),
        "scope",
    );
    let p = check(only_scopes).unwrap();
    assert!(p.has_scope("y:org_1") && !p.has_scope("y"));
    let none = without(without(claims("https://as", t), "scope"), "scopes");
    assert!(check(none).unwrap().scopes.is_empty());
    let bad = with(claims("https://as", t), "scopes", json!([1]));
    assert_eq!(check(bad), Err(TokenError::BadClaim("scopes")));
}

#[test]
fn sub_is_required() {
    let t = 1_000;
    let expected = Expected {
        issuer: "https://as",
        audience: RESOURCE,
    };
    for c in [
        without(claims("https://as", t), "sub"),
        with(claims("https://as", t), "sub", json!("")),
    ] {
        assert_eq!(
            check_claims(c.as_object().unwrap(), &expected, t),
            Err(TokenError::MissingClaim("sub"))
        );
    }
}

#[test]
fn configuration_is_checked() {
    assert!(Verifier::new(VerifierConfig::new("not a url", RESOURCE)).is_err());
    assert!(Verifier::new(VerifierConfig::new("https://as", "http://h/mcp#frag")).is_err());
    assert!(Verifier::new(VerifierConfig::new("https://as", "urn:x")).is_err());
    assert_eq!(
        path_inserted_metadata_url("https://as.example/resources/res_1").as_deref(),
        Some("https://as.example/.well-known/oauth-authorization-server/resources/res_1")
    );
    assert_eq!(path_inserted_metadata_url("https://as.example"), None);
}

#[tokio::test]
async fn metadata_is_served_at_both_paths_with_open_cors() {
    let verifier = Verifier::new(config("http://127.0.0.1:8080/resources/res_tickets")).unwrap();
    let router = verifier.metadata_router();
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let req = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = tower::ServiceExt::oneshot(router.clone(), req)
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["access-control-allow-origin"], "*");
        let body = axum::body::to_bytes(resp.into_body(), 10_000)
            .await
            .unwrap();
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["resource"], RESOURCE);
        assert_eq!(
            doc["authorization_servers"],
            json!(["http://127.0.0.1:8080/resources/res_tickets"])
        );
        assert_eq!(
            doc["scopes_supported"],
            json!(["tickets.read", "tickets.manage"])
        );
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
    assert_eq!(
        verifier.metadata_url(),
        "http://127.0.0.1:8081/.well-known/oauth-protected-resource/mcp"
    );
}
