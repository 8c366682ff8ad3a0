//! The Docker path. No Docker engine runs here, so `compose_service_starts_as_written` runs
//! the compose service as its file says — its command, its environment (with the defaults of
//! its `${VAR:-default}` values), its mounted seed and its secret file made the way the file's
//! comment says — with the built binary against the local PostgreSQL, up to ready, an admin
//! sign-in and a token. The Dockerfile is checked to install its packages with the run
//! command's script and to build from a context of only what it copies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::server_process;
use crate::support::{ServerProcess, TestDb, decode_jwt, peer_python};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// docker-compose.yml as JSON (PyYAML, an independent YAML parser).
fn compose() -> Value {
    let out = std::process::Command::new(peer_python())
        .arg("-c")
        .arg("import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))")
        .arg(root().join("docker-compose.yml"))
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Compose's interpolation of one value with nothing exported: `${VAR:-default}` is its
/// default; `${VAR}` without one would be empty, which the test refuses.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        let (_, default) = inner.split_once(":-").unwrap_or_else(|| {
            panic!("${{{inner}}} has no default: the service would not start as written")
        });
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The service's environment after interpolation.
fn service_env(service: &Value) -> BTreeMap<String, String> {
    service["environment"]
        .as_object()
        .expect("environment map")
        .iter()
        .map(|(k, v)| (k.clone(), interpolate(v.as_str().expect("string value"))))
        .collect()
}

#[test]
fn compose_file_is_valid_and_uses_known_configuration_names() {
    let doc = compose();
    let services = doc["services"].as_object().expect("services");
    assert!(services.values().any(|s| {
        s["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("postgres"))
    }));
    let portcullis = &services["portcullis"];
    assert!(portcullis["build"].is_string() || portcullis["build"].is_object());
    assert!(root().join("Dockerfile").exists());

    let env = service_env(portcullis);
    let known: BTreeSet<&str> = portcullis::config::KEYS.iter().map(|(_, e)| *e).collect();
    for name in env.keys().filter(|n| n.starts_with("PORTCULLIS_")) {
        assert!(
            known.contains(name.as_str()),
            "unknown configuration name {name} in docker-compose.yml"
        );
    }
    for required in [
        "PORTCULLIS_DATABASE_URL",
        "PORTCULLIS_ISSUER",
        "PORTCULLIS_LISTEN",
        "PORTCULLIS_ADMIN_PASSWORD",
    ] {
        assert!(env.contains_key(required), "{required} missing");
    }
    assert!(env["PORTCULLIS_DATABASE_URL"].starts_with("postgres://"));
    assert!(
        env.contains_key("PORTCULLIS_SECRET_KEY") || env.contains_key("PORTCULLIS_SECRET_KEY_FILE")
    );
}

/// Host paths for the container paths of the service's volumes and secrets.
fn mounts(doc: &Value, service: &Value, secret_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for volume in service["volumes"].as_array().into_iter().flatten() {
        let parts: Vec<&str> = volume
            .as_str()
            .expect("short volume syntax")
            .split(':')
            .collect();
        assert!(
            parts[0].starts_with("./"),
            "bind mount from the repository: {volume}"
        );
        out.push((parts[1].to_string(), root().join(&parts[0][2..])));
    }
    for name in service["secrets"].as_array().into_iter().flatten() {
        let name = name.as_str().expect("secret name");
        let file = doc["secrets"][name]["file"].as_str().expect("secret file");
        // The file's comment: `openssl rand -base64 32 | tr '+/' '-_' | tr -d '=' > secret_key.txt`.
        let out_file = secret_dir.join(file.trim_start_matches("./"));
        let sh = format!(
            "openssl rand -base64 32 | tr '+/' '-_' | tr -d '=' > '{}'",
            out_file.display()
        );
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(sh)
            .status()
            .unwrap();
        assert!(status.success(), "openssl rand");
        out.push((format!("/run/secrets/{name}"), out_file));
    }
    out
}

#[tokio::test]
async fn compose_service_starts_as_written() {
    let doc = compose();
    let service = &doc["services"]["portcullis"];
    let secrets = tempfile::tempdir().unwrap();
    let mounts = mounts(&doc, service, secrets.path());
    let to_host = |s: &str| -> String {
        mounts
            .iter()
            .find(|(inside, _)| inside == s)
            .map_or_else(|| s.to_string(), |(_, host)| host.display().to_string())
    };
    let command: Vec<String> = service["command"]
        .as_array()
        .expect("command list")
        .iter()
        .map(|a| to_host(a.as_str().unwrap()))
        .collect();
    let mut env = service_env(service);
    for value in env.values_mut() {
        *value = to_host(value);
    }
    // The compose network's `postgres` host is the local PostgreSQL here, one fresh database;
    // the published port is Docker's job, so the server takes any free one.
    let base = std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into());
    let db = TestDb::on_postgres(base).await;
    env.remove("PORTCULLIS_DATABASE_URL");
    let mut process = server_process::command(&db.url);
    process.args(&command).envs(&env);
    // ServerProcess::serve listens on 127.0.0.1:0.
    let server = ServerProcess::serve(process);

    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ready = http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());

    // The first admin, as the file's comment says.
    let login = format!("{}/admin/login", server.base);
    assert_eq!(http.get(&login).send().await.unwrap().status(), 200);
    let res = http
        .post(&login)
        .form(&[
            ("username", "admin"),
            ("password", env["PORTCULLIS_ADMIN_PASSWORD"].as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(res.headers()["location"], "/admin");
    let dashboard = http
        .get(format!("{}/admin", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), 200);

    // A token for the seed's client, as the file's curl line gets it.
    let res = http
        .post(format!("{}/oauth/token", server.base))
        .basic_auth(
            "m2m_reporting",
            Some(env["REPORTING_CLIENT_SECRET"].as_str()),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "res_tickets"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let (_, claims) = decode_jwt(body["access_token"].as_str().expect("access_token"));
    assert_eq!(claims["iss"], env["PORTCULLIS_ISSUER"].as_str());
    let audience = claims["aud"].as_array().expect("aud list");
    assert!(
        audience
            .iter()
            .any(|a| a == "https://tickets.acme.example/mcp"),
        "{claims}"
    );
    assert_eq!(claims["scope"], "tickets.read");
}

/// The COPY sources of the Dockerfile's build stage.
fn build_stage_copies(dockerfile: &str) -> Vec<String> {
    // Comments, then the build stage, then the runtime stage.
    let stage = dockerfile.split("\nFROM ").nth(1).expect("build stage");
    let mut sources = Vec::new();
    for line in stage.lines().filter(|l| l.starts_with("COPY ")) {
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        sources.extend(words[..words.len() - 1].iter().map(|w| w.to_string()));
    }
    sources
}

#[test]
fn dockerfile_installs_the_run_commands_packages_and_builds_from_what_it_copies() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("RUN ./dev deps serve"),
        "the build stage installs its packages with the run command's script"
    );
    let copies = build_stage_copies(&dockerfile);
    assert!(copies.contains(&"dev".to_string()));
    let ignored = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    for source in &copies {
        assert!(
            !ignored.lines().any(|l| l.trim() == source),
            "{source} is copied but .dockerignore leaves it out"
        );
    }
    // A context of only those files resolves the workspace and its host dependencies from the
    // lock file, offline.
    let context = tempfile::tempdir().unwrap();
    for source in &copies {
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(root().join(source))
            .arg(context.path().join(source))
            .status()
            .unwrap();
        assert!(status.success(), "cp {source}");
    }
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "-q",
        ])
        .arg("--manifest-path")
        .arg(context.path().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every file the code embeds at build time is inside the context.
    let copied: Vec<PathBuf> = copies.iter().map(|c| root().join(c)).collect();
    for (file, embedded) in embedded_files(&root().join("src")) {
        assert!(
            copied.iter().any(|c| embedded.starts_with(c)),
            "{} embeds {}, which the Dockerfile does not copy",
            file.display(),
            embedded.display()
        );
    }
}

/// (source file, embedded file) for every `include_str!`/`include_bytes!` under `dir`.
fn embedded_files(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(embedded_files(&path));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for marker in ["include_str!(\"", "include_bytes!(\""] {
            for (at, _) in text.match_indices(marker) {
                let rest = &text[at + marker.len()..];
                let relative = &rest[..rest.find('"').unwrap()];
                let embedded = path
                    .parent()
                    .unwrap()
                    .join(relative)
                    .canonicalize()
                    .unwrap();
                out.push((path.clone(), embedded));
            }
        }
    }
    out
}
