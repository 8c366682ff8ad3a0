//! The https server of the Client ID Metadata Document tests: a test CA and server certificates
//! made with `openssl`, and a server on 127.0.0.1:0 (tokio-rustls and a minimal HTTP/1.1
//! responder) that answers by path and counts the requests it gets, per host and path. The
//! documents it serves are listed atop tests/it/cimd.rs.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

use crate::support::browser::REDIRECT_URI;

/// How long `/slow.json` takes.
pub const SLOW: Duration = Duration::from_secs(12);

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
pub struct BySni {
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
pub struct Pki {
    /// The CA certificate as PEM, for `extra_ca_file` (and `NODE_EXTRA_CA_CERTS`).
    pub ca_file: PathBuf,
    pub certs: Arc<BySni>,
    _dir: tempfile::TempDir,
}

pub fn make_pki() -> Pki {
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

pub struct DocServer {
    pub port: u16,
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
    pub async fn start(certs: Arc<BySni>) -> DocServer {
        Self::start_for(certs, REDIRECT_URI).await
    }

    /// Serves the documents above, whose `redirect_uris` are `[redirect_uri]`.
    pub async fn start_for(certs: Arc<BySni>, redirect_uri: &str) -> DocServer {
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
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.port)
    }

    pub fn hits(&self, host: &str, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(h, p)| h == host && p == path)
            .count()
    }

    pub fn total_hits(&self) -> usize {
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
