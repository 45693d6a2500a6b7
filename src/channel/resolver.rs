//! Name resolution: a target string (gRPC's `doc/naming.md`) becomes a
//! list of addresses.
//!
//! The channel never does I/O, so a [`Resolver`] either knows the addresses
//! itself (`passthrough`, `ipv4:`, `ipv6:`) or asks the caller to look a
//! name up ([`Resolution::Lookup`], the `dns` scheme); the caller then hands
//! the result to [`Channel::update_addresses`](super::Channel::update_addresses).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr}; // ok: address types only (parsing `ipv4:`/`ipv6:` targets), no sockets

/// One backend address as the caller dials it: `host:port`, where host is
/// an IP literal (IPv6 in brackets) or a name the dialer resolves itself
/// (`passthrough`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub String);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Self {
        Address(a.to_string())
    }
}

impl From<&str> for Address {
    fn from(a: &str) -> Self {
        Address(a.to_owned())
    }
}

/// What a resolver produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// These addresses, known without I/O.
    Addresses(Vec<Address>),
    /// The caller must look `host` up (A and AAAA) and use `port`.
    Lookup {
        /// The name to look up.
        host: String,
        /// The port of every address found.
        port: u16,
    },
}

/// Turns a target into addresses. Called when the channel first needs
/// addresses and whenever it wants them refreshed: periodically (when
/// [`is_dynamic`](Resolver::is_dynamic)) and after a subchannel fails.
pub trait Resolver: Send + fmt::Debug {
    /// The addresses, or a lookup for the caller to do.
    fn resolve(&mut self) -> Resolution;
    /// Whether the answer can change (it is worth asking again). Default false.
    fn is_dynamic(&self) -> bool {
        false
    }
}

/// Why a target string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad target {target:?}: {why}")]
pub struct TargetError {
    /// The target given.
    pub target: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// A parsed target (gRPC's naming doc): `dns:[//authority/]host[:port]`,
/// `ipv4:addr[:port][,addr[:port],...]`, `ipv6:...`, `passthrough:///addr`,
/// or a bare `host:port`, which is passthrough.
///
/// `dns:` lookups use the system resolver (the adapter's); a target naming
/// its own DNS server (`dns://8.8.8.8/host:port`) is refused with a
/// [`TargetError`] rather than resolved elsewhere.
///
/// ```
/// use h2proto::channel::{Address, Resolution, Target};
///
/// let t = Target::parse("ipv4:127.0.0.1:1,127.0.0.1:2")?;
/// let Resolution::Addresses(a) = t.resolver().resolve() else { unreachable!() };
/// assert_eq!(a, [Address::from("127.0.0.1:1"), Address::from("127.0.0.1:2")]);
///
/// let t = Target::parse("dns:///localhost:50051")?;
/// assert_eq!(t, Target::Dns { host: "localhost".into(), port: 50051 });
/// assert_eq!(Target::parse("ipv6:[::1]:7")?.to_string(), "ipv6:[::1]:7");
/// # Ok::<(), h2proto::channel::TargetError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Dial this address as given.
    Passthrough(Address),
    /// IP addresses (from `ipv4:` or `ipv6:`).
    Ips(Vec<SocketAddr>),
    /// Look this name up (the caller's DNS) and re-resolve periodically.
    Dns {
        /// The name.
        host: String,
        /// The port (443 when the target has none, as gRPC's default).
        port: u16,
    },
}

/// gRPC's default port for `dns:` and `ipv4:`/`ipv6:` targets without one.
pub const DEFAULT_PORT: u16 = 443;

impl Target {
    /// Parses a target string.
    pub fn parse(target: &str) -> Result<Target, TargetError> {
        let err = |why| TargetError {
            target: target.to_owned(),
            why,
        };
        if let Some(rest) = target.strip_prefix("dns:") {
            // dns:[//authority/]host[:port]. A named DNS server would need a
            // DNS client of our own (the adapter asks the system resolver):
            // refused, so the target never silently goes to another server.
            let name = match rest.strip_prefix("//") {
                Some(r) => match r.split_once('/') {
                    Some(("", name)) => name,
                    Some(_) => {
                        return Err(err(
                            "a DNS server authority (dns://SERVER/...) is not supported: \
                             use dns:///host:port (the system resolver)",
                        ));
                    }
                    None => return Err(err("dns:// needs a third slash")),
                },
                None => rest,
            };
            let (host, port) = split_host_port(name).ok_or_else(|| err("bad host:port"))?;
            if host.is_empty() {
                return Err(err("empty host"));
            }
            return Ok(Target::Dns { host, port });
        }
        for (scheme, v6) in [("ipv4:", false), ("ipv6:", true)] {
            if let Some(list) = target.strip_prefix(scheme) {
                let mut addrs = Vec::new();
                for a in list.split(',') {
                    let (host, port) = split_host_port(a).ok_or_else(|| err("bad address"))?;
                    let ip = if v6 {
                        host.parse::<Ipv6Addr>().map(Into::into)
                    } else {
                        host.parse::<Ipv4Addr>().map(Into::into)
                    };
                    let ip = ip.map_err(|_| err("not an IP address of the scheme's family"))?;
                    addrs.push(SocketAddr::new(ip, port));
                }
                return Ok(Target::Ips(addrs));
            }
        }
        let addr = target.strip_prefix("passthrough:///").unwrap_or(target);
        if addr.is_empty() {
            return Err(err("empty target"));
        }
        Ok(Target::Passthrough(Address(addr.to_owned())))
    }

    /// The resolver for this target.
    pub fn resolver(&self) -> Box<dyn Resolver> {
        match self {
            Target::Passthrough(a) => Box::new(StaticResolver(vec![a.clone()])),
            Target::Ips(a) => Box::new(StaticResolver(a.iter().map(|&a| a.into()).collect())),
            Target::Dns { host, port } => Box::new(DnsResolver {
                host: host.clone(),
                port: *port,
            }),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Passthrough(a) => write!(f, "passthrough:///{a}"),
            Target::Dns { host, port } => write!(f, "dns:///{host}:{port}"),
            Target::Ips(a) => {
                let v6 = a.first().is_some_and(|a| a.is_ipv6());
                f.write_str(if v6 { "ipv6:" } else { "ipv4:" })?;
                for (i, a) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{a}")?;
                }
                Ok(())
            }
        }
    }
}

/// `host[:port]`, `[v6][:port]`; the port defaults to [`DEFAULT_PORT`].
fn split_host_port(s: &str) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        // A bare IPv6 literal has several colons: no port.
        Some((h, _)) if h.contains(':') => Some((s.to_owned(), DEFAULT_PORT)),
        Some((h, p)) => Some((h.to_owned(), p.parse().ok()?)),
        None => Some((s.to_owned(), DEFAULT_PORT)),
    }
}

/// Addresses fixed at construction (`passthrough`, `ipv4:`, `ipv6:`).
#[derive(Debug, Clone)]
pub struct StaticResolver(pub Vec<Address>);

impl Resolver for StaticResolver {
    fn resolve(&mut self) -> Resolution {
        Resolution::Addresses(self.0.clone())
    }
}

/// A `dns:` target: every resolution is a lookup by the caller.
#[derive(Debug, Clone)]
pub struct DnsResolver {
    /// The name.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl Resolver for DnsResolver {
    fn resolve(&mut self) -> Resolution {
        Resolution::Lookup {
            host: self.host.clone(),
            port: self.port,
        }
    }
    fn is_dynamic(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let p = |s| Target::parse(s).unwrap();
        assert_eq!(p("localhost:1"), Target::Passthrough("localhost:1".into()));
        assert_eq!(p("passthrough:///a:2"), Target::Passthrough("a:2".into()));
        assert_eq!(
            p("dns:localhost"),
            Target::Dns {
                host: "localhost".into(),
                port: 443
            }
        );
        assert_eq!(
            p("dns:///[::1]:5"),
            Target::Dns {
                host: "::1".into(),
                port: 5
            }
        );
        assert_eq!(
            p("ipv6:[::1]:5,::2"),
            Target::Ips(vec![
                "[::1]:5".parse().unwrap(),
                "[::2]:443".parse().unwrap()
            ])
        );
        assert_eq!(p("ipv4:10.0.0.1").to_string(), "ipv4:10.0.0.1:443");
        for bad in [
            "ipv4:::1",
            "ipv6:1.2.3.4",
            "dns://8.8.8.8/x",
            "ipv4:1.2.3.4:x",
            "",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        let e = Target::parse("dns://8.8.8.8:53/x:1").unwrap_err();
        assert!(e.to_string().contains("8.8.8.8:53"), "{e}");
        assert!(e.to_string().contains("DNS server authority"), "{e}");
        assert!(p("dns:///x:1").resolver().is_dynamic());
        assert!(!p("x:1").resolver().is_dynamic());
    }
}
