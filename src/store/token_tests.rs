//! Store contract tests for codes, token families and refresh rotation, on SQLite always
//! and on PostgreSQL when `PORTCULLIS_TEST_POSTGRES_URL` is set.

use std::sync::Arc;

use super::tests::{grant, stores};
use super::*;

fn family(id: &str) -> NewFamily {
    NewFamily {
        id: id.into(),
        client_id: "m2m_1".into(),
        user_id: "usr_1".into(),
        created_at: 10,
        expires_at: 10_000,
    }
}

fn code(hash: &str, family_id: &str) -> CodeRecord {
    CodeRecord {
        code_hash: hash.into(),
        grant: grant(),
        created_at: 10,
        expires_at: 70,
        used_at: None,
        access_jti: None,
        family_id: Some(family_id.into()),
        is_family_revoked: false,
    }
}

fn refresh(hash: &str, family_id: &str) -> RefreshRecord {
    RefreshRecord {
        token_hash: hash.into(),
        family_id: family_id.into(),
        grant: grant(),
        created_at: 10,
        expires_at: 5_000,
        family_expires_at: 5_000,
        used_at: None,
        revoked_at: None,
        is_family_revoked: false,
    }
}

fn issuance(family_id: &str, jti: &str, refresh_hash: Option<&str>) -> Issuance {
    Issuance {
        family: family(family_id),
        access_jti: jti.into(),
        access_expires_at: 400,
        refresh: refresh_hash.map(|h| refresh(h, family_id)),
    }
}

#[tokio::test]
async fn codes_are_redeemed_once_with_their_tokens_and_replays_are_recognised() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        s.insert_code(&code("h1", "fam_a"), &family("fam_a"))
            .await
            .unwrap();
        let found = s.find_code("h1").await.unwrap().unwrap();
        assert_eq!(found.grant, grant(), "{name}");
        assert_eq!(found.family_id.as_deref(), Some("fam_a"), "{name}");
        assert!(
            found.used_at.is_none() && !found.is_family_revoked,
            "{name}"
        );
        assert_eq!(
            s.access_token_status("tkn_1").await.unwrap(),
            AccessTokenStatus::Unrecorded,
            "{name}"
        );

        let issued = issuance("fam_a", "tkn_1", Some("r1"));
        assert_eq!(
            s.redeem_code("h1", 20, &issued).await.unwrap(),
            Redeemed::Done,
            "{name}"
        );
        assert_eq!(
            s.access_token_status("tkn_1").await.unwrap(),
            AccessTokenStatus::LiveFamily,
            "{name}"
        );
        assert!(s.find_refresh("r1").await.unwrap().is_some(), "{name}");
        // A second redemption stores nothing and returns the used record.
        match s
            .redeem_code("h1", 21, &issuance("fam_a", "tkn_2", Some("r2")))
            .await
            .unwrap()
        {
            Redeemed::Used(c) => {
                assert_eq!(c.used_at, Some(20), "{name}");
                assert_eq!(c.access_jti.as_deref(), Some("tkn_1"), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(s.find_refresh("r2").await.unwrap().is_none(), "{name}");
        assert_eq!(
            s.access_token_status("tkn_2").await.unwrap(),
            AccessTokenStatus::Unrecorded,
            "{name}"
        );
        assert_eq!(
            s.redeem_code("nope", 22, &issued).await.unwrap(),
            Redeemed::Missing,
            "{name}"
        );

        // The replay revokes the family: its access token and refresh token die.
        s.revoke_family("fam_a", 23).await.unwrap();
        assert_eq!(
            s.access_token_status("tkn_1").await.unwrap(),
            AccessTokenStatus::Revoked,
            "{name}"
        );
        let r1 = s.find_refresh("r1").await.unwrap().unwrap();
        assert!(r1.is_family_revoked && r1.revoked_at == Some(23), "{name}");
        assert!(
            s.find_code("h1").await.unwrap().unwrap().is_family_revoked,
            "{name}"
        );

        // Kept until it expires (and an hour more), then purged.
        s.purge_expired(70 + 3600).await.unwrap();
        assert!(s.find_code("h1").await.unwrap().is_some(), "{name}");
        s.purge_expired(70 + 3601).await.unwrap();
        assert!(s.find_code("h1").await.unwrap().is_none(), "{name}");
    }
}

#[tokio::test]
async fn a_code_of_a_revoked_family_issues_nothing() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        s.insert_code(&code("h1", "fam_a"), &family("fam_a"))
            .await
            .unwrap();
        // An admin revokes the user's tokens between the code and its redemption.
        s.revoke_family("fam_a", 15).await.unwrap();
        assert!(
            s.find_code("h1").await.unwrap().unwrap().is_family_revoked,
            "{name}"
        );
        assert_eq!(
            s.redeem_code("h1", 20, &issuance("fam_a", "tkn_1", Some("r1")))
                .await
                .unwrap(),
            Redeemed::Revoked,
            "{name}"
        );
        assert!(s.find_refresh("r1").await.unwrap().is_none(), "{name}");
        assert_eq!(
            s.access_token_status("tkn_1").await.unwrap(),
            AccessTokenStatus::Unrecorded,
            "{name}"
        );
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_families_revoke_together() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        s.insert_code(&code("h1", "fam_1"), &family("fam_1"))
            .await
            .unwrap();
        s.redeem_code("h1", 11, &issuance("fam_1", "tkn_1", Some("r1")))
            .await
            .unwrap();
        assert_eq!(
            s.rotate_refresh("r1", 12, &issuance("fam_1", "tkn_2", Some("r2")))
                .await
                .unwrap(),
            Redeemed::Done,
            "{name}"
        );
        match s
            .rotate_refresh("r1", 13, &issuance("fam_1", "tkn_3", Some("r3")))
            .await
            .unwrap()
        {
            Redeemed::Used(r) => assert_eq!(r.used_at, Some(12), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        assert!(s.find_refresh("r3").await.unwrap().is_none(), "{name}");
        s.revoke_family("fam_1", 14).await.unwrap();
        for jti in ["tkn_1", "tkn_2"] {
            assert_eq!(
                s.access_token_status(jti).await.unwrap(),
                AccessTokenStatus::Revoked,
                "{name}: {jti}"
            );
        }
        assert_eq!(
            s.rotate_refresh("r2", 15, &issuance("fam_1", "tkn_4", Some("r4")))
                .await
                .unwrap(),
            Redeemed::Revoked,
            "{name}"
        );

        // RFC 7009 revocation of one access token.
        assert_eq!(
            s.access_token_status("tkn_9").await.unwrap(),
            AccessTokenStatus::Unrecorded,
            "{name}"
        );
        s.revoke_access_token("tkn_9", 50).await.unwrap();
        s.revoke_access_token("tkn_9", 50).await.unwrap();
        assert_eq!(
            s.access_token_status("tkn_9").await.unwrap(),
            AccessTokenStatus::Revoked,
            "{name}"
        );
    }
}

#[tokio::test]
async fn refresh_families_issued_before_families_existed_can_be_rotated_and_revoked() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        // A refresh token whose family has no row (stored before migration 0012).
        s.insert_refresh(&refresh("old", "legacy")).await.unwrap();
        assert_eq!(
            s.rotate_refresh("old", 12, &issuance("legacy", "tkn_1", Some("new")))
                .await
                .unwrap(),
            Redeemed::Done,
            "{name}"
        );
        s.revoke_family("legacy", 13).await.unwrap();
        assert!(
            s.find_refresh("new")
                .await
                .unwrap()
                .unwrap()
                .is_family_revoked,
            "{name}"
        );
        assert_eq!(
            s.access_token_status("tkn_1").await.unwrap(),
            AccessTokenStatus::Revoked,
            "{name}"
        );
        // A family never seen is recorded as revoked, and stays so.
        s.revoke_family("unseen", 13).await.unwrap();
        s.insert_refresh(&refresh("late", "unseen")).await.unwrap();
        assert_eq!(
            s.rotate_refresh("late", 14, &issuance("unseen", "tkn_2", None))
                .await
                .unwrap(),
            Redeemed::Revoked,
            "{name}"
        );
    }
}

/// Concurrent rotations of one refresh token, each followed by the reuse handling a
/// grant does (revoke the family when it lost): one wins, and afterwards nothing of the
/// family is live, in every trial.
#[tokio::test]
async fn concurrent_rotations_leave_no_live_token_of_the_family() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        let s = Arc::new(s);
        for (trial, racers) in [(0, 2), (1, 20), (2, 2), (3, 20)] {
            let fam = format!("fam_{trial}");
            let start = format!("r_{trial}");
            s.insert_code(&code(&format!("c_{trial}"), &fam), &family(&fam))
                .await
                .unwrap();
            s.redeem_code(
                &format!("c_{trial}"),
                11,
                &issuance(&fam, &format!("tkn_{trial}"), Some(&start)),
            )
            .await
            .unwrap();
            let mut tasks = Vec::new();
            for i in 0..racers {
                let (s, fam, start) = (s.clone(), fam.clone(), start.clone());
                tasks.push(tokio::spawn(async move {
                    let issued =
                        issuance(&fam, &format!("tkn_{fam}_{i}"), Some(&format!("{fam}_{i}")));
                    let result = s.rotate_refresh(&start, 12, &issued).await.unwrap();
                    if let Redeemed::Used(r) = &result {
                        s.revoke_family(&r.family_id, 12).await.unwrap();
                    }
                    result
                }));
            }
            let mut winners = 0;
            for t in tasks {
                if t.await.unwrap() == Redeemed::Done {
                    winners += 1;
                }
            }
            assert_eq!(winners, 1, "{name}: trial {trial}");
            for i in 0..racers {
                if let Some(r) = s.find_refresh(&format!("{fam}_{i}")).await.unwrap() {
                    assert!(
                        r.is_family_revoked,
                        "{name}: trial {trial}: a live successor"
                    );
                }
                assert_ne!(
                    s.access_token_status(&format!("tkn_{fam}_{i}"))
                        .await
                        .unwrap(),
                    AccessTokenStatus::LiveFamily,
                    "{name}: trial {trial}: a live access token"
                );
            }
        }
    }
}

#[tokio::test]
async fn families_and_their_access_tokens_are_purged_once_expired() {
    let (stores, _dir) = stores().await;
    for (name, s) in stores {
        s.insert_code(&code("h1", "fam_p"), &family("fam_p"))
            .await
            .unwrap();
        s.redeem_code("h1", 11, &issuance("fam_p", "tkn_p", None))
            .await
            .unwrap();
        // The access token row goes at its expiry (400), the family at its own (10,000).
        s.purge_expired(401).await.unwrap();
        assert_eq!(
            s.access_token_status("tkn_p").await.unwrap(),
            AccessTokenStatus::Unrecorded,
            "{name}"
        );
        s.revoke_family("fam_p", 402).await.unwrap();
        s.purge_expired(9_999).await.unwrap();
        assert!(
            s.find_code("h1").await.unwrap().is_none(),
            "{name}: the code went an hour after it expired"
        );
        s.purge_expired(10_001).await.unwrap();
        // Gone: a family id seen again is a new, live family (ids are random, never reused).
        s.insert_code(&code("h2", "fam_p"), &family("fam_p"))
            .await
            .unwrap();
        assert!(
            !s.find_code("h2").await.unwrap().unwrap().is_family_revoked,
            "{name}"
        );
    }
}
