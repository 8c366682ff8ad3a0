//! Planning a connection (`[[organizations.connections]]`, and the admin's connection
//! form): per-kind keys checked, upstream secrets sealed with the connection id as
//! associated data.

use serde_json::{Map, Value, json};

use super::{PlanContext, check_url, id_or_derived, secret_from};
use crate::seed::SeedError;
use crate::seed::file::ConnectionEntry;
use crate::store::EmailVerifiedTrust;
use crate::store::{Connection, ConnectionKind};

/// The connection setting naming the application's IdP-initiated login URL.
pub const INITIATE_LOGIN_URI: &str = "initiate_login_uri";
/// The connection settings trusting its IdP for identity assertion grants.
pub const XAA_ISSUER: &str = "xaa_issuer";
pub const XAA_JWKS_URI: &str = "xaa_jwks_uri";

/// The connection an entry describes, for organization `org`, its upstream secret sealed;
/// or the first rule it breaks.
pub fn plan_connection(
    entry: &str,
    org: &str,
    c: ConnectionEntry,
    ctx: &PlanContext<'_>,
) -> Result<Connection, SeedError> {
    let oidc_keys = [
        ("issuer", c.issuer.is_some()),
        ("client_id", c.client_id.is_some()),
        (
            "client_secret",
            c.client_secret.is_some()
                || c.client_secret_env.is_some()
                || c.client_secret_file.is_some(),
        ),
        ("scopes", c.scopes.is_some()),
        ("groups_claim", c.groups_claim.is_some()),
        ("email_claim", c.email_claim.is_some()),
        ("name_claim", c.name_claim.is_some()),
        ("allowed_hd", c.allowed_hd.is_some()),
        ("allowed_tid", c.allowed_tid.is_some()),
        ("trust_email_verified", c.trust_email_verified.is_some()),
    ];
    let saml_keys = [
        ("idp_metadata_url", c.idp_metadata_url.is_some()),
        ("idp_metadata_xml", c.idp_metadata_xml.is_some()),
        ("sp_entity_id", c.sp_entity_id.is_some()),
        ("groups_attribute", c.groups_attribute.is_some()),
        ("email_attribute", c.email_attribute.is_some()),
        ("allow_idp_initiated", c.allow_idp_initiated.is_some()),
        ("name_attribute", c.name_attribute.is_some()),
        ("name_id_format", c.name_id_format.is_some()),
        ("idp_initiated_redirect", c.idp_initiated_redirect.is_some()),
    ];
    let custom_keys = [("login_url", c.login_url.is_some())];
    let foreign = |keys: &[(&str, bool)]| {
        keys.iter()
            .find(|(_, set)| *set)
            .map(|(k, _)| k.to_string())
    };
    let kind = ConnectionKind::parse(&c.kind).ok_or_else(|| {
        SeedError::new(
            entry,
            "kind",
            format!("`{}` is not idp_simulator, oidc, saml or custom", c.kind),
        )
    })?;
    let mut settings = Map::new();
    let natural = match kind {
        ConnectionKind::IdpSimulator => {
            if let Some(k) = foreign(&oidc_keys)
                .or_else(|| foreign(&saml_keys))
                .or_else(|| foreign(&custom_keys))
            {
                return Err(SeedError::new(
                    entry,
                    &k,
                    "does not apply to an idp_simulator connection",
                ));
            }
            format!("{org}|idp_simulator")
        }
        ConnectionKind::Oidc => {
            if let Some(k) = foreign(&saml_keys).or_else(|| foreign(&custom_keys)) {
                return Err(SeedError::new(
                    entry,
                    &k,
                    "does not apply to an oidc connection",
                ));
            }
            let issuer = c
                .issuer
                .clone()
                .ok_or_else(|| SeedError::new(entry, "issuer", "is required for oidc"))?;
            check_url(entry, "issuer", &issuer)?;
            let client_id = c
                .client_id
                .clone()
                .ok_or_else(|| SeedError::new(entry, "client_id", "is required for oidc"))?;
            let secret = secret_from(
                entry,
                ctx,
                ("client_secret", "client_secret_env", "client_secret_file"),
                (
                    &c.client_secret,
                    &c.client_secret_env,
                    &c.client_secret_file,
                ),
            )?;
            settings.insert("issuer".into(), json!(issuer));
            settings.insert("client_id".into(), json!(client_id));
            settings.insert(
                "scopes".into(),
                json!(c.scopes.clone().unwrap_or_else(|| vec![
                    "openid".into(),
                    "email".into(),
                    "profile".into()
                ])),
            );
            settings.insert(
                "groups_claim".into(),
                json!(c.groups_claim.clone().unwrap_or_else(|| "groups".into())),
            );
            for (key, value) in [
                ("email_claim", &c.email_claim),
                ("name_claim", &c.name_claim),
                ("allowed_hd", &c.allowed_hd),
                ("allowed_tid", &c.allowed_tid),
            ] {
                if let Some(v) = value {
                    settings.insert(key.into(), json!(v));
                }
            }
            if let Some(v) = &c.trust_email_verified {
                let trust = EmailVerifiedTrust::parse(v).ok_or_else(|| {
                    SeedError::new(
                        entry,
                        EmailVerifiedTrust::KEY,
                        "must be \"organization_domains\" or \"any_domain\"",
                    )
                })?;
                settings.insert(EmailVerifiedTrust::KEY.into(), json!(trust.as_str()));
            }
            // Multi-tenant IdPs: without a tenant pin, any company's account would do.
            if let Some(key) =
                missing_tenant_pin(&issuer, c.allowed_hd.is_some(), c.allowed_tid.is_some())
            {
                return Err(SeedError::new(
                    entry,
                    key,
                    format!(
                        "`{issuer}` serves many tenants; pin this connection to yours with {key}"
                    ),
                ));
            }
            if let Some(s) = secret {
                settings.insert("client_secret_sealed".into(), json!(s));
            }
            format!("{org}|oidc|{issuer}|{client_id}")
        }
        ConnectionKind::Saml => {
            if let Some(k) = foreign(&oidc_keys).or_else(|| foreign(&custom_keys)) {
                return Err(SeedError::new(
                    entry,
                    &k,
                    "does not apply to a saml connection",
                ));
            }
            match (&c.idp_metadata_url, &c.idp_metadata_xml) {
                (Some(u), None) => {
                    check_url(entry, "idp_metadata_url", u)?;
                    settings.insert("idp_metadata_url".into(), json!(u));
                }
                (None, Some(x)) => {
                    crate::federation::saml::metadata::parse_idp_metadata(x)
                        .map_err(|e| SeedError::new(entry, "idp_metadata_xml", e))?;
                    settings.insert("idp_metadata_xml".into(), json!(x));
                }
                _ => {
                    return Err(SeedError::new(
                        entry,
                        "idp_metadata_url",
                        "set exactly one of idp_metadata_url, idp_metadata_xml",
                    ));
                }
            }
            if let Some(v) = &c.sp_entity_id {
                settings.insert("sp_entity_id".into(), json!(v));
            }
            settings.insert(
                "groups_attribute".into(),
                json!(
                    c.groups_attribute
                        .clone()
                        .unwrap_or_else(|| "groups".into())
                ),
            );
            settings.insert(
                "email_attribute".into(),
                json!(c.email_attribute.clone().unwrap_or_else(|| "email".into())),
            );
            settings.insert(
                "allow_idp_initiated".into(),
                json!(c.allow_idp_initiated.unwrap_or(false)),
            );
            for (key, value) in [
                ("name_attribute", &c.name_attribute),
                ("name_id_format", &c.name_id_format),
            ] {
                if let Some(v) = value {
                    settings.insert(key.into(), json!(v));
                }
            }
            if let Some(to) = &c.idp_initiated_redirect {
                if !crate::federation::saml::is_local_target(to) {
                    return Err(SeedError::new(
                        entry,
                        "idp_initiated_redirect",
                        "must be a path on this server, such as /welcome",
                    ));
                }
                settings.insert("idp_initiated_redirect".into(), json!(to));
            }
            let entity = c
                .idp_metadata_xml
                .as_deref()
                .and_then(|x| crate::federation::saml::metadata::parse_idp_metadata(x).ok())
                .map(|m| m.entity_id);
            format!(
                "{org}|saml|{}",
                c.idp_metadata_url.clone().or(entity).unwrap_or_default()
            )
        }
        ConnectionKind::Custom => {
            if let Some(k) = foreign(&oidc_keys).or_else(|| foreign(&saml_keys)) {
                return Err(SeedError::new(
                    entry,
                    &k,
                    "does not apply to a custom connection",
                ));
            }
            let login_url = c
                .login_url
                .clone()
                .ok_or_else(|| SeedError::new(entry, "login_url", "is required for custom"))?;
            check_url(entry, "login_url", &login_url)?;
            settings.insert("login_url".into(), json!(login_url));
            format!("{org}|custom|{login_url}")
        }
    };
    // Cross-App Access: the IdP trusted for identity assertion grants (the simulator is its
    // own, always).
    match (&c.xaa_issuer, &c.xaa_jwks_uri, kind) {
        (Some(_) | None, Some(_), _) | (Some(_), None, _)
            if kind == ConnectionKind::IdpSimulator =>
        {
            return Err(SeedError::new(
                entry,
                "xaa_issuer",
                "the simulator issues its own identity assertions",
            ));
        }
        (None, Some(_), _) => {
            return Err(SeedError::new(
                entry,
                "xaa_issuer",
                "xaa_jwks_uri needs xaa_issuer",
            ));
        }
        (Some(issuer), jwks_uri, _) => {
            check_url(entry, "xaa_issuer", issuer)?;
            settings.insert(XAA_ISSUER.into(), json!(issuer.trim_end_matches('/')));
            if let Some(u) = jwks_uri {
                check_url(entry, "xaa_jwks_uri", u)?;
                settings.insert(XAA_JWKS_URI.into(), json!(u));
            }
        }
        (None, None, _) => {}
    }
    if let Some(uri) = &c.initiate_login_uri {
        check_url(entry, "initiate_login_uri", uri)?;
        settings.insert(INITIATE_LOGIN_URI.into(), json!(uri));
    }
    let id = id_or_derived(entry, "conn", &c.id, &natural)?;
    // Upstream secrets are sealed at rest, bound to their connection id.
    if let Some(Value::String(plain)) = settings.remove("client_secret_sealed") {
        settings.insert(
            "client_secret_sealed".into(),
            json!(ctx.secret.seal(plain.as_bytes(), &id)),
        );
    }
    Ok(Connection {
        id,
        organization_id: org.to_string(),
        kind,
        is_enabled: c.enabled.unwrap_or(true),
        settings: Value::Object(settings),
    })
}

/// Which tenant pin a multi-tenant issuer needs and lacks: Entra ID's `common` and
/// `organizations` endpoints need `allowed_tid`; Google accounts need `allowed_hd`.
pub(super) fn missing_tenant_pin(
    issuer: &str,
    has_hd: bool,
    has_tid: bool,
) -> Option<&'static str> {
    let url = url::Url::parse(issuer).ok()?;
    let host = url.host_str().unwrap_or("");
    let first = url.path_segments().and_then(|mut p| p.next()).unwrap_or("");
    if host == "login.microsoftonline.com"
        && matches!(first, "common" | "organizations" | "consumers")
        && !has_tid
    {
        return Some("allowed_tid");
    }
    if host == "accounts.google.com" && !has_hd {
        return Some("allowed_hd");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::missing_tenant_pin;

    #[test]
    fn multi_tenant_issuers_need_a_pin() {
        assert_eq!(
            missing_tenant_pin(
                "https://login.microsoftonline.com/common/v2.0",
                false,
                false
            ),
            Some("allowed_tid")
        );
        assert_eq!(
            missing_tenant_pin(
                "https://login.microsoftonline.com/organizations/v2.0",
                false,
                true
            ),
            None
        );
        assert_eq!(
            missing_tenant_pin(
                "https://login.microsoftonline.com/3f1c0a9e-0000-4000-8000-000000000000/v2.0",
                false,
                false
            ),
            None
        );
        assert_eq!(
            missing_tenant_pin("https://accounts.google.com", false, false),
            Some("allowed_hd")
        );
        assert_eq!(
            missing_tenant_pin("https://accounts.google.com", true, false),
            None
        );
        assert_eq!(
            missing_tenant_pin("https://acme.okta.com", false, false),
            None
        );
    }
}
