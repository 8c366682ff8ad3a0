//! Consent, session and page refusals: CSRF, another browser, session rotation, prompt,
//! the simulator switch, security headers, escaping, expired and disabled things.

use reqwest::StatusCode;

use crate::support::authorize::*;
use crate::support::browser::{Browser, Page, REDIRECT_URI, hidden, pkce, query};
use crate::support::{Spawned, TestApp, decode_jwt};

#[tokio::test]
async fn a_consent_post_without_a_csrf_token_is_refused() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let at = sign_in_to_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        "bob@example.com",
        "",
    )
    .await;

    let missing = b
        .post(
            "/oauth/consent",
            &[("request", &at.request), ("decision", "approve")],
        )
        .await;
    assert_error_page(&missing, 400, "invalid_request");
    let empty = b
        .post(
            "/oauth/consent",
            &[
                ("request", &at.request),
                ("csrf", ""),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_error_page(&empty, 403, "invalid_csrf");
    let forged = b
        .post(
            "/oauth/consent",
            &[
                ("request", &at.request),
                ("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_error_page(&forged, 403, "invalid_csrf");
    assert_eq!(codes_issued(&s).await, 0, "no code was issued");

    // The genuine token still works: the refusals were about the token.
    let ok = b
        .post(
            "/oauth/consent",
            &[
                ("request", &at.request),
                ("csrf", &at.csrf),
                ("decision", "approve"),
            ],
        )
        .await;
    assert!(ok.location.unwrap().starts_with(REDIRECT_URI));
}

#[tokio::test]
async fn a_consent_post_with_another_requests_csrf_token_is_refused() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let first = sign_in_to_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        "bob@example.com",
        "",
    )
    .await;
    // A second request in the same browser (same session) reaches its own consent page.
    let (_, challenge) = pkce();
    let again = b
        .get(&authorize_url(
            "/resources/res_tickets/oauth/authorize",
            &valid_params(&client_id, &challenge, "bob@example.com"),
        ))
        .await;
    let second_path = again.location.expect("redirect");
    assert!(second_path.starts_with("/oauth/consent"), "{second_path}");
    let second_page = b.get(&second_path).await;
    let second_request = hidden(&second_page.body, "request");
    let second_csrf = hidden(&second_page.body, "csrf");
    assert_ne!(second_request, first.request);
    assert_ne!(second_csrf, first.csrf, "the token is bound to the request");

    let crossed = b
        .post(
            "/oauth/consent",
            &[
                ("request", &first.request),
                ("csrf", &second_csrf),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_error_page(&crossed, 403, "invalid_csrf");
    let crossed_back = b
        .post(
            "/oauth/consent",
            &[
                ("request", &second_request),
                ("csrf", &first.csrf),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_error_page(&crossed_back, 403, "invalid_csrf");
    assert_eq!(codes_issued(&s).await, 0, "no code was issued");
}

#[tokio::test]
async fn a_consent_post_from_another_browser_is_refused() {
    let s = TestApp::builder().spawn().await;
    let alice = Browser::new(&s);
    let client_id = alice.register("res_tickets").await;
    let at = sign_in_to_consent(
        &alice,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        "alice@example.com",
        "jira-admins",
    )
    .await;
    let form = [
        ("request", at.request.as_str()),
        ("csrf", at.csrf.as_str()),
        ("decision", "approve"),
    ];

    // No session cookie at all.
    let stranger = Browser::new(&s);
    assert_error_page(&stranger.get(&at.path).await, 403, "session_mismatch");
    assert_error_page(
        &stranger.post("/oauth/consent", &form).await,
        403,
        "session_mismatch",
    );

    // Another person's live session.
    let mallory = Browser::new(&s);
    let own = sign_in_to_consent(
        &mallory,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        "mallory@example.com",
        "jira-admins",
    )
    .await;
    assert!(session_cookie(&own.login).is_some());
    assert_error_page(&mallory.get(&at.path).await, 403, "session_mismatch");
    assert_error_page(
        &mallory.post("/oauth/consent", &form).await,
        403,
        "session_mismatch",
    );
    assert_eq!(codes_issued(&s).await, 0, "no code was issued");
}

/// Redeems a code of `m2m_public` at the environment token endpoint.
async fn redeem_public(b: &Browser, code: &str, verifier: &str) -> serde_json::Value {
    let (status, body) = b
        .token(
            "/oauth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
                ("client_id", "m2m_public"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A browser-less request carrying only this session cookie.
async fn get_with_cookie(s: &Spawned, path: &str, cookie: &str) -> Page {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .get(format!("{}{path}", s.base))
        .header("cookie", format!("portcullis_session={cookie}"))
        .send()
        .await
        .unwrap();
    Page {
        status: res.status(),
        location: res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string()),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

#[tokio::test]
async fn every_login_gets_a_new_session_id_and_ends_the_old_session() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);

    // First login and consent.
    let (verifier1, challenge1) = pkce();
    let params1 = valid_params("m2m_public", &challenge1, "bob@example.com");
    let start = b.get(&authorize_url("/oauth/authorize", &params1)).await;
    let login1 = b
        .simulator_login(start.location.as_deref().unwrap(), "bob@example.com", "")
        .await;
    let cookie1 = session_cookie(&login1).expect("a session cookie at login");
    let done = b
        .consent(login1.location.as_deref().unwrap(), "approve")
        .await;
    let code1 = query(done.location.as_deref().unwrap())["code"].clone();

    // Second login in the same browser (prompt=login forces it).
    let (verifier2, challenge2) = pkce();
    let params2 = with(
        &valid_params("m2m_public", &challenge2, "bob@example.com"),
        "prompt",
        "login",
    );
    let start = b.get(&authorize_url("/oauth/authorize", &params2)).await;
    let login2 = b
        .simulator_login(start.location.as_deref().unwrap(), "bob@example.com", "")
        .await;
    let cookie2 = session_cookie(&login2).expect("a new session cookie at login");
    assert_ne!(cookie1, cookie2, "the session token changes at login");
    let location = login2.location.unwrap();
    assert!(
        location.starts_with(REDIRECT_URI),
        "consent remembered: {location}"
    );
    let code2 = query(&location)["code"].clone();

    let (_, claims1) = decode_jwt(
        redeem_public(&b, &code1, &verifier1).await["access_token"]
            .as_str()
            .unwrap(),
    );
    let (_, claims2) = decode_jwt(
        redeem_public(&b, &code2, &verifier2).await["access_token"]
            .as_str()
            .unwrap(),
    );
    assert!(claims1["sid"].as_str().unwrap().starts_with("ses_"));
    assert_ne!(claims1["sid"], claims2["sid"], "a new session id at login");

    // The first session is over; the second one works.
    let (_, challenge) = pkce();
    let silent = authorize_url(
        "/oauth/authorize",
        &with(
            &valid_params("m2m_public", &challenge, "bob@example.com"),
            "prompt",
            "none",
        ),
    );
    let old = get_with_cookie(&s, &silent, &cookie1).await;
    assert_error_redirect(&old, "login_required", &s.base);
    let new = get_with_cookie(&s, &silent, &cookie2).await;
    let location = new.location.expect("redirect");
    assert!(query(&location).contains_key("code"), "{location}");
}

#[tokio::test]
async fn prompt_none_without_a_session_redirects_login_required() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    let params = with(
        &valid_params("m2m_public", &challenge, "bob@example.com"),
        "prompt",
        "none",
    );
    let page = b.get(&authorize_url("/oauth/authorize", &params)).await;
    assert_error_redirect(&page, "login_required", &s.base);
}

#[tokio::test]
async fn prompt_none_with_a_session_but_without_consent_redirects_consent_required() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    // Signed in, but the consent page was left unanswered.
    sign_in_to_consent(&b, "/oauth/authorize", "m2m_public", "bob@example.com", "").await;
    let (_, challenge) = pkce();
    let params = with(
        &valid_params("m2m_public", &challenge, "bob@example.com"),
        "prompt",
        "none",
    );
    let page = b.get(&authorize_url("/oauth/authorize", &params)).await;
    assert_error_redirect(&page, "consent_required", &s.base);
}

#[tokio::test]
async fn prompt_consent_shows_the_page_even_when_consent_is_remembered() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let at = sign_in_to_consent(&b, "/oauth/authorize", "m2m_public", "bob@example.com", "").await;
    let done = b
        .post(
            "/oauth/consent",
            &[
                ("request", &at.request),
                ("csrf", &at.csrf),
                ("decision", "approve"),
            ],
        )
        .await;
    assert!(done.location.unwrap().starts_with(REDIRECT_URI));

    let (_, challenge) = pkce();
    let params = valid_params("m2m_public", &challenge, "bob@example.com");
    let forced = b
        .get(&authorize_url(
            "/oauth/authorize",
            &with(&params, "prompt", "consent"),
        ))
        .await;
    let location = forced.location.expect("redirect");
    assert!(location.starts_with("/oauth/consent"), "{location}");
    assert_eq!(b.get(&location).await.status, 200);

    // Without prompt=consent the remembered consent is used.
    let remembered = b.get(&authorize_url("/oauth/authorize", &params)).await;
    let location = remembered.location.expect("redirect");
    assert!(location.starts_with(REDIRECT_URI), "{location}");
}

#[tokio::test]
async fn deny_on_the_consent_page_redirects_access_denied_with_state_and_iss() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let at = sign_in_to_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        "bob@example.com",
        "",
    )
    .await;
    let denied = b
        .post(
            "/oauth/consent",
            &[
                ("request", &at.request),
                ("csrf", &at.csrf),
                ("decision", "deny"),
            ],
        )
        .await;
    assert_error_redirect(&denied, "access_denied", &resource_issuer(&s));
    assert_eq!(codes_issued(&s).await, 0);

    // The request is finished: approving it afterwards does nothing.
    let late = b
        .post(
            "/oauth/consent",
            &[
                ("request", &at.request),
                ("csrf", &at.csrf),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_error_page(&late, 400, "request_expired");
    assert_eq!(codes_issued(&s).await, 0);
}

#[tokio::test]
async fn the_simulator_is_refused_when_not_enabled() {
    let s = TestApp::builder().simulator(false).spawn().await;
    assert!(!s.app.state.config.is_dev && !s.app.state.config.enable_idp_simulator);
    let b = Browser::new(&s);
    let (_, challenge) = pkce();
    let params = with(
        &valid_params("m2m_public", &challenge, "bob@example.com"),
        "connection_id",
        "conn_acme_sim",
    );
    let start = b.get(&authorize_url("/oauth/authorize", &params)).await;
    let simulator = start.location.expect("redirect");
    let request = query(&format!("{}{simulator}", s.base))["request"].clone();

    let page = b.get(&simulator).await;
    assert_error_page(&page, 404, "simulator_disabled");
    let post = b
        .post(
            "/sso/v1/simulator/conn_acme_sim",
            &[
                ("request", request.as_str()),
                ("csrf", "anything"),
                ("email", "bob@example.com"),
                ("name", "Bob"),
                ("groups", "jira-admins"),
            ],
        )
        .await;
    assert_error_page(&post, 404, "simulator_disabled");
    assert_eq!(session_cookie(&post), None, "nobody signed in");
}

#[tokio::test]
async fn the_consent_page_blocks_framing_and_caching_and_sends_no_referrer() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let client_id = b.register("res_tickets").await;
    let at = sign_in_to_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        "bob@example.com",
        "",
    )
    .await;
    let page = b.get(&at.path).await;
    assert_eq!(page.status, 200);
    let header = |name: &str| {
        page.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let csp = header("content-security-policy").expect("CSP");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"));
}

/// Decodes the character references HTML escaping produces (`&lt;`, `&#60;`, `&#x3c;` …).
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn a_script_in_user_supplied_text_is_escaped_on_the_pages() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let script = "<script>alert(1)</script>";
    let res = b
        .http
        .post(format!("{}/resources/res_tickets/oauth/register", s.base))
        .json(&serde_json::json!({
            "client_name": script,
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let client_id = res.json::<serde_json::Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_string();

    let at = sign_in_to_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        "bob@example.com",
        "",
    )
    .await;
    let page = b.get(&at.path).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(script), "{}", page.body);
    assert!(!page.body.contains("<script"), "{}", page.body);
    let name = page
        .body
        .split("<span id=\"client-name\">")
        .nth(1)
        .and_then(|rest| rest.split("</span>").next())
        .expect("the client name on the page");
    assert_eq!(unescape(name), script, "the name is shown, escaped");

    // A login hint is typed by anyone: the simulator page escapes it too.
    let (_, challenge) = pkce();
    let hint = "\"><script>alert(1)</script>@example.com";
    let params = with(
        &with(
            &valid_params("m2m_public", &challenge, hint),
            "connection_id",
            "conn_acme_sim",
        ),
        "prompt",
        "login",
    );
    let start = Browser::new(&s)
        .get(&authorize_url("/oauth/authorize", &params))
        .await;
    let simulator = b.get(start.location.as_deref().expect("redirect")).await;
    assert_eq!(simulator.status, 200, "{}", simulator.body);
    assert!(!simulator.body.contains("<script"), "{}", simulator.body);
    assert!(
        unescape(&simulator.body).contains(hint),
        "the hint is shown, escaped: {}",
        simulator.body
    );
}

#[tokio::test]
async fn an_unknown_or_expired_pending_request_gives_a_page() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    for path in [
        "/oauth/consent?request=nope",
        "/sso/v1/simulator/conn_acme_sim?request=nope",
        "/sso/v1/login?request=nope",
    ] {
        assert_error_page(&b.get(path).await, 400, "unknown_request");
    }
    assert_error_page(
        &b.post(
            "/oauth/consent",
            &[("request", "nope"), ("csrf", "x"), ("decision", "approve")],
        )
        .await,
        400,
        "unknown_request",
    );

    // A real request, left alone past its ten minutes.
    let (_, challenge) = pkce();
    let start = b
        .get(&authorize_url(
            "/oauth/authorize",
            &valid_params("m2m_public", &challenge, "bob@example.com"),
        ))
        .await;
    let simulator = start.location.expect("redirect");
    let form = b.get(&simulator).await;
    assert_eq!(form.status, 200);
    s.app.clock.advance(601);
    assert_error_page(&b.get(&simulator).await, 400, "request_expired");
    let post = b
        .post(
            "/sso/v1/simulator/conn_acme_sim",
            &[
                ("request", &hidden(&form.body, "request")),
                ("csrf", &hidden(&form.body, "csrf")),
                ("email", "bob@example.com"),
                ("groups", ""),
            ],
        )
        .await;
    assert_error_page(&post, 400, "request_expired");
    assert_eq!(session_cookie(&post), None);
}

const CONNECTION_DISABLED: &str = r#"
[[organizations]]
id = "org_acme"
display_name = "Acme"
domains = ["example.com"]

[[organizations.connections]]
id = "conn_acme_sim"
kind = "idp_simulator"
enabled = false
"#;

const ORGANIZATION_DISABLED: &str = r#"
[[organizations]]
id = "org_acme"
display_name = "Acme"
enabled = false
domains = ["example.com"]

[[organizations.connections]]
id = "conn_acme_sim"
kind = "idp_simulator"
"#;

/// A browser on the simulator form (its `request` and `csrf`).
async fn on_simulator_form(b: &Browser) -> (String, String) {
    let (_, challenge) = pkce();
    let start = b
        .get(&authorize_url(
            "/oauth/authorize",
            &valid_params("m2m_public", &challenge, "bob@example.com"),
        ))
        .await;
    let form = b.get(start.location.as_deref().expect("redirect")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    (hidden(&form.body, "request"), hidden(&form.body, "csrf"))
}

async fn post_simulator(b: &Browser, request: &str, csrf: &str) -> Page {
    b.post(
        "/sso/v1/simulator/conn_acme_sim",
        &[
            ("request", request),
            ("csrf", csrf),
            ("email", "bob@example.com"),
            ("groups", ""),
        ],
    )
    .await
}

#[tokio::test]
async fn a_disabled_connection_gives_a_page_not_a_500() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (request, csrf) = on_simulator_form(&b).await;
    s.apply_seed(CONNECTION_DISABLED).await;

    // Mid-flow: the login form posted after the connection was turned off.
    let post = post_simulator(&b, &request, &csrf).await;
    assert_error_page(&post, 400, "connection_disabled");
    assert_eq!(session_cookie(&post), None);

    // New requests, by domain and by connection id.
    let (_, challenge) = pkce();
    let params = valid_params("m2m_public", &challenge, "bob@example.com");
    let by_domain = b.get(&authorize_url("/oauth/authorize", &params)).await;
    assert_error_page(&by_domain, 400, "connection_disabled");
    let by_id = b
        .get(&authorize_url(
            "/oauth/authorize",
            &with(&params, "connection_id", "conn_acme_sim"),
        ))
        .await;
    assert_error_page(&by_id, 400, "connection_disabled");
}

#[tokio::test]
async fn a_disabled_organization_gives_a_page_not_a_500() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let (request, csrf) = on_simulator_form(&b).await;
    s.apply_seed(ORGANIZATION_DISABLED).await;

    let post = post_simulator(&b, &request, &csrf).await;
    assert_error_page(&post, 400, "organization_disabled");
    assert_eq!(session_cookie(&post), None);

    let (_, challenge) = pkce();
    let params = valid_params("m2m_public", &challenge, "bob@example.com");
    let by_domain = b.get(&authorize_url("/oauth/authorize", &params)).await;
    assert_error_page(&by_domain, 400, "organization_disabled");
    let by_org = b
        .get(&authorize_url(
            "/oauth/authorize",
            &with(&params, "organization_id", "org_acme"),
        ))
        .await;
    assert_error_page(&by_org, 400, "organization_disabled");
}

#[tokio::test]
async fn a_session_whose_organization_was_disabled_gets_access_denied() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    sign_in_to_consent(&b, "/oauth/authorize", "m2m_public", "bob@example.com", "").await;
    s.apply_seed(ORGANIZATION_DISABLED).await;
    // Signed in already, so the refusal goes back to the (static) client.
    let (_, challenge) = pkce();
    let page = b
        .get(&authorize_url(
            "/oauth/authorize",
            &valid_params("m2m_public", &challenge, "bob@example.com"),
        ))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert_error_redirect(&page, "access_denied", &s.base);
}
