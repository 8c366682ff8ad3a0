//! PKCE (RFC 7636) with S256 only (OAuth 2.1: `plain` is refused).

use crate::crypto;

/// RFC 7636 §4.2: 43 to 128 characters of the unreserved set (here: a base64url SHA-256).
pub fn is_valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An authorization request's PKCE parameters, decided (RFC 7636 §4.3, OAuth 2.1 §4.1.1):
/// the S256 challenge, or `None` where `may_omit` (a confidential login app whose PKCE is
/// optional, at a request naming no resource) and the request asks for `openid` with a
/// `nonce` instead (RFC 9700 §2.1.1). Every other request needs S256.
pub fn challenge_of(
    challenge: Option<&str>,
    method: Option<&str>,
    may_omit: bool,
    has_openid_nonce: bool,
) -> Result<Option<String>, &'static str> {
    let Some(challenge) = challenge else {
        return match (may_omit, has_openid_nonce) {
            (true, true) => Ok(None),
            (true, false) => Err("without PKCE, ask for openid and send a nonce"),
            (false, _) => Err("PKCE is required: send code_challenge"),
        };
    };
    if method != Some("S256") {
        return Err("code_challenge_method must be S256");
    }
    if !is_valid_challenge(challenge) {
        return Err("code_challenge is not a base64url SHA-256");
    }
    Ok(Some(challenge.to_string()))
}

/// RFC 7636 §4.1: the verifier is 43–128 unreserved characters.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge, compared in constant time.
pub fn verify(challenge: &str, verifier: &str) -> bool {
    if !is_valid_verifier(verifier) {
        return false;
    }
    let computed = crypto::b64url(&crypto::sha256(verifier.as_bytes()));
    computed.len() == challenge.len()
        && openssl::memcmp::eq(computed.as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_optional_login_request_with_openid_and_a_nonce_omits_pkce() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(
            challenge_of(Some(c), Some("S256"), false, false),
            Ok(Some(c.into()))
        );
        assert_eq!(
            challenge_of(Some(c), Some("S256"), true, true),
            Ok(Some(c.into()))
        );
        assert_eq!(challenge_of(None, None, true, true), Ok(None));
        assert!(challenge_of(None, None, true, false).is_err());
        assert!(challenge_of(None, None, false, true).is_err());
        assert!(challenge_of(Some(c), Some("plain"), true, true).is_err());
        assert!(challenge_of(Some(c), None, true, true).is_err());
        assert!(challenge_of(Some("short"), Some("S256"), true, true).is_err());
    }

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_valid_challenge(challenge));
        assert!(verify(challenge, verifier));
        assert!(!verify(
            challenge,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"
        ));
        assert!(
            !verify(challenge, challenge),
            "the challenge itself is not a verifier (plain)"
        );
        assert!(!verify(challenge, "short"));
        assert!(!is_valid_challenge("plain-text"));
    }
}
