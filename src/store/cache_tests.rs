//! Store contract tests of the client and resource caches: another replica's write is seen
//! once the entry expires, a write through the store by its very next read. SQLite always,
//! PostgreSQL when `PORTCULLIS_TEST_POSTGRES_URL` is set.
//!
//! The stores here are replicas ([`SqlStore::replica`]) whose entries outlive the test, so
//! a stale read is a cache hit and never a matter of timing: each test first shows that
//! another replica's write is not seen, then that this store's own write is.

use std::time::Duration;

use super::tests::{client, resource, stores};
use super::*;

const LONG: Duration = Duration::from_secs(3600);

fn named(id: &str, kind: ClientKind, name: &str) -> Client {
    Client {
        kind,
        name: name.into(),
        ..client(id)
    }
}

async fn client_name(s: &SqlStore, id: &str) -> Option<String> {
    s.find_client(id).await.unwrap().map(|c| c.name)
}

fn seed_resource(ttl: i64) -> SeedPlan {
    SeedPlan {
        resources: vec![Resource {
            access_token_ttl: ttl,
            ..resource("res_1", "http://127.0.0.1:1/mcp")
        }],
        ..Default::default()
    }
}

/// The resource's access-token lifetime as `s` reads it by id and by URL.
async fn resource_ttls(s: &SqlStore) -> (Option<i64>, Option<i64>) {
    let by_id = s.find_resource("res_1").await.unwrap();
    let by_url = s
        .find_resource_by_url("http://127.0.0.1:1/mcp")
        .await
        .unwrap();
    (
        by_id.map(|r| r.access_token_ttl),
        by_url.map(|r| r.access_token_ttl),
    )
}

#[tokio::test]
async fn another_replicas_change_is_seen_within_a_second_and_misses_are_not_cached() {
    let (stores, _dir) = stores().await;
    for (name, here) in stores {
        let there = here.replica(LONG);
        assert_eq!(resource_ttls(&here).await, (None, None), "{name}");
        there.apply_seed(&seed_resource(100), 1).await.unwrap();
        assert_eq!(
            resource_ttls(&here).await,
            (Some(100), Some(100)),
            "{name}: a miss is not cached"
        );
        there.apply_seed(&seed_resource(200), 2).await.unwrap();
        assert_eq!(resource_ttls(&here).await, (Some(100), Some(100)), "{name}");
        tokio::time::sleep(Duration::from_millis(1050)).await;
        assert_eq!(resource_ttls(&here).await, (Some(200), Some(200)), "{name}");
    }
}

#[tokio::test]
async fn client_writes_through_the_store_are_read_back_at_once() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let (here, there) = (s.replica(LONG), s.replica(LONG));
        here.insert_client(&named("dcr_1", ClientKind::Dynamic, "v1"))
            .await
            .unwrap();
        assert_eq!(client_name(&here, "dcr_1").await.as_deref(), Some("v1"));

        there
            .upsert_client(&named("dcr_1", ClientKind::Dynamic, "v2"))
            .await
            .unwrap();
        assert_eq!(
            client_name(&here, "dcr_1").await.as_deref(),
            Some("v1"),
            "{name}: the entry is cached"
        );
        here.upsert_client(&named("dcr_1", ClientKind::Dynamic, "v3"))
            .await
            .unwrap();
        assert_eq!(
            client_name(&here, "dcr_1").await.as_deref(),
            Some("v3"),
            "{name}: upsert_client"
        );

        let doc = "https://app.example/client.json";
        there
            .upsert_client(&named(doc, ClientKind::Metadata, "m1"))
            .await
            .unwrap();
        assert_eq!(client_name(&here, doc).await.as_deref(), Some("m1"));
        assert!(
            here.store_metadata_client(&named(doc, ClientKind::Metadata, "m2"), 10)
                .await
                .unwrap()
        );
        assert_eq!(
            client_name(&here, doc).await.as_deref(),
            Some("m2"),
            "{name}: store_metadata_client"
        );

        // Each write clears every entry: the entry read back is cached again first.
        assert_eq!(client_name(&here, "dcr_1").await.as_deref(), Some("v3"));
        here.apply_seed(
            &SeedPlan {
                clients: vec![named("dcr_1", ClientKind::Static, "seeded again")],
                ..Default::default()
            },
            3,
        )
        .await
        .unwrap();
        assert_eq!(
            client_name(&here, "dcr_1").await.as_deref(),
            Some("seeded again"),
            "{name}: apply_seed"
        );

        assert!(here.delete_client("dcr_1").await.unwrap());
        assert_eq!(
            client_name(&here, "dcr_1").await,
            None,
            "{name}: delete_client"
        );

        assert_eq!(client_name(&here, doc).await.as_deref(), Some("m2"));
        let reaped = here.reap_idle_clients(i64::MAX, 0).await.unwrap();
        assert_eq!(reaped, [doc], "{name}");
        assert_eq!(
            client_name(&here, doc).await,
            None,
            "{name}: reap_idle_clients"
        );
    }
}

#[tokio::test]
async fn resource_writes_through_the_store_are_read_back_at_once() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let (here, there) = (s.replica(LONG), s.replica(LONG));
        here.apply_seed(&seed_resource(100), 1).await.unwrap();
        assert_eq!(resource_ttls(&here).await, (Some(100), Some(100)));

        there.apply_seed(&seed_resource(200), 2).await.unwrap();
        assert_eq!(
            resource_ttls(&here).await,
            (Some(100), Some(100)),
            "{name}: the entries are cached"
        );
        here.apply_seed(&seed_resource(300), 3).await.unwrap();
        assert_eq!(
            resource_ttls(&here).await,
            (Some(300), Some(300)),
            "{name}: apply_seed"
        );

        // Deleting a resource clears the client cache too (bound clients would go with it).
        here.insert_client(&named("dcr_1", ClientKind::Dynamic, "v1"))
            .await
            .unwrap();
        assert_eq!(client_name(&here, "dcr_1").await.as_deref(), Some("v1"));
        there
            .upsert_client(&named("dcr_1", ClientKind::Dynamic, "v2"))
            .await
            .unwrap();
        assert_eq!(
            here.delete_resource("res_1").await.unwrap(),
            Deletion::Deleted,
            "{name}"
        );
        assert_eq!(
            resource_ttls(&here).await,
            (None, None),
            "{name}: delete_resource"
        );
        assert_eq!(
            client_name(&here, "dcr_1").await.as_deref(),
            Some("v2"),
            "{name}: delete_resource clears the clients too"
        );
    }
}
