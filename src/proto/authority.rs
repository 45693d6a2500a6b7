//! Comparing a request's `host` field with its `:authority` (RFC 9113
//! §8.3.1): both must name the same entity once normalized by the scheme's
//! rules (RFC 3986 §6.2.2, §6.2.3): the host compared without regard to case,
//! an empty port or the scheme's default port the same as none, and any
//! (deprecated) userinfo ignored.

/// Whether `host` names the same authority as `authority` for a request of
/// scheme `scheme` (`None` when the request has no `:scheme`, as CONNECT).
pub(crate) fn same_authority(scheme: Option<&[u8]>, authority: &[u8], host: &[u8]) -> bool {
    let default_port = match scheme {
        Some(s) if s.eq_ignore_ascii_case(b"http") => Some(80),
        Some(s) if s.eq_ignore_ascii_case(b"https") => Some(443),
        _ => None,
    };
    // `host` is `uri-host [":" port]` (RFC 9110 §7.2): no userinfo, so an
    // `@` in it stays part of the host and never matches.
    let (a_host, a_port) = split(strip_userinfo(authority));
    let (h_host, h_port) = split(host);
    a_host.eq_ignore_ascii_case(h_host) && port(a_port, default_port) == port(h_port, default_port)
}

/// A port as compared: `None` for no port, an empty one or the default;
/// digits as their value (leading zeros do not matter); anything else as is.
#[derive(Debug, PartialEq, Eq)]
enum Port<'a> {
    None,
    Number(u64),
    Other(&'a [u8]),
}

fn port(raw: Option<&[u8]>, default: Option<u64>) -> Port<'_> {
    let Some(raw) = raw.filter(|p| !p.is_empty()) else {
        return Port::None;
    };
    let number = (raw.len() <= 10 && raw.iter().all(u8::is_ascii_digit))
        .then(|| raw.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0')));
    match number {
        Some(n) if Some(n) == default => Port::None,
        Some(n) => Port::Number(n),
        None => Port::Other(raw),
    }
}

/// `[userinfo@]host[:port]` without the userinfo.
fn strip_userinfo(authority: &[u8]) -> &[u8] {
    match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    }
}

/// Splits `host[:port]` into host and port (without the colon).
fn split(hostport: &[u8]) -> (&[u8], Option<&[u8]>) {
    if hostport.first() == Some(&b'[') {
        // An IP literal: the port can only follow the closing bracket.
        return match hostport.iter().position(|&b| b == b']') {
            Some(end) => {
                let (host, rest) = hostport.split_at(end + 1);
                (host, rest.strip_prefix(b":"))
            }
            None => (hostport, None),
        };
    }
    match hostport.iter().rposition(|&b| b == b':') {
        Some(colon) => (&hostport[..colon], Some(&hostport[colon + 1..])),
        None => (hostport, None),
    }
}

#[cfg(test)]
mod tests {
    use super::same_authority;

    fn same(scheme: &str, authority: &str, host: &str) -> bool {
        same_authority(
            Some(scheme.as_bytes()),
            authority.as_bytes(),
            host.as_bytes(),
        )
    }

    #[test]
    fn equal_after_scheme_based_normalization() {
        assert!(same("https", "example.com", "example.com"));
        assert!(same("https", "Example.COM", "example.com"), "host case");
        assert!(
            same("https", "example.com:443", "example.com"),
            "default port"
        );
        assert!(
            same("http", "example.com", "EXAMPLE.com:80"),
            "default port"
        );
        assert!(same("http", "example.com:", "example.com"), "empty port");
        assert!(same("http", "example.com:8080", "example.com:08080"));
        assert!(same("https", "user@example.com", "example.com"), "userinfo");
        assert!(same("https", "[::1]:443", "[::1]"));
        assert!(same("https", "[::1]:8443", "[::1]:8443"));
        assert!(
            same_authority(None, b"a:443", b"A:443"),
            "CONNECT: no scheme"
        );
    }

    #[test]
    fn different_entities() {
        assert!(!same("https", "example.com", "example.org"));
        assert!(!same("https", "example.com", "example.com.evil"));
        assert!(!same("https", "example.com:8443", "example.com"));
        assert!(
            !same("http", "example.com:443", "example.com"),
            "443 is not http's default"
        );
        assert!(!same("https", "[::1]:443", "[::2]"));
        assert!(!same("https", "example.com", ""));
        assert!(
            !same("https", "example.com", "evil@example.com"),
            "a host field has no userinfo"
        );
        assert!(!same("https", "", "x@"), "found by the http_message fuzzer");
        assert!(!same("https", "example.com:x", "example.com"));
        assert!(
            !same_authority(None, b"a:443", b"a"),
            "no default port without a scheme"
        );
    }
}
