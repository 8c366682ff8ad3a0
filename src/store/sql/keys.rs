//! Signing keys (private halves sealed by the key ring before they get here).

use async_trait::async_trait;

use super::SqlStore;
use crate::store::{KeyStore, SigningKeyRecord, StoreError, StoreResult};

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    alg: String,
    public_jwk: String,
    private_key: String,
    created_at: i64,
    activate_at: i64,
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT id, alg, public_jwk, private_key, created_at, activate_at \
             FROM signing_keys ORDER BY activate_at, seq",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SigningKeyRecord {
                id: r.id,
                alg: r.alg,
                public_jwk: r.public_jwk,
                private_key: r.private_key,
                created_at: r.created_at,
                activate_at: r.activate_at,
            })
            .collect())
    }

    async fn insert_signing_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (id, alg, public_jwk, private_key, created_at, activate_at, seq) \
             SELECT $1, $2, $3, $4, $5, $6, COALESCE(MAX(seq), 0) + 1 FROM signing_keys",
        )
        .bind(&k.id)
        .bind(&k.alg)
        .bind(&k.public_jwk)
        .bind(&k.private_key)
        .bind(k.created_at)
        .bind(k.activate_at)
        .execute(self.pool())
        .await
        .map_err(|e| StoreError::from_write(e, "signing key id already exists"))?;
        Ok(())
    }
}
