//! Bring-your-own-auth (a `custom` connection) over real HTTP: the authorize step sends the
//! browser to the application's login page with `login_request_id` and `state`; the
//! application posts the signed-in user with its management token (never another token);
//! the partner callback completes the login once, only in the browser that started it, and
//! the flow goes on with rules and consent to tokens.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::browser::{Browser, pkce, query};
use crate::support::{SERVICE_SECRET, Spawned, TestApp, basic, decode_jwt};

const APP_SECRET: &str = "app-client-secret-0123456789abcdef";
const LOGIN_URL: &str = "http://127.0.0.1:5555/app-login";

const SEED: &str = r#"
[[organizations]]
id = "org_byoa"
display_name = "Own Login Inc"
domains = ["byoa.example"]

[[organizations.connections]]
id = "conn_custom"
kind = "custom"
login_url = "http://127.0.0.1:5555/app-login"

[[clients]]
id = "m2m_batch"
name = "A batch job for two servers"
secret = "batch-client-secret-0123456789abcd"
grant_types = ["client_credentials"]
resources = ["res_tickets", "res_wiki"]

[[clients]]
id = "skc_app"
name = "The application"
secret = "app-client-secret-0123456789abcdef"
grant_types = ["client_credentials"]
"#;

async fn spawn() -> Spawned {
    let s = TestApp::builder().spawn().await;
    s.apply_seed(SEED).await;
    s
}

/// The application's management token (its own client credentials, no resource).
async fn management_token(s: &Spawned) -> String {
    let res = reqwest::Client::new()
        .post(format!("{}/oauth/token", s.base))
        .header("authorization", basic("skc_app", APP_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An authorization through the custom connection, up to the application's login page:
/// `(verifier, login_request_id, state, the browser's login cookie)`.
async fn begin(b: &Browser) -> (String, String, String, String) {
    let (verifier, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", "m2m_public"),
            ("redirect_uri", "http://127.0.0.1/cb"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st-byoa"),
            ("scope", "tickets.read"),
            ("connection_id", "conn_custom"),
        ])
        .finish();
    let start = b.get(&format!("/oauth/authorize?{q}")).await;
    let to_start = start
        .location
        .clone()
        .unwrap_or_else(|| panic!("{}", start.body));
    assert!(
        to_start.starts_with("/sso/v1/connections/conn_custom/start?"),
        "{to_start}"
    );
    let page = b.get(&to_start).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let login_cookie = page.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let to_app = page.location.unwrap();
    assert!(
        to_app.starts_with(&format!("{LOGIN_URL}?login_request_id=")),
        "{to_app}"
    );
    let q = query(&to_app);
    (
        verifier,
        q["login_request_id"].clone(),
        q["state"].clone(),
        login_cookie,
    )
}

async fn post_user(
    s: &Spawned,
    conn: &str,
    login_request_id: &str,
    auth: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/connections/{conn}/auth-requests/{login_request_id}/user",
            s.base
        ))
        .json(&body);
    if let Some(token) = auth {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn user() -> Value {
    json!({ "sub": "app-user-7", "email": "Dana@byoa.example", "given_name": "Dana",
            "family_name": "Scully", "groups": ["agents"] })
}

fn callback(state: &str) -> String {
    format!("/sso/v1/connections/conn_custom/partner:callback?state={state}")
}

#[tokio::test]
async fn the_applications_own_login_signs_the_person_in_once_in_their_browser() {
    let s = spawn().await;
    let b = Browser::new(&s);
    let (verifier, login_request_id, state, login_cookie) = begin(&b).await;

    // The browser comes back before the application said who signed in: refused, and
    // nothing is used up.
    let early = b.get(&callback(&state)).await;
    assert_eq!(early.status, 400, "{}", early.body);

    let token = management_token(&s).await;
    let (status, body) =
        post_user(&s, "conn_custom", &login_request_id, Some(&token), user()).await;
    assert_eq!(status, 200, "{body}");
    // Set once.
    let (status, body) =
        post_user(&s, "conn_custom", &login_request_id, Some(&token), user()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );

    // Carried to another browser: refused, and the login stays the first browser's.
    let other = Browser::new(&s);
    let stolen = other.get(&callback(&state)).await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
    assert!(stolen.body.contains("browser_mismatch"), "{}", stolen.body);

    let signed_in = b.get(&callback(&state)).await;
    let consent = signed_in
        .location
        .clone()
        .unwrap_or_else(|| panic!("{}", signed_in.body));
    assert!(consent.starts_with("/oauth/consent"), "{consent}");
    let done = b.consent(&consent, "approve").await;
    let code = query(done.location.as_deref().unwrap())["code"].clone();
    let (status, tokens) = b
        .token(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1/cb"),
                ("code_verifier", &verifier),
                ("client_id", "m2m_public"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let (_, claims) = decode_jwt(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["oid"], "org_byoa");
    assert_eq!(claims["scopes"], json!(["tickets.read"]));
    let users: Vec<_> = s
        .app
        .state
        .store
        .list_users(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.organization_id == "org_byoa")
        .collect();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email.as_deref(), Some("dana@byoa.example"));
    assert_eq!(users[0].name.as_deref(), Some("Dana Scully"));
    assert_eq!(users[0].groups, vec!["agents".to_string()]);

    // Replayed, even with the browser's login cookie (which the success removed): refused.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{}", s.base, callback(&state)))
        .header("cookie", &login_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body = res.text().await.unwrap();
    assert!(body.contains("state_replayed"), "{body}");
}

#[tokio::test]
async fn only_the_applications_management_token_may_post_the_user() {
    let s = spawn().await;
    let b = Browser::new(&s);
    let (_, login_request_id, _, _) = begin(&b).await;
    // No token; a token for an MCP server (it could be replayed by that server); garbage.
    let (status, _) = post_user(&s, "conn_custom", &login_request_id, None, user()).await;
    assert_eq!(status, 401);
    let res = reqwest::Client::new()
        .post(format!("{}/oauth/token", s.base))
        .header("authorization", basic("m2m_service", SERVICE_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", "res_tickets"),
        ])
        .send()
        .await
        .unwrap();
    let resource_token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = post_user(
        &s,
        "conn_custom",
        &login_request_id,
        Some(&resource_token),
        user(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post_user(
        &s,
        "conn_custom",
        &login_request_id,
        Some("not-a-token"),
        user(),
    )
    .await;
    assert_eq!(status, 401);
    // A machine client's own token (not an application that signs people in).
    let res = reqwest::Client::new()
        .post(format!("{}/oauth/token", s.base))
        .header(
            "authorization",
            basic("m2m_batch", "batch-client-secret-0123456789abcd"),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let own = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(decode_jwt(&own).1["aud"], json!(["m2m_batch"]));
    let (status, _) = post_user(&s, "conn_custom", &login_request_id, Some(&own), user()).await;
    assert_eq!(status, 401);

    let token = management_token(&s).await;
    // Another connection, an unknown request, a body without `sub` or with a bad email.
    let (status, _) = post_user(&s, "conn_acme_sim", &login_request_id, Some(&token), user()).await;
    assert_eq!(status, 404);
    let (status, _) = post_user(&s, "conn_custom", "not-a-request", Some(&token), user()).await;
    assert_eq!(status, 400);
    let (status, body) = post_user(
        &s,
        "conn_custom",
        &login_request_id,
        Some(&token),
        json!({ "email": "a@b.example" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post_user(
        &s,
        "conn_custom",
        &login_request_id,
        Some(&token),
        json!({ "sub": "x", "email": "no-at-sign" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // Scalekit's shape, `{"user": …}`, is accepted too.
    let (status, body) = post_user(
        &s,
        "conn_custom",
        &login_request_id,
        Some(&token),
        json!({ "user": user() }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let posted = s.audit("login.user_posted").await;
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].client_id.as_deref(), Some("skc_app"));
    assert_eq!(posted[0].detail["subject"], "app-user-7");
}
