//! Deleting organizations, connections and resources: only what nothing refers to any
//! more. The references are counted and the rows deleted in one transaction; nothing is
//! removed on the side (the foreign keys' cascades never fire).

use super::{Backend, SqlStore};
use crate::store::{Deletion, StoreResult};

#[derive(sqlx::FromRow)]
struct CountRow {
    n: i64,
}

/// A reference to count: a query of `n` with the id as `$1`, and its noun (one, many).
pub(super) type Reference = (&'static str, &'static str, &'static str);

impl SqlStore {
    /// Locks the row (`lock`: `SELECT … WHERE id = $1`), counts `references`, and when all
    /// are zero runs `deletes` (the id as `$1`; the last one deletes the row itself and
    /// tells whether it existed). On PostgreSQL the row is locked `FOR UPDATE` first, so a
    /// reference being added at the same time either is counted or waits and then fails its
    /// foreign key — the cascades never take it away. SQLite writes one at a time: a write
    /// between the count and the delete makes this transaction fail (busy), never cascade.
    pub(super) async fn delete_unused(
        &self,
        id: &str,
        lock: &'static str,
        references: &[Reference],
        deletes: &[&'static str],
    ) -> StoreResult<Deletion> {
        let mut tx = self.pool().begin().await?;
        let lock = match self.backend() {
            Backend::Postgres => format!("{lock} FOR UPDATE"),
            Backend::Sqlite => lock.to_string(),
        };
        let found = sqlx::query(sqlx::AssertSqlSafe(lock))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Ok(Deletion::NotFound);
        }
        // What still refers to it, as "2 users".
        let mut uses = Vec::new();
        for (sql, one, many) in references {
            let row: CountRow = sqlx::query_as(*sql).bind(id).fetch_one(&mut *tx).await?;
            if row.n > 0 {
                uses.push(format!("{} {}", row.n, if row.n == 1 { one } else { many }));
            }
        }
        if !uses.is_empty() {
            return Ok(Deletion::InUse(uses)); // the transaction rolls back on drop
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
