//! Deleting organizations, connections, MCP servers and users, in the pages and the API. Of
//! the first three only what nothing refers to goes; anything else is refused (a "Still in
//! use" page, 409 `in_use`) with what still refers to it, and changes nothing. Deleting a
//! user revokes their tokens. Each delete is audited; unknown ids are 404; without the CSRF
//! token or credentials nothing goes.

use reqwest::Method;
use serde_json::json;

use crate::support::admin::{Admin, bearer};
use crate::support::browser::Browser;
use crate::support::tokens::{refresh, user_of, user_tokens};
use crate::support::{Spawned, TestApp};

/// An organization with one connection, and an MCP server, that nothing uses.
const UNUSED: &str = r#"
[[organizations]]
id = "org_temp"
display_name = "Temp"
domains = ["temp.example"]

[[organizations.connections]]
id = "conn_temp"
kind = "idp_simulator"

[[resources]]
id = "res_temp"
name = "Temp"
server_url = "http://127.0.0.1:8089/mcp"
scopes = [ { name = "temp.read", description = "Read" } ]
"#;

async fn exists(s: &Spawned, org: &str, conn: &str, res: &str) -> [bool; 3] {
    let store = &s.app.state.store;
    [
        store.find_organization(org).await.unwrap().is_some(),
        store.find_connection(conn).await.unwrap().is_some(),
        store.find_resource(res).await.unwrap().is_some(),
    ]
}

#[tokio::test]
async fn the_pages_delete_only_what_nothing_refers_to() {
    let s = TestApp::builder().spawn().await;
    s.apply_seed(UNUSED).await;
    let admin = Admin::login(&s).await;
    // alice signs in through conn_acme_sim: the connection now has a user.
    user_tokens(&admin.b, "alice@example.com", "eng").await;

    for (path, says) in [
        (
            "/admin/organizations/org_acme/delete",
            "The organization org_acme is still in use (1 connection, 1 user, ",
        ),
        (
            "/admin/connections/conn_acme_sim/delete",
            "The connection conn_acme_sim is still in use (1 user signed in through it): disable it instead",
        ),
        (
            "/admin/resources/res_tickets/delete",
            "The MCP server res_tickets is still in use (",
        ),
    ] {
        let page = admin.post(path, &[]).await;
        assert_eq!(page.status, 409, "{path}: {}", page.body);
        assert!(page.body.contains("Still in use"), "{}", page.body);
        assert!(page.body.contains(says), "{path}: {}", page.body);
    }
    assert_eq!(
        exists(&s, "org_acme", "conn_acme_sim", "res_tickets").await,
        [true; 3],
        "refused deletes change nothing"
    );

    // Without the session's CSRF token nothing is deleted.
    let forged = admin.b.post("/admin/resources/res_temp/delete", &[]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(
        exists(&s, "org_temp", "conn_temp", "res_temp").await,
        [true; 3]
    );

    // The organization page offers the delete; used in order, everything unused goes.
    let page = admin.page("/admin/organizations/org_temp").await;
    assert!(page.body.contains("/admin/organizations/org_temp/delete"));
    let refused = admin
        .post("/admin/organizations/org_temp/delete", &[])
        .await;
    assert_eq!(refused.status, 409, "its connection is still there");
    for (path, flash) in [
        (
            "/admin/connections/conn_temp/delete",
            "Connection conn_temp deleted.",
        ),
        (
            "/admin/organizations/org_temp/delete",
            "Organization org_temp deleted.",
        ),
        (
            "/admin/resources/res_temp/delete",
            "MCP server res_temp deleted.",
        ),
    ] {
        let next = admin.post_ok(path, &[]).await;
        assert!(next.body.contains(flash), "{path}: {}", next.body);
        assert_eq!(
            admin.b.get(path.trim_end_matches("/delete")).await.status,
            404
        );
    }
    assert_eq!(
        exists(&s, "org_temp", "conn_temp", "res_temp").await,
        [false; 3]
    );
    assert!(
        s.app
            .state
            .store
            .find_organization_by_domain("temp.example")
            .await
            .unwrap()
            .is_none(),
        "the domain went with its organization"
    );
    let gone = admin.post("/admin/resources/res_temp/delete", &[]).await;
    assert_eq!(gone.status, 404);

    for (kind, target) in [
        ("admin.connection.deleted", "conn_temp"),
        ("admin.organization.deleted", "org_temp"),
        ("admin.resource.deleted", "res_temp"),
    ] {
        let events = s.audit(kind).await;
        assert_eq!(events.len(), 1, "{kind}");
        let detail = events[0].detail.to_string();
        assert!(detail.contains(target), "{kind}: {detail}");
        assert!(detail.contains("admin:admin"), "{kind}: {detail}");
    }
    assert_eq!(
        s.audit("admin.organization.deleted").await[0].organization_id,
        Some("org_temp".into()),
        "the refused deletes of org_acme left no deleted event"
    );
}

#[tokio::test]
async fn the_api_deletes_with_204_refuses_in_use_with_409_and_unknown_with_404() {
    let s = TestApp::builder().spawn().await;
    let api = bearer(&s).await;
    let delete = |path: String| {
        let api = &api;
        async move { api.call(Method::DELETE, &path, None).await }
    };

    let (status, err) = delete("/resources/res_tickets".into()).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"], "in_use");
    let description = err["error_description"].as_str().unwrap();
    assert!(description.contains("rule"), "{description}");
    assert!(description.contains("client"), "{description}");
    let (status, _) = delete("/organizations/org_acme".into()).await;
    assert_eq!(status, 409);
    let (status, err) = delete("/connections/conn_nope".into()).await;
    assert_eq!(
        (status.as_u16(), err["error"].as_str()),
        (404, Some("not_found"))
    );

    // Made through the API, then deleted through it.
    let docs = json!({ "name": "Docs", "server_url": "http://127.0.0.1:8083/mcp",
                       "scopes": [{ "name": "docs.read", "description": "Read" }] });
    let (status, org) = api
        .post(
            "/organizations",
            json!({ "display_name": "Initech", "domains": ["initech.example"] }),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    let org_id = org["id"].as_str().unwrap().to_string();
    let (status, conn) = api
        .post(
            "/connections",
            json!({ "organization_id": org_id, "kind": "idp_simulator" }),
        )
        .await;
    assert_eq!(status, 201, "{conn}");
    let conn_id = conn["id"].as_str().unwrap().to_string();
    let (status, res) = api.post("/resources", docs.clone()).await;
    assert_eq!(status, 201, "{res}");
    let res_id = res["id"].as_str().unwrap().to_string();

    // Without credentials: 401, and nothing goes.
    let res = reqwest::Client::new()
        .delete(format!("{}/api/v1/admin/resources/{res_id}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    for path in [
        format!("/connections/{conn_id}"),
        format!("/organizations/{org_id}"),
        format!("/resources/{res_id}"),
    ] {
        let (status, body) = delete(path.clone()).await;
        assert_eq!(status, 204, "{path}: {body}");
        let (status, _) = api.call(Method::GET, &path, None).await;
        assert_eq!(status, 404, "{path}");
        let (status, _) = delete(path.clone()).await;
        assert_eq!(status, 404, "{path}: a second delete");
    }
    // The server URL is free again.
    let (status, _) = api.post("/resources", docs).await;
    assert_eq!(status, 201);
    let events = s.audit("admin.resource.deleted").await;
    assert_eq!(events.len(), 1);
    assert!(
        events[0].detail.to_string().contains("client:"),
        "{:?}",
        events[0].detail
    );
}

#[tokio::test]
async fn deleting_a_user_revokes_their_refresh_tokens_drops_their_consents_and_frees_their_connection()
 {
    let s = TestApp::builder().spawn().await;
    s.apply_seed(UNUSED).await;
    let admin = Admin::login(&s).await;
    // carol signs in through org_temp's connection (her domain is temp.example).
    let (client_id, tokens) = user_tokens(&admin.b, "carol@temp.example", "eng").await;
    let carol = user_of(&tokens);
    let store = &s.app.state.store;
    assert_eq!(
        store
            .find_user(&carol)
            .await
            .unwrap()
            .unwrap()
            .connection_id,
        "conn_temp"
    );
    let refused = admin.post("/admin/connections/conn_temp/delete", &[]).await;
    assert_eq!(refused.status, 409, "carol signed in through it");
    assert_eq!(store.list_consents(&carol).await.unwrap().len(), 1);
    let refresh_hash = portcullis::crypto::hash_secret(tokens["refresh_token"].as_str().unwrap());
    assert!(
        store
            .find_refresh(&refresh_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );

    let page = admin.page("/admin/users").await;
    assert!(page.body.contains(&format!("/admin/users/{carol}/delete")));
    let next = admin
        .post_ok(&format!("/admin/users/{carol}/delete"), &[])
        .await;
    assert!(next.body.contains(&format!("User {carol} deleted.")));
    assert!(store.find_user(&carol).await.unwrap().is_none());
    assert!(store.list_consents(&carol).await.unwrap().is_empty());
    assert!(
        store
            .find_refresh(&refresh_hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some(),
        "revoked, not only orphaned"
    );
    let (status, body) = refresh(&admin.b, &client_id, &tokens).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    let events = s.audit("admin.user.deleted").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id.as_deref(), Some(carol.as_str()));
    assert!(
        !events[0].detail.to_string().contains("carol@"),
        "the trail keeps ids, not the address: {}",
        events[0].detail
    );
    // Nobody has signed in through conn_temp now: it can go.
    admin
        .post_ok("/admin/connections/conn_temp/delete", &[])
        .await;

    // The API: 204, then 404.
    let (_, tokens) = user_tokens(&Browser::new(&s), "alice@example.com", "eng").await;
    let alice = user_of(&tokens);
    let api = bearer(&s).await;
    for expected in [204, 404] {
        let (status, _) = api
            .call(Method::DELETE, &format!("/users/{alice}"), None)
            .await;
        assert_eq!(status.as_u16(), expected);
    }
    let res = reqwest::Client::new()
        .delete(format!("{}/api/v1/admin/users/{alice}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
