//! `portcullis connections test ID`: is the upstream reachable and configured as we expect,
//! and what did its last login carry (claim names, whether groups arrived)?

use std::time::Duration;

use crate::config::Config;
use crate::store::{AuditFilter, Store};

/// Prints a report; fails when a check fails.
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
    let mut is_ok = true;
    match connection.kind.as_str() {
        "oidc" => {
            let settings = super::oidc::settings(&config.secret, &connection)
                .map_err(|e| anyhow::anyhow!(e))?;
            let http = reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()?;
            for check in super::oidc::check_connection(&http, &settings).await {
                is_ok &= check.is_ok;
                println!(
                    "  [{}] {}: {}",
                    if check.is_ok { " ok " } else { "FAIL" },
                    check.name,
                    check.detail
                );
            }
        }
        "idp_simulator" => println!("  [ ok ] simulator: no upstream to reach"),
        other => println!("  [ -- ] {other}: no test for this kind yet"),
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
