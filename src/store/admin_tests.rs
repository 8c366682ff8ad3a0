//! Store contract tests of what the admin pages and API use: admin sessions, the login
//! rate limit, bulk revocation, listings and the audit search. SQLite always, PostgreSQL
//! when `PORTCULLIS_TEST_POSTGRES_URL` is set.

use serde_json::json;

use super::tests::{client, grant, org, resource, simulator, stores};
use super::*;

#[tokio::test]
async fn admin_sessions_end_and_login_failures_count_per_key_and_window() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        s.apply_seed(
            &SeedPlan {
                admins: vec![Admin {
                    username: "root".into(),
                    password_hash: "$argon2id$x".into(),
                }],
                ..Default::default()
            },
            1,
        )
        .await
        .unwrap();
        let session = AdminSession {
            id: "ases_1".into(),
            token_hash: "th".into(),
            username: "root".into(),
            created_at: 10,
            expires_at: 100,
            ended_at: None,
            last_seen_at: 10,
        };
        s.insert_admin_session(&session).await.unwrap();
        assert_eq!(
            s.find_admin_session("th").await.unwrap(),
            Some(session.clone()),
            "{name}"
        );
        assert_eq!(s.find_admin_session("other").await.unwrap(), None, "{name}");
        s.touch_admin_session("ases_1", 15).await.unwrap();
        s.touch_admin_session("ases_1", 12).await.unwrap();
        assert_eq!(
            s.find_admin_session("th")
                .await
                .unwrap()
                .unwrap()
                .last_seen_at,
            15,
            "{name}: a touch never moves the last use back"
        );
        s.end_admin_session("ases_1", 20).await.unwrap();
        s.end_admin_session("ases_1", 30).await.unwrap();
        assert_eq!(
            s.find_admin_session("th").await.unwrap().unwrap().ended_at,
            Some(20),
            "{name}: ended once"
        );
        s.touch_admin_session("ases_1", 25).await.unwrap();
        assert_eq!(
            s.find_admin_session("th")
                .await
                .unwrap()
                .unwrap()
                .last_seen_at,
            15,
            "{name}: an ended session is not touched"
        );

        for at in [5, 10, 15] {
            s.record_login_failure("user:root", at).await.unwrap();
        }
        s.record_login_failure("addr:1.2.3.4", 15).await.unwrap();
        assert_eq!(
            s.count_login_failures("user:root", 0).await.unwrap(),
            3,
            "{name}"
        );
        assert_eq!(
            s.count_login_failures("user:root", 10).await.unwrap(),
            2,
            "{name}"
        );
        assert_eq!(
            s.count_login_failures("addr:1.2.3.4", 0).await.unwrap(),
            1,
            "{name}"
        );
        s.clear_login_failures("user:root").await.unwrap();
        assert_eq!(
            s.count_login_failures("user:root", 0).await.unwrap(),
            0,
            "{name}"
        );
        assert_eq!(
            s.count_login_failures("addr:1.2.3.4", 0).await.unwrap(),
            1,
            "{name}"
        );
    }
}

#[tokio::test]
async fn users_sessions_and_grants_are_revoked_in_bulk_and_rules_deleted() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        s.apply_seed(
            &SeedPlan {
                organizations: vec![org("org_a", &[])],
                connections: vec![simulator("conn_1", "org_a")],
                resources: vec![resource("res_1", "http://127.0.0.1:1/mcp")],
                rules: vec![Rule {
                    id: "rule_1".into(),
                    name: "R".into(),
                    resource_id: "res_1".into(),
                    organization_id: None,
                    conditions: Conditions::from_json(&json!({ "any": true })).unwrap(),
                    grants: vec!["r.read".into()],
                    effect: RuleEffect::Allow,
                    position: 0,
                }],
                ..Default::default()
            },
            1,
        )
        .await
        .unwrap();
        let user = |subject: &str, at: i64| User {
            id: String::new(),
            connection_id: "conn_1".into(),
            organization_id: "org_a".into(),
            subject: subject.into(),
            email: None,
            is_email_verified: false,
            name: None,
            groups: vec![],
            attributes: serde_json::Map::new(),
            is_enabled: true,
            last_login_at: at,
        };
        let alice = s.upsert_user(&user("alice", 5)).await.unwrap();
        let bob = s.upsert_user(&user("bob", 9)).await.unwrap();
        let listed = s.list_users(10).await.unwrap();
        assert_eq!(listed[0].id, bob.id, "{name}: most recent login first");
        assert_eq!(listed.len(), 2, "{name}");

        for (id, u) in [("ses_1", &alice), ("ses_2", &alice), ("ses_3", &bob)] {
            s.insert_session(&Session {
                id: id.into(),
                token_hash: format!("h{id}"),
                user_id: u.id.clone(),
                connection_id: "conn_1".into(),
                organization_id: "org_a".into(),
                auth_time: 1,
                expires_at: 100,
                ended_at: None,
            })
            .await
            .unwrap();
        }
        assert_eq!(
            s.end_user_sessions(&alice.id, 7).await.unwrap(),
            2,
            "{name}"
        );
        assert_eq!(
            s.end_user_sessions(&alice.id, 8).await.unwrap(),
            0,
            "{name}"
        );
        assert!(
            s.find_session_by_token("hses_3")
                .await
                .unwrap()
                .unwrap()
                .ended_at
                .is_none()
        );

        let token = |hash: &str, user_id: &str, client_id: &str| RefreshRecord {
            token_hash: hash.into(),
            family_id: format!("fam_{hash}"),
            grant: Grant {
                user_id: user_id.into(),
                client_id: client_id.into(),
                ..grant()
            },
            created_at: 1,
            expires_at: 100,
            family_expires_at: 100,
            used_at: None,
            revoked_at: None,
            is_family_revoked: false,
        };
        s.insert_refresh(&token("r1", &alice.id, "m2m_a"))
            .await
            .unwrap();
        s.insert_refresh(&token("r2", &bob.id, "m2m_a"))
            .await
            .unwrap();
        s.insert_refresh(&token("r3", &bob.id, "m2m_b"))
            .await
            .unwrap();
        assert_eq!(
            s.revoke_user_grants(&alice.id, 10).await.unwrap(),
            1,
            "{name}"
        );
        assert_eq!(
            s.find_refresh("r1").await.unwrap().unwrap().revoked_at,
            Some(10)
        );
        // Revoking a user's tokens cuts off their access tokens; nobody else's.
        assert_eq!(s.user_tokens_cutoff(&alice.id).await.unwrap(), Some(10));
        assert_eq!(s.user_tokens_cutoff(&bob.id).await.unwrap(), None);
        // A later revocation stamped earlier (another replica's clock) never moves it back.
        s.revoke_user_grants(&alice.id, 5).await.unwrap();
        assert_eq!(s.user_tokens_cutoff(&alice.id).await.unwrap(), Some(10));
        assert_eq!(
            s.revoke_client_grants("m2m_a", 11).await.unwrap(),
            1,
            "{name}"
        );
        assert_eq!(
            s.find_refresh("r2").await.unwrap().unwrap().revoked_at,
            Some(11)
        );
        assert_eq!(s.client_tokens_cutoff("m2m_a").await.unwrap(), Some(11));
        s.revoke_client_grants("m2m_a", 7).await.unwrap();
        assert_eq!(s.client_tokens_cutoff("m2m_a").await.unwrap(), Some(11));
        assert_eq!(
            s.find_refresh("r3").await.unwrap().unwrap().revoked_at,
            None
        );

        assert!(s.delete_rule("rule_1").await.unwrap(), "{name}");
        assert!(!s.delete_rule("rule_1").await.unwrap(), "{name}");
        assert!(s.list_rules("res_1").await.unwrap().is_empty(), "{name}");

        s.upsert_consent(&Consent {
            id: "usrcnst_1".into(),
            user_id: bob.id.clone(),
            client_id: "m2m_b".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            resource_id: "res_1".into(),
            scopes: vec!["r.read".into()],
            created_at: 3,
            revoked_at: None,
        })
        .await
        .unwrap();
        let all = s.list_all_consents(10).await.unwrap();
        assert_eq!(all.len(), 1, "{name}");
        assert_eq!(all[0].user_id, bob.id, "{name}");

        s.insert_client(&client("m2m_c")).await.unwrap();
        s.touch_client("m2m_c", 5000).await.unwrap();
        let used = s.list_client_last_used().await.unwrap();
        assert_eq!(used, vec![("m2m_c".to_string(), Some(5000))], "{name}");

        // Deleting bob revokes his live refresh token; his session and consent go with him.
        assert_eq!(s.delete_user(&bob.id, 12).await.unwrap(), Some(1), "{name}");
        assert!(s.find_user(&bob.id).await.unwrap().is_none(), "{name}");
        assert_eq!(
            s.find_refresh("r3").await.unwrap().unwrap().revoked_at,
            Some(12),
            "{name}"
        );
        assert!(s.find_session_by_token("hses_3").await.unwrap().is_none());
        assert!(s.find_consent_by_id("usrcnst_1").await.unwrap().is_none());
        assert!(s.find_user(&alice.id).await.unwrap().is_some(), "{name}");
        // The cut-off of a deleted user outlives the row.
        assert_eq!(s.user_tokens_cutoff(&bob.id).await.unwrap(), Some(12));
        assert_eq!(s.delete_user(&bob.id, 13).await.unwrap(), None, "{name}");
        assert_eq!(s.user_tokens_cutoff(&bob.id).await.unwrap(), Some(12));
    }
}

#[tokio::test]
async fn the_audit_search_filters_by_every_column_and_time_and_pages() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let ev = |id: &str, at: i64, user: Option<&str>, org: Option<&str>, res: Option<&str>| {
            AuditRecord {
                id: id.into(),
                at,
                kind: "k".into(),
                client_id: Some("m2m_1".into()),
                user_id: user.map(str::to_string),
                organization_id: org.map(str::to_string),
                resource_id: res.map(str::to_string),
                detail: json!({}),
            }
        };
        s.insert_audit_events(&[
            ev("evt_1", 10, Some("usr_1"), Some("org_a"), None),
            ev("evt_2", 20, Some("usr_2"), Some("org_a"), Some("res_1")),
            ev("evt_3", 30, Some("usr_1"), None, Some("res_1")),
            ev("evt_4", 40, None, Some("org_b"), None),
        ])
        .await
        .unwrap();
        let ids = |found: Vec<AuditRecord>| found.into_iter().map(|e| e.id).collect::<Vec<_>>();
        let search = |f: AuditSearch| {
            let s = &s;
            async move {
                ids(s
                    .search_audit_events(&AuditSearch { limit: 10, ..f })
                    .await
                    .unwrap())
            }
        };
        assert_eq!(
            search(AuditSearch {
                user_id: Some("usr_1".into()),
                ..Default::default()
            })
            .await,
            ["evt_3", "evt_1"],
            "{name}"
        );
        assert_eq!(
            search(AuditSearch {
                organization_id: Some("org_a".into()),
                ..Default::default()
            })
            .await,
            ["evt_2", "evt_1"],
            "{name}"
        );
        assert_eq!(
            search(AuditSearch {
                resource_id: Some("res_1".into()),
                ..Default::default()
            })
            .await,
            ["evt_3", "evt_2"],
            "{name}"
        );
        assert_eq!(
            search(AuditSearch {
                since: Some(20),
                until: Some(30),
                ..Default::default()
            })
            .await,
            ["evt_3", "evt_2"],
            "{name}"
        );
        let page = s
            .search_audit_events(&AuditSearch {
                offset: 1,
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(ids(page), ["evt_3", "evt_2"], "{name}: newest first, paged");
    }
}

#[tokio::test]
async fn only_what_nothing_refers_to_is_deleted_and_nothing_else_goes_with_it() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        s.apply_seed(
            &SeedPlan {
                organizations: vec![org("org_a", &["a.test"]), org("org_b", &["b.test"])],
                connections: vec![
                    simulator("conn_used", "org_a"),
                    simulator("conn_new", "org_a"),
                ],
                resources: vec![
                    resource("res_ruled", "http://127.0.0.1:1/a"),
                    resource("res_listed", "http://127.0.0.1:1/b"),
                    resource("res_3", "http://127.0.0.1:1/c"),
                    resource("res_consented", "http://127.0.0.1:1/d"),
                ],
                rules: vec![Rule {
                    id: "rule_1".into(),
                    name: "R".into(),
                    resource_id: "res_ruled".into(),
                    organization_id: Some("org_a".into()),
                    conditions: Conditions::from_json(&json!({ "any": true })).unwrap(),
                    grants: vec!["r.read".into()],
                    effect: RuleEffect::Allow,
                    position: 0,
                }],
                ..Default::default()
            },
            1,
        )
        .await
        .unwrap();
        // A client listing res_listed, and "resx3" (which `res_3` must not match as LIKE).
        let mut listing = client("m2m_listing");
        listing.resources = vec!["res_listed".into(), "resx3".into()];
        s.insert_client(&listing).await.unwrap();
        let user = s
            .upsert_user(&User {
                id: String::new(),
                connection_id: "conn_used".into(),
                organization_id: "org_a".into(),
                subject: "alice".into(),
                email: None,
                is_email_verified: false,
                name: None,
                groups: vec![],
                attributes: serde_json::Map::new(),
                is_enabled: true,
                last_login_at: 2,
            })
            .await
            .unwrap();
        let consent = s
            .upsert_consent(&Consent {
                id: "cns_1".into(),
                user_id: user.id.clone(),
                client_id: "m2m_listing".into(),
                redirect_uri: "http://127.0.0.1/cb".into(),
                resource_id: "res_consented".into(),
                scopes: vec!["r.read".into()],
                created_at: 2,
                revoked_at: None,
            })
            .await
            .unwrap();

        let in_use = |uses: &[&str]| Deletion::InUse(uses.iter().map(|u| u.to_string()).collect());
        assert_eq!(
            s.delete_organization("org_a").await.unwrap(),
            in_use(&["2 connections", "1 user", "1 rule"]),
            "{name}"
        );
        assert_eq!(
            s.delete_connection("conn_used").await.unwrap(),
            in_use(&["1 user signed in through it"]),
            "{name}"
        );
        assert_eq!(
            s.delete_resource("res_ruled").await.unwrap(),
            in_use(&["1 rule"]),
            "{name}"
        );
        assert_eq!(
            s.delete_resource("res_listed").await.unwrap(),
            in_use(&["1 client"]),
            "{name}"
        );
        assert_eq!(
            s.delete_resource("res_consented").await.unwrap(),
            in_use(&["1 consent"]),
            "{name}"
        );
        // Refused deletes changed nothing.
        assert!(s.find_organization("org_a").await.unwrap().is_some());
        assert!(s.find_user(&user.id).await.unwrap().is_some());
        assert_eq!(s.list_rules("res_ruled").await.unwrap().len(), 1);
        assert!(s.find_client("m2m_listing").await.unwrap().is_some());
        assert!(s.find_consent_by_id(&consent.id).await.unwrap().is_some());

        // Unused ones go, with their domains (free for another organization).
        assert_eq!(
            s.delete_resource("res_3").await.unwrap(),
            Deletion::Deleted,
            "{name}: `_` is no LIKE wildcard"
        );
        assert_eq!(
            s.delete_connection("conn_new").await.unwrap(),
            Deletion::Deleted
        );
        assert_eq!(
            s.delete_organization("org_b").await.unwrap(),
            Deletion::Deleted
        );
        assert!(s.find_organization("org_b").await.unwrap().is_none());
        assert!(
            s.find_organization_by_domain("b.test")
                .await
                .unwrap()
                .is_none()
        );
        assert!(s.find_connection("conn_new").await.unwrap().is_none());
        assert!(s.find_resource("res_3").await.unwrap().is_none());
        s.apply_seed(
            &SeedPlan {
                organizations: vec![org("org_c", &["b.test"])],
                ..Default::default()
            },
            3,
        )
        .await
        .unwrap();
        for missing in [
            s.delete_organization("org_b").await.unwrap(),
            s.delete_connection("conn_new").await.unwrap(),
            s.delete_resource("res_3").await.unwrap(),
        ] {
            assert_eq!(missing, Deletion::NotFound, "{name}");
        }

        // A revoked consent no longer holds its resource.
        s.revoke_consent(&consent.id, 4).await.unwrap();
        assert_eq!(
            s.delete_resource("res_consented").await.unwrap(),
            Deletion::Deleted,
            "{name}"
        );
    }
}

/// A user signing in through a connection while an admin deletes it: the user is counted
/// (PostgreSQL locks the row first) or the delete fails (SQLite), and the foreign key's
/// cascade never takes the new user away.
#[tokio::test]
async fn a_reference_added_during_a_delete_is_never_cascaded_away() {
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
        let mut tx = s.pool().begin().await.unwrap();
        sqlx::query(
            "INSERT INTO users (id, connection_id, organization_id, subject, email, \
             email_verified, name, groups_json, attributes, enabled, created_at, last_login_at) \
             VALUES ('usr_new', 'conn_1', 'org_a', 'new', NULL, 0, NULL, '[]', '{}', 1, 2, 2)",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        let deleting = {
            let s = s.clone();
            tokio::spawn(async move { s.delete_connection("conn_1").await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        tx.commit().await.unwrap();
        let outcome = deleting.await.unwrap();
        assert!(
            s.find_user("usr_new").await.unwrap().is_some(),
            "{name}: the new user is still there ({outcome:?})"
        );
        assert!(
            s.find_connection("conn_1").await.unwrap().is_some(),
            "{name}"
        );
        if name == "postgres" {
            assert_eq!(
                outcome.unwrap(),
                Deletion::InUse(vec!["1 user signed in through it".into()]),
            );
        } else {
            assert!(
                !matches!(outcome, Ok(Deletion::Deleted)),
                "{name}: {outcome:?}"
            );
        }
    }
}
