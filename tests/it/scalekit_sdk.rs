//! Scalekit's official SDKs, unmodified, against portcullis with the dev seed (`--dev`'s
//! seed, so `skc_dev` and the IdP simulator as a newcomer gets them): the constructor's
//! token (and a wrong secret), client tokens, `validate_access_token`/`validateToken` with
//! issuer, audience and required scopes, authorization URLs with each hint driven through
//! the simulator and consent, the code exchange, refresh and a rotated token refused, the
//! logout URL followed back to the app; FastMCP's `ScalekitProvider` with both
//! `token_issuer` settings; an organization M2M client's token fetched and validated.

use std::collections::HashMap;
use std::sync::Arc;

use portcullis::clock::{Clock, FixedClock, SystemClock};
use serde_json::{Value, json};

use crate::support::admin::bearer;
use crate::support::browser::{Browser, query};
use crate::support::scalekit::{Sdk, SdkApp};
use crate::support::{Spawned, TestApp, basic};

const SECRET: &str = "dev-client-secret-0123456789abcdef";
const REDIRECT: &str = "http://127.0.0.1:5555/callback";
const AFTER_LOGOUT: &str = "http://127.0.0.1:5555/logout";

async fn spawn_dev() -> Spawned {
    // The SDKs allow no clock leeway: tokens are issued at the real time.
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let s = TestApp::builder()
        .seed(Some(&portcullis::seed::dev::seed_text(
            SECRET,
            "dev-admin-password-123",
        )))
        .clock(clock)
        .spawn()
        .await;
    s.apply_seed(BOT).await;
    s
}

/// A machine client of the tickets server, as an admin would add one.
const BOT: &str = r#"
[[clients]]
id = "m2m_tickets_bot"
name = "Tickets bot"
secret = "tickets-bot-secret-0123456789abcdef"
grant_types = ["client_credentials"]
resources = ["res_tickets"]
scopes = ["tickets.read", "tickets.manage"]
"#;
const BOT_SECRET: &str = "tickets-bot-secret-0123456789abcdef";

/// Follows an SDK-built authorization URL as a person would: the simulator's form, then
/// consent; returns the callback's query.
async fn drive(s: &Spawned, url: &str, email: &str) -> (Browser, HashMap<String, String>) {
    assert!(
        url.starts_with(&format!("{}/oauth/authorize?", s.base)),
        "{url}"
    );
    let b = Browser::new(s);
    let start = b.get(url).await;
    let location = start
        .location
        .clone()
        .unwrap_or_else(|| panic!("{}", start.body));
    let login = b.simulator_login(&location, email, "jira-admins").await;
    let done = b
        .consent(login.location.as_deref().expect("to consent"), "approve")
        .await;
    let back = done
        .location
        .clone()
        .unwrap_or_else(|| panic!("{}", done.body));
    assert!(back.starts_with(REDIRECT), "{back}");
    (b, query(&back))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// Client tokens and their validation, the same for both SDKs.
async fn client_tokens(app: &SdkApp, s: &Spawned) {
    app.ok("construct", json!({})).await;
    let wrong = SdkApp::new(app.sdk, &s.base, "skc_dev", "not-the-secret-0123456789");
    assert!(
        wrong.call("construct", json!({})).await.is_err(),
        "a wrong secret"
    );

    let env = s.base.as_str();
    // The environment client's own token: its management token, `aud: [client_id]`.
    let own = app
        .ok("client_token", json!({ "id": "skc_dev", "secret": SECRET }))
        .await;
    let own = own.as_str().expect("a token");
    let check = |token: &str, options: Value| {
        let mut args = json!({ "token": token });
        args.as_object_mut()
            .unwrap()
            .extend(options.as_object().unwrap().clone());
        app.ok("validate", args)
    };
    assert_eq!(
        check(own, json!({ "issuer": env, "audience": ["skc_dev"] })).await,
        true
    );
    assert_eq!(
        check(own, json!({ "audience": ["res_tickets"] })).await,
        false
    );
    let claims = app.ok("claims", json!({ "token": own })).await;
    assert_eq!(
        (claims["client_id"].as_str(), claims["sub"].as_str()),
        (Some("skc_dev"), Some("skc_dev"))
    );

    // A machine client of the tickets server: a token for it, with its scopes.
    let token = app
        .ok(
            "client_token",
            json!({ "id": "m2m_tickets_bot", "secret": BOT_SECRET }),
        )
        .await;
    let token = token.as_str().expect("a token");
    assert_eq!(
        check(
            token,
            json!({ "issuer": env, "audience": ["res_tickets"], "required_scopes": ["tickets.read"] })
        )
        .await,
        true
    );
    assert_eq!(
        check(token, json!({ "audience": ["res_other"] })).await,
        false
    );
    assert_eq!(
        check(token, json!({ "required_scopes": ["tickets.admin"] })).await,
        false
    );
    assert_eq!(
        check(token, json!({ "issuer": format!("{env}/") })).await,
        false
    );
}

#[tokio::test]
async fn scalekit_python_sdk_signs_in_refreshes_and_logs_out_against_the_dev_seed() {
    let s = spawn_dev().await;
    let app = SdkApp::new(Sdk::Python, &s.base, "skc_dev", SECRET);
    client_tokens(&app, &s).await;
    // Python's generate_client_token sends `scope`.
    let scoped = app
        .ok(
            "client_token",
            json!({ "id": "m2m_tickets_bot", "secret": BOT_SECRET, "scopes": ["tickets.read"] }),
        )
        .await;
    let claims = app.ok("claims", json!({ "token": scoped })).await;
    assert_eq!(claims["scopes"], json!(["tickets.read"]));

    let hints = [
        ("organization_id", "org_test", "ann@example.com"),
        ("connection_id", "conn_simulator", "bob@example.com"),
        ("domain_hint", "example.org", "cy@example.org"),
        ("login_hint", "dee@example.com", "dee@example.com"),
    ];
    let mut first = None;
    for (hint, value, email) in hints {
        let url = app
            .ok(
                "authorization_url",
                json!({ "redirect_uri": REDIRECT, "options": {
                    hint: value, "state": "st-py", "nonce": format!("n-{hint}"),
                    "scopes": ["openid", "profile", "email", "offline_access"] } }),
            )
            .await;
        let url = url.as_str().unwrap();
        assert!(
            url.contains(&format!("{hint}={}", value.replace('@', "%40"))),
            "{url}"
        );
        let (browser, callback) = drive(&s, url, email).await;
        assert_eq!(callback["state"], "st-py");
        let result = app
            .ok(
                "authenticate_with_code",
                json!({ "code": callback["code"], "redirect_uri": REDIRECT }),
            )
            .await;
        assert_eq!(result["user"]["email"], email, "{result}");
        assert_eq!(result["organization_id"], "org_test", "{result}");
        assert_eq!(result["connection_id"], "conn_simulator", "{result}");
        if first.is_none() {
            first = Some((browser, result));
        }
    }
    let (browser, result) = first.unwrap();

    // The login access token: issuer, audience [client_id], its claims.
    let access = str_of(&result, "access_token");
    let options = json!({ "token": access, "issuer": s.base, "audience": ["skc_dev"] });
    assert_eq!(app.ok("validate", options).await, true);
    let claims = app.ok("claims", json!({ "token": access })).await;
    assert_eq!(claims["oid"], "org_test");
    assert!(str_of(&claims, "sid").starts_with("ses_"), "{claims}");
    assert!(str_of(&claims, "sub").starts_with("usr_"), "{claims}");

    // Refresh rotates; the rotated token is refused after.
    let refresh = str_of(&result, "refresh_token");
    let renewed = app.ok("refresh", json!({ "refresh_token": refresh })).await;
    assert!(renewed["access_token"].is_string() && renewed["refresh_token"].is_string());
    assert!(
        app.call("refresh", json!({ "refresh_token": refresh }))
            .await
            .is_err()
    );

    // The logout URL, followed by the browser that signed in, comes back to the app.
    let url = app
        .ok(
            "logout_url",
            json!({ "id_token_hint": result["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT, "state": "bye" }),
        )
        .await;
    let url = url.as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/oidc/logout?", s.base)),
        "{url}"
    );
    let page = browser.get(url).await;
    assert_eq!(
        page.location.as_deref(),
        Some("http://127.0.0.1:5555/logout?state=bye")
    );
}

#[tokio::test]
async fn scalekit_node_sdk_signs_in_with_pkce_refreshes_and_logs_out_against_the_dev_seed() {
    let s = spawn_dev().await;
    let app = SdkApp::new(Sdk::Node, &s.base, "skc_dev", SECRET);
    client_tokens(&app, &s).await;

    let (verifier, challenge) = crate::support::browser::pkce();
    let url = app
        .ok(
            "authorization_url",
            json!({ "redirect_uri": REDIRECT, "options": {
                "organization_id": "org_test", "state": "st-node", "nonce": "n-node",
                "code_challenge": challenge, "code_challenge_method": "S256",
                "scopes": ["openid", "profile", "email", "offline_access"] } }),
        )
        .await;
    let (browser, callback) = drive(&s, url.as_str().unwrap(), "eve@example.com").await;
    let result = app
        .ok(
            "authenticate_with_code",
            json!({ "code": callback["code"], "redirect_uri": REDIRECT, "code_verifier": verifier }),
        )
        .await;
    assert_eq!(result["user"]["email"], "eve@example.com", "{result}");
    let access = str_of(&result, "accessToken");
    let options = json!({ "token": access, "issuer": s.base, "audience": ["skc_dev"] });
    assert_eq!(app.ok("validate", options).await, true);

    let refresh = str_of(&result, "refreshToken");
    let renewed = app.ok("refresh", json!({ "refresh_token": refresh })).await;
    assert!(renewed["accessToken"].is_string() && renewed["refreshToken"].is_string());
    assert!(
        app.call("refresh", json!({ "refresh_token": refresh }))
            .await
            .is_err()
    );

    let url = app
        .ok(
            "logout_url",
            json!({ "id_token_hint": result["idToken"], "post_logout_redirect_uri": AFTER_LOGOUT, "state": "bye" }),
        )
        .await;
    let page = browser.get(url.as_str().unwrap()).await;
    assert_eq!(
        page.location.as_deref(),
        Some("http://127.0.0.1:5555/logout?state=bye")
    );
}

/// A client-credentials token from the per-resource token endpoint.
async fn resource_token(s: &Spawned) -> String {
    let res = reqwest::Client::new()
        .post(format!("{}/resources/res_tickets/oauth/token", s.base))
        .header("authorization", basic("skc_dev", SECRET))
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

#[tokio::test]
async fn fastmcp_and_the_sdk_issuer_check_follow_the_resource_token_issuer() {
    let s = spawn_dev().await;
    let app = SdkApp::new(Sdk::Python, &s.base, "skc_dev", SECRET);
    let fastmcp = |token: String| {
        app.ok(
            "fastmcp_verify",
            json!({ "env_url": s.base, "resource_id": "res_tickets",
                    "mcp_url": "http://127.0.0.1:8081/mcp", "token": token }),
        )
    };
    let with_env_issuer = |token: &str| {
        app.ok(
            "validate",
            json!({ "token": token, "issuer": s.base, "audience": ["res_tickets"] }),
        )
    };

    // token_issuer = "resource" (the default): the per-resource issuer.
    let token = resource_token(&s).await;
    let verified = fastmcp(token.clone()).await;
    assert_eq!(verified["client_id"], "skc_dev", "{verified}");
    assert_eq!(with_env_issuer(&token).await, false);

    // token_issuer = "environment": the environment issuer, what Scalekit's docs check.
    s.apply_seed(
        r#"
[[resources]]
id = "res_tickets"
name = "Tickets"
server_url = "http://127.0.0.1:8081/mcp"
token_issuer = "environment"
scopes = [ { name = "tickets.read", description = "Read tickets" },
           { name = "tickets.manage", description = "Create and change tickets" } ]
"#,
    )
    .await;
    let token = resource_token(&s).await;
    assert_eq!(crate::support::decode_jwt(&token).1["iss"], s.base);
    let verified = fastmcp(token.clone()).await;
    assert_eq!(verified["client_id"], "skc_dev", "{verified}");
    assert_eq!(with_env_issuer(&token).await, true);
    // A tampered token is refused.
    assert_eq!(
        fastmcp(crate::support::tamper_payload(&token)).await,
        Value::Null
    );
}

#[tokio::test]
async fn scalekit_sdks_fetch_and_validate_an_organization_client_token() {
    // The SDKs allow no clock leeway: tokens are issued at the real time.
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let s = TestApp::builder().clock(clock).spawn().await;
    let api = bearer(&s).await;
    let (status, created) = api
        .post(
            "/organizations/org_acme/clients",
            json!({ "name": "Billing sync", "scopes": ["invoices:read"],
                    "audience": ["res_billing"],
                    "custom_claims": [ { "key": "tenant", "value": "acme" } ] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["plain_secret"].as_str().unwrap().to_string();
    for sdk in [Sdk::Python, Sdk::Node] {
        // The application's own credentials: the organization client's.
        let app = SdkApp::new(sdk, &s.base, &id, &secret);
        let jwt = app
            .ok("client_token", json!({ "id": id, "secret": secret }))
            .await;
        let jwt = jwt.as_str().unwrap();
        let valid = app
            .ok(
                "validate",
                json!({ "token": jwt, "issuer": s.base, "audience": ["res_billing"],
                        "required_scopes": ["invoices:read"] }),
            )
            .await;
        assert_eq!(valid, true, "{sdk:?}");
        let wrong = app
            .ok(
                "validate",
                json!({ "token": jwt, "audience": ["res_tickets"] }),
            )
            .await;
        assert_eq!(wrong, false, "{sdk:?}");
        let claims = app.ok("claims", json!({ "token": jwt })).await;
        assert_eq!(claims["oid"], "org_acme", "{sdk:?}");
        assert_eq!(claims["tenant"], "acme", "{sdk:?}");
    }
}

const INITIATE_LOGIN: &str = r#"
[[organizations]]
id = "org_test"
display_name = "Test Organization"
domains = ["example.com", "example.org"]

[[organizations.connections]]
id = "conn_simulator"
kind = "idp_simulator"
initiate_login_uri = "http://127.0.0.1:5555/login"
"#;

/// The simulator's "IdP-initiated" option: the redirect to the application's login URL.
async fn idp_initiated_jwt(s: &Spawned, email: &str, relay_state: &str) -> String {
    let b = Browser::new(s);
    let form = b
        .get("/sso/v1/simulator/conn_simulator/idp-initiated")
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body.contains("http://127.0.0.1:5555/login"),
        "{}",
        form.body
    );
    let csrf = crate::support::browser::hidden(&form.body, "csrf");
    // Another browser (a cross-site post) with the same token is refused.
    let refused = Browser::new(s)
        .post(
            "/sso/v1/simulator/conn_simulator/idp-initiated",
            &[("csrf", &csrf), ("email", email)],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let page = b
        .post(
            "/sso/v1/simulator/conn_simulator/idp-initiated",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("relay_state", relay_state),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        page.headers.get("set-cookie").is_none(),
        "no session is opened"
    );
    let location = page.location.unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:5555/login?idp_initiated_login="),
        "{location}"
    );
    query(&location)["idp_initiated_login"].clone()
}

#[tokio::test]
async fn idp_initiated_login_claims_verify_in_both_sdks_and_start_a_normal_login() {
    // A clock the test can turn back: the server starts (and makes its signing key) ten
    // minutes ago, then runs at the real time (the SDKs allow no leeway).
    let clock = Arc::new(FixedClock::new(SystemClock.now() - 600));
    let s = TestApp::builder()
        .seed(Some(&portcullis::seed::dev::seed_text(
            SECRET,
            "dev-admin-password-123",
        )))
        .clock(clock.clone())
        .spawn()
        .await;
    s.apply_seed(INITIATE_LOGIN).await;
    clock.set(SystemClock.now());
    let jwt = idp_initiated_jwt(&s, "fay@example.com", "deep/link?x=1").await;
    for sdk in [Sdk::Python, Sdk::Node] {
        let app = SdkApp::new(sdk, &s.base, "skc_dev", SECRET);
        let claims = app
            .ok("idp_initiated_claims", json!({ "token": jwt }))
            .await;
        assert_eq!(
            claims["connection_id"], "conn_simulator",
            "{sdk:?} {claims}"
        );
        assert_eq!(claims["organization_id"], "org_test", "{sdk:?}");
        assert_eq!(claims["login_hint"], "fay@example.com", "{sdk:?}");
        assert_eq!(claims["relay_state"], "deep/link?x=1", "{sdk:?}");
    }

    // The application then starts a normal login with what the claims say.
    let app = SdkApp::new(Sdk::Python, &s.base, "skc_dev", SECRET);
    let url = app
        .ok(
            "authorization_url",
            json!({ "redirect_uri": REDIRECT, "options": {
                "connection_id": "conn_simulator", "login_hint": "fay@example.com",
                "state": "st-idp", "nonce": "n-idp", "scopes": ["openid", "email"] } }),
        )
        .await;
    let (_, callback) = drive(&s, url.as_str().unwrap(), "fay@example.com").await;
    let result = app
        .ok(
            "authenticate_with_code",
            json!({ "code": callback["code"], "redirect_uri": REDIRECT }),
        )
        .await;
    assert_eq!(result["connection_id"], "conn_simulator", "{result}");

    // It is no access token and no ID token hint.
    let res = reqwest::Client::new()
        .get(format!("{}/oauth/userinfo", s.base))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let b = Browser::new(&s);
    let page = b
        .get(&format!(
            "/oidc/logout?id_token_hint={jwt}&post_logout_redirect_uri={}",
            AFTER_LOGOUT.replace(':', "%3A").replace('/', "%2F")
        ))
        .await;
    assert_eq!(page.location, None, "not a hint that redirects");

    // Expired: issued (by this server) long enough ago.
    clock.set(SystemClock.now() - 600);
    let expired = idp_initiated_jwt(&s, "fay@example.com", "").await;
    clock.set(SystemClock.now());
    // Foreign: issued by another server's keys.
    let other = spawn_dev().await;
    other.apply_seed(INITIATE_LOGIN).await;
    let foreign = idp_initiated_jwt(&other, "fay@example.com", "").await;
    for sdk in [Sdk::Python, Sdk::Node] {
        let app = SdkApp::new(sdk, &s.base, "skc_dev", SECRET);
        for (what, token) in [("expired", &expired), ("foreign", &foreign)] {
            let refused = app
                .call("idp_initiated_claims", json!({ "token": token }))
                .await;
            assert!(
                refused.is_err(),
                "{sdk:?} accepted the {what} token: {refused:?}"
            );
        }
    }
}

#[tokio::test]
async fn bring_your_own_auth_signs_a_person_in_for_an_sdk_app() {
    let s = spawn_dev().await;
    s.apply_seed(
        r#"
[[organizations]]
id = "org_own"
display_name = "Own Login Inc"
domains = ["own.example"]

[[organizations.connections]]
id = "conn_own"
kind = "custom"
login_url = "http://127.0.0.1:5555/own-login"
"#,
    )
    .await;
    let app = SdkApp::new(Sdk::Python, &s.base, "skc_dev", SECRET);
    let url = app
        .ok(
            "authorization_url",
            json!({ "redirect_uri": REDIRECT, "options": {
                "connection_id": "conn_own", "state": "st-own", "nonce": "n-own",
                "scopes": ["openid", "email", "profile"] } }),
        )
        .await;
    let b = Browser::new(&s);
    let start = b.get(url.as_str().unwrap()).await;
    let to_start = start.location.clone().unwrap();
    let page = b.get(&to_start).await;
    let to_app = page
        .location
        .clone()
        .unwrap_or_else(|| panic!("{}", page.body));
    assert!(
        to_app.starts_with("http://127.0.0.1:5555/own-login?"),
        "{to_app}"
    );
    let q = query(&to_app);
    // The application, signed in by its own means, posts the user with its management token.
    let token = app
        .ok("client_token", json!({ "id": "skc_dev", "secret": SECRET }))
        .await;
    let res = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/connections/conn_own/auth-requests/{}/user",
            s.base, q["login_request_id"]
        ))
        .bearer_auth(token.as_str().unwrap())
        .json(
            &json!({ "user": { "sub": "own-42", "email": "gus@own.example",
                                  "given_name": "Gus", "family_name": "Fring" } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let back = b
        .get(&format!(
            "/sso/v1/connections/conn_own/partner:callback?state={}",
            q["state"]
        ))
        .await;
    let done = b
        .consent(back.location.as_deref().expect("to consent"), "approve")
        .await;
    let callback = query(done.location.as_deref().unwrap());
    assert_eq!(callback["state"], "st-own");
    let result = app
        .ok(
            "authenticate_with_code",
            json!({ "code": callback["code"], "redirect_uri": REDIRECT }),
        )
        .await;
    assert_eq!(result["user"]["email"], "gus@own.example", "{result}");
    let (_, id) = crate::support::decode_jwt(str_of(&result, "id_token"));
    assert_eq!(
        (
            id["given_name"].as_str(),
            id["family_name"].as_str(),
            id["name"].as_str()
        ),
        (Some("Gus"), Some("Fring"), Some("Gus Fring")),
        "{id}"
    );
    assert_eq!(result["organization_id"], "org_own", "{result}");
    assert_eq!(result["connection_id"], "conn_own", "{result}");
}

#[tokio::test]
async fn an_organizations_initiate_login_uri_serves_connections_that_name_none() {
    let s = spawn_dev().await;
    let seed = |connection_line: &str| {
        format!(
            r#"
[[organizations]]
id = "org_test"
display_name = "Test Organization"
domains = ["example.com", "example.org"]
initiate_login_uri = "http://127.0.0.1:5555/org-login"

[[organizations.connections]]
id = "conn_simulator"
kind = "idp_simulator"
{connection_line}
"#
        )
    };
    let forwarded_to = |s: &Spawned| {
        let b = Browser::new(s);
        async move {
            let form = b
                .get("/sso/v1/simulator/conn_simulator/idp-initiated")
                .await;
            assert_eq!(form.status, 200, "{}", form.body);
            let csrf = crate::support::browser::hidden(&form.body, "csrf");
            let page = b
                .post(
                    "/sso/v1/simulator/conn_simulator/idp-initiated",
                    &[("csrf", &csrf), ("email", "gil@example.com")],
                )
                .await;
            assert_eq!(page.status, 303, "{}", page.body);
            page.location.unwrap()
        }
    };
    s.apply_seed(&seed("")).await;
    let to = forwarded_to(&s).await;
    assert!(
        to.starts_with("http://127.0.0.1:5555/org-login?idp_initiated_login="),
        "{to}"
    );
    // The connection's own URL wins.
    s.apply_seed(&seed(
        r#"initiate_login_uri = "http://127.0.0.1:5555/conn-login""#,
    ))
    .await;
    let to = forwarded_to(&s).await;
    assert!(to.starts_with("http://127.0.0.1:5555/conn-login?"), "{to}");
    // The admin API shows it (reading with the dev admin's password).
    let api = crate::support::admin::Api {
        s: &s,
        auth: basic("admin", "dev-admin-password-123"),
    };
    let org = api.get("/organizations/org_test").await;
    assert_eq!(org["initiate_login_uri"], "http://127.0.0.1:5555/org-login");
}
