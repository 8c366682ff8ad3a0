//! The admin pages over HTTP: sign-in (session cookie, rate limit), no session → the login
//! page, CSRF on every form, each page's happy path, field errors without partial saves,
//! escaping of hostile names, and a rule changed in the pages changing the next token.

use crate::support::admin::{Admin, XSS, XSS_ESCAPED, assert_protected};
use crate::support::browser::Browser;
use crate::support::tokens::{refresh, user_of, user_tokens};
use crate::support::{ADMIN_PASSWORD, TestApp, decode_jwt};

const PAGES: &[&str] = &[
    "/admin",
    "/admin/organizations",
    "/admin/organizations/org_acme",
    "/admin/connections",
    "/admin/resources",
    "/admin/resources/res_tickets",
    "/admin/rules",
    "/admin/rules/rule_admins",
    "/admin/simulator",
    "/admin/clients",
    "/admin/users",
    "/admin/consents",
    "/admin/audit",
    "/admin/keys",
];

#[tokio::test]
async fn without_a_session_every_page_leads_to_the_login_page() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    for path in PAGES {
        let page = b.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location.as_deref(), Some("/admin/login"), "{path}");
    }
    let before = s.app.snapshot().await;
    let page = b
        .post(
            "/admin/organizations",
            &[("display_name", "Evil"), ("csrf", "x")],
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/admin/login"));
    assert_eq!(s.app.snapshot().await, before);
    // A forged cookie is no session either.
    let forged = b
        .http
        .get(format!("{}/admin", s.base))
        .header("cookie", "portcullis_admin=forged-token")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 303);
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_every_page_renders_protected() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    let res = b
        .post(
            "/admin/login",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(res.status, 303);
    let cookie = res.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("portcullis_admin="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // Only a hash of the token is stored.
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("portcullis_admin=");
    let stored = s
        .app
        .state
        .store
        .find_admin_session(&portcullis::crypto::hash_secret(token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.username, "admin");
    assert_ne!(stored.token_hash, token);

    let admin = crate::support::admin::Admin { b };
    for path in PAGES {
        let page = admin.page(path).await;
        assert_protected(&page);
        assert!(page.body.contains("name=\"csrf\""), "{path}");
        assert!(page.body.contains("name=\"viewport\""), "{path}");
    }
    assert_protected(&admin.b.get("/admin/login").await);

    // Sign out ends the session server-side.
    let out = admin.post("/admin/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/admin/login"));
    let after = admin.b.get("/admin").await;
    assert_eq!(after.status, 303);
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/admin", s.base))
        .header("cookie", format!("portcullis_admin={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303, "the old cookie no longer works");
}

#[tokio::test]
async fn a_session_ends_after_thirty_idle_minutes_and_a_busy_one_after_twelve_hours() {
    let s = TestApp::builder().spawn().await;
    let goes_to_login = |page: &crate::support::browser::Page| {
        page.status == 303 && page.location.as_deref() == Some("/admin/login")
    };

    // Used every 25 minutes, a session lives its 12 hours, and not longer.
    let busy = Admin::login(&s).await;
    for _ in 0..28 {
        s.app.clock.advance(25 * 60);
        busy.page("/admin").await;
    }
    s.app.clock.advance(25 * 60); // 12 h 05 min after sign-in
    assert!(goes_to_login(&busy.b.get("/admin").await));

    // Left alone for 30 minutes, a session ends, also on the API, and stays ended.
    let idle = Admin::login(&s).await;
    let csrf = idle.csrf().await;
    s.app.clock.advance(29 * 60 + 59);
    idle.page("/admin/clients").await;
    s.app.clock.advance(30 * 60);
    let api = idle
        .b
        .http
        .get(format!("{}/api/v1/admin/clients", s.base))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.status(),
        401,
        "the API is the first to see the idle session"
    );
    assert!(goes_to_login(&idle.b.get("/admin/clients").await));
    s.app.clock.advance(-(30 * 60));
    assert!(
        goes_to_login(&idle.b.get("/admin").await),
        "an idle session was ended for good, not only refused at that time"
    );
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited_with_a_clear_message() {
    let s = TestApp::builder().spawn().await;
    let b = Browser::new(&s);
    for _ in 0..5 {
        let page = b
            .post(
                "/admin/login",
                &[("username", "admin"), ("password", "wrong")],
            )
            .await;
        assert_eq!(page.status, 401);
        assert!(
            page.body.contains("Wrong username or password."),
            "{}",
            page.body
        );
    }
    // Now even the right password is refused for a while, with a message saying why.
    let page = b
        .post(
            "/admin/login",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 429);
    assert!(
        page.body.contains("Too many failed sign-ins"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Wait 15 minutes"), "{}", page.body);
    // After the window the account works again.
    s.app.clock.advance(15 * 60 + 1);
    let page = b
        .post(
            "/admin/login",
            &[("username", "admin"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    s.app.state.audit.flush().await;
    let events = s
        .app
        .state
        .store
        .list_audit_events(&portcullis::store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"admin.login.failed"));
    assert!(kinds.contains(&"admin.login.rate_limited"));
    assert!(kinds.contains(&"admin.login.succeeded"));
    assert!(
        !format!("{events:?}").contains("wrong"),
        "no password in the trail"
    );
}

#[tokio::test]
async fn failed_sign_ins_elsewhere_do_not_lock_an_admin_out_of_a_browser_they_signed_in_from() {
    let s = TestApp::builder()
        .configure(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()])
        .spawn()
        .await;
    let client = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    let sign_in = |http: &reqwest::Client, from: &str, password: &str, device: Option<&str>| {
        let mut req = http
            .post(format!("{}/admin/login", s.base))
            .header("x-forwarded-for", from)
            .form(&[("username", "admin"), ("password", password)]);
        if let Some(d) = device {
            req = req.header("cookie", format!("portcullis_admin_device={d}"));
        }
        async move { req.send().await.unwrap() }
    };

    // The admin signs in from their browser: it is remembered (Strict, HttpOnly, 90 days).
    let mine = client();
    let res = sign_in(&mine, "10.0.0.2", ADMIN_PASSWORD, None).await;
    assert_eq!(res.status(), 303);
    let device = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("portcullis_admin_device="))
        .expect("a device cookie");
    assert!(
        device.contains("HttpOnly")
            && device.contains("SameSite=Strict")
            && device.contains("Max-Age=7776000"),
        "{device}"
    );
    let device = device
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("portcullis_admin_device=")
        .to_string();
    let (expires, mac) = device.split_once('.').unwrap();

    // Someone else fails five times: the account is locked for everyone else...
    let attacker = client();
    for i in 0..5 {
        let res = sign_in(&attacker, &format!("10.0.1.{i}"), "guess", None).await;
        assert_eq!(res.status(), 401);
    }
    let res = sign_in(&attacker, "10.0.1.9", ADMIN_PASSWORD, None).await;
    assert_eq!(res.status(), 429, "the account lockout holds");
    let later = expires.parse::<i64>().unwrap() + 86_400;
    for (from, forged) in [
        ("10.0.1.10", "9999999999.AAAA".to_string()),
        ("10.0.1.11", format!("{later}.{mac}")),
    ] {
        let res = sign_in(&client(), from, ADMIN_PASSWORD, Some(&forged)).await;
        assert_eq!(
            res.status(),
            429,
            "a made-up device cookie is no way around it"
        );
    }
    // ... but not for the admin's own browser.
    let res = sign_in(&mine, "10.0.0.2", ADMIN_PASSWORD, None).await;
    assert_eq!(res.status(), 303, "the remembered browser signs in");

    // A device has its own limit: guessing with a stolen device cookie stops too.
    for i in 0..5 {
        let res = sign_in(&mine, &format!("10.0.2.{i}"), "guess", None).await;
        assert_eq!(res.status(), 401);
    }
    let res = sign_in(&mine, "10.0.2.9", ADMIN_PASSWORD, None).await;
    assert_eq!(res.status(), 429);

    // A device cookie ends with its 90 days, and with a new password of the account.
    s.app.clock.advance(15 * 60 + 1);
    let fresh = client();
    assert_eq!(
        sign_in(&fresh, "10.0.3.1", ADMIN_PASSWORD, None)
            .await
            .status(),
        303
    );
    let lock_account = |n: u8| {
        let attacker = &attacker;
        async move {
            for i in 0..5 {
                let from = format!("10.0.{n}.{i}");
                assert_eq!(sign_in(attacker, &from, "guess", None).await.status(), 401);
            }
        }
    };
    s.app.clock.advance(90 * 86_400);
    lock_account(4).await;
    assert_eq!(
        sign_in(&fresh, "10.0.3.1", ADMIN_PASSWORD, None)
            .await
            .status(),
        429,
        "expired"
    );
    s.app.clock.advance(15 * 60 + 1);
    let renewed = client();
    assert_eq!(
        sign_in(&renewed, "10.0.3.2", ADMIN_PASSWORD, None)
            .await
            .status(),
        303
    );
    s.apply_seed("[[admins]]\nusername = \"admin\"\npassword = \"a-new-admin-password-0123\"\n")
        .await;
    lock_account(5).await;
    assert_eq!(
        sign_in(&renewed, "10.0.3.2", "a-new-admin-password-0123", None)
            .await
            .status(),
        429,
        "the password changed since that browser signed in"
    );
}

#[tokio::test]
async fn a_wrong_csrf_token_is_refused_and_changes_nothing() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    let before = s.app.snapshot().await;
    for (path, fields) in [
        (
            "/admin/organizations",
            vec![("display_name", "Evil"), ("domains", "evil.example")],
        ),
        ("/admin/organizations/org_acme/enabled", vec![]),
        ("/admin/connections/conn_acme_sim/enabled", vec![]),
        ("/admin/rules/rule_admins/delete", vec![]),
        ("/admin/clients/delete", vec![("client_id", "m2m_service")]),
        ("/admin/keys/rotate", vec![]),
    ] {
        for csrf in ["", "not-the-token"] {
            let mut form = vec![("csrf", csrf)];
            form.extend(fields.iter().copied());
            let page = admin.b.post(path, &form).await;
            assert_eq!(page.status, 403, "{path}: {}", page.body);
            assert!(page.body.contains("security token"), "{}", page.body);
        }
    }
    // A token of another admin session does not fit this one either.
    let other = Admin::login(&s).await;
    let foreign = other.csrf().await;
    let page = admin
        .b
        .post("/admin/rules/rule_admins/delete", &[("csrf", &foreign)])
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(s.app.snapshot().await, before);
    assert_eq!(
        s.app
            .state
            .store
            .list_rules("res_tickets")
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn organizations_are_created_edited_and_disabled_with_field_errors() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    let page = admin
        .post_ok(
            "/admin/organizations",
            &[
                ("display_name", "Globex"),
                ("domains", "globex.example\nglobex.test"),
            ],
        )
        .await;
    assert!(
        page.body.contains("Organization Globex created."),
        "{}",
        page.body
    );
    let org = s
        .app
        .state
        .store
        .list_organizations()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.display_name == "Globex")
        .unwrap();
    assert_eq!(org.domains, vec!["globex.example", "globex.test"]);
    assert!(org.id.starts_with("org_"));

    // A domain of another organization: the message is beside the field, nothing saved.
    let before = s.app.snapshot().await;
    let page = admin
        .post(
            &format!("/admin/organizations/{}", org.id),
            &[
                ("display_name", "Globex 2"),
                ("domains", "globex.example\nexample.com"),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("<span class=\"error\" id=\"error-domains\">domain already belongs to another organization</span>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("value=\"Globex 2\""),
        "what was typed is kept"
    );
    assert_eq!(s.app.snapshot().await, before, "no partial save");
    // Not a domain at all.
    let page = admin
        .post(
            "/admin/organizations",
            &[("display_name", "Bad"), ("domains", "not a domain")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("is not a domain name"), "{}", page.body);
    let page = admin
        .post(
            "/admin/organizations",
            &[("display_name", " "), ("domains", "")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body
            .contains("id=\"error-display_name\">must not be empty"),
        "{}",
        page.body
    );
    assert_eq!(s.app.snapshot().await, before);

    admin
        .post_ok(
            &format!("/admin/organizations/{}", org.id),
            &[
                ("display_name", "Globex Corp"),
                ("domains", "globex.example"),
            ],
        )
        .await;
    let page = admin
        .post_ok(&format!("/admin/organizations/{}/enabled", org.id), &[])
        .await;
    assert!(page.body.contains("Organization disabled"), "{}", page.body);
    let org = s
        .app
        .state
        .store
        .find_organization(&org.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(org.display_name, "Globex Corp");
    assert_eq!(org.domains, vec!["globex.example"]);
    assert!(!org.is_enabled);
    admin
        .post_ok(
            &format!("/admin/organizations/{}/enabled", org.id),
            &[("enabled", "1")],
        )
        .await;
    assert!(
        s.app
            .state
            .store
            .find_organization(&org.id)
            .await
            .unwrap()
            .unwrap()
            .is_enabled
    );
}

#[tokio::test]
async fn connections_are_created_tested_and_disabled() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    admin
        .post_ok(
            "/admin/connections",
            &[("organization_id", "org_acme"), ("kind", "idp_simulator")],
        )
        .await;
    // OIDC with a bad issuer URL: beside the field.
    let page = admin
        .post(
            "/admin/connections",
            &[
                ("organization_id", "org_acme"),
                ("kind", "oidc"),
                ("issuer", "not-a-url"),
                ("client_id", "portcullis"),
                ("client_secret", "s3cret-value-never-shown"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("is not an http(s) URL"), "{}", page.body);
    assert!(
        !page.body.contains("s3cret-value-never-shown"),
        "the secret is not echoed"
    );
    // A good OIDC connection: its secret is sealed, never listed.
    admin
        .post_ok(
            "/admin/connections",
            &[
                ("organization_id", "org_acme"),
                ("kind", "oidc"),
                ("issuer", "https://idp.acme.example"),
                ("client_id", "portcullis"),
                ("client_secret", "s3cret-value-never-shown"),
            ],
        )
        .await;
    let page = admin.page("/admin/connections").await;
    assert!(!page.body.contains("s3cret-value-never-shown"));
    assert!(page.body.contains("/sso/v1/oidc/conn_"), "{}", page.body);
    // SAML: the SP metadata link for the IdP admin.
    admin
        .post_ok(
            "/admin/connections",
            &[
                ("organization_id", "org_acme"),
                ("kind", "saml"),
                ("idp_metadata_url", "https://idp.acme.example/metadata"),
            ],
        )
        .await;
    let page = admin.page("/admin/connections").await;
    assert!(page.body.contains("/metadata\">"), "{}", page.body);
    assert!(page.body.contains("/sso/v1/saml/conn_"), "{}", page.body);
    assert_eq!(s.app.state.store.list_connections().await.unwrap().len(), 4);

    // Edit the OIDC connection: a blank secret keeps the sealed one.
    let oidc = s
        .app
        .state
        .store
        .list_connections()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.kind == portcullis::store::ConnectionKind::Oidc)
        .unwrap();
    let page = admin.page(&format!("/admin/connections/{}", oidc.id)).await;
    assert!(
        page.body.contains("value=\"https://idp.acme.example\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("s3cret-value-never-shown"));
    let page = admin
        .post(
            &format!("/admin/connections/{}", oidc.id),
            &[
                ("kind", "oidc"),
                ("issuer", "ftp://nope"),
                ("client_id", "portcullis"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("is not an http(s) URL"), "{}", page.body);
    admin
        .post_ok(
            &format!("/admin/connections/{}", oidc.id),
            &[
                ("kind", "oidc"),
                ("issuer", "https://login.acme.example"),
                ("client_id", "portcullis-2"),
                ("groups_claim", "roles"),
            ],
        )
        .await;
    let after = s
        .app
        .state
        .store
        .find_connection(&oidc.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.settings["issuer"], "https://login.acme.example");
    assert_eq!(after.settings["groups_claim"], "roles");
    assert_eq!(after.organization_id, "org_acme");
    assert_eq!(
        after.settings["client_secret_sealed"], oidc.settings["client_secret_sealed"],
        "the secret is kept"
    );
    let settings =
        portcullis::federation::oidc::settings(&s.app.state.config.secret, &after).unwrap();
    assert_eq!(
        settings.client_secret.as_deref(),
        Some("s3cret-value-never-shown")
    );

    let page = admin.page("/admin/connections/conn_acme_sim/test").await;
    assert!(page.body.contains("id=\"test-result\""), "{}", page.body);
    assert!(page.body.contains("no upstream to reach"));
    admin
        .post_ok("/admin/connections/conn_acme_sim/enabled", &[])
        .await;
    let c = s
        .app
        .state
        .store
        .find_connection("conn_acme_sim")
        .await
        .unwrap()
        .unwrap();
    assert!(!c.is_enabled);
}

#[tokio::test]
async fn resources_are_created_and_edited_with_field_errors() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    let before = s.app.snapshot().await;
    for (fields, field, message) in [
        (
            vec![
                ("name", "Docs"),
                ("server_url", "not a url"),
                ("scopes", "docs.read Read"),
            ],
            "server_url",
            "is not an http(s) URL",
        ),
        (
            vec![
                ("name", "Docs"),
                ("server_url", "http://127.0.0.1:8083/mcp"),
                ("scopes", "docs:read Read"),
            ],
            "scopes",
            "is not a plain resource scope name",
        ),
        (
            vec![
                ("name", "Docs"),
                ("server_url", "http://127.0.0.1:8081/mcp"),
                ("scopes", "docs.read Read"),
            ],
            "server_url",
            "already used by res_tickets",
        ),
        (
            vec![
                ("name", "Docs"),
                ("server_url", "http://127.0.0.1:8083/mcp"),
                ("scopes", "docs.read"),
                ("access_token_ttl", "5"),
            ],
            "access_token_ttl",
            "must be 10 to 86400 seconds",
        ),
    ] {
        let page = admin.post("/admin/resources", &fields).await;
        assert_eq!(page.status, 400, "{}", page.body);
        let beside = format!("id=\"error-{field}\">");
        let at = page
            .body
            .find(&beside)
            .unwrap_or_else(|| panic!("{field}: {}", page.body));
        let shown = page.body[at + beside.len()..].split('<').next().unwrap();
        assert!(
            shown.contains(message),
            "{field}: {shown} {}",
            page.body.split("class=\"alert\"").nth(1).unwrap_or("")
        );
    }
    assert_eq!(s.app.snapshot().await, before);

    let page = admin
        .post_ok(
            "/admin/resources",
            &[
                ("name", "Docs"),
                ("server_url", "http://127.0.0.1:8083/mcp"),
                (
                    "scopes",
                    "docs.read Read documents\ndocs.write Change documents",
                ),
                ("access_token_ttl", "120"),
                ("refresh_token_ttl", "3600"),
                ("dynamic_client_registration", "1"),
            ],
        )
        .await;
    assert!(
        page.body.contains("docs.write Change documents"),
        "{}",
        page.body
    );
    let r = s
        .app
        .state
        .store
        .find_resource_by_url("http://127.0.0.1:8083/mcp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.access_token_ttl, 120);
    assert!(r.is_dcr_enabled && !r.is_cimd_enabled);
    assert_eq!(r.scopes[1].description, "Change documents");
    // Edit: the change is seen at once (the 1 s cache is cleared by the write).
    admin
        .post_ok(
            "/admin/resources/res_tickets",
            &[
                ("name", "Tickets"),
                ("server_url", "http://127.0.0.1:8081/mcp"),
                (
                    "scopes",
                    "tickets.read Read tickets\ntickets.manage Create and change tickets",
                ),
                ("access_token_ttl", "60"),
                ("refresh_token_ttl", "86400"),
                ("dynamic_client_registration", "1"),
                ("client_id_metadata_documents", "1"),
            ],
        )
        .await;
    let token = s.app.service_token(&[("resource", "res_tickets")]).await;
    let body: serde_json::Value = serde_json::from_slice(&token.body).unwrap();
    assert_eq!(body["expires_in"], 60, "{body}");
}

#[tokio::test]
async fn rules_are_created_edited_deleted_and_simulated() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    // A bad grant: beside the field; nothing saved.
    let page = admin
        .post(
            "/admin/rules",
            &[
                ("name", "Bad"),
                ("resource_id", "res_tickets"),
                ("group", "qa"),
                ("grants", "wiki.read"),
                ("effect", "allow"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body
            .contains("id=\"error-grants\">`wiki.read` is not a scope of res_tickets"),
        "{}",
        page.body
    );
    let page = admin
        .post(
            "/admin/rules",
            &[
                ("name", "No condition"),
                ("resource_id", "res_tickets"),
                ("grants", "tickets.read"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body
            .contains("id=\"error-conditions\">needs a condition"),
        "{}",
        page.body
    );
    assert_eq!(
        s.app
            .state
            .store
            .list_rules("res_tickets")
            .await
            .unwrap()
            .len(),
        2
    );

    admin
        .post_ok(
            "/admin/rules",
            &[
                ("name", "QA may manage"),
                ("resource_id", "res_tickets"),
                ("organization_id", "org_acme"),
                ("group", "qa"),
                ("email_domain", "example.com"),
                ("grants", "tickets.manage:{org}"),
                ("effect", "allow"),
            ],
        )
        .await;
    let rule = s
        .app
        .state
        .store
        .list_rules("res_tickets")
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "QA may manage")
        .unwrap();
    assert_eq!(
        rule.conditions.to_json(),
        serde_json::json!({"group": "qa", "email_domain": "example.com"})
    );
    let page = admin.page("/admin/rules").await;
    assert!(
        page.body
            .contains("in group “qa” and verified email at example.com"),
        "{}",
        page.body
    );

    // The simulator names the rule that granted and the rule that denied.
    let sim = |q: &str| {
        format!("/admin/simulator?run=1&resource_id=res_tickets&organization_id=org_acme&{q}")
    };
    let page = admin
        .page(&sim(
            "email=carol%40example.com&groups=qa&scope=tickets.read+tickets.manage",
        ))
        .await;
    assert!(
        page.body
            .contains("tickets.manage:org_acme granted by rule “QA may manage”"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("tickets.read granted by rule rule_readers"),
        "{}",
        page.body
    );
    // An unverified email does not meet the email_domain condition.
    let page = admin
        .page(&sim(
            "email=carol%40example.com&groups=qa&unverified=1&scope=tickets.manage",
        ))
        .await;
    assert!(
        page.body
            .contains("tickets.manage: requested, but no rule allows it"),
        "{}",
        page.body
    );

    // Edit into a deny: deny wins over the seeded allow of rule_admins.
    admin
        .post_ok(
            &format!("/admin/rules/{}", rule.id),
            &[
                ("name", "QA may not manage"),
                ("resource_id", "res_tickets"),
                ("group", "jira-admins"),
                ("grants", "tickets.manage"),
                ("effect", "deny"),
            ],
        )
        .await;
    let page = admin
        .page(&sim("email=alice%40example.com&groups=jira-admins"))
        .await;
    assert!(
        page.body
            .contains("tickets.manage:org_acme denied by rule “QA may not manage”"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("id=\"granted\"><code>tickets.read</code>"),
        "{}",
        page.body
    );

    let page = admin
        .post_ok(&format!("/admin/rules/{}/delete", rule.id), &[])
        .await;
    assert!(page.body.contains("deleted"), "{}", page.body);
    assert_eq!(
        s.app
            .state
            .store
            .list_rules("res_tickets")
            .await
            .unwrap()
            .len(),
        2
    );
    // Every change is in the audit trail with who, from where and what.
    s.app.state.audit.flush().await;
    let events = s
        .app
        .state
        .store
        .search_audit_events(&portcullis::store::AuditSearch {
            resource_id: Some("res_tickets".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let updated = events
        .iter()
        .find(|e| e.kind == "admin.rule.updated")
        .unwrap();
    assert_eq!(updated.detail["actor"], "admin:admin");
    assert_eq!(updated.detail["address"], "127.0.0.1");
    assert!(!updated.detail["request_id"].as_str().unwrap().is_empty());
    assert_eq!(updated.detail["changes"]["after"]["effect"], "deny");
    assert_eq!(updated.detail["changes"]["before"]["effect"], "allow");
    assert!(events.iter().any(|e| e.kind == "admin.rule.created"));
    assert!(events.iter().any(|e| e.kind == "admin.rule.deleted"));
}

#[tokio::test]
async fn static_clients_show_their_secret_once_and_are_revoked_and_deleted() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    let res = admin
        .post(
            "/admin/clients",
            &[
                ("name", "Nightly sync"),
                ("confidential", "1"),
                ("grant_types", "client_credentials"),
                ("resources", "res_tickets"),
                ("scopes", "tickets.read"),
            ],
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let id = res
        .body
        .split("id=\"client-id\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let secret = res
        .body
        .split("id=\"client-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert!(id.starts_with("m2m_"));
    assert_eq!(res.headers["cache-control"], "no-store");
    // The secret works, and is never shown again.
    let token = s
        .app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "res_tickets"),
            ],
            Some(&crate::support::basic(&id, &secret)),
        )
        .await;
    assert_eq!(token.status, 200);
    let list = admin.page("/admin/clients").await;
    assert!(list.body.contains("Nightly sync"));
    assert!(!list.body.contains(&secret));
    // A bad scope is beside its field.
    let page = admin
        .post(
            "/admin/clients",
            &[
                ("name", "X"),
                ("confidential", "1"),
                ("grant_types", "client_credentials"),
                ("resources", "res_tickets"),
                ("scopes", "wiki.read"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.body.contains(
            "id=\"error-scopes\">`wiki.read` is not a scope of the client&#39;s resources"
        ) || page.body.contains(
            "id=\"error-scopes\">`wiki.read` is not a scope of the client&#x27;s resources"
        ),
        "{}",
        page.body
    );

    // Revoking a DCR client's tokens stops its refresh.
    let b = Browser::new(&s);
    let (client_id, tokens) = user_tokens(&b, "alice@example.com", "").await;
    let page = admin
        .post_ok("/admin/clients/revoke", &[("client_id", &client_id)])
        .await;
    assert!(
        page.body.contains("Revoked 1 refresh tokens"),
        "{}",
        page.body
    );
    let (status, body) = refresh(&b, &client_id, &tokens).await;
    assert_eq!(status, 400, "{body}");
    admin
        .post_ok("/admin/clients/delete", &[("client_id", &id)])
        .await;
    assert!(s.app.state.store.find_client(&id).await.unwrap().is_none());
    let token = s
        .app
        .post_form(
            "/oauth/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "res_tickets"),
            ],
            Some(&crate::support::basic(&id, &secret)),
        )
        .await;
    assert_eq!(token.status, 401, "a deleted client is unknown at once");
}

#[tokio::test]
async fn disabling_a_user_revoking_a_consent_or_a_user_stops_the_next_refresh() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    let b = Browser::new(&s);

    let (c1, t1) = user_tokens(&b, "alice@example.com", "jira-admins").await;
    let page = admin.page("/admin/users").await;
    assert!(page.body.contains("alice@example.com"));
    assert!(
        page.body.contains("<code>jira-admins</code>"),
        "groups at last sign-in"
    );
    assert!(
        page.body.contains("<td class=\"sessions\">1</td>"),
        "live sessions"
    );
    let page = admin.page("/admin/consents").await;
    let consent = s
        .app
        .state
        .store
        .list_consents(&user_of(&t1))
        .await
        .unwrap()
        .remove(0);
    assert!(page.body.contains(&consent.id));
    admin
        .post_ok(&format!("/admin/consents/{}/revoke", consent.id), &[])
        .await;
    let (status, body) = refresh(&b, &c1, &t1).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    let b2 = Browser::new(&s);
    let (c2, t2) = user_tokens(&b2, "bob@example.com", "").await;
    admin
        .post_ok(&format!("/admin/users/{}/enabled", user_of(&t2)), &[])
        .await;
    let (status, _) = refresh(&b2, &c2, &t2).await;
    assert_eq!(status, 400);

    let b3 = Browser::new(&s);
    let (c3, t3) = user_tokens(&b3, "dave@example.com", "").await;
    let page = admin
        .post_ok(&format!("/admin/users/{}/revoke", user_of(&t3)), &[])
        .await;
    assert!(
        page.body
            .contains("Ended 1 sessions and revoked 1 refresh tokens"),
        "{}",
        page.body
    );
    assert_eq!(
        page.body.matches("<td class=\"sessions\">1</td>").count(),
        2,
        "alice and bob keep theirs; dave has none: {}",
        page.body
    );
    let (status, _) = refresh(&b3, &c3, &t3).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn keys_rotate_and_the_audit_log_filters_pages_and_exports() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    let page = admin.post_ok("/admin/keys/rotate", &[]).await;
    assert!(page.body.contains("New signing key snk_"), "{}", page.body);
    assert!(page.body.contains(">next<"), "{}", page.body);
    assert!(page.body.contains(">signing<"));
    assert_eq!(
        s.app.state.store.list_signing_keys().await.unwrap().len(),
        2
    );

    for i in 0..60 {
        s.app
            .service_token(&[
                ("resource", "res_tickets"),
                (
                    "scope",
                    if i % 2 == 0 {
                        "tickets.read"
                    } else {
                        "tickets.manage"
                    },
                ),
            ])
            .await;
    }
    let page = admin
        .page("/admin/audit?kind=token.issued&client_id=m2m_service")
        .await;
    assert_eq!(page.body.matches("<code>token.issued</code>").count(), 50);
    assert!(page.body.contains("id=\"next-page\""));
    let next = hidden_href(&page.body, "next-page");
    let page2 = admin.page(&next).await;
    assert_eq!(page2.body.matches("<code>token.issued</code>").count(), 10);
    assert!(!page2.body.contains("id=\"next-page\""));
    assert!(page2.body.contains("id=\"prev-page\""));
    let page = admin.page("/admin/audit?kind=admin.key.rotated").await;
    assert_eq!(
        page.body.matches("<code>admin.key.rotated</code>").count(),
        1
    );
    // A time range: nothing before the test clock's start.
    let page = admin.page("/admin/audit?until=2020-01-01").await;
    assert!(page.body.contains("No events."));
    let page = admin.b.get("/admin/audit?since=yesterday").await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("use YYYY-MM-DD"));

    let export = admin
        .b
        .get("/admin/audit/export?client_id=m2m_service")
        .await;
    assert_eq!(export.status, 200);
    assert_eq!(export.headers["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = export
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 60);
    assert!(lines.iter().all(|e| e["client_id"] == "m2m_service"));
}

fn hidden_href(html: &str, id: &str) -> String {
    let marker = "href=\"";
    let at = html.find(&format!("id=\"{id}\"")).unwrap();
    let start = html[..at].rfind(marker).unwrap() + marker.len();
    html[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn hostile_client_and_rule_names_render_as_text_on_every_page() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    let b = Browser::new(&s);
    let res = b
        .http
        .post(format!("{}/resources/res_tickets/oauth/register", s.base))
        .json(&serde_json::json!({
            "client_name": XSS,
            "redirect_uris": [crate::support::browser::REDIRECT_URI],
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
    // A person in a group of that name consents to that client: users and consents show both.
    crate::support::browser::authorize_and_consent(
        &b,
        "/resources/res_tickets/oauth/authorize",
        &client_id,
        None,
        "tickets.read",
        "mallory@example.com",
        XSS,
    )
    .await;
    admin
        .post_ok(
            "/admin/rules",
            &[
                ("name", XSS),
                ("resource_id", "res_tickets"),
                ("group", XSS),
                ("grants", "tickets.read"),
                ("effect", "allow"),
            ],
        )
        .await;
    let rule = s
        .app
        .state
        .store
        .list_rules("res_tickets")
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == XSS)
        .unwrap();
    let groups: String = form_urlencoded::byte_serialize(XSS.as_bytes()).collect();
    for path in [
        "/admin".to_string(),
        "/admin/clients".into(),
        "/admin/users".into(),
        "/admin/consents".into(),
        "/admin/rules".into(),
        format!("/admin/rules/{}", rule.id),
        "/admin/audit".into(),
        format!(
            "/admin/simulator?run=1&resource_id=res_tickets&organization_id=org_acme&groups={groups}&scope=tickets.read"
        ),
    ] {
        let page = admin.page(&path).await;
        assert!(
            !page.body.contains(XSS),
            "{path} shows the raw string: {}",
            page.body
        );
        assert!(
            page.body.contains(XSS_ESCAPED),
            "{path} shows the escaped string: {}",
            page.body
        );
    }
    // And no page at all carries the raw string.
    for path in PAGES {
        let page = admin.page(path).await;
        assert!(!page.body.contains(XSS), "{path} shows the raw string");
    }
}

#[tokio::test]
async fn a_rule_changed_in_the_pages_changes_the_scopes_of_the_next_token() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    let b = Browser::new(&s);
    let (_, before) = user_tokens(&b, "erin@example.com", "qa").await;
    let (_, claims) = decode_jwt(before["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "tickets.read");

    admin
        .post_ok(
            "/admin/rules",
            &[
                ("name", "QA manage tickets"),
                ("resource_id", "res_tickets"),
                ("group", "qa"),
                ("grants", "tickets.manage:{org}"),
                ("effect", "allow"),
            ],
        )
        .await;
    let b2 = Browser::new(&s);
    let (client_id, after) = user_tokens(&b2, "erin@example.com", "qa").await;
    let (_, claims) = decode_jwt(after["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "tickets.read tickets.manage:org_acme");

    // And a deny added in the pages narrows the very next refresh.
    admin
        .post_ok(
            "/admin/rules",
            &[
                ("name", "Freeze changes"),
                ("resource_id", "res_tickets"),
                ("any", "1"),
                ("grants", "tickets.manage"),
                ("effect", "deny"),
            ],
        )
        .await;
    let (status, body) = refresh(&b2, &client_id, &after).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "tickets.read");
}
