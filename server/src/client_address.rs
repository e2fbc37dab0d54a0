//! The client address of a request: the TCP peer, or, when the peer is one of the operator's
//! `--trusted-proxies`, the address that proxy says it forwarded for (RFC 7239 `Forwarded`,
//! else `X-Forwarded-For`). It feeds the throttles and the audit trail, so a header is believed
//! only from a proxy the operator named; anyone else could write any address into it.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

pub use app::auth::ClientAddress;

/// One trusted proxy network: a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(IpNet);

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Self(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| Self(IpNet::from(ip)))
            .map_err(|_| format!("{s:?} is neither a CIDR (10.0.0.0/8) nor an IP address"))
    }
}

impl<'de> serde::Deserialize<'de> for ProxyNet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The proxies whose forwarding headers are believed (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Arc<[ProxyNet]>);

impl TrustedProxies {
    pub fn new(nets: Vec<ProxyNet>) -> Self {
        Self(nets.into())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.0.contains(&ip))
    }

    /// The client address of a request from `peer` with these headers: walking the forwarded
    /// hops from the nearest (rightmost) one, the first address that is not a trusted proxy.
    /// An unreadable hop stops the walk at the trusted proxy that reported it.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if self.0.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = canonical(*ip);
                    if !self.trusts(client) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// IPv4 clients reaching a dual-stack listener appear as `::ffff:a.b.c.d`; they are the IPv4
/// address, for the throttles and the audit trail alike.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The `for` addresses of `Forwarded` (RFC 7239 §4), or else of `X-Forwarded-For`, in order
/// (client first); `None` for a hop that is not an address (`unknown`, an obfuscated name,
/// garbage). Every header line counts, in order, as RFC 9110 §5.3 combines them.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let lines = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect()
    };
    let forwarded = lines("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|line| line.split(','))
            .map(|element| {
                let value = element.split(';').find_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    key.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"').to_owned())
                });
                value.and_then(|v| node_address(&v))
            })
            .collect();
    }
    lines("x-forwarded-for").iter().flat_map(|line| line.split(',')).map(|hop| node_address(hop.trim())).collect()
}

/// An address as `Forwarded` or `X-Forwarded-For` write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn node_address(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).and_then(|inner| inner.parse().ok())
}

/// Puts the request's [`ClientAddress`] into its extensions, for the API, the dashboard and
/// the audit trail alike.
pub async fn resolve(State(proxies): State<TrustedProxies>, mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = proxies.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().expect("net")).collect())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7"), ("forwarded", "for=198.51.100.8")]);
        assert_eq!(TrustedProxies::default().client(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        assert_eq!(proxies(&["10.0.0.0/8"]).client(ip("203.0.113.9"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.7, 10.1.2.3")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &h), ip("198.51.100.7"));
        // A client cannot hide behind an address it wrote itself: the rightmost untrusted hop wins.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7")]);
        assert_eq!(trusted.client(ip("192.0.2.1"), &h), ip("198.51.100.7"));
        let h = headers(&[("forwarded", r#"for=198.51.100.8;proto=https, for="[2001:db8:cafe::17]:4711""#)]);
        assert_eq!(trusted.client(ip("10.9.9.9"), &h), ip("2001:db8:cafe::17"));
        // Forwarded wins over X-Forwarded-For when both are present.
        let h = headers(&[("x-forwarded-for", "198.51.100.7"), ("Forwarded", "For=198.51.100.9:80")]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &h), ip("198.51.100.9"));
    }

    #[test]
    fn an_unreadable_hop_stops_at_the_proxy_that_reported_it() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &h), ip("10.0.0.5"));
        let h = headers(&[("x-forwarded-for", "198.51.100.7, garbage, 10.0.0.4")]);
        assert_eq!(trusted.client(ip("10.0.0.5"), &h), ip("10.0.0.4"));
        assert_eq!(trusted.client(ip("10.0.0.5"), &HeaderMap::new()), ip("10.0.0.5"));
    }

    #[test]
    fn mapped_ipv4_is_ipv4_and_bad_networks_are_named() {
        assert_eq!(TrustedProxies::default().client(ip("::ffff:192.0.2.9"), &HeaderMap::new()), ip("192.0.2.9"));
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(proxies(&["192.0.2.0/24"]).client(ip("::ffff:192.0.2.9"), &h), ip("198.51.100.7"));
        let error = "10.0.0.0/33".parse::<ProxyNet>().expect_err("refused");
        assert!(error.contains("10.0.0.0/33"), "{error}");
    }
}
