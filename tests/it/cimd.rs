//! Client ID Metadata Documents end to end: a test CA and server certificates made with
//! `openssl`, an https server on 127.0.0.1 (tokio-rustls and a minimal HTTP/1.1 responder)
//! serving good and bad documents, and portcullis fetching them through its SSRF guard with
//! a fixed name table (`cimd.test` and `metadata.test` → 127.0.0.1, exempted through
//! `allow_private_hosts`; `evil.test` → 127.0.0.1 and `meta.test` → 169.254.169.254, not
//! exempted). The server counts the requests it gets, per host and path.
//!
//! The server answers by path, and names documents after the `Host` it was asked for, so a
//! host the guard wrongly let through would get a valid document (and the test would see it):
//!
//! | path | answer |
//! |---|---|
//! | `/client.json` | a valid document for its own URL, `Cache-Control: max-age=300` |
//! | `/other-id.json` | a valid document whose `client_id` is `…/client.json` |
//! | `/big.json` | more than 5,120 bytes, with `Content-Length` |
//! | `/big-chunked.json` | more than 5,120 bytes, chunked (no length announced) |
//! | `/slow.json` | the valid document, after 12 s |
//! | `/redirect.json` | 302 to `/client.json` |
//! | `/not-json.json` | `{"client_id": ` and nothing more |
//! | `/private-key-jwt.json` | a document asking for `private_key_jwt` |

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::outbound::StaticLookup;
use portcullis::store::{AuditFilter, AuditRecord};
use serde_json::{Value, json};

use crate::support::browser::{Browser, Page, REDIRECT_URI, hidden, pkce, query};
use crate::support::{Spawned, T0, TestApp, decode_jwt};

const AUTHORIZE: &str = "/resources/res_tickets/oauth/authorize";
const TOKEN: &str = "/resources/res_tickets/oauth/token";

use crate::support::authorize::assert_error_page;
use crate::support::cimd_server::*;

// ---------------------------------------------------------------------------------------
// portcullis with the guard's name table, the exemptions and the test CA.

struct Cimd {
    s: Spawned,
    server: DocServer,
    b: Browser,
    _pki: Pki,
}

async fn setup() -> Cimd {
    let pki = make_pki();
    let server = DocServer::start(pki.certs.clone()).await;
    let ip = |s: &str| -> Vec<IpAddr> { vec![s.parse().unwrap()] };
    let lookup = StaticLookup(HashMap::from([
        ("cimd.test".to_string(), ip("127.0.0.1")),
        ("metadata.test".to_string(), ip("127.0.0.1")),
        ("wrongname.test".to_string(), ip("127.0.0.1")),
        ("evil.test".to_string(), ip("127.0.0.1")),
        ("meta.test".to_string(), ip("169.254.169.254")),
    ]));
    let s = TestApp::builder()
        .outsider(
            Arc::new(lookup),
            &["cimd.test", "metadata.test", "wrongname.test"],
            Some(&pki.ca_file),
        )
        .spawn()
        .await;
    let b = Browser::new(&s);
    Cimd {
        s,
        server,
        b,
        _pki: pki,
    }
}

impl Cimd {
    /// An authorization request by `client_id` for res_tickets; returns the answer and the
    /// PKCE verifier.
    async fn authorize(&self, client_id: &str, redirect_uri: &str) -> (Page, String) {
        let (verifier, challenge) = pkce();
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", "st-cimd"),
                ("scope", "tickets.read tickets.manage"),
                ("login_hint", "alice@example.com"),
            ])
            .finish();
        (self.b.get(&format!("{AUTHORIZE}?{q}")).await, verifier)
    }

    async fn audit(&self, kind: &str, client_id: &str) -> Vec<AuditRecord> {
        self.s.app.state.audit.flush().await;
        self.s
            .app
            .state
            .store
            .list_audit_events(&AuditFilter {
                kind: Some(kind.into()),
                client_id: Some(client_id.into()),
                limit: 1000,
            })
            .await
            .unwrap()
    }

    /// Applies a seed to the running app's store (through its cache).
    async fn apply_seed(&self, text: &str) {
        let state = &self.s.app.state;
        portcullis::seed::apply(&state.store, &state.config.secret, &|_| None, text, T0)
            .await
            .expect("seed applies");
    }

    /// The authorization request by `client_id` is refused with an `invalid_client` page
    /// (400, no redirect), one `client_metadata.refused` event whose `detail.error`
    /// contains `cause`, no `client_metadata.fetched` event, and no stored client.
    async fn assert_refused(&self, client_id: &str, cause: &str) {
        let (page, _) = self.authorize(client_id, REDIRECT_URI).await;
        assert_error_page(&page, 400, "invalid_client");
        assert!(
            page.body.contains("metadata document was refused"),
            "{}",
            page.body
        );
        let refused = self.audit("client_metadata.refused", client_id).await;
        assert_eq!(refused.len(), 1, "{refused:?}");
        let error = refused[0].detail["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(cause),
            "detail.error `{error}` should name the cause `{cause}`"
        );
        assert!(
            self.audit("client_metadata.fetched", client_id)
                .await
                .is_empty()
        );
        assert!(
            self.s
                .app
                .state
                .store
                .find_client(client_id)
                .await
                .unwrap()
                .is_none(),
            "a refused document leaves no client behind"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The happy path.

#[tokio::test]
async fn a_metadata_document_client_signs_in_and_gets_tokens_with_one_fetch() {
    let c = setup().await;
    let client_id = c.server.url("cimd.test", "/client.json");

    for path in [
        "/.well-known/oauth-authorization-server".to_string(),
        "/.well-known/oauth-authorization-server/resources/res_tickets".to_string(),
    ] {
        let meta: Value =
            c.b.http
                .get(format!("{}{path}", c.s.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        assert_eq!(
            meta["client_id_metadata_document_supported"], true,
            "{path}: {meta}"
        );
    }

    let (start, verifier) = c.authorize(&client_id, REDIRECT_URI).await;
    assert!(
        start.status.is_redirection(),
        "{} {}",
        start.status,
        start.body
    );
    let after_login =
        c.b.simulator_login(
            start.location.as_deref().unwrap(),
            "alice@example.com",
            "jira-admins",
        )
        .await;
    assert!(
        after_login.status.is_redirection(),
        "{} {}",
        after_login.status,
        after_login.body
    );
    let consent_location = after_login.location.unwrap();
    assert!(
        consent_location.starts_with("/oauth/consent"),
        "{consent_location}"
    );
    let consent = c.b.get(&consent_location).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(
        consent.body.contains(r#"id="client-host">cimd.test<"#),
        "the consent page shows the document's host: {}",
        consent.body
    );
    assert!(consent.body.contains("CIMD Test App"), "{}", consent.body);
    assert!(
        !consent.body.contains("registered itself"),
        "a CIMD client is not a self-registered one: {}",
        consent.body
    );
    let done =
        c.b.post(
            "/oauth/consent",
            &[
                ("request", &hidden(&consent.body, "request")),
                ("csrf", &hidden(&consent.body, "csrf")),
                ("decision", "approve"),
            ],
        )
        .await;
    assert!(
        done.status.is_redirection(),
        "{} {}",
        done.status,
        done.body
    );
    let location = done.location.unwrap();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let callback = query(&location);
    assert_eq!(callback["state"], "st-cimd");

    let (status, body) =
        c.b.token(
            TOKEN,
            &[
                ("grant_type", "authorization_code"),
                ("code", &callback["code"]),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
                ("client_id", &client_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "tickets.read tickets.manage:org_acme");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["scope"], "tickets.read tickets.manage:org_acme");
    assert_eq!(
        claims["aud"],
        json!(["res_tickets", "http://127.0.0.1:8081/mcp"])
    );

    // The refresh grant the document allows works for the public client too.
    let (status, refreshed) =
        c.b.token(
            TOKEN,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().unwrap()),
                ("client_id", &client_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["scope"], "tickets.read tickets.manage:org_acme");

    // A second authorization request is answered from the cache (max-age=300).
    let (again, _) = c.authorize(&client_id, REDIRECT_URI).await;
    assert!(
        again.status.is_redirection(),
        "{} {}",
        again.status,
        again.body
    );
    assert_eq!(c.server.hits("cimd.test", "/client.json"), 1);
    assert_eq!(c.server.total_hits(), 1);
    let fetched = c.audit("client_metadata.fetched", &client_id).await;
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    assert_eq!(fetched[0].detail["error"], Value::Null);
    assert!(
        c.audit("client_metadata.refused", &client_id)
            .await
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Refused documents.

#[tokio::test]
async fn a_document_whose_client_id_differs_from_its_url_is_refused() {
    let c = setup().await;
    let url = c.server.url("cimd.test", "/other-id.json");
    c.assert_refused(&url, "client_id differs from its URL")
        .await;
    assert_eq!(c.server.hits("cimd.test", "/other-id.json"), 1);
}

#[tokio::test]
async fn a_redirect_uri_not_in_the_document_is_refused_with_a_page() {
    let c = setup().await;
    let client_id = c.server.url("cimd.test", "/client.json");
    for uri in ["http://127.0.0.1:9999/other", "https://attacker.example/cb"] {
        let (page, _) = c.authorize(&client_id, uri).await;
        assert_error_page(&page, 400, "invalid_redirect_uri");
    }
    // The document itself was fine: fetched once, and cached.
    assert_eq!(c.server.hits("cimd.test", "/client.json"), 1);
    assert_eq!(
        c.audit("client_metadata.fetched", &client_id).await.len(),
        1
    );
}

#[tokio::test]
async fn an_oversize_document_is_refused_with_or_without_a_content_length() {
    let c = setup().await;
    for path in ["/big.json", "/big-chunked.json"] {
        let url = c.server.url("cimd.test", path);
        c.assert_refused(&url, "larger than 5120 bytes").await;
        assert_eq!(c.server.hits("cimd.test", path), 1);
    }
}

#[tokio::test]
async fn a_slow_document_server_times_out_after_five_seconds() {
    let c = setup().await;
    let url = c.server.url("cimd.test", "/slow.json");
    let started = Instant::now();
    c.assert_refused(&url, "timed out").await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(4_500) && took < SLOW,
        "the fetch gives up after about 5 s, took {took:?}"
    );
    assert_eq!(c.server.hits("cimd.test", "/slow.json"), 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let c = setup().await;
    let url = c.server.url("cimd.test", "/redirect.json");
    c.assert_refused(&url, "redirects are not followed").await;
    assert_eq!(c.server.hits("cimd.test", "/redirect.json"), 1);
    assert_eq!(
        c.server.hits("cimd.test", "/client.json"),
        0,
        "the redirect target is never requested"
    );
}

#[tokio::test]
async fn invalid_json_is_refused_and_the_failure_is_cached() {
    let c = setup().await;
    let url = c.server.url("cimd.test", "/not-json.json");
    c.assert_refused(&url, "not JSON").await;
    // Within the 30 s negative cache: refused again without another fetch or event.
    let (page, _) = c.authorize(&url, REDIRECT_URI).await;
    assert_error_page(&page, 400, "invalid_client");
    assert_eq!(c.server.hits("cimd.test", "/not-json.json"), 1);
    assert_eq!(c.audit("client_metadata.refused", &url).await.len(), 1);
    // The token endpoint knows no such client either.
    let (status, body) =
        c.b.token(
            TOKEN,
            &[
                ("grant_type", "authorization_code"),
                ("code", "whatever"),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &pkce().0),
                ("client_id", &url),
            ],
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_document_asking_for_private_key_jwt_is_refused() {
    let c = setup().await;
    let url = c.server.url("cimd.test", "/private-key-jwt.json");
    c.assert_refused(&url, "private_key_jwt").await;
}

// ---------------------------------------------------------------------------------------
// The SSRF guard and TLS.

#[tokio::test]
async fn hosts_resolving_to_loopback_or_the_metadata_address_are_refused_by_the_guard() {
    let c = setup().await;
    let evil = c.server.url("evil.test", "/client.json");
    c.assert_refused(
        &evil,
        "evil.test resolves only to addresses outsiders may not",
    )
    .await;
    let meta = c.server.url("meta.test", "/client.json");
    let started = Instant::now();
    c.assert_refused(
        &meta,
        "meta.test resolves only to addresses outsiders may not",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused before any connection attempt"
    );
    assert_eq!(
        c.server.total_hits(),
        0,
        "nothing reached the server (its certificate would have matched)"
    );
}

#[tokio::test]
async fn an_ip_literal_client_id_is_refused_before_any_connection() {
    let c = setup().await;
    let url = format!("https://127.0.0.1:{}/client.json", c.server.port);
    c.assert_refused(
        &url,
        "127.0.0.1 is not an address outsiders may make us reach",
    )
    .await;
    assert_eq!(c.server.total_hits(), 0);
}

#[tokio::test]
async fn an_exempt_host_must_still_present_a_certificate_for_its_name() {
    let c = setup().await;
    // wrongname.test is exempt and resolves to the server, which presents the cimd.test
    // certificate: the TLS name check fails, so no request is made.
    let url = c.server.url("wrongname.test", "/client.json");
    c.assert_refused(&url, "certificate not valid for name")
        .await;
    assert_eq!(c.server.total_hits(), 0);
}

// ---------------------------------------------------------------------------------------
// Per-resource policy.

const TICKETS_WITH_ALLOWLIST: &str = r#"
[[resources]]
id = "res_tickets"
name = "Tickets"
server_url = "http://127.0.0.1:8081/mcp"
access_token_ttl = 300
cimd_allowlist = [ALLOWLIST]
scopes = [ { name = "tickets.read", description = "Read tickets" },
           { name = "tickets.manage", description = "Create and change tickets" } ]
"#;

const TICKETS_WITHOUT_CIMD: &str = r#"
[[resources]]
id = "res_tickets"
name = "Tickets"
server_url = "http://127.0.0.1:8081/mcp"
access_token_ttl = 300
client_id_metadata_documents = false
scopes = [ { name = "tickets.read", description = "Read tickets" },
           { name = "tickets.manage", description = "Create and change tickets" } ]
"#;

#[tokio::test]
async fn a_url_the_resource_allowlist_does_not_admit_is_refused() {
    let c = setup().await;
    c.apply_seed(
        &TICKETS_WITH_ALLOWLIST.replace("ALLOWLIST", r#""https://other.example/client.json""#),
    )
    .await;
    let resource =
        c.s.app
            .state
            .store
            .find_resource("res_tickets")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        resource.cimd_allowlist,
        ["https://other.example/client.json"]
    );
    assert!(resource.is_cimd_enabled);

    let client_id = c.server.url("cimd.test", "/client.json");
    let (page, _) = c.authorize(&client_id, REDIRECT_URI).await;
    assert_error_page(&page, 400, "invalid_target");
    assert!(
        page.body.contains("may not get tokens for that resource"),
        "{}",
        page.body
    );

    // A host pattern admits the other test host, and only it.
    c.apply_seed(&TICKETS_WITH_ALLOWLIST.replace("ALLOWLIST", r#""metadata.test""#))
        .await;
    let (page, _) = c.authorize(&client_id, REDIRECT_URI).await;
    assert_error_page(&page, 400, "invalid_target");
    let admitted = c.server.url("metadata.test", "/client.json");
    let (page, _) = c.authorize(&admitted, REDIRECT_URI).await;
    assert!(
        page.status.is_redirection(),
        "{} {}",
        page.status,
        page.body
    );
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.contains("/sso/v1/simulator/")),
        "{:?}",
        page.location
    );
    assert_eq!(c.server.hits("metadata.test", "/client.json"), 1);
}

#[tokio::test]
async fn a_resource_with_cimd_turned_off_refuses_metadata_clients() {
    let c = setup().await;
    c.apply_seed(TICKETS_WITHOUT_CIMD).await;
    let resource =
        c.s.app
            .state
            .store
            .find_resource("res_tickets")
            .await
            .unwrap()
            .unwrap();
    assert!(!resource.is_cimd_enabled);
    let client_id = c.server.url("cimd.test", "/client.json");
    let (page, _) = c.authorize(&client_id, REDIRECT_URI).await;
    assert_error_page(&page, 400, "invalid_target");
    assert!(
        page.body.contains("may not get tokens for that resource"),
        "{}",
        page.body
    );
    // A DCR client still gets through to login there.
    let dcr = c.b.register("res_tickets").await;
    let (page, _) = c.authorize(&dcr, REDIRECT_URI).await;
    assert!(
        page.status.is_redirection(),
        "{} {}",
        page.status,
        page.body
    );
}
