//! What outsiders send is bounded: authorization parameters are capped with a clear page;
//! the token endpoint never fetches (nor caches, nor stores) a metadata-document client
//! that no resource admits; audit records keep capped ids; registration limits count
//! registrations (not live rows) and hold under concurrency.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::browser::REDIRECT_URI;
use crate::support::{Spawned, TestApp};

/// A public client's registration at `base`'s environment endpoint (the answer as sent).
async fn register(http: &reqwest::Client, base: &str) -> reqwest::Response {
    http.post(format!("{base}/oauth/register"))
        .json(&json!({
            "client_name": "Limits",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none"
        }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn oversized_authorization_parameters_get_a_page() {
    let s = TestApp::builder().spawn().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (name, size) in [
        ("state", 1_025),
        ("nonce", 513),
        ("login_hint", 321),
        ("zzz", 9_000),
    ] {
        let url = format!(
            "{}/resources/res_tickets/oauth/authorize?response_type=code&client_id=m2m_x&{name}={}",
            s.base,
            "a".repeat(size)
        );
        let res = http.get(url).send().await.unwrap();
        assert_eq!(res.status(), 400, "{name}");
        let body = res.text().await.unwrap();
        assert!(body.contains("too long"), "{name}: {body}");
    }
}

#[tokio::test]
async fn the_token_endpoint_never_fetches_a_metadata_document_no_resource_admits() {
    let s = TestApp::builder().spawn().await;
    let http = reqwest::Client::new();
    for i in 0..50 {
        let res = http
            .post(format!("{}/oauth/token", s.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("code_verifier", "y"),
                (
                    "client_id",
                    &format!("https://cimd-{i}.example.com/{}", "p".repeat(8_000)),
                ),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
    }
    assert!(s.app.state.cimd.is_empty(), "nothing cached");
    assert!(s.audit("client_metadata.fetched").await.is_empty());
    assert!(s.audit("client_metadata.refused").await.is_empty());
    let refused = s.audit("token.refused").await;
    assert_eq!(refused.len(), 50);
    for r in refused {
        let id = r.client_id.unwrap();
        assert!(
            id.chars().count() < 250,
            "an audit id of {} chars",
            id.len()
        );
        assert!(id.ends_with("[truncated]"), "{id}");
    }
}

#[tokio::test]
async fn the_registration_rate_limit_counts_registrations_not_live_clients() {
    let s = TestApp::builder()
        .configure(|c| c.dcr_rate_limit = 5)
        .spawn()
        .await;
    let http = reqwest::Client::new();
    for _ in 0..5 {
        let res = register(&http, &s.base).await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        // RFC 7592: delete the registration again.
        let res = http
            .delete(body["registration_client_uri"].as_str().unwrap())
            .bearer_auth(body["registration_access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    assert_eq!(register(&http, &s.base).await.status(), 429);
}

/// `racers` concurrent registrations against `bases`; returns how many were accepted.
async fn concurrent_registrations(s: &Spawned, racers: usize) -> usize {
    let http = reqwest::Client::new();
    let barrier = Arc::new(tokio::sync::Barrier::new(racers));
    let mut tasks = Vec::new();
    for _ in 0..racers {
        let (http, barrier, base) = (http.clone(), barrier.clone(), s.base.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let res = register(&http, &base).await;
            res.status().as_u16()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            201 => accepted += 1,
            429 | 503 => {}
            other => panic!("registration answered {other}"),
        }
    }
    accepted
}

#[tokio::test]
async fn registration_limits_hold_under_concurrency() {
    let s = TestApp::builder()
        .configure(|c| c.dcr_rate_limit = 10)
        .spawn()
        .await;
    assert_eq!(concurrent_registrations(&s, 40).await, 10, "rate limit");

    let s = TestApp::builder()
        .configure(|c| {
            c.dcr_rate_limit = 1_000;
            c.dcr_max_clients = 7;
        })
        .spawn()
        .await;
    assert_eq!(concurrent_registrations(&s, 30).await, 7, "cap on clients");
}

/// Opens `n` connections that send half a request's headers and stop.
async fn half_requests(base: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let addr = base.trim_start_matches("http://");
    let mut held = Vec::new();
    for _ in 0..n {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /oauth/authorize HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(c);
    }
    held
}

#[tokio::test]
async fn slow_clients_are_cut_off_health_checks_keep_headroom_and_shutdown_is_bounded() {
    use tokio::io::AsyncReadExt;
    let db = crate::support::TestDb::fresh().await;
    let server = crate::support::ServerProcess::start(&[
        ("PORTCULLIS_DATABASE_URL", db.url.as_str()),
        ("PORTCULLIS_SECRET_KEY", crate::support::TEST_SECRET_KEY_B64),
        ("PORTCULLIS_MAX_CONNECTIONS", "20"),
        ("PORTCULLIS_SHUTDOWN_TIMEOUT", "2"),
    ]);
    let base = server.base.clone();
    let mut held = half_requests(&base, 30).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // 30 held: the cap of 20 is full; health checks still answer, other requests get 503.
    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let busy = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 503);

    // Headers not sent within 10 s: the server closes those connections.
    let started = std::time::Instant::now();
    for c in held.iter_mut() {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(std::time::Duration::from_secs(20), c.read(&mut buf))
            .await
            .expect("the server closes a slow connection");
        assert!(
            read.map(|n| n == 0 || buf.starts_with(b"HTTP/1.1 408"))
                .unwrap_or(true)
        );
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let ok = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.status(),
        200,
        "served again once the slow clients are gone"
    );

    // One client holding half a request does not stop SIGTERM from ending the process.
    let _stuck = half_requests(&base, 1).await;
    let mut server = server;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SIGTERM did not end the server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_address_holds_only_so_many_unfinished_authorizations() {
    let s = TestApp::builder().spawn().await;
    let b = crate::support::browser::Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let (_, challenge) = crate::support::browser::pkce();
    let url = format!(
        "/resources/res_tickets/oauth/authorize?response_type=code&client_id={client_id}\
         &redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_challenge={challenge}\
         &code_challenge_method=S256&scope=tickets.read&state={}",
        "s".repeat(1_000)
    );
    let limit = portcullis::oauth::authorize::MAX_PENDING_PER_ADDRESS;
    for i in 0..limit {
        let page = b.get(&url).await;
        assert!(
            page.status.is_redirection(),
            "{i}: {} {}",
            page.status,
            page.body
        );
    }
    let refused = b.get(&url).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(
        refused.body.contains("Too many sign-ins"),
        "{}",
        refused.body
    );
    // They expire with the pending window.
    s.app
        .clock
        .advance(portcullis::oauth::authorize::PENDING_TTL + 1);
    assert!(b.get(&url).await.status.is_redirection());
}

#[tokio::test]
async fn client_lists_are_paged() {
    let s = TestApp::builder()
        .configure(|c| c.dcr_rate_limit = 1_000)
        .spawn()
        .await;
    let http = reqwest::Client::new();
    for _ in 0..120 {
        assert_eq!(register(&http, &s.base).await.status(), 201);
    }
    let api = crate::support::admin::bearer(&s).await;
    let first = api.get("/clients").await;
    let page: Vec<Value> = first["clients"].as_array().unwrap().clone();
    assert_eq!(page.len() as i64, portcullis::admin::clients::PAGE_SIZE);
    let next = first["next"].as_str().unwrap().to_string();
    let second = api.get(&format!("/clients?after={next}")).await;
    let rest = second["clients"].as_array().unwrap();
    assert!(second["next"].is_null(), "{second}");
    let mut ids: Vec<&str> = page
        .iter()
        .chain(rest.iter())
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "no client listed twice");
    assert!(total >= 120, "{total}");

    let admin = crate::support::admin::Admin::login(&s).await;
    let html = admin.page("/admin/clients").await;
    assert!(html.body.contains("id=\"next-page\""), "{}", html.body);
}
