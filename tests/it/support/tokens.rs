//! A user's tokens through the simulator flow and what the token tests do with them: redeem
//! a code, refresh, introspect, and read the user a token is for.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::browser::{Browser, Flow, REDIRECT_URI, authorize_and_consent};
use crate::support::{INTROSPECTOR_SECRET, Spawned, basic, decode_jwt};

const AUTHORIZE: &str = "/resources/res_tickets/oauth/authorize";
const TOKEN: &str = "/resources/res_tickets/oauth/token";

/// A user's first tokens through the simulator flow (a new DCR client), with a refresh
/// token: (client_id, token response).
pub async fn user_tokens(b: &Browser, email: &str, groups: &str) -> (String, Value) {
    let (client_id, body) = user_tokens_for(b, email, groups, "tickets.read tickets.manage").await;
    assert!(body["refresh_token"].is_string(), "{body}");
    (client_id, body)
}

/// [`user_tokens`] asking for `scope`.
pub async fn user_tokens_for(
    b: &Browser,
    email: &str,
    groups: &str,
    scope: &str,
) -> (String, Value) {
    let client_id = b.register("res_tickets").await;
    let flow = authorize_and_consent(b, AUTHORIZE, &client_id, None, scope, email, groups).await;
    let (status, body) = redeem(b, &client_id, &flow).await;
    assert_eq!(status, 200, "{body}");
    (client_id, body)
}

/// Redeems `flow`'s code at res_tickets' token endpoint; returns the status and body.
pub async fn redeem(b: &Browser, client_id: &str, flow: &Flow) -> (StatusCode, Value) {
    b.token(
        TOKEN,
        &[
            ("grant_type", "authorization_code"),
            ("code", &flow.code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &flow.verifier),
            ("client_id", client_id),
        ],
    )
    .await
}

/// Refreshes with the refresh token of `tokens`; returns the status and body.
pub async fn refresh(b: &Browser, client_id: &str, tokens: &Value) -> (StatusCode, Value) {
    refresh_with(b, client_id, &tokens["refresh_token"], &[]).await
}

/// Presents `refresh_token` at res_tickets' token endpoint with `extra` parameters.
pub async fn refresh_with(
    b: &Browser,
    client_id: &str,
    refresh_token: &Value,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            refresh_token.as_str().expect("refresh token"),
        ),
        ("client_id", client_id),
    ];
    form.extend_from_slice(extra);
    b.token(TOKEN, &form).await
}

/// The `sub` (user id) of a token response's access token.
pub fn user_of(tokens: &Value) -> String {
    let (_, claims) = decode_jwt(tokens["access_token"].as_str().unwrap());
    claims["sub"].as_str().unwrap().to_string()
}

/// Introspects `token` as the seeded `m2m_introspector` at the environment endpoint.
pub async fn introspect(s: &Spawned, token: &Value) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{}/oauth/introspect", s.base))
        .header(
            "authorization",
            basic("m2m_introspector", INTROSPECTOR_SECRET),
        )
        .form(&[("token", token.as_str().expect("token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Whether introspection says `access_token` is active.
pub async fn is_active(s: &Spawned, access_token: &Value) -> bool {
    introspect(s, access_token).await["active"]
        .as_bool()
        .expect("introspection says `active`")
}
