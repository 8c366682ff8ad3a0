//! JWT access-token checks (RFC 9068 §4, RFC 7519 §4.1, RFC 8725 §3.1): the header's `typ`
//! and algorithm allowlist, then the claims `iss`, `aud`, `exp`, `nbf`, `iat` and the scopes.
//! Pure functions: the signature is checked by the caller with a key from the JWKS.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::{Map, Value};

use super::principal::Principal;

/// Signing algorithms accepted. Never `none`, never an HMAC (RFC 8725 §3.1: a public key
/// must not be usable as an HMAC secret).
pub const ALLOWED_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const CLOCK_SKEW: i64 = 60;
/// Tokens longer than this are refused before any decoding.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token was refused. The message is safe to send back in `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token type must be at+jwt")]
    WrongType,
    #[error("the token's signing algorithm is not accepted")]
    AlgorithmNotAllowed,
    #[error("the token names no signing key")]
    MissingKeyId,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is not meant for this resource")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token claims to be issued in the future")]
    IssuedInFuture,
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    #[error("the token's `{0}` claim has the wrong type")]
    BadClaim(&'static str),
    /// The authorization server's keys could not be fetched at all (not the caller's fault).
    #[error("the signing keys are unavailable")]
    KeysUnavailable,
}

/// The three parts of a compact JWS, with the header decoded and checked.
#[derive(Debug)]
pub struct Jws<'a> {
    pub alg: String,
    pub kid: String,
    /// `header.payload` as sent: the signing input.
    pub signing_input: &'a str,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

fn b64(part: &str) -> Result<Vec<u8>, TokenError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

/// Splits a compact JWS and checks its header: `typ` is `at+jwt` (RFC 9068 §4), `alg` is on
/// the allowlist, `kid` is present, no `crit` extension (RFC 7515 §4.1.11: we know none).
pub fn parse(token: &str) -> Result<Jws<'_>, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Map<String, Value> =
        serde_json::from_slice(&b64(h)?).map_err(|_| TokenError::Malformed)?;
    // RFC 9068 §4: resource servers MUST check typ; the media type compares case-insensitively
    // and may carry the `application/` prefix (RFC 7515 §4.1.9).
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    let typ = typ.to_ascii_lowercase();
    if typ != "at+jwt" && typ != "application/at+jwt" {
        return Err(TokenError::WrongType);
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !ALLOWED_ALGORITHMS.contains(&alg) {
        return Err(TokenError::AlgorithmNotAllowed);
    }
    if header.contains_key("crit") {
        return Err(TokenError::Malformed);
    }
    let kid = match header.get("kid") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        _ => return Err(TokenError::MissingKeyId),
    };
    Ok(Jws {
        alg: alg.to_string(),
        kid,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload: b64(p)?,
        signature: b64(s)?,
    })
}

/// What the claims must match.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// `iss`, compared byte for byte.
    pub issuer: &'a str,
    /// Must be in `aud` (a string or an array of strings).
    pub audience: &'a str,
}

fn time_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.floor() as i64))
            .map(Some)
            .ok_or(TokenError::BadClaim(name)),
        Some(_) => Err(TokenError::BadClaim(name)),
    }
}

fn string_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::BadClaim(name)),
    }
}

fn has_audience(aud: Option<&Value>, expected: &str) -> Result<bool, TokenError> {
    match aud {
        None => Err(TokenError::MissingClaim("aud")),
        Some(Value::String(a)) => Ok(a == expected),
        Some(Value::Array(list)) => Ok(list.iter().any(|a| a.as_str() == Some(expected))),
        Some(_) => Err(TokenError::BadClaim("aud")),
    }
}

/// Scopes from `scope` (space-separated, RFC 9068 §2.2.3) and `scopes` (array, what
/// Scalekit's SDKs read), merged.
pub fn scopes(claims: &Map<String, Value>) -> Result<BTreeSet<String>, TokenError> {
    let mut out = BTreeSet::new();
    match claims.get("scope") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => out.extend(s.split_ascii_whitespace().map(str::to_string)),
        Some(_) => return Err(TokenError::BadClaim("scope")),
    }
    match claims.get("scopes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for s in list {
                let s = s.as_str().ok_or(TokenError::BadClaim("scopes"))?;
                out.insert(s.to_string());
            }
        }
        Some(_) => return Err(TokenError::BadClaim("scopes")),
    }
    Ok(out)
}

/// Checks the claims of a token whose signature has been verified, at unix time `now`.
pub fn check_claims(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
    now: i64,
) -> Result<Principal, TokenError> {
    // RFC 9068 §4: iss MUST exactly match the authorization server's issuer.
    match claims.get("iss") {
        None => return Err(TokenError::MissingClaim("iss")),
        Some(Value::String(iss)) if iss == expected.issuer => {}
        Some(_) => return Err(TokenError::WrongIssuer),
    }
    // RFC 9068 §4: aud MUST contain this resource's identifier (RFC 8707 resource).
    if !has_audience(claims.get("aud"), expected.audience)? {
        return Err(TokenError::WrongAudience);
    }
    let exp = time_claim(claims, "exp")?.ok_or(TokenError::MissingClaim("exp"))?;
    if now >= exp.saturating_add(CLOCK_SKEW) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = time_claim(claims, "nbf")?
        && now.saturating_add(CLOCK_SKEW) < nbf
    {
        return Err(TokenError::NotYetValid);
    }
    if let Some(iat) = time_claim(claims, "iat")?
        && iat > now.saturating_add(CLOCK_SKEW)
    {
        return Err(TokenError::IssuedInFuture);
    }
    let subject = string_claim(claims, "sub")?
        .filter(|s| !s.is_empty())
        .ok_or(TokenError::MissingClaim("sub"))?;
    Ok(Principal {
        subject,
        client_id: string_claim(claims, "client_id")?,
        organization_id: string_claim(claims, "oid")?,
        session_id: string_claim(claims, "sid")?,
        scopes: scopes(claims)?,
    })
}

/// Decodes the (already verified) payload into a claims object.
pub fn claims(payload: &[u8]) -> Result<Map<String, Value>, TokenError> {
    serde_json::from_slice(payload).map_err(|_| TokenError::Malformed)
}
