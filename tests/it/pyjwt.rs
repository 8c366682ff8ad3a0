//! Tokens checked by an independently written JWT library (PyJWT) against `/keys`
//! served over real HTTP.

use std::sync::Arc;

use portcullis::clock::{Clock, FixedClock, SystemClock};
use portcullis::config::SigningAlg;
use serde_json::json;

use crate::support::{SERVICE_SECRET, Spawned, TestApp, basic, verify_with_pyjwt};

async fn spawn(alg: SigningAlg) -> Spawned {
    // PyJWT allows no leeway: tokens must be issued at the real time.
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    TestApp::builder().alg(alg).clock(clock).spawn().await
}

async fn fetch_token(base: &str, path: &str, resource: Option<&str>) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("authorization", basic("m2m_service", SERVICE_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn pyjwt_verifies_client_credentials_tokens_for_every_algorithm() {
    for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
        let s = spawn(alg).await;
        let jwks = format!("{}/keys", s.base);
        let jwt = fetch_token(&s.base, "/oauth/token", Some("res_tickets")).await;

        let verified = verify_with_pyjwt(&jwt, &jwks, &s.base, "res_tickets")
            .await
            .expect("PyJWT verifies");
        assert_eq!(verified["header"]["typ"], "at+jwt");
        assert_eq!(verified["header"]["alg"], alg.as_str());
        let claims = &verified["claims"];
        assert_eq!(
            claims["aud"],
            json!(["res_tickets", "http://127.0.0.1:8081/mcp"])
        );
        assert_eq!(claims["sub"], "m2m_service");
        assert_eq!(claims["scopes"], json!(["tickets.read", "tickets.manage"]));
        // The MCP server URL is an audience too.
        verify_with_pyjwt(&jwt, &jwks, &s.base, "http://127.0.0.1:8081/mcp")
            .await
            .expect("URL audience");
        // Negative controls: another audience, another issuer, a tampered payload.
        assert!(
            verify_with_pyjwt(&jwt, &jwks, &s.base, "res_wiki")
                .await
                .is_err()
        );
        assert!(
            verify_with_pyjwt(&jwt, &jwks, "http://evil.example", "res_tickets")
                .await
                .is_err()
        );
        assert!(
            verify_with_pyjwt(
                &crate::support::tamper_payload(&jwt),
                &jwks,
                &s.base,
                "res_tickets"
            )
            .await
            .is_err()
        );
    }
}

#[tokio::test]
async fn pyjwt_sees_the_per_resource_issuer_at_per_resource_endpoints() {
    let s = spawn(SigningAlg::Rs256).await;
    let jwt = fetch_token(&s.base, "/resources/res_tickets/oauth/token", None).await;
    let issuer = format!("{}/resources/res_tickets", s.base);
    let doc: serde_json::Value =
        reqwest::get(format!("{issuer}/.well-known/oauth-authorization-server"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        doc["issuer"],
        issuer.as_str(),
        "metadata issuer equals the token issuer"
    );
    verify_with_pyjwt(
        &jwt,
        doc["jwks_uri"].as_str().unwrap(),
        &issuer,
        "res_tickets",
    )
    .await
    .expect("verifies");
}

#[tokio::test]
async fn authlib_completes_the_code_flow_with_pkce_refresh_and_iss() {
    let s = spawn(SigningAlg::Rs256).await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/authlib_flow.py");
    let out = tokio::process::Command::new(crate::support::peer_python())
        .arg(script)
        .args([
            s.base.as_str(),
            "res_tickets",
            "alice@example.com",
            "jira-admins",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        summary["issuer"],
        format!("{}/resources/res_tickets", s.base)
    );
    assert_eq!(
        summary["claims"]["scope"],
        "tickets.read tickets.manage:org_acme"
    );
    assert_eq!(summary["claims"]["oid"], "org_acme");
    assert_eq!(
        summary["refreshed_scope"],
        "tickets.read tickets.manage:org_acme"
    );
    assert_eq!(summary["rotated"], true);
}
