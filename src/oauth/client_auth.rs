//! Client authentication at the token endpoint (RFC 6749 §2.3): `client_secret_basic`,
//! `client_secret_post`, or `none` for public clients. One method per request; secrets
//! are checked against their SHA-256 hash in constant time.

use super::error::OAuthError;
use super::form::{BasicAuth, FormParams};
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
        (None, None) => {}
    }
    Ok(AuthenticatedClient { client, used_basic })
}
