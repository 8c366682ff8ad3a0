//! Upstream SAML federation against a real SAML IdP (npm `saml-idp`): SP-initiated and
//! IdP-initiated logins as alice and bob end in tokens with the rule's scopes; the ACS POST
//! completes without the browser's cookie (as from a real cross-site IdP); an unsolicited
//! response never completes a pending authorization; replays are refused; the SP metadata.

use std::str::FromStr;

use crate::support::browser::{REDIRECT_URI, pkce, query};
use crate::support::saml::*;
use crate::support::saml_idp::{ALICE, BOB};

/// SP-initiated login of `user`, the ACS POST without cookies; returns the token's claims.
async fn sp_initiated(su: &Setup, user: &crate::support::saml_idp::User) -> serde_json::Value {
    let idp = su.idp.as_ref().unwrap();
    let (b, jar) = browser(&su.s);
    let client_id = b.register("res_tickets").await;
    let begun = begin(&b, &client_id, REDIRECT_URI, "conn_saml", None).await;
    assert!(begun.sso_url.starts_with(&idp.base), "{}", begun.sso_url);
    let posted = idp.sign_in(user, Some(&begun.sso_url)).await;
    assert_eq!(posted.action, acs(&su.s, "conn_saml"));
    assert_eq!(
        posted.relay_state, begun.relay_state,
        "the IdP echoes RelayState"
    );
    let page = post_acs_cross_site(
        &su.s,
        &jar,
        &posted.action,
        &posted.saml_response,
        &posted.relay_state,
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let consent = page.location.unwrap();
    assert!(consent.starts_with("/oauth/consent?"), "{consent}");
    finish(&b, &client_id, &consent, &begun.verifier).await
}

#[tokio::test]
async fn sp_initiated_alice_gets_tickets_manage_though_the_acs_post_carries_no_cookie() {
    let su = setup(false).await;
    let claims = sp_initiated(&su, &ALICE).await;
    assert_eq!(claims["scope"], "tickets.read tickets.manage:org_saml");
    assert_eq!(claims["oid"], "org_saml");
    let user =
        su.s.app
            .state
            .store
            .find_user(claims["sub"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(user.groups, ["jira-admins", "eng"], "multi-valued groups");
    assert_eq!(user.name.as_deref(), Some("Alice Admin"));
    assert!(
        !user.is_email_verified,
        "example.com is not one of org_saml's domains"
    );
    let logins = su.s.audit("login.succeeded").await;
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].detail["connection_kind"], "saml");
}

#[tokio::test]
async fn sp_initiated_bob_gets_tickets_read_only() {
    let su = setup(false).await;
    let claims = sp_initiated(&su, &BOB).await;
    assert_eq!(claims["scope"], "tickets.read");
}

/// IdP-initiated login lands on a page (a session, no authorization); the next
/// authorization in that browser uses the session.
async fn idp_initiated(su: &Setup, user: &crate::support::saml_idp::User) -> serde_json::Value {
    let idp = su.idp.as_ref().unwrap();
    let (b, jar) = browser(&su.s);
    let posted = idp.sign_in(user, None).await;
    let page = post_acs_cross_site(
        &su.s,
        &jar,
        &posted.action,
        &posted.saml_response,
        &posted.relay_state,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("Continue as {}", user.email)),
        "{}",
        page.body
    );
    assert!(
        page.headers.get("set-cookie").is_some(),
        "the browser binding"
    );
    let done = confirm(&b, "conn_saml", &page.body).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("You are signed in"), "{}", done.body);
    let client_id = b.register("res_tickets").await;
    let (verifier, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "s"),
            ("scope", "tickets.read tickets.manage"),
            ("connection_id", "conn_saml"),
        ])
        .finish();
    let page = b
        .get(&format!("/resources/res_tickets/oauth/authorize?{q}"))
        .await;
    let consent = page.location.unwrap();
    assert!(
        consent.starts_with("/oauth/consent?"),
        "the session is used: {consent}"
    );
    finish(&b, &client_id, &consent, &verifier).await
}

#[tokio::test]
async fn idp_initiated_logins_when_allowed_end_in_tokens_for_alice_and_bob() {
    let su = setup(true).await;
    let alice = idp_initiated(&su, &ALICE).await;
    assert_eq!(alice["scope"], "tickets.read tickets.manage:org_saml");
    let bob = idp_initiated(&su, &BOB).await;
    assert_eq!(bob["scope"], "tickets.read");
}

#[tokio::test]
async fn idp_initiated_login_is_refused_unless_allowed() {
    let su = setup(false).await;
    let idp = su.idp.as_ref().unwrap();
    let (_, jar) = browser(&su.s);
    let posted = idp.sign_in(&ALICE, None).await;
    let page = post_acs_cross_site(
        &su.s,
        &jar,
        &posted.action,
        &posted.saml_response,
        &posted.relay_state,
    )
    .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("Sign-in failed"));
    assert!(page.headers.get("set-cookie").is_none(), "no session");
    assert_refused_by(&su.s, "unsolicited", "IdP-initiated login off").await;
    assert!(su.s.audit("login.succeeded").await.is_empty());
}

#[tokio::test]
async fn an_unsolicited_response_never_completes_a_pending_authorization() {
    let su = setup(true).await;
    let idp = su.idp.as_ref().unwrap();
    let (victim, victim_jar) = browser(&su.s);
    let client_id = victim.register("res_tickets").await;
    let begun = begin(&victim, &client_id, REDIRECT_URI, "conn_saml", None).await;
    // The attacker's own IdP-initiated response (bob), posted into the victim's browser
    // with the victim's RelayState: it answers no request of ours, so it is refused.
    let attacker = idp.sign_in(&BOB, None).await;
    let page = post_acs_cross_site(
        &su.s,
        &victim_jar,
        &attacker.action,
        &attacker.saml_response,
        &begun.relay_state,
    )
    .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(su.s.audit("login.succeeded").await.is_empty());
    assert_refused_by(
        &su.s,
        "in_response_to",
        "an unsolicited response with a RelayState",
    )
    .await;

    // Without a RelayState it is an IdP-initiated login: a confirmation page, no session,
    // and the victim's pending authorization is not completed by it.
    let (victim, victim_jar) = browser(&su.s);
    let begun = begin(&victim, &client_id, REDIRECT_URI, "conn_saml", None).await;
    let attacker = idp.sign_in(&BOB, None).await;
    let page = post_acs_cross_site(
        &su.s,
        &victim_jar,
        &attacker.action,
        &attacker.saml_response,
        "",
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.location.is_none(),
        "no redirect to consent or the client"
    );
    assert!(!page.body.contains("code="));
    assert!(page.body.contains("Continue as bob@example.com"));
    // Unless the victim confirms, nobody is signed in: a new authorization asks the IdP.
    let again = begin(&victim, &client_id, REDIRECT_URI, "conn_saml", None).await;
    assert!(again.sso_url.starts_with(&idp.base));
    // The attacker's own confirmation, posted from the victim's browser, is refused: it is
    // bound to the browser that received it.
    let (attacker_browser, attacker_jar) = browser(&su.s);
    let theirs = idp.sign_in(&BOB, None).await;
    let page = post_acs_cross_site(
        &su.s,
        &attacker_jar,
        &theirs.action,
        &theirs.saml_response,
        "",
    )
    .await;
    let _ = attacker_browser;
    let forged = confirm(&victim, "conn_saml", &page.body).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(forged.body.contains("confirmation_invalid"));
    assert!(
        forged.headers.get_all("set-cookie").iter().all(|c| !c
            .to_str()
            .unwrap()
            .starts_with("portcullis_session=")
            || c.to_str().unwrap().starts_with("portcullis_session=;"))
    );
    // The victim's own response still completes the victim's request, as alice.
    let mine = idp.sign_in(&ALICE, Some(&begun.sso_url)).await;
    let page = post_acs_cross_site(
        &su.s,
        &victim_jar,
        &mine.action,
        &mine.saml_response,
        &mine.relay_state,
    )
    .await;
    let consent = page.location.unwrap();
    let claims = finish(&victim, &client_id, &consent, &begun.verifier).await;
    assert_eq!(claims["scope"], "tickets.read tickets.manage:org_saml");
}

#[tokio::test]
async fn a_replayed_good_response_is_refused() {
    let su = setup(true).await;
    let idp = su.idp.as_ref().unwrap();
    // SP-initiated: the RelayState is used up, and the response answers no open request.
    let (b, jar) = browser(&su.s);
    let client_id = b.register("res_tickets").await;
    let begun = begin(&b, &client_id, REDIRECT_URI, "conn_saml", None).await;
    let posted = idp.sign_in(&ALICE, Some(&begun.sso_url)).await;
    let first = post_acs_cross_site(
        &su.s,
        &jar,
        &posted.action,
        &posted.saml_response,
        &posted.relay_state,
    )
    .await;
    assert_eq!(first.status, 303);
    let again = post_acs_cross_site(
        &su.s,
        &jar,
        &posted.action,
        &posted.saml_response,
        &posted.relay_state,
    )
    .await;
    assert_eq!(again.status, 403, "{}", again.body);
    // IdP-initiated: the assertion ID is remembered.
    let posted = idp.sign_in(&ALICE, None).await;
    let first = post_acs_cross_site(&su.s, &jar, &posted.action, &posted.saml_response, "").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = post_acs_cross_site(&su.s, &jar, &posted.action, &posted.saml_response, "").await;
    assert_eq!(again.status, 403, "{}", again.body);
    let failed = su.s.audit("login.failed").await;
    assert!(
        failed.iter().any(|e| e.detail["reason"]
            .as_str()
            .unwrap()
            .contains("saml check failed: replay")),
        "{failed:?}"
    );
}

#[tokio::test]
async fn prompt_login_asks_the_idp_to_force_authentication() {
    let su = setup(false).await;
    let (b, _) = browser(&su.s);
    let client_id = b.register("res_tickets").await;
    let begun = begin(&b, &client_id, REDIRECT_URI, "conn_saml", Some("login")).await;
    assert!(
        begun.request_xml.contains("ForceAuthn=\"true\""),
        "{}",
        begun.request_xml
    );
    assert!(begun.request_xml.contains(&format!(
        "AssertionConsumerServiceURL=\"{}\"",
        acs(&su.s, "conn_saml")
    )));
    assert!(
        begun.request_id.len() > 30,
        "unguessable request IDs: {}",
        begun.request_id
    );
    let plain = begin(&b, &client_id, REDIRECT_URI, "conn_saml", None).await;
    assert!(!plain.request_xml.contains("ForceAuthn=\"true\""));
    assert_ne!(plain.relay_state, begun.relay_state);
}

#[tokio::test]
async fn sp_metadata_is_well_formed_and_names_the_acs_and_entity_id() {
    let su = setup(false).await;
    let (b, _) = browser(&su.s);
    let page = b.get("/sso/v1/saml/conn_saml/metadata").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "application/samlmetadata+xml");
    let md = samael::metadata::EntityDescriptor::from_str(&page.body).expect("well-formed");
    assert_eq!(
        md.entity_id.as_deref(),
        Some(entity(&su.s, "conn_saml").as_str())
    );
    let sp = &md.sp_sso_descriptors.as_ref().unwrap()[0];
    assert_eq!(
        sp.assertion_consumer_services[0].location,
        acs(&su.s, "conn_saml")
    );
    assert_eq!(
        sp.assertion_consumer_services[0].binding,
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    );
    assert_eq!(b.get("/sso/v1/saml/conn_nope/metadata").await.status, 404);
}

#[tokio::test]
async fn an_idp_key_rotation_is_picked_up_without_a_restart() {
    let mut su = setup(false).await;
    let before = sp_initiated(&su, &ALICE).await;
    assert_eq!(before["scope"], "tickets.read tickets.manage:org_saml");
    // The IdP now signs with a new key its metadata lists; portcullis has the old
    // metadata cached, sees an unknown signer, refetches the metadata once and accepts.
    su.idp.as_mut().unwrap().restart_with_new_key().await;
    let after = sp_initiated(&su, &BOB).await;
    assert_eq!(after["scope"], "tickets.read");
}

#[tokio::test]
async fn connections_test_reads_the_idp_metadata_and_says_what_to_hand_the_idp() {
    let su = setup(false).await;
    let (ok, report) = su.s.connections_test("conn_saml").await;
    assert!(ok, "{report}");
    assert!(
        report.contains(&format!(
            "[ ok ] idp_metadata: entity id {}",
            crate::support::saml_idp::IDP_ENTITY_ID
        )),
        "{report}"
    );
    assert!(
        report.contains("[ ok ] signing_certificates: 1 in the metadata"),
        "{report}"
    );
    assert!(report.contains("/sso/v1/saml/conn_saml/acs"), "{report}");
    drop(su.idp);
    let (ok, down) = su.s.connections_test("conn_saml").await;
    assert!(!ok);
    assert!(down.contains("[FAIL] idp_metadata"), "{down}");
}

#[tokio::test]
async fn an_unreachable_idp_is_server_error_for_a_trusted_client_and_a_page_otherwise() {
    let su = setup(false).await;
    drop(su.idp);
    let (b, _) = browser(&su.s);
    let (_, challenge) = pkce();
    let authorize = |client: &str, redirect: &str| {
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", redirect),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("state", "st"),
                ("scope", "tickets.read"),
                ("connection_id", "conn_saml"),
            ])
            .finish();
        format!("/resources/res_tickets/oauth/authorize?{q}")
    };
    let client_id = b.register("res_tickets").await;
    let start = b.get(&authorize(&client_id, REDIRECT_URI)).await;
    let page = b.get(start.location.as_deref().unwrap()).await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(page.body.contains("upstream_unavailable"));
    let start = b.get(&authorize("m2m_public", "http://127.0.0.1/cb")).await;
    let redirect = b.get(start.location.as_deref().unwrap()).await;
    let params = query(redirect.location.as_deref().expect("to the trusted client"));
    assert_eq!(params["error"], "server_error");
    let failed = su.s.audit("login.failed").await;
    assert_eq!(failed.len(), 2);
}
