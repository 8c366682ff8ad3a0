//! The first admin: from the seed, from `PORTCULLIS_ADMIN_PASSWORD` at start (admin
//! `admin`), or from `portcullis admin create USERNAME`. Passwords are hashed with argon2id.

use std::sync::Arc;

use crate::crypto::SecretBox;
use crate::seed::SeedError;
use crate::seed::file::{AdminEntry, SeedFile};
use crate::seed::plan::{self, PlanContext};
use crate::store::{SeedPlan, Store};

/// The username `PORTCULLIS_ADMIN_PASSWORD` applies to.
pub const DEFAULT_ADMIN: &str = "admin";

/// Creates the admin, or sets a new password for an existing one.
pub async fn upsert_admin(
    store: &Arc<dyn Store>,
    secret: &SecretBox,
    username: &str,
    password: &str,
    now: i64,
) -> Result<(), SeedError> {
    let file = SeedFile {
        admins: vec![AdminEntry {
            username: username.to_string(),
            password: Some(password.to_string()),
            password_hash: None,
        }],
        ..Default::default()
    };
    let pending = {
        let no_env = |_: &str| None;
        let ctx = PlanContext {
            secret,
            env: &no_env,
            existing_resources: Vec::new(),
            existing_organizations: Vec::new(),
            now,
        };
        plan::plan(file, &ctx)?.1
    };
    let admins = plan::hash_admins(pending).await?;
    store
        .apply_seed(
            &SeedPlan {
                admins,
                ..Default::default()
            },
            now,
        )
        .await?;
    Ok(())
}
