//! A small in-process OpenID provider on 127.0.0.1:0 that answers and signs whatever the test
//! tells it to (a key outside its JWKS, a wrong `nonce` or `aud`, an expired token, a forged
//! `iss` on the callback, an `error` instead of a code, another tenant), and portcullis set up
//! with an `oidc` connection to it.

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

use crate::support::authorize::{authorize_url, valid_params, with};
use crate::support::browser::{Browser, Page, pkce};
use crate::support::{Spawned, TestApp};

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

    /// A JWS of `claims` with header `typ`, signed by the published key (or, `rogue`, by a
    /// key it does not publish, under its own `kid`).
    pub fn sign(&self, typ: &str, claims: &Value, rogue: bool) -> String {
        let key = if rogue {
            self.shared.rogue.clone()
        } else {
            lock(&self.shared.key).clone()
        };
        let mut head = JwsHeader::new();
        head.set_token_type(typ);
        head.set_key_id(&key.kid);
        let payload =
            JwtPayload::from_map(claims.as_object().expect("claims").clone()).expect("claims");
        let signer = RS256.signer_from_der(&key.der).expect("signer");
        josekit::jwt::encode_with_signer(&payload, &head, &signer).expect("signs")
    }

    /// A new published key (the old one leaves the JWKS).
    pub fn rotate_key(&self) {
        *lock(&self.shared.key) = Key::generate();
    }
}

pub fn unix_now() -> i64 {
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

pub const CONN: &str = "conn_mock";
pub const CLIENT_ID: &str = "portcullis-at-mock";
pub const CLIENT_SECRET: &str = "mock-client-secret-0123456789abcdef";
pub const DYNAMIC_AUTHORIZE: &str = "/resources/res_tickets/oauth/authorize";
pub const DYNAMIC_TOKEN: &str = "/resources/res_tickets/oauth/token";

/// portcullis with `org_mock` (`mock.example`), its `oidc` connection `conn_mock` at a fresh
/// mock IdP (`pins`: extra TOML lines for the connection), and a rule granting
/// `tickets.manage:org_mock` to `jira-admins`.
pub async fn setup(pins: &str) -> (Spawned, MockIdp) {
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
pub struct AtCallback {
    /// The PKCE verifier of the MCP client's request.
    pub verifier: String,
    /// The full callback URL (`{base}/sso/v1/oidc/conn_mock/callback?…`).
    pub callback: String,
}

/// authorize with `connection_id=conn_mock` → 303 to the OIDC start → 303 to the IdP →
/// the IdP's 302 back to the callback (not followed).
pub async fn to_idp_and_back(
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
pub async fn dynamic_login(s: &Spawned, idp: &MockIdp, b: &Browser) -> Page {
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
