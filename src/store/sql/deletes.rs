//! Deleting organizations, connections and resources: only what nothing refers to any
//! more. The references are counted and the rows deleted in one transaction; nothing is
//! removed on the side (the foreign keys' cascades never fire).

use super::SqlStore;
use crate::store::{Deletion, StoreResult};

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

/// A reference to count: a query of `n` with the id as `$1`, and its noun (one, many).
pub(super) type Reference = (&'static str, &'static str, &'static str);

impl SqlStore {
    /// Counts `references`; when all are zero runs `deletes` (the id as `$1`; the last one
    /// deletes the row itself and tells whether it existed).
    pub(super) async fn delete_unused(
        &self,
        id: &str,
        references: &[Reference],
        deletes: &[&'static str],
    ) -> StoreResult<Deletion> {
        let mut tx = self.pool().begin().await?;
        let mut counts = Vec::with_capacity(references.len());
        for (sql, one, many) in references {
            let row: CountRow = sqlx::query_as(*sql).bind(id).fetch_one(&mut *tx).await?;
            counts.push((row.n, *one, *many));
        }
        if let Some(in_use) = Deletion::from_counts(&counts) {
            return Ok(in_use); // the transaction rolls back on drop
        }
        let mut deleted = 0;
        for sql in deletes {
            deleted = sqlx::query(*sql)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(if deleted > 0 {
            Deletion::Deleted
        } else {
            Deletion::NotFound
        })
    }
}
