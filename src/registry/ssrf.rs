//! The SSRF guard of the registry client: every outgoing request (registry API, redirects, token
//! realms) is checked on the address it would reach.
//!
//! - [`GuardedResolver`] is the client's DNS resolver: a name that resolves to an internal
//!   address (see [`is_internal`]) gets only its public addresses; when nothing public is left
//!   the connection is refused. Only the host names of configured registries (their `host`,
//!   `url`, `aliases` and `token_realm`) may resolve inward.
//! - [`Guard::check_url`] runs before each request and on each redirect hop, because reqwest
//!   does not resolve IP literals: a literal is normalised (`[::ffff:127.0.0.1]` is `127.0.0.1`,
//!   as are the IPv4-compatible and NAT64 forms) and refused when internal, unless host and port
//!   are a configured registry's own. A configured name on a port that is not configured is
//!   refused too, since the resolver trusts the name whatever the port.
//!
//! Internal means loopback, private (RFC 1918), link-local, CGNAT (100.64.0.0/10), unique-local
//! (fc00::/7), site-local, multicast, unspecified, broadcast, reserved, documentation and
//! benchmarking ranges, and the IPv6 forms that embed one of those IPv4 addresses.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use crate::config::RegistryConfig;

/// A host (normalised: lowercase, no trailing dot, canonical IP) and port.
type HostPort = (String, u16);

/// What may be contacted, built from the configured registries.
#[derive(Debug, Default)]
pub struct Guard {
    /// Host and port of every configured registry, alias, base URL and token realm.
    origins: HashSet<HostPort>,
    /// The host names among those (without port): the only names that may resolve inward.
    names: HashSet<String>,
}

/// A connection the guard refused; the resolver returns it as its error, so it can be found in
/// a reqwest error's source chain.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused to connect to {target}: {reason}")]
pub struct Blocked {
    /// The host (and port, when known) asked for.
    pub target: String,
    /// Why.
    pub reason: String,
}

impl Guard {
    /// The guard for `registries`.
    pub fn new(registries: &[RegistryConfig]) -> Self {
        let mut g = Guard::default();
        for r in registries {
            let base = r.base_url();
            let scheme = url::Url::parse(&base)
                .map(|u| u.scheme().to_owned())
                .unwrap_or_else(|_| "https".into());
            let mut urls = vec![base];
            urls.extend(
                std::iter::once(&r.host)
                    .chain(&r.aliases)
                    .map(|h| format!("{scheme}://{h}/")),
            );
            urls.extend(r.token_realm.clone());
            for u in urls {
                if let Some((host, port)) = url::Url::parse(&u).ok().as_ref().and_then(host_port) {
                    if host.parse::<IpAddr>().is_err() {
                        g.names.insert(host.clone());
                    }
                    g.origins.insert((host, port));
                }
            }
        }
        g
    }

    /// Whether `url`'s host and port are a configured registry's (or its token realm's).
    pub fn is_configured(&self, url: &url::Url) -> bool {
        host_port(url).is_some_and(|hp| self.origins.contains(&hp))
    }

    /// Whether `name` is the host name of a configured registry (which may resolve inward).
    pub fn trusts_name(&self, name: &str) -> bool {
        self.names.contains(&normalise_name(name))
    }

    /// Check a URL about to be requested (or redirected to); Err says why it is refused.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Blocked> {
        let blocked = |reason: String| Blocked {
            target: url.origin().ascii_serialization(),
            reason,
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(blocked(format!("scheme {} is not http or https", url.scheme())));
        }
        let Some((host, port)) = host_port(url) else {
            return Err(blocked("no host".into()));
        };
        if self.origins.contains(&(host.clone(), port)) {
            return Ok(());
        }
        match url.host() {
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {
                let ip: IpAddr = host.parse().map_err(|_| blocked("unparsable address".into()))?;
                match internal_class(ip) {
                    Some(class) => Err(blocked(format!(
                        "{ip} is a {class} address and {host}:{port} is not a configured registry"
                    ))),
                    None => Ok(()),
                }
            }
            Some(url::Host::Domain(_)) => {
                if self.names.contains(&host) {
                    return Err(blocked(format!(
                        "port {port} of {host} is not a configured registry's host:port"
                    )));
                }
                if host == "localhost" || host.ends_with(".localhost") {
                    return Err(blocked(format!("{host} is a loopback name")));
                }
                // Its addresses are checked by the resolver.
                Ok(())
            }
            None => Err(blocked("no host".into())),
        }
    }

    /// Filter the addresses `name` resolved to (see the module docs).
    pub fn filter_resolved(&self, name: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Blocked> {
        if self.trusts_name(name) {
            return Ok(addrs);
        }
        let mut refused = Vec::new();
        let kept: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match internal_class(a.ip()) {
                Some(class) => {
                    refused.push(format!("{} ({class})", a.ip()));
                    false
                }
                None => true,
            })
            .collect();
        if kept.is_empty() {
            return Err(Blocked {
                target: name.to_owned(),
                reason: if refused.is_empty() {
                    "the name has no addresses".into()
                } else {
                    format!(
                        "it resolves only to internal addresses ({}) and is not a configured registry",
                        refused.join(", ")
                    )
                },
            });
        }
        Ok(kept)
    }
}

/// The client's DNS resolver: the system resolver, filtered by the [`Guard`].
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: Arc<Guard>,
}

impl GuardedResolver {
    /// A resolver checking with `guard`.
    pub fn new(guard: Arc<Guard>) -> Self {
        GuardedResolver { guard }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let kept = guard.filter_resolved(&name, addrs)?;
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// `url`'s normalised host and its port (the scheme's default when not given).
fn host_port(url: &url::Url) -> Option<HostPort> {
    let port = url.port_or_known_default()?;
    let host = match url.host()? {
        url::Host::Domain(d) => normalise_name(d),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => canonical(IpAddr::V6(ip)).to_string(),
    };
    Some((host, port))
}

fn normalise_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The IPv4 address an IPv6 address stands for (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`), else the address itself.
pub fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    let s = v6.segments();
    let o = v6.octets();
    let embedded = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let compatible = s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if mapped || compatible || nat64 {
        IpAddr::V4(embedded)
    } else {
        ip
    }
}

/// Whether `ip` (in any of its IPv6 forms) is an address a registry must not send us to.
pub fn is_internal(ip: IpAddr) -> bool {
    internal_class(ip).is_some()
}

/// The kind of internal address `ip` is, or None for a public address.
pub fn internal_class(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (0.0.0.0/8)",
        (127, _, _) => "loopback",
        (10, _, _) => "private (10.0.0.0/8)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "CGNAT (100.64.0.0/10)",
        (192, 0, 0) => "IETF protocol assignment (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "unique-local (fc00::/7)"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link-local"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "site-local"
    } else if s[0] & 0xff00 == 0xff00 {
        "multicast"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[0] == 0x64 && s[1] == 0xff9b {
        // 64:ff9b::/96 was unwrapped by `canonical`; this is the local-use 64:ff9b:1::/48.
        "NAT64 (local use)"
    } else if s[0] == 0x2001 && s[1] == 0 {
        "Teredo"
    } else if s[0] == 0x2002 {
        // 6to4 embeds an IPv4 address: judge by it.
        let embedded = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return v4_class(embedded).map(|_| "6to4 of an internal IPv4 address");
    } else if s[..5] == [0; 5] && s[5] == 0 {
        "reserved (::/96)"
    } else if s[0] == 0x100 && s[1..4] == [0; 3] {
        "discard-only (100::/64)"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_in_every_form() {
        for s in [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2001:db8::1",
        ] {
            assert!(is_internal(ip(s)), "{s} is internal");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_internal(ip(s)), "{s} is public");
        }
        assert_eq!(canonical(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(canonical(ip("64:ff9b::7f00:1")), ip("127.0.0.1"));
        assert_eq!(canonical(ip("::1")), ip("::1"));
    }

    fn guard() -> Guard {
        Guard::new(&[
            RegistryConfig {
                host: "127.0.0.1:5000".into(),
                insecure: true,
                ..Default::default()
            },
            RegistryConfig {
                host: "registry.internal".into(),
                token_realm: Some("https://auth.internal:8443/token".into()),
                ..Default::default()
            },
        ])
    }

    #[test]
    fn urls_are_checked_by_normalised_host_and_port() {
        let g = guard();
        let ok = |s: &str| g.check_url(&url::Url::parse(s).unwrap()).is_ok();
        assert!(ok("http://127.0.0.1:5000/v2/"));
        assert!(
            ok("http://[::ffff:127.0.0.1]:5000/v2/"),
            "the configured registry itself"
        );
        assert!(!ok("http://[::ffff:127.0.0.1]:6001/x"));
        assert!(!ok("http://127.0.0.1:6001/x"));
        assert!(!ok("http://127.0.0.2:5000/x"));
        assert!(!ok("http://[::1]:5000/x"));
        assert!(!ok("http://2130706433:6001/x"), "decimal IPv4");
        assert!(!ok("http://0x7f.1:6001/x"), "hex IPv4");
        assert!(!ok("http://[64:ff9b::7f00:1]:6001/x"));
        assert!(!ok("http://localhost.:6001/x"));
        assert!(!ok("http://LOCALHOST:5000/x"));
        assert!(!ok("ftp://example.com/x"));
        assert!(ok("https://registry.internal/v2/"));
        assert!(ok("https://REGISTRY.INTERNAL./v2/"));
        assert!(
            !ok("https://registry.internal:8080/"),
            "a configured name on another port"
        );
        assert!(ok("https://auth.internal:8443/token"));
        assert!(
            ok("https://bucket.s3.amazonaws.com/x"),
            "names are left to the resolver"
        );
    }

    #[test]
    fn resolved_addresses_are_filtered_unless_the_name_is_configured() {
        let g = guard();
        let a = |s: &str| SocketAddr::new(ip(s), 0);
        let err = g
            .filter_resolved("evil.example.", vec![a("127.0.0.1"), a("::1")])
            .unwrap_err();
        assert!(err.to_string().contains("internal"), "{err}");
        assert_eq!(
            g.filter_resolved("evil.example", vec![a("10.0.0.1"), a("8.8.8.8")])
                .unwrap(),
            vec![a("8.8.8.8")]
        );
        assert_eq!(
            g.filter_resolved("Registry.Internal.", vec![a("10.0.0.1")]).unwrap(),
            vec![a("10.0.0.1")]
        );
    }

    #[tokio::test]
    async fn the_resolver_refuses_localhost() {
        use reqwest::dns::Resolve as _;
        let r = GuardedResolver::new(Arc::new(guard()));
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = r.resolve(name).await.err().expect("localhost is refused");
        assert!(err.to_string().contains("internal"), "{err}");
    }
}
