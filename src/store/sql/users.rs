//! Users and browser sessions.

use async_trait::async_trait;

use super::{SqlStore, from_json, to_json};
use crate::ids;
use crate::store::{Session, SessionStore, StoreResult, User, UserStore};

pub(super) const USER_COLUMNS: &str = "id, connection_id, organization_id, subject, email, email_verified, name, \
    groups_json, attributes, enabled, last_login_at";

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: String,
    connection_id: String,
    organization_id: String,
    subject: String,
    email: Option<String>,
    email_verified: i64,
    name: Option<String>,
    groups_json: String,
    attributes: String,
    enabled: i64,
    last_login_at: i64,
}

impl UserRow {
    pub(super) fn into_user(self) -> StoreResult<User> {
        Ok(User {
            groups: from_json(&self.groups_json, "user groups")?,
            attributes: from_json(&self.attributes, "user attributes")?,
            id: self.id,
            connection_id: self.connection_id,
            organization_id: self.organization_id,
            subject: self.subject,
            email: self.email,
            is_email_verified: self.email_verified != 0,
            name: self.name,
            is_enabled: self.enabled != 0,
            last_login_at: self.last_login_at,
        })
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn upsert_user(&self, u: &User) -> StoreResult<User> {
        let sql = format!(
            "INSERT INTO users (id, connection_id, organization_id, subject, email, email_verified, name, \
             groups_json, attributes, enabled, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10) \
             ON CONFLICT (connection_id, subject) DO UPDATE SET organization_id = excluded.organization_id, \
             email = excluded.email, email_verified = excluded.email_verified, name = excluded.name, \
             groups_json = excluded.groups_json, attributes = excluded.attributes, \
             last_login_at = excluded.last_login_at \
             WHERE users.enabled = 1 \
             RETURNING {USER_COLUMNS}"
        );
        let id = if u.id.is_empty() {
            ids::generate("usr")
        } else {
            u.id.clone()
        };
        let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(&u.connection_id)
            .bind(&u.organization_id)
            .bind(&u.subject)
            .bind(u.email.as_deref())
            .bind(i64::from(u.is_email_verified))
            .bind(u.name.as_deref())
            .bind(to_json(&u.groups))
            .bind(to_json(&u.attributes))
            .bind(u.last_login_at)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = row {
            return row.into_user();
        }
        // A disabled user is left as it was (its login is refused): the stored row.
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE connection_id = $1 AND subject = $2");
        let row: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&u.connection_id)
            .bind(&u.subject)
            .fetch_one(self.pool())
            .await?;
        row.into_user()
    }

    async fn find_user(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(UserRow::into_user).transpose()
    }

    async fn set_user_enabled(&self, id: &str, is_enabled: bool, now: i64) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("UPDATE users SET enabled = $2 WHERE id = $1")
            .bind(id)
            .bind(i64::from(is_enabled))
            .execute(&mut *tx)
            .await?;
        if !is_enabled && done.rows_affected() > 0 {
            cut_user_tokens(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Sets a user's access-token cutoff to `now` (see `AdminConsoleStore::user_tokens_cutoff`;
/// never moved back: replicas' clocks differ) and revokes every token family they hold.
pub(super) async fn cut_user_tokens(
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO user_token_cutoffs (user_id, not_before) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET not_before = excluded.not_before \
         WHERE user_token_cutoffs.not_before < excluded.not_before",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // Ordered, not timed: every family that exists now dies; one opened by a sign-in in
    // the same second, after the user is enabled again, lives.
    sqlx::query(
        "UPDATE token_families SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    token_hash: String,
    user_id: String,
    connection_id: String,
    organization_id: String,
    auth_time: i64,
    expires_at: i64,
    ended_at: Option<i64>,
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(&self, s: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, connection_id, organization_id, auth_time, \
             expires_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&s.id)
        .bind(&s.token_hash)
        .bind(&s.user_id)
        .bind(&s.connection_id)
        .bind(&s.organization_id)
        .bind(s.auth_time)
        .bind(s.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn find_session_by_token(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT id, token_hash, user_id, connection_id, organization_id, auth_time, expires_at, ended_at \
             FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| Session {
            id: r.id,
            token_hash: r.token_hash,
            user_id: r.user_id,
            connection_id: r.connection_id,
            organization_id: r.organization_id,
            auth_time: r.auth_time,
            expires_at: r.expires_at,
            ended_at: r.ended_at,
        }))
    }

    async fn end_session(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
