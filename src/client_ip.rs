//! The address a request came from: the peer, or — when the peer is one of
//! `PORTCULLIS_TRUSTED_PROXIES` — the nearest untrusted hop of `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::state::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

/// Pure: the client address from the peer, the trusted proxies and `X-Forwarded-For`.
pub fn client_address(
    peer: Option<IpAddr>,
    trusted: &[IpAddr],
    forwarded_for: Option<&str>,
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops: Vec<IpAddr> = forwarded_for
        .unwrap_or("")
        .split(',')
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .collect();
    // Walk from the nearest hop outwards; the first address we do not trust is the client.
    Some(
        hops.iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .copied()
            .unwrap_or(peer),
    )
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(ClientIp(
            client_address(peer, &app.config.trusted_proxies, forwarded)
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "unknown".into()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            client_address(Some(ip("1.2.3.4")), &trusted, Some("9.9.9.9")),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), &trusted, Some("5.6.7.8, 10.0.0.2")),
            Some(ip("5.6.7.8"))
        );
        // A client cannot spoof its address by prepending hops: the nearest untrusted wins.
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), &trusted, Some("1.1.1.1, 5.6.7.8")),
            Some(ip("5.6.7.8"))
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), &trusted, None),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(client_address(None, &trusted, Some("5.6.7.8")), None);
    }
}
