//! Authorization codes, token families, refresh tokens, access-token revocations and the
//! token cutoffs of users and clients.
//!
//! A code opens a family (created with the code, before any token exists). Redeeming the
//! code and rotating a refresh token each run in one transaction that consumes the old item
//! (`UPDATE … WHERE used_at IS NULL`) and stores everything issued, so a crash leaves either
//! all of it or none. Revocation marks the family; the mark is read whenever a family's
//! token is used or shown, so no interleaving of rotation and revocation leaves a live token.

use async_trait::async_trait;
use sqlx::AnyConnection;

use super::{SqlStore, from_json, to_json};
use crate::store::{
    AccessTokenStatus, CodeRecord, Issuance, NewFamily, Redeemed, RefreshRecord, StoreResult,
    TokenStore,
};

#[derive(sqlx::FromRow)]
struct CodeRow {
    code_hash: String,
    grant_json: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    access_jti: Option<String>,
    family_id: Option<String>,
    family_revoked_at: Option<i64>,
}

impl CodeRow {
    fn into_record(self) -> StoreResult<CodeRecord> {
        Ok(CodeRecord {
            grant: from_json(&self.grant_json, "code grant")?,
            code_hash: self.code_hash,
            created_at: self.created_at,
            expires_at: self.expires_at,
            used_at: self.used_at,
            access_jti: self.access_jti,
            family_id: self.family_id,
            is_family_revoked: self.family_revoked_at.is_some(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    token_hash: String,
    family_id: String,
    grant_json: String,
    created_at: i64,
    expires_at: i64,
    family_expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
    family_revoked_at: Option<i64>,
}

impl RefreshRow {
    fn into_record(self) -> StoreResult<RefreshRecord> {
        Ok(RefreshRecord {
            grant: from_json(&self.grant_json, "refresh grant")?,
            token_hash: self.token_hash,
            family_id: self.family_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
            family_expires_at: self.family_expires_at,
            used_at: self.used_at,
            revoked_at: self.revoked_at,
            is_family_revoked: self.family_revoked_at.is_some(),
        })
    }
}

const SELECT_CODE: &str = "SELECT c.code_hash, c.grant_json, c.created_at, c.expires_at, c.used_at, \
     c.access_jti, c.family_id, \
     (SELECT f.revoked_at FROM token_families f WHERE f.id = c.family_id) AS family_revoked_at \
     FROM authorization_codes c WHERE c.code_hash = $1";
const SELECT_REFRESH: &str = "SELECT r.token_hash, r.family_id, r.grant_json, r.created_at, r.expires_at, \
     r.family_expires_at, r.used_at, r.revoked_at, \
     (SELECT f.revoked_at FROM token_families f WHERE f.id = r.family_id) AS family_revoked_at \
     FROM refresh_tokens r WHERE r.token_hash = $1";

async fn find_code_in(conn: &mut AnyConnection, hash: &str) -> StoreResult<Option<CodeRecord>> {
    let row: Option<CodeRow> = sqlx::query_as(SELECT_CODE)
        .bind(hash)
        .fetch_optional(conn)
        .await?;
    row.map(CodeRow::into_record).transpose()
}

async fn find_refresh_in(
    conn: &mut AnyConnection,
    hash: &str,
) -> StoreResult<Option<RefreshRecord>> {
    let row: Option<RefreshRow> = sqlx::query_as(SELECT_REFRESH)
        .bind(hash)
        .fetch_optional(conn)
        .await?;
    row.map(RefreshRow::into_record).transpose()
}

/// Creates the family unless it exists (codes issued before families get theirs at
/// redemption; a revoked mark set first is kept).
async fn ensure_family(conn: &mut AnyConnection, f: &NewFamily) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO token_families (id, client_id, user_id, created_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (id) DO UPDATE SET expires_at = \
         CASE WHEN token_families.expires_at < excluded.expires_at THEN excluded.expires_at \
         ELSE token_families.expires_at END",
    )
    .bind(&f.id)
    .bind(&f.client_id)
    .bind(&f.user_id)
    .bind(f.created_at)
    .bind(f.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn is_family_revoked(conn: &mut AnyConnection, family_id: &str) -> StoreResult<bool> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT revoked_at FROM token_families WHERE id = $1")
            .bind(family_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some_and(|r| r.0.is_some()))
}

async fn insert_refresh_in(conn: &mut AnyConnection, r: &RefreshRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, grant_json, created_at, expires_at, \
         family_expires_at, used_at, revoked_at, user_id) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8)",
    )
    .bind(&r.token_hash)
    .bind(&r.family_id)
    .bind(&r.grant.client_id)
    .bind(to_json(&r.grant))
    .bind(r.created_at)
    .bind(r.expires_at)
    .bind(r.family_expires_at)
    .bind(&r.grant.user_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores what one redemption or rotation issued, after its family is known to be live.
/// `Ok(false)`: the family is revoked and nothing may be stored.
async fn store_issuance(conn: &mut AnyConnection, issued: &Issuance) -> StoreResult<bool> {
    ensure_family(&mut *conn, &issued.family).await?;
    if is_family_revoked(&mut *conn, &issued.family.id).await? {
        return Ok(false);
    }
    if let Some(r) = &issued.refresh {
        insert_refresh_in(&mut *conn, r).await?;
    }
    sqlx::query(
        "INSERT INTO family_access_tokens (jti, family_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(&issued.access_jti)
    .bind(&issued.family.id)
    .bind(issued.access_expires_at)
    .execute(conn)
    .await?;
    Ok(true)
}

/// Ends a redemption or rotation whose item was consumed: stores the issuance and commits,
/// or rolls everything back (the item stays unused) when the family is revoked.
async fn complete<T>(
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    issued: &Issuance,
) -> StoreResult<Redeemed<T>> {
    if !store_issuance(&mut tx, issued).await? {
        tx.rollback().await?;
        return Ok(Redeemed::Revoked);
    }
    tx.commit().await?;
    Ok(Redeemed::Done)
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn insert_code(&self, c: &CodeRecord, family: &NewFamily) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        ensure_family(&mut tx, family).await?;
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, grant_json, created_at, expires_at, used_at, access_jti, family_id) \
             VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6)",
        )
        .bind(&c.code_hash)
        .bind(&c.grant.client_id)
        .bind(to_json(&c.grant))
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(&family.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_code(&self, code_hash: &str) -> StoreResult<Option<CodeRecord>> {
        let mut conn = self.pool().acquire().await?;
        find_code_in(&mut conn, code_hash).await
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        now: i64,
        issued: &Issuance,
    ) -> StoreResult<Redeemed<CodeRecord>> {
        let mut tx = self.pool().begin().await?;
        // The first statement writes, so SQLite takes its write lock here and PostgreSQL
        // locks the row: a concurrent redemption waits, then finds the code used.
        let taken = sqlx::query(
            "UPDATE authorization_codes SET used_at = $2, access_jti = $3, family_id = $4 \
             WHERE code_hash = $1 AND used_at IS NULL",
        )
        .bind(code_hash)
        .bind(now)
        .bind(&issued.access_jti)
        .bind(&issued.family.id)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 0 {
            let record = find_code_in(&mut tx, code_hash).await?;
            tx.rollback().await?;
            return Ok(match record {
                Some(r) => Redeemed::Used(r),
                None => Redeemed::Missing,
            });
        }
        complete(tx, issued).await
    }

    async fn insert_refresh(&self, r: &RefreshRecord) -> StoreResult<()> {
        let mut conn = self.pool().acquire().await?;
        insert_refresh_in(&mut conn, r).await
    }

    async fn find_refresh(&self, token_hash: &str) -> StoreResult<Option<RefreshRecord>> {
        let mut conn = self.pool().acquire().await?;
        find_refresh_in(&mut conn, token_hash).await
    }

    async fn rotate_refresh(
        &self,
        token_hash: &str,
        now: i64,
        issued: &Issuance,
    ) -> StoreResult<Redeemed<RefreshRecord>> {
        let mut tx = self.pool().begin().await?;
        let taken = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 0 {
            let record = find_refresh_in(&mut tx, token_hash).await?;
            tx.rollback().await?;
            return Ok(match record {
                Some(r) if r.revoked_at.is_some() => Redeemed::Revoked,
                Some(r) => Redeemed::Used(r),
                None => Redeemed::Missing,
            });
        }
        complete(tx, issued).await
    }

    async fn revoke_family(&self, family_id: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        // A family never seen (refresh tokens issued before families) is recorded as
        // revoked; its tokens cannot outlive a year.
        sqlx::query(
            "INSERT INTO token_families (id, client_id, user_id, created_at, expires_at, revoked_at) \
             VALUES ($1, '', '', $2, $3, $2) ON CONFLICT (id) DO UPDATE SET revoked_at = \
             COALESCE(token_families.revoked_at, excluded.revoked_at)",
        )
        .bind(family_id)
        .bind(now)
        .bind(now + 366 * 86_400)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> StoreResult<()> {
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn access_token_status(&self, jti: &str) -> StoreResult<AccessTokenStatus> {
        let revoked: Option<(String,)> =
            sqlx::query_as("SELECT jti FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(self.pool())
                .await?;
        if revoked.is_some() {
            return Ok(AccessTokenStatus::Revoked);
        }
        let family: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT f.id, f.revoked_at FROM family_access_tokens a \
             LEFT JOIN token_families f ON f.id = a.family_id WHERE a.jti = $1",
        )
        .bind(jti)
        .fetch_optional(self.pool())
        .await?;
        Ok(match family {
            None => AccessTokenStatus::Unrecorded,
            // A family that is gone or revoked: fail closed.
            Some((None, _)) | Some((Some(_), Some(_))) => AccessTokenStatus::Revoked,
            Some((Some(_), None)) => AccessTokenStatus::LiveFamily,
        })
    }

    async fn revoke_user_grants(&self, user_id: &str, now: i64) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        cut_user_tokens(&mut tx, user_id, now).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn revoke_client_grants(&self, client_id: &str, now: i64) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
        )
        .bind(client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE token_families SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
        )
        .bind(client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO client_token_cutoffs (client_id, not_before) VALUES ($1, $2) \
             ON CONFLICT (client_id) DO UPDATE SET not_before = excluded.not_before \
             WHERE client_token_cutoffs.not_before < excluded.not_before",
        )
        .bind(client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn client_tokens_cutoff(&self, client_id: &str) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT not_before FROM client_token_cutoffs WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }

    async fn user_tokens_cutoff(&self, user_id: &str) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT not_before FROM user_token_cutoffs WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }
}

/// Sets a user's access-token cutoff to `now` (see `TokenStore::user_tokens_cutoff`;
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
