//! Signing keys: rotation (delayed and `--now`), publication windows, replicas picking up
//! rotations, restarts, and private keys sealed at rest.

use std::sync::Arc;
use std::time::Duration;

use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, JwsVerifier, RS256};
use portcullis::clock::FixedClock;
use portcullis::config::SigningAlg;
use portcullis::crypto::SecretBox;
use portcullis::keys::{self, KeyRing};
use serde_json::Value;

use crate::support::jwt::kid;
use crate::support::{T0, TestApp, decode_jwt};

/// Verifies `jwt` against a JWKS document (josekit); returns the claims.
pub fn verify_with_jwks(jwt: &str, jwks: &Value) -> Result<Value, String> {
    let (header, _) = decode_jwt(jwt);
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
        .ok_or_else(|| format!("kid {kid} is not published"))?;
    let jwk = Jwk::from_bytes(jwk.to_string().as_bytes()).map_err(|e| e.to_string())?;
    let verifier: Box<dyn JwsVerifier> = match header["alg"].as_str() {
        Some("RS256") => Box::new(RS256.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?),
        Some("ES256") => Box::new(ES256.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?),
        Some("EdDSA") => Box::new(EdDSA.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?),
        other => return Err(format!("unexpected alg {other:?}")),
    };
    let (payload, _) =
        josekit::jwt::decode_with_verifier(jwt, verifier.as_ref()).map_err(|e| e.to_string())?;
    Ok(Value::Object(payload.claims_set().clone()))
}

async fn token(app: &TestApp) -> String {
    let res = app.service_token(&[("resource", "res_tickets")]).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()["access_token"].as_str().unwrap().to_string()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn rotate_now_keeps_old_tokens_verifying_and_signs_with_the_new_kid() {
    let app = TestApp::new().await;
    let old = token(&app).await;
    let new_kid = keys::create_key(
        app.state.store.as_ref(),
        &app.state.config.secret,
        SigningAlg::Rs256,
        T0,
        0,
    )
    .await
    .unwrap();
    app.state.keys.refresh().await.unwrap();
    let new = token(&app).await;
    assert_eq!(kid(&new), new_kid);
    assert_ne!(kid(&old), new_kid);

    let jwks = app.get("/keys").await.json();
    assert_eq!(kids(&jwks).len(), 2);
    verify_with_jwks(&old, &jwks).expect("old token still verifies");
    verify_with_jwks(&new, &jwks).expect("new token verifies");

    // The old key stays until its last token has expired: the longest access-token
    // lifetime of any resource (600 s, res_wiki) + the refresh interval + leeway...
    app.clock.advance(600);
    assert_eq!(kids(&app.get("/keys").await.json()).len(), 2);
    // ...and is withdrawn after.
    app.clock.advance(100);
    assert_eq!(
        kids(&app.get("/.well-known/jwks.json").await.json()),
        vec![new_kid]
    );
}

#[tokio::test]
async fn delayed_rotation_publishes_at_once_and_signs_after_the_delay() {
    let app = TestApp::new().await;
    let first = kid(&token(&app).await);
    let next = keys::create_key(
        app.state.store.as_ref(),
        &app.state.config.secret,
        SigningAlg::Rs256,
        T0,
        600,
    )
    .await
    .unwrap();
    app.state.keys.refresh().await.unwrap();
    assert_eq!(
        kids(&app.get("/keys").await.json()),
        vec![first.clone(), next.clone()],
        "published before it signs"
    );
    assert_eq!(
        kid(&token(&app).await),
        first,
        "still signing with the old key"
    );
    app.clock.advance(599);
    assert_eq!(kid(&token(&app).await), first);
    app.clock.advance(1);
    assert_eq!(kid(&token(&app).await), next);
}

#[tokio::test]
async fn a_replica_on_the_same_database_picks_up_a_rotation() {
    let clock = Arc::new(FixedClock::new(T0));
    let a = TestApp::builder()
        .clock(clock.clone())
        .refresh_interval(1)
        .build()
        .await;
    let b = TestApp::builder()
        .seed(None)
        .db(a.db.clone())
        .clock(clock.clone())
        .refresh_interval(1)
        .build()
        .await;
    let before = kid(&token(&b).await);
    assert_eq!(
        before,
        kid(&token(&a).await),
        "replicas share the signing key"
    );

    let new_kid = keys::create_key(
        a.state.store.as_ref(),
        &a.state.config.secret,
        SigningAlg::Rs256,
        T0,
        0,
    )
    .await
    .unwrap();
    // B was not told; its periodic reload must find the key.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if kids(&b.get("/keys").await.json()).contains(&new_kid) && kid(&token(&b).await) == new_kid
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica did not pick up the new key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn keys_and_clients_survive_a_restart() {
    let first = TestApp::new().await;
    let jwt = token(&first).await;
    let db = first.db.clone();
    first.background.key_refresher.abort();
    drop(first);

    let second = TestApp::builder().seed(None).db(db).build().await;
    let jwks = second.get("/keys").await.json();
    verify_with_jwks(&jwt, &jwks).expect("token issued before the restart verifies after it");
    assert_eq!(
        kid(&token(&second).await),
        kid(&jwt),
        "same signing key, seeded client still works"
    );
}

#[tokio::test]
async fn private_keys_are_sealed_at_rest() {
    let app = TestApp::new().await;
    let records = app.state.store.list_signing_keys().await.unwrap();
    assert_eq!(records.len(), 1);
    let sealed = &records[0].private_key;
    assert!(sealed.starts_with("v1."), "sealed format");
    assert!(!sealed.contains("PRIVATE"));
    // No part of the stored text is a usable private key (DER) on its own.
    for part in sealed.split('.') {
        use base64::Engine;
        if let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part) {
            assert!(openssl::pkey::PKey::private_key_from_der(&bytes).is_err());
            assert!(openssl::pkey::PKey::private_key_from_pkcs8(&bytes).is_err());
        }
    }
    let public: Value = serde_json::from_str(&records[0].public_jwk).unwrap();
    assert!(
        public.get("d").is_none(),
        "no private member in the public JWK"
    );

    let wrong = SecretBox::new([9; 32]);
    let opened = KeyRing::open(
        app.state.store.clone(),
        wrong,
        app.clock.clone(),
        SigningAlg::Rs256,
        30,
    )
    .await;
    assert!(
        opened.is_err(),
        "another secret key cannot open the stored keys"
    );
}

#[tokio::test]
async fn es256_and_eddsa_keys_sign_verifiable_tokens() {
    for (alg, name, crv) in [
        (SigningAlg::Es256, "ES256", "P-256"),
        (SigningAlg::EdDsa, "EdDSA", "Ed25519"),
    ] {
        let app = TestApp::builder().alg(alg).build().await;
        let jwt = token(&app).await;
        assert_eq!(decode_jwt(&jwt).0["alg"], name);
        let jwks = app.get("/keys").await.json();
        assert_eq!(jwks["keys"][0]["crv"], crv);
        assert_eq!(jwks["keys"][0]["alg"], name);
        assert_eq!(jwks["keys"][0]["use"], "sig");
        verify_with_jwks(&jwt, &jwks).unwrap();
    }
}

#[tokio::test]
async fn changing_the_configured_algorithm_adds_a_key_and_keeps_the_old_one_published() {
    let a = TestApp::new().await;
    let rs = token(&a).await;
    let b = TestApp::builder()
        .seed(None)
        .db(a.db.clone())
        .alg(SigningAlg::Es256)
        .build()
        .await;
    let es = token(&b).await;
    assert_eq!(decode_jwt(&es).0["alg"], "ES256");
    let jwks = b.get("/keys").await.json();
    verify_with_jwks(&rs, &jwks).unwrap();
    verify_with_jwks(&es, &jwks).unwrap();
}
