//! Organization M2M clients (`m2morg_…`) through the admin API and the token endpoint: the
//! secret shown once, client credentials shaped by the client's settings (`aud` from its
//! audience, `oid`, `scopes`/`scope`, custom claims, its expiry), rotation with two live
//! secrets, the last secret kept, refusals (bad input, reserved claims, another
//! organization's client, a per-resource endpoint, a disabled organization, a deleted
//! client), and the organization kept while a client refers to it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::admin::{Admin, Api, bearer};
use crate::support::{Spawned, TestApp, decode_jwt};

async fn token(
    s: &Spawned,
    path: &str,
    id: &str,
    secret: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    form.extend_from_slice(extra);
    let res = reqwest::Client::new()
        .post(format!("{}{path}", s.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn billing() -> Value {
    json!({
        "name": "Billing sync",
        "description": "Nightly invoice export",
        "scopes": ["invoices:read", "invoices:write"],
        "audience": ["https://api.acme.example", "res_billing"],
        "custom_claims": [ { "key": "tenant", "value": "acme" } ],
        "expiry": 900
    })
}

async fn create(api: &Api<'_>, org: &str, body: Value) -> (reqwest::StatusCode, Value) {
    api.post(&format!("/organizations/{org}/clients"), body)
        .await
}

#[tokio::test]
async fn an_organization_client_gets_tokens_shaped_by_its_settings() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;
    let (status, created) = create(&api, "org_acme", billing()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("m2morg_"), "{id}");
    let secret = created["plain_secret"].as_str().unwrap().to_string();
    let secret_id = created["secrets"][0]["id"].as_str().unwrap().to_string();
    assert!(secret_id.starts_with("sec_"), "{created}");
    assert_eq!(
        created["secrets"][0]["secret_suffix"].as_str().unwrap(),
        &secret[secret.len() - 4..]
    );
    // Never shown again, nor its hash.
    let listed = api.get("/organizations/org_acme/clients").await;
    assert!(!listed.to_string().contains(&secret), "{listed}");
    assert!(listed["clients"][0].get("plain_secret").is_none());
    assert!(!listed.to_string().contains("secret_hash"), "{listed}");

    let (status, body) = token(&s, "/oauth/token", &id, &secret, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "invoices:read invoices:write");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["oid"], "org_acme");
    assert_eq!(claims["iss"], s.base);
    assert_eq!(
        claims["aud"],
        json!(["https://api.acme.example", "res_billing"])
    );
    assert_eq!(claims["scopes"], json!(["invoices:read", "invoices:write"]));
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    // A narrower scope, a resource among its audiences; nothing outside them.
    let (status, body) = token(
        &s,
        "/oauth/token",
        &id,
        &secret,
        &[("scope", "invoices:read")],
    )
    .await;
    assert_eq!(
        (status, body["scope"].as_str()),
        (200, Some("invoices:read")),
        "{body}"
    );
    let (status, body) = token(
        &s,
        "/oauth/token",
        &id,
        &secret,
        &[("scope", "tickets.read")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "{body}"
    );
    let (status, body) = token(
        &s,
        "/oauth/token",
        &id,
        &secret,
        &[("resource", "res_billing")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = token(
        &s,
        "/oauth/token",
        &id,
        &secret,
        &[("resource", "res_tickets")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );
    // Never at a resource's endpoint, never the code flow, never a wrong secret.
    let (status, body) = token(&s, "/resources/res_tickets/oauth/token", &id, &secret, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{body}"
    );
    let (status, body) = token(&s, "/oauth/token", &id, "not-the-secret", &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
}

#[tokio::test]
async fn secrets_rotate_with_two_live_and_the_last_one_stays() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;
    let (_, created) = create(&api, "org_acme", billing()).await;
    let id = created["client_id"].as_str().unwrap().to_string();
    let old = created["plain_secret"].as_str().unwrap().to_string();
    let old_id = created["secrets"][0]["id"].as_str().unwrap().to_string();

    let (status, added) = api
        .post(
            &format!("/organizations/org_acme/clients/{id}/secrets"),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let new = added["plain_secret"].as_str().unwrap().to_string();
    let new_id = added["id"].as_str().unwrap().to_string();
    // Both work while both live.
    assert_eq!(token(&s, "/oauth/token", &id, &old, &[]).await.0, 200);
    assert_eq!(token(&s, "/oauth/token", &id, &new, &[]).await.0, 200);
    let path = format!("/organizations/org_acme/clients/{id}/secrets/{old_id}");
    let (status, _) = api.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    assert_eq!(token(&s, "/oauth/token", &id, &old, &[]).await.0, 401);
    assert_eq!(token(&s, "/oauth/token", &id, &new, &[]).await.0, 200);
    // The last secret cannot go.
    let path = format!("/organizations/org_acme/clients/{id}/secrets/{new_id}");
    let (status, body) = api.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(token(&s, "/oauth/token", &id, &new, &[]).await.0, 200);
    // At most five live secrets.
    for _ in 0..4 {
        let (status, _) = api
            .post(
                &format!("/organizations/org_acme/clients/{id}/secrets"),
                json!({}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (status, body) = api
        .post(
            &format!("/organizations/org_acme/clients/{id}/secrets"),
            json!({}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        api.get(&format!("/organizations/org_acme/clients/{id}"))
            .await["secrets"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn bad_input_other_organizations_and_deletes_are_refused_or_end_the_client() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;
    for (bad, field) in [
        (json!({ "name": "" }), "name"),
        (
            json!({ "name": "x", "custom_claims": [ { "key": "aud", "value": "evil" } ] }),
            "custom_claims",
        ),
        (json!({ "name": "x", "expiry": 999999 }), "expiry"),
        (
            json!({ "name": "x", "scopes": ["portcullis:admin"] }),
            "scopes",
        ),
        // Audiences whose tokens mean more: an MCP server (id or URL), a client, this server.
        (
            json!({ "name": "x", "audience": ["res_tickets"] }),
            "audience",
        ),
        (
            json!({ "name": "x", "audience": ["http://127.0.0.1:8081/mcp"] }),
            "audience",
        ),
        (
            json!({ "name": "x", "audience": ["m2m_service"] }),
            "audience",
        ),
        (
            json!({ "name": "x", "audience": [format!("{}/api/v1/admin", s.base)] }),
            "audience",
        ),
    ] {
        let (status, body) = create(&api, "org_acme", bad).await;
        assert_eq!(
            (status.as_u16(), body["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
    }
    let (status, body) = create(&api, "org_acme", json!({ "name": "x", "unknown": 1 })).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (422, Some("invalid_request")),
        "{body}"
    );
    let (status, _) = create(&api, "org_nope", billing()).await;
    assert_eq!(status, 404);
    assert_eq!(
        api.get("/organizations/org_acme/clients").await["clients"],
        json!([])
    );

    let (_, created) = create(&api, "org_acme", billing()).await;
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["plain_secret"].as_str().unwrap().to_string();
    // Another organization does not see it.
    let (status, _) = api
        .post("/organizations", json!({ "display_name": "Other" }))
        .await;
    assert_eq!(status, 201);
    let other = api.get("/organizations").await;
    let other_id = other["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["display_name"] == "Other")
        .map(|o| o["id"].as_str().unwrap().to_string())
        .unwrap();
    let (status, _) = api
        .call(
            Method::GET,
            &format!("/organizations/{other_id}/clients/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    // The organization stays while its client does.
    let (status, body) = api
        .call(Method::DELETE, "/organizations/org_acme", None)
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("M2M client"), "{body}");
    // A disabled organization's client gets no token.
    let (status, _) = api.post("/organizations/org_acme/disable", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(token(&s, "/oauth/token", &id, &secret, &[]).await.0, 401);
    let (status, _) = api.post("/organizations/org_acme/enable", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(token(&s, "/oauth/token", &id, &secret, &[]).await.0, 200);
    // Deleted: no more tokens.
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/organizations/org_acme/clients/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(token(&s, "/oauth/token", &id, &secret, &[]).await.0, 401);
}

/// The text of `<code id="…">` on a page.
fn code_with_id(body: &str, id: &str) -> String {
    let marker = format!("<code id=\"{id}\">");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id}: {body}"))
        + marker.len();
    body[start..].split('<').next().unwrap().to_string()
}

#[tokio::test]
async fn the_organization_page_creates_rotates_and_deletes_m2m_clients() {
    let s = TestApp::builder().spawn().await;
    let admin = Admin::login(&s).await;
    // A bad claim line is shown beside its field; nothing is created.
    let page = admin
        .post(
            "/admin/organizations/org_acme/clients",
            &[("name", "Sync"), ("custom_claims", "no equals sign")],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("one `name=value` per line")
            || page.body.contains("one &#96;name=value&#96; per line"),
        "{}",
        page.body
    );
    let page = admin
        .post(
            "/admin/organizations/org_acme/clients",
            &[
                ("name", "Sync"),
                ("scopes", "invoices:read"),
                ("audience", "https://api.acme.example"),
                ("custom_claims", "tenant=acme"),
                ("expiry", "600"),
            ],
        )
        .await;
    assert_eq!(page.status, 201, "{}", page.body);
    let id = code_with_id(&page.body, "client-id");
    let secret = code_with_id(&page.body, "client-secret");
    let (status, body) = token(&s, "/oauth/token", &id, &secret, &[]).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["tenant"].as_str(), claims["oid"].as_str()),
        (Some("acme"), Some("org_acme"))
    );

    // Listed without the secret; a second secret, then the first removed.
    let org = admin.page("/admin/organizations/org_acme").await;
    assert!(
        org.body.contains(&id) && !org.body.contains(&secret),
        "{}",
        org.body
    );
    let first = code_with_id(&page.body, "secret-id");
    let added = admin
        .post(
            &format!("/admin/organizations/org_acme/clients/{id}/secrets"),
            &[],
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.body);
    let second = code_with_id(&added.body, "client-secret");
    admin
        .post_ok(
            &format!("/admin/organizations/org_acme/clients/{id}/secrets/{first}/delete"),
            &[],
        )
        .await;
    assert_eq!(token(&s, "/oauth/token", &id, &secret, &[]).await.0, 401);
    assert_eq!(token(&s, "/oauth/token", &id, &second, &[]).await.0, 200);
    admin
        .post_ok(
            &format!("/admin/organizations/org_acme/clients/{id}/delete"),
            &[],
        )
        .await;
    assert_eq!(token(&s, "/oauth/token", &id, &second, &[]).await.0, 401);
}
