//! Client authentication at the token endpoint (RFC 6749 §2.3): `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` (RFC 7523 §2.2: a JWT the client signs with a
//! key of its JWK Set), or `none` for public clients. One method per request; secrets
//! are checked against their SHA-256 hash in constant time.

use super::error::OAuthError;
use super::form::{BasicAuth, FormParams};
use super::jwt_assertion;
use crate::crypto;
use crate::state::AppState;
use crate::store::{Client, ClientKind};

/// The authenticated (or identified, for public clients) client.
#[derive(Debug)]
pub struct AuthenticatedClient {
    pub client: Client,
    pub used_basic: bool,
}

pub async fn authenticate(
    app: &AppState,
    basic: BasicAuth,
    params: &FormParams,
) -> Result<AuthenticatedClient, OAuthError> {
    let used_basic = basic.0.is_some();
    let fail = |d: &str| OAuthError::invalid_client(d.to_string()).with_basic_challenge(used_basic);
    if params.get("client_assertion").is_some() || params.get("client_assertion_type").is_some() {
        // RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
        if used_basic || params.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        let client = private_key_jwt(app, params).await?;
        return Ok(AuthenticatedClient {
            client,
            used_basic: false,
        });
    }
    let (client_id, secret) = match (
        basic.0,
        params.get("client_id"),
        params.get("client_secret"),
    ) {
        (Some(_), _, Some(_)) => {
            // RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some((id, _)), Some(body_id), None) if body_id != id => {
            return Err(OAuthError::invalid_request(
                "client_id differs from the Basic credentials",
            ));
        }
        (Some((id, secret)), _, None) => (id, Some(secret)),
        (None, Some(id), secret) => (id.to_string(), secret.map(str::to_string)),
        (None, None, _) => return Err(fail("client authentication is required")),
    };
    let client = match app.store.find_client(&client_id).await? {
        // A metadata-document client is described by its (cached) document, not the copy,
        // and only while some resource's CIMD policy admits it: policy first, fetch after.
        Some(c) if c.kind == ClientKind::Metadata => {
            if !super::cimd::any_resource_admits(app, &client_id).await? {
                return Err(fail("no resource admits this client's metadata document"));
            }
            super::cimd::resolve(app, &client_id)
                .await
                .map_err(|e| fail(&format!("client metadata document: {e}")))?
        }
        Some(c) => c,
        // A metadata-document client never seen at /authorize (where it is fetched and
        // stored after the resource's policy admits it) has no code to redeem: nothing is
        // fetched for it here.
        None => return Err(fail("unknown client or bad credentials")),
    };
    if client.kind == ClientKind::Organization {
        let Some(secret) = secret else {
            return Err(fail("this client must authenticate with its secret"));
        };
        // Any of its live secrets (rotation); each compared in constant time, all of them.
        let secrets = app.store.list_client_secrets(&client.id).await?;
        let matched = secrets.iter().fold(false, |ok, s| {
            crypto::verify_secret(&secret, &s.secret_hash) | ok
        });
        if !matched {
            return Err(fail("unknown client or bad credentials"));
        }
        return Ok(AuthenticatedClient { client, used_basic });
    }
    // A client that signs its assertions authenticates with one, and only so.
    if client.token_endpoint_auth_method == PRIVATE_KEY_JWT {
        return Err(fail("this client must authenticate with private_key_jwt"));
    }
    match (&client.secret_hash, secret) {
        (Some(hash), Some(secret)) => {
            if !crypto::verify_secret(&secret, hash) {
                return Err(fail("unknown client or bad credentials"));
            }
            if client.secret_expires_at != 0 && client.secret_expires_at <= app.clock.now() {
                return Err(fail("the client secret has expired"));
            }
        }
        (Some(_), None) => return Err(fail("this client must authenticate with its secret")),
        (None, Some(_)) => return Err(fail("this is a public client; it has no secret")),
        (None, None) if client.is_public() => {}
        // Never reached for the kinds above; refused rather than let through.
        (None, None) => return Err(fail("this client must authenticate")),
    }
    Ok(AuthenticatedClient { client, used_basic })
}

/// RFC 7523 §2.2: the client assertion type of `private_key_jwt`.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far ahead a client assertion's `exp` may be (RFC 7523 §3: a short lifetime).
pub const MAX_CLIENT_ASSERTION_LIFETIME: i64 = 600;
/// The token endpoint auth method of clients that sign assertions.
pub const PRIVATE_KEY_JWT: &str = "private_key_jwt";

/// `private_key_jwt`: the client's assertion, signed by a key of its JWK Set (inline `jwks`
/// or fetched from its `jwks_uri`), for this server, short-lived, used once.
async fn private_key_jwt(app: &AppState, params: &FormParams) -> Result<Client, OAuthError> {
    let fail = |d: String| OAuthError::invalid_client(d);
    if params.get("client_assertion_type") != Some(CLIENT_ASSERTION_TYPE) {
        return Err(OAuthError::invalid_request(format!(
            "client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
        )));
    }
    let assertion = params
        .get("client_assertion")
        .ok_or_else(|| OAuthError::invalid_request("client_assertion is required"))?;
    let (_, peeked) = jwt_assertion::peek(assertion).map_err(|e| fail(e.describe()))?;
    let client_id = peeked["sub"].as_str().unwrap_or_default();
    if client_id.is_empty() || peeked["iss"].as_str() != Some(client_id) {
        return Err(fail(
            "the client assertion's iss and sub must both be the client id".into(),
        ));
    }
    if params.get("client_id").is_some_and(|id| id != client_id) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the client assertion",
        ));
    }
    let client = app
        .store
        .find_client(client_id)
        .await?
        .filter(|c| c.kind == ClientKind::Static && c.token_endpoint_auth_method == PRIVATE_KEY_JWT)
        .ok_or_else(|| {
            fail("unknown client, or it does not authenticate with private_key_jwt".into())
        })?;
    let (_, claims) = verify_with_client_keys(app, &client, assertion)
        .await
        .map_err(fail)?;
    let now = app.clock.now();
    let issuer = app.issuer();
    let aud_ok =
        jwt_assertion::audience_has(&claims["aud"], &[issuer, &format!("{issuer}/oauth/token")])
            || claims["aud"]
                .as_str()
                .or_else(|| claims["aud"][0].as_str())
                .is_some_and(|a| is_resource_endpoint(issuer, a));
    if !aud_ok {
        return Err(fail(
            "the client assertion's aud is not this server (its issuer or token endpoint)".into(),
        ));
    }
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if exp <= now {
        return Err(fail("the client assertion has expired".into()));
    }
    if exp > now + MAX_CLIENT_ASSERTION_LIFETIME {
        return Err(fail(format!(
            "the client assertion lives too long (exp at most {MAX_CLIENT_ASSERTION_LIFETIME} s ahead)"
        )));
    }
    if claims["nbf"].as_i64().is_some_and(|nbf| nbf > now + 60)
        || claims["iat"].as_i64().is_some_and(|iat| iat > now + 60)
    {
        return Err(fail("the client assertion is not valid yet".into()));
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| fail("the client assertion needs a jti".into()))?;
    // Used once, on every replica: remembered until it could no longer be valid.
    let is_first = app
        .store
        .remember_assertion(&format!("client_assertion|{}", client.id), jti, exp + 60)
        .await?;
    if !is_first {
        return Err(fail(
            "the client assertion was already used (jti replayed)".into(),
        ));
    }
    Ok(client)
}

/// `{issuer}/resources/{res}` or its token endpoint.
fn is_resource_endpoint(issuer: &str, aud: &str) -> bool {
    aud.strip_prefix(issuer)
        .and_then(|rest| rest.strip_prefix("/resources/"))
        .map(|rest| rest.strip_suffix("/oauth/token").unwrap_or(rest))
        .is_some_and(|res| !res.is_empty() && !res.contains('/'))
}

/// Verifies `jwt` with the client's keys: its inline `jwks`, or its `jwks_uri` (refetched
/// once after an unknown `kid`, a key rotation).
pub async fn verify_with_client_keys(
    app: &AppState,
    client: &Client,
    jwt: &str,
) -> Result<(serde_json::Value, serde_json::Value), String> {
    if let Some(jwks) = client.settings.get("jwks").filter(|j| j.is_object()) {
        return jwt_assertion::verify(jwt, jwks).map_err(|e| e.describe());
    }
    let url = client.settings["jwks_uri"]
        .as_str()
        .ok_or("the client has no JWK Set (jwks or jwks_uri)")?;
    let set = crate::caches::jwks::fetch(&app.jwks, &app.http, url, false).await?;
    match jwt_assertion::verify(jwt, &set) {
        Err(jwt_assertion::SignatureRefusal::UnknownKey(_)) => {
            let set = crate::caches::jwks::fetch(&app.jwks, &app.http, url, true).await?;
            jwt_assertion::verify(jwt, &set).map_err(|e| e.describe())
        }
        other => other.map_err(|e| e.describe()),
    }
}
