//! Users: people as their connections asserted them.

use async_trait::async_trait;

use super::tokens::cut_user_tokens;
use super::{SqlStore, from_json, to_json};
use crate::ids;
use crate::store::{StoreResult, User, UserStore};

const USER_COLUMNS: &str = "id, connection_id, organization_id, subject, email, email_verified, name, \
    groups_json, attributes, enabled, last_login_at";

#[derive(sqlx::FromRow)]
struct UserRow {
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
    fn into_user(self) -> StoreResult<User> {
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

    async fn find_user_by_subject(
        &self,
        connection_id: &str,
        subject: &str,
    ) -> StoreResult<Option<User>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE connection_id = $1 AND subject = $2");
        let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(connection_id)
            .bind(subject)
            .fetch_optional(self.pool())
            .await?;
        row.map(UserRow::into_user).transpose()
    }

    async fn list_users(&self, limit: i64) -> StoreResult<Vec<User>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users ORDER BY last_login_at DESC, id LIMIT $1");
        let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit.clamp(1, 1000))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(UserRow::into_user).collect()
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

    async fn delete_user(&self, user_id: &str, now: i64) -> StoreResult<Option<u64>> {
        let mut tx = self.pool().begin().await?;
        let revoked = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Sessions and consents go with the row (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(None); // rolls back
        }
        cut_user_tokens(&mut tx, user_id, now).await?;
        tx.commit().await?;
        Ok(Some(revoked))
    }
}
