//! JWTs in tests: read one without verification, tamper with one, and have an independent
//! implementation (PyJWT) verify one.

use base64::Engine;
use serde_json::Value;

use crate::support::peers::peer_python;

/// Header and claims of a compact JWT, without verification.
pub fn decode_jwt(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut next = || {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts.next().expect("JWT part"))
            .expect("base64url");
        serde_json::from_slice::<Value>(&bytes).expect("JSON")
    };
    let header = next();
    let claims = next();
    (header, claims)
}

/// Verifies `jwt` with PyJWT (an independent implementation) against the JWKS at
/// `jwks_url`; returns the verified claims, or the error PyJWT raised.
pub async fn verify_with_pyjwt(
    jwt: &str,
    jwks_url: &str,
    issuer: &str,
    audience: &str,
) -> Result<Value, String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/verify_jwt.py");
    let out = tokio::process::Command::new(peer_python())
        .arg(script)
        .arg(jwks_url)
        .arg(issuer)
        .arg(audience)
        .env("JWT", jwt)
        .output()
        .await
        .expect("run python");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("verifier prints JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// The `kid` of a JWT's header.
pub fn kid(jwt: &str) -> String {
    decode_jwt(jwt).0["kid"].as_str().unwrap().to_string()
}

/// Changes one character in the middle of a JWT's payload (always a different payload).
pub fn tamper_payload(jwt: &str) -> String {
    let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
    let mut payload: Vec<char> = parts[1].chars().collect();
    let i = payload.len() / 2;
    payload[i] = if payload[i] == 'A' { 'B' } else { 'A' };
    parts[1] = payload.into_iter().collect();
    parts.join(".")
}
