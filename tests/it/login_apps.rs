//! Login apps (Scalekit's full-stack-auth and SSO clients) over real HTTP: a confidential
//! static client at the environment endpoints without `resource` signs a person in for
//! itself (`aud: [client_id]`, the environment issuer, an ID token shaped as Scalekit's),
//! with PKCE optional when it says so and sends `openid` with a `nonce` instead; PKCE stays
//! required everywhere else. Also: client credentials without a resource to default to, and
//! a resource's `token_issuer`.

use serde_json::{Value, json};

use crate::support::browser::{Browser, Page, REDIRECT_URI, authorize_and_consent, pkce, query};
use crate::support::{Spawned, TEST_SEED, TestApp, basic, decode_jwt};

const LOGIN_SECRET: &str = "login-app-secret-0123456789abcdef";
const MULTI_SECRET: &str = "multi-app-secret-0123456789abcdef";

const LOGIN_SEED: &str = r#"
[[clients]]
id = "skc_login"
name = "Acme Portal"
secret = "login-app-secret-0123456789abcdef"
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
redirect_uris = ["http://127.0.0.1:9999/cb"]
post_logout_redirect_uris = ["http://127.0.0.1/signed-out"]
resources = ["res_tickets"]
scopes = ["tickets.read"]
pkce = "optional"

[[clients]]
id = "skc_strict"
name = "Strict app"
secret = "strict-app-secret-0123456789abcdef"
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1:9999/cb"]

[[clients]]
id = "m2m_multi"
name = "Two servers"
secret = "multi-app-secret-0123456789abcdef"
grant_types = ["client_credentials"]
resources = ["res_tickets", "res_wiki"]
scopes = ["tickets.read", "wiki.read"]

[[resources]]
id = "res_env"
name = "Environment-issued"
server_url = "http://127.0.0.1:8083/mcp"
token_issuer = "environment"
scopes = [ { name = "env.read" } ]

[[clients]]
id = "m2m_env"
name = "Env service"
secret = "env-service-secret-0123456789abcd"
grant_types = ["client_credentials"]
resources = ["res_env"]
scopes = ["env.read"]

[[rules]]
id = "rule_env"
resource = "res_env"
when = { any = true }
grant = ["env.read"]
"#;

async fn spawn() -> Spawned {
    TestApp::builder()
        .seed(Some(&format!("{TEST_SEED}{LOGIN_SEED}")))
        .spawn()
        .await
}

/// A login request's parameters: no `resource`, OpenID scopes, a nonce, no PKCE.
fn login_params<'a>(client_id: &'a str, nonce: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile email offline_access"),
        ("state", "st-login"),
        ("nonce", nonce),
        ("login_hint", "ann@example.com"),
    ]
}

fn url(path: &str, params: &[(&str, &str)]) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{path}?{q}")
}

/// Signs in through the simulator (unless the browser's session serves the request) and
/// approves (unless the consent is remembered); returns the final redirect.
async fn sign_in(b: &Browser, start: &str) -> Page {
    let start = b.get(start).await;
    assert!(
        start.status.is_redirection(),
        "{} {}",
        start.status,
        start.body
    );
    let mut next = start;
    let location = next.location.clone().unwrap();
    if location.contains("/sso/v1/simulator/") {
        next = b.simulator_login(&location, "ann@example.com", "").await;
    }
    let location = next.location.clone().expect("redirect");
    if !location.starts_with("/oauth/consent") {
        return next;
    }
    let page = b.get(&location).await;
    assert!(
        page.body
            .contains("Sign in to <span id=\"client-name\">Acme Portal</span>"),
        "{}",
        page.body
    );
    b.consent(&location, "approve").await
}

fn code_of(done: &Page) -> String {
    let location = done.location.as_deref().expect("redirect");
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    query(location)["code"].clone()
}

/// The error an error redirect carries.
fn error_of(page: &Page) -> String {
    let location = page
        .location
        .as_deref()
        .unwrap_or_else(|| panic!("{}", page.body));
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    query(location).get("error").cloned().unwrap_or_default()
}

async fn redeem(b: &Browser, code: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", "skc_login"),
        ("client_secret", LOGIN_SECRET),
    ];
    form.extend_from_slice(extra);
    let (status, body) = b.token("/oauth/token", &form).await;
    (status.as_u16(), body)
}

#[tokio::test]
async fn a_login_app_signs_in_without_pkce_and_gets_scalekit_shaped_tokens() {
    let s = spawn().await;
    let b = Browser::new(&s);
    let done = sign_in(
        &b,
        &url("/oauth/authorize", &login_params("skc_login", "n-0S6")),
    )
    .await;
    let callback = query(done.location.as_deref().unwrap());
    assert_eq!(callback["iss"], s.base);
    let code = code_of(&done);
    let (status, tokens) = redeem(&b, &code, &[]).await;
    assert_eq!(status, 200, "{tokens}");

    let (header, at) = decode_jwt(tokens["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(at["iss"], s.base);
    assert_eq!(at["aud"], json!(["skc_login"]));
    assert_eq!(at["client_id"], "skc_login");
    assert!(at["sub"].as_str().unwrap().starts_with("usr_"), "{at}");
    assert_eq!(at["oid"], "org_acme");
    assert!(at["sid"].as_str().unwrap().starts_with("ses_"), "{at}");
    assert!(at["jti"].as_str().unwrap().starts_with("tkn_"), "{at}");
    assert_eq!(at["scopes"], json!(["openid", "profile", "email"]));
    assert_eq!(at["scope"], "openid profile email");
    assert_eq!(
        at["exp"].as_i64().unwrap() - at["iat"].as_i64().unwrap(),
        300
    );

    let (_, id) = decode_jwt(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], json!(["skc_login"]));
    assert_eq!(id["azp"], "skc_login");
    assert_eq!(id["nonce"], "n-0S6");
    assert_eq!(id["amr"], json!(["conn_acme_sim"]));
    assert_eq!(id["oid"], "org_acme");
    assert_eq!(id["email"], "ann@example.com");
    assert_eq!(id["email_verified"], true);
    assert_eq!(id["sub"], at["sub"]);
    assert_eq!(
        id["c_hash"].as_str(),
        Some(portcullis::oauth::id_token::half_hash(&code).as_str())
    );
    assert_eq!(
        id["at_hash"].as_str(),
        Some(
            portcullis::oauth::id_token::half_hash(tokens["access_token"].as_str().unwrap())
                .as_str()
        )
    );

    // The login grant refreshes and rotates; the rotated token is refused after.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", "skc_login"),
        ("client_secret", LOGIN_SECRET),
    ];
    let (status, renewed) = b.token("/oauth/token", &form).await;
    assert_eq!(status, 200, "{renewed}");
    let (_, at2) = decode_jwt(renewed["access_token"].as_str().unwrap());
    assert_eq!(at2["aud"], json!(["skc_login"]));
    assert_eq!(at2["sub"], at["sub"]);
    assert!(renewed["refresh_token"].is_string());
    let (status, reused) = b.token("/oauth/token", &form).await;
    assert_eq!(status, 400, "{reused}");
    assert_eq!(reused["error"], "invalid_grant");

    // The same code again is a replay.
    let (status, replay) = redeem(&b, &code, &[]).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn without_pkce_a_login_request_needs_openid_and_a_nonce_and_names_no_resource() {
    let s = spawn().await;
    let b = Browser::new(&s);
    let no_nonce: Vec<_> = login_params("skc_login", "x")
        .into_iter()
        .filter(|(k, _)| *k != "nonce")
        .collect();
    assert_eq!(
        error_of(&b.get(&url("/oauth/authorize", &no_nonce)).await),
        "invalid_request"
    );

    let mut no_openid = login_params("skc_login", "n-1");
    no_openid.retain(|(k, _)| *k != "scope");
    no_openid.push(("scope", "profile email"));
    assert_eq!(
        error_of(&b.get(&url("/oauth/authorize", &no_openid)).await),
        "invalid_request"
    );

    // Naming a resource (an MCP token) needs PKCE whatever the client's setting.
    let mut for_resource = login_params("skc_login", "n-2");
    for_resource.push(("resource", "res_tickets"));
    assert_eq!(
        error_of(&b.get(&url("/oauth/authorize", &for_resource)).await),
        "invalid_request"
    );
    assert_eq!(
        error_of(
            &b.get(&url(
                "/resources/res_tickets/oauth/authorize",
                &login_params("skc_login", "n-3")
            ))
            .await
        ),
        "invalid_request"
    );

    // A client whose PKCE is required (the default) must send a challenge.
    assert_eq!(
        error_of(
            &b.get(&url("/oauth/authorize", &login_params("skc_strict", "n-4")))
                .await
        ),
        "invalid_request"
    );
    // A public client never omits PKCE, nonce or not.
    let public = url("/oauth/authorize", &login_params("m2m_public", "n-5"));
    let page = b.get(&public).await;
    assert_ne!(page.status, 303, "{:?}", page.location);
    assert!(
        page.location
            .as_deref()
            .is_none_or(|l| !l.contains("/sso/v1/")),
        "{:?}",
        page.location
    );

    // Nor a dynamically registered one, at the environment's registration endpoint or a
    // resource's (a page: such a client's redirect URI is not trusted).
    for path in ["/oauth/register", "/resources/res_tickets/oauth/register"] {
        let dcr = b.register_at(path).await;
        let page = b
            .get(&url("/oauth/authorize", &login_params(&dcr, "n-dcr")))
            .await;
        assert_eq!(
            page.status, 400,
            "{path}: {:?} {}",
            page.location, page.body
        );
        assert!(
            page.body.contains("PKCE is required"),
            "{path}: {}",
            page.body
        );
    }

    // A login app with no resource of its own: resource scopes belong with a resource.
    let mut resource_scope = login_params("skc_strict", "n-6");
    resource_scope.retain(|(k, _)| *k != "scope");
    resource_scope.push(("scope", "openid tickets.read"));
    let (_, challenge) = pkce();
    resource_scope.push(("code_challenge", &challenge));
    resource_scope.push(("code_challenge_method", "S256"));
    assert_eq!(
        error_of(&b.get(&url("/oauth/authorize", &resource_scope)).await),
        "invalid_scope"
    );
}

#[tokio::test]
async fn a_verifier_for_a_code_without_a_challenge_is_a_downgrade_and_refused() {
    let s = spawn().await;
    let b = Browser::new(&s);
    let done = sign_in(
        &b,
        &url("/oauth/authorize", &login_params("skc_login", "n-7")),
    )
    .await;
    let code = code_of(&done);
    let (verifier, _) = pkce();
    let (status, body) = redeem(&b, &code, &[("code_verifier", &verifier)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // The refusal consumed nothing: the code still works without a verifier.
    let (status, body) = redeem(&b, &code, &[]).await;
    assert_eq!(status, 200, "{body}");
    // Without the secret there is no login app.
    let done = sign_in(
        &b,
        &url("/oauth/authorize", &login_params("skc_login", "n-8")),
    )
    .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code_of(&done)),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", "skc_login"),
    ];
    let (status, body) = b.token("/oauth/token", &form).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn a_login_app_with_a_challenge_signs_in_and_a_required_one_too() {
    let s = spawn().await;
    let b = Browser::new(&s);
    let (verifier, challenge) = pkce();
    let mut params = login_params("skc_strict", "n-9");
    params.push(("code_challenge", &challenge));
    params.push(("code_challenge_method", "S256"));
    let start = b.get(&url("/oauth/authorize", &params)).await;
    let login = b
        .simulator_login(start.location.as_deref().unwrap(), "bo@example.com", "")
        .await;
    let done = b
        .consent(login.location.as_deref().unwrap(), "approve")
        .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code_of(&done)),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", &verifier),
    ];
    let res = reqwest::Client::new()
        .post(format!("{}/oauth/token", s.base))
        .header(
            "authorization",
            basic("skc_strict", "strict-app-secret-0123456789abcdef"),
        )
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let (_, at) = decode_jwt(tokens["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], json!(["skc_strict"]));
    // No refresh_token grant: no refresh token, even with offline_access.
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}

async fn client_token(
    s: &Spawned,
    path: &str,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut body = vec![
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    body.extend_from_slice(form);
    let res = reqwest::Client::new()
        .post(format!("{}{path}", s.base))
        .form(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn client_credentials_without_a_resource_to_default_to_is_a_token_for_the_client() {
    let s = spawn().await;
    let (status, body) = client_token(&s, "/oauth/token", "m2m_multi", MULTI_SECRET, &[]).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!(["m2m_multi"]));
    assert_eq!(claims["iss"], s.base);
    assert_eq!(claims["sub"], "m2m_multi");
    assert_eq!(claims["scopes"], json!([]));
    // Scopes are an MCP server's: they need the resource.
    let (status, body) = client_token(
        &s,
        "/oauth/token",
        "m2m_multi",
        MULTI_SECRET,
        &[("scope", "tickets.read")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );
    // An environment client's token naming no resource is its management token, whatever
    // resources it may also get tokens for; another client allowed exactly one resource
    // keeps getting that resource's tokens.
    let (status, body) = client_token(&s, "/oauth/token", "skc_login", LOGIN_SECRET, &[]).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!(["skc_login"]));
    let (status, body) = client_token(
        &s,
        "/oauth/token",
        "skc_login",
        LOGIN_SECRET,
        &[("resource", "res_tickets")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["aud"],
        json!(["res_tickets", "http://127.0.0.1:8081/mcp"])
    );
    let (status, body) = client_token(
        &s,
        "/oauth/token",
        "m2m_service",
        crate::support::SERVICE_SECRET,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["aud"],
        json!(["res_tickets", "http://127.0.0.1:8081/mcp"])
    );
}

#[tokio::test]
async fn a_resource_with_the_environment_token_issuer_changes_only_the_token_iss() {
    let s = spawn().await;
    let env_secret = "env-service-secret-0123456789abcd";
    let resource_issuer = format!("{}/resources/res_env", s.base);
    // Client credentials at the per-resource endpoint: the environment issuer in the token.
    let (status, body) = client_token(
        &s,
        "/resources/res_env/oauth/token",
        "m2m_env",
        env_secret,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], s.base);
    assert_eq!(
        claims["aud"],
        json!(["res_env", "http://127.0.0.1:8083/mcp"])
    );
    // The metadata keeps the per-resource issuer.
    let meta: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server/resources/res_env",
        s.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(meta["issuer"], resource_issuer);
    // A user's code flow at the per-resource endpoint: `iss` in the authorization response
    // is the endpoint's, the access token's the environment's.
    let b = Browser::new(&s);
    let client = b.register("res_env").await;
    let flow = authorize_and_consent(
        &b,
        "/resources/res_env/oauth/authorize",
        &client,
        None,
        "env.read",
        "ann@example.com",
        "",
    )
    .await;
    assert_eq!(flow.callback["iss"], resource_issuer);
    let (status, tokens) = b
        .token("/resources/res_env/oauth/token", &flow.code_form())
        .await;
    assert_eq!(status, 200, "{tokens}");
    let (_, claims) = decode_jwt(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], s.base);
    assert_eq!(claims["scopes"], json!(["env.read"]));
    // Resources left at the default keep the endpoint's issuer.
    let (_, body) = client_token(
        &s,
        "/resources/res_tickets/oauth/token",
        "m2m_service",
        crate::support::SERVICE_SECRET,
        &[],
    )
    .await;
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], format!("{}/resources/res_tickets", s.base));
}

#[tokio::test]
async fn a_login_apps_consent_covers_its_openid_scopes_and_resource_scopes_keep_their_resource() {
    let s = spawn().await;
    let b = Browser::new(&s);
    let mut narrow = login_params("skc_login", "n-20");
    narrow.retain(|(k, _)| *k != "scope");
    narrow.push(("scope", "openid"));
    let done = sign_in(&b, &url("/oauth/authorize", &narrow)).await;
    assert!(done.location.as_deref().unwrap().starts_with(REDIRECT_URI));
    // The same again: remembered, straight to a code.
    let again = b.get(&url("/oauth/authorize", &narrow)).await;
    assert!(
        again.location.as_deref().unwrap().starts_with(REDIRECT_URI),
        "{:?}",
        again.location
    );
    // Asking for more (email, profile, offline access) asks the person again.
    let wider = b
        .get(&url("/oauth/authorize", &login_params("skc_login", "n-21")))
        .await;
    let location = wider.location.clone().unwrap();
    assert!(location.starts_with("/oauth/consent"), "{location}");

    // A login app naming its resource's scopes without `resource` still means that resource.
    let (verifier, challenge) = pkce();
    let params = [
        ("response_type", "code"),
        ("client_id", "skc_login"),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "tickets.read"),
        ("state", "st-res"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let done = sign_in_resource(&b, &url("/oauth/authorize", &params)).await;
    let (status, tokens) = redeem(&b, &code_of(&done), &[("code_verifier", &verifier)]).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, at) = decode_jwt(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        at["aud"],
        json!(["res_tickets", "http://127.0.0.1:8081/mcp"])
    );
    assert_eq!(at["scopes"], json!(["tickets.read"]));
}

/// A resource request's sign-in: a signed-in browser goes straight on, then consent.
async fn sign_in_resource(b: &Browser, start: &str) -> Page {
    let start = b.get(start).await;
    let location = start
        .location
        .clone()
        .unwrap_or_else(|| panic!("{}", start.body));
    assert!(location.starts_with("/oauth/consent"), "{location}");
    b.consent(&location, "approve").await
}

#[tokio::test]
async fn the_admin_api_sets_and_shows_a_resources_token_issuer() {
    let s = spawn().await;
    let api = crate::support::admin::bearer(&s).await;
    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            "/resources/res_wiki",
            Some(
                json!({ "name": "Wiki", "server_url": "http://127.0.0.1:8082/mcp",
                         "scopes": [ { "name": "wiki.read" } ],
                         "token_issuer": "environment" }),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        api.get("/resources/res_wiki").await["token_issuer"],
        "environment"
    );
    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            "/resources/res_wiki",
            Some(
                json!({ "name": "Wiki", "server_url": "http://127.0.0.1:8082/mcp",
                         "scopes": [ { "name": "wiki.read" } ], "token_issuer": "both" }),
            ),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("token_issuer")),
        "{body}"
    );
}

#[tokio::test]
async fn logout_returns_a_login_app_to_its_loopback_page_at_any_port() {
    let s = spawn().await;
    let b = Browser::new(&s);
    let done = sign_in(
        &b,
        &url("/oauth/authorize", &login_params("skc_login", "n-10")),
    )
    .await;
    let (_, tokens) = redeem(&b, &code_of(&done), &[]).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let back = "http://127.0.0.1:4321/signed-out";
    let page = b
        .get(&url(
            "/oidc/logout",
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", back),
                ("state", "bye"),
            ],
        ))
        .await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(
        page.location.as_deref(),
        Some("http://127.0.0.1:4321/signed-out?state=bye")
    );
    // Another path is not registered: no redirect.
    let done = sign_in(
        &b,
        &url("/oauth/authorize", &login_params("skc_login", "n-11")),
    )
    .await;
    let (_, tokens) = redeem(&b, &code_of(&done), &[]).await;
    let page = b
        .get(&url(
            "/oidc/logout",
            &[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                (
                    "post_logout_redirect_uri",
                    "http://127.0.0.1:4321/elsewhere",
                ),
            ],
        ))
        .await;
    assert_eq!(page.status, 200, "{:?}", page.location);
}

#[tokio::test]
async fn the_admin_pages_set_a_resources_token_issuer_and_a_clients_pkce() {
    let s = spawn().await;
    let admin = crate::support::admin::Admin::login(&s).await;
    let form = admin.page("/admin/resources/res_wiki").await;
    assert!(form.body.contains("name=\"token_issuer\""), "{}", form.body);
    admin
        .post_ok(
            "/admin/resources/res_wiki",
            &[
                ("name", "Wiki"),
                ("server_url", "http://127.0.0.1:8082/mcp"),
                ("scopes", "wiki.read Read pages"),
                ("token_issuer", "environment"),
            ],
        )
        .await;
    let api = crate::support::admin::bearer(&s).await;
    assert_eq!(
        api.get("/resources/res_wiki").await["token_issuer"],
        "environment"
    );

    // A public client cannot have PKCE optional; a confidential one can.
    let refused = admin
        .post(
            "/admin/clients",
            &[
                ("name", "Public SPA"),
                ("grant_types", "authorization_code"),
                ("redirect_uris", "http://127.0.0.1/cb"),
                ("pkce_optional", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let created = admin
        .post(
            "/admin/clients",
            &[
                ("name", "Portal"),
                ("confidential", "1"),
                ("grant_types", "authorization_code"),
                ("redirect_uris", "http://127.0.0.1/cb"),
                ("pkce_optional", "1"),
            ],
        )
        .await;
    assert!(created.status.is_success(), "{}", created.body);
    let clients = api.get("/clients").await;
    let portal = clients["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Portal")
        .cloned()
        .unwrap();
    assert_eq!(portal["pkce"], "optional", "{portal}");
}
