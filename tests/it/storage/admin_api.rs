//! The JSON admin API: bearer tokens of an admin client (client_credentials with
//! `portcullis:admin`), 401 with a Bearer challenge without or with a bad token, 403 for a
//! token without the admin scope, the admin session needing `X-CSRF-Token` for writes, and
//! each area's operations (the same domain functions as the pages).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::admin::{Admin, Api, admin_token, bearer};
use crate::support::browser::Browser;
use crate::support::tokens::{refresh, user_of, user_tokens};
use crate::support::{ADMIN_PASSWORD, SERVICE_SECRET, TestApp, basic, tamper_payload};

#[tokio::test]
async fn no_or_bad_credentials_are_401_with_a_bearer_challenge_and_a_non_admin_token_403() {
    let s = TestApp::builder().spawn().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/admin/organizations", s.base);
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let challenges: Vec<&str> = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer")),
        "{challenges:?}"
    );

    let admin = admin_token(&s).await;
    for bad in ["garbage", &tamper_payload(&admin)] {
        let res = http.get(&url).bearer_auth(bad).send().await.unwrap();
        assert_eq!(res.status(), 401);
        let c = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(c.contains("error=\"invalid_token\""), "{c}");
    }
    // A valid token of ours without the admin scope.
    let service = s.app.service_token(&[("resource", "res_tickets")]).await;
    let token = service.json()["access_token"].as_str().unwrap().to_string();
    let res = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let c = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        c.contains("insufficient_scope") && c.contains("portcullis:admin"),
        "{c}"
    );
    let res = http
        .get(&url)
        .header("authorization", basic("m2m_service", SERVICE_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // An expired admin token.
    s.app.clock.advance(301);
    let res = http.get(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // The admin scope is never granted to a client that does not hold it.
    let refused = s
        .app
        .service_token(&[("resource", "res_tickets"), ("scope", "portcullis:admin")])
        .await;
    refused.assert_oauth_error(400, "invalid_scope");
}

#[tokio::test]
async fn a_revoked_or_deleted_admin_client_loses_the_api_at_once() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;
    api.get("/organizations").await;
    // "Revoke its tokens" ends the tokens it holds, this one included.
    let (status, body) = api
        .call(
            Method::POST,
            "/clients:revoke-tokens?client_id=m2m_admin",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = api.call(Method::GET, "/organizations", None).await;
    assert_eq!(status, 401);
    // A token issued afterwards works; deleting the client ends it.
    s.app.clock.advance(1);
    let api = bearer(&s).await;
    api.get("/organizations").await;
    let (status, _) = api
        .call(Method::DELETE, "/clients?client_id=m2m_admin", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = api.call(Method::GET, "/organizations", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn admin_tokens_are_for_the_admin_api_alone() {
    let s = TestApp::builder().spawn().await;
    let token = |pairs: Vec<(&'static str, String)>| {
        let base = s.base.clone();
        async move {
            let res = reqwest::Client::new()
                .post(format!("{base}/oauth/token"))
                .header(
                    "authorization",
                    basic("m2m_admin", crate::support::ADMIN_CLIENT_SECRET),
                )
                .form(&pairs)
                .send()
                .await
                .unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let grant = ("grant_type", "client_credentials".to_string());
    // Asked for an MCP server, or beside its scopes: refused.
    let (status, body) = token(vec![
        grant.clone(),
        ("resource", "res_tickets".into()),
        ("scope", "portcullis:admin".into()),
    ])
    .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_scope")),
        "{body}"
    );
    let (status, body) = token(vec![
        grant.clone(),
        ("scope", "portcullis:admin tickets.read".into()),
    ])
    .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("invalid_scope")),
        "{body}"
    );
    // The admin API named as the resource: the admin scope, that audience.
    let (status, body) = token(vec![
        grant.clone(),
        ("resource", format!("{}/api/v1/admin", s.base)),
    ])
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "portcullis:admin");
    // Not at a resource's own token endpoint.
    let res = reqwest::Client::new()
        .post(format!("{}/resources/res_tickets/oauth/token", s.base))
        .header(
            "authorization",
            basic("m2m_admin", crate::support::ADMIN_CLIENT_SECRET),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "portcullis:admin"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn http_basic_only_reads() {
    let s = TestApp::builder().spawn().await;
    let api = Api {
        s: &s,
        auth: basic("admin", ADMIN_PASSWORD),
    };
    api.get("/organizations").await;
    let (status, body) = api
        .post(
            "/organizations",
            json!({ "display_name": "Initech", "domains": ["initech.example"] }),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/admin/organizations", s.base))
        .send()
        .await
        .unwrap();
    let challenges: Vec<_> = res.headers().get_all("www-authenticate").iter().collect();
    assert!(
        challenges
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("Basic")),
        "no Basic challenge (browsers would remember the password): {challenges:?}"
    );
}

#[tokio::test]
async fn the_admin_session_needs_its_csrf_token_for_writes() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    let url = format!("{}/api/v1/admin/organizations", s.base);
    let res = admin.b.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200, "reads need only the session");
    let org = json!({ "display_name": "Initech", "domains": ["initech.example"] });
    let res = admin.b.http.post(&url).json(&org).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = admin
        .b
        .http
        .post(&url)
        .header("x-csrf-token", "wrong")
        .json(&org)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(
        s.app
            .state
            .store
            .find_organization_by_domain("initech.example")
            .await
            .unwrap()
            .is_none()
    );
    let csrf = admin.csrf().await;
    let res = admin
        .b
        .http
        .post(&url)
        .header("x-csrf-token", &csrf)
        .json(&org)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn organizations_connections_and_resources_through_the_api() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;
    let (status, org) = api
        .post(
            "/organizations",
            json!({ "display_name": "Globex", "domains": ["globex.example"] }),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    let id = org["id"].as_str().unwrap().to_string();
    let (status, err) = api
        .post(
            "/organizations",
            json!({ "display_name": "Dup", "domains": ["globex.example"] }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["field"], "domains");
    let (status, _) = api
        .call(Method::PUT, &format!("/organizations/{id}"), Some(json!({ "display_name": "Globex Corp", "domains": ["globex.example", "globex.test"] })))
        .await;
    assert_eq!(status, 200);
    let (status, org) = api
        .post(&format!("/organizations/{id}/disable"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(org["enabled"], false);
    assert_eq!(org["domains"], json!(["globex.example", "globex.test"]));
    // A read-modify-write round trip keeps it disabled; leaving `enabled` out does too.
    let mut shown = api.get(&format!("/organizations/{id}")).await;
    shown["display_name"] = json!("Globex Inc");
    let (status, after) = api
        .call(Method::PUT, &format!("/organizations/{id}"), Some(shown))
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["enabled"], false, "{after}");
    let (_, after) = api
        .call(Method::PUT, &format!("/organizations/{id}"), Some(json!({ "display_name": "Globex Inc", "domains": ["globex.example", "globex.test"] })))
        .await;
    assert_eq!(after["enabled"], false, "{after}");
    let list = api.get("/organizations").await;
    assert_eq!(list["organizations"].as_array().unwrap().len(), 2);

    let (status, conn) = api
        .post("/connections", json!({ "organization_id": id, "kind": "oidc", "issuer": "https://idp.globex.example", "client_id": "pc", "client_secret": "very-secret-value" }))
        .await;
    assert_eq!(status, 201, "{conn}");
    assert!(!conn.to_string().contains("very-secret-value"));
    assert!(
        !conn["settings"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains("secret"))
    );
    let (status, err) = api
        .post(
            "/connections",
            json!({ "organization_id": id, "kind": "ldap" }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["field"], "kind");
    let (status, test) = api.post("/connections/conn_acme_sim/test", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(test["ok"], true);
    let cid = conn["id"].as_str().unwrap();
    let (status, c) = api
        .call(
            Method::PUT,
            &format!("/connections/{cid}"),
            Some(json!({ "kind": "oidc", "issuer": "https://login.globex.example", "client_id": "pc2" })),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["settings"]["issuer"], "https://login.globex.example");
    assert_eq!(c["organization_id"], id.as_str());
    let stored = s
        .app
        .state
        .store
        .find_connection(cid)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.settings["client_secret_sealed"].is_string(),
        "the secret is kept"
    );
    let (status, c) = api
        .post("/connections/conn_acme_sim/disable", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(c["is_enabled"], false);
    assert_eq!(
        api.get("/connections").await["connections"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let (status, r) = api
        .post("/resources", json!({ "name": "Docs", "server_url": "http://127.0.0.1:8083/mcp",
            "scopes": [{ "name": "docs.read", "description": "Read" }], "dynamic_client_registration": true }))
        .await;
    assert_eq!(status, 201, "{r}");
    let rid = r["id"].as_str().unwrap();
    let (status, err) = api
        .post(
            "/resources",
            json!({ "name": "Bad", "server_url": "ftp://x", "scopes": [{ "name": "a.b" }] }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["field"], "server_url");
    let (status, r) = api
        .call(Method::PUT, &format!("/resources/{rid}"), Some(json!({ "name": "Docs", "server_url": "http://127.0.0.1:8083/mcp",
            "scopes": [{ "name": "docs.read", "description": "Read" }, { "name": "docs.write" }], "access_token_ttl": 90 })))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["access_token_ttl"], 90);
    assert_eq!(
        api.get("/resources").await["resources"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn rules_and_the_simulator_through_the_api() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;
    let (status, rule) = api
        .post(
            "/rules",
            json!({ "name": "QA", "resource_id": "res_tickets", "group": "qa",
            "grants": ["tickets.manage:{org}"] }),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let id = rule["id"].as_str().unwrap().to_string();
    let (status, err) = api
        .post(
            "/rules",
            json!({ "resource_id": "res_tickets", "group": "qa", "grants": ["portcullis:admin"] }),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["field"], "grants");
    let (status, sim) = api
        .post(
            "/rules:simulate",
            json!({ "resource_id": "res_tickets", "organization_id": "org_acme",
            "email": "q@example.com", "groups": ["qa"], "scope": "tickets.read tickets.manage" }),
        )
        .await;
    assert_eq!(status, 200, "{sim}");
    assert_eq!(
        sim["granted"],
        json!(["tickets.read", "tickets.manage:org_acme"])
    );
    let manage = sim["explanations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["scope"] == "tickets.manage:org_acme")
        .unwrap();
    assert_eq!(manage["rule_id"], id.as_str());
    assert_eq!(manage["rule_name"], "QA");
    assert_eq!(manage["outcome"], "granted");

    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/rules/{id}"),
            Some(json!({ "name": "QA deny", "resource_id": "res_tickets",
            "any": true, "grants": ["tickets.manage"], "effect": "deny" })),
        )
        .await;
    assert_eq!(status, 200);
    let (_, sim) = api
        .post(
            "/rules:simulate",
            json!({ "resource_id": "res_tickets", "organization_id": "org_acme",
            "email": "a@example.com", "groups": ["jira-admins"] }),
        )
        .await;
    assert_eq!(sim["granted"], json!(["tickets.read"]));
    assert_eq!(
        api.get("/rules").await["rules"].as_array().unwrap().len(),
        3
    );
    let (status, _) = api
        .call(Method::DELETE, &format!("/rules/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = api.call(Method::GET, &format!("/rules/{id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn clients_users_consents_audit_and_keys_through_the_api() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;
    let (status, created) = api
        .post("/clients", json!({ "name": "Automation 2", "is_confidential": true,
            "grant_types": ["client_credentials"], "resources": ["res_tickets"], "scopes": ["portcullis:admin"] }))
        .await;
    assert_eq!(status, 201, "{created}");
    let cid = created["client"]["id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    let list = api.get("/clients").await;
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once"
    );
    assert!(
        list["clients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == cid.as_str() && c["last_used_at"].is_null())
    );
    // The new client can get an admin token and use the API.
    let res = reqwest::Client::new()
        .post(format!("{}/oauth/token", s.base))
        .header("authorization", basic(&cid, &secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "portcullis:admin"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let b = Browser::new(&s);
    let (client_id, tokens) = user_tokens(&b, "alice@example.com", "jira-admins").await;
    let user = user_of(&tokens);
    // The simulator can replay a recent user's identity from their last sign-in.
    let (status, sim) = api
        .post(
            "/rules:simulate",
            json!({ "resource_id": "res_tickets", "user_id": user }),
        )
        .await;
    assert_eq!(status, 200, "{sim}");
    assert_eq!(sim["organization_id"], "org_acme");
    assert_eq!(
        sim["granted"],
        json!(["tickets.read", "tickets.manage:org_acme"])
    );
    let users = api.get("/users").await;
    let u = &users["users"][0];
    assert_eq!(u["id"], user.as_str());
    assert_eq!(u["groups"], json!(["jira-admins"]));
    let consents = api.get("/consents").await;
    let consent_id = consents["consents"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = api
        .post(&format!("/consents/{consent_id}/revoke"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = refresh(&b, &client_id, &tokens).await;
    assert_eq!(status, 400, "a revoked consent stops the next refresh");

    let b2 = Browser::new(&s);
    let (c2, t2) = user_tokens(&b2, "bob@example.com", "").await;
    let (status, r) = api
        .post(&format!("/users/{}/revoke", user_of(&t2)), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(r["refresh_tokens_revoked"], 1);
    let (status, _) = refresh(&b2, &c2, &t2).await;
    assert_eq!(status, 400);

    // Disabling the organization stops the next refresh too.
    let b3 = Browser::new(&s);
    let (c3, t3) = user_tokens(&b3, "carol@example.com", "").await;
    let (status, _) = api.post("/organizations/org_acme/disable", json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = refresh(&b3, &c3, &t3).await;
    assert_eq!(status, 400);
    api.post("/organizations/org_acme/enable", json!({})).await;
    // …and so does disabling the connection.
    let b4 = Browser::new(&s);
    let (c4, t4) = user_tokens(&b4, "dan@example.com", "").await;
    api.post("/connections/conn_acme_sim/disable", json!({}))
        .await;
    let (status, _) = refresh(&b4, &c4, &t4).await;
    assert_eq!(status, 400);

    let (status, r) = api
        .post(
            &format!("/clients:revoke-tokens?client_id={client_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let (status, _) = api
        .call(Method::DELETE, &format!("/clients?client_id={cid}"), None)
        .await;
    assert_eq!(status, 204);

    let keys = api.get("/keys").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    let (status, k) = api.post("/keys:rotate?now=true", json!({})).await;
    assert_eq!(status, 201);
    let keys = api.get("/keys").await;
    assert_eq!(keys["keys"][0]["id"], k["kid"]);
    assert_eq!(keys["keys"][0]["state"], "signing");

    // Every change carries the admin client, the address, the user agent and the request id.
    let events = api.get("/audit-events?kind=admin.consent.revoked").await;
    let e = &events["events"][0];
    assert_eq!(e["detail"]["actor"], "client:m2m_admin");
    assert_eq!(e["detail"]["address"], "127.0.0.1");
    assert_eq!(e["user_id"], user.as_str());
    assert!(!e["detail"]["request_id"].as_str().unwrap().is_empty());
    let events = api
        .get(&format!("/audit-events?user_id={user}&limit=2"))
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2);
    assert_eq!(events["has_more"], true);
    let events = api
        .get("/audit-events?organization_id=org_acme&kind=admin.organization.disabled")
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    let (status, text) = api
        .call(
            Method::GET,
            "/audit-events:export?kind=admin.key.rotated",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        text.as_str().map(|t| t.lines().count()).unwrap_or(1),
        1,
        "{text}"
    );
}

#[tokio::test]
async fn admin_passwords_over_basic_share_the_sign_in_rate_limit() {
    let s = TestApp::builder().spawn().await;
    let wrong = Api {
        s: &s,
        auth: basic("admin", "wrong-password"),
    };
    for _ in 0..5 {
        let (status, _) = wrong.call(Method::GET, "/organizations", None).await;
        assert_eq!(status, 401);
    }
    let right = Api {
        s: &s,
        auth: basic("admin", ADMIN_PASSWORD),
    };
    let (status, body) = right.call(Method::GET, "/organizations", None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "rate_limited");
    s.app.clock.advance(15 * 60 + 1);
    right.get("/organizations").await;
}
