//! The real upstream SAML IdP of the SAML tests: npm `saml-idp` 1.2.1 (pinned in
//! tests/peers/saml-idp with an `overrides` entry pinning `samlp` to 7.1.1, installed there by
//! tests/run.sh), run with `node` from PATH on a socket the harness bound on loopback
//! ([`PeerSocket`]), with a certificate and key made at test time by `openssl`. Its metadata is
//! at `{base}/metadata`.
//!
//! Nobody types anything: [`SamlIdp::sign_in`] posts a user's attributes to `/signin` (with
//! the AuthnRequest the IdP parsed, for SP-initiated logins) and returns the auto-submit
//! form's `SAMLResponse`, `RelayState` and action. The process is killed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use crate::support::peers::{Peer, PeerSocket};

pub const IDP_ENTITY_ID: &str = "urn:test:saml-idp";

/// A test user of the IdP.
pub struct User {
    pub email: &'static str,
    pub groups: &'static str,
    pub display_name: &'static str,
}

pub const ALICE: User = User {
    email: "alice@example.com",
    groups: "jira-admins,eng",
    display_name: "Alice Admin",
};
pub const BOB: User = User {
    email: "bob@example.com",
    groups: "eng",
    display_name: "Bob Reader",
};

/// What the IdP's auto-submit page carries.
#[derive(Debug, Clone)]
pub struct Posted {
    pub action: String,
    pub saml_response: String,
    pub relay_state: String,
}

pub struct SamlIdp {
    pub base: String,
    peer: Option<Peer>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    socket: PeerSocket,
    /// Which certificate it signs with (`idp{generation}.crt` in `dir`).
    generation: u32,
    acs_url: String,
    audience: String,
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/saml-idp")
}

/// A self-signed RSA-2048 certificate and key (PEM) in `dir` as `{name}.crt`/`{name}.key`.
pub fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (crt, key)
}

/// The base64 DER of a PEM certificate (what metadata's X509Certificate holds).
pub fn cert_body(crt: &Path) -> String {
    std::fs::read_to_string(crt)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

/// Undoes the HTML escaping of an attribute value.
pub fn unescape(s: &str) -> String {
    s.replace("&#x3D;", "=")
        .replace("&#x2F;", "/")
        .replace("&#x27;", "'")
        .replace("&#x60;", "`")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `name="{name}"`'s `value` attribute in a page (either quote style).
pub fn field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let v = rest.find("value=")? + "value=".len();
    let quote = rest[v..].chars().next()?;
    let body = &rest[v + 1..];
    Some(unescape(&body[..body.find(quote)?]))
}

impl SamlIdp {
    /// Starts saml-idp for an SP (its ACS URL and entity id). Panics (with its output) if it
    /// exits before serving.
    pub async fn start(acs_url: &str, audience: &str) -> SamlIdp {
        let peer = peer_dir();
        assert!(
            peer.join("node_modules/saml-idp/package.json").is_file(),
            "saml-idp is not installed in {}: run tests/run.sh, or `npm ci --prefix tests/peers/saml-idp`",
            peer.display()
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.js"), USERS_JS).unwrap();
        let socket = PeerSocket::bind();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut idp = SamlIdp {
            base: format!("http://127.0.0.1:{}", socket.port),
            peer: None,
            dir,
            http,
            socket,
            generation: 0,
            acs_url: acs_url.into(),
            audience: audience.into(),
        };
        idp.run().await;
        idp
    }

    /// A key rotation: stopped, then started again on the same socket (same entity id and
    /// metadata URL) with a new certificate and key.
    pub async fn restart_with_new_key(&mut self) {
        if let Some(mut peer) = self.peer.take() {
            peer.stop().await;
        }
        self.generation += 1;
        self.run().await;
    }

    async fn run(&mut self) {
        let (crt, key) = make_cert(self.dir.path(), &format!("idp{}", self.generation));
        let mut cmd = self.socket.node(Path::new("node"));
        cmd.arg(peer_dir().join("node_modules/saml-idp/bin/run.js"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &self.socket.port.to_string(),
            ])
            .arg("--cert")
            .arg(&crt)
            .arg("--key")
            .arg(&key)
            .args(["--issuer", IDP_ENTITY_ID])
            .args(["--acsUrl", &self.acs_url, "--audience", &self.audience])
            .arg("--configFile")
            .arg(self.dir.path().join("users.js"))
            .current_dir(peer_dir());
        // Printed in its server's `listen` callback, its routes all set up.
        let (peer, _) = Peer::start("saml-idp", cmd, |l| l == "IdP server ready at").await;
        self.peer = Some(peer);
    }

    pub fn metadata_url(&self) -> String {
        format!("{}/metadata", self.base)
    }

    /// Signs `user` in. `sso_url` is the IdP URL our AuthnRequest redirect led to (with
    /// `SAMLRequest` and `RelayState`), or `None` for an IdP-initiated login.
    pub async fn sign_in(&self, user: &User, sso_url: Option<&str>) -> Posted {
        let mut form: Vec<(String, String)> = vec![
            ("userName".into(), user.email.into()),
            (
                "nameIdFormat".into(),
                "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
            ),
            ("email".into(), user.email.into()),
            ("displayName".into(), user.display_name.into()),
            ("groups".into(), user.groups.into()),
        ];
        if let Some(url) = sso_url {
            let page = self.http.get(url).send().await.unwrap();
            assert_eq!(page.status(), 200, "saml-idp refused our AuthnRequest");
            let html = page.text().await.unwrap();
            let request = field(&html, "_authnRequest")
                .unwrap_or_else(|| panic!("no _authnRequest in the IdP's page: {html}"));
            form.push(("_authnRequest".into(), request));
        }
        let res = self
            .http
            .post(format!("{}/signin", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        let html = res.text().await.unwrap();
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(unescape)
            .unwrap_or_else(|| panic!("no form in the IdP's answer: {html}"));
        Posted {
            action,
            saml_response: field(&html, "SAMLResponse").expect("SAMLResponse"),
            relay_state: field(&html, "RelayState").unwrap_or_default(),
        }
    }
}

/// saml-idp's profile and attribute metadata: NameID, email, displayName, multi-valued groups.
const USERS_JS: &str = r#"
module.exports = {
  user: {
    userName: 'nobody@example.com',
    nameIdFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    email: 'nobody@example.com',
    displayName: 'Nobody',
    groups: 'none'
  },
  metadata: [
    { id: 'email', optional: false, displayName: 'E-Mail Address', description: 'email', multiValue: false },
    { id: 'displayName', optional: true, displayName: 'Display Name', description: 'name', multiValue: false },
    { id: 'groups', optional: true, displayName: 'Groups', description: 'groups', multiValue: true }
  ]
};
"#;
