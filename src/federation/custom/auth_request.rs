//! `POST /api/v1/connections/{conn}/auth-requests/{login_request_id}/user`: the application
//! of a custom connection says who signed in (Scalekit's bring-your-own-auth; the body is
//! the user, or `{"user": …}` as in Scalekit's `UpdateLoginUserDetails`). Only with a
//! management token: an environment client's own client-credentials token (`aud` exactly
//! `[client_id]`, `sub` the client), so a token meant for an MCP server cannot be replayed
//! here. Set once per login request, while its login is open.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::audit::AuditEvent;
use crate::crypto;
use crate::federation::{EmailTrust, VerifiedIdentity};
use crate::oauth::access_token;
use crate::oauth::token::is_environment_client;
use crate::oauth::userinfo::{BearerError, BearerToken};
use crate::state::AppState;
use crate::store::ConnectionKind;

/// The user an application posts (Scalekit's `LoginUserDetails`; other fields are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UserDetails {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub preferred_username: Option<String>,
    pub groups: Vec<String>,
}

#[derive(Deserialize)]
pub struct RequestPath {
    conn: String,
    login_request_id: String,
}

/// A refusal other than the bearer token's: JSON, no-store.
struct Refused(StatusCode, &'static str, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut r = (
            self.0,
            Json(json!({ "error": self.1, "error_description": self.2 })),
        )
            .into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

fn bad(description: impl Into<String>) -> Response {
    Refused(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        description.into(),
    )
    .into_response()
}

/// The identity the details describe, or what is wrong with them (pure).
pub fn identity_of(d: UserDetails) -> Result<VerifiedIdentity, String> {
    let sub = d.sub.trim().to_string();
    if sub.is_empty() || sub.len() > 255 || sub.chars().any(char::is_control) {
        return Err("`sub` is required (at most 255 characters)".into());
    }
    let email = d
        .email
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty());
    if email
        .as_ref()
        .is_some_and(|e| !e.contains('@') || e.len() > 254 || e.chars().any(char::is_control))
    {
        return Err("`email` is not an email address".into());
    }
    let text = |v: Option<String>, key: &str| -> Result<Option<String>, String> {
        match v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            Some(v) if v.chars().count() > 200 || v.chars().any(char::is_control) => {
                Err(format!("`{key}` is at most 200 printable characters"))
            }
            other => Ok(other),
        }
    };
    let given_name = text(d.given_name, "given_name")?;
    let family_name = text(d.family_name, "family_name")?;
    let preferred_username = text(d.preferred_username, "preferred_username")?;
    let name = text(d.name, "name")?.or_else(|| {
        let joined = [given_name.as_deref(), family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    });
    if d.groups.len() > 100
        || d.groups
            .iter()
            .any(|g| g.trim().is_empty() || g.len() > 256 || g.chars().any(char::is_control))
    {
        return Err("`groups` is at most 100 names of 1 to 256 characters".into());
    }
    let mut attributes = Map::new();
    for (key, value) in [
        ("given_name", given_name),
        ("family_name", family_name),
        ("preferred_username", preferred_username),
    ] {
        if let Some(v) = value {
            attributes.insert(key.into(), Value::String(v));
        }
    }
    Ok(VerifiedIdentity {
        subject: sub,
        email,
        // The application vouches for its organization's domains, as a SAML IdP does, unless
        // it says the address is unverified.
        email_trust: if d.email_verified == Some(false) {
            EmailTrust::Unverified
        } else {
            EmailTrust::OrganizationDomains
        },
        name,
        groups: d.groups.into_iter().map(|g| g.trim().to_string()).collect(),
        attributes,
    })
}

/// The sealed identity's associated data: its connection.
pub fn identity_aad(connection_id: &str) -> String {
    format!("login_request|{connection_id}")
}

pub async fn post_auth_request_user(
    State(app): State<AppState>,
    crate::admin::api::ApiPath(p): crate::admin::api::ApiPath<RequestPath>,
    BearerToken(token): BearerToken,
    body: axum::body::Bytes,
) -> Response {
    let client_id = match management_client(&app, &token).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let connection = match app.store.find_connection(&p.conn).await {
        Ok(Some(c)) if c.kind == ConnectionKind::Custom => c,
        Ok(_) => {
            return Refused(
                StatusCode::NOT_FOUND,
                "not_found",
                "no custom connection has this id".into(),
            )
            .into_response();
        }
        Err(_) => return BearerError::server_error().into_response(),
    };
    let details = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut o)) => match o.remove("user") {
            Some(user @ Value::Object(_)) => serde_json::from_value::<UserDetails>(user),
            _ => serde_json::from_value::<UserDetails>(Value::Object(o)),
        },
        _ => return bad("the body is a JSON object: the signed-in user"),
    };
    let identity = match details.map_err(|e| e.to_string()).and_then(identity_of) {
        Ok(i) => i,
        Err(why) => return bad(why),
    };
    let subject = identity.subject.clone();
    let Ok(plain) = serde_json::to_vec(&identity) else {
        return BearerError::server_error().into_response();
    };
    let sealed = app
        .config
        .secret
        .seal(&plain, &identity_aad(&connection.id));
    let set = app
        .store
        .set_login_request_identity(
            &crypto::hash_secret(&p.login_request_id),
            &connection.id,
            &sealed,
            app.clock.now(),
        )
        .await;
    match set {
        Ok(true) => {
            app.audit
                .record(AuditEvent::LoginUserPosted {
                    client_id,
                    organization_id: connection.organization_id.clone(),
                    connection_id: connection.id.clone(),
                    subject,
                })
                .await;
            let mut r = Json(json!({})).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Ok(false) => bad("the login request is unknown, expired or already answered"),
        Err(_) => BearerError::server_error().into_response(),
    }
}

/// The environment client whose management token this is.
async fn management_client(app: &AppState, token: &str) -> Result<String, BearerError> {
    let claims = access_token::verify_live(&app.keys, app.store.as_ref(), token, app.clock.now())
        .await
        .map_err(|_| BearerError::server_error())?
        .ok_or_else(|| {
            BearerError::invalid_token("the token is not a valid access token of this server")
        })?;
    let client_id = claims["client_id"].as_str().unwrap_or_default();
    let is_management = !client_id.is_empty()
        && claims["iss"].as_str() == Some(app.issuer())
        && claims["sub"].as_str() == Some(client_id)
        && claims["aud"] == json!([client_id]);
    if !is_management {
        return Err(BearerError::insufficient_scope(
            "a management token is required: the client's own client-credentials token",
        ));
    }
    let client = app
        .store
        .find_client(client_id)
        .await
        .map_err(|_| BearerError::server_error())?
        // An application that signs people in: an environment client, or a login app.
        .filter(|c| {
            c.is_login_app() && (is_environment_client(c) || c.has_grant("authorization_code"))
        })
        .ok_or_else(|| {
            BearerError::invalid_token("the token's client is not an application here")
        })?;
    Ok(client.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(v: Value) -> Result<VerifiedIdentity, String> {
        identity_of(serde_json::from_value(v).expect("details"))
    }

    #[test]
    fn a_posted_user_becomes_an_identity_and_bad_ones_are_named() {
        let i = details(
            json!({ "sub": "u1", "email": " Ann@X.example ", "given_name": "Ann",
                                "family_name": "Lee", "groups": ["g"] }),
        )
        .expect("valid");
        assert_eq!(i.email.as_deref(), Some("ann@x.example"));
        assert_eq!(i.name.as_deref(), Some("Ann Lee"));
        assert_eq!(i.email_trust, EmailTrust::OrganizationDomains);
        assert_eq!(i.attributes["family_name"], "Lee");
        let unverified =
            details(json!({ "sub": "u1", "email": "a@x.example", "email_verified": false }))
                .expect("valid");
        assert_eq!(unverified.email_trust, EmailTrust::Unverified);
        for (bad, key) in [
            (json!({}), "sub"),
            (json!({ "sub": "x".repeat(256) }), "sub"),
            (json!({ "sub": "u", "email": "nope" }), "email"),
            (json!({ "sub": "u", "name": "a\u{0}b" }), "name"),
            (json!({ "sub": "u", "groups": [""] }), "groups"),
        ] {
            let why = details(bad.clone()).expect_err("refused");
            assert!(why.contains(key), "{bad}: {why}");
        }
    }
}
