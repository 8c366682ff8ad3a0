//! docker-compose.yml cannot run here (no Docker engine), so check it: valid YAML, a
//! PostgreSQL service, and only configuration names portcullis knows.

use std::collections::BTreeSet;

use crate::support::peer_python;

#[test]
fn compose_file_is_valid_and_uses_known_configuration_names() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(peer_python())
        .arg("-c")
        .arg("import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))")
        .arg(root.join("docker-compose.yml"))
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let services = doc["services"].as_object().expect("services");
    assert!(services.values().any(|s| {
        s["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("postgres"))
    }));
    let portcullis = &services["portcullis"];
    assert!(portcullis["build"].is_string() || portcullis["build"].is_object());
    assert!(root.join("Dockerfile").exists());

    let env = portcullis["environment"]
        .as_object()
        .expect("environment map");
    let known: BTreeSet<&str> = portcullis::config::KEYS.iter().map(|(_, e)| *e).collect();
    for name in env.keys() {
        assert!(
            known.contains(name.as_str()),
            "unknown configuration name {name} in docker-compose.yml"
        );
    }
    for required in [
        "PORTCULLIS_DATABASE_URL",
        "PORTCULLIS_ISSUER",
        "PORTCULLIS_LISTEN",
    ] {
        assert!(env.contains_key(required), "{required} missing");
    }
    assert!(
        env["PORTCULLIS_DATABASE_URL"]
            .as_str()
            .unwrap()
            .starts_with("postgres://")
    );
    assert!(
        env.contains_key("PORTCULLIS_SECRET_KEY") || env.contains_key("PORTCULLIS_SECRET_KEY_FILE")
    );
}
