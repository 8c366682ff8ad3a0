//! Upstream claims → a [`VerifiedIdentity`]: which claim names hold the email, the name and
//! the groups, and how groups arrive (an array, a single string, or — Entra ID's "group
//! overage" — not at all, with `_claim_names.groups` pointing at Graph).

use base64::Engine;
use serde_json::{Map, Value};

use super::{EmailTrust, EmailVerifiedTrust, VerifiedIdentity};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    pub email: String,
    pub name: String,
    pub groups: String,
    pub email_verified_trust: EmailVerifiedTrust,
}

impl ClaimMapping {
    pub fn from_settings(s: &Value) -> Self {
        let text = |k: &str, d: &str| s.get(k).and_then(Value::as_str).unwrap_or(d).to_string();
        Self {
            email: text("email_claim", "email"),
            name: text("name_claim", "name"),
            groups: text("groups_claim", "groups"),
            email_verified_trust: EmailVerifiedTrust::from_settings(s),
        }
    }
}

/// The payload of a compact JWT (the caller has verified its signature).
pub fn jwt_payload(jwt: &str) -> Option<Map<String, Value>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Entra ID sends `_claim_names: { groups: "src1" }` instead of groups when a user is in
/// too many groups. portcullis does not call Microsoft Graph: such a user gets no groups
/// (fail closed); configure the app registration to emit only assigned groups instead.
pub fn has_group_overage(claims: &Map<String, Value>, groups_claim: &str) -> bool {
    claims
        .get("_claim_names")
        .and_then(|n| n.get(groups_claim))
        .is_some()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The identity of verified claims; `None` without a subject.
pub fn identity(claims: &Map<String, Value>, mapping: &ClaimMapping) -> Option<VerifiedIdentity> {
    let subject = claims.get("sub")?.as_str()?.to_string();
    let email = claims
        .get(&mapping.email)
        .and_then(Value::as_str)
        .map(|e| e.trim().to_ascii_lowercase());
    let is_verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    let email_trust = match (is_verified, mapping.email_verified_trust) {
        (false, _) => EmailTrust::Unverified,
        (true, EmailVerifiedTrust::AnyDomain) => EmailTrust::Verified,
        (true, EmailVerifiedTrust::OrganizationDomains) => EmailTrust::OrganizationDomains,
    };
    Some(VerifiedIdentity {
        subject,
        email,
        email_trust,
        name: claims
            .get(&mapping.name)
            .and_then(Value::as_str)
            .map(str::to_string),
        groups: strings(claims.get(&mapping.groups)),
        attributes: claims.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn maps_standard_claims_and_group_shapes() {
        let m = ClaimMapping::from_settings(&json!({}));
        let id = identity(&map(json!({ "sub": "u1", "email": "Alice@Example.COM", "email_verified": true, "name": "Alice", "groups": ["a", "b"] })), &m).unwrap();
        assert_eq!(id.email.as_deref(), Some("alice@example.com"));
        assert_eq!(id.email_trust, EmailTrust::OrganizationDomains);
        assert_eq!(id.groups, ["a", "b"]);
        let id = identity(&map(json!({ "sub": "u1", "groups": "a, b" })), &m).unwrap();
        assert_eq!(id.groups, ["a", "b"]);
        assert_eq!(
            id.email_trust,
            EmailTrust::Unverified,
            "unverified unless the IdP says so"
        );
        assert!(
            identity(&map(json!({ "email": "x@y.z" })), &m).is_none(),
            "no subject, no identity"
        );
    }

    #[test]
    fn custom_claim_names_and_entra_overage() {
        let m =
            ClaimMapping::from_settings(&json!({ "groups_claim": "roles", "email_claim": "upn" }));
        let id = identity(
            &map(json!({ "sub": "u1", "upn": "bob@corp.example", "roles": ["r1"] })),
            &m,
        )
        .unwrap();
        assert_eq!(id.email.as_deref(), Some("bob@corp.example"));
        assert_eq!(id.groups, ["r1"]);
        let over = map(json!({ "sub": "u1", "_claim_names": { "groups": "src1" } }));
        assert!(has_group_overage(&over, "groups"));
        assert!(
            identity(&over, &ClaimMapping::from_settings(&json!({})))
                .unwrap()
                .groups
                .is_empty()
        );
    }

    #[test]
    fn email_verified_counts_only_in_the_organizations_domains_unless_trusted_for_any() {
        let claims =
            map(json!({ "sub": "u1", "email": "victim@other.example", "email_verified": true }));
        let by_default = identity(&claims, &ClaimMapping::from_settings(&json!({}))).unwrap();
        assert_eq!(
            by_default.email_trust,
            EmailTrust::OrganizationDomains,
            "an upstream IdP is no authority for another company's addresses"
        );
        let explicit =
            ClaimMapping::from_settings(&json!({ "trust_email_verified": "organization_domains" }));
        assert_eq!(
            identity(&claims, &explicit).unwrap().email_trust,
            EmailTrust::OrganizationDomains
        );
        let any = ClaimMapping::from_settings(&json!({ "trust_email_verified": "any_domain" }));
        assert_eq!(
            identity(&claims, &any).unwrap().email_trust,
            EmailTrust::Verified
        );
        let unverified =
            map(json!({ "sub": "u1", "email": "a@b.example", "email_verified": false }));
        assert_eq!(
            identity(&unverified, &any).unwrap().email_trust,
            EmailTrust::Unverified
        );
    }
}
