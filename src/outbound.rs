//! The outbound HTTP clients. [`outbound_client`] calls hosts an admin configured (IdP
//! discovery, JWKS, tokens). [`guarded_client`] fetches URLs an outsider controls (Client ID
//! Metadata Documents, a client's `logo_uri` or `jwks_uri`): the SSRF guard. Names are
//! resolved by our own resolver, which drops loopback, private, link-local, shared-address,
//! metadata and their IPv6 forms (every form that embeds IPv4: compatible, mapped,
//! translated, NAT64, 6to4, Teredo), so the check holds for the address actually connected to
//! (no DNS-rebinding gap). Proxy variables are ignored, redirects are not followed, time and
//! size are capped. `PORTCULLIS_ALLOW_PRIVATE_HOSTS` exempts named hosts (tests, labs).
//! Both trust the PEM roots of `PORTCULLIS_EXTRA_CA_FILE` ([`extra_roots`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::Config;

/// Where names are looked up: the system resolver, or a fixed table in tests.
pub trait NameLookup: Send + Sync + std::fmt::Debug {
    fn lookup(
        &self,
        host: &str,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

#[derive(Debug, Default)]
pub struct SystemLookup;

impl NameLookup for SystemLookup {
    fn lookup(
        &self,
        host: &str,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_string();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// A fixed name → address table (tests make a name resolve to 127.0.0.1 with it).
#[derive(Debug, Default)]
pub struct StaticLookup(pub HashMap<String, Vec<IpAddr>>);

impl NameLookup for StaticLookup {
    fn lookup(
        &self,
        host: &str,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let found = self.0.get(host).cloned();
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "unknown host"))
        })
    }
}

/// Addresses an outsider must never make us reach.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // includes 169.254.169.254
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64.0.0/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || o[0] >= 240 // reserved
}

fn is_forbidden_v6(v6: Ipv6Addr) -> bool {
    match embedded_v4(v6) {
        Embedded::Refused => true,
        Embedded::V4(addrs) => addrs.into_iter().any(is_forbidden_v4),
        Embedded::None => {
            let seg0 = v6.segments()[0];
            v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xffc0) == 0xfec0 // site-local (deprecated)
                || v6.segments()[..2] == [0x2001, 0xdb8] // documentation 2001:db8::/32
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) // AWS IMDS over IPv6
        }
    }
}

/// What an IPv6 address says about IPv4: nothing, the IPv4 addresses it reaches, or a
/// form whose IPv4 address cannot be told (refused outright).
#[derive(Debug, PartialEq, Eq)]
enum Embedded {
    None,
    V4(Vec<Ipv4Addr>),
    Refused,
}

fn v4_of(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

/// The IPv4 address inside every IPv6 form that carries one, so a guard that judges IPv4
/// cannot be walked around through a translator, a tunnel or a dual-stack socket.
fn embedded_v4(v6: Ipv6Addr) -> Embedded {
    let s = v6.segments();
    match s {
        // IPv4-compatible ::/96 (RFC 4291 §2.5.5.1; also :: and ::1, judged as 0.0.0.x).
        [0, 0, 0, 0, 0, 0, hi, lo] => Embedded::V4(vec![v4_of(hi, lo)]),
        // IPv4-mapped ::ffff:0:0/96 (RFC 4291 §2.5.5.2).
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Embedded::V4(vec![v4_of(hi, lo)]),
        // IPv4-translated ::ffff:0:0:0/96 (RFC 2765 §2.1).
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Embedded::V4(vec![v4_of(hi, lo)]),
        // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052 §2.1).
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Embedded::V4(vec![v4_of(hi, lo)]),
        // NAT64 local-use 64:ff9b:1::/48 (RFC 8215): where the IPv4 address sits depends on
        // the operator's prefix length, so it cannot be judged.
        [0x64, 0xff9b, 1, ..] => Embedded::Refused,
        // 6to4 2002::/16 (RFC 3056 §2): the IPv4 address follows the prefix.
        [0x2002, hi, lo, ..] => Embedded::V4(vec![v4_of(hi, lo)]),
        // Teredo 2001::/32 (RFC 4380 §4): the server's address, then the client's inverted.
        [0x2001, 0, server_hi, server_lo, _, _, client_hi, client_lo] => Embedded::V4(vec![
            v4_of(server_hi, server_lo),
            v4_of(!client_hi, !client_lo),
        ]),
        _ => Embedded::None,
    }
}

/// The resolver of guarded clients.
#[derive(Debug)]
pub struct GuardedResolver {
    lookup: Arc<dyn NameLookup>,
    allowed_hosts: Vec<String>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let is_exempt = self
            .allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host));
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let ips = lookup.lookup(&host).await?;
            let allowed: Vec<SocketAddr> = ips
                .into_iter()
                .filter(|ip| is_exempt || !is_forbidden(*ip))
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves only to addresses outsiders may not make us reach"
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Is this URL's host allowed before any lookup (IP literals never reach the resolver)?
pub fn check_literal_host(url: &url::Url, allowed_hosts: &[String]) -> Result<(), String> {
    let host = url.host_str().unwrap_or("");
    if allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    match ip {
        Some(ip) if is_forbidden(ip) => Err(format!(
            "{ip} is not an address outsiders may make us reach"
        )),
        _ if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") => {
            Err("localhost is not reachable for outsider-controlled URLs".into())
        }
        _ => Ok(()),
    }
}

/// A client for outsider-controlled URLs: guarded resolver, no proxy, no redirects, 5 s.
pub fn guarded_client(
    lookup: Arc<dyn NameLookup>,
    allowed_hosts: Vec<String>,
    extra_roots: &[reqwest::Certificate],
) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(5))
        .dns_resolver(Arc::new(GuardedResolver {
            lookup,
            allowed_hosts,
        }));
    for cert in extra_roots {
        builder = builder.add_root_certificate(cert.clone());
    }
    // Fail closed: without its guard this client must not exist.
    builder
        .build()
        .expect("the guarded outbound HTTP client must build")
}

/// The client for outbound calls to admin-configured hosts (IdP discovery, JWKS, tokens):
/// no redirects, no proxy variables, a timeout, and `PORTCULLIS_EXTRA_CA_FILE` trusted.
pub(crate) fn outbound_client(roots: &[reqwest::Certificate]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10));
    for cert in roots {
        builder = builder.add_root_certificate(cert.clone());
    }
    builder.build().unwrap_or_default()
}

/// The certificates of `PORTCULLIS_EXTRA_CA_FILE`, trusted for outbound https.
pub(crate) fn extra_roots(config: &Config) -> Vec<reqwest::Certificate> {
    let Some(path) = &config.extra_ca_file else {
        return Vec::new();
    };
    match std::fs::read(path).map(|pem| reqwest::Certificate::from_pem_bundle(&pem)) {
        Ok(Ok(certs)) => certs,
        _ => {
            tracing::error!(file = %path.display(), "PORTCULLIS_EXTRA_CA_FILE is not a readable PEM bundle");
            Vec::new()
        }
    }
}

/// Reads at most `limit` bytes of a response body; more is an error.
pub async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|n| n as usize > limit)
    {
        return Err(format!("the document is larger than {limit} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the document failed: {e}"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            return Err(format!("the document is larger than {limit} bytes"));
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forbidden_addresses_in_both_families() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "fd00:ec2::254",
        ] {
            assert!(is_forbidden(ip(bad)), "{bad} must be refused");
        }
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "100.128.0.1",
        ] {
            assert!(!is_forbidden(ip(good)), "{good} is public");
        }
    }

    #[test]
    fn every_ipv6_form_that_embeds_ipv4_is_judged_by_that_address() {
        for bad in [
            // IPv4-compatible ::/96
            "::127.0.0.1",
            "::10.0.0.1",
            "::169.254.169.254",
            // IPv4-mapped ::ffff:0:0/96
            "::ffff:10.0.0.1",
            "::ffff:100.64.0.1",
            // IPv4-translated ::ffff:0:0:0/96
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48
            "64:ff9b::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::808:808",
            "64:ff9b:1:abcd::1",
            // 6to4 2002::/16
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2002:c0a8:101:1::1",
            // Teredo 2001::/32: client address is the last 32 bits inverted
            "2001:0:4136:e378:8000:63bf:80ff:fffe", // client 127.0.0.1
            "2001:0:4136:e378:8000:63bf:5601:5601", // client 169.254.169.254 (inverted)
            "2001:0:4136:e378:8000:63bf:f5ff:fffe", // client 10.0.0.1
        ] {
            assert!(is_forbidden(ip(bad)), "{bad} must be refused");
        }
        for good in [
            "::ffff:0:808:808",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7", // client 8.8.8.8
        ] {
            assert!(!is_forbidden(ip(good)), "{good} embeds a public address");
        }
    }

    #[test]
    fn ip_literals_and_localhost_are_checked_before_lookup() {
        let allowed = vec!["cimd.test".to_string()];
        assert!(
            check_literal_host(&url::Url::parse("https://127.0.0.1/x").unwrap(), &allowed).is_err()
        );
        assert!(
            check_literal_host(&url::Url::parse("https://[::1]/x").unwrap(), &allowed).is_err()
        );
        assert!(
            check_literal_host(&url::Url::parse("https://localhost/x").unwrap(), &allowed).is_err()
        );
        assert!(
            check_literal_host(&url::Url::parse("https://app.example/x").unwrap(), &allowed)
                .is_ok()
        );
        assert!(
            check_literal_host(&url::Url::parse("https://cimd.test/x").unwrap(), &allowed).is_ok()
        );
    }

    #[tokio::test]
    async fn the_resolver_drops_forbidden_addresses_unless_the_host_is_exempt() {
        let lookup = Arc::new(StaticLookup(HashMap::from([
            (
                "evil.test".to_string(),
                vec![ip("127.0.0.1"), ip("169.254.169.254")],
            ),
            (
                "mixed.test".to_string(),
                vec![ip("10.0.0.1"), ip("93.184.216.34")],
            ),
            ("lab.test".to_string(), vec![ip("127.0.0.1")]),
        ])));
        let r = GuardedResolver {
            lookup,
            allowed_hosts: vec!["lab.test".into()],
        };
        let name = |s: &str| -> Name { s.parse().unwrap() };
        assert!(r.resolve(name("evil.test")).await.is_err());
        let mixed: Vec<SocketAddr> = r.resolve(name("mixed.test")).await.unwrap().collect();
        assert_eq!(
            mixed,
            vec![SocketAddr::new(ip("93.184.216.34"), 0)],
            "only the public address is connected to"
        );
        let lab: Vec<SocketAddr> = r.resolve(name("lab.test")).await.unwrap().collect();
        assert_eq!(lab, vec![SocketAddr::new(ip("127.0.0.1"), 0)]);
    }
}
