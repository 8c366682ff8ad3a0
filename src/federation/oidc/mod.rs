//! OIDC relying party (OpenID Connect Core §3.1) with the `openidconnect` crate: code flow
//! with PKCE, `state` and `nonce`; the state kept server-side, bound to the browser by a
//! cookie, single use, 10 minutes; the ID token checked (signature by the IdP's JWKS,
//! refetched on an unknown `kid` at most every 30 s; `iss`, `aud`, `exp`, `nonce` by the
//! crate; `azp`, `iat` and the tenant pins for multi-tenant IdPs by
//! [`check_id_token_claims`]); RFC 9207 `iss` on the callback.

pub mod id_token;
mod provider;

use id_token::{ExpectedClaims, check_id_token_claims};
use provider::refetch_jwks;
pub use provider::{IssParameter, ProviderMetadata, Upstreams, is_iss_required, provider};

use std::time::Duration;

use crate::pages::PageCode;
use crate::pages::PagePath;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, LoginHint,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use serde_json::{Map, Value};

use super::claims::{self, ClaimMapping};
use super::{VerifiedIdentity, complete_login};
use crate::crypto;
use crate::flow::{find_open, record_login_failed, refuse};
use crate::oauth::form::FormParams;
use crate::pages::{self, PageError};
use crate::session::{Cookie, SessionCookie};
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind, PendingAuthorization, Taken, UpstreamLogin};

/// How long an upstream login may take.
pub const UPSTREAM_TTL: i64 = 600;

/// An `oidc` connection's settings, secret opened.
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    pub mapping: ClaimMapping,
    pub allowed_hd: Option<String>,
    pub allowed_tid: Option<String>,
}

pub fn settings(secret: &crate::crypto::SecretBox, c: &Connection) -> Result<OidcSettings, String> {
    let s = &c.settings;
    let text = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_string);
    let client_secret = match text("client_secret_sealed") {
        Some(sealed) => Some(
            String::from_utf8(secret.open(&sealed, &c.id).map_err(|e| e.to_string())?)
                .map_err(|_| "client secret is not UTF-8".to_string())?,
        ),
        None => None,
    };
    Ok(OidcSettings {
        issuer: text("issuer").ok_or("no issuer")?,
        client_id: text("client_id").ok_or("no client_id")?,
        client_secret,
        scopes: s
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]),
        mapping: ClaimMapping::from_settings(s),
        allowed_hd: text("allowed_hd"),
        allowed_tid: text("allowed_tid"),
    })
}

fn callback_url(app: &AppState, connection_id: &str) -> String {
    format!("{}/sso/v1/oidc/{connection_id}/callback", app.issuer())
}

/// `GET /sso/v1/oidc/{conn}/start?request=…`: off to the IdP.
pub async fn start(
    app: &AppState,
    pending: &PendingAuthorization,
    connection: &Connection,
) -> Result<Response, PageError> {
    let unavailable = |why: String| {
        tracing::warn!(connection = %connection.id, reason = %why, "upstream OIDC unavailable");
        PageError::new(
            StatusCode::BAD_GATEWAY,
            PageCode::UpstreamUnavailable,
            "Sign-in is unavailable",
            "Your organization's identity provider cannot be reached. Try again later.",
        )
    };
    let s = settings(&app.config.secret, connection).map_err(unavailable)?;
    let metadata = match provider(app, &connection.id, &s.issuer).await {
        Ok(m) => m,
        // An outage: server_error to a trusted client, a page otherwise; audited.
        Err(why) => return Ok(refuse(app, pending, connection, PageCode::ServerError, why).await),
    };
    let redirect = RedirectUrl::new(callback_url(app, &connection.id))
        .map_err(|e| unavailable(e.to_string()))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(s.client_id.clone()),
        s.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = crypto::random_token();
    let nonce = crypto::random_token();
    let (state_for_url, nonce_for_url) = (state.clone(), nonce.clone());
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state_for_url),
            move || Nonce::new(nonce_for_url),
        )
        .set_pkce_challenge(challenge);
    for scope in s.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let r = &pending.request;
    if let Some(hint) = &r.login_hint {
        request = request.set_login_hint(LoginHint::new(hint.clone()));
    }
    if r.prompt.iter().any(|p| p == "login") {
        request = request.add_prompt(CoreAuthPrompt::Login);
    }
    if let Some(max_age) = r.max_age {
        request = request.set_max_age(Duration::from_secs(max_age.max(0) as u64));
    }
    let (url, _, _) = request.url();

    let browser = crypto::random_token();
    let now = app.clock.now();
    let secrets = serde_json::json!({ "nonce": nonce, "verifier": verifier.secret() }).to_string();
    let state_hash = crypto::hash_secret(&state);
    app.store
        .insert_upstream_login(&UpstreamLogin {
            secrets: app.config.secret.seal(secrets.as_bytes(), &state_hash),
            state_hash,
            connection_id: connection.id.clone(),
            pending_id: pending.id.clone(),
            browser_hash: crypto::hash_secret(&browser),
            created_at: now,
            expires_at: now + UPSTREAM_TTL,
            used_at: None,
        })
        .await?;
    let mut response = pages::redirect(url.as_str(), StatusCode::SEE_OTHER);
    response.headers_mut().append(
        header::SET_COOKIE,
        Cookie::Login.set(app.issuer(), &browser, UPSTREAM_TTL),
    );
    Ok(response)
}

/// `GET /sso/v1/oidc/{conn}/callback`
pub async fn get_callback(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    headers: HeaderMap,
    cookie: SessionCookie,
    RawQuery(q): RawQuery,
) -> Response {
    let params = FormParams::parse(q.unwrap_or_default().as_bytes());
    let browser = Cookie::Login.read(app.issuer(), &headers);
    let mut response = callback(&app, &conn, &params, browser.as_deref(), &cookie)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    response
        .headers_mut()
        .append(header::SET_COOKIE, Cookie::Login.set(app.issuer(), "", 0));
    response
}

async fn callback(
    app: &AppState,
    conn: &str,
    params: &FormParams,
    browser: Option<&str>,
    cookie: &SessionCookie,
) -> Result<Response, PageError> {
    let connection = app
        .store
        .find_connection(conn)
        .await?
        .filter(|c| c.kind == ConnectionKind::Oidc)
        .ok_or_else(|| {
            PageError::bad_request(
                PageCode::UnknownConnection,
                "This sign-in connection is not known here.",
            )
        })?;
    let bad_state = |code: PageCode, why: &str| {
        let app = app.clone();
        let connection = connection.clone();
        let why = why.to_string();
        async move {
            record_login_failed(&app, &connection, why).await;
            PageError::bad_request(
                code,
                "This sign-in response is not valid for this browser. Start again from your application.",
            )
        }
    };
    let Some(state) = params.get("state") else {
        return Err(bad_state(PageCode::InvalidState, "callback without state").await);
    };
    let now = app.clock.now();
    let login = match app
        .store
        .take_upstream_login(&crypto::hash_secret(state), now)
        .await?
    {
        Taken::Fresh(l) => l,
        Taken::Replayed(_) => {
            return Err(bad_state(
                PageCode::StateReplayed,
                "callback state used before (replay)",
            )
            .await);
        }
        Taken::Missing => {
            return Err(bad_state(PageCode::InvalidState, "unknown callback state").await);
        }
    };
    if login.connection_id != connection.id {
        return Err(bad_state(
            PageCode::InvalidState,
            "callback state belongs to another connection",
        )
        .await);
    }
    let same_browser = browser.is_some_and(|b| crypto::verify_secret(b, &login.browser_hash));
    if !same_browser {
        return Err(bad_state(
            PageCode::BrowserMismatch,
            "callback state belongs to another browser",
        )
        .await);
    }
    if login.expires_at <= now {
        return Err(bad_state(PageCode::RequestExpired, "upstream login took too long").await);
    }
    let pending = find_open(app, &login.pending_id).await?;
    let secrets: Value = app
        .config
        .secret
        .open(&login.secrets, &login.state_hash)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(PageError::server_error)?;
    let nonce = secrets["nonce"].as_str().unwrap_or_default().to_string();
    let verifier = secrets["verifier"].as_str().unwrap_or_default().to_string();

    let s = match settings(&app.config.secret, &connection) {
        Ok(s) => s,
        Err(e) => {
            return Ok(refuse(
                app,
                &pending,
                &connection,
                PageCode::ServerError,
                format!("connection settings: {e}"),
            )
            .await);
        }
    };
    let (metadata, iss_required) = match provider(app, &connection.id, &s.issuer).await {
        Ok(m) => {
            let required = is_iss_required(&m);
            (m, required)
        }
        Err(e) => return Ok(refuse(app, &pending, &connection, PageCode::ServerError, e).await),
    };
    // RFC 9207: the iss parameter, when sent, must be the IdP's issuer; an IdP that
    // advertises it must send it, on errors too.
    let expected_iss = metadata.issuer().as_str().to_string();
    let iss_problem = match params.get("iss") {
        Some(iss) if iss != expected_iss => {
            Some(format!("callback iss {iss} is not {expected_iss}"))
        }
        None if iss_required => {
            Some("callback without the iss the IdP advertises (RFC 9207)".to_string())
        }
        _ => None,
    };
    if let Some(why) = iss_problem {
        return Ok(refuse(app, &pending, &connection, PageCode::AccessDenied, why).await);
    }
    if let Some(error) = params.get("error") {
        let why = format!(
            "the identity provider answered {error}: {}",
            params.get("error_description").unwrap_or("")
        );
        return Ok(refuse(app, &pending, &connection, PageCode::AccessDenied, why).await);
    }
    let Some(code) = params.get("code") else {
        return Ok(refuse(
            app,
            &pending,
            &connection,
            PageCode::AccessDenied,
            "callback without code".into(),
        )
        .await);
    };
    match finish(app, &connection, &s, metadata, code, &nonce, &verifier).await {
        Ok(identity) => complete_login(app, &pending, &connection, identity, cookie).await,
        Err((error, why)) => Ok(refuse(app, &pending, &connection, error, why).await),
    }
}

type Refusal = (PageCode, String);

/// Code exchange and ID token checks; the identity on success.
async fn finish(
    app: &AppState,
    connection: &Connection,
    s: &OidcSettings,
    metadata: ProviderMetadata,
    code: &str,
    nonce: &str,
    verifier: &str,
) -> Result<VerifiedIdentity, Refusal> {
    let redirect = RedirectUrl::new(callback_url(app, &connection.id))
        .map_err(|e| (PageCode::ServerError, e.to_string()))?;
    let make_client = |m: ProviderMetadata| {
        CoreClient::from_provider_metadata(
            m,
            ClientId::new(s.client_id.clone()),
            s.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect.clone())
    };
    let client = make_client(metadata.clone());
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| (PageCode::ServerError, format!("token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
        .request_async(&app.http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => (
                PageCode::AccessDenied,
                format!("the identity provider refused the code: {}", r.error()),
            ),
            RequestTokenError::Request(e) => {
                (PageCode::ServerError, format!("token request failed: {e}"))
            }
            other => (PageCode::AccessDenied, format!("token response: {other}")),
        })?;
    let id_token = token.id_token().ok_or((
        PageCode::AccessDenied,
        "no ID token in the token response".to_string(),
    ))?;
    let nonce = Nonce::new(nonce.to_string());
    let verified = match id_token.claims(&client.id_token_verifier(), &nonce) {
        Ok(_) => true,
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => false,
        Err(e) => return Err((PageCode::AccessDenied, format!("ID token refused: {e}"))),
    };
    if !verified {
        // An unknown kid: the IdP may have rotated its keys.
        let refreshed = refetch_jwks(app, &connection.id, &metadata).await.ok_or((
            PageCode::AccessDenied,
            "ID token signed by an unknown key".to_string(),
        ))?;
        id_token
            .claims(&make_client(refreshed).id_token_verifier(), &nonce)
            .map_err(|e| (PageCode::AccessDenied, format!("ID token refused: {e}")))?;
    }
    // The signature covers the whole payload: read the claims the crate does not model.
    let payload: Map<String, Value> = claims::jwt_payload(&id_token.to_string())
        .ok_or((PageCode::AccessDenied, "malformed ID token".to_string()))?;
    // The IdP's clock is real time, as openidconnect's exp check assumes.
    let expected = ExpectedClaims {
        client_id: &s.client_id,
        allowed_hd: s.allowed_hd.as_deref(),
        allowed_tid: s.allowed_tid.as_deref(),
        now: crate::clock::Clock::now(&crate::clock::SystemClock),
    };
    check_id_token_claims(&payload, &expected)
        .map_err(|e| (PageCode::AccessDenied, e.to_string()))?;
    let mut claims_in = payload;
    if !claims_in.contains_key(&s.mapping.groups)
        && !claims::has_group_overage(&claims_in, &s.mapping.groups)
    {
        // Groups not in the ID token: ask userinfo, when the IdP has it.
        if let Some(url) = metadata.userinfo_endpoint() {
            let info = app
                .http
                .get(url.as_str())
                .bearer_auth(token.access_token().secret())
                .send()
                .await;
            if let Ok(r) = info
                && r.status().is_success()
                && let Ok(Value::Object(extra)) = r.json::<Value>().await
                && extra.get("sub") == claims_in.get("sub")
                && let Some(g) = extra.get(&s.mapping.groups)
            {
                claims_in.insert(s.mapping.groups.clone(), g.clone());
            }
        }
    }
    claims::identity(&claims_in, &s.mapping).ok_or((
        PageCode::AccessDenied,
        "the ID token has no subject".to_string(),
    ))
}
