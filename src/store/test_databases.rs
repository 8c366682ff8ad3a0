//! The databases the store contract tests run on: SQLite in a temporary folder, and, when
//! `PORTCULLIS_TEST_POSTGRES_URL` is set, a fresh PostgreSQL database dropped at the end.

use super::SqlStore;

/// Every backend under test, each on a fresh database, which lives as long as the returned
/// [`Databases`].
pub(super) async fn stores() -> (Vec<(&'static str, SqlStore)>, Databases) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("contract.db").display()
    );
    let mut out = vec![("sqlite", SqlStore::open(&url).await.expect("sqlite"))];
    let mut postgres = None;
    if let Ok(base) = std::env::var("PORTCULLIS_TEST_POSTGRES_URL") {
        let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
        on_postgres(&base, &format!("CREATE DATABASE {name}")).await;
        let mut pg = url::Url::parse(&base).expect("url");
        pg.set_path(&name);
        out.push((
            "postgres",
            SqlStore::open(pg.as_str()).await.expect("postgres"),
        ));
        postgres = Some((base, name));
    }
    (
        out,
        Databases {
            _dir: dir,
            postgres,
        },
    )
}

/// The databases of [`stores`]: the SQLite file's folder and the PostgreSQL database, both
/// removed when this is dropped.
pub(super) struct Databases {
    _dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

/// Runs one statement on the maintenance database of `base`.
async fn on_postgres(base: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base).await.expect("PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

impl Drop for Databases {
    fn drop(&mut self) {
        let Some((base, name)) = self.postgres.take() else {
            return;
        };
        // Inside the test's runtime nothing may block on a future: a thread with its own
        // runtime. FORCE ends the connections the stores' pools still hold.
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(on_postgres(&base, &sql));
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test database {name}");
        }
    }
}
