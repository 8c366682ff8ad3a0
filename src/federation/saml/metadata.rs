//! IdP metadata (inline XML or a URL the admin configured, cached) and our SP metadata.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::pages::PageCode;
use crate::pages::PagePath;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use samael::service_provider::ServiceProvider;

pub use crate::caches::saml::IdpMetadata;

use super::{SamlSettings, settings};
use crate::pages::PageError;
use crate::state::AppState;

/// Largest metadata document read.
const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// How long a fetched metadata document is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(600);

/// Parses and checks IdP metadata: an `EntityDescriptor` with an entity id, an
/// HTTP-Redirect SSO endpoint and at least one signing certificate (without one samael
/// would not check signatures at all, so such metadata is refused here).
pub fn parse_idp_metadata(xml: &str) -> Result<IdpMetadata, String> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(format!(
            "the metadata is larger than {MAX_METADATA_BYTES} bytes"
        ));
    }
    if super::verify::has_dtd(xml) {
        return Err("the metadata declares a DTD or entities, which are refused".into());
    }
    let descriptor = EntityDescriptor::from_str(xml)
        .map_err(|e| format!("the metadata is not a SAML EntityDescriptor: {e}"))?;
    let entity_id = descriptor
        .entity_id
        .clone()
        .filter(|e| !e.is_empty())
        .ok_or("the metadata has no entityID")?;
    let sp = ServiceProvider {
        idp_metadata: descriptor.clone(),
        ..ServiceProvider::default()
    };
    let sso_redirect_url = sp
        .sso_binding_location(HTTP_REDIRECT_BINDING)
        .ok_or("the metadata has no SingleSignOnService for the HTTP-Redirect binding")?;
    let signing_certificates = sp
        .idp_signing_certs()
        .map_err(|e| format!("a certificate in the metadata cannot be read: {e}"))?
        .map(|c| c.len())
        .unwrap_or(0);
    if signing_certificates == 0 {
        return Err("the metadata lists no signing certificate".into());
    }
    Ok(IdpMetadata {
        entity_id,
        descriptor,
        sso_redirect_url,
        signing_certificates,
    })
}

/// After a response signed by a certificate the cached metadata does not list: the
/// metadata fetched again from its URL (rate-limited), when that is allowed now.
pub async fn refetch_idp_metadata(app: &AppState, s: &SamlSettings) -> Option<Arc<IdpMetadata>> {
    let url = s.idp_metadata_url.as_deref()?;
    if s.idp_metadata_xml.is_some() || !app.saml.claim_refetch(&s.connection_id) {
        return None;
    }
    match fetch_idp_metadata(&app.http, url).await {
        Ok(m) => {
            let m = Arc::new(m);
            app.saml.put(&s.connection_id, url, m.clone());
            Some(m)
        }
        Err(why) => {
            tracing::warn!(connection = %s.connection_id, reason = %why, "SAML IdP metadata refetch failed");
            None
        }
    }
}

/// The IdP metadata of a connection: inline, or fetched from its URL (an address the
/// admin configured, so private hosts are allowed) and kept ten minutes.
pub async fn idp_metadata(app: &AppState, s: &SamlSettings) -> Result<Arc<IdpMetadata>, String> {
    if let Some(xml) = &s.idp_metadata_xml {
        let source = crate::crypto::hash_secret(xml);
        if let Some(m) = app.saml.get(&s.connection_id, &source, None) {
            return Ok(m);
        }
        let m = Arc::new(parse_idp_metadata(xml)?);
        app.saml.put(&s.connection_id, &source, m.clone());
        return Ok(m);
    }
    let url = s
        .idp_metadata_url
        .as_deref()
        .ok_or("the connection has neither idp_metadata_url nor idp_metadata_xml")?;
    if let Some(m) = app.saml.get(&s.connection_id, url, Some(METADATA_TTL)) {
        return Ok(m);
    }
    let m = Arc::new(fetch_idp_metadata(&app.http, url).await?);
    app.saml.put(&s.connection_id, url, m.clone());
    Ok(m)
}

/// Fetches and checks IdP metadata from a URL.
pub async fn fetch_idp_metadata(http: &reqwest::Client, url: &str) -> Result<IdpMetadata, String> {
    let response = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("fetching the IdP metadata failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "fetching the IdP metadata answered HTTP {}",
            response.status()
        ));
    }
    let body = crate::outbound::read_capped(response, MAX_METADATA_BYTES).await?;
    let xml = String::from_utf8(body).map_err(|_| "the IdP metadata is not UTF-8")?;
    parse_idp_metadata(&xml)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Our SP metadata: entity id, ACS (HTTP-POST), signed assertions wanted, NameID format.
pub fn sp_metadata_xml(s: &SamlSettings) -> String {
    let name_id = s
        .name_id_format
        .as_deref()
        .map(|f| format!("\n    <md:NameIDFormat>{}</md:NameIDFormat>", escape(f)))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{name_id}
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = escape(&s.sp_entity_id),
        acs = escape(&s.acs_url),
    )
}

/// `GET /sso/v1/saml/{conn}/metadata`: the SP metadata to hand to the IdP's admin.
pub async fn get_sp_metadata(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
) -> Response {
    match app.store.find_connection(&conn).await {
        Ok(Some(c)) if c.kind == crate::store::ConnectionKind::Saml => {
            let xml = sp_metadata_xml(&settings(app.issuer(), &c));
            let mut r = (StatusCode::OK, xml).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/samlmetadata+xml"),
            );
            r
        }
        Ok(_) => PageError::new(
            StatusCode::NOT_FOUND,
            PageCode::UnknownConnection,
            "Unknown connection",
            "No SAML connection has this id.",
        )
        .into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sp_metadata_escapes_and_names_the_acs() {
        let s = SamlSettings {
            connection_id: "c".into(),
            idp_metadata_url: None,
            idp_metadata_xml: None,
            sp_entity_id: "urn:sp:\"x\"&<y>".into(),
            acs_url: "https://a.example/sso/v1/saml/c/acs".into(),
            mapping: super::super::AttributeMapping {
                email: "email".into(),
                name: "name".into(),
                groups: "groups".into(),
            },
            name_id_format: None,
            allow_idp_initiated: false,
            idp_initiated_redirect: None,
        };
        let xml = sp_metadata_xml(&s);
        assert!(xml.contains(r#"entityID="urn:sp:&quot;x&quot;&amp;&lt;y&gt;""#));
        assert!(xml.contains(r#"Location="https://a.example/sso/v1/saml/c/acs""#));
        let parsed = EntityDescriptor::from_str(&xml).expect("well-formed");
        assert_eq!(parsed.entity_id.as_deref(), Some("urn:sp:\"x\"&<y>"));
    }

    #[test]
    fn idp_metadata_needs_a_signing_certificate_and_no_dtd() {
        let no_cert = r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:idp"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></IDPSSODescriptor></EntityDescriptor>"#;
        let e = parse_idp_metadata(no_cert).unwrap_err();
        assert!(e.contains("no signing certificate"), "{e}");
        let dtd = format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{no_cert}");
        assert!(parse_idp_metadata(&dtd).unwrap_err().contains("DTD"));
        assert!(parse_idp_metadata("<nope/>").is_err());
    }
}
