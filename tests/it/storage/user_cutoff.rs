//! An admin who revokes a user's tokens, disables or deletes the user also ends the access
//! tokens that user holds wherever portcullis is asked (introspection, userinfo), and only
//! theirs: the JWT stays verifiable by signature until `exp` (resource servers that verify
//! locally see it until then), but nothing portcullis answers treats it as live. A code issued
//! before the revocation (of the user's or of the client's tokens) is refused too.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::admin::{Api, bearer};
use crate::support::browser::{Browser, authorize_and_consent};
use crate::support::tokens::is_active;
use crate::support::tokens::{redeem, user_of, user_tokens_for};
use crate::support::{Spawned, TestApp, decode_jwt};

/// userinfo's status; a 401 must carry an `invalid_token` challenge.
async fn userinfo(s: &Spawned, tokens: &Value) -> StatusCode {
    let res = reqwest::Client::new()
        .get(format!("{}/oauth/userinfo", s.base))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    if res.status() == 401 {
        let challenge = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    res.status()
}

async fn act(api: &Api<'_>, user: &str, action: &str) {
    let (status, body) = api
        .post(&format!("/users/{user}/{action}"), json!({}))
        .await;
    assert_eq!(status, 200, "{action}: {body}");
}

/// Tokens of `email` from a fresh browser (a fresh sign-in) and a fresh client, with
/// `openid` for userinfo.
async fn sign_in(s: &Spawned, email: &str) -> Value {
    user_tokens_for(&Browser::new(s), email, "", "openid tickets.read")
        .await
        .1
}

#[tokio::test]
async fn revoking_disabling_or_deleting_a_user_ends_their_access_tokens_and_only_theirs() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;
    let alice = sign_in(&s, "alice@example.com").await;
    let bob = sign_in(&s, "bob@example.com").await;
    for t in [&alice, &bob] {
        assert!(is_active(&s, &t["access_token"]).await);
        assert_eq!(userinfo(&s, t).await, 200);
    }

    // Revoke: alice's token is over, bob's is not.
    act(&api, &user_of(&alice), "revoke").await;
    assert!(
        !is_active(&s, &alice["access_token"]).await,
        "revoked user's token"
    );
    assert_eq!(userinfo(&s, &alice).await, 401);
    assert!(
        is_active(&s, &bob["access_token"]).await,
        "another user's token"
    );
    assert_eq!(userinfo(&s, &bob).await, 200);

    // A token alice gets after the revocation is live…
    s.app.clock.advance(1);
    let again = sign_in(&s, "alice@example.com").await;
    assert_eq!(user_of(&again), user_of(&alice));
    assert!(
        is_active(&s, &again["access_token"]).await,
        "a token issued after the revocation"
    );
    // …until she is disabled; enabling her again does not revive it.
    s.app.clock.advance(1);
    act(&api, &user_of(&alice), "disable").await;
    assert!(
        !is_active(&s, &again["access_token"]).await,
        "disabled user's token"
    );
    assert_eq!(userinfo(&s, &again).await, 401);
    act(&api, &user_of(&alice), "enable").await;
    assert!(
        !is_active(&s, &again["access_token"]).await,
        "enabling revives nothing"
    );
    assert!(is_active(&s, &bob["access_token"]).await);
    s.app.clock.advance(1);
    let enabled = sign_in(&s, "alice@example.com").await;
    assert!(
        is_active(&s, &enabled["access_token"]).await,
        "a token issued after enabling"
    );
    assert_eq!(userinfo(&s, &enabled).await, 200);

    // Deleting bob ends his token, even though his row is gone.
    s.app.clock.advance(1);
    let (status, body) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/users/{}", user_of(&bob)),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert!(
        !is_active(&s, &bob["access_token"]).await,
        "deleted user's token"
    );
    assert_eq!(userinfo(&s, &bob).await, 401);
}

/// A code for `email`, not yet redeemed, for `client_id` or a new DCR client: (browser, client
/// id, flow).
async fn unredeemed_code(
    s: &Spawned,
    client_id: Option<&str>,
    email: &str,
) -> (Browser, String, crate::support::browser::Flow) {
    let b = Browser::new(s);
    let client_id = match client_id {
        Some(id) => id.to_string(),
        None => b.register("res_tickets").await,
    };
    let flow = authorize_and_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        None,
        "tickets.read",
        email,
        "",
    )
    .await;
    (b, client_id, flow)
}

#[tokio::test]
async fn a_code_issued_before_its_user_or_client_was_revoked_is_invalid_grant() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;

    // The user's tokens revoked between the code and its redemption.
    let (b, client_id, flow) = unredeemed_code(&s, None, "alice@example.com").await;
    let users = api.get("/users").await;
    let user = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "alice@example.com")
        .unwrap_or_else(|| panic!("alice signed in: {users}"));
    act(&api, user["id"].as_str().unwrap(), "revoke").await;
    let (status, body) = redeem(&b, &client_id, &flow).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(body.get("access_token").is_none(), "{body}");

    // The client's tokens revoked between the code and its redemption.
    s.app.clock.advance(1);
    let (b, client_id, flow) = unredeemed_code(&s, None, "alice@example.com").await;
    let (status, body) = api
        .post(
            &format!("/clients:revoke-tokens?client_id={client_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = redeem(&b, &client_id, &flow).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");

    // A code issued after both, for that same client (bob: a consent page of his own), is fine.
    s.app.clock.advance(1);
    let (b, client_id, flow) = unredeemed_code(&s, Some(&client_id), "bob@example.com").await;
    let (status, body) = redeem(&b, &client_id, &flow).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_id_token_is_not_an_access_token_at_userinfo_or_introspection() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (_, tokens) = user_tokens_for(&b, "alice@example.com", "", "openid tickets.read").await;
    let Some(id_token) = tokens["id_token"].as_str() else {
        panic!("no id_token for openid: {tokens}");
    };
    let as_access = json!({ "access_token": id_token });
    assert_eq!(userinfo(&s, &as_access).await, 401, "ID token at userinfo");
    assert!(
        !is_active(&s, &as_access["access_token"]).await,
        "ID token at introspection"
    );
    assert_eq!(userinfo(&s, &tokens).await, 200, "the access token itself");

    // Every claim of the access token, signed by our key, but typed as something else.
    let (_, claims) = decode_jwt(tokens["access_token"].as_str().unwrap());
    let (other, _) = s.app.state.keys.sign("JWT", &claims).unwrap();
    let retyped = json!({ "access_token": other });
    assert_eq!(userinfo(&s, &retyped).await, 401, "typ JWT at userinfo");
    assert!(
        !is_active(&s, &retyped["access_token"]).await,
        "typ JWT at introspection"
    );
}
