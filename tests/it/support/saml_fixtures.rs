//! SAML responses made at test time, signed with Debian's `xmlsec1` (an independent XML
//! signature implementation) by test keys: the good shape, and every bad one of the attack
//! set. Times are relative to now (samael checks the system clock).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use base64::Engine;

use crate::support::saml_idp::{cert_body, make_cert};

pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// A signing key (and its certificate) of a test IdP.
pub struct Key {
    pub crt: PathBuf,
    pub key: PathBuf,
}

impl Key {
    pub fn new(dir: &Path, name: &str) -> Key {
        let (crt, key) = make_cert(dir, name);
        Key { crt, key }
    }
    pub fn cert_b64(&self) -> String {
        cert_body(&self.crt)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Alg {
    Sha256,
    Sha1,
}

/// IdP metadata with these signing certificates and an SSO endpoint nobody calls.
pub fn idp_metadata(entity_id: &str, keys: &[&Key]) -> String {
    let kds: String = keys
        .iter()
        .map(|k| {
            format!(
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
                k.cert_b64()
            )
        })
        .collect();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{kds}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://127.0.0.1:9/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
    )
}

/// Everything a response says; [`Response::good`] is what a correct IdP sends.
#[derive(Clone, Debug)]
pub struct Response {
    pub issuer: String,
    pub destination: Option<String>,
    pub response_id: String,
    pub in_response_to: Option<String>,
    pub status: String,
    pub assertion_id: String,
    pub name_id: String,
    pub audience: String,
    pub recipient: String,
    /// Seconds from now.
    pub issue_instant: i64,
    pub not_before: i64,
    pub not_on_or_after: i64,
    pub groups: Vec<String>,
    pub email: String,
}

fn ts(offset: i64) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + offset;
    let secs_per_day = 86_400;
    let days = t.div_euclid(secs_per_day);
    let rem = t.rem_euclid(secs_per_day);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn id() -> String {
    format!("_{}", portcullis::crypto::random_token().replace('-', "x"))
}

impl Response {
    pub fn good(issuer: &str, sp_entity_id: &str, acs: &str, in_response_to: Option<&str>) -> Self {
        Response {
            issuer: issuer.into(),
            destination: Some(acs.into()),
            response_id: id(),
            in_response_to: in_response_to.map(str::to_string),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            assertion_id: id(),
            name_id: "alice@example.com".into(),
            audience: sp_entity_id.into(),
            recipient: acs.into(),
            issue_instant: 0,
            not_before: -30,
            not_on_or_after: 300,
            groups: vec!["jira-admins".into(), "eng".into()],
            email: "alice@example.com".into(),
        }
    }

    /// The assertion, with a signature template when it is to be signed.
    pub fn assertion(&self, signed: Option<Alg>) -> String {
        let irt = self
            .in_response_to
            .as_deref()
            .map(|i| format!(r#" InResponseTo="{i}""#))
            .unwrap_or_default();
        let groups: String = self
            .groups
            .iter()
            .map(|g| format!("<saml:AttributeValue>{g}</saml:AttributeValue>"))
            .collect();
        let sig = signed
            .map(|a| template(&self.assertion_id, a))
            .unwrap_or_default();
        format!(
            r#"<saml:Assertion xmlns:saml="{SAML}" ID="{aid}" Version="2.0" IssueInstant="{ii}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{name_id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{noa}" Recipient="{recipient}"{irt}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{ii}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>{email}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups">{groups}</saml:Attribute></saml:AttributeStatement></saml:Assertion>"#,
            aid = self.assertion_id,
            ii = ts(self.issue_instant),
            issuer = self.issuer,
            name_id = self.name_id,
            noa = ts(self.not_on_or_after),
            nb = ts(self.not_before),
            recipient = self.recipient,
            audience = self.audience,
            email = self.email,
        )
    }

    /// The response around `assertion_xml` (already signed or not).
    pub fn wrap(&self, assertion_xml: &str, signed: Option<Alg>) -> String {
        let dest = self
            .destination
            .as_deref()
            .map(|d| format!(r#" Destination="{d}""#))
            .unwrap_or_default();
        let irt = self
            .in_response_to
            .as_deref()
            .map(|i| format!(r#" InResponseTo="{i}""#))
            .unwrap_or_default();
        let sig = signed
            .map(|a| template(&self.response_id, a))
            .unwrap_or_default();
        format!(
            r#"<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{rid}" Version="2.0" IssueInstant="{ii}"{dest}{irt}><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{assertion_xml}</samlp:Response>"#,
            rid = self.response_id,
            ii = ts(self.issue_instant),
            issuer = self.issuer,
            status = self.status,
        )
    }

    /// Signed assertion (and response when `sign_response`), by `key` with `alg`.
    pub fn signed(&self, key: &Key, alg: Alg, sign_response: bool) -> String {
        let assertion = sign(&self.assertion(Some(alg)), key, "Assertion");
        if sign_response {
            sign(&self.wrap(&assertion, Some(alg)), key, "Response")
        } else {
            self.wrap(&assertion, None)
        }
    }
}

fn template(id: &str, alg: Alg) -> String {
    let (sm, dm) = match alg {
        Alg::Sha256 => (
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
        Alg::Sha1 => (
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            "http://www.w3.org/2000/09/xmldsig#sha1",
        ),
    };
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{sm}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{dm}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate></ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##
    )
}

/// Signs the first signature template of a document (its `ID` attributes declared on
/// SAML Assertion and Response elements) with `xmlsec1`.
pub fn sign(xml: &str, key: &Key, what: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.xml");
    std::fs::write(&input, xml).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .arg("--sign")
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.key.display(), key.crt.display()))
        .args(["--id-attr:ID", &format!("{SAML}:Assertion")])
        .args(["--id-attr:ID", &format!("{SAMLP}:Response")])
        .args([
            "--node-xpath",
            &format!("(//*[local-name()='{what}'])[1]/*[local-name()='Signature']"),
        ])
        .arg(&input)
        .output()
        .expect("run xmlsec1 (apt-get install xmlsec1)");
    assert!(
        out.status.success(),
        "xmlsec1 --sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = String::from_utf8(out.stdout).unwrap();
    // xmlsec1 writes an XML declaration: keep the element only, so documents can be nested.
    match signed.find("?>") {
        Some(i) if signed.starts_with("<?xml") => signed[i + 2..].trim().to_string(),
        _ => signed.trim().to_string(),
    }
}

/// Whether `xmlsec1` finds the first signature of `what` valid under `key`'s certificate:
/// the control that a refused fixture's signature is sound, so that the refusal is about
/// what the test says (algorithm, issuer, comment) and not a broken signature.
pub fn xmlsec_verifies(xml: &str, key: &Key, what: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.xml");
    std::fs::write(&input, xml).unwrap();
    std::process::Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(&key.crt)
        .args(["--id-attr:ID", &format!("{SAML}:Assertion")])
        .args(["--id-attr:ID", &format!("{SAMLP}:Response")])
        .args([
            "--node-xpath",
            &format!("(//*[local-name()='{what}'])[1]/*[local-name()='Signature']"),
        ])
        .arg(&input)
        .output()
        .expect("run xmlsec1")
        .status
        .success()
}

pub fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}
