//! Store contract tests: each behaviour runs on SQLite always, and on PostgreSQL (a
//! freshly created database) when `PORTCULLIS_TEST_POSTGRES_URL` is set.

use serde_json::json;

pub(super) use super::test_databases::stores;
use super::*;

fn migration_names(dir: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dir);
    let mut names: Vec<String> = std::fs::read_dir(path)
        .expect("migrations folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn both_migration_folders_list_the_same_files() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
}

pub(super) fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        name: "Client <b>".into(),
        kind: ClientKind::Dynamic,
        secret_hash: Some("ab".repeat(32)),
        secret_expires_at: 0,
        token_endpoint_auth_method: "client_secret_basic".into(),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        grant_types: vec!["authorization_code".into()],
        resources: vec![],
        bound_resource_id: None,
        scopes: vec!["a".into()],
        has_introspection: true,
        pkce: crate::store::PkceMode::Required,
        organization_id: None,
        settings: serde_json::json!({}),
        application_type: "web".into(),
        metadata: json!({ "client_name": "Client <b>" }),
        created_at: 1_700_000_000,
    }
}

pub(super) fn resource(id: &str, url: &str) -> Resource {
    Resource {
        id: id.into(),
        name: "R".into(),
        server_url: url.into(),
        access_token_ttl: 300,
        refresh_token_ttl: 86_400,
        is_dcr_enabled: true,
        is_cimd_enabled: false,
        token_issuer: crate::store::TokenIssuer::Resource,
        is_xaa_enabled: false,
        refresh_tokens: crate::store::RefreshPolicy::Always,
        cimd_allowlist: vec!["https://a.example/*".into()],
        scopes: vec![ScopeDef {
            name: "r.read".into(),
            description: "Read".into(),
        }],
    }
}

/// An enabled IdP simulator connection of `org`.
pub(super) fn simulator(id: &str, org: &str) -> Connection {
    Connection {
        id: id.into(),
        organization_id: org.into(),
        kind: ConnectionKind::IdpSimulator,
        is_enabled: true,
        settings: json!({}),
    }
}

pub(super) fn org(id: &str, domains: &[&str]) -> Organization {
    Organization {
        id: id.into(),
        display_name: id.into(),
        external_id: None,
        domains: domains.iter().map(|d| d.to_string()).collect(),
        is_enabled: true,
        initiate_login_uri: None,
    }
}

#[tokio::test]
async fn clients_round_trip_and_ids_are_unique() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let c = client("m2m_1");
        s.insert_client(&c).await.unwrap();
        assert_eq!(
            s.find_client("m2m_1").await.unwrap(),
            Some(c.clone()),
            "{name}"
        );
        assert_eq!(s.find_client("m2m_2").await.unwrap(), None, "{name}");
        let dup = s.insert_client(&c).await.unwrap_err();
        assert!(matches!(dup, StoreError::Conflict(_)), "{name}: {dup:?}");
        assert_eq!(s.list_clients().await.unwrap().len(), 1, "{name}");
        s.ping().await.unwrap();
    }
}

#[tokio::test]
async fn signing_keys_list_in_activation_then_insertion_order() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let key = |id: &str, activate_at: i64| SigningKeyRecord {
            id: id.into(),
            alg: "RS256".into(),
            public_jwk: "{}".into(),
            private_key: "v1.x.y".into(),
            created_at: 100,
            activate_at,
        };
        s.insert_signing_key(&key("snk_b", 100)).await.unwrap();
        s.insert_signing_key(&key("snk_a", 100)).await.unwrap();
        s.insert_signing_key(&key("snk_c", 50)).await.unwrap();
        let ids: Vec<String> = s
            .list_signing_keys()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(ids, ["snk_c", "snk_b", "snk_a"], "{name}");
        assert!(
            matches!(
                s.insert_signing_key(&key("snk_a", 1)).await,
                Err(StoreError::Conflict(_))
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn seed_upserts_by_id_and_replaces_domains() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let mut plan = SeedPlan {
            organizations: vec![org("org_a", &["a.example", "b.example"])],
            resources: vec![resource("res_1", "http://127.0.0.1:1/mcp")],
            ..Default::default()
        };
        s.apply_seed(&plan, 10).await.unwrap();
        plan.organizations[0].domains = vec!["c.example".into()];
        plan.organizations[0].display_name = "A renamed".into();
        plan.resources[0].access_token_ttl = 120;
        s.apply_seed(&plan, 20).await.unwrap();
        let orgs = s.list_organizations().await.unwrap();
        assert_eq!(orgs.len(), 1, "{name}");
        assert_eq!(orgs[0].display_name, "A renamed", "{name}");
        assert_eq!(orgs[0].domains, ["c.example"], "{name}");
        let r = s
            .find_resource_by_url("http://127.0.0.1:1/mcp")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.access_token_ttl, 120, "{name}");
        assert_eq!(r.cimd_allowlist, ["https://a.example/*"], "{name}");
        assert_eq!(s.find_resource("res_1").await.unwrap(), Some(r), "{name}");
    }
}

#[tokio::test]
async fn a_failing_seed_changes_nothing() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        s.apply_seed(
            &SeedPlan {
                organizations: vec![org("org_a", &["a.example"])],
                ..Default::default()
            },
            1,
        )
        .await
        .unwrap();
        // A new resource, then an organization claiming org_a's domain: all or nothing.
        let bad = SeedPlan {
            resources: vec![resource("res_new", "http://127.0.0.1:2/mcp")],
            organizations: vec![org("org_b", &["a.example"])],
            ..Default::default()
        };
        let err = s.apply_seed(&bad, 2).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{name}: {err:?}");
        assert_eq!(
            s.find_resource("res_new").await.unwrap(),
            None,
            "{name}: rolled back"
        );
        assert_eq!(s.list_organizations().await.unwrap().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn rules_connections_and_admins_round_trip() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let plan = SeedPlan {
            organizations: vec![org("org_a", &[])],
            connections: vec![Connection {
                id: "conn_1".into(),
                organization_id: "org_a".into(),
                kind: ConnectionKind::Oidc,
                is_enabled: false,
                settings: json!({ "issuer": "https://idp.example" }),
            }],
            resources: vec![resource("res_1", "http://127.0.0.1:1/mcp")],
            rules: vec![Rule {
                id: "rule_1".into(),
                name: "Deny g".into(),
                resource_id: "res_1".into(),
                organization_id: Some("org_a".into()),
                conditions: Conditions::from_json(&json!({ "group": "g" })).unwrap(),
                grants: vec!["r.read".into()],
                effect: RuleEffect::Deny,
                position: 0,
            }],
            admins: vec![Admin {
                username: "root".into(),
                password_hash: "$argon2id$x".into(),
            }],
            ..Default::default()
        };
        s.apply_seed(&plan, 1).await.unwrap();
        assert_eq!(
            s.list_connections().await.unwrap(),
            plan.connections,
            "{name}"
        );
        assert_eq!(s.list_rules("res_1").await.unwrap(), plan.rules, "{name}");
        assert_eq!(
            s.find_admin("root").await.unwrap(),
            Some(plan.admins[0].clone()),
            "{name}"
        );
        assert_eq!(s.find_admin("nobody").await.unwrap(), None, "{name}");
    }
}

/// A stored kind, effect or condition nobody knows is a corrupt row, named, not a panic
/// and not a rule or connection silently read as something else.
#[tokio::test]
async fn unknown_stored_kinds_effects_and_conditions_are_corrupt_rows() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let plan = SeedPlan {
            organizations: vec![org("org_a", &[])],
            connections: vec![simulator("conn_1", "org_a")],
            resources: vec![resource("res_1", "http://127.0.0.1:1/mcp")],
            rules: vec![Rule {
                id: "rule_1".into(),
                name: String::new(),
                resource_id: "res_1".into(),
                organization_id: None,
                conditions: Conditions::from_json(&json!({ "any": true })).unwrap(),
                grants: vec!["r.read".into()],
                effect: RuleEffect::Allow,
                position: 0,
            }],
            ..Default::default()
        };
        s.apply_seed(&plan, 1).await.unwrap();
        let corrupt = |e: StoreError, wanted: &str| match e {
            StoreError::Corrupt(m) => assert!(m.contains(wanted), "{name}: {m}"),
            other => panic!("{name}: {other:?}"),
        };
        let pool = s.pool().clone();
        let set = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
        };

        set("UPDATE connections SET kind = 'ldap' WHERE id = 'conn_1'").await;
        corrupt(s.find_connection("conn_1").await.unwrap_err(), "`ldap`");
        corrupt(s.list_connections().await.unwrap_err(), "`ldap`");

        set("UPDATE rules SET effect = 'Allow' WHERE id = 'rule_1'").await;
        corrupt(s.list_rules("res_1").await.unwrap_err(), "effect `Allow`");

        set("UPDATE rules SET effect = 'deny', conditions = '{\"any\":false}' WHERE id = 'rule_1'")
            .await;
        corrupt(
            s.list_rules("res_1").await.unwrap_err(),
            "`any` must be true",
        );

        set("UPDATE rules SET conditions = '{\"role\":\"admin\"}' WHERE id = 'rule_1'").await;
        corrupt(
            s.list_rules("res_1").await.unwrap_err(),
            "unknown condition `role`",
        );
    }
}

#[tokio::test]
async fn audit_events_filter_and_order() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let ev = |id: &str, at: i64, kind: &str, client: Option<&str>| AuditRecord {
            id: id.into(),
            at,
            kind: kind.into(),
            client_id: client.map(str::to_string),
            user_id: None,
            organization_id: None,
            resource_id: Some("res_1".into()),
            detail: json!({ "n": at }),
        };
        s.insert_audit_events(&[
            ev("evt_1", 1, "token.issued", Some("m2m_a")),
            ev("evt_2", 2, "token.refused", Some("m2m_b")),
            ev("evt_3", 3, "token.issued", Some("m2m_b")),
        ])
        .await
        .unwrap();
        let all = s.list_audit_events(&AuditFilter::default()).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["evt_3", "evt_2", "evt_1"],
            "{name}"
        );
        let issued = s
            .list_audit_events(&AuditFilter {
                kind: Some("token.issued".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(issued.len(), 2, "{name}");
        let b = s
            .list_audit_events(&AuditFilter {
                client_id: Some("m2m_b".into()),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(b.len(), 1, "{name}");
        assert_eq!(b[0].id, "evt_3", "{name}");
        assert_eq!(b[0].detail, json!({ "n": 3 }), "{name}");
    }
}

pub(super) fn grant() -> Grant {
    Grant {
        client_id: "m2m_1".into(),
        user_id: "usr_1".into(),
        session_id: "ses_1".into(),
        organization_id: "org_a".into(),
        connection_id: "conn_1".into(),
        resource_id: "res_1".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        issuer: "http://127.0.0.1:8080".into(),
        scopes: vec!["r.read".into()],
        oidc_scopes: vec![],
        code_challenge: Some("x".repeat(43)),
        target: crate::store::GrantTarget::Resource,
        nonce: None,
        auth_time: 1,
    }
}

#[tokio::test]
async fn saml_assertion_ids_are_accepted_once_per_connection_until_they_expire() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        assert!(
            s.remember_assertion("conn_a", "_id1", 100).await.unwrap(),
            "{name}"
        );
        assert!(
            !s.remember_assertion("conn_a", "_id1", 100).await.unwrap(),
            "{name}: a replay"
        );
        assert!(
            s.remember_assertion("conn_b", "_id1", 100).await.unwrap(),
            "{name}: another connection's IdP has its own IDs"
        );
        s.purge_expired(100).await.unwrap();
        assert!(
            !s.remember_assertion("conn_a", "_id1", 100).await.unwrap(),
            "{name}: kept while it could still be valid"
        );
        s.purge_expired(101).await.unwrap();
        assert!(
            s.remember_assertion("conn_a", "_id1", 200).await.unwrap(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_upstream_login_is_found_without_being_used_and_taken_once() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let login = crate::store::UpstreamLogin {
            state_hash: "h1".into(),
            connection_id: "conn_a".into(),
            pending_id: "req_1".into(),
            browser_hash: "b1".into(),
            secrets: "sealed".into(),
            created_at: 10,
            expires_at: 610,
            used_at: None,
        };
        s.insert_upstream_login(&login).await.unwrap();
        assert!(
            s.find_upstream_login("h2").await.unwrap().is_none(),
            "{name}"
        );
        for _ in 0..2 {
            let found = s.find_upstream_login("h1").await.unwrap();
            assert_eq!(
                found.as_ref(),
                Some(&login),
                "{name}: finding uses nothing up"
            );
        }
        assert!(matches!(
            s.take_upstream_login("h1", 20).await.unwrap(),
            Taken::Fresh(_)
        ));
        let used = s.find_upstream_login("h1").await.unwrap().unwrap();
        assert_eq!(used.used_at, Some(20), "{name}");
        assert!(matches!(
            s.take_upstream_login("h1", 30).await.unwrap(),
            Taken::Replayed(_)
        ));
    }
}

#[tokio::test]
async fn users_upsert_by_connection_and_subject_and_consents_by_client_redirect_resource() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        s.apply_seed(
            &SeedPlan {
                organizations: vec![org("org_a", &[])],
                connections: vec![simulator("conn_1", "org_a")],
                ..Default::default()
            },
            1,
        )
        .await
        .unwrap();
        let mut u = User {
            id: String::new(),
            connection_id: "conn_1".into(),
            organization_id: "org_a".into(),
            subject: "alice".into(),
            email: Some("alice@a.example".into()),
            is_email_verified: true,
            name: None,
            groups: vec!["g1".into()],
            attributes: serde_json::Map::new(),
            is_enabled: true,
            last_login_at: 1,
        };
        let first = s.upsert_user(&u).await.unwrap();
        assert!(first.id.starts_with("usr_"), "{name}");
        u.groups = vec![];
        u.last_login_at = 2;
        let second = s.upsert_user(&u).await.unwrap();
        assert_eq!(second.id, first.id, "{name}: same person");
        assert!(second.groups.is_empty(), "{name}: groups updated at login");
        s.set_user_enabled(&first.id, true, 3).await.unwrap();
        assert_eq!(
            s.user_tokens_cutoff(&first.id).await.unwrap(),
            None,
            "{name}: enabling cuts nothing off"
        );
        s.set_user_enabled(&first.id, false, 4).await.unwrap();
        assert_eq!(
            s.user_tokens_cutoff(&first.id).await.unwrap(),
            Some(4),
            "{name}: disabling cuts off the user's access tokens"
        );
        s.set_user_enabled("usr_nobody", false, 4).await.unwrap();
        assert_eq!(s.user_tokens_cutoff("usr_nobody").await.unwrap(), None);
        u.groups = vec!["g2".into()];
        u.last_login_at = 3;
        let third = s.upsert_user(&u).await.unwrap();
        assert_eq!(third.id, first.id, "{name}");
        assert!(
            !third.is_enabled,
            "{name}: a login does not re-enable a disabled user"
        );
        assert!(
            third.groups.is_empty() && third.last_login_at == 2,
            "{name}: a refused login leaves the disabled user as it was"
        );

        let c = Consent {
            id: "usrcnst_1".into(),
            user_id: first.id.clone(),
            client_id: "m2m_1".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            resource_id: "res_1".into(),
            scopes: vec!["r.read".into()],
            created_at: 1,
            revoked_at: None,
        };
        s.upsert_consent(&c).await.unwrap();
        assert!(s.revoke_consent("usrcnst_1", 2).await.unwrap(), "{name}");
        assert!(!s.revoke_consent("usrcnst_1", 3).await.unwrap(), "{name}");
        let renewed = s
            .upsert_consent(&Consent {
                id: "usrcnst_2".into(),
                ..c.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            renewed.id, "usrcnst_1",
            "{name}: one consent per user, client, redirect URI, resource"
        );
        assert_eq!(renewed.revoked_at, None, "{name}");
        assert!(
            s.find_consent(&first.id, "m2m_1", "http://127.0.0.1/other", "res_1")
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn audit_events_of_one_second_list_newest_first() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let ev = |id: &str| AuditRecord {
            id: id.into(),
            at: 7,
            kind: "k".into(),
            client_id: None,
            user_id: None,
            organization_id: None,
            resource_id: None,
            detail: json!({}),
        };
        // Ids sort the other way round from insertion: the sequence decides.
        s.insert_audit_events(&[ev("evt_9")]).await.unwrap();
        s.insert_audit_events(&[ev("evt_5"), ev("evt_1")])
            .await
            .unwrap();
        let listed = s.list_audit_events(&AuditFilter::default()).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["evt_1", "evt_5", "evt_9"], "{name}");
    }
}
