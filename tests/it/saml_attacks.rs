//! The SAML attack set, made at test time (saml_fixtures.rs signs with `xmlsec1`): each bad
//! response is refused with an audit event naming the failed check, no session and no
//! user; each test also shows the good fixture of the same shape is accepted, so a refusal
//! is the check's doing and not a broken fixture's.

use crate::support::Spawned;
use crate::support::browser::{Page, REDIRECT_URI, query};
use crate::support::saml::{
    acs, assert_refused_by, begin, begin_with, browser, confirm, entity, post_acs_cross_site, spawn,
};
use crate::support::saml_fixtures::{Alg, Key, Response, b64, idp_metadata, sign, xmlsec_verifies};

const FX_IDP: &str = "urn:test:fixture-idp";
const OTHER_IDP: &str = "urn:test:other-idp";

struct Fx {
    s: Spawned,
    /// In conn_fx's metadata.
    a: Key,
    /// Also in conn_fx's metadata (rotation: two certificates).
    b: Key,
    /// In nobody's metadata.
    x: Key,
    /// conn_other's IdP (another organization).
    o: Key,
    _dir: tempfile::TempDir,
}

async fn setup() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, x, o) = (
        Key::new(dir.path(), "idp-a"),
        Key::new(dir.path(), "idp-b"),
        Key::new(dir.path(), "attacker"),
        Key::new(dir.path(), "other-idp"),
    );
    let s = spawn().await;
    let text = format!(
        r#"
[[organizations]]
id = "org_fx"
display_name = "Fixture Org"
domains = ["fx.example"]

[[organizations.connections]]
id = "conn_fx"
kind = "saml"
allow_idp_initiated = true
idp_metadata_xml = '''{md_fx}'''

[[organizations]]
id = "org_other"
display_name = "Other Org"
domains = ["other.example"]

[[organizations.connections]]
id = "conn_other"
kind = "saml"
allow_idp_initiated = true
idp_metadata_xml = '''{md_other}'''
"#,
        md_fx = idp_metadata(FX_IDP, &[&a, &b]),
        md_other = idp_metadata(OTHER_IDP, &[&o]),
    );
    s.apply_seed(&text).await;
    Fx {
        s,
        a,
        b,
        x,
        o,
        _dir: dir,
    }
}

impl Fx {
    fn good(&self) -> Response {
        Response::good(
            FX_IDP,
            &entity(&self.s, "conn_fx"),
            &acs(&self.s, "conn_fx"),
            None,
        )
    }

    async fn post(&self, conn: &str, xml: &str, relay_state: &str) -> Page {
        let (_, jar) = browser(&self.s);
        self.post_from(&jar, conn, xml, relay_state).await
    }

    /// The IdP's POST into the browser of `jar` (the one that started the login).
    async fn post_from(
        &self,
        jar: &reqwest::cookie::Jar,
        conn: &str,
        xml: &str,
        relay_state: &str,
    ) -> Page {
        post_acs_cross_site(&self.s, jar, &acs(&self.s, conn), &b64(xml), relay_state).await
    }

    /// Accepted: the confirmation page, and confirming it signs the person in.
    async fn accepted(&self, what: &str, xml: &str) -> Page {
        let (b, jar) = browser(&self.s);
        let page =
            post_acs_cross_site(&self.s, &jar, &acs(&self.s, "conn_fx"), &b64(xml), "").await;
        assert_eq!(page.status, 200, "{what}: {}", page.body);
        assert!(page.body.contains("Continue as"), "{what}");
        confirm(&b, "conn_fx", &page.body).await
    }

    /// Refused on the page, no cookie, and the last audit event names `check`.
    async fn refused(&self, what: &str, conn: &str, xml: &str, check: &str) {
        let before = self.s.audit("login.succeeded").await.len();
        let page = self.post(conn, xml, "").await;
        assert_eq!(page.status, 403, "{what}: accepted! {}", page.body);
        assert!(page.body.contains("Sign-in failed"), "{what}");
        assert!(page.headers.get("set-cookie").is_none(), "{what}: a cookie");
        assert_refused_by(&self.s, check, what).await;
        assert_eq!(
            self.s.audit("login.succeeded").await.len(),
            before,
            "{what}: nothing stored"
        );
    }
}

#[tokio::test]
async fn good_responses_pass_signed_either_way_and_by_either_metadata_certificate() {
    let fx = setup().await;
    let good = fx.good();
    fx.accepted(
        "response and assertion signed",
        &good.signed(&fx.a, Alg::Sha256, true),
    )
    .await;
    let r = fx.good();
    fx.accepted(
        "only the assertion signed",
        &r.signed(&fx.a, Alg::Sha256, false),
    )
    .await;
    let r = fx.good();
    let only_response = sign(
        &r.wrap(&r.assertion(None), Some(Alg::Sha256)),
        &fx.a,
        "Response",
    );
    fx.accepted("only the response signed", &only_response)
        .await;
    let r = fx.good();
    fx.accepted(
        "signed by the second certificate",
        &r.signed(&fx.b, Alg::Sha256, true),
    )
    .await;
    let users = fx.s.audit("login.succeeded").await;
    assert_eq!(users.len(), 4);
    assert_eq!(users[0].organization_id.as_deref(), Some("org_fx"));
}

#[tokio::test]
async fn an_address_outside_the_organizations_domains_is_not_vouched_for_as_verified() {
    let fx = setup().await;
    for email in [
        "carol@fx.example",
        "dave@FX.Example",
        "mallory@gmail.example",
        "victim@gmail.example@fx.example",
        "eve@sub.fx.example",
    ] {
        let mut r = fx.good();
        r.name_id = email.into();
        r.email = email.into();
        fx.accepted(email, &r.signed(&fx.a, Alg::Sha256, true))
            .await;
    }
    let users = fx.s.app.state.store.list_users(10).await.unwrap();
    let verified = |email: &str| {
        users
            .iter()
            .find(|u| u.email.as_deref() == Some(email))
            .unwrap_or_else(|| panic!("{email} signed in: {users:?}"))
            .is_email_verified
    };
    assert!(verified("carol@fx.example"), "org_fx's own domain");
    assert!(
        verified("dave@fx.example"),
        "stored lower-case, still its own"
    );
    assert!(
        !verified("mallory@gmail.example"),
        "conn_fx's IdP is no authority for gmail.example"
    );
    assert!(
        !verified("victim@gmail.example@fx.example"),
        "two '@': a reader splitting at the first would see gmail.example"
    );
    assert!(
        !verified("eve@sub.fx.example"),
        "a subdomain is another domain"
    );

    // The organization's domains change: an address in a domain it keeps stays verified, one
    // in a domain it gives up is unverified at once (not at its owner's next sign-in), and a
    // domain it gains verifies nobody before they sign in again.
    let api = crate::support::admin::bearer(&fx.s).await;
    let store = &fx.s.app.state.store;
    let set_domains = async |domains: &[&str]| {
        let body = serde_json::json!({ "display_name": "Fixture Org", "domains": domains });
        let (status, body) = api
            .call(reqwest::Method::PUT, "/organizations/org_fx", Some(body))
            .await;
        assert_eq!(status, 200, "{body}");
        store.list_users(10).await.unwrap()
    };
    let verified_now = |users: &[portcullis::store::User]| -> Vec<String> {
        let mut v: Vec<String> = users
            .iter()
            .filter(|u| u.is_email_verified)
            .filter_map(|u| u.email.clone())
            .collect();
        v.sort();
        v
    };
    let users = set_domains(&["fx.example", "gmail.example"]).await;
    assert_eq!(
        verified_now(&users),
        ["carol@fx.example", "dave@fx.example"],
        "a kept domain stays verified, a gained one verifies nobody yet"
    );
    let users = set_domains(&["gmail.example"]).await;
    assert!(
        verified_now(&users).is_empty(),
        "fx.example given up: {users:?}"
    );
}

#[tokio::test]
async fn signature_attacks_are_refused() {
    let fx = setup().await;
    let r = fx.good();
    fx.refused(
        "unsigned response and assertion",
        "conn_fx",
        &r.wrap(&r.assertion(None), None),
        "signature",
    )
    .await;
    let r = fx.good();
    let by_x = r.signed(&fx.x, Alg::Sha256, true);
    assert!(
        xmlsec_verifies(&by_x, &fx.x, "Response"),
        "a sound signature, by x"
    );
    fx.refused(
        "signed by a key not in the metadata",
        "conn_fx",
        &by_x,
        "signature",
    )
    .await;
    let r = fx.good();
    let signed = r.signed(&fx.a, Alg::Sha256, false);
    assert!(xmlsec_verifies(&signed, &fx.a, "Assertion"));
    let tampered = signed.replace(">alice@example.com<", ">admin@example.com<");
    assert!(tampered.contains(">admin@example.com<"));
    assert!(!xmlsec_verifies(&tampered, &fx.a, "Assertion"));
    fx.refused("tampered after signing", "conn_fx", &tampered, "signature")
        .await;
    let r = fx.good();
    let sha1 = r.signed(&fx.a, Alg::Sha1, true);
    assert!(sha1.contains("xmldsig#rsa-sha1"));
    assert!(
        xmlsec_verifies(&sha1, &fx.a, "Response"),
        "a sound SHA-1 signature"
    );
    fx.refused("SHA-1 signature", "conn_fx", &sha1, "signature")
        .await;
    // Each connection accepts only its own IdP: the other organization's IdP posting here,
    // and this IdP posting to the other connection.
    let mut r = fx.good();
    r.issuer = OTHER_IDP.into();
    fx.refused(
        "another connection's IdP",
        "conn_fx",
        &r.signed(&fx.o, Alg::Sha256, true),
        "signature",
    )
    .await;
    let mut r = Response::good(
        FX_IDP,
        &entity(&fx.s, "conn_other"),
        &acs(&fx.s, "conn_other"),
        None,
    );
    r.name_id = "mallory@fx.example".into();
    fx.refused(
        "this IdP at another connection's ACS",
        "conn_other",
        &r.signed(&fx.a, Alg::Sha256, true),
        "signature",
    )
    .await;
    // The other connection's own IdP is fine there (control).
    let r = Response::good(
        OTHER_IDP,
        &entity(&fx.s, "conn_other"),
        &acs(&fx.s, "conn_other"),
        None,
    );
    let page = fx
        .post("conn_other", &r.signed(&fx.o, Alg::Sha256, true), "")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
}

#[tokio::test]
async fn condition_attacks_are_refused() {
    let fx = setup().await;
    let mut r = fx.good();
    r.not_on_or_after = -120;
    fx.refused(
        "expired",
        "conn_fx",
        &r.signed(&fx.a, Alg::Sha256, true),
        "not_on_or_after",
    )
    .await;
    let mut r = fx.good();
    r.not_before = 600;
    fx.refused(
        "not yet valid",
        "conn_fx",
        &r.signed(&fx.a, Alg::Sha256, true),
        "not_before",
    )
    .await;
    let mut r = fx.good();
    r.issue_instant = -900;
    fx.refused(
        "issued long ago",
        "conn_fx",
        &r.signed(&fx.a, Alg::Sha256, true),
        "issue_instant",
    )
    .await;
    let mut r = fx.good();
    r.audience = "https://other-sp.example/metadata".into();
    fx.refused(
        "wrong audience",
        "conn_fx",
        &r.signed(&fx.a, Alg::Sha256, true),
        "audience",
    )
    .await;
    let mut r = fx.good();
    r.recipient = "https://other-sp.example/acs".into();
    fx.refused(
        "wrong recipient",
        "conn_fx",
        &r.signed(&fx.a, Alg::Sha256, false),
        "recipient",
    )
    .await;
    let mut r = fx.good();
    r.destination = Some("https://other-sp.example/acs".into());
    fx.refused(
        "wrong destination",
        "conn_fx",
        &r.signed(&fx.a, Alg::Sha256, true),
        "destination",
    )
    .await;
    let mut r = fx.good();
    r.destination = None;
    fx.refused(
        "a signed response without Destination",
        "conn_fx",
        &r.signed(&fx.a, Alg::Sha256, true),
        "destination",
    )
    .await;
    let mut r = fx.good();
    r.issuer = "urn:test:someone-else".into();
    fx.refused(
        "another issuer, signed with the right key",
        "conn_fx",
        &r.signed(&fx.a, Alg::Sha256, true),
        "issuer",
    )
    .await;
    let r = fx.good();
    let utf7 = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-7\"?>{}",
        r.signed(&fx.a, Alg::Sha256, true)
    );
    fx.refused("declared UTF-7", "conn_fx", &utf7, "encoding")
        .await;
    let r = fx.good();
    let wrapped = format!("<wrapper>{}</wrapper>", r.signed(&fx.a, Alg::Sha256, false));
    fx.refused("not rooted at a Response", "conn_fx", &wrapped, "malformed")
        .await;
    let mut r = fx.good();
    r.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
    fx.refused(
        "status not Success",
        "conn_fx",
        &r.signed(&fx.a, Alg::Sha256, true),
        "status",
    )
    .await;
    let mut r = fx.good();
    r.in_response_to = Some("_a-request-we-never-made".into());
    fx.refused(
        "unsolicited but answering a request",
        "conn_fx",
        &r.signed(&fx.a, Alg::Sha256, true),
        "in_response_to",
    )
    .await;
}

#[tokio::test]
async fn wrapping_comment_and_dtd_attacks_are_refused() {
    let fx = setup().await;
    let signed = sign(&fx.good().assertion(Some(Alg::Sha256)), &fx.a, "Assertion");
    let mut evil = fx.good();
    evil.name_id = "mallory@evil.test".into();
    evil.email = "mallory@evil.test".into();
    let evil_assertion = evil.assertion(None);
    // A signed assertion beside an unsigned evil one, either order.
    fx.refused(
        "evil assertion first",
        "conn_fx",
        &evil.wrap(&format!("{evil_assertion}{signed}"), None),
        "assertion_count",
    )
    .await;
    fx.refused(
        "evil assertion after",
        "conn_fx",
        &evil.wrap(&format!("{signed}{evil_assertion}"), None),
        "assertion_count",
    )
    .await;
    // The signed assertion hidden in Extensions, the evil one in its place.
    let in_extensions = evil.wrap(&evil_assertion, None).replacen(
        "<samlp:Status>",
        &format!("<samlp:Extensions>{signed}</samlp:Extensions><samlp:Status>"),
        1,
    );
    fx.refused(
        "signed assertion in Extensions",
        "conn_fx",
        &in_extensions,
        "assertion_count",
    )
    .await;
    // ... or in a ds:Object of the evil assertion's signature.
    let evil_with_object = evil.assertion(Some(Alg::Sha256)).replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{signed}</ds:Object></ds:Signature>"),
        1,
    );
    fx.refused(
        "signed assertion in ds:Object",
        "conn_fx",
        &evil.wrap(&evil_with_object, None),
        "assertion_count",
    )
    .await;

    // A comment inside the NameID (c14n drops it, so the signature holds): refused, never
    // read as alice.
    let mut r = fx.good();
    r.name_id = "alice@example.com<!---->.evil.test".into();
    r.email = "alice@example.com<!---->.evil.test".into();
    let commented = r.signed(&fx.a, Alg::Sha256, true);
    assert!(
        xmlsec_verifies(&commented, &fx.a, "Response"),
        "the comment does not break the signature"
    );
    fx.refused("comment in NameID", "conn_fx", &commented, "comment")
        .await;

    let r = fx.good();
    let with_dtd = format!(
        "<!DOCTYPE samlp:Response [<!ENTITY who \"alice@example.com\">]>{}",
        r.signed(&fx.a, Alg::Sha256, true)
    );
    fx.refused("DOCTYPE with an entity", "conn_fx", &with_dtd, "dtd")
        .await;

    let r = fx.good();
    let encrypted = r.wrap(
        r#"<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion>"#,
        None,
    );
    fx.refused(
        "encrypted assertion",
        "conn_fx",
        &encrypted,
        "encrypted_assertion",
    )
    .await;

    let r = fx.good();
    let huge = r.signed(&fx.a, Alg::Sha256, true).replace(
        "<samlp:Status>",
        &format!(
            "<samlp:Extensions>{}</samlp:Extensions><samlp:Status>",
            "x".repeat(300 * 1024)
        ),
    );
    fx.refused("larger than the cap", "conn_fx", &huge, "size")
        .await;

    // No user came into existence through any of these.
    assert!(fx.s.audit("login.succeeded").await.is_empty());
}

#[tokio::test]
async fn sp_initiated_responses_must_answer_this_browsers_outstanding_request() {
    let fx = setup().await;
    let (b, jar) = browser(&fx.s);
    let client_id = b.register("res_tickets").await;

    // The response to another request, with this login's RelayState.
    let begun = begin(&b, &client_id, REDIRECT_URI, "conn_fx", None).await;
    let r = Response::good(
        FX_IDP,
        &entity(&fx.s, "conn_fx"),
        &acs(&fx.s, "conn_fx"),
        Some("_another-request"),
    );
    let page = fx
        .post_from(
            &jar,
            "conn_fx",
            &r.signed(&fx.a, Alg::Sha256, true),
            &begun.relay_state,
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert_refused_by(&fx.s, "in_response_to", "the response to another request").await;

    // Only the assertion signed: InResponseTo comes from its SubjectConfirmationData, and
    // the unsigned Response's InResponseTo cannot stand in for it.
    let begun = begin(&b, &client_id, REDIRECT_URI, "conn_fx", None).await;
    let mut r = Response::good(
        FX_IDP,
        &entity(&fx.s, "conn_fx"),
        &acs(&fx.s, "conn_fx"),
        Some("_another-request"),
    );
    let assertion = sign(&r.assertion(Some(Alg::Sha256)), &fx.a, "Assertion");
    r.in_response_to = Some(begun.request_id.clone());
    let page = fx
        .post_from(
            &jar,
            "conn_fx",
            &r.wrap(&assertion, None),
            &begun.relay_state,
        )
        .await;
    assert_eq!(
        page.status, 403,
        "unsigned InResponseTo trusted: {}",
        page.body
    );
    assert_refused_by(&fx.s, "in_response_to", "an unsigned InResponseTo").await;

    // The right one completes (control), once: the RelayState is single use.
    let begun = begin(&b, &client_id, REDIRECT_URI, "conn_fx", None).await;
    let r = Response::good(
        FX_IDP,
        &entity(&fx.s, "conn_fx"),
        &acs(&fx.s, "conn_fx"),
        Some(&begun.request_id),
    );
    let xml = r.signed(&fx.a, Alg::Sha256, false);
    let page = fx
        .post_from(&jar, "conn_fx", &xml, &begun.relay_state)
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let consent = page.location.unwrap();
    assert!(consent.starts_with("/oauth/consent"), "{consent}");
    let replay = fx
        .post_from(&jar, "conn_fx", &xml, &begun.relay_state)
        .await;
    assert_eq!(replay.status, 403, "{}", replay.body);
    // The used RelayState names nothing now: the replay is unsolicited, and answers a
    // request, so it is refused as such.
    assert_refused_by(&fx.s, "in_response_to", "a replayed solicited response").await;

    // A RelayState issued for this connection, presented at another connection's ACS (a
    // new browser: the one above is signed in now).
    let (b, jar) = browser(&fx.s);
    let begun = begin(&b, &client_id, REDIRECT_URI, "conn_fx", None).await;
    let r = Response::good(
        OTHER_IDP,
        &entity(&fx.s, "conn_other"),
        &acs(&fx.s, "conn_other"),
        Some(&begun.request_id),
    );
    let page = fx
        .post_from(
            &jar,
            "conn_other",
            &r.signed(&fx.o, Alg::Sha256, true),
            &begun.relay_state,
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert_refused_by(&fx.s, "relay_state", "a RelayState of another connection").await;
}

#[tokio::test]
async fn a_trusted_client_hears_access_denied_when_the_response_is_refused() {
    let fx = setup().await;
    let (b, jar) = browser(&fx.s);
    let begun = begin_with(
        &b,
        "m2m_public",
        "http://127.0.0.1/cb",
        "conn_fx",
        "tickets.read",
    )
    .await;
    let mut r = Response::good(
        FX_IDP,
        &entity(&fx.s, "conn_fx"),
        &acs(&fx.s, "conn_fx"),
        Some(&begun.request_id),
    );
    r.audience = "https://other-sp.example/metadata".into();
    let page = fx
        .post_from(
            &jar,
            "conn_fx",
            &r.signed(&fx.a, Alg::Sha256, true),
            &begun.relay_state,
        )
        .await;
    assert!(
        page.status.is_redirection(),
        "{} {}",
        page.status,
        page.body
    );
    let location = page.location.unwrap();
    assert!(location.starts_with("http://127.0.0.1/cb?"), "{location}");
    let q = query(&location);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "mcp-state");
}

#[tokio::test]
async fn an_idp_initiated_login_lands_on_the_configured_path() {
    let fx = setup().await;
    fx.s.apply_seed(&format!(
        r#"
[[organizations]]
id = "org_fx"
display_name = "Fixture Org"
domains = ["fx.example"]

[[organizations.connections]]
id = "conn_fx"
kind = "saml"
allow_idp_initiated = true
idp_initiated_redirect = "/welcome"
idp_metadata_xml = '''{md}'''
"#,
        md = idp_metadata(FX_IDP, &[&fx.a])
    ))
    .await;
    let page = fx
        .accepted("good", &fx.good().signed(&fx.a, Alg::Sha256, true))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/welcome"));
    assert!(page.headers.get("set-cookie").is_some(), "signed in");
}

#[tokio::test]
async fn an_idp_initiated_login_goes_to_the_applications_login_url_without_a_session() {
    let fx = setup().await;
    fx.s.apply_seed(&format!(
        r#"
[[organizations]]
id = "org_fx"
display_name = "Fixture Org"
domains = ["fx.example"]

[[organizations.connections]]
id = "conn_fx"
kind = "saml"
initiate_login_uri = "https://app.example/sso/start?from=idp"
idp_metadata_xml = '''{md}'''
"#,
        md = idp_metadata(FX_IDP, &[&fx.a])
    ))
    .await;
    let signed = fx.good().signed(&fx.a, Alg::Sha256, true);
    let page = fx.post("conn_fx", &signed, "rs-42").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(
        page.headers.get("set-cookie").is_none(),
        "no session is opened"
    );
    let location = page.location.unwrap();
    assert!(
        location.starts_with("https://app.example/sso/start?from=idp&idp_initiated_login="),
        "{location}"
    );
    let jwt = query(&location)["idp_initiated_login"].clone();
    let (header, claims) = crate::support::decode_jwt(&jwt);
    assert_eq!(header["typ"], "idp-initiated+jwt");
    assert_eq!(claims["connection_id"], "conn_fx");
    assert_eq!(claims["organization_id"], "org_fx");
    assert_eq!(claims["relay_state"], "rs-42");
    assert_eq!(claims["iss"], fx.s.base);
    assert!(
        claims["login_hint"].as_str().is_some_and(|h| !h.is_empty()),
        "{claims}"
    );
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 120);
    assert!(fx.s.audit("login.succeeded").await.is_empty());
    assert_eq!(fx.s.audit("login.idp_initiated_forwarded").await.len(), 1);
    // The same assertion again is a replay, and an unsigned one is refused as ever.
    fx.refused("replayed", "conn_fx", &signed, "replay").await;
    fx.refused(
        "by a key the metadata does not list",
        "conn_fx",
        &fx.good().signed(&fx.x, Alg::Sha256, true),
        "signature",
    )
    .await;
}
