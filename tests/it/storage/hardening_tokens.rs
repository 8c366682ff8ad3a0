//! A token family dies whole, even under races: concurrent presentations of one refresh
//! token or one code (2 and 20 at once, 50 trials each, in one server and across two
//! processes on one database) leave exactly one winner and no live token of the family;
//! a plain reuse ends the family's access tokens too. One "still allowed" check: a client
//! whose resource turned registration off no longer refreshes; a user enabled again and
//! signing in within the same second gets live tokens. A failed redemption is no replay.

use std::sync::Arc;
use std::time::Duration;

use portcullis::clock::FixedClock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::admin::bearer;
use crate::support::browser::{Browser, Flow, REDIRECT_URI, authorize_and_consent, pkce, query};
use crate::support::tokens::is_active;
use crate::support::tokens::{redeem, refresh, user_of};
use crate::support::{ServerProcess, Spawned, TEST_SECRET_KEY_B64, TestApp};

const AUTHORIZE: &str = "/resources/res_tickets/oauth/authorize";
const TOKEN: &str = "/resources/res_tickets/oauth/token";
const TRIALS: usize = 50;

/// A new code for a client whose consent the signed-in browser gave already.
async fn next_flow(b: &Browser, client_id: &str) -> Flow {
    let (verifier, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "tickets.read tickets.manage"),
        ])
        .finish();
    let page = b.get(&format!("{AUTHORIZE}?{q}")).await;
    let location = page.location.unwrap_or_default();
    assert!(
        location.starts_with(REDIRECT_URI),
        "{location} {}",
        page.body
    );
    let callback = query(&location);
    Flow {
        client_id: client_id.into(),
        verifier,
        code: callback["code"].clone(),
        callback,
    }
}

/// The first flow of a fresh DCR client for a signed-in user.
async fn first_flow(b: &Browser) -> Flow {
    let client_id = b.register("res_tickets").await;
    authorize_and_consent(
        b,
        AUTHORIZE,
        &client_id,
        None,
        "tickets.read tickets.manage",
        "racer@example.com",
        "jira-admins",
    )
    .await
}

/// POSTs `form` to the token endpoint of each base in turn, all at once; returns the
/// statuses and bodies.
async fn race(bases: &[String], form: &[(&str, &str)], racers: usize) -> Vec<(StatusCode, Value)> {
    let http = reqwest::Client::new();
    let form: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(racers));
    let mut tasks = Vec::new();
    for i in 0..racers {
        let (http, form, barrier) = (http.clone(), form.clone(), barrier.clone());
        let url = format!("{}{TOKEN}", bases[i % bases.len()]);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let res = http.post(url).form(&form).send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Exactly one 200; every other answer is invalid_grant. Returns the winner's tokens.
fn one_winner(results: Vec<(StatusCode, Value)>, what: &str) -> Value {
    let mut winners = Vec::new();
    for (status, body) in results {
        if status == 200 {
            winners.push(body);
        } else {
            assert_eq!(status, 400, "{what}: {body}");
            assert_eq!(body["error"], "invalid_grant", "{what}: {body}");
        }
    }
    assert_eq!(winners.len(), 1, "{what}: winners {winners:?}");
    winners.remove(0)
}

/// Nothing of the family is live: its access tokens read inactive and the winner's refresh
/// token is refused.
async fn assert_family_dead(
    s: &Spawned,
    b: &Browser,
    client_id: &str,
    tokens: &[&Value],
    what: &str,
) {
    for t in tokens {
        assert!(
            !is_active(s, &t["access_token"]).await,
            "{what}: a live access token"
        );
    }
    let last = tokens.last().unwrap();
    if last["refresh_token"].is_string() {
        let (status, body) = refresh(b, client_id, last).await;
        assert_eq!(
            status, 400,
            "{what}: the winner's refresh token still works: {body}"
        );
    }
}

/// Races `racers` presentations of one refresh token per trial, against `bases`.
async fn refresh_races(s: &Spawned, bases: &[String], racers: usize) {
    let b = Browser::new(s);
    let mut flow = first_flow(&b).await;
    for trial in 0..TRIALS {
        if trial > 0 {
            flow = next_flow(&b, &flow.client_id).await;
        }
        let (status, issued) = redeem(&b, &flow.client_id, &flow).await;
        assert_eq!(status, 200, "{issued}");
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", issued["refresh_token"].as_str().unwrap()),
            ("client_id", flow.client_id.as_str()),
        ];
        let what = format!("refresh, {racers} racers, trial {trial}");
        let winner = one_winner(race(bases, &form, racers).await, &what);
        assert_family_dead(s, &b, &flow.client_id, &[&issued, &winner], &what).await;
    }
}

/// Races `racers` redemptions of one code per trial, against `bases`.
async fn code_races(s: &Spawned, bases: &[String], racers: usize) {
    let b = Browser::new(s);
    let mut flow = first_flow(&b).await;
    for trial in 0..TRIALS {
        if trial > 0 {
            flow = next_flow(&b, &flow.client_id).await;
        }
        let form = flow.code_form();
        let what = format!("code, {racers} racers, trial {trial}");
        let winner = one_winner(race(bases, &form, racers).await, &what);
        assert_family_dead(s, &b, &flow.client_id, &[&winner], &what).await;
    }
}

#[tokio::test]
async fn concurrent_refreshes_leave_no_live_token_of_the_family() {
    let s = TestApp::builder().spawn().await;
    let bases = [s.base.clone()];
    refresh_races(&s, &bases, 2).await;
    refresh_races(&s, &bases, 20).await;
}

#[tokio::test]
async fn concurrent_code_redemptions_leave_no_live_token_of_the_family() {
    let s = TestApp::builder().spawn().await;
    let bases = [s.base.clone()];
    code_races(&s, &bases, 2).await;
    code_races(&s, &bases, 20).await;
}

/// A test app and a second portcullis process (the real binary) on the same database, with
/// the same issuer and secret key, as replicas behind a load balancer. The replica runs on
/// the real clock: so does the app.
async fn with_replica() -> (Spawned, ServerProcess) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let s = TestApp::builder()
        .clock(Arc::new(FixedClock::new(now)))
        .spawn()
        .await;
    let replica = ServerProcess::start(&[
        ("PORTCULLIS_ISSUER", s.base.as_str()),
        ("PORTCULLIS_DATABASE_URL", s.app.db.url.as_str()),
        ("PORTCULLIS_SECRET_KEY", TEST_SECRET_KEY_B64),
    ]);
    (s, replica)
}

#[tokio::test]
async fn races_across_two_processes_on_one_database_leave_no_live_token() {
    let (s, replica) = with_replica().await;
    let bases = [s.base.clone(), replica.base.clone()];
    // The replica answers for the same families (a token from here refreshes there).
    tokio::time::timeout(Duration::from_secs(240), async {
        refresh_races(&s, &bases, 2).await;
        refresh_races(&s, &bases, 20).await;
        code_races(&s, &bases, 2).await;
        code_races(&s, &bases, 20).await;
    })
    .await
    .expect("the races finish within 4 minutes");
}

#[tokio::test]
async fn a_reused_refresh_token_ends_the_familys_access_tokens_too() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let flow = first_flow(&b).await;
    let (_, first) = redeem(&b, &flow.client_id, &flow).await;
    let (status, second) = refresh(&b, &flow.client_id, &first).await;
    assert_eq!(status, 200, "{second}");
    assert!(is_active(&s, &first["access_token"]).await);
    assert!(is_active(&s, &second["access_token"]).await);

    // The first refresh token again: reuse.
    let (status, body) = refresh(&b, &flow.client_id, &first).await;
    assert_eq!(status, 400, "{body}");
    for t in [&first, &second] {
        assert!(!is_active(&s, &t["access_token"]).await, "introspection");
        let res = reqwest::Client::new()
            .get(format!("{}/oauth/userinfo", s.base))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "userinfo");
    }
    let (status, _) = refresh(&b, &flow.client_id, &second).await;
    assert_eq!(status, 400, "the successor dies with the family");
    assert_eq!(s.audit("refresh.reuse_detected").await.len(), 1);
}

#[tokio::test]
async fn a_failed_redemption_leaves_the_code_usable_and_is_not_a_replay() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let flow = first_flow(&b).await;
    let other_client = b.register("res_tickets").await;
    let (wrong_verifier, _) = pkce();
    for (name, value) in [
        ("code_verifier", wrong_verifier.as_str()),
        ("client_id", &other_client),
    ] {
        let mut form = flow.code_form().to_vec();
        form.retain(|(k, _)| *k != name);
        form.push((name, value));
        let (status, body) = b.token(TOKEN, &form).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body["error"], "invalid_grant", "{name}: {body}");
    }
    let (status, tokens) = redeem(&b, &flow.client_id, &flow).await;
    assert_eq!(status, 200, "the rightful client still redeems: {tokens}");
    assert!(is_active(&s, &tokens["access_token"]).await);
    assert!(s.audit("code.replay_detected").await.is_empty());
    let refused = s.audit("token.refused").await;
    assert_eq!(refused.len(), 2, "{refused:?}");

    // A real replay is one, and ends what the code issued.
    let (status, _) = redeem(&b, &flow.client_id, &flow).await;
    assert_eq!(status, 400);
    assert_eq!(s.audit("code.replay_detected").await.len(), 1);
    assert!(!is_active(&s, &tokens["access_token"]).await);
}

#[tokio::test]
async fn a_client_whose_resource_turned_registration_off_no_longer_refreshes() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    // Registered at the environment endpoint: usable with any resource allowing DCR.
    let client_id = b.register_at("/oauth/register").await;
    let flow = authorize_and_consent(
        &b,
        AUTHORIZE,
        &client_id,
        None,
        "tickets.read",
        "dcr@example.com",
        "",
    )
    .await;
    let (status, tokens) = redeem(&b, &client_id, &flow).await;
    assert_eq!(status, 200, "{tokens}");
    let (status, tokens) = refresh(&b, &client_id, &tokens).await;
    assert_eq!(status, 200, "{tokens}");

    s.apply_seed(
        r#"
[[resources]]
id = "res_tickets"
name = "Tickets"
server_url = "http://127.0.0.1:8081/mcp"
dynamic_client_registration = false
scopes = [ { name = "tickets.read", description = "Read tickets" },
           { name = "tickets.manage", description = "Create and change tickets" } ]
"#,
    )
    .await;
    let (status, body) = refresh(&b, &client_id, &tokens).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[tokio::test]
async fn a_user_enabled_again_and_signing_in_within_the_same_second_gets_live_tokens() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;
    let b = Browser::new(&s);
    let flow = first_flow(&b).await;
    let (_, tokens) = redeem(&b, &flow.client_id, &flow).await;
    let user = user_of(&tokens);
    for action in ["disable", "enable"] {
        let (status, body) = api
            .post(&format!("/users/{user}/{action}"), json!({}))
            .await;
        assert_eq!(status, 200, "{action}: {body}");
    }
    assert!(!is_active(&s, &tokens["access_token"]).await, "revived");
    // The clock has not moved: the same second as the cut-off.
    let fresh = Browser::new(&s);
    let client_id = fresh.register("res_tickets").await;
    let flow = authorize_and_consent(
        &fresh,
        AUTHORIZE,
        &client_id,
        None,
        "tickets.read",
        "racer@example.com",
        "",
    )
    .await;
    let (status, again) = redeem(&fresh, &client_id, &flow).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(user_of(&again), user);
    assert!(is_active(&s, &again["access_token"]).await);
    let (status, body) = refresh(&fresh, &client_id, &again).await;
    assert_eq!(status, 200, "{body}");
}

/// A replica killed (SIGKILL) while it rotates refresh tokens and redeems codes leaves every
/// family with exactly one usable refresh token unless it was revoked, and no code consumed
/// without the tokens it issued recorded.
#[tokio::test]
async fn a_crash_under_load_breaks_no_family_and_loses_no_redemption() {
    let (s, mut replica) = with_replica().await;
    let b = Browser::new(&s);
    let mut first = Some(first_flow(&b).await);
    let client_id = first.as_ref().unwrap().client_id.clone();
    let mut families = Vec::new();
    let mut codes = Vec::new();
    for i in 0..40 {
        let flow = match first.take() {
            Some(f) => f,
            None => next_flow(&b, &client_id).await,
        };
        if i % 2 == 0 {
            let (status, tokens) = redeem(&b, &client_id, &flow).await;
            assert_eq!(status, 200, "{tokens}");
            families.push(tokens["refresh_token"].as_str().unwrap().to_string());
        } else {
            codes.push(flow);
        }
    }
    let url = format!("{}{TOKEN}", replica.base);
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for mut refresh_token in families {
        let (http, url, client_id) = (http.clone(), url.clone(), client_id.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.as_str()),
                    ("client_id", client_id.as_str()),
                ];
                let Ok(res) = http.post(&url).form(&form).send().await else {
                    break;
                };
                let Ok(body) = res.json::<Value>().await else {
                    break;
                };
                match body["refresh_token"].as_str() {
                    Some(next) => refresh_token = next.to_string(),
                    None => break,
                }
            }
        }));
    }
    for flow in codes {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = http.post(&url).form(&flow.code_form()).send().await;
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    replica.child.kill().unwrap();
    replica.child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.app.db.url).await.unwrap();
    // Per family: refresh tokens still usable, and revoked ones.
    let families: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT family_id, \
         SUM(CASE WHEN used_at IS NULL AND revoked_at IS NULL THEN 1 ELSE 0 END), \
         SUM(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END) \
         FROM refresh_tokens GROUP BY family_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(families.len() >= 20, "{}", families.len());
    for (family, usable, revoked) in &families {
        assert!(
            *revoked > 0 || *usable == 1,
            "family {family}: {usable} usable refresh tokens and none revoked"
        );
    }
    let (lost,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM authorization_codes WHERE used_at IS NOT NULL AND access_jti IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(lost, 0, "codes consumed without their tokens recorded");
    pool.close().await;
}
