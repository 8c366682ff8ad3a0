//! The IdP simulator as an identity provider of its own, for Cross-App Access tests and
//! stand-in use (only where the simulator answers: `--dev` or its switch). Each simulator
//! connection is an issuer, `{issuer}/sso/v1/simulator/{conn}`, with an ES256 key derived
//! from the server's secret (the same on every replica and restart), published at
//! `…/jwks`, a discovery document, an endpoint that hands out an ID token for whoever a
//! test names (the person "signed in at the IdP"), and RFC 8693 token exchange of such an
//! ID token for an Identity Assertion JWT Authorization Grant (ID-JAG) for an
//! authorization server and resource.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jws::{ES256, JwsHeader};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Value, json};

use super::simulator;
use crate::oauth::form::{FormParams, OAuthForm};
use crate::oauth::jwt_assertion;
use crate::pages::PagePath;
use crate::state::AppState;
use crate::store::{Connection, ConnectionKind};

pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ID_JAG_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id-jag";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// The JWS `typ` of an ID-JAG.
pub const ID_JAG_TYP: &str = "oauth-id-jag+jwt";
/// ID-JAGs live five minutes; the simulator's ID tokens an hour.
const ID_JAG_TTL: i64 = 300;
const ID_TOKEN_TTL: i64 = 3600;

/// A simulator connection's issuer.
pub fn issuer(environment_issuer: &str, connection_id: &str) -> String {
    format!("{environment_issuer}/sso/v1/simulator/{connection_id}")
}

/// The connection whose simulator issuer this is, if the simulator answers.
pub fn connection_id_of<'a>(app: &AppState, iss: &'a str) -> Option<&'a str> {
    if !simulator::is_enabled(app) {
        return None;
    }
    iss.strip_prefix(app.issuer())?
        .strip_prefix("/sso/v1/simulator/")
        .filter(|c| !c.is_empty() && !c.contains('/'))
}

/// The simulator connection's key pair, derived from the server's secret.
fn key_pair(app: &AppState, connection_id: &str) -> Option<EcKeyPair> {
    use base64::Engine;
    let seed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(app.config.secret.mac("simulator-idp-key", connection_id))
        .ok()?;
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).ok()?;
    let mut ctx = openssl::bn::BigNumContext::new().ok()?;
    // A scalar in [1, n-1]: seed mod (n - 1) + 1.
    let mut order = openssl::bn::BigNum::new().ok()?;
    group.order(&mut order, &mut ctx).ok()?;
    let mut n_minus_1 = openssl::bn::BigNum::new().ok()?;
    n_minus_1
        .checked_sub(&order, openssl::bn::BigNum::from_u32(1).ok()?.as_ref())
        .ok()?;
    let mut reduced = openssl::bn::BigNum::new().ok()?;
    let raw = openssl::bn::BigNum::from_slice(&seed).ok()?;
    reduced.nnmod(&raw, &n_minus_1, &mut ctx).ok()?;
    let mut d = openssl::bn::BigNum::new().ok()?;
    d.checked_add(&reduced, openssl::bn::BigNum::from_u32(1).ok()?.as_ref())
        .ok()?;
    let mut public = openssl::ec::EcPoint::new(&group).ok()?;
    public.mul_generator2(&group, &d, &mut ctx).ok()?;
    let key = openssl::ec::EcKey::from_private_components(&group, &d, &public).ok()?;
    let der = openssl::pkey::PKey::from_ec_key(key)
        .ok()?
        .private_key_to_pkcs8()
        .ok()?;
    EcKeyPair::from_der(der, Some(EcCurve::P256)).ok()
}

fn kid(connection_id: &str) -> String {
    format!("sim_{connection_id}")
}

/// The simulator connection's public JWK Set.
pub fn jwks(app: &AppState, connection_id: &str) -> Value {
    let Some(pair) = key_pair(app, connection_id) else {
        return json!({ "keys": [] });
    };
    let mut jwk: Jwk = pair.to_jwk_public_key();
    jwk.set_key_id(kid(connection_id));
    jwk.set_algorithm("ES256");
    jwk.set_key_use("sig");
    json!({ "keys": [serde_json::from_str::<Value>(&jwk.to_string()).unwrap_or_default()] })
}

fn sign(app: &AppState, connection_id: &str, typ: &str, claims: Value) -> Option<String> {
    let pair = key_pair(app, connection_id)?;
    let signer = ES256.signer_from_jwk(&pair.to_jwk_private_key()).ok()?;
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    header.set_key_id(kid(connection_id));
    let payload = JwtPayload::from_map(claims.as_object()?.clone()).ok()?;
    jwt::encode_with_signer(&payload, &header, &signer).ok()
}

async fn connection(app: &AppState, id: &str) -> Result<Connection, Response> {
    let not_here = || {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "not_found", "error_description": "no simulator connection here" })),
        )
            .into_response()
    };
    if !simulator::is_enabled(app) {
        return Err(not_here());
    }
    match app.store.find_connection(id).await {
        Ok(Some(c)) if c.kind == ConnectionKind::IdpSimulator && c.is_enabled => Ok(c),
        _ => Err(not_here()),
    }
}

fn error(code: &'static str, description: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": code, "error_description": description.into() })),
    )
        .into_response()
}

/// `GET /sso/v1/simulator/{conn}/jwks`
pub async fn get_jwks(State(app): State<AppState>, PagePath(conn): PagePath<String>) -> Response {
    match connection(&app, &conn).await {
        Ok(c) => Json(jwks(&app, &c.id)).into_response(),
        Err(r) => r,
    }
}

/// `GET /sso/v1/simulator/{conn}/.well-known/openid-configuration`
pub async fn get_discovery(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
) -> Response {
    match connection(&app, &conn).await {
        Ok(c) => {
            let iss = issuer(app.issuer(), &c.id);
            Json(json!({
                "issuer": iss,
                "token_endpoint": format!("{iss}/token"),
                "jwks_uri": format!("{iss}/jwks"),
                "grant_types_supported": [TOKEN_EXCHANGE],
                "identity_chaining_requested_token_types_supported": [ID_JAG_TOKEN_TYPE],
                "id_token_signing_alg_values_supported": ["ES256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "none"],
            }))
            .into_response()
        }
        Err(r) => r,
    }
}

/// `POST /sso/v1/simulator/{conn}/id-token` (`email`, `client_id`, optional `name`,
/// `groups`): an ID token of this IdP for the person a test names, as if they had signed
/// in here.
pub async fn post_id_token(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    OAuthForm(p): OAuthForm,
) -> Response {
    let c = match connection(&app, &conn).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let email = p
        .get("email")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let client_id = p.get("client_id").unwrap_or_default();
    if !email.contains('@') || email.len() > 254 || client_id.is_empty() || client_id.len() > 256 {
        return error("invalid_request", "email and client_id are required");
    }
    let groups: Vec<&str> = p
        .get("groups")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .take(100)
        .collect();
    let now = app.clock.now();
    let mut claims = json!({
        "iss": issuer(app.issuer(), &c.id), "sub": email, "aud": client_id, "iat": now,
        "exp": now + ID_TOKEN_TTL, "email": email, "email_verified": true, "groups": groups,
    });
    if let Some(name) = p.get("name").filter(|n| !n.is_empty() && n.len() <= 200) {
        claims["name"] = json!(name);
    }
    match sign(&app, &c.id, "JWT", claims) {
        Some(id_token) => Json(json!({ "id_token": id_token })).into_response(),
        None => error("server_error", "the simulator could not sign"),
    }
}

/// `POST /sso/v1/simulator/{conn}/token`: RFC 8693 token exchange of one of this IdP's ID
/// tokens for an ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant): `audience` the
/// authorization server's issuer, `resource`, `scope`; the ID-JAG's `client_id` is the
/// requesting `client_id` (the simulator knows clients by the id they have there).
pub async fn post_token(
    State(app): State<AppState>,
    PagePath(conn): PagePath<String>,
    OAuthForm(p): OAuthForm,
) -> Response {
    let c = match connection(&app, &conn).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    exchange(&app, &c, &p).unwrap_or_else(|(code, why)| error(code, why))
}

fn exchange(
    app: &AppState,
    c: &Connection,
    p: &FormParams,
) -> Result<Response, (&'static str, String)> {
    if p.get("grant_type") != Some(TOKEN_EXCHANGE) {
        return Err((
            "unsupported_grant_type",
            "only token exchange is served here".into(),
        ));
    }
    if p.get("requested_token_type") != Some(ID_JAG_TOKEN_TYPE) {
        return Err((
            "invalid_request",
            format!("requested_token_type must be {ID_JAG_TOKEN_TYPE}"),
        ));
    }
    if p.get("subject_token_type") != Some(ID_TOKEN_TYPE) {
        return Err((
            "invalid_request",
            format!("subject_token_type must be {ID_TOKEN_TYPE}"),
        ));
    }
    let (Some(subject_token), Some(audience), Some(client_id)) = (
        p.get("subject_token"),
        p.get("audience"),
        p.get("client_id"),
    ) else {
        return Err((
            "invalid_request",
            "subject_token, audience and client_id are required".into(),
        ));
    };
    let (_, id) = jwt_assertion::verify(subject_token, &jwks(app, &c.id))
        .map_err(|e| ("invalid_grant", format!("subject_token: {}", e.describe())))?;
    let now = app.clock.now();
    let iss = issuer(app.issuer(), &c.id);
    if id["iss"].as_str() != Some(iss.as_str()) || id["exp"].as_i64().is_none_or(|e| e <= now) {
        return Err((
            "invalid_grant",
            "subject_token is not a live ID token of this IdP".into(),
        ));
    }
    let mut claims = json!({
        "iss": iss, "sub": id["sub"], "aud": audience, "client_id": client_id,
        "jti": crate::ids::generate("jag"), "iat": now, "exp": now + ID_JAG_TTL,
        "email": id["email"], "email_verified": id["email_verified"], "groups": id["groups"],
    });
    if let Some(resource) = p.get("resource") {
        claims["resource"] = json!(resource);
    }
    if let Some(scope) = p.get("scope").filter(|s| !s.trim().is_empty()) {
        claims["scope"] = json!(scope);
    }
    let jag = sign(app, &c.id, ID_JAG_TYP, claims)
        .ok_or(("server_error", "the simulator could not sign".to_string()))?;
    let mut body = json!({
        "issued_token_type": ID_JAG_TOKEN_TYPE, "access_token": jag, "token_type": "N_A",
        "expires_in": ID_JAG_TTL,
    });
    if let Some(scope) = p.get("scope") {
        body["scope"] = json!(scope);
    }
    Ok(Json(body).into_response())
}
