//! JWTs other parties sign, checked against their JWK Set: client assertions (RFC 7523
//! §2.2, `private_key_jwt`) and identity assertion grants (ID-JAG). Asymmetric algorithms
//! only (`none` and the HMAC family are refused: a JWK Set is public); the key is the one
//! the header's `kid` names, or, without a `kid`, the set's keys of the algorithm's type.

use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::Value;

/// The longest assertion we read.
pub const MAX_ASSERTION_BYTES: usize = 16_384;
/// Keys tried for an assertion without `kid`.
const MAX_KEYS_TRIED: usize = 10;

/// Why an assertion's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureRefusal {
    Malformed(&'static str),
    /// `none`, HMAC or an algorithm we do not verify.
    Algorithm(String),
    /// No key of the set has this `kid` (or none of the algorithm's type).
    UnknownKey(Option<String>),
    BadSignature,
}

impl SignatureRefusal {
    pub fn describe(&self) -> String {
        match self {
            Self::Malformed(what) => format!("the assertion is not a well-formed JWS: {what}"),
            Self::Algorithm(alg) => format!(
                "the algorithm `{}` is not accepted (asymmetric algorithms only)",
                alg.escape_default()
            ),
            Self::UnknownKey(Some(kid)) => {
                format!("no key `{}` in the signer's JWK Set", kid.escape_default())
            }
            Self::UnknownKey(None) => "no key of the signer's JWK Set fits".into(),
            Self::BadSignature => "the signature does not verify".into(),
        }
    }
}

/// The header and claims of a JWS, read without checking anything.
pub fn peek(jwt: &str) -> Result<(Value, Value), SignatureRefusal> {
    if jwt.len() > MAX_ASSERTION_BYTES {
        return Err(SignatureRefusal::Malformed("too long"));
    }
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(Value::is_object)
    };
    let mut parts = jwt.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(_), None) => Ok((
            decode(h).ok_or(SignatureRefusal::Malformed("header"))?,
            decode(p).ok_or(SignatureRefusal::Malformed("payload"))?,
        )),
        _ => Err(SignatureRefusal::Malformed("three parts expected")),
    }
}

/// The key type (`kty`) an algorithm's keys have, for the algorithms we verify.
fn key_type(alg: &str) -> Option<&'static str> {
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => Some("RSA"),
        "ES256" | "ES384" | "ES512" => Some("EC"),
        "EdDSA" => Some("OKP"),
        _ => None,
    }
}

fn verifier(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    use josekit::jws::{ES256, ES384, ES512, EdDSA, PS256, PS384, PS512, RS256, RS384, RS512};
    let v: Box<dyn JwsVerifier> = match alg {
        "RS256" => Box::new(RS256.verifier_from_jwk(jwk).ok()?),
        "RS384" => Box::new(RS384.verifier_from_jwk(jwk).ok()?),
        "RS512" => Box::new(RS512.verifier_from_jwk(jwk).ok()?),
        "PS256" => Box::new(PS256.verifier_from_jwk(jwk).ok()?),
        "PS384" => Box::new(PS384.verifier_from_jwk(jwk).ok()?),
        "PS512" => Box::new(PS512.verifier_from_jwk(jwk).ok()?),
        "ES256" => Box::new(ES256.verifier_from_jwk(jwk).ok()?),
        "ES384" => Box::new(ES384.verifier_from_jwk(jwk).ok()?),
        "ES512" => Box::new(ES512.verifier_from_jwk(jwk).ok()?),
        "EdDSA" => Box::new(EdDSA.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    };
    Some(v)
}

/// The header and claims of `jwt` if a key of `jwks` (`{"keys": […]}`) signed it.
pub fn verify(jwt: &str, jwks: &Value) -> Result<(Value, Value), SignatureRefusal> {
    let (header, claims) = peek(jwt)?;
    // RFC 7515 §4.1.11: no extension we would have to understand (`b64: false` among them).
    if header.get("crit").is_some() || header.get("b64").is_some() {
        return Err(SignatureRefusal::Malformed(
            "crit and b64 headers are not supported",
        ));
    }
    let alg = header["alg"].as_str().unwrap_or_default();
    let kty = key_type(alg).ok_or_else(|| SignatureRefusal::Algorithm(alg.to_string()))?;
    let kid = header["kid"].as_str();
    let keys = jwks["keys"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let candidates: Vec<&Value> = keys
        .iter()
        .filter(|k| k["kty"] == kty)
        .filter(|k| k.get("d").is_none())
        .filter(|k| k.get("alg").is_none_or(|a| a == alg))
        .filter(|k| match kid {
            Some(kid) => k["kid"].as_str() == Some(kid),
            None => true,
        })
        .take(MAX_KEYS_TRIED)
        .collect();
    if candidates.is_empty() {
        return Err(SignatureRefusal::UnknownKey(kid.map(str::to_string)));
    }
    let (signed, signature) = jwt
        .rsplit_once('.')
        .ok_or(SignatureRefusal::Malformed("signature"))?;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| SignatureRefusal::Malformed("signature"))?;
    for key in candidates {
        let Ok(jwk) = Jwk::from_bytes(key.to_string().as_bytes()) else {
            continue;
        };
        if let Some(v) = verifier(alg, &jwk)
            && v.verify(signed.as_bytes(), &signature).is_ok()
        {
            return Ok((header, claims));
        }
    }
    Err(SignatureRefusal::BadSignature)
}

/// Whether a JWT audience (`aud`, a string or an array) names one of `accepted`.
pub fn audience_has(aud: &Value, accepted: &[&str]) -> bool {
    match aud {
        Value::String(a) => accepted.contains(&a.as_str()),
        Value::Array(all) => all
            .iter()
            .filter_map(Value::as_str)
            .any(|a| accepted.contains(&a)),
        _ => false,
    }
}

/// A JWK Set as an admin may give it for a client or an IdP: public asymmetric keys only.
pub fn check_public_jwks(jwks: &Value) -> Result<(), String> {
    let keys = jwks["keys"]
        .as_array()
        .ok_or("a JWK Set is an object with `keys`")?;
    if keys.is_empty() || keys.len() > 10 {
        return Err("a JWK Set has 1 to 10 keys".into());
    }
    for k in keys {
        if !matches!(k["kty"].as_str(), Some("RSA" | "EC" | "OKP")) {
            return Err("keys are RSA, EC or OKP (asymmetric)".into());
        }
        if k.get("d").is_some() {
            return Err("a key holds private material (`d`): publish public keys only".into());
        }
        Jwk::from_bytes(k.to_string().as_bytes())
            .map_err(|e| format!("a key is not a JWK: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use josekit::jws::{ES256, JwsHeader, RS256};
    use josekit::jwt::{self, JwtPayload};
    use serde_json::json;

    use super::*;

    fn sign_es256(kid: Option<&str>, claims: Value) -> (String, Value) {
        let pair = ES256.generate_key_pair().unwrap();
        let mut header = JwsHeader::new();
        if let Some(k) = kid {
            header.set_key_id(k);
        }
        header.set_token_type("oauth-id-jag+jwt");
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        let signer = ES256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
        let token = jwt::encode_with_signer(&payload, &header, &signer).unwrap();
        let mut public = pair.to_jwk_public_key();
        if let Some(k) = kid {
            public.set_key_id(k);
        }
        let jwks = json!({ "keys": [serde_json::from_str::<Value>(&public.to_string()).unwrap()] });
        (token, jwks)
    }

    #[test]
    fn a_key_of_the_set_verifies_and_others_do_not() {
        let (token, jwks) = sign_es256(Some("k1"), json!({ "iss": "https://idp", "sub": "u" }));
        let (header, claims) = verify(&token, &jwks).expect("verifies");
        assert_eq!(header["typ"], "oauth-id-jag+jwt");
        assert_eq!(claims["sub"], "u");
        let (_, other) = sign_es256(Some("k1"), json!({}));
        assert_eq!(verify(&token, &other), Err(SignatureRefusal::BadSignature));
        let (_, renamed) = sign_es256(Some("k2"), json!({}));
        assert_eq!(
            verify(&token, &renamed),
            Err(SignatureRefusal::UnknownKey(Some("k1".into())))
        );
        // Without `kid`: the set's keys of the type are tried.
        let (token, jwks) = sign_es256(None, json!({ "sub": "u" }));
        assert!(verify(&token, &jwks).is_ok());
        // An extension we would have to understand.
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let parts: Vec<&str> = token.split('.').collect();
        for extra in [json!({ "crit": ["exp"] }), json!({ "b64": false })] {
            let (mut header, _) = peek(&token).unwrap();
            header
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let altered = format!("{}.{}.{}", b64(&header), parts[1], parts[2]);
            assert!(
                matches!(verify(&altered, &jwks), Err(SignatureRefusal::Malformed(_))),
                "{extra}"
            );
        }
        // Tampered.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"admin"}"#);
        parts[1] = &forged;
        assert_eq!(
            verify(&parts.join("."), &jwks),
            Err(SignatureRefusal::BadSignature)
        );
    }

    #[test]
    fn none_and_hmac_are_refused_whatever_the_set() {
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let jwks = json!({ "keys": [ { "kty": "oct", "k": "c2VjcmV0" } ] });
        for alg in ["none", "HS256", "", "RS1"] {
            let token = format!(
                "{}.{}.",
                b64(&json!({ "alg": alg })),
                b64(&json!({ "sub": "x" }))
            );
            assert!(
                matches!(
                    verify(&token, &jwks),
                    Err(SignatureRefusal::Algorithm(_)) | Err(SignatureRefusal::Malformed(_))
                ),
                "{alg}"
            );
        }
        // An RS256 token checked against a set with only a symmetric key: no key fits.
        let pair = RS256.generate_key_pair(2048).unwrap();
        let signer = RS256.signer_from_jwk(&pair.to_jwk_private_key()).unwrap();
        let token =
            jwt::encode_with_signer(&JwtPayload::new(), &JwsHeader::new(), &signer).unwrap();
        assert_eq!(
            verify(&token, &jwks),
            Err(SignatureRefusal::UnknownKey(None))
        );
    }

    #[test]
    fn public_jwks_only() {
        let (_, jwks) = sign_es256(Some("k"), json!({}));
        assert!(check_public_jwks(&jwks).is_ok());
        let pair = ES256.generate_key_pair().unwrap();
        let private: Value = serde_json::from_str(&pair.to_jwk_private_key().to_string()).unwrap();
        assert!(check_public_jwks(&json!({ "keys": [private] })).is_err());
        assert!(check_public_jwks(&json!({ "keys": [] })).is_err());
        assert!(check_public_jwks(&json!({ "keys": [ { "kty": "oct", "k": "eA" } ] })).is_err());
        assert!(audience_has(&json!(["a", "b"]), &["b"]));
        assert!(audience_has(&json!("a"), &["a"]));
        assert!(!audience_has(&json!(["a"]), &["b"]));
    }
}
