//! Dynamic registration policy: a rate limit per address (429 with Retry-After), a cap,
//! reaping of idle clients without live refresh tokens (a reaped client's token request
//! is 401 invalid_client), and the RFC 7592 configuration endpoint.

use serde_json::json;

use crate::support::TestApp;
use crate::support::browser::{Browser, REDIRECT_URI, authorize_and_consent};

fn registration() -> serde_json::Value {
    json!({ "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"] })
}

#[tokio::test]
async fn the_n_plus_first_registration_from_one_address_gets_429() {
    let s = TestApp::builder()
        .configure(|c| c.dcr_rate_limit = 3)
        .spawn()
        .await;
    let http = reqwest::Client::new();
    let register = |from: Option<&'static str>| {
        let mut req = http
            .post(format!("{}/oauth/register", s.base))
            .json(&registration());
        if let Some(f) = from {
            req = req.header("x-forwarded-for", f);
        }
        req.send()
    };
    for _ in 0..3 {
        assert_eq!(register(None).await.unwrap().status(), 201);
    }
    let refused = register(None).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    // X-Forwarded-For from an untrusted peer is not believed: still the same bucket.
    assert_eq!(register(Some("203.0.113.9")).await.unwrap().status(), 429);
    // The window passes.
    s.app.clock.advance(3601);
    assert_eq!(register(None).await.unwrap().status(), 201);
}

#[tokio::test]
async fn a_trusted_proxy_separates_addresses_and_the_cap_holds() {
    let s = TestApp::builder()
        .configure(|c| {
            c.dcr_rate_limit = 1;
            c.dcr_max_clients = 2;
            c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        })
        .spawn()
        .await;
    let http = reqwest::Client::new();
    let register = |from: &'static str| {
        http.post(format!("{}/oauth/register", s.base))
            .header("x-forwarded-for", from)
            .json(&registration())
            .send()
    };
    assert_eq!(register("198.51.100.1").await.unwrap().status(), 201);
    assert_eq!(
        register("198.51.100.1").await.unwrap().status(),
        429,
        "one per address"
    );
    assert_eq!(
        register("198.51.100.2").await.unwrap().status(),
        201,
        "another address has its own bucket"
    );
    let capped = register("198.51.100.3").await.unwrap();
    assert_eq!(capped.status(), 503, "the cap of dynamic clients");
}

#[tokio::test]
async fn reaping_deletes_idle_clients_without_live_refresh_tokens_only() {
    let s = TestApp::builder()
        .configure(|c| c.dcr_idle_ttl = 3_600)
        .spawn()
        .await;
    let b = Browser::new(&s);
    let idle = b.register("res_tickets").await;
    let active = b.register("res_tickets").await;
    let flow = authorize_and_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &active,
        None,
        "tickets.read",
        "bob@example.com",
        "",
    )
    .await;
    let (status, tokens) = b
        .token(
            "/resources/res_tickets/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &flow.code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &flow.verifier),
                ("client_id", &active),
            ],
        )
        .await;
    assert_eq!(status, 200);
    s.app.clock.advance(3_601);
    let reaped = portcullis::oauth::register::reap_idle(&s.app.state)
        .await
        .unwrap();
    assert_eq!(
        reaped,
        vec![idle.clone()],
        "the idle client goes, the one with a live refresh token stays"
    );
    assert!(
        s.app
            .state
            .store
            .find_client(&active)
            .await
            .unwrap()
            .is_some()
    );

    // The reaped client's next token request: 401 invalid_client, so it registers again.
    let (status, body) = b
        .token(
            "/resources/res_tickets/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "whatever"),
                ("client_id", &idle),
            ],
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    let refreshed = b
        .token(
            "/resources/res_tickets/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", &active),
            ],
        )
        .await;
    assert_eq!(refreshed.0, 200, "the kept client still works");
    s.app.state.audit.flush().await;
    let events = s
        .app
        .state
        .store
        .list_audit_events(&portcullis::store::AuditFilter {
            kind: Some("client.reaped".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].client_id.as_deref(), Some(idle.as_str()));
}

#[tokio::test]
async fn rfc7592_reads_updates_and_deletes_with_the_registration_access_token_only() {
    let s = TestApp::builder().spawn().await;
    let http = reqwest::Client::new();
    let reg: serde_json::Value = http
        .post(format!("{}/oauth/register", s.base))
        .json(&registration())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uri = reg["registration_client_uri"].as_str().unwrap().to_string();
    let token = reg["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        uri,
        format!(
            "{}/oauth/register/{}",
            s.base,
            reg["client_id"].as_str().unwrap()
        )
    );

    let read = http.get(&uri).bearer_auth(&token).send().await.unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(
        read.json::<serde_json::Value>().await.unwrap()["client_id"],
        reg["client_id"]
    );
    for bad in ["wrong-token", ""] {
        let refused = http.get(&uri).bearer_auth(bad).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{bad:?}");
    }
    // Another client's token does not open this registration.
    let other: serde_json::Value = http
        .post(format!("{}/oauth/register", s.base))
        .json(&registration())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cross = http
        .delete(&uri)
        .bearer_auth(other["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 401);

    assert_eq!(
        http.delete(&uri)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        http.get(&uri)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "gone"
    );
    assert!(
        s.app
            .state
            .store
            .find_client(reg["client_id"].as_str().unwrap())
            .await
            .unwrap()
            .is_none()
    );
}
