//! Codes, refresh tokens, revocation, introspection, userinfo and the audit API refusing
//! what they must (issue 3's negatives): one test per case, each checking the status and
//! the OAuth error code.

use portcullis::clock::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::browser::{Browser, Flow, REDIRECT_URI, authorize_and_consent};
use crate::support::tokens::{introspect, refresh_with, user_of, user_tokens};
use crate::support::{
    ADMIN_CLIENT_SECRET, ADMIN_PASSWORD, SERVICE_SECRET, Spawned, TestApp, WIKI_SECRET, basic,
    decode_jwt,
};

const AUTHORIZE: &str = "/resources/res_tickets/oauth/authorize";
const TOKEN: &str = "/resources/res_tickets/oauth/token";

/// A signed-in flow for a new DCR client at the per-resource endpoints.
async fn flow(b: &Browser, email: &str, groups: &str) -> Flow {
    let client_id = b.register("res_tickets").await;
    flow_for(b, &client_id, email, groups).await
}

async fn flow_for(b: &Browser, client_id: &str, email: &str, groups: &str) -> Flow {
    authorize_and_consent(
        b,
        AUTHORIZE,
        client_id,
        None,
        "tickets.read tickets.manage",
        email,
        groups,
    )
    .await
}

/// The code grant for `flow` at `path`; `overrides` replace or add form parameters.
async fn redeem_with(
    b: &Browser,
    path: &str,
    flow: &Flow,
    overrides: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", &flow.code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", &flow.verifier),
        ("client_id", &flow.client_id),
    ];
    for (k, v) in overrides {
        form.retain(|(name, _)| name != k);
        form.push((k, v));
    }
    b.token(path, &form).await
}

/// Redeems `flow` successfully; returns the token response.
async fn redeem(b: &Browser, flow: &Flow) -> Value {
    let (status, body) = redeem_with(b, TOKEN, flow, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string(), "{body}");
    body
}

fn assert_error(status: StatusCode, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(body["error"], code, "{body}");
}

/// POSTs a revocation; returns the status.
async fn revoke(s: &Spawned, form: &[(&str, &str)], auth: Option<String>) -> StatusCode {
    let mut req = reqwest::Client::new()
        .post(format!("{}/oauth/revoke", s.base))
        .form(form);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_invalid_grant() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let f = flow(&b, "bob@example.com", "").await;
    let (other_verifier, _) = crate::support::browser::pkce();
    let (status, body) = redeem_with(&b, TOKEN, &f, &[("code_verifier", &other_verifier)]).await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn a_replayed_code_is_invalid_grant_and_revokes_what_it_issued() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let f = flow(&b, "bob@example.com", "").await;
    let first = redeem(&b, &f).await;
    assert_eq!(introspect(&s, &first["access_token"]).await["active"], true);

    let (status, body) = redeem_with(&b, TOKEN, &f, &[]).await;
    assert_error(status, &body, 400, "invalid_grant");

    assert_eq!(
        introspect(&s, &first["access_token"]).await,
        json!({ "active": false }),
        "the access token first issued is revoked"
    );
    let (status, body) = refresh_with(&b, &f.client_id, &first["refresh_token"], &[]).await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn a_code_redeemed_by_another_client_is_invalid_grant() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let f = flow(&b, "bob@example.com", "").await;
    let thief = b.register("res_tickets").await;
    let (status, body) = redeem_with(&b, TOKEN, &f, &[("client_id", &thief)]).await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let f = flow(&b, "bob@example.com", "").await;
    s.app.clock.advance(61);
    let (status, body) = redeem_with(&b, TOKEN, &f, &[]).await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn a_different_redirect_uri_at_the_token_endpoint_is_invalid_grant() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let f = flow(&b, "bob@example.com", "").await;
    // Another port of the same loopback URI: registered, but not the one authorized.
    let (status, body) = redeem_with(
        &b,
        TOKEN,
        &f,
        &[("redirect_uri", "http://127.0.0.1:9998/cb")],
    )
    .await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn a_changed_resource_at_the_token_endpoint_is_invalid_target() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let f = authorize_and_consent(
        &b,
        "/oauth/authorize",
        &client_id,
        Some("http://127.0.0.1:8081/mcp"),
        "tickets.read",
        "bob@example.com",
        "",
    )
    .await;
    let (status, body) = redeem_with(
        &b,
        "/oauth/token",
        &f,
        &[("resource", "http://127.0.0.1:8082/mcp")],
    )
    .await;
    assert_error(status, &body, 400, "invalid_target");
}

#[tokio::test]
async fn a_per_resource_code_at_the_environment_token_endpoint_is_invalid_grant() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let f = flow(&b, "bob@example.com", "").await;
    let (status, body) = redeem_with(&b, "/oauth/token", &f, &[]).await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_rotates_the_refresh_token() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "alice@example.com", "jira-admins").await;
    s.app.clock.advance(10);
    let (status, second) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_eq!(status, 200, "{second}");
    assert!(second["refresh_token"].is_string(), "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["scope"], "tickets.read tickets.manage:org_acme");
    let (_, a) = decode_jwt(first["access_token"].as_str().unwrap());
    let (_, b2) = decode_jwt(second["access_token"].as_str().unwrap());
    assert_eq!(a["sub"], b2["sub"]);
    assert_eq!(a["sid"], b2["sid"]);
    assert_ne!(a["jti"], b2["jti"]);
    // The new one rotates again.
    let (status, third) = refresh_with(&b, &client_id, &second["refresh_token"], &[]).await;
    assert_eq!(status, 200, "{third}");
    assert_ne!(third["refresh_token"], second["refresh_token"]);
}

#[tokio::test]
async fn a_reused_refresh_token_is_invalid_grant_and_kills_the_family() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "bob@example.com", "").await;
    let (status, second) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_eq!(status, 200, "{second}");

    let (status, body) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_error(status, &body, 400, "invalid_grant");
    let (status, body) = refresh_with(&b, &client_id, &second["refresh_token"], &[]).await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_that_widens_the_scope_is_invalid_scope() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "bob@example.com", "").await;
    assert_eq!(first["scope"], "tickets.read");
    let (status, body) = refresh_with(
        &b,
        &client_id,
        &first["refresh_token"],
        &[("scope", "tickets.manage")],
    )
    .await;
    assert_error(status, &body, 400, "invalid_scope");
}

#[tokio::test]
async fn a_refused_refresh_request_leaves_the_refresh_token_usable() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "bob@example.com", "").await;
    // A malformed request by the legitimate client (RFC 6749 §5.2) is not a reuse.
    let (status, body) = refresh_with(
        &b,
        &client_id,
        &first["refresh_token"],
        &[("scope", "tickets.read tickets.manage")],
    )
    .await;
    assert_error(status, &body, 400, "invalid_scope");
    let (status, body) = refresh_with(
        &b,
        &client_id,
        &first["refresh_token"],
        &[("resource", "http://127.0.0.1:8082/mcp")],
    )
    .await;
    assert_error(status, &body, 400, "invalid_target");
    let (status, body) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_eq!(status, 200, "the token survives a refused request: {body}");
}

#[tokio::test]
async fn a_refresh_that_narrows_the_scope_works() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "alice@example.com", "jira-admins").await;
    assert_eq!(first["scope"], "tickets.read tickets.manage:org_acme");
    let (status, body) = refresh_with(
        &b,
        &client_id,
        &first["refresh_token"],
        &[("scope", "tickets.read")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "tickets.read");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "tickets.read");
    assert_eq!(claims["scopes"], json!(["tickets.read"]));
}

#[tokio::test]
async fn a_refresh_after_the_user_lost_the_group_loses_the_scope() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "alice@example.com", "jira-admins").await;
    assert_eq!(first["scope"], "tickets.read tickets.manage:org_acme");

    // Alice signs in again elsewhere; the IdP no longer puts her in jira-admins.
    let elsewhere = Browser::new(&s);
    flow(&elsewhere, "alice@example.com", "").await;

    let (status, body) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "tickets.read");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "tickets.read");
}

#[tokio::test]
async fn a_refresh_after_the_consent_was_revoked_is_invalid_grant() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "bob@example.com", "").await;
    let store = &s.app.state.store;
    let consents = store.list_consents(&user_of(&first)).await.unwrap();
    let consent = consents
        .iter()
        .find(|c| c.client_id == client_id)
        .expect("a consent for the client");
    assert!(
        store
            .revoke_consent(&consent.id, s.app.clock.now())
            .await
            .unwrap()
    );

    let (status, body) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_for_a_disabled_user_is_invalid_grant() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "bob@example.com", "").await;
    s.app
        .state
        .store
        .set_user_enabled(&user_of(&first), false, s.app.clock.now())
        .await
        .unwrap();
    let (status, body) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_family_has_an_absolute_lifetime() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "bob@example.com", "").await;
    // Rotation inside the lifetime works…
    s.app.clock.advance(86_000);
    let (status, second) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_eq!(status, 200, "{second}");
    // …but the rotated token does not extend the family past refresh_token_ttl.
    s.app.clock.advance(401);
    let (status, body) = refresh_with(&b, &client_id, &second["refresh_token"], &[]).await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn a_client_revokes_its_own_refresh_token() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "bob@example.com", "").await;
    let status = revoke(
        &s,
        &[
            ("token", first["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "refresh_token"),
            ("client_id", &client_id),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_error(status, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn revoking_another_clients_token_does_nothing() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "bob@example.com", "").await;
    let other = b.register("res_tickets").await;
    let refresh_token = first["refresh_token"].as_str().unwrap();
    let access_token = first["access_token"].as_str().unwrap();
    for token in [refresh_token, access_token] {
        assert_eq!(
            revoke(&s, &[("token", token), ("client_id", &other)], None).await,
            200
        );
        assert_eq!(
            revoke(
                &s,
                &[("token", token)],
                Some(basic("m2m_service", SERVICE_SECRET))
            )
            .await,
            200
        );
    }
    assert_eq!(introspect(&s, &first["access_token"]).await["active"], true);
    let (status, body) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_eq!(status, 200, "the token still works: {body}");
}

#[tokio::test]
async fn a_public_static_client_revokes_by_client_id() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let f = authorize_and_consent(
        &b,
        "/oauth/authorize",
        "m2m_public",
        None,
        "tickets.read",
        "bob@example.com",
        "",
    )
    .await;
    let (status, tokens) = redeem_with(&b, "/oauth/token", &f, &[]).await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    for token in [refresh_token, access_token] {
        assert_eq!(
            revoke(&s, &[("token", token), ("client_id", "m2m_public")], None).await,
            200
        );
    }

    let (status, body) = b
        .token(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", "m2m_public"),
            ],
        )
        .await;
    assert_error(status, &body, 400, "invalid_grant");
    assert_eq!(
        introspect(&s, &tokens["access_token"]).await,
        json!({ "active": false })
    );
}

#[tokio::test]
async fn a_revoked_access_token_introspects_inactive() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "bob@example.com", "").await;
    let active = introspect(&s, &first["access_token"]).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["client_id"], client_id.as_str());
    assert_eq!(
        revoke(
            &s,
            &[
                ("token", first["access_token"].as_str().unwrap()),
                ("token_type_hint", "access_token"),
                ("client_id", &client_id),
            ],
            None,
        )
        .await,
        200
    );
    assert_eq!(
        introspect(&s, &first["access_token"]).await,
        json!({ "active": false })
    );
}

/// POSTs to the environment introspection endpoint; returns (status, body).
async fn introspect_as(
    s: &Spawned,
    token: &str,
    auth: Option<String>,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![("token", token)];
    form.extend_from_slice(extra);
    let mut req = reqwest::Client::new()
        .post(format!("{}/oauth/introspect", s.base))
        .form(&form);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn introspection_is_refused_to_clients_without_the_permission() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "bob@example.com", "").await;
    let token = first["access_token"].as_str().unwrap();

    let (status, body) =
        introspect_as(&s, token, Some(basic("m2m_service", SERVICE_SECRET)), &[]).await;
    assert_error(status, &body, 403, "unauthorized_client");

    // A public DCR client.
    let (status, body) = introspect_as(&s, token, None, &[("client_id", &client_id)]).await;
    assert_error(status, &body, 403, "unauthorized_client");

    // A confidential DCR client.
    let registered: Value = b
        .http
        .post(format!("{}/resources/res_tickets/oauth/register", s.base))
        .json(&json!({
            "client_name": "Confidential",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "client_secret_basic"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auth = basic(
        registered["client_id"].as_str().unwrap(),
        registered["client_secret"].as_str().expect("a secret"),
    );
    let (status, body) = introspect_as(&s, token, Some(auth), &[]).await;
    assert_error(status, &body, 403, "unauthorized_client");
}

#[tokio::test]
async fn introspection_of_a_token_for_another_resource_is_inactive() {
    let s = TestApp::builder().spawn().await;
    let http = reqwest::Client::new();
    let wiki: Value = http
        .post(format!("{}/oauth/token", s.base))
        .header("authorization", basic("m2m_wiki", WIKI_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, claims) = decode_jwt(wiki["access_token"].as_str().expect("a wiki token"));
    assert_eq!(claims["aud"][0], "res_wiki");
    assert_eq!(
        introspect(&s, &wiki["access_token"]).await,
        json!({ "active": false }),
        "m2m_introspector is bound to res_tickets only"
    );

    // A tickets token is active for it.
    let tickets: Value = http
        .post(format!("{}/oauth/token", s.base))
        .header("authorization", basic("m2m_service", SERVICE_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        introspect(&s, &tickets["access_token"]).await["active"],
        true
    );
}

#[tokio::test]
async fn userinfo_without_or_with_a_bad_token_is_401_with_a_bearer_challenge() {
    let s = TestApp::builder().spawn().await;
    let http = reqwest::Client::new();
    let url = format!("{}/oauth/userinfo", s.base);

    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let challenge = none.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge}");

    let bad = http
        .get(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let challenge = bad.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    // A well-formed token signed by someone else.
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfMSJ9.c2lnbmF0dXJl";
    let res = http.get(&url).bearer_auth(forged).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
}

async fn audit(s: &Spawned, query: &str, auth: Option<String>) -> (StatusCode, Value) {
    let mut req =
        reqwest::Client::new().get(format!("{}/api/v1/admin/audit-events{query}", s.base));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn the_audit_api_takes_only_admin_credentials() {
    let s = TestApp::builder().spawn().await;
    let (status, _) = audit(&s, "", None).await;
    assert_eq!(status, 401);
    let (status, _) = audit(&s, "", Some(basic("admin", "wrong-password"))).await;
    assert_eq!(status, 401);
    let (status, _) = audit(&s, "", Some(basic("m2m_admin", "wrong-secret"))).await;
    assert_eq!(status, 401);
    let (status, _) = audit(&s, "", Some("Bearer something".into())).await;
    assert_eq!(status, 401);
    let (status, _) = audit(&s, "", Some(basic("m2m_service", SERVICE_SECRET))).await;
    assert_eq!(status, 403);
    let (status, body) = audit(&s, "", Some(basic("admin", ADMIN_PASSWORD))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["events"].is_array());
    let (status, body) = audit(&s, "", Some(basic("m2m_admin", ADMIN_CLIENT_SECRET))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["events"].is_array());
}

#[tokio::test]
async fn the_audit_api_lists_the_flow_events_by_kind() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (client_id, first) = user_tokens(&b, "alice@example.com", "jira-admins").await;
    let user = user_of(&first);
    let (status, _) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_eq!(status, 200);
    let (status, _) = refresh_with(&b, &client_id, &first["refresh_token"], &[]).await;
    assert_eq!(status, 400);

    let admin = || Some(basic("admin", ADMIN_PASSWORD));
    let events = |body: &Value| body["events"].as_array().unwrap().clone();
    let of_kind = |body: &Value, kind: &str| {
        let all = events(body);
        assert!(!all.is_empty(), "no {kind} events");
        assert!(all.iter().all(|e| e["kind"] == kind), "{body}");
        all
    };

    let (_, body) = audit(&s, "?kind=token.issued", admin()).await;
    let issued = of_kind(&body, "token.issued");
    assert_eq!(issued.len(), 2, "the code and the refresh: {body}");
    assert!(issued.iter().all(|e| e["client_id"] == client_id.as_str()
        && e["user_id"] == user.as_str()
        && e["organization_id"] == "org_acme"
        && e["resource_id"] == "res_tickets"));

    let (_, body) = audit(&s, "?kind=login.succeeded", admin()).await;
    let logins = of_kind(&body, "login.succeeded");
    assert_eq!(logins.len(), 1, "{body}");
    assert_eq!(logins[0]["detail"]["simulated"], true);
    assert_eq!(logins[0]["detail"]["connection_id"], "conn_acme_sim");
    assert_eq!(logins[0]["user_id"], user.as_str());

    let (_, body) = audit(&s, "?kind=consent.granted", admin()).await;
    let consents = of_kind(&body, "consent.granted");
    assert_eq!(consents.len(), 1, "{body}");
    assert_eq!(consents[0]["client_id"], client_id.as_str());
    assert_eq!(
        consents[0]["detail"]["scopes"],
        json!(["tickets.read", "tickets.manage:org_acme"])
    );

    let (_, body) = audit(&s, "?kind=refresh.reuse_detected", admin()).await;
    let reuse = of_kind(&body, "refresh.reuse_detected");
    assert_eq!(reuse.len(), 1, "{body}");
    assert_eq!(reuse[0]["client_id"], client_id.as_str());

    // The admin client sees the same trail, and the client filter narrows it.
    let (_, body) = audit(
        &s,
        "?kind=token.issued",
        Some(basic("m2m_admin", ADMIN_CLIENT_SECRET)),
    )
    .await;
    assert_eq!(of_kind(&body, "token.issued").len(), 2);
    let (_, body) = audit(&s, "?kind=token.issued&client_id=m2m_nobody", admin()).await;
    assert_eq!(events(&body).len(), 0, "{body}");
}
