//! The network guard for user-configured URLs (server-side request forgery).
//!
//! Before any request the engine checks the URL: only `http` and `https`, no credentials in
//! the URL, and every address the host resolves to must be public: no loopback, private
//! (RFC 1918, unique-local), link-local (169.254.0.0/16 holds the instance metadata
//! service), carrier-grade NAT, unspecified, broadcast, multicast or documentation ranges,
//! including IPv4-mapped IPv6 forms of them. Deployments (and tests against local fakes)
//! opt out with `allow_private_network`.
//!
//! Checking before connecting leaves a window for DNS rebinding; [`GuardedResolver`] closes
//! it for clients built with [`http_client`], which resolves through the same check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

/// Why a URL may not be requested. Names the host, never the query (it may hold a key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRejected {
    #[error("URL scheme `{0}` is not allowed; use https (or http)")]
    Scheme(String),
    #[error("URL must use https")]
    HttpsRequired,
    #[error("URL has no host")]
    NoHost,
    #[error("URL must not carry a user name or password")]
    Userinfo,
    #[error("host `{host}` resolves to {addr}, a {range} address")]
    Forbidden {
        host: String,
        addr: IpAddr,
        range: &'static str,
    },
    #[error("host `{0}` does not resolve")]
    Unresolvable(String),
}

/// The range a forbidden address belongs to, or `None` for a public address.
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() || a >= 240 => "multicast or reserved",
        _ if a == 100 && (64..128).contains(&b) => "carrier-grade NAT",
        _ if a == 192 && b == 0 && c == 0 => "IETF protocol assignment",
        _ if ip.is_documentation() => "documentation",
        _ if a == 198 && (b == 18 || b == 19) => "benchmarking",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let seg = ip.segments();
    Some(match () {
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_multicast() => "multicast",
        _ if (seg[0] & 0xfe00) == 0xfc00 => "unique-local",
        _ if (seg[0] & 0xffc0) == 0xfe80 => "link-local",
        _ if (seg[0] & 0xffc0) == 0xfec0 => "site-local",
        _ if seg[0] == 0x2001 && seg[1] == 0x0db8 => "documentation",
        // IPv4-compatible (deprecated) and NAT64 forms embed an IPv4 address.
        _ if seg[..6] == [0, 0, 0, 0, 0, 0] => return forbidden_v4(embedded_v4(&seg)),
        _ if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] => return forbidden_v4(embedded_v4(&seg)),
        _ => return None,
    })
}

fn embedded_v4(seg: &[u16; 8]) -> Ipv4Addr {
    Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8)
}

/// Checks the parts of a URL that need no DNS.
pub fn check_static(url: &Url, require_https: bool, allow_private_network: bool) -> Result<(), UrlRejected> {
    match url.scheme() {
        "https" => {}
        "http" if require_https && !allow_private_network => return Err(UrlRejected::HttpsRequired),
        "http" => {}
        other => return Err(UrlRejected::Scheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRejected::Userinfo);
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or(UrlRejected::NoHost)?;
    if !allow_private_network {
        if let Some(ip) = literal_ip(host) {
            if let Some(range) = forbidden_range(ip) {
                return Err(UrlRejected::Forbidden {
                    host: host.to_owned(),
                    addr: ip,
                    range,
                });
            }
        }
    }
    Ok(())
}

fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Checks a URL, resolving its host and checking every address.
pub async fn check_url(url: &Url, require_https: bool, allow_private_network: bool) -> Result<(), UrlRejected> {
    check_static(url, require_https, allow_private_network)?;
    if allow_private_network {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    if literal_ip(&host).is_some() {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| UrlRejected::Unresolvable(host.clone()))?
        .collect();
    check_addrs(&host, &addrs)
}

fn check_addrs(host: &str, addrs: &[SocketAddr]) -> Result<(), UrlRejected> {
    if addrs.is_empty() {
        return Err(UrlRejected::Unresolvable(host.to_owned()));
    }
    for addr in addrs {
        if let Some(range) = forbidden_range(addr.ip()) {
            return Err(UrlRejected::Forbidden {
                host: host.to_owned(),
                addr: addr.ip(),
                range,
            });
        }
    }
    Ok(())
}

/// A DNS resolver for reqwest that refuses names resolving to forbidden addresses, so a
/// host cannot pass [`check_url`] and then rebind to an internal address.
#[derive(Debug, Default, Clone)]
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_addrs(&host, &addrs).map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A reqwest client for connectors: no redirects (a redirect could lead past the guard and
/// would resend credentials), no proxy, the given timeouts and, unless
/// `allow_private_network`, the [`GuardedResolver`].
pub fn http_client(request_timeout: Duration, allow_private_network: bool) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10).min(request_timeout))
        .timeout(request_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")));
    if !allow_private_network {
        builder = builder.dns_resolver(Arc::new(GuardedResolver));
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn forbidden_ranges_cover_metadata_loopback_private_and_mapped_forms() {
        for (ip, range) in [
            ("169.254.169.254", "link-local"),
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("fd00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("64:ff9b::a00:1", "private"),
            ("fd00:ec2::254", "unique-local"),
        ] {
            assert_eq!(forbidden_range(ip.parse().unwrap()), Some(range), "{ip}");
        }
        for ip in ["52.94.76.10", "8.8.8.8", "2600:1f18::1", "1.1.1.1"] {
            assert_eq!(forbidden_range(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn static_checks_refuse_bad_schemes_userinfo_and_literal_internal_ips() {
        assert_eq!(
            check_static(&url("file:///etc/passwd"), false, false),
            Err(UrlRejected::Scheme("file".into()))
        );
        assert_eq!(
            check_static(&url("gopher://example.com"), false, true),
            Err(UrlRejected::Scheme("gopher".into()))
        );
        assert_eq!(
            check_static(&url("https://u:p@example.com"), false, false),
            Err(UrlRejected::Userinfo)
        );
        assert!(matches!(
            check_static(&url("http://169.254.169.254/latest/meta-data/"), false, false),
            Err(UrlRejected::Forbidden {
                range: "link-local",
                ..
            })
        ));
        assert!(matches!(
            check_static(&url("http://[::1]:8080/"), false, false),
            Err(UrlRejected::Forbidden { range: "loopback", .. })
        ));
        assert_eq!(
            check_static(&url("http://example.com"), true, false),
            Err(UrlRejected::HttpsRequired)
        );
        assert!(check_static(&url("http://127.0.0.1:9000"), true, true).is_ok());
        assert!(check_static(&url("https://api.hubapi.com/crm"), true, false).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_unless_allowed() {
        let err = check_url(&url("http://localhost:1234/x"), false, false)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                UrlRejected::Forbidden { range: "loopback", .. } | UrlRejected::Unresolvable(_)
            ),
            "{err}"
        );
        assert!(check_url(&url("http://localhost:1234/x"), false, true).await.is_ok());
    }

    #[test]
    fn every_resolved_address_must_be_public() {
        let public: SocketAddr = "52.94.76.10:443".parse().unwrap();
        let private: SocketAddr = "10.0.0.5:443".parse().unwrap();
        assert!(check_addrs("x", &[public]).is_ok());
        assert!(check_addrs("x", &[public, private]).is_err());
        assert!(check_addrs("x", &[]).is_err());
    }
}
