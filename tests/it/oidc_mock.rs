//! Upstream OIDC refusals against a small in-process OpenID provider that answers and signs
//! whatever the test tells it to (a key outside its JWKS, a wrong `nonce` or `aud`, an expired
//! token, a forged `iss` on the callback, an `error` instead of a code, another tenant), plus
//! the replayed and cross-browser callbacks and groups taken from userinfo.
//!
//! Every refusal is checked the same way: the person gets a page (or, for a static client
//! with a trusted redirect URI, an error redirect with `error`, `state` and `iss`), the audit
//! trail has one `login.failed` with the reason, and no code, user or session was created.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use josekit::jwk::KeyPair;
use josekit::jws::{HS256, JwsHeader, RS256};
use josekit::jwt::JwtPayload;
use serde_json::{Map, Value, json};

use crate::browser::{Browser, Page, REDIRECT_URI, pkce, query};
use crate::negative_support::{
    STATE, assert_error_page, assert_error_redirect, authorize_url, session_cookie, valid_params,
    with,
};
use crate::support::{Spawned, TestApp, decode_jwt};

// ---------------------------------------------------------------------------------------
// The mock OpenID provider
// ---------------------------------------------------------------------------------------

/// How the ID token is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// With the key published in the JWKS.
    Published,
    /// With a key that is not in the JWKS, under its own `kid`.
    UnknownKey,
    /// With a key that is not in the JWKS, under the `kid` of the published key.
    ForeignKeyPublishedKid,
    /// HS256 with the client secret (the discovery document says RS256 only).
    Hs256ClientSecret,
}

/// The `iss` parameter on the authorization response (RFC 9207).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackIss {
    Correct,
    Omitted,
    Value(String),
}

/// What the provider does; the test changes it between steps.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// `Some(error)`: `/authorize` answers `error=…` instead of a code.
    pub authorize_error: Option<String>,
    pub callback_iss: CallbackIss,
    pub signing: Signing,
    pub sub: String,
    pub email: String,
    pub name: String,
    /// The `groups` claim of the ID token (`None`: absent).
    pub id_token_groups: Option<Vec<String>>,
    /// The `groups` claim at userinfo (`None`: absent).
    pub userinfo_groups: Option<Vec<String>>,
    /// Set last on the ID token claims; `Value::Null` removes the claim.
    pub claims: Map<String, Value>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            authorize_error: None,
            callback_iss: CallbackIss::Correct,
            signing: Signing::Published,
            sub: "alice-0001".into(),
            email: "alice@mock.example".into(),
            name: "Alice Example".into(),
            id_token_groups: Some(vec!["jira-admins".into(), "eng".into()]),
            userinfo_groups: None,
            claims: Map::new(),
        }
    }
}

impl Behaviour {
    /// Overrides (or with `Value::Null` removes) an ID token claim.
    pub fn claim(&mut self, name: &str, value: Value) {
        self.claims.insert(name.into(), value);
    }
}

/// One request seen at `/authorize`.
#[derive(Debug, Clone)]
pub struct SeenAuthorize {
    pub params: HashMap<String, String>,
    pub code: Option<String>,
}

impl SeenAuthorize {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// One request seen at `/token`: `Ok(())` when client auth, code and PKCE were right.
#[derive(Debug, Clone)]
pub struct SeenToken {
    pub outcome: Result<(), String>,
}

#[derive(Debug, Clone, Default)]
pub struct Log {
    pub authorize: Vec<SeenAuthorize>,
    pub token: Vec<SeenToken>,
    /// Access tokens presented at userinfo (valid ones only).
    pub userinfo: Vec<String>,
    /// Requests for the JWKS.
    pub jwks: usize,
}

#[derive(Clone)]
struct Key {
    kid: String,
    der: Vec<u8>,
    public: Value,
}

impl Key {
    fn generate() -> Key {
        let pair = RS256.generate_key_pair(2048).expect("RSA key");
        let kid = format!("mock-{}", &portcullis::crypto::random_token()[..12]);
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(&kid);
        jwk.set_algorithm("RS256");
        jwk.set_key_use("sig");
        Key {
            kid,
            der: pair.to_der_private_key(),
            public: serde_json::from_str(&jwk.to_string()).expect("JWK JSON"),
        }
    }
}

struct Grant {
    params: HashMap<String, String>,
    is_used: bool,
}

struct Shared {
    issuer: String,
    client_id: String,
    client_secret: String,
    key: Mutex<Key>,
    rogue: Key,
    behaviour: Arc<Mutex<Behaviour>>,
    log: Mutex<Log>,
    codes: Mutex<HashMap<String, Grant>>,
    /// access token → subject
    access_tokens: Mutex<HashMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A mock OpenID provider on 127.0.0.1:0; stopped when dropped.
pub struct MockIdp {
    /// `http://127.0.0.1:<port>`, the `issuer` of its discovery document.
    pub issuer: String,
    pub behaviour: Arc<Mutex<Behaviour>>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for MockIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl MockIdp {
    pub async fn start(client_id: &str, client_secret: &str) -> MockIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            key: Mutex::new(Key::generate()),
            rogue: Key::generate(),
            behaviour: behaviour.clone(),
            log: Mutex::default(),
            codes: Mutex::default(),
            access_tokens: Mutex::default(),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", axum::routing::post(token))
            .route("/userinfo", get(userinfo).post(userinfo))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        MockIdp {
            issuer,
            behaviour,
            shared,
            server,
        }
    }

    /// Changes the behaviour.
    pub fn behave(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut lock(&self.behaviour));
    }

    /// What the provider has seen so far.
    pub fn log(&self) -> Log {
        lock(&self.shared.log).clone()
    }

    /// The `kid` of the published key.
    pub fn kid(&self) -> String {
        lock(&self.shared.key).kid.clone()
    }

    /// A new published key (the old one leaves the JWKS).
    pub fn rotate_key(&self) {
        *lock(&self.shared.key) = Key::generate();
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

async fn discovery(State(s): State<Arc<Shared>>) -> Response {
    let i = &s.issuer;
    axum::Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email",
                             "email_verified", "name", "groups", "tid", "hd"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    lock(&s.log).jwks += 1;
    axum::Json(json!({ "keys": [lock(&s.key).public.clone()] })).into_response()
}

fn bad_request(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("mock IdP: {why}")).into_response()
}

async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let behaviour = lock(&s.behaviour).clone();
    let mut seen = SeenAuthorize {
        params: params.clone(),
        code: None,
    };
    let checks = [
        (params.get("response_type").map(String::as_str) == Some("code")),
        (params.get("client_id") == Some(&s.client_id)),
        (params.get("code_challenge_method").map(String::as_str) == Some("S256")),
        params.contains_key("code_challenge"),
    ];
    let Some(redirect_uri) = params
        .get("redirect_uri")
        .filter(|_| checks.iter().all(|c| *c))
    else {
        lock(&s.log).authorize.push(seen);
        return bad_request("not a code request with PKCE S256 for our client");
    };
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        lock(&s.log).authorize.push(seen);
        return bad_request("redirect_uri is not a URL");
    };
    {
        let mut q = url.query_pairs_mut();
        match &behaviour.authorize_error {
            Some(error) => {
                q.append_pair("error", error);
                q.append_pair("error_description", "the mock IdP says no");
            }
            None => {
                let code = portcullis::crypto::random_token();
                lock(&s.codes).insert(
                    code.clone(),
                    Grant {
                        params: params.clone(),
                        is_used: false,
                    },
                );
                q.append_pair("code", &code);
                seen.code = Some(code);
            }
        }
        if let Some(state) = params.get("state") {
            q.append_pair("state", state);
        }
        match &behaviour.callback_iss {
            CallbackIss::Correct => {
                q.append_pair("iss", &s.issuer);
            }
            CallbackIss::Value(v) => {
                q.append_pair("iss", v);
            }
            CallbackIss::Omitted => {}
        }
    }
    lock(&s.log).authorize.push(seen);
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn token_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// Client authentication, code and PKCE; the authorization request of the code.
fn check_token_request(
    s: &Shared,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<HashMap<String, String>, (StatusCode, &'static str, String)> {
    use base64::Engine;
    // client_secret_basic (RFC 6749 §2.3.1: both parts form-urlencoded first).
    let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let expected = format!("{}:{}", enc(&s.client_id), enc(&s.client_secret));
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
    if presented.as_deref() != Some(expected.as_bytes()) {
        return Err((
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "no or wrong client_secret_basic".into(),
        ));
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return Err((
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "not authorization_code".into(),
        ));
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let params = {
        let mut codes = lock(&s.codes);
        let grant = codes.get_mut(&code).ok_or((
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown code".to_string(),
        ))?;
        if grant.is_used {
            return Err((
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "code used before".into(),
            ));
        }
        grant.is_used = true;
        grant.params.clone()
    };
    if form.get("redirect_uri") != params.get("redirect_uri") {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri differs from the authorization request".into(),
        ));
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = portcullis::crypto::b64url(&portcullis::crypto::sha256(verifier.as_bytes()));
    if verifier.is_empty() || params.get("code_challenge") != Some(&challenge) {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verifier does not match the challenge".into(),
        ));
    }
    Ok(params)
}

fn id_token(s: &Shared, b: &Behaviour, request: &HashMap<String, String>) -> String {
    let now = unix_now();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(s.issuer));
    claims.insert("sub".into(), json!(b.sub));
    claims.insert("aud".into(), json!(s.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 300));
    claims.insert("auth_time".into(), json!(now));
    if let Some(nonce) = request.get("nonce") {
        claims.insert("nonce".into(), json!(nonce));
    }
    claims.insert("email".into(), json!(b.email));
    claims.insert("email_verified".into(), json!(true));
    claims.insert("name".into(), json!(b.name));
    if let Some(groups) = &b.id_token_groups {
        claims.insert("groups".into(), json!(groups));
    }
    for (k, v) in &b.claims {
        if v.is_null() {
            claims.remove(k);
        } else {
            claims.insert(k.clone(), v.clone());
        }
    }
    let payload = JwtPayload::from_map(claims).expect("claims");
    let mut head = JwsHeader::new();
    head.set_token_type("JWT");
    let published = lock(&s.key).clone();
    match b.signing {
        Signing::Published => {
            head.set_key_id(&published.kid);
            let signer = RS256.signer_from_der(&published.der).expect("signer");
            josekit::jwt::encode_with_signer(&payload, &head, &signer)
        }
        Signing::UnknownKey => {
            head.set_key_id(&s.rogue.kid);
            let signer = RS256.signer_from_der(&s.rogue.der).expect("signer");
            josekit::jwt::encode_with_signer(&payload, &head, &signer)
        }
        Signing::ForeignKeyPublishedKid => {
            head.set_key_id(&published.kid);
            let signer = RS256.signer_from_der(&s.rogue.der).expect("signer");
            josekit::jwt::encode_with_signer(&payload, &head, &signer)
        }
        Signing::Hs256ClientSecret => {
            let signer = HS256
                .signer_from_bytes(s.client_secret.as_bytes())
                .expect("HMAC signer (the secret needs 32 bytes)");
            josekit::jwt::encode_with_signer(&payload, &head, &signer)
        }
    }
    .expect("sign ID token")
}

async fn token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    match check_token_request(&s, &headers, &form) {
        Err((status, error, why)) => {
            lock(&s.log).token.push(SeenToken {
                outcome: Err(format!("{error}: {why}")),
            });
            token_error(status, error)
        }
        Ok(request) => {
            lock(&s.log).token.push(SeenToken { outcome: Ok(()) });
            let b = lock(&s.behaviour).clone();
            let access_token = portcullis::crypto::random_token();
            lock(&s.access_tokens).insert(access_token.clone(), b.sub.clone());
            let body = json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": request.get("scope").cloned().unwrap_or_default(),
                "id_token": id_token(&s, &b, &request),
            });
            (
                StatusCode::OK,
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(body),
            )
                .into_response()
        }
    }
}

async fn userinfo(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let Some((token, sub)) = presented.and_then(|t| {
        let sub = lock(&s.access_tokens).get(&t).cloned()?;
        Some((t, sub))
    }) else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response();
    };
    lock(&s.log).userinfo.push(token);
    let b = lock(&s.behaviour).clone();
    let mut info = json!({
        "sub": sub,
        "email": b.email,
        "email_verified": true,
        "name": b.name,
    });
    if let Some(groups) = &b.userinfo_groups {
        info["groups"] = json!(groups);
    }
    axum::Json(info).into_response()
}

// ---------------------------------------------------------------------------------------
// Setup and flow helpers
// ---------------------------------------------------------------------------------------

const CONN: &str = "conn_mock";
const CLIENT_ID: &str = "portcullis-at-mock";
const CLIENT_SECRET: &str = "mock-client-secret-0123456789abcdef";
const DYNAMIC_AUTHORIZE: &str = "/resources/res_tickets/oauth/authorize";
const DYNAMIC_TOKEN: &str = "/resources/res_tickets/oauth/token";

/// portcullis with `org_mock` (`mock.example`), its `oidc` connection `conn_mock` at a fresh
/// mock IdP (`pins`: extra TOML lines for the connection), and a rule granting
/// `tickets.manage:org_mock` to `jira-admins`.
pub(crate) async fn setup(pins: &str) -> (Spawned, MockIdp) {
    let s = TestApp::builder().spawn().await;
    let idp = MockIdp::start(CLIENT_ID, CLIENT_SECRET).await;
    let seed = format!(
        r#"
[[organizations]]
id = "org_mock"
display_name = "Mock Corp"
domains = ["mock.example"]

[[organizations.connections]]
id = "{CONN}"
kind = "oidc"
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
{pins}

[[rules]]
id = "rule_mock_admins"
resource = "res_tickets"
organization = "org_mock"
when = {{ group = "jira-admins" }}
grant = ["tickets.read", "tickets.manage:{{org}}"]
"#,
        issuer = idp.issuer,
    );
    portcullis::seed::apply(
        &s.app.state.store,
        &s.app.state.config.secret,
        &|_| None,
        &seed,
        portcullis::clock::Clock::now(s.app.clock.as_ref()),
    )
    .await
    .expect("seed applies");
    (s, idp)
}

/// A browser at the IdP's answer: the callback URL it was sent back to.
struct AtCallback {
    /// The PKCE verifier of the MCP client's request.
    verifier: String,
    /// The full callback URL (`{base}/sso/v1/oidc/conn_mock/callback?…`).
    callback: String,
}

/// authorize with `connection_id=conn_mock` → 303 to the OIDC start → 303 to the IdP →
/// the IdP's 302 back to the callback (not followed).
async fn to_idp_and_back(
    s: &Spawned,
    idp: &MockIdp,
    b: &Browser,
    authorize_path: &str,
    client_id: &str,
    scope: &str,
) -> AtCallback {
    let (verifier, challenge) = pkce();
    let params = valid_params(client_id, &challenge, "alice@mock.example");
    let params = with(&with(&params, "connection_id", CONN), "scope", scope);
    let page = b.get(&authorize_url(authorize_path, &params)).await;
    assert_eq!(
        page.status, 303,
        "authorize → upstream start: {}",
        page.body
    );
    let start = page.location.expect("Location");
    assert!(
        start.starts_with(&format!("/sso/v1/oidc/{CONN}/start?")),
        "expected the OIDC start: {start}"
    );
    let page = b.get(&start).await;
    assert_eq!(page.status, 303, "start → IdP: {}", page.body);
    assert!(
        page.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.starts_with("portcullis_login=")),
        "start binds the login to the browser"
    );
    let at_idp = page.location.expect("Location");
    assert!(
        at_idp.starts_with(&format!("{}/authorize?", idp.issuer)),
        "expected the mock IdP: {at_idp}"
    );
    let page = b.get(&at_idp).await;
    assert_eq!(page.status, 302, "IdP answer: {}", page.body);
    let callback = page.location.expect("Location");
    assert!(
        callback.starts_with(&format!("{}/sso/v1/oidc/{CONN}/callback?", s.base)),
        "{callback}"
    );
    AtCallback { verifier, callback }
}

/// A registered (dynamic) client through to the callback, which is followed.
pub(crate) async fn dynamic_login(s: &Spawned, idp: &MockIdp, b: &Browser) -> Page {
    let client_id = b.register("res_tickets").await;
    let at = to_idp_and_back(
        s,
        idp,
        b,
        DYNAMIC_AUTHORIZE,
        &client_id,
        "tickets.read tickets.manage",
    )
    .await;
    b.get(&at.callback).await
}

/// Rows in a table of the test database (users, sessions, authorization_codes).
async fn rows(s: &Spawned, table: &str) -> i64 {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.app.db.url)
        .await
        .expect("open test database");
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM {table}"
    )))
    .fetch_one(&pool)
    .await
    .expect("count");
    let n: i64 = row.get("n");
    pool.close().await;
    n
}

/// The reasons of the `login.failed` events of conn_mock.
async fn failures(s: &Spawned) -> Vec<String> {
    s.audit("login.failed")
        .await
        .into_iter()
        .filter(|e| e.detail["connection_id"] == CONN)
        .map(|e| {
            assert_eq!(e.detail["connection_kind"], "oidc", "{:?}", e.detail);
            e.detail["reason"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// One `login.failed` whose reason mentions one of `needles`; nothing issued or created:
/// no code, no `login.succeeded`, no user, no session, no session cookie.
async fn assert_refusal_recorded(s: &Spawned, page: &Page, needles: &[&str]) {
    let reasons = failures(s).await;
    assert_eq!(reasons.len(), 1, "one login.failed: {reasons:?}");
    let reason = reasons[0].to_ascii_lowercase();
    assert!(
        needles
            .iter()
            .any(|n| reason.contains(&n.to_ascii_lowercase())),
        "reason `{}` mentions one of {needles:?}",
        reasons[0]
    );
    assert_nothing_issued(s, page, 0).await;
}

/// No code issued, and exactly `logins` successful logins (users and sessions) so far.
async fn assert_nothing_issued(s: &Spawned, page: &Page, logins: usize) {
    assert!(s.audit("code.issued").await.is_empty(), "no code.issued");
    assert_eq!(rows(s, "authorization_codes").await, 0, "no code stored");
    assert_eq!(
        s.audit("login.succeeded").await.len(),
        logins,
        "login.succeeded"
    );
    assert_eq!(rows(s, "users").await, logins as i64, "users");
    assert_eq!(rows(s, "sessions").await, logins as i64, "sessions");
    assert_eq!(session_cookie(page), None, "no session cookie set");
}

/// The token endpoint of the IdP was called once, correctly (client_secret_basic, PKCE):
/// the refusal came from the ID token, not from the exchange.
fn assert_exchanged_once(idp: &MockIdp) {
    let log = idp.log();
    assert_eq!(log.token.len(), 1, "{:?}", log.token);
    assert_eq!(log.token[0].outcome, Ok(()), "{:?}", log.token);
}

/// A refusal after the code exchange, for a registered client: 403 `upstream_refused`.
async fn refused_after_exchange(
    configure: impl FnOnce(&mut Behaviour),
    pins: &str,
    needles: &[&str],
) {
    let (s, idp) = setup(pins).await;
    idp.behave(configure);
    let b = Browser::new(&s);
    let page = dynamic_login(&s, &idp, &b).await;
    assert!(
        !page.status.is_redirection(),
        "the login was accepted: {} to {:?}",
        page.status,
        page.location
    );
    assert_error_page(&page, 403, "upstream_refused");
    assert_exchanged_once(&idp);
    assert_refusal_recorded(&s, &page, needles).await;
}

// ---------------------------------------------------------------------------------------
// Bad ID tokens
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_id_token_signed_by_a_key_outside_the_jwks_is_refused() {
    refused_after_exchange(
        |b| b.signing = Signing::UnknownKey,
        "",
        &["unknown key", "signature"],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_kid_makes_portcullis_refetch_the_jwks_once_then_refuse() {
    let (s, idp) = setup("").await;
    idp.behave(|b| b.signing = Signing::UnknownKey);
    let b = Browser::new(&s);
    let page = dynamic_login(&s, &idp, &b).await;
    assert_error_page(&page, 403, "upstream_refused");
    assert_eq!(
        idp.log().jwks,
        2,
        "the JWKS of discovery, then one refetch for the unknown kid"
    );
    assert_refusal_recorded(&s, &page, &["unknown key", "signature"]).await;
}

#[tokio::test]
async fn a_rotated_idp_key_is_picked_up_and_refetches_are_rate_limited() {
    let (s, idp) = setup("").await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let first_kid = idp.kid();
    // portcullis has the JWKS (fetched at discovery, during start); then the IdP rotates.
    let at = to_idp_and_back(&s, &idp, &b, DYNAMIC_AUTHORIZE, &client_id, "tickets.read").await;
    idp.rotate_key();
    assert_ne!(idp.kid(), first_kid);
    let page = b.get(&at.callback).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/oauth/consent")),
        "{:?}",
        page.location
    );
    assert_eq!(idp.log().jwks, 2, "refetched on the new kid");

    // Another rotation right away: no second refetch within 30 s, the login is refused.
    let other = Browser::new(&s);
    let at = to_idp_and_back(
        &s,
        &idp,
        &other,
        DYNAMIC_AUTHORIZE,
        &client_id,
        "tickets.read",
    )
    .await;
    idp.rotate_key();
    let page = other.get(&at.callback).await;
    assert_error_page(&page, 403, "upstream_refused");
    assert_eq!(idp.log().jwks, 2, "rate-limited");
    let reasons = failures(&s).await;
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("unknown key"), "{reasons:?}");
    assert_nothing_issued(&s, &page, 1).await;
}

#[tokio::test]
async fn an_id_token_signed_by_another_key_under_the_published_kid_is_refused() {
    refused_after_exchange(
        |b| b.signing = Signing::ForeignKeyPublishedKid,
        "",
        &["signature"],
    )
    .await;
}

#[tokio::test]
async fn an_id_token_signed_hs256_with_the_client_secret_is_refused() {
    // The discovery document allows RS256 only; a MAC over the client secret proves nothing
    // about the IdP.
    refused_after_exchange(
        |b| b.signing = Signing::Hs256ClientSecret,
        "",
        &["signature"],
    )
    .await;
}

#[tokio::test]
async fn an_id_token_with_a_wrong_nonce_is_refused() {
    refused_after_exchange(
        |b| b.claim("nonce", json!("not-the-nonce-portcullis-sent")),
        "",
        &["nonce"],
    )
    .await;
}

#[tokio::test]
async fn an_id_token_without_a_nonce_is_refused() {
    refused_after_exchange(|b| b.claim("nonce", Value::Null), "", &["nonce"]).await;
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    refused_after_exchange(
        |b| b.claim("aud", json!("some-other-client")),
        "",
        &["audience"],
    )
    .await;
}

#[tokio::test]
async fn an_id_token_also_for_an_untrusted_audience_is_refused() {
    refused_after_exchange(
        |b| {
            b.claim("aud", json!([CLIENT_ID, "some-other-client"]));
            b.claim("azp", json!(CLIENT_ID));
        },
        "",
        &["audience"],
    )
    .await;
}

#[tokio::test]
async fn an_id_token_issued_to_another_authorized_party_is_refused() {
    // OIDC Core §3.1.3.7 step 5: an `azp` that is not our client id.
    refused_after_exchange(
        |b| b.claim("azp", json!("some-other-client")),
        "",
        &["azp", "authorized party"],
    )
    .await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let now = unix_now();
    refused_after_exchange(
        move |b| {
            b.claim("iat", json!(now - 7200));
            b.claim("auth_time", json!(now - 7200));
            b.claim("exp", json!(now - 3600));
        },
        "",
        &["expired"],
    )
    .await;
}

#[tokio::test]
async fn an_id_token_issued_in_the_future_is_refused() {
    // `iat` an hour ahead is beyond any small skew.
    let now = unix_now();
    refused_after_exchange(
        move |b| {
            b.claim("iat", json!(now + 3600));
            b.claim("exp", json!(now + 7200));
        },
        "",
        &["iat", "issued", "future", "expired"],
    )
    .await;
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    refused_after_exchange(
        |b| b.claim("iss", json!("http://127.0.0.1:1/other-idp")),
        "",
        &["issuer"],
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Bad authorization responses
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_callback_with_a_mismatched_iss_is_refused_before_the_code_is_used() {
    let (s, idp) = setup("").await;
    idp.behave(|b| b.callback_iss = CallbackIss::Value("https://evil.example".into()));
    let b = Browser::new(&s);
    let page = dynamic_login(&s, &idp, &b).await;
    assert_error_page(&page, 403, "upstream_refused");
    assert!(
        idp.log().token.is_empty(),
        "RFC 9207: a mixed-up response's code is never sent to a token endpoint"
    );
    assert_refusal_recorded(&s, &page, &["iss"]).await;
}

#[tokio::test]
async fn a_callback_without_iss_from_an_idp_that_advertises_it_is_refused() {
    // RFC 9207 §2.4: the discovery document says `authorization_response_iss_parameter_supported`,
    // so a response without `iss` must be rejected.
    let (s, idp) = setup("").await;
    idp.behave(|b| b.callback_iss = CallbackIss::Omitted);
    let b = Browser::new(&s);
    let page = dynamic_login(&s, &idp, &b).await;
    assert!(
        !page.status.is_redirection(),
        "the login was accepted: {} to {:?}",
        page.status,
        page.location
    );
    assert_error_page(&page, 403, "upstream_refused");
    assert!(idp.log().token.is_empty(), "the code is never exchanged");
    assert_refusal_recorded(&s, &page, &["iss"]).await;
}

#[tokio::test]
async fn an_idp_error_response_is_a_refusal_page() {
    let (s, idp) = setup("").await;
    idp.behave(|b| b.authorize_error = Some("access_denied".into()));
    let b = Browser::new(&s);
    let page = dynamic_login(&s, &idp, &b).await;
    assert_error_page(&page, 403, "upstream_refused");
    assert!(idp.log().token.is_empty());
    assert_refusal_recorded(&s, &page, &["access_denied"]).await;
}

#[tokio::test]
async fn an_idp_error_response_redirects_a_static_client_with_access_denied() {
    let (s, idp) = setup("").await;
    idp.behave(|b| b.authorize_error = Some("access_denied".into()));
    let b = Browser::new(&s);
    let at = to_idp_and_back(
        &s,
        &idp,
        &b,
        "/oauth/authorize",
        "m2m_public",
        "tickets.read",
    )
    .await;
    let page = b.get(&at.callback).await;
    assert_error_redirect(&page, "access_denied", &s.base);
    assert!(idp.log().token.is_empty());
    assert_refusal_recorded(&s, &page, &["access_denied"]).await;
}

#[tokio::test]
async fn a_bad_id_token_redirects_a_static_client_with_access_denied() {
    let (s, idp) = setup("").await;
    idp.behave(|b| b.claim("aud", json!("some-other-client")));
    let b = Browser::new(&s);
    let at = to_idp_and_back(
        &s,
        &idp,
        &b,
        "/oauth/authorize",
        "m2m_public",
        "tickets.read",
    )
    .await;
    let page = b.get(&at.callback).await;
    assert_error_redirect(&page, "access_denied", &s.base);
    assert_exchanged_once(&idp);
    assert_refusal_recorded(&s, &page, &["audience"]).await;
}

// ---------------------------------------------------------------------------------------
// State: single use, bound to the browser
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let (s, idp) = setup("").await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let at = to_idp_and_back(
        &s,
        &idp,
        &b,
        DYNAMIC_AUTHORIZE,
        &client_id,
        "tickets.read tickets.manage",
    )
    .await;
    let first = b.get(&at.callback).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert!(
        first
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/oauth/consent")),
        "{:?}",
        first.location
    );
    assert!(session_cookie(&first).is_some());
    assert_eq!(s.audit("login.succeeded").await.len(), 1);

    // The same callback again (the browser's login cookie was cleared; an attacker
    // replaying a leaked URL has none either).
    let replay = b.get(&at.callback).await;
    assert_error_page(&replay, 400, "state_replayed");
    let attacker = Browser::new(&s);
    let replay2 = attacker.get(&at.callback).await;
    assert_error_page(&replay2, 400, "state_replayed");
    assert_eq!(
        idp.log().token.len(),
        1,
        "the code was exchanged once, by the first callback"
    );
    let reasons = failures(&s).await;
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.iter().all(|r| r.contains("replay")), "{reasons:?}");
    assert_nothing_issued(&s, &replay2, 1).await;
    assert_eq!(session_cookie(&replay), None);
}

#[tokio::test]
async fn a_callback_carrying_another_browsers_state_is_refused() {
    let (s, idp) = setup("").await;
    let victim = Browser::new(&s);
    let at = to_idp_and_back(
        &s,
        &idp,
        &victim,
        "/oauth/authorize",
        "m2m_public",
        "tickets.read",
    )
    .await;

    // The attacker has a login cookie of their own (they started a login too) and presents
    // the victim's callback URL.
    let attacker = Browser::new(&s);
    let own = to_idp_and_back(
        &s,
        &idp,
        &attacker,
        "/oauth/authorize",
        "m2m_public",
        "tickets.read",
    )
    .await;
    assert_ne!(query(&own.callback)["state"], query(&at.callback)["state"]);
    let page = attacker.get(&at.callback).await;
    assert_error_page(&page, 400, "browser_mismatch");
    assert!(
        idp.log().token.is_empty(),
        "the victim's code was not exchanged"
    );
    let reasons = failures(&s).await;
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("another browser"), "{reasons:?}");
    assert_nothing_issued(&s, &page, 0).await;
    // A browser with no login cookie at all is refused the same way.
    let bare = Browser::new(&s);
    let page = bare.get(&own.callback).await;
    assert_error_page(&page, 400, "browser_mismatch");
    assert_nothing_issued(&s, &page, 0).await;
}

#[tokio::test]
async fn a_callback_with_an_unknown_state_is_refused() {
    let (s, idp) = setup("").await;
    let b = Browser::new(&s);
    let at = to_idp_and_back(
        &s,
        &idp,
        &b,
        "/oauth/authorize",
        "m2m_public",
        "tickets.read",
    )
    .await;
    let mut url = url::Url::parse(&at.callback).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "forged-state".to_string()
            } else {
                v.to_string()
            };
            (k.to_string(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let page = b.get(url.as_str()).await;
    assert_error_page(&page, 400, "invalid_state");
    assert!(idp.log().token.is_empty());
    assert_refusal_recorded(&s, &page, &["unknown callback state"]).await;
}

// ---------------------------------------------------------------------------------------
// Tenant pins
// ---------------------------------------------------------------------------------------

const GOOD_TID: &str = "3f1c0a9e-0000-4000-8000-00000000000a";
const OTHER_TID: &str = "9b2d7e41-0000-4000-8000-00000000000b";

#[tokio::test]
async fn an_identity_from_another_entra_tenant_is_refused() {
    refused_after_exchange(
        |b| b.claim("tid", json!(OTHER_TID)),
        &format!("allowed_tid = \"{GOOD_TID}\""),
        &["tenant"],
    )
    .await;
}

#[tokio::test]
async fn an_identity_without_a_tenant_is_refused_by_a_tenant_pin() {
    refused_after_exchange(
        |_| {},
        &format!("allowed_tid = \"{GOOD_TID}\""),
        &["tenant"],
    )
    .await;
}

#[tokio::test]
async fn an_identity_from_another_workspace_domain_is_refused() {
    refused_after_exchange(
        |b| {
            b.email = "mallory@other.example".into();
            b.claim("hd", json!("other.example"));
        },
        "allowed_hd = \"mock.example\"",
        &["workspace domain"],
    )
    .await;
}

#[tokio::test]
async fn an_identity_from_the_pinned_tenant_signs_in() {
    let (s, idp) = setup(&format!(
        "allowed_tid = \"{GOOD_TID}\"\nallowed_hd = \"mock.example\""
    ))
    .await;
    idp.behave(|b| {
        b.claim("tid", json!(GOOD_TID));
        b.claim("hd", json!("mock.example"));
    });
    let b = Browser::new(&s);
    let page = dynamic_login(&s, &idp, &b).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/oauth/consent")),
        "{:?}",
        page.location
    );
    assert!(failures(&s).await.is_empty());
    assert_eq!(s.audit("login.succeeded").await.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Groups from userinfo
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn groups_missing_from_the_id_token_are_taken_from_userinfo() {
    let (s, idp) = setup("").await;
    idp.behave(|b| {
        b.id_token_groups = None;
        b.userinfo_groups = Some(vec!["jira-admins".into()]);
    });
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let at = to_idp_and_back(
        &s,
        &idp,
        &b,
        DYNAMIC_AUTHORIZE,
        &client_id,
        "tickets.read tickets.manage",
    )
    .await;

    // What portcullis sent upstream.
    let log = idp.log();
    let sent = &log.authorize[0];
    assert_eq!(sent.param("client_id"), Some(CLIENT_ID));
    assert_eq!(
        sent.param("redirect_uri"),
        Some(format!("{}/sso/v1/oidc/{CONN}/callback", s.base).as_str())
    );
    assert_eq!(sent.param("code_challenge_method"), Some("S256"));
    assert!(sent.param("state").is_some_and(|v| v.len() >= 32));
    assert!(sent.param("nonce").is_some_and(|v| v.len() >= 32));
    assert_eq!(sent.param("login_hint"), Some("alice@mock.example"));
    let scopes: Vec<&str> = sent.param("scope").unwrap_or("").split(' ').collect();
    for want in ["openid", "email", "profile"] {
        assert!(scopes.contains(&want), "{scopes:?}");
    }

    let page = b.get(&at.callback).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let log = idp.log();
    assert_eq!(log.token.len(), 1);
    assert_eq!(
        log.token[0].outcome,
        Ok(()),
        "client_secret_basic and PKCE verified"
    );
    assert_eq!(log.userinfo.len(), 1, "userinfo asked for the groups");

    let consent = page.location.expect("Location");
    let done = b.consent(&consent, "approve").await;
    let location = done.location.expect("redirect to the client");
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let callback = query(&location);
    assert_eq!(callback["state"], STATE);
    let (status, body) = b
        .token(
            DYNAMIC_TOKEN,
            &[
                ("grant_type", "authorization_code"),
                ("code", &callback["code"]),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &at.verifier),
                ("client_id", &client_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "tickets.read tickets.manage:org_mock");
    assert_eq!(claims["oid"], "org_mock");

    let logins = s.audit("login.succeeded").await;
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].detail["connection_id"], CONN, "{:?}", logins[0]);
    assert!(failures(&s).await.is_empty());
}

#[tokio::test]
async fn without_groups_anywhere_alice_gets_tickets_read_only() {
    let (s, idp) = setup("").await;
    idp.behave(|b| {
        b.id_token_groups = None;
        b.userinfo_groups = None;
    });
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let at = to_idp_and_back(
        &s,
        &idp,
        &b,
        DYNAMIC_AUTHORIZE,
        &client_id,
        "tickets.read tickets.manage",
    )
    .await;
    let page = b.get(&at.callback).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(idp.log().userinfo.len(), 1);
    let done = b
        .consent(&page.location.expect("Location"), "approve")
        .await;
    let callback = query(&done.location.expect("redirect to the client"));
    let (status, body) = b
        .token(
            DYNAMIC_TOKEN,
            &[
                ("grant_type", "authorization_code"),
                ("code", &callback["code"]),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &at.verifier),
                ("client_id", &client_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "tickets.read");
}
