//! Strict registration input (hardening items 10–12): redirect URIs only in normal form and
//! private-use schemes only in reverse-DNS form, at registration and at /authorize; client
//! names without bidi or control characters, and neutralised where stored ones are shown;
//! OIDC `email_verified` trusted only in the organization's domains unless the connection
//! says otherwise.

use serde_json::json;

use crate::support::TestApp;
use crate::support::authorize::{assert_error_page, authorize_url, valid_params, with};
use crate::support::browser::{Browser, pkce};
use crate::support::oidc_mock::{dynamic_login, setup};

async fn dynamic_clients(app: &TestApp) -> i64 {
    app.state.store.count_dynamic_clients().await.unwrap()
}

#[tokio::test]
async fn dcr_refuses_os_handler_schemes_and_uris_not_in_normal_form() {
    let app = TestApp::new().await;
    for (uri, application_type) in [
        ("ms-msdt:/id?PCWDiagnostic", "native"),
        ("search-ms:query=invoice", "native"),
        ("myapp:/callback", "native"),
        ("https:///cb", "web"),
        ("https:evil.example/cb", "web"),
        (" https://app.example.com/cb", "web"),
        ("https://app.example.com/cb ", "web"),
        ("https://app.example.com/c\u{0}b", "web"),
        ("https://app.example.com/c\u{1b}b", "web"),
        ("http://127.0.0.1:3000/c\tb", "web"),
    ] {
        let res = app
            .post_json(
                "/oauth/register",
                &json!({ "redirect_uris": [uri], "application_type": application_type,
                         "token_endpoint_auth_method": "none" }),
            )
            .await;
        res.assert_oauth_error(400, "invalid_redirect_uri");
    }
    assert_eq!(dynamic_clients(&app).await, 0, "nothing registered");

    let res = app
        .post_json(
            "/oauth/register",
            &json!({ "redirect_uris": ["com.example.app:/oauth2redirect"],
                     "application_type": "native", "token_endpoint_auth_method": "none" }),
        )
        .await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
}

#[tokio::test]
async fn dcr_refuses_client_names_with_bidi_or_control_characters_or_too_long() {
    let app = TestApp::new().await;
    for name in [
        "Safe\u{202E}exe.tnemucod".to_string(),
        "VS Code\u{2066}".to_string(),
        "Line\nbreak".to_string(),
        "n".repeat(101),
    ] {
        let res = app
            .post_json(
                "/oauth/register",
                &json!({ "redirect_uris": ["https://app.example.com/cb"], "client_name": name }),
            )
            .await;
        res.assert_oauth_error(400, "invalid_client_metadata");
    }
    let res = app
        .post_json(
            "/oauth/register",
            &json!({ "redirect_uris": ["https://app.example.com/cb"],
                     "logo_uri": format!("https://app.example.com/{}", "l".repeat(3000)) }),
        )
        .await;
    res.assert_oauth_error(400, "invalid_client_metadata");
    assert_eq!(dynamic_clients(&app).await, 0, "nothing registered");
}

#[tokio::test]
async fn authorize_matches_only_redirect_uris_in_normal_form() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    let params = valid_params("m2m_public", &challenge, "bob@example.com");
    // m2m_public registered http://127.0.0.1/cb (any port); a browser would follow these there.
    for uri in [
        "http://127.0.0.1:9999/cb ",
        " http://127.0.0.1:9999/cb",
        "http://127.0.0.1:9999/c\tb",
        "http:127.0.0.1:9999/cb",
        "http:///127.0.0.1:9999/cb",
    ] {
        let page = b
            .get(&authorize_url(
                "/oauth/authorize",
                &with(&params, "redirect_uri", uri),
            ))
            .await;
        assert_error_page(&page, 400, "invalid_redirect_uri");
    }
}

#[tokio::test]
async fn the_consent_page_neutralises_a_stored_client_name() {
    let s = TestApp::builder().spawn().await;
    let store = &s.app.state.store;
    let mut client = store.find_client("m2m_public").await.unwrap().unwrap();
    client.name = format!("Safe\u{202E}exe.tnemucod {}", "x".repeat(300));
    store.upsert_client(&client).await.unwrap();

    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    let params = valid_params("m2m_public", &challenge, "bob@example.com");
    let page = b
        .get(&authorize_url(
            "/oauth/authorize",
            &with(&params, "scope", "tickets.read"),
        ))
        .await;
    let login = page.location.expect("to the simulator");
    let after = b.simulator_login(&login, "bob@example.com", "").await;
    let consent = b.get(after.location.as_deref().expect("to consent")).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(
        !consent.body.contains('\u{202E}'),
        "no bidi override reaches the page"
    );
    assert!(consent.body.contains("Safe\u{FFFD}exe.tnemucod"));
    assert!(
        !consent.body.contains(&"x".repeat(200)),
        "the name is capped"
    );
}

async fn oidc_user_verified(pins: &str, email: &str) -> bool {
    let (s, idp) = setup(pins).await;
    idp.behave(|b| b.email = email.into());
    let b = Browser::new(&s);
    let page = dynamic_login(&s, &idp, &b).await;
    assert!(
        page.status.is_redirection(),
        "{} {}",
        page.status,
        page.body
    );
    let users = s.app.state.store.list_users(10).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email.as_deref(), Some(email));
    users[0].is_email_verified
}

#[tokio::test]
async fn oidc_email_verified_counts_only_in_the_organizations_domains() {
    assert!(
        oidc_user_verified("", "alice@mock.example").await,
        "the organization's own domain"
    );
    assert!(
        !oidc_user_verified("", "ceo@victim.example").await,
        "an upstream IdP is no authority for another company's addresses"
    );
    assert!(
        !oidc_user_verified(
            r#"trust_email_verified = "organization_domains""#,
            "ceo@victim.example"
        )
        .await
    );
}

#[tokio::test]
async fn an_oidc_connection_may_trust_email_verified_for_any_domain() {
    assert!(
        oidc_user_verified(
            r#"trust_email_verified = "any_domain""#,
            "contractor@gmail.example"
        )
        .await
    );
}

#[tokio::test]
async fn the_seed_refuses_an_unknown_email_trust() {
    let app = TestApp::new().await;
    let seed = r#"
[[organizations]]
id = "org_trust"
display_name = "Trust"
domains = ["trust.example"]

[[organizations.connections]]
id = "conn_trust"
kind = "oidc"
issuer = "https://idp.trust.example"
client_id = "portcullis"
trust_email_verified = "everyone"
"#;
    let e = portcullis::seed::apply(
        &app.state.store,
        &app.state.config.secret,
        &|_| None,
        seed,
        portcullis::clock::Clock::now(app.clock.as_ref()),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("trust_email_verified"), "{e}");
}
