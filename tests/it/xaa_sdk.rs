//! Enterprise-managed authorization with the official MCP SDKs, no browser involved: the
//! TypeScript SDK v2 (`@modelcontextprotocol/client`, its `CrossAppAccessProvider` and
//! `PrivateKeyJwtProvider`) and the Python `mcp` SDK (`IdentityAssertionOAuthProvider`,
//! `PrivateKeyJWTOAuthProvider`), pinned, get an ID-JAG from the simulator's IdP (token
//! exchange of an ID token it issued), then an access token from portcullis, and call a tool
//! on the demo MCP server; and get client-credentials tokens with `private_key_jwt`.
//! Drivers: tests/peers/mcp-ts2/enterprise.mjs and tests/peers/mcp_py_enterprise.py.

use std::path::PathBuf;
use std::sync::Arc;

use portcullis::clock::{Clock, FixedClock, SystemClock};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::support::demo::Demo;
use crate::support::peers::PeerSocket;
use crate::support::{Spawned, TestApp, peer_python};

const AGENT_SECRET: &str = "xaa-agent-secret-0123456789abcdef";

fn seed(server_url: &str, jwks: &Value) -> String {
    format!(
        r#"
[[resources]]
id = "res_demo"
name = "Tickets (demo)"
server_url = "{server_url}"
xaa_enabled = true
scopes = [ {{ name = "tickets.read", description = "Read tickets" }},
           {{ name = "tickets.manage", description = "Create and change tickets" }} ]

[[rules]]
id = "rule_demo_readers"
resource = "res_demo"
organization = "org_acme"
when = {{ any = true }}
grant = ["tickets.read"]

[[clients]]
id = "m2m_xaa_agent"
name = "Enterprise agent"
secret = "{AGENT_SECRET}"
grant_types = ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
resources = ["res_demo"]

[[clients]]
id = "m2m_signed_job"
name = "Signed job"
token_endpoint_auth_method = "private_key_jwt"
jwks = JWKS
grant_types = ["client_credentials"]
resources = ["res_demo"]
scopes = ["tickets.read"]
"#
    )
    .replace(
        "jwks = JWKS",
        &format!("jwks = {}", crate::support::toml_inline(jwks)),
    )
}

/// A P-256 key: its PKCS#8 PEM (for the SDKs) and its public JWK Set (for the seed).
fn client_key() -> (String, Value) {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let key =
        openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
    let pem = String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let der = key.private_key_to_pkcs8().unwrap();
    let pair =
        josekit::jwk::alg::ec::EcKeyPair::from_der(der, Some(josekit::jwk::alg::ec::EcCurve::P256))
            .unwrap();
    let jwk: Value = serde_json::from_str(&pair.to_jwk_public_key().to_string()).unwrap();
    (pem, json!({ "keys": [jwk] }))
}

struct Setup {
    s: Spawned,
    demo: Demo,
    pem: String,
}

async fn setup() -> Setup {
    // The demo and the SDKs check times against the real clock.
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let s = TestApp::builder().clock(clock).spawn().await;
    let socket = PeerSocket::bind();
    let url = format!("http://127.0.0.1:{}/mcp", socket.port);
    let (pem, jwks) = client_key();
    s.apply_seed(&seed(&url, &jwks)).await;
    let issuer = format!("{}/resources/res_demo", s.base);
    let demo = Demo::start(&issuer, &url, socket).await;
    Setup { s, demo, pem }
}

impl Setup {
    fn as_issuer(&self) -> String {
        format!("{}/resources/res_demo", self.s.base)
    }

    /// An ID token of the simulator's IdP: the person signed in at their enterprise IdP.
    async fn id_token(&self, email: &str) -> String {
        let res = reqwest::Client::new()
            .post(format!(
                "{}/sso/v1/simulator/conn_acme_sim/id-token",
                self.s.base
            ))
            .form(&[("email", email), ("client_id", "m2m_xaa_agent")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["id_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn xaa_input(&self) -> Value {
        json!({
            "mode": "xaa", "mcp_url": self.demo.url, "as_issuer": self.as_issuer(),
            "tool": "list_tickets", "scope": "tickets.read",
            "client_id": "m2m_xaa_agent", "client_secret": AGENT_SECRET,
            "idp_token_endpoint": format!("{}/sso/v1/simulator/conn_acme_sim/token", self.s.base),
            "idp_client_id": "m2m_xaa_agent", "id_token": self.id_token("ann@example.com").await,
        })
    }

    fn private_key_jwt_input(&self) -> Value {
        json!({
            "mode": "private_key_jwt", "mcp_url": self.demo.url, "as_issuer": self.as_issuer(),
            "tool": "list_tickets", "scope": "tickets.read",
            "client_id": "m2m_signed_job", "private_key_pem": self.pem, "alg": "ES256",
        })
    }
}

/// Runs a driver with `input` on stdin; its JSON answer.
async fn drive(cmd: Command, input: &Value) -> Value {
    let out = crate::support::peers::run_json_driver(cmd, input).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn typescript() -> Command {
    let mut c = Command::new("node");
    c.arg(root().join("tests/peers/mcp-ts2/enterprise.mjs"));
    c
}

fn python() -> Command {
    let mut c = Command::new(peer_python());
    c.arg(root().join("tests/peers/mcp_py_enterprise.py"));
    c
}

fn assert_called(answer: &Value, what: &str) {
    assert_eq!(answer["ok"], true, "{what}: {answer}");
    assert!(
        answer["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("list_tickets")),
        "{what}: {answer}"
    );
    assert_ne!(answer["result"]["isError"], true, "{what}: {answer}");
}

#[tokio::test]
async fn the_mcp_sdks_call_a_tool_with_an_id_jag_and_with_private_key_jwt() {
    let x = setup().await;
    for (name, cmd) in [
        ("TypeScript", typescript as fn() -> Command),
        ("Python", python),
    ] {
        let answer = drive(cmd(), &x.xaa_input().await).await;
        assert_called(&answer, &format!("{name} cross-app access"));
        let answer = drive(cmd(), &x.private_key_jwt_input()).await;
        assert_called(&answer, &format!("{name} private_key_jwt"));
    }
    // The demo saw the person (via Cross-App Access) and the signed job, each with tickets.read.
    let calls = x.demo.tool_call_audit();
    assert!(calls.len() >= 4, "{calls:?}");
    let issued = x.s.audit("token.issued").await;
    let by_grant = |g: &str| {
        issued
            .iter()
            .filter(|e| e.detail["grant_type"] == g)
            .count()
    };
    assert_eq!(by_grant("jwt-bearer"), 2, "{issued:?}");
    assert_eq!(by_grant("client_credentials"), 2, "{issued:?}");
    // A wrong ID token gets the SDK nowhere.
    let mut bad = x.xaa_input().await;
    bad["id_token"] = json!(crate::support::tamper_payload(
        bad["id_token"].as_str().unwrap()
    ));
    for cmd in [typescript as fn() -> Command, python] {
        assert_eq!(drive(cmd(), &bad).await["ok"], false);
    }
}
