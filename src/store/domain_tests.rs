//! Store contract test of an organization's domain list and its SAML users' verified
//! addresses (a SAML IdP vouches only for its organization's domains). SQLite always,
//! PostgreSQL when `PORTCULLIS_TEST_POSTGRES_URL` is set.

use super::tests::{org, simulator, stores};
use super::*;

fn user(connection_id: &str, organization_id: &str, email: Option<&str>) -> User {
    User {
        id: String::new(),
        connection_id: connection_id.into(),
        organization_id: organization_id.into(),
        subject: format!("{connection_id}:{}", email.unwrap_or("none")),
        email: email.map(str::to_string),
        is_email_verified: email.is_some(),
        name: None,
        groups: vec![],
        attributes: serde_json::Map::new(),
        is_enabled: true,
        last_login_at: 1,
    }
}

#[tokio::test]
async fn a_domain_given_up_unverifies_the_saml_addresses_there_and_nothing_else() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let saml = |id: &str, org: &str| Connection {
            kind: ConnectionKind::Saml,
            ..simulator(id, org)
        };
        let mut plan = SeedPlan {
            organizations: vec![
                org("org_a", &["x.example", "y.example"]),
                org("org_b", &["b.example"]),
            ],
            connections: vec![
                saml("conn_a", "org_a"),
                simulator("conn_sim", "org_a"),
                saml("conn_b", "org_b"),
            ],
            ..Default::default()
        };
        s.apply_seed(&plan, 10).await.unwrap();
        let users = [
            ("conn_a", "org_a", Some("keep@y.example")),
            ("conn_a", "org_a", Some("UPPER@Y.Example")),
            ("conn_a", "org_a", Some("gone@x.example")),
            ("conn_a", "org_a", Some("a@evil-y.example")),
            ("conn_a", "org_a", Some("a@sub.y.example")),
            ("conn_a", "org_a", Some("y.example")),
            ("conn_a", "org_a", Some("@")),
            ("conn_a", "org_a", None),
            ("conn_sim", "org_a", Some("simulated@x.example")),
            ("conn_b", "org_b", Some("other-org@x.example")),
        ];
        for (conn, organization, email) in users {
            s.upsert_user(&user(conn, organization, email))
                .await
                .unwrap();
        }

        // org_a gives up x.example (y.example stays), as an admin's edit of org_a alone does.
        // (org_b's user is verified in x.example only by this fixture, never by a sign-in: it
        // shows that org_a's edit touches org_a's users only.)
        plan.organizations = vec![org("org_a", &["y.example"])];
        plan.connections.clear();
        s.apply_seed(&plan, 20).await.unwrap();

        let mut verified: Vec<String> = s
            .list_users(100)
            .await
            .unwrap()
            .into_iter()
            .filter(|u| u.is_email_verified)
            .filter_map(|u| u.email)
            .collect();
        verified.sort();
        assert_eq!(
            verified,
            [
                "UPPER@Y.Example",     // a kept domain, whatever the case
                "keep@y.example",      // a kept domain
                "other-org@x.example", // another organization's user
                "simulated@x.example", // not a SAML connection
            ],
            "{name}"
        );
    }
}
