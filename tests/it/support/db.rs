//! A fresh database per test: SQLite in a temporary directory, or, with
//! `PORTCULLIS_TEST_BACKEND=postgres`, a database created on the PostgreSQL server of
//! `PORTCULLIS_TEST_POSTGRES_URL` and dropped when the test's last handle of it goes.

use std::sync::Arc;

/// A database for one test (or shared by the "replicas" of one test).
#[derive(Clone)]
pub struct TestDb {
    pub url: String,
    _owner: Arc<Owner>,
}

/// What removes the database when the last [`TestDb`] clone is dropped.
enum Owner {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { base: String, name: String },
}

impl TestDb {
    pub async fn fresh() -> TestDb {
        if std::env::var("PORTCULLIS_TEST_BACKEND").as_deref() == Ok("postgres") {
            let base = std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
                .expect("PORTCULLIS_TEST_BACKEND=postgres needs PORTCULLIS_TEST_POSTGRES_URL");
            TestDb::on_postgres(base).await
        } else {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("portcullis.db").display()
            );
            TestDb {
                url,
                _owner: Arc::new(Owner::Sqlite(dir)),
            }
        }
    }
}

impl TestDb {
    /// A new database on the PostgreSQL server of `base`, whatever the backend of the run.
    pub async fn on_postgres(base: String) -> TestDb {
        let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
        postgres(&base, &format!("CREATE DATABASE {name}")).await;
        let mut url = url::Url::parse(&base).expect("PostgreSQL URL");
        url.set_path(&name);
        TestDb {
            url: url.to_string(),
            _owner: Arc::new(Owner::Postgres { base, name }),
        }
    }
}

/// Runs one statement on the server of `base` (its maintenance database).
async fn postgres(base: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

impl Drop for Owner {
    fn drop(&mut self) {
        let Owner::Postgres { base, name } = self else {
            return;
        };
        // Dropped at the end of a test, possibly inside its runtime, where nothing may block
        // on a future: a thread of its own with a runtime of its own. FORCE ends the
        // connections the test's pools (and replicas) may still hold.
        let (base, sql) = (
            base.clone(),
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(postgres(&base, &sql));
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test database {name}");
        }
    }
}
