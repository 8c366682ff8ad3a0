//! Signing keys: list (which signs, which is next, which are retired) and rotate (a new
//! key published at once that signs after the rotation delay, or at once in emergencies).

use serde::Serialize;
use serde_json::json;

use super::{Actor, AdminError, Touched, record};
use crate::audit::AuditEvent;
use crate::keys::{self, rotation};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub id: String,
    pub alg: String,
    pub created_at: i64,
    pub activate_at: i64,
    /// `signing`, `next` or `retired`.
    pub state: &'static str,
}

pub async fn list(app: &AppState) -> Result<Vec<KeyView>, AdminError> {
    let records = app.store.list_signing_keys().await?;
    let times: Vec<rotation::KeyTimes> = records
        .iter()
        .map(|k| rotation::KeyTimes {
            created_at: k.created_at,
            activate_at: k.activate_at,
        })
        .collect();
    let now = app.clock.now();
    let signing = rotation::signing_index(&times, now);
    Ok(records
        .into_iter()
        .enumerate()
        .map(|(i, k)| KeyView {
            state: match signing {
                Some(s) if s == i => "signing",
                _ if k.activate_at > now => "next",
                _ => "retired",
            },
            id: k.id,
            alg: k.alg,
            created_at: k.created_at,
            activate_at: k.activate_at,
        })
        .rev()
        .collect())
}

/// Publishes a new key; it signs after the rotation delay, or at once with `is_immediate`.
pub async fn rotate(
    app: &AppState,
    actor: &Actor,
    is_immediate: bool,
) -> Result<String, AdminError> {
    let now = app.clock.now();
    let delay = if is_immediate {
        0
    } else {
        app.config.key_rotation_delay
    };
    let alg = app.config.signing_alg;
    let kid = keys::create_key(app.store.as_ref(), &app.config.secret, alg, now, delay).await?;
    app.keys.refresh().await?;
    app.audit
        .record(AuditEvent::SigningKeyCreated {
            kid: kid.clone(),
            alg: alg.as_str().into(),
            activate_at: now + delay,
        })
        .await;
    record(
        app,
        actor,
        "admin.key.rotated",
        &kid,
        Touched::default(),
        json!({ "alg": alg.as_str(), "activate_at": now + delay, "immediate": is_immediate }),
    )
    .await;
    Ok(kid)
}
