//! Scalekit's official SDKs as test peers: one call per process through the drivers in
//! tests/peers/scalekit/sdk.py (scalekit-sdk-python, FastMCP's ScalekitProvider) and
//! tests/peers/scalekit-node/sdk.mjs (@scalekit-sdk/node), installed and pinned by
//! tests/run.sh. A driver reads one JSON request on stdin and answers one JSON object.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::{Value, json};
use tokio::process::Command;

/// Which SDK a call goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    Python,
    Node,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("PORTCULLIS_TEST_SCALEKIT_PYTHON") {
        return p.into();
    }
    let venv = root().join("tests/peers/scalekit/.venv/bin/python");
    assert!(
        venv.exists(),
        "Scalekit's Python SDK is not installed: run tests/run.sh (it creates tests/peers/scalekit/.venv)"
    );
    venv
}

/// An application configured as Scalekit's docs say: the environment URL and the
/// environment client's credentials.
#[derive(Debug, Clone)]
pub struct SdkApp {
    pub sdk: Sdk,
    pub env_url: String,
    pub client_id: String,
    pub client_secret: String,
}

impl SdkApp {
    pub fn new(sdk: Sdk, env_url: &str, client_id: &str, client_secret: &str) -> SdkApp {
        SdkApp {
            sdk,
            env_url: env_url.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
        }
    }

    /// One SDK call: `Ok(result)`, or `Err((error_type, error))` for an SDK exception.
    pub async fn call(&self, op: &str, args: Value) -> Result<Value, (String, String)> {
        let mut request = json!({
            "env_url": self.env_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "op": op,
        });
        if let (Some(request), Some(args)) = (request.as_object_mut(), args.as_object()) {
            request.extend(args.clone());
        }
        let mut cmd = match self.sdk {
            Sdk::Python => {
                let mut c = Command::new(python());
                c.arg(root().join("tests/peers/scalekit/sdk.py"));
                c
            }
            Sdk::Node => {
                let mut c = Command::new("node");
                c.arg(root().join("tests/peers/scalekit-node/sdk.mjs"));
                c
            }
        };
        // The SDKs' own proxy settings must not send loopback calls elsewhere.
        cmd.env("NO_PROXY", "*").env("no_proxy", "*");
        let out = super::peers::run_json_driver(cmd, &request).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{:?} driver failed on {op}: {stdout}\n{stderr}",
            self.sdk
        );
        let answer: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{:?} driver answered no JSON ({e}): {stdout}\n{stderr}",
                self.sdk
            )
        });
        if answer["ok"] == true {
            Ok(answer["result"].clone())
        } else {
            Err((
                answer["error_type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                format!("{} {}", answer["error"], answer["details"]),
            ))
        }
    }

    /// A call that must succeed.
    pub async fn ok(&self, op: &str, args: Value) -> Value {
        self.call(op, args)
            .await
            .unwrap_or_else(|e| panic!("{:?} {op} failed: {e:?}", self.sdk))
    }
}
