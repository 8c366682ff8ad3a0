//! The upstream ID token claims the `openidconnect` crate leaves to us: `azp` (OIDC Core
//! §3.1.3.7 ¶5), an `iat` not in the future, and the tenant pins of multi-tenant IdPs
//! (Google's `hd`, Entra's `tid`). Pure: the caller has already had the crate check the
//! signature, `iss`, `aud`, `exp` and `nonce`, and hands over the signed payload.

use std::fmt;

use serde_json::{Map, Value};

/// Clock skew allowed on upstream ID tokens' `iat`.
pub const ID_TOKEN_SKEW: i64 = 60;

/// What an ID token of one connection must say.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedClaims<'a> {
    /// Our client id at the IdP: the only `azp` allowed.
    pub client_id: &'a str,
    /// Google Workspace domain the account must belong to (`hd`), if pinned.
    pub allowed_hd: Option<&'a str>,
    /// Entra tenant the account must belong to (`tid`), if pinned.
    pub allowed_tid: Option<&'a str>,
    /// The current time, unix seconds, on the IdP's clock (real time).
    pub now: i64,
}

/// Why an ID token's claims are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// `azp` is present and names another party (the claim, as JSON).
    AzpNotThisClient(String),
    /// `iat` is missing, not an integer, or later than now plus the skew.
    IatMissingOrInFuture,
    /// `hd` is missing or not the pinned Google Workspace domain (the pinned one).
    HostedDomainNotAllowed(String),
    /// `tid` is missing or not the pinned Entra tenant (the pinned one).
    TenantNotAllowed(String),
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AzpNotThisClient(azp) => write!(f, "ID token azp {azp} is not this client"),
            Self::IatMissingOrInFuture => f.write_str("ID token iat is missing or in the future"),
            Self::HostedDomainNotAllowed(hd) => write!(
                f,
                "the account is not from the allowed Google Workspace domain {hd}"
            ),
            Self::TenantNotAllowed(tid) => {
                write!(f, "the account is not from the allowed Entra tenant {tid}")
            }
        }
    }
}

impl std::error::Error for ClaimError {}

/// Checks the claims of a signature-verified ID token payload, in this order: `azp`, `iat`,
/// `hd`, `tid`.
pub fn check_id_token_claims(
    claims: &Map<String, Value>,
    expected: &ExpectedClaims<'_>,
) -> Result<(), ClaimError> {
    // OIDC Core §3.1.3.7 ¶5: an azp present must be our client id.
    if let Some(azp) = claims.get("azp")
        && azp.as_str() != Some(expected.client_id)
    {
        return Err(ClaimError::AzpNotThisClient(azp.to_string()));
    }
    let iat = claims.get("iat").and_then(Value::as_i64);
    if iat.is_none_or(|iat| iat > expected.now + ID_TOKEN_SKEW) {
        return Err(ClaimError::IatMissingOrInFuture);
    }
    // Multi-tenant IdPs: any Google or Entra account can sign in unless pinned.
    if let Some(hd) = expected.allowed_hd
        && claims.get("hd").and_then(Value::as_str) != Some(hd)
    {
        return Err(ClaimError::HostedDomainNotAllowed(hd.to_string()));
    }
    if let Some(tid) = expected.allowed_tid
        && claims.get("tid").and_then(Value::as_str) != Some(tid)
    {
        return Err(ClaimError::TenantNotAllowed(tid.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn expected() -> ExpectedClaims<'static> {
        ExpectedClaims {
            client_id: "portcullis",
            allowed_hd: None,
            allowed_tid: None,
            now: NOW,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn accepts_a_plain_token() {
        let c = claims(json!({ "sub": "u1", "iat": NOW }));
        assert_eq!(check_id_token_claims(&c, &expected()), Ok(()));
    }

    #[test]
    fn accepts_azp_naming_this_client() {
        let c = claims(json!({ "azp": "portcullis", "iat": NOW }));
        assert_eq!(check_id_token_claims(&c, &expected()), Ok(()));
    }

    #[test]
    fn refuses_azp_naming_another_party() {
        let c = claims(json!({ "azp": "someone-else", "iat": NOW }));
        let e = check_id_token_claims(&c, &expected()).unwrap_err();
        assert_eq!(e, ClaimError::AzpNotThisClient("\"someone-else\"".into()));
        assert_eq!(
            e.to_string(),
            "ID token azp \"someone-else\" is not this client"
        );
        // Not a string at all is not this client either.
        let c = claims(json!({ "azp": 7, "iat": NOW }));
        assert_eq!(
            check_id_token_claims(&c, &expected()),
            Err(ClaimError::AzpNotThisClient("7".into()))
        );
    }

    #[test]
    fn refuses_a_missing_or_non_integer_iat() {
        for c in [json!({}), json!({ "iat": "now" }), json!({ "iat": 1.5 })] {
            let e = check_id_token_claims(&claims(c), &expected()).unwrap_err();
            assert_eq!(e, ClaimError::IatMissingOrInFuture);
            assert_eq!(e.to_string(), "ID token iat is missing or in the future");
        }
    }

    #[test]
    fn allows_iat_within_the_skew_only() {
        let at = |iat: i64| check_id_token_claims(&claims(json!({ "iat": iat })), &expected());
        assert_eq!(at(NOW - 3_600), Ok(()));
        assert_eq!(at(NOW + ID_TOKEN_SKEW), Ok(()));
        assert_eq!(
            at(NOW + ID_TOKEN_SKEW + 1),
            Err(ClaimError::IatMissingOrInFuture)
        );
    }

    #[test]
    fn pins_the_google_workspace_domain() {
        let pinned = ExpectedClaims {
            allowed_hd: Some("acme.example"),
            ..expected()
        };
        let ok = claims(json!({ "iat": NOW, "hd": "acme.example" }));
        assert_eq!(check_id_token_claims(&ok, &pinned), Ok(()));
        for c in [
            json!({ "iat": NOW }),
            json!({ "iat": NOW, "hd": "other.example" }),
        ] {
            let e = check_id_token_claims(&claims(c), &pinned).unwrap_err();
            assert_eq!(e, ClaimError::HostedDomainNotAllowed("acme.example".into()));
            assert_eq!(
                e.to_string(),
                "the account is not from the allowed Google Workspace domain acme.example"
            );
        }
        // Unpinned, any hd (or none) passes.
        let c = claims(json!({ "iat": NOW, "hd": "other.example" }));
        assert_eq!(check_id_token_claims(&c, &expected()), Ok(()));
    }

    #[test]
    fn pins_the_entra_tenant() {
        let pinned = ExpectedClaims {
            allowed_tid: Some("tenant-1"),
            ..expected()
        };
        let ok = claims(json!({ "iat": NOW, "tid": "tenant-1" }));
        assert_eq!(check_id_token_claims(&ok, &pinned), Ok(()));
        for c in [
            json!({ "iat": NOW }),
            json!({ "iat": NOW, "tid": "tenant-2" }),
        ] {
            let e = check_id_token_claims(&claims(c), &pinned).unwrap_err();
            assert_eq!(e, ClaimError::TenantNotAllowed("tenant-1".into()));
            assert_eq!(
                e.to_string(),
                "the account is not from the allowed Entra tenant tenant-1"
            );
        }
    }

    #[test]
    fn checks_in_order_azp_iat_hd_tid() {
        let all_pinned = ExpectedClaims {
            allowed_hd: Some("acme.example"),
            allowed_tid: Some("tenant-1"),
            ..expected()
        };
        let check = |v: Value| check_id_token_claims(&claims(v), &all_pinned);
        assert!(matches!(
            check(json!({ "azp": "x" })),
            Err(ClaimError::AzpNotThisClient(_))
        ));
        assert_eq!(check(json!({})), Err(ClaimError::IatMissingOrInFuture));
        assert!(matches!(
            check(json!({ "iat": NOW })),
            Err(ClaimError::HostedDomainNotAllowed(_))
        ));
        assert!(matches!(
            check(json!({ "iat": NOW, "hd": "acme.example" })),
            Err(ClaimError::TenantNotAllowed(_))
        ));
        assert_eq!(
            check(json!({ "iat": NOW, "hd": "acme.example", "tid": "tenant-1" })),
            Ok(())
        );
    }
}
