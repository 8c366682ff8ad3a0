//! The real upstream OpenID provider of the OIDC federation tests: npm `oidc-provider`
//! (pinned in tests/peers/oidc-provider, installed there by tests/run.sh) run by
//! tests/peers/oidc-provider/server.mjs on 127.0.0.1 with Node.js 22, its supported runtime,
//! pinned there as npm `node`.
//!
//! One confidential client (`client_secret_basic`, code flow, PKCE S256 optional) and the
//! users alice (`jira-admins`, `eng`), bob (`eng`), `unverified` (email_verified false) and
//! `outsider` (outsider@other.example); see the top of server.mjs. Nobody types anything: the
//! `login_hint` of the authorization request (account id or email) picks the user,
//! `login_hint=cancel` ends with `error=access_denied`. A browser following the redirects needs
//! a cookie jar (the interaction cookies are path-scoped).
//!
//! It serves on a socket the harness bound ([`PeerSocket`]) and says `READY <issuer>` on
//! stdout once it does. Every start generates a new RS256 key (`kid`), so
//! [`OidcIdp::restart`] is a key rotation on the same issuer (the same socket). The process is
//! killed when the `OidcIdp` is dropped.

use std::path::{Path, PathBuf};

use crate::support::peers::{Peer, PeerSocket};

pub struct OidcIdp {
    /// `http://127.0.0.1:<port>`, exactly as in the discovery document (no trailing slash).
    pub issuer: String,
    pub port: u16,
    /// The `kid` of the current signing key (changes on every restart).
    pub kid: String,
    socket: PeerSocket,
    peer: Peer,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc-provider")
}

impl OidcIdp {
    /// Starts the provider on a free loopback port with one client. Panics (with the
    /// provider's output) if it exits before serving.
    pub async fn start(client_id: &str, client_secret: &str, redirect_uri: &str) -> OidcIdp {
        let socket = PeerSocket::bind();
        let (peer, kid) = run(&socket, client_id, client_secret, redirect_uri).await;
        OidcIdp {
            issuer: format!("http://127.0.0.1:{}", socket.port),
            port: socket.port,
            kid,
            socket,
            peer,
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            redirect_uri: redirect_uri.to_string(),
        }
    }

    /// Stops the provider and starts it again on the same socket: same issuer and client, a
    /// new signing key (`self.kid` is updated), and no sessions, grants or codes of the old run.
    pub async fn restart(&mut self) {
        self.peer.stop().await;
        let (peer, kid) = run(
            &self.socket,
            &self.client_id,
            &self.client_secret,
            &self.redirect_uri,
        )
        .await;
        self.peer = peer;
        self.kid = kid;
    }
}

/// Starts server.mjs on `socket`; returns the process and the `kid` it said it signs with.
async fn run(
    socket: &PeerSocket,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
) -> (Peer, String) {
    let dir = peer_dir();
    let node = dir.join("node_modules/node/bin/node");
    assert!(
        dir.join("node_modules/oidc-provider/package.json")
            .is_file()
            && node.is_file(),
        "oidc-provider and Node.js 22 are not installed in {}: run tests/run.sh, or \
         `npm ci --prefix tests/peers/oidc-provider`",
        dir.display()
    );
    let mut cmd = socket.node(&node);
    cmd.arg(dir.join("server.mjs"))
        .env("NODE_ENV", "production")
        .args(["--port", &socket.port.to_string()])
        .args(["--client-id", client_id])
        .args(["--client-secret", client_secret])
        .args(["--redirect-uri", redirect_uri])
        .current_dir(&dir);
    // stdout: `KID <kid>`, then `READY <issuer>` once it serves.
    let mut peer = Peer::spawn("oidc-provider", cmd);
    let kid = peer.wait_for(|l| l.starts_with("KID ")).await;
    let issuer = format!("http://127.0.0.1:{}", socket.port);
    peer.wait_for(|l| l == format!("READY {issuer}")).await;
    (peer, kid["KID ".len()..].to_string())
}
