//! The real binary: start-up refusals, `serve --dev`, a restart, `keys rotate` picked up
//! by a running server, and `seed` refusing a bad file without changing anything.

use std::time::{Duration, Instant};

use crate::support::jwt::kid;
use crate::support::server_process::{SECRET_KEY, ServerProcess, command, run};
use crate::support::{basic, verify_with_pyjwt};

fn temp_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    (dir, url)
}

#[test]
fn refuses_to_start_without_a_secret_key_outside_dev() {
    let (_dir, db) = temp_db();
    let mut c = command(&db);
    c.args(["serve"]);
    let (ok, out) = run(c);
    assert!(!ok);
    assert!(out.contains("PORTCULLIS_SECRET_KEY"), "{out}");
}

#[test]
fn bad_configuration_stops_the_server_naming_the_key() {
    let (_dir, db) = temp_db();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: &[Case] = &[
        (
            &[
                ("PORTCULLIS_SECRET_KEY", SECRET_KEY),
                ("PORTCULLIS_ISSUER", "http://auth.example.com"),
            ],
            &["serve"],
            "PORTCULLIS_ISSUER",
        ),
        (
            &[
                ("PORTCULLIS_SECRET_KEY", SECRET_KEY),
                ("PORTCULLIS_ISSUER", "https://auth.example.com/"),
            ],
            &["serve"],
            "PORTCULLIS_ISSUER",
        ),
        (
            &[("PORTCULLIS_LISTEN", "0.0.0.0:8080")],
            &["serve", "--dev"],
            "PORTCULLIS_LISTEN",
        ),
        (
            &[("PORTCULLIS_SECRET_KEY", "too-short")],
            &["serve"],
            "PORTCULLIS_SECRET_KEY",
        ),
        (
            &[("PORTCULLIS_SIGNING_ALG", "HS256")],
            &["serve", "--dev"],
            "PORTCULLIS_SIGNING_ALG",
        ),
    ];
    for (env, args, key) in cases {
        let mut c = command(&db);
        c.envs(env.iter().copied()).args(*args);
        let (ok, out) = run(c);
        assert!(!ok, "{env:?} must be refused");
        assert!(out.contains(key), "{env:?}: the message names {key}: {out}");
    }
}

#[tokio::test]
async fn dev_server_prints_credentials_that_work_and_stops_cleanly() {
    let (_dir, db) = temp_db();
    let mut c = command(&db);
    c.args(["serve", "--dev"]);
    let server = tokio::task::spawn_blocking(move || ServerProcess::serve(c))
        .await
        .unwrap();
    let banner = server.stdout.join("\n");
    let secret = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("client_secret="))
        .unwrap_or_else(|| panic!("no client secret in banner: {banner}"))
        .to_string();
    assert!(banner.contains("admin"), "{banner}");
    assert!(
        banner.contains("DEV SERVER"),
        "--dev says so loudly: {banner}"
    );
    assert!(
        server.stdout[0].starts_with("portcullis listening on"),
        "stdout carries the banner only; logs go to stderr: {banner}"
    );
    let res = reqwest::Client::new()
        .post(format!("{}/oauth/token", server.base))
        .header("authorization", basic("skc_dev", &secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "http://127.0.0.1:8081/mcp"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let meta: serde_json::Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        meta["issuer"],
        server.base.as_str(),
        "issuer defaults to http:// + the bound address"
    );
    let status = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

const SEED: &str = r#"
[[resources]]
id = "res_tickets"
name = "Tickets"
server_url = "http://127.0.0.1:8081/mcp"
scopes = [ { name = "tickets.read" } ]

[[clients]]
id = "m2m_ops"
name = "Ops"
secret_env = "OPS_SECRET"
grant_types = ["client_credentials"]
resources = ["res_tickets"]
scopes = ["tickets.read"]
"#;
const OPS_SECRET: &str = "ops-secret-0123456789abcdefghij";

async fn ops_token(base: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .header("authorization", basic("m2m_ops", OPS_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "res_tickets"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn jwks_kids(base: &str) -> Vec<String> {
    let jwks: serde_json::Value = reqwest::get(format!("{base}/keys"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn restart_and_rotation_with_the_real_binary() {
    let (dir, db) = temp_db();
    let seed_path = dir.path().join("seed.toml");
    std::fs::write(&seed_path, SEED).unwrap();
    let serve = |seed: bool| {
        let mut c = command(&db);
        c.env("PORTCULLIS_SECRET_KEY", SECRET_KEY)
            .env("OPS_SECRET", OPS_SECRET)
            .env("PORTCULLIS_KEY_REFRESH_INTERVAL", "1")
            .arg("serve");
        if seed {
            c.arg("--seed").arg(&seed_path);
        }
        c
    };

    let c = serve(true);
    let first = tokio::task::spawn_blocking(move || ServerProcess::serve(c))
        .await
        .unwrap();
    let before_restart = ops_token(&first.base).await;
    let status = tokio::task::spawn_blocking(move || first.stop())
        .await
        .unwrap();
    assert!(status.success());

    // The stored private key is sealed, not readable PEM or DER.
    let raw = std::fs::read(dir.path().join("p.db")).unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("PRIVATE KEY"));

    let c = serve(false);
    let second = tokio::task::spawn_blocking(move || ServerProcess::serve(c))
        .await
        .unwrap();
    let jwks = format!("{}/keys", second.base);
    verify_with_pyjwt(
        &before_restart,
        &jwks,
        &first_issuer(&before_restart),
        "res_tickets",
    )
    .await
    .expect("a token issued before the restart verifies after it (clients and keys survived)");
    let old_kid = kid(&ops_token(&second.base).await);
    assert_eq!(old_kid, kid(&before_restart));

    // `keys rotate` (delayed): published at once by the running server, not yet signing.
    let mut c = command(&db);
    c.env("PORTCULLIS_SECRET_KEY", SECRET_KEY)
        .args(["keys", "rotate"]);
    let (ok, out) = run(c);
    assert!(ok, "{out}");
    let delayed_kid = out
        .split_whitespace()
        .find(|w| w.starts_with("snk_"))
        .unwrap()
        .to_string();
    wait_for(|| async { jwks_kids(&second.base).await.contains(&delayed_kid) }).await;
    assert_eq!(
        kid(&ops_token(&second.base).await),
        old_kid,
        "the delayed key does not sign yet"
    );

    // `keys rotate --now`: the running server signs with it within its refresh interval.
    let mut c = command(&db);
    c.env("PORTCULLIS_SECRET_KEY", SECRET_KEY)
        .args(["keys", "rotate", "--now"]);
    let (ok, out) = run(c);
    assert!(ok, "{out}");
    let now_kid = out
        .split_whitespace()
        .find(|w| w.starts_with("snk_"))
        .unwrap()
        .to_string();
    let base = second.base.clone();
    wait_for(|| async { kid(&ops_token(&base).await) == now_kid }).await;
    let kids = jwks_kids(&second.base).await;
    assert!(
        kids.contains(&old_kid) && kids.contains(&now_kid),
        "{kids:?}"
    );
    verify_with_pyjwt(
        &before_restart,
        &jwks,
        &first_issuer(&before_restart),
        "res_tickets",
    )
    .await
    .expect("tokens of the old key keep verifying after rotate --now");
    drop(second);
}

fn first_issuer(jwt: &str) -> String {
    crate::support::decode_jwt(jwt).1["iss"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn wait_for<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "condition not reached within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn seed_command_refuses_a_bad_file_and_changes_nothing() {
    let (dir, db) = temp_db();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        SEED.replace(
            "secret_env = \"OPS_SECRET\"",
            &format!("secret = \"{OPS_SECRET}\""),
        ),
    )
    .unwrap();
    let mut c = command(&db);
    c.env("PORTCULLIS_SECRET_KEY", SECRET_KEY)
        .arg("seed")
        .arg(&good);
    let (ok, out) = run(c);
    assert!(ok, "{out}");

    // Second entry is broken: a rule for a resource that does not exist.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
[[resources]]
id = "res_new"
name = "New"
server_url = "http://127.0.0.1:9000/mcp"
scopes = [ { name = "new.read" } ]

[[rules]]
resource = "res_missing"
when = { any = true }
grant = ["new.read"]
"#,
    )
    .unwrap();
    let mut c = command(&db);
    c.env("PORTCULLIS_SECRET_KEY", SECRET_KEY)
        .arg("seed")
        .arg(&bad);
    let (ok, out) = run(c);
    assert!(!ok);
    assert!(
        out.contains("rules[0]") && out.contains("resource"),
        "names entry and key: {out}"
    );

    // A typo in a key name is refused too.
    std::fs::write(
        &bad,
        "[[resources]]\nname = \"X\"\nserver_urll = \"http://127.0.0.1:1/mcp\"\n",
    )
    .unwrap();
    let mut c = command(&db);
    c.env("PORTCULLIS_SECRET_KEY", SECRET_KEY)
        .arg("seed")
        .arg(&bad);
    let (ok, out) = run(c);
    assert!(!ok);
    assert!(out.contains("server_urll"), "{out}");

    // Nothing of the bad file landed: res_new does not exist.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = portcullis::store::SqlStore::open(&db).await.unwrap();
        use portcullis::store::ResourceStore;
        assert!(store.find_resource("res_new").await.unwrap().is_none());
        assert!(store.find_resource("res_tickets").await.unwrap().is_some());
    });
}
