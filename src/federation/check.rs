//! The connection check, one for `portcullis connections test ID` and the admin pages and
//! API: is the upstream reachable and configured as we expect (OIDC discovery, SAML IdP
//! metadata), and, for the CLI, what did its last login carry (claim names, groups)?

use openidconnect::IssuerUrl;

use super::oidc::ProviderMetadata;
use crate::config::Config;
use crate::crypto::SecretBox;
use crate::store::{AuditFilter, Connection, ConnectionKind, Store};

/// Checks `connection`'s upstream. `secret` unseals an OIDC client secret; `issuer` is the
/// environment issuer SAML SP names derive from.
pub async fn check(
    http: &reqwest::Client,
    secret: &SecretBox,
    issuer: &str,
    connection: &Connection,
) -> Vec<Check> {
    match connection.kind {
        ConnectionKind::IdpSimulator => vec![Check {
            name: "simulator",
            is_ok: true,
            detail: "no upstream to reach".into(),
        }],
        ConnectionKind::Oidc => match super::oidc::settings(secret, connection) {
            Ok(settings) => check_oidc(http, &settings).await,
            Err(detail) => vec![Check {
                name: "settings",
                is_ok: false,
                detail,
            }],
        },
        ConnectionKind::Custom => {
            let login_url = connection.settings["login_url"]
                .as_str()
                .unwrap_or_default();
            vec![Check {
                name: "login_url",
                is_ok: !login_url.is_empty(),
                detail: format!("the application's login page: {login_url}"),
            }]
        }
        ConnectionKind::Saml => {
            let settings = super::saml::settings(issuer, connection);
            let mut out = check_saml(http, &settings).await;
            out.push(Check {
                name: "sp_metadata",
                is_ok: true,
                detail: format!("{issuer}/sso/v1/saml/{}/metadata", connection.id),
            });
            out
        }
    }
}

/// `portcullis connections test ID`: prints the check and the last login's claims; fails
/// when a check fails.
pub async fn run(store: &dyn Store, config: &Config, id: &str) -> anyhow::Result<()> {
    let connection = store
        .find_connection(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no connection `{id}`"))?;
    println!(
        "connection {} ({}, {})",
        connection.id,
        connection.kind,
        if connection.is_enabled {
            "enabled"
        } else {
            "disabled"
        }
    );
    // The same client the server uses for admin-configured hosts.
    let http = crate::outbound::outbound_client(&crate::outbound::extra_roots(config));
    let mut is_ok = true;
    for check in check(&http, &config.secret, config.issuer(), &connection).await {
        is_ok &= check.is_ok;
        println!(
            "  [{}] {}: {}",
            if check.is_ok { " ok " } else { "FAIL" },
            check.name,
            check.detail
        );
    }
    let events = store
        .list_audit_events(&AuditFilter {
            kind: Some("login.succeeded".into()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    match events
        .iter()
        .find(|e| e.detail["connection_id"] == connection.id.as_str())
    {
        Some(e) => {
            println!("  last login: claims {}", e.detail["claim_names"]);
            let has_groups = e.detail["has_groups"].as_bool().unwrap_or(false);
            println!(
                "  [{}] groups: {}",
                if has_groups { " ok " } else { "WARN" },
                if has_groups {
                    "present"
                } else {
                    "missing in the last login"
                }
            );
        }
        None => println!(
            "  last login: none yet (sign in once through this connection to see its claims)"
        ),
    }
    if is_ok {
        Ok(())
    } else {
        Err(anyhow::anyhow!("connection test failed"))
    }
}

/// One line of a connection check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    pub is_ok: bool,
    pub detail: String,
}

/// OIDC: discovery reachable, issuer matching, endpoints present.
async fn check_oidc(http: &reqwest::Client, s: &super::oidc::OidcSettings) -> Vec<Check> {
    let mut out = Vec::new();
    let url = match IssuerUrl::new(s.issuer.clone()) {
        Ok(u) => u,
        Err(e) => {
            out.push(Check {
                name: "issuer",
                is_ok: false,
                detail: format!("not a URL: {e}"),
            });
            return out;
        }
    };
    let metadata = match ProviderMetadata::discover_async(url, http).await {
        Ok(m) => m,
        Err(e) => {
            out.push(Check {
                name: "discovery",
                is_ok: false,
                detail: e.to_string(),
            });
            return out;
        }
    };
    out.push(Check {
        name: "discovery",
        is_ok: true,
        detail: format!("{}/.well-known/openid-configuration", s.issuer),
    });
    out.push(Check {
        name: "issuer",
        is_ok: metadata.issuer().as_str() == s.issuer,
        detail: metadata.issuer().to_string(),
    });
    out.push(Check {
        name: "authorization_endpoint",
        is_ok: true,
        detail: metadata.authorization_endpoint().to_string(),
    });
    out.push(Check {
        name: "token_endpoint",
        is_ok: metadata.token_endpoint().is_some(),
        detail: metadata
            .token_endpoint()
            .map(|u| u.to_string())
            .unwrap_or_else(|| "missing".into()),
    });
    let keys = metadata.jwks().keys().len();
    out.push(Check {
        name: "jwks",
        is_ok: keys > 0,
        detail: format!("{keys} keys at {}", metadata.jwks_uri().as_str()),
    });
    out.push(Check {
        name: "userinfo_endpoint",
        is_ok: true,
        detail: metadata
            .userinfo_endpoint()
            .map(|u| u.to_string())
            .unwrap_or_else(|| "none (groups must be in the ID token)".into()),
    });
    if let Some(claims) = metadata.claims_supported() {
        let has = claims.iter().any(|c| c.as_str() == s.mapping.groups);
        out.push(Check {
            name: "groups_claim",
            is_ok: has,
            detail: if has {
                format!("`{}` is advertised", s.mapping.groups)
            } else {
                format!("`{}` is not in claims_supported", s.mapping.groups)
            },
        });
    }
    out
}

/// SAML: the IdP metadata readable (entity id, HTTP-Redirect SSO endpoint, signing
/// certificates), and what to hand to the IdP's admin.
async fn check_saml(http: &reqwest::Client, s: &super::saml::SamlSettings) -> Vec<Check> {
    let loaded = match (&s.idp_metadata_xml, &s.idp_metadata_url) {
        (Some(xml), _) => super::saml::metadata::parse_idp_metadata(xml),
        (None, Some(url)) => super::saml::metadata::fetch_idp_metadata(http, url).await,
        (None, None) => Err("neither idp_metadata_url nor idp_metadata_xml is set".into()),
    };
    let mut out = Vec::new();
    match loaded {
        Ok(m) => {
            out.push(Check {
                name: "idp_metadata",
                is_ok: true,
                detail: format!("entity id {}", m.entity_id),
            });
            out.push(Check {
                name: "sso_endpoint",
                is_ok: true,
                detail: m.sso_redirect_url.clone(),
            });
            out.push(Check {
                name: "signing_certificates",
                is_ok: m.signing_certificates > 0,
                detail: format!("{} in the metadata", m.signing_certificates),
            });
        }
        Err(e) => out.push(Check {
            name: "idp_metadata",
            is_ok: false,
            detail: e,
        }),
    }
    out.push(Check {
        name: "sp",
        is_ok: true,
        detail: format!(
            "entity id {}, ACS {} (SP metadata at /sso/v1/saml/{}/metadata)",
            s.sp_entity_id, s.acs_url, s.connection_id
        ),
    });
    out
}
