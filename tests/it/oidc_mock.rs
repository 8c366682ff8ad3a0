//! Upstream OIDC refusals against a small in-process OpenID provider that answers and signs
//! whatever the test tells it to (a key outside its JWKS, a wrong `nonce` or `aud`, an expired
//! token, a forged `iss` on the callback, an `error` instead of a code, another tenant), plus
//! the replayed and cross-browser callbacks and groups taken from userinfo.
//!
//! Every refusal is checked the same way: the person gets a page (or, for a static client
//! with a trusted redirect URI, an error redirect with `error`, `state` and `iss`), the audit
//! trail has one `login.failed` with the reason, and no code, user or session was created.

use serde_json::{Value, json};

use crate::support::authorize::{STATE, assert_error_page, assert_error_redirect, session_cookie};
use crate::support::browser::{Browser, Page, REDIRECT_URI, query};
use crate::support::oidc_mock::*;
use crate::support::{Spawned, decode_jwt};

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
