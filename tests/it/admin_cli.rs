//! The first admin with the real binary: `portcullis admin create NAME` (password from
//! standard input or `PORTCULLIS_ADMIN_PASSWORD`), and `PORTCULLIS_ADMIN_PASSWORD` applied to
//! admin `admin` when the server starts.

use std::io::Write;
use std::process::{Command, Stdio};

use portcullis::store::{AdminStore, SqlStore};

use crate::support::server_process::{self, SECRET_KEY, ServerProcess};

/// The binary on `db_url` with a secret key.
fn command(db_url: &str) -> Command {
    let mut c = server_process::command(db_url);
    c.env("PORTCULLIS_SECRET_KEY", SECRET_KEY);
    c
}

async fn password_of(db: &str, username: &str) -> Option<String> {
    let store = SqlStore::open(db).await.unwrap();
    let hash = store
        .find_admin(username)
        .await
        .unwrap()
        .map(|a| a.password_hash);
    store.close().await;
    hash
}

#[tokio::test]
async fn admin_create_takes_the_password_from_stdin_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());

    let mut c = command(&db);
    c.args(["admin", "create", "ops", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ops-password-123\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("ops-password-123"),
        "the password is never printed"
    );
    let hash = password_of(&db, "ops").await.unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(portcullis::password::verify("ops-password-123".into(), hash).await);

    // The environment sets a new password for the same admin.
    let out = command(&db)
        .args(["admin", "create", "ops"])
        .env("PORTCULLIS_ADMIN_PASSWORD", "another-password-456")
        .output()
        .unwrap();
    assert!(out.status.success());
    let hash = password_of(&db, "ops").await.unwrap();
    assert!(portcullis::password::verify("another-password-456".into(), hash).await);

    // No password, or a short one: refused, naming why.
    let out = command(&db)
        .args(["admin", "create", "ops"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));
    let out = command(&db)
        .args(["admin", "create", "ops"])
        .env("PORTCULLIS_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8 characters"));
}

#[tokio::test]
async fn the_admin_password_variable_makes_the_first_admin_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    let mut c = command(&db);
    c.args(["serve"])
        .env("PORTCULLIS_ADMIN_PASSWORD", "first-admin-password");
    let server = ServerProcess::serve(c);
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .post(format!("{base}/admin/login"))
        .form(&[("username", "admin"), ("password", "first-admin-password")])
        .send()
        .await
        .unwrap();
    drop(server);
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin");
}
