//! The first admin: from the seed, from `PORTCULLIS_ADMIN_PASSWORD` at start (admin
//! `admin`), or from `portcullis admin create USERNAME`. Passwords are hashed with argon2id.

use std::sync::Arc;

use crate::seed::SeedError;
use crate::seed::file::AdminEntry;
use crate::seed::plan;
use crate::store::{SeedPlan, Store};

/// The username `PORTCULLIS_ADMIN_PASSWORD` applies to.
pub const DEFAULT_ADMIN: &str = "admin";

/// Creates the admin, or sets a new password for an existing one.
pub async fn upsert_admin(
    store: &Arc<dyn Store>,
    username: &str,
    password: &str,
    now: i64,
) -> Result<(), SeedError> {
    let pending = plan::plan_admin(
        "admins[0]",
        AdminEntry {
            username: username.to_string(),
            password: Some(password.to_string()),
            password_hash: None,
        },
    )?;
    let admins = plan::hash_admins(vec![pending]).await?;
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
