//! Where a webhook may go (SSRF): an `https://` URL whose host resolves
//! only to public addresses, checked when the endpoint is created and again
//! at every delivery, by the resolver the sender connects through (so a
//! name that resolves elsewhere later, DNS rebinding, is caught where the
//! connection is made). `--webhook-allow-private` permits private,
//! loopback and link-local destinations, and plain `http://` to them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use super::address::is_public;

/// Which destinations are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destinations {
    pub allow_private: bool,
}

/// Why a destination is refused, in words for the 4xx answer or the
/// delivery's error.
pub type Refusal = String;

impl Destinations {
    /// The URL parsed and checked for what can be checked without DNS:
    /// scheme, host, no credentials, and an IP literal's address.
    pub fn parse(&self, url: &str) -> Result<Url, Refusal> {
        let parsed = Url::parse(url).map_err(|e| format!("not a valid absolute URL ({e})"))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            "http" => return Err("must be https:// (plain http:// only to private addresses allowed by the operator with --webhook-allow-private)".into()),
            other => return Err(format!("the scheme {other}: is not allowed; use https://")),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not carry credentials (user:password@); authenticate with the signature".into());
        }
        if parsed.fragment().is_some() {
            return Err("must not have a #fragment".into());
        }
        match parsed.host() {
            None => return Err("has no host".into()),
            Some(url::Host::Ipv4(ip)) => self.check(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
        }
        Ok(parsed)
    }

    /// Refuses an address the policy does not allow.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(format!(
                "points to {ip}, a private, loopback, link-local or reserved address (refused unless the operator allows it with --webhook-allow-private)"
            ))
        }
    }

    /// Resolves the URL's host and checks every address; a name that does
    /// not resolve is refused. Plain `http://` must lead to private
    /// addresses only.
    pub async fn resolve(&self, url: &Url) -> Result<Vec<SocketAddr>, Refusal> {
        let port = url.port_or_known_default().ok_or("has no port")?;
        let addresses: Vec<SocketAddr> = match url.host() {
            None => return Err("has no host".into()),
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => lookup(name, port).await?,
        };
        for address in &addresses {
            self.check(address.ip())?;
            if url.scheme() == "http" && is_public(address.ip()) {
                return Err(format!(
                    "plain http:// is allowed only to private addresses, and {} is public",
                    address.ip()
                ));
            }
        }
        Ok(addresses)
    }
}

/// The dashboard checks URLs by the same rules.
impl app::auth::WebhookUrls for Destinations {
    fn check<'a>(
        &'a self,
        url: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async move {
            let parsed = self.parse(url)?;
            self.resolve(&parsed).await?;
            Ok(parsed.to_string())
        })
    }
}

async fn lookup(name: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| format!("the host {name} does not resolve ({e})"))?
        .collect();
    if found.is_empty() {
        return Err(format!("the host {name} does not resolve"));
    }
    Ok(found)
}

/// The resolver the sender connects through: a name is resolved and
/// every address checked at connection time, and one refused address
/// refuses the name (no falling back to the others).
#[derive(Debug, Clone)]
pub struct GuardedResolver(pub Destinations);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let found = lookup(name.as_str(), 0).await?;
            for address in &found {
                policy.check(address.ip())?;
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// The resolver, shared.
pub fn resolver(policy: Destinations) -> Arc<GuardedResolver> {
    Arc::new(GuardedResolver(policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Destinations = Destinations { allow_private: false };
    const OPEN: Destinations = Destinations { allow_private: true };

    #[test]
    fn only_https_without_credentials_is_accepted_by_default() {
        assert!(STRICT.parse("https://hooks.example.com/auditstore").is_ok());
        for (url, why) in [
            ("http://hooks.example.com/x", "https"),
            ("ftp://hooks.example.com/x", "scheme"),
            ("https://user:pw@hooks.example.com/x", "credentials"),
            ("https://hooks.example.com/x#frag", "fragment"),
            ("https://127.0.0.1/x", "127.0.0.1"),
            ("https://[::1]:8443/x", "::1"),
            ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
            ("https://[::ffff:10.0.0.1]/x", "10.0.0.1"),
            ("not a url", "valid"),
        ] {
            let refusal = STRICT.parse(url).expect_err(url);
            assert!(refusal.contains(why), "{url}: {refusal}");
        }
    }

    #[test]
    fn allowing_private_permits_http_and_private_literals() {
        assert!(OPEN.parse("http://127.0.0.1:9000/hook").is_ok());
        assert!(OPEN.parse("https://10.0.0.5/hook").is_ok());
        assert!(OPEN.parse("gopher://127.0.0.1/").is_err());
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        // localhost resolves to loopback: refused unless allowed.
        let url = STRICT.parse("https://localhost:9/hook").expect("parses: no DNS yet");
        let refusal = STRICT.resolve(&url).await.expect_err("loopback after DNS");
        assert!(refusal.contains("loopback"), "{refusal}");
        assert!(OPEN.resolve(&url).await.is_ok());
        // Plain http:// to a public address is refused even when private
        // ones are allowed.
        let public = OPEN.parse("http://1.1.1.1/hook").expect("parses");
        assert!(OPEN.resolve(&public).await.expect_err("public over http").contains("public"));
        let missing = STRICT.parse("https://name.invalid/hook").expect("parses");
        assert!(STRICT.resolve(&missing).await.expect_err("no such name").contains("does not resolve"));
    }

    #[tokio::test]
    async fn the_senders_resolver_refuses_private_names() {
        let name: Name = "localhost".parse().expect("name");
        let Err(error) = GuardedResolver(STRICT).resolve(name).await else { panic!("localhost must be refused") };
        assert!(error.to_string().contains("loopback"), "{error}");
        let name: Name = "localhost".parse().expect("name");
        assert!(GuardedResolver(OPEN).resolve(name).await.is_ok());
    }
}
