//! The network guard for user-configured URLs (server-side request forgery).
//!
//! Before any request the engine checks the URL: only `http` and `https`, no credentials in
//! the URL, and every address the host resolves to must be public: no loopback, private
//! (RFC 1918, unique-local), link-local (169.254.0.0/16 holds the instance metadata
//! service), carrier-grade NAT, unspecified, broadcast, multicast or documentation ranges.
//! IPv6 addresses that embed an IPv4 address (IPv4-mapped, IPv4-translated, IPv4-compatible,
//! NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo server and client) are held to the IPv4
//! rules; NAT64 local-use `64:ff9b:1::/48` is refused whole. Deployments (and tests against
//! local fakes) opt out with `allow_private_network`.
//!
//! Checking before connecting leaves a window for DNS rebinding; [`GuardedResolver`] closes
//! it for clients built with [`http_client`]: reqwest connects only to the addresses the
//! resolver checked.

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
    let seg = ip.segments();
    let special = match () {
        _ if ip.is_loopback() => Some("loopback"),
        _ if ip.is_unspecified() => Some("unspecified"),
        _ if ip.is_multicast() => Some("multicast"),
        _ if (seg[0] & 0xfe00) == 0xfc00 => Some("unique-local"),
        _ if (seg[0] & 0xffc0) == 0xfe80 => Some("link-local"),
        _ if (seg[0] & 0xffc0) == 0xfec0 => Some("site-local"),
        _ if seg[0] == 0x2001 && seg[1] == 0x0db8 => Some("documentation"),
        _ if seg[0] == 0x3fff && seg[1] < 0x1000 => Some("documentation"),
        _ if seg[..4] == [0x0100, 0, 0, 0] => Some("discard-only"),
        _ if seg[0] == 0x2001 && seg[1] == 0x0002 && seg[2] == 0 => Some("benchmarking"),
        _ if seg[0] == 0x2001 && (seg[1] & 0xfff0) == 0x0010 => Some("ORCHID"),
        _ if seg[0] == 0x2001 && (seg[1] & 0xfff0) == 0x0020 => Some("ORCHIDv2"),
        // NAT64 local-use (RFC 8215): translated inside the operator's own network, with a
        // prefix length the operator picks, so the whole /48 is refused.
        _ if seg[..3] == [0x0064, 0xff9b, 0x0001] => Some("NAT64 local-use"),
        _ => None,
    };
    if special.is_some() {
        return special;
    }
    // Every form that carries an IPv4 address is held to the IPv4 rules (and reported with
    // the IPv4 address's range: `2002:7f00:1::` is a loopback address).
    embedded_v4(&ip).into_iter().find_map(forbidden_v4)
}

/// The IPv4 addresses an IPv6 address embeds (none for most).
fn embedded_v4(ip: &Ipv6Addr) -> Vec<Ipv4Addr> {
    let seg = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match seg {
        // ::ffff:a.b.c.d (IPv4-mapped, RFC 4291).
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => vec![v4(hi, lo)],
        // ::ffff:0:a.b.c.d (IPv4-translated, RFC 2765).
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => vec![v4(hi, lo)],
        // ::a.b.c.d (IPv4-compatible, deprecated; :: and ::1 are caught above).
        [0, 0, 0, 0, 0, 0, hi, lo] => vec![v4(hi, lo)],
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix, RFC 6052).
        [0x0064, 0xff9b, 0, 0, 0, 0, hi, lo] => vec![v4(hi, lo)],
        // 2002:AABB:CCDD::/48 (6to4, RFC 3056): the IPv4 address is bits 16..48.
        [0x2002, hi, lo, ..] => vec![v4(hi, lo)],
        // 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC (Teredo, RFC 4380): the server's address in
        // bits 32..64, the client's in the last 32 bits, inverted.
        [0x2001, 0, s_hi, s_lo, _, _, c_hi, c_lo] => {
            vec![v4(s_hi, s_lo), v4(!c_hi, !c_lo)]
        }
        _ => vec![],
    }
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

/// How a name is looked up: the system resolver, or (in tests) a fixed answer.
type Lookup = dyn Fn(String) -> futures::future::BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> + Send + Sync;

/// A DNS resolver for reqwest that resolves a name, checks every address it resolves to and
/// hands reqwest exactly the checked addresses to connect to: a name cannot pass
/// [`check_url`] and then rebind to an internal address, and a refused name is refused before
/// any connection is attempted. (URLs with a literal IP are not resolved; [`check_static`]
/// covers them.)
#[derive(Clone)]
pub struct GuardedResolver {
    lookup: Arc<Lookup>,
}

impl std::fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedResolver").finish_non_exhaustive()
    }
}

impl Default for GuardedResolver {
    /// The system resolver.
    fn default() -> Self {
        Self::with_lookup(|host| {
            Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.collect()) })
        })
    }
}

impl GuardedResolver {
    /// A resolver over another lookup (tests answer names with addresses of their choosing).
    pub fn with_lookup(
        lookup: impl Fn(String) -> futures::future::BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Self {
            lookup: Arc::new(lookup),
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let lookup = (self.lookup)(host.clone());
        Box::pin(async move {
            let addrs = lookup.await?;
            check_addrs(&host, &addrs).map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A reqwest client for connectors: no redirects (a redirect could lead past the guard and
/// would resend credentials), no proxy, the given timeouts and, unless
/// `allow_private_network`, the [`GuardedResolver`].
pub fn http_client(request_timeout: Duration, allow_private_network: bool) -> reqwest::Result<reqwest::Client> {
    let resolver = (!allow_private_network).then(GuardedResolver::default);
    http_client_with(request_timeout, resolver)
}

fn http_client_with(request_timeout: Duration, resolver: Option<GuardedResolver>) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10).min(request_timeout))
        .timeout(request_timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")));
    if let Some(resolver) = resolver {
        builder = builder.dns_resolver(Arc::new(resolver));
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
    }

    #[test]
    fn ipv6_forms_embedding_an_ipv4_address_are_held_to_the_ipv4_rules() {
        for (ip, range) in [
            // IPv4-mapped ::ffff:0:0/96, both spellings.
            ("::ffff:7f00:1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            // IPv4-translated ::ffff:0:0:0/96.
            ("::ffff:0:169.254.169.254", "link-local"),
            // IPv4-compatible ::a.b.c.d.
            ("::127.0.0.1", "loopback"),
            ("::169.254.169.254", "link-local"),
            ("::10.1.2.3", "private"),
            // NAT64 well-known prefix 64:ff9b::/96.
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b::169.254.169.254", "link-local"),
            ("64:ff9b::192.168.0.1", "private"),
            // NAT64 local-use 64:ff9b:1::/48, whatever it embeds.
            ("64:ff9b:1::8.8.8.8", "NAT64 local-use"),
            ("64:ff9b:1:abcd::1", "NAT64 local-use"),
            // 6to4 2002::/16: the IPv4 address is bits 16..48.
            ("2002:7f00:1::", "loopback"),
            ("2002:a9fe:a9fe::1", "link-local"),
            ("2002:c0a8:101:1::5", "private"),
            ("2002:0a00:0001:ffff:ffff:ffff:ffff:ffff", "private"),
            // Teredo 2001::/32: server in bits 32..64, client inverted in the last 32 bits.
            ("2001:0:7f00:1::", "loopback"),
            ("2001:0:4136:e378:8000:63bf:5601:5656", "link-local"), // client !5601:5656 = 169.254.169.169
            ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),    // client 10.0.0.1
            // Other special-purpose IPv6 ranges.
            ("100::1", "discard-only"),
            ("2001:2::1", "benchmarking"),
            ("2001:20::1", "ORCHIDv2"),
            ("3fff::1", "documentation"),
        ] {
            assert_eq!(forbidden_range(ip.parse().unwrap()), Some(range), "{ip}");
        }
        // Public IPv4 addresses in the same forms are public.
        for ip in ["::ffff:52.94.76.10", "64:ff9b::8.8.8.8", "2002:0808:0808::1"] {
            assert_eq!(forbidden_range(ip.parse().unwrap()), None, "{ip}");
        }
        // RFC 4380's example: server 65.54.227.120, client 192.0.2.45 (documentation).
        assert_eq!(
            forbidden_range("2001:0000:4136:e378:8000:63bf:3fff:fdd2".parse().unwrap()),
            Some("documentation")
        );
        // Server 65.54.227.120, client 8.8.8.8 (!0808:0808 = f7f7:f7f7).
        assert_eq!(
            forbidden_range("2001:0:4136:e378:8000:63bf:f7f7:f7f7".parse().unwrap()),
            None
        );
    }

    #[test]
    fn static_checks_refuse_embedded_ipv4_literals() {
        for u in [
            "http://[2002:7f00:1::]/",
            "http://[::ffff:169.254.169.254]/latest/meta-data/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2001:0:7f00:1::]/",
            "http://[::127.0.0.1]/",
        ] {
            assert!(
                matches!(check_static(&url(u), false, false), Err(UrlRejected::Forbidden { .. })),
                "{u}"
            );
        }
    }

    /// A resolver whose every name answers `addrs`, and counts the lookups.
    fn fixed(addrs: Vec<SocketAddr>, lookups: Arc<std::sync::atomic::AtomicUsize>) -> GuardedResolver {
        GuardedResolver::with_lookup(move |_| {
            lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let addrs = addrs.clone();
            Box::pin(async move { Ok(addrs) })
        })
    }

    #[tokio::test]
    async fn resolver_refuses_names_resolving_to_embedded_internal_addresses_without_connecting() {
        use reqwest::dns::Resolve as _;
        // The resolver only answers: nothing here can open a connection.
        for ip in [
            "2002:7f00:1::",
            "2001:0:7f00:1::",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "::ffff:0:a00:1",
            "::a9fe:a9fe",
        ] {
            let addr = SocketAddr::new(ip.parse().unwrap(), 0);
            let resolver = fixed(vec![addr], Arc::default());
            let name: reqwest::dns::Name = "rebind.example".parse().unwrap();
            let err = match resolver.resolve(name).await {
                Ok(_) => panic!("{ip} was let through"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains("rebind.example"), "{err}");
        }
        let public = fixed(vec!["[2002:808:808::1]:0".parse().unwrap()], Arc::default());
        assert!(public.resolve("ok.example".parse().unwrap()).await.is_ok());
    }

    #[tokio::test]
    async fn client_refuses_a_name_that_resolves_to_loopback_before_connecting() {
        // A listener on loopback that the name resolves to (IPv4-mapped form): were the guard
        // to let it through, the connection would land here, and only here.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let lookups = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mapped: SocketAddr = format!("[::ffff:127.0.0.1]:{port}").parse().unwrap();
        let client = http_client_with(Duration::from_secs(5), Some(fixed(vec![mapped], lookups.clone()))).unwrap();
        let err = client
            .get(format!("http://rebind.example:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err}");
        assert_eq!(
            lookups.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the name was resolved"
        );
        assert_eq!(
            listener.accept().map(|_| ()).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock,
            "no connection reached the listener"
        );

        // The same client connects to a name whose addresses pass (proof that the listener
        // would have seen a connection): allowed here by skipping the guard.
        let open = http_client_with(Duration::from_millis(300), None).unwrap();
        let _ = open.get(format!("http://127.0.0.1:{port}/")).send().await;
        std::thread::sleep(Duration::from_millis(50));
        assert!(listener.accept().is_ok(), "an unguarded client does reach the listener");
    }

    #[test]
    fn public_addresses_stay_public() {
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
