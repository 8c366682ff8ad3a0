//! Every check a SAML response must pass, as one blocking function (libxml and xmlsec;
//! callers run it with `spawn_blocking`). A refusal names the check that failed.
//!
//! Order: size, encoding, no DTD or entities, no comments (so `alice@example.com<!---->.evil`
//! cannot read as alice), no encrypted assertions (not supported: refused with a clear
//! message), Status (refusing on an unsigned failure status can only refuse), then samael
//! with SHA-256 or stronger: the signature over the Response or the Assertion by a
//! certificate of this connection's IdP metadata, keeping only the signed element (no
//! signature wrapping), Issuer, Destination, issue instant, Conditions time window,
//! Audience, bearer SubjectConfirmation (Recipient, NotOnOrAfter, InResponseTo). Then what
//! samael leaves optional is required here: an AudienceRestriction naming us, a NameID, and
//! for unsolicited responses no InResponseTo at all.

use base64::Engine;
use chrono::Duration;
use samael::crypto::AllowedSignatureAlgorithm;
use samael::schema::{Assertion, Response};
use samael::service_provider::{Error as SamlError, ServiceProvider};
use serde_json::{Map, Value};

use super::AttributeMapping;
use super::metadata::IdpMetadata;
use crate::federation::{EmailTrust, VerifiedIdentity};

/// Largest `SAMLResponse` accepted (base64 text).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Clock skew allowed on NotBefore / NotOnOrAfter.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// How old a response's IssueInstant may be.
pub const MAX_ISSUE_DELAY_SECS: i64 = 120;

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// What a response is checked against.
pub struct Expected<'a> {
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    pub idp: &'a IdpMetadata,
    /// The ID of our outstanding AuthnRequest; `None` for an unsolicited response.
    pub request_id: Option<&'a str>,
    pub mapping: &'a AttributeMapping,
}

/// A response that passed every check.
#[derive(Debug)]
pub struct Verified {
    pub assertion_id: String,
    /// Until when the assertion ID must be remembered (replays refused until then).
    pub remember_until: i64,
    pub identity: VerifiedIdentity,
}

/// A refused response: the check that failed and what it saw (no assertion content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub check: &'static str,
    pub detail: String,
}

/// Longest detail kept (it may quote unsigned, attacker-chosen text).
const MAX_DETAIL_CHARS: usize = 200;

impl Refusal {
    /// The audit event's reason: `saml check failed: <check>: <detail>`.
    pub fn reason(&self) -> String {
        format!("saml check failed: {}: {}", self.check, self.detail)
    }
}

pub(super) fn refuse(check: &'static str, detail: impl Into<String>) -> Refusal {
    let detail: String = detail.into();
    Refusal {
        check,
        detail: detail
            .chars()
            .take(MAX_DETAIL_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    }
}

/// A DOCTYPE (internal subset, entities) anywhere in a document.
pub fn has_dtd(xml: &str) -> bool {
    let upper = xml.to_ascii_uppercase();
    upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY")
}

/// Why a document is not plain UTF-8 as declared, if it is not: NUL bytes (UTF-16/32),
/// a byte-order mark other than UTF-8's, an XML declaration naming another encoding, or
/// one that is not read strictly by its grammar (a parser recovering from a malformed
/// declaration could still take an encoding from it).
fn foreign_encoding(xml: &str) -> Option<&'static str> {
    let body = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    if body.contains('\0') || body.starts_with('\u{fffe}') {
        return Some("the document is not UTF-8");
    }
    let rest = body.trim_start().strip_prefix("<?xml")?;
    if !rest.starts_with(|c: char| c.is_whitespace() || c == '?') {
        return None; // a processing instruction such as `<?xml-stylesheet …?>`
    }
    match declared_encoding(rest) {
        None => Some("the XML declaration is malformed"),
        Some(Some(e)) if !e.eq_ignore_ascii_case("utf-8") && !e.eq_ignore_ascii_case("utf8") => {
            Some("the document declares an encoding other than UTF-8")
        }
        Some(_) => None,
    }
}

/// XML 1.0 §2.8 XMLDecl after `<?xml`: `version`, then optional `encoding` and
/// `standalone` in that order, each after white space, then `?>`. `None` if malformed,
/// else the encoding named, if any.
fn declared_encoding(decl: &str) -> Option<Option<&str>> {
    fn space(s: &str) -> (&str, bool) {
        let t = s.trim_start_matches([' ', '\t', '\r', '\n']);
        (t, t.len() < s.len())
    }
    /// ` name = 'value'` → (value, rest).
    fn attribute<'a>(s: &'a str, name: &str) -> Option<(&'a str, &'a str)> {
        let (s, has_space) = space(s);
        let s = s.strip_prefix(name).filter(|_| has_space)?;
        let s = space(s).0.strip_prefix('=')?;
        let s = space(s).0;
        let quote = s.chars().next().filter(|q| matches!(q, '"' | '\''))?;
        let (value, rest) = s[1..].split_once(quote)?;
        Some((value, rest))
    }
    let is_name = |v: &str, first: fn(char) -> bool, other: fn(char) -> bool| {
        v.chars().next().is_some_and(first) && v.chars().all(other)
    };
    let (version, mut rest) = attribute(decl, "version")?;
    if !version
        .strip_prefix("1.")
        .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut encoding = None;
    if let Some((value, after)) = attribute(rest, "encoding") {
        let is_enc_name = is_name(
            value,
            |c| c.is_ascii_alphabetic(),
            |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
        );
        if !is_enc_name {
            return None;
        }
        encoding = Some(value);
        rest = after;
    }
    if let Some((value, after)) = attribute(rest, "standalone") {
        if value != "yes" && value != "no" {
            return None;
        }
        rest = after;
    }
    space(rest).0.starts_with("?>").then_some(encoding)
}

/// The local name of the document's root element.
fn root_local_name(xml: &str) -> Option<&str> {
    let mut rest = xml.strip_prefix('\u{feff}').unwrap_or(xml).trim_start();
    // The XML declaration and processing instructions before the root.
    while let Some(pi) = rest.strip_prefix("<?") {
        rest = pi[pi.find("?>")? + 2..].trim_start();
    }
    let tag = rest.strip_prefix('<')?;
    let end = tag.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    let name = &tag[..end];
    Some(name.rsplit_once(':').map_or(name, |(_, local)| local))
}

/// How many start tags have this local name (any prefix).
fn count_elements(xml: &str, local: &str) -> usize {
    xml.match_indices('<')
        .filter(|(i, _)| {
            let tag = &xml[i + 1..];
            let name_end = tag
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(tag.len());
            let name = &tag[..name_end];
            name == local || name.rsplit_once(':').is_some_and(|(_, l)| l == local)
        })
        .count()
}

/// Decodes and checks a base64 `SAMLResponse`.
pub fn verify_response(encoded: &str, expected: &Expected<'_>) -> Result<Verified, Refusal> {
    verify_xml(&decode_response(encoded)?, expected)
}

/// The document of a base64 `SAMLResponse`: bounded in size, UTF-8.
pub fn decode_response(encoded: &str) -> Result<String, Refusal> {
    if encoded.len() > MAX_RESPONSE_BYTES {
        return Err(refuse(
            "size",
            format!("the response is larger than {MAX_RESPONSE_BYTES} bytes"),
        ));
    }
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| refuse("encoding", "SAMLResponse is not base64"))?;
    String::from_utf8(bytes).map_err(|_| refuse("encoding", "not UTF-8"))
}

/// The text checks made before any XML parser sees the document: encoding, DTD, root,
/// comments, assertion count. Pure; a document that passes is read the same way here and
/// by libxml2.
pub fn precheck(xml: &str) -> Result<(), Refusal> {
    // The text checks below read the document as UTF-8: an encoding libxml2 would read
    // differently (UTF-7, UTF-16, a declared other charset) could hide what they look for.
    if let Some(why) = foreign_encoding(xml) {
        return Err(refuse("encoding", why));
    }
    if has_dtd(xml) {
        return Err(refuse("dtd", "the document declares a DTD or entities"));
    }
    if root_local_name(xml) != Some("Response") {
        return Err(refuse("malformed", "the document is not a SAML Response"));
    }
    if xml.contains("<!--") {
        return Err(refuse("comment", "the document contains XML comments"));
    }
    // One assertion, where the profile puts it: a second one (beside, in Extensions, in a
    // ds:Object) is the signature-wrapping family.
    let is_encrypted = xml.contains("EncryptedAssertion");
    let assertions = count_elements(xml, "Assertion");
    if assertions != 1 && !is_encrypted {
        return Err(refuse(
            "assertion_count",
            format!("the response holds {assertions} assertions; exactly one is accepted"),
        ));
    }
    if is_encrypted {
        return Err(refuse(
            "encrypted_assertion",
            "encrypted assertions are not supported; turn assertion encryption off at the IdP",
        ));
    }
    Ok(())
}

/// Checks a decoded response document.
pub fn verify_xml(xml: &str, expected: &Expected<'_>) -> Result<Verified, Refusal> {
    precheck(xml)?;
    // Unsigned content may only make us refuse: a failure status, or an InResponseTo on a
    // response that answers no request of ours.
    if let Ok(response) = xml.parse::<Response>() {
        if let Some(code) = response
            .status
            .and_then(|s| s.status_code.value)
            .filter(|c| c != SUCCESS)
        {
            return Err(refuse("status", format!("the IdP answered {code}")));
        }
        // SAML bindings §3.5.5.2: a signed response names where it was sent.
        let is_signed = response.signature.is_some();
        match response.destination.as_deref() {
            Some(d) if d != expected.acs_url => {
                return Err(refuse(
                    "destination",
                    "the response was sent to another ACS",
                ));
            }
            None if is_signed => {
                return Err(refuse(
                    "destination",
                    "a signed response must name its Destination",
                ));
            }
            _ => {}
        }
        if expected.request_id.is_none() && response.in_response_to.is_some() {
            return Err(refuse(
                "in_response_to",
                "an unsolicited response answers a request this server does not have outstanding",
            ));
        }
    }
    let sp = service_provider(expected);
    // Without signing certificates samael would not check signatures: never get there.
    if !matches!(sp.idp_signing_certs(), Ok(Some(ref c)) if !c.is_empty()) {
        return Err(refuse(
            "signature",
            "the IdP metadata has no signing certificate",
        ));
    }
    let request_ids = expected.request_id.map(|id| [id]);
    let assertion = sp
        .parse_xml_response(xml, request_ids.as_ref().map(|ids| &ids[..]))
        .map_err(|e| samael_refusal(&e))?;
    check_assertion(&assertion, expected)
}

fn service_provider(expected: &Expected<'_>) -> ServiceProvider {
    ServiceProvider {
        entity_id: Some(expected.sp_entity_id.to_string()),
        acs_url: Some(expected.acs_url.to_string()),
        metadata_url: None,
        slo_url: None,
        idp_metadata: expected.idp.descriptor.clone(),
        allow_idp_initiated: expected.request_id.is_none(),
        max_issue_delay: Duration::seconds(MAX_ISSUE_DELAY_SECS),
        max_clock_skew: Duration::seconds(CLOCK_SKEW_SECS),
        allowed_signature_algorithms: Some(vec![
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::RsaSha384,
            AllowedSignatureAlgorithm::RsaSha512,
            AllowedSignatureAlgorithm::EcdsaSha256,
            AllowedSignatureAlgorithm::EcdsaSha384,
            AllowedSignatureAlgorithm::EcdsaSha512,
        ]),
        ..ServiceProvider::default()
    }
}

fn samael_refusal(e: &SamlError) -> Refusal {
    let check = match e {
        SamlError::FailedToValidateSignature => "signature",
        SamlError::DestinationValidationError { .. } => "destination",
        SamlError::AssertionExpired { .. } | SamlError::ResponseExpired { .. } => "issue_instant",
        SamlError::AssertionIssuerMismatch { .. } | SamlError::ResponseIssuerMismatch { .. } => {
            "issuer"
        }
        SamlError::AssertionConditionExpired { .. }
        | SamlError::AssertionSubjectConfirmationExpired { .. } => "not_on_or_after",
        SamlError::AssertionConditionExpiredBefore { .. }
        | SamlError::AssertionSubjectConfirmationExpiredBefore { .. } => "not_before",
        SamlError::AssertionConditionAudienceRestrictionFailed { .. } => "audience",
        SamlError::AssertionRecipientMismatch { .. } => "recipient",
        SamlError::AssertionInResponseToInvalid { .. }
        | SamlError::ResponseInResponseToInvalid { .. } => "in_response_to",
        SamlError::ResponseBadStatusCode { .. } => "status",
        SamlError::AssertionBearerSubjectConfirmationMissing
        | SamlError::AssertionSubjectConfirmationMissing => "subject_confirmation",
        SamlError::EncryptedAssertionsNotYetSupported
        | SamlError::MissingPrivateKeySP
        | SamlError::FailedToDecryptAssertion => "encrypted_assertion",
        _ => "malformed",
    };
    refuse(check, e.to_string())
}

/// What samael leaves optional, required; then the identity.
fn check_assertion(assertion: &Assertion, expected: &Expected<'_>) -> Result<Verified, Refusal> {
    let audiences = assertion
        .conditions
        .as_ref()
        .and_then(|c| c.audience_restrictions.as_ref());
    let names_us = audiences.is_some_and(|rs| {
        !rs.is_empty()
            && rs
                .iter()
                .all(|r| r.audience.iter().any(|a| a == expected.sp_entity_id))
    });
    if !names_us {
        return Err(refuse(
            "audience",
            "the assertion has no AudienceRestriction naming this service provider",
        ));
    }
    let confirmations: Vec<_> = assertion
        .subject
        .as_ref()
        .and_then(|s| s.subject_confirmations.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.subject_confirmation_data.as_ref())
        .collect();
    if expected.request_id.is_none() && confirmations.iter().any(|d| d.in_response_to.is_some()) {
        return Err(refuse(
            "in_response_to",
            "an unsolicited response answers a request this server does not have outstanding",
        ));
    }
    let name_id = assertion
        .subject
        .as_ref()
        .and_then(|s| s.name_id.as_ref())
        .filter(|n| !n.value.trim().is_empty())
        .ok_or_else(|| refuse("subject", "the assertion has no NameID"))?;
    let until = [
        assertion
            .conditions
            .as_ref()
            .and_then(|c| c.not_on_or_after)
            .map(|t| t.timestamp()),
        Some(assertion.issue_instant.timestamp() + MAX_ISSUE_DELAY_SECS),
    ]
    .into_iter()
    .chain(
        confirmations
            .iter()
            .map(|d| d.not_on_or_after.map(|t| t.timestamp())),
    )
    .flatten()
    .max()
    .unwrap_or_default();
    Ok(Verified {
        assertion_id: assertion.id.clone(),
        remember_until: until + CLOCK_SKEW_SECS,
        identity: identity(assertion, name_id, expected.mapping),
    })
}

/// Attributes by `Name` (and `FriendlyName`): single values as strings, several as arrays.
fn identity(
    assertion: &Assertion,
    name_id: &samael::schema::SubjectNameID,
    mapping: &AttributeMapping,
) -> VerifiedIdentity {
    let mut values: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for attribute in assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| s.attributes.iter())
    {
        let names = [attribute.name.clone(), attribute.friendly_name.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        let vs = attribute
            .values
            .iter()
            .filter_map(|v| v.value.as_deref())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>();
        values.push((names, vs));
    }
    let lookup = |key: &str| -> Vec<String> {
        values
            .iter()
            .filter(|(names, _)| names.iter().any(|n| n == key))
            .flat_map(|(_, vs)| vs.iter().cloned())
            .collect()
    };
    let mut attributes = Map::new();
    for (names, vs) in &values {
        if let Some(name) = names.first() {
            let v = match vs.as_slice() {
                [one] => Value::String(one.clone()),
                many => Value::Array(many.iter().cloned().map(Value::String).collect()),
            };
            attributes.insert(name.clone(), v);
        }
    }
    let subject = name_id.value.trim().to_string();
    let email = lookup(&mapping.email)
        .into_iter()
        .next()
        .or_else(|| {
            (name_id.format.as_deref() == Some(EMAIL_FORMAT) || subject.contains('@'))
                .then(|| subject.clone())
        })
        .map(|e| e.to_ascii_lowercase());
    VerifiedIdentity {
        subject,
        email_trust: if email.is_some() {
            EmailTrust::OrganizationDomains
        } else {
            EmailTrust::Unverified
        },
        email,
        name: lookup(&mapping.name).into_iter().next(),
        groups: lookup(&mapping.groups),
        attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_start_tags_by_local_name() {
        let xml = "<p:Response><saml:Assertion ID='a'><x/></saml:Assertion><Assertion/><saml:AssertionX/></p:Response>";
        assert_eq!(count_elements(xml, "Assertion"), 2);
        assert_eq!(count_elements("<a>text</a>", "Assertion"), 0);
    }

    #[test]
    fn only_utf8_documents_rooted_at_a_response() {
        assert_eq!(
            foreign_encoding("<?xml version=\"1.0\" encoding=\"UTF-8\"?><r/>"),
            None
        );
        assert_eq!(
            foreign_encoding("<?xml version='1.0' encoding = 'utf-8'?><r/>"),
            None
        );
        assert_eq!(foreign_encoding("<r/>"), None);
        assert!(
            foreign_encoding("<?xml version=\"1.0\" encoding=\"UTF-7\"?>+ADw-r/+AD4-").is_some()
        );
        assert!(foreign_encoding("<?xml version='1.0' encoding='ISO-8859-1'?><r/>").is_some());
        assert!(foreign_encoding("<\0r\0/\0>").is_some());
        assert_eq!(
            root_local_name("<?xml version='1.0'?>\n<samlp:Response ID='x'>"),
            Some("Response")
        );
        assert_eq!(root_local_name("<Response/>"), Some("Response"));
        assert_eq!(
            root_local_name("<wrapper><samlp:Response/></wrapper>"),
            Some("wrapper")
        );
        assert_eq!(root_local_name("text"), None);
    }

    #[test]
    fn declarations_are_read_strictly() {
        // Found by fuzz_saml_precheck: only the first `encoding` was looked at, and only
        // when spelled and placed as the grammar says; a recovering parser may read more.
        for bad in [
            "<?xml version=\"1.0\" ENCODING=\"UTF-7\" ?><Response/>",
            "<?xml version=\"1.0\" encodingx=\"utf-8\" encoding=\"UTF-7\"?><Response/>",
            "<?xml version=\"1.0encoding\" encoding='UTF-7'?><Response/>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\" encoding=\"UTF-7\"?><Response/>",
            "<?xml version=\"1.0\" standalone='no' encoding='UTF-7'?><Response/>",
            "<?xml version=\"1.0\" encoding=\"UTF-7\"<Response/>",
            "<?xml encoding=\"UTF-7\"?><Response/>",
            "<?xml version=\"1.0\"encoding=\"UTF-8\"?><Response/>",
        ] {
            assert!(foreign_encoding(bad).is_some(), "{bad}");
        }
        for good in [
            "<?xml version=\"1.0\"?><Response/>",
            "<?xml version='1.0' encoding = 'utf-8' standalone=\"yes\" ?><Response/>",
            "<?xml\tversion=\"1.1\"\nencoding=\"UTF8\"?><Response/>",
            "<?xml-stylesheet href='x'?><Response/>",
        ] {
            assert_eq!(foreign_encoding(good), None, "{good}");
        }
    }

    #[test]
    fn dtds_are_seen_in_any_case() {
        assert!(has_dtd("<!doctype x><x/>"));
        assert!(has_dtd("<x><!ENTITY a 'b'></x>"));
        assert!(!has_dtd("<x>DOCTYPE</x>"));
    }
}
