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
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};
use portcullis::outbound::StaticLookup;
use portcullis::store::{AuditFilter, AuditRecord};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::browser::{Browser, Page, REDIRECT_URI, hidden, pkce, query};
use crate::support::{Spawned, T0, TestApp, decode_jwt};

const AUTHORIZE: &str = "/resources/res_tickets/oauth/authorize";
const TOKEN: &str = "/resources/res_tickets/oauth/token";
const SLOW: Duration = Duration::from_secs(12);

// ---------------------------------------------------------------------------------------
// A test CA and server certificates.

fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn serial(n: u32) -> Asn1Integer {
    BigNum::from_u32(n).unwrap().to_asn1_integer().unwrap()
}

fn validity(b: &mut openssl::x509::X509Builder) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    b.set_not_before(&Asn1Time::from_unix(now - 3600).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(now + 86_400).unwrap())
        .unwrap();
}

fn name(cn: &str) -> openssl::x509::X509Name {
    let mut n = X509NameBuilder::new().unwrap();
    n.append_entry_by_text("CN", cn).unwrap();
    n.build()
}

fn make_ca() -> (X509, PKey<Private>) {
    let key = ec_key();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial(1)).unwrap();
    b.set_subject_name(&name("portcullis CIMD test CA"))
        .unwrap();
    b.set_issuer_name(&name("portcullis CIMD test CA")).unwrap();
    b.set_pubkey(&key).unwrap();
    validity(&mut b);
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .unwrap(),
    )
    .unwrap();
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(ski).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

/// A server certificate signed by the CA for DNS names and IP addresses.
fn make_leaf(
    ca: &X509,
    ca_key: &PKey<Private>,
    serial_no: u32,
    dns: &[&str],
    ips: &[&str],
) -> Arc<CertifiedKey> {
    let key = ec_key();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&serial(serial_no)).unwrap();
    b.set_subject_name(&name(dns[0])).unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.set_pubkey(&key).unwrap();
    validity(&mut b);
    b.append_extension(BasicConstraints::new().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .build()
            .unwrap(),
    )
    .unwrap();
    b.append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
        .unwrap();
    let mut san = SubjectAlternativeName::new();
    for d in dns {
        san.dns(d);
    }
    for ip in ips {
        san.ip(ip);
    }
    let san = san.build(&b.x509v3_context(Some(ca), None)).unwrap();
    b.append_extension(san).unwrap();
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(ca), None))
        .unwrap();
    b.append_extension(aki).unwrap();
    b.sign(ca_key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        key.private_key_to_pkcs8().unwrap(),
    ));
    let signing = rustls::crypto::ring::sign::any_supported_type(&key_der).unwrap();
    Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(cert.to_der().unwrap())],
        signing,
    ))
}

/// The certificates the test server presents, chosen by SNI: `metadata.test` gets its own;
/// anything else (no SNI for IP literals) gets the `cimd.test` one, which also names
/// `evil.test`, `meta.test` and 127.0.0.1, so only the SSRF guard keeps those out.
#[derive(Debug)]
pub(crate) struct BySni {
    cimd: Arc<CertifiedKey>,
    metadata: Arc<CertifiedKey>,
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match hello.server_name() {
            Some("metadata.test") => self.metadata.clone(),
            _ => self.cimd.clone(),
        })
    }
}

/// The test CA (a PEM file in a temporary directory, removed on drop) and the server
/// certificates it signed. Shared with the MCP end-to-end test (tests/it/mcp_e2e.rs).
pub(crate) struct Pki {
    /// The CA certificate as PEM, for `extra_ca_file` (and `NODE_EXTRA_CA_CERTS`).
    pub(crate) ca_file: PathBuf,
    pub(crate) certs: Arc<BySni>,
    _dir: tempfile::TempDir,
}

pub(crate) fn make_pki() -> Pki {
    let (ca, ca_key) = make_ca();
    let cimd = make_leaf(
        &ca,
        &ca_key,
        2,
        &["cimd.test", "evil.test", "meta.test"],
        &["127.0.0.1"],
    );
    let metadata = make_leaf(&ca, &ca_key, 3, &["metadata.test"], &[]);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("test-ca.pem");
    std::fs::write(&ca_file, ca.to_pem().unwrap()).unwrap();
    Pki {
        ca_file,
        certs: Arc::new(BySni { cimd, metadata }),
        _dir: dir,
    }
}

// ---------------------------------------------------------------------------------------
// The document server.

type Hits = Arc<Mutex<Vec<(String, String)>>>;

pub(crate) struct DocServer {
    pub(crate) port: u16,
    /// (host without port, path) of every request that reached the server.
    hits: Hits,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DocServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DocServer {
    /// Serves the documents above, whose `redirect_uris` are [`REDIRECT_URI`].
    async fn start(certs: Arc<BySni>) -> DocServer {
        Self::start_for(certs, REDIRECT_URI).await
    }

    /// Serves the documents above, whose `redirect_uris` are `[redirect_uri]`.
    pub(crate) async fn start_for(certs: Arc<BySni>, redirect_uri: &str) -> DocServer {
        let redirect_uri: Arc<str> = redirect_uri.into();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(certs);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits: Hits = Arc::default();
        let task = tokio::spawn({
            let hits = hits.clone();
            async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    tokio::spawn(handle(
                        acceptor.clone(),
                        tcp,
                        hits.clone(),
                        redirect_uri.clone(),
                    ));
                }
            }
        });
        DocServer { port, hits, task }
    }

    /// `https://<host>:<port><path>`
    pub(crate) fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }

    pub(crate) fn hits(&self, host: &str, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(h, p)| h == host && p == path)
            .count()
    }

    fn total_hits(&self) -> usize {
        self.hits.lock().unwrap().len()
    }
}

fn document(client_id: &str, redirect_uri: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "CIMD Test App",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none"
    })
}

fn response(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| *k == "Transfer-Encoding") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn json_response(doc: &Value, extra: &[(&str, String)]) -> Vec<u8> {
    let mut headers = vec![("Content-Type", "application/json".to_string())];
    headers.extend_from_slice(extra);
    response("200 OK", &headers, doc.to_string().as_bytes())
}

/// A document padded past the 5,120-byte cap.
fn oversize(client_id: &str, redirect_uri: &str) -> Vec<u8> {
    let mut doc = document(client_id, redirect_uri);
    doc["padding"] = json!("x".repeat(6_000));
    doc.to_string().into_bytes()
}

async fn handle(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    hits: Hits,
    redirect_uri: Arc<str>,
) {
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16_384 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_string();
    let host_port = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port.as_str(), |(h, _)| h)
        .to_string();
    hits.lock().unwrap().push((host, path.clone()));
    let base = format!("https://{host_port}");
    let own = format!("{base}{path}");
    let cache = ("Cache-Control", "max-age=300".to_string());
    let doc_for = |client_id: &str| document(client_id, &redirect_uri);
    let out = match path.as_str() {
        "/client.json" => json_response(&doc_for(&own), &[cache]),
        "/other-id.json" => json_response(&doc_for(&format!("{base}/client.json")), &[]),
        "/big.json" => response(
            "200 OK",
            &[("Content-Type", "application/json".into())],
            &oversize(&own, &redirect_uri),
        ),
        "/big-chunked.json" => {
            let body = oversize(&own, &redirect_uri);
            let mut chunked = Vec::new();
            for chunk in body.chunks(1_000) {
                chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                chunked.extend_from_slice(chunk);
                chunked.extend_from_slice(b"\r\n");
            }
            chunked.extend_from_slice(b"0\r\n\r\n");
            response(
                "200 OK",
                &[
                    ("Content-Type", "application/json".into()),
                    ("Transfer-Encoding", "chunked".into()),
                ],
                &chunked,
            )
        }
        "/slow.json" => {
            tokio::time::sleep(SLOW).await;
            json_response(&doc_for(&own), &[cache])
        }
        "/redirect.json" => response(
            "302 Found",
            &[("Location", format!("{base}/client.json"))],
            b"",
        ),
        "/not-json.json" => response(
            "200 OK",
            &[("Content-Type", "application/json".into())],
            br#"{"client_id": "#,
        ),
        "/private-key-jwt.json" => {
            let mut doc = doc_for(&own);
            doc["token_endpoint_auth_method"] = json!("private_key_jwt");
            doc["jwks_uri"] = json!(format!("{base}/jwks.json"));
            json_response(&doc, &[])
        }
        _ => response("404 Not Found", &[], b"not found"),
    };
    let _ = tls.write_all(&out).await;
    let _ = tls.shutdown().await;
}

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
        assert_error_page(&page, "invalid_client");
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

/// A 400 error page with `code`, never a redirect.
fn assert_error_page(page: &Page, code: &str) {
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location.is_none(), "no redirect: {:?}", page.location);
    assert!(
        page.body
            .contains(&format!(r#"<code id="error-code">{code}</code>"#)),
        "expected {code}: {}",
        page.body
    );
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
        assert_error_page(&page, "invalid_redirect_uri");
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
    assert_error_page(&page, "invalid_client");
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
    assert_error_page(&page, "invalid_target");
    assert!(
        page.body.contains("may not get tokens for that resource"),
        "{}",
        page.body
    );

    // A host pattern admits the other test host, and only it.
    c.apply_seed(&TICKETS_WITH_ALLOWLIST.replace("ALLOWLIST", r#""metadata.test""#))
        .await;
    let (page, _) = c.authorize(&client_id, REDIRECT_URI).await;
    assert_error_page(&page, "invalid_target");
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
    assert_error_page(&page, "invalid_target");
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
