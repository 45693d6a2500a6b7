//! Request and response heads ⇄ the core's header fields.
//!
//! Outgoing: pseudo-header fields first (RFC 9113 §8.3), then the regular
//! fields less the connection-specific ones (§8.2.2). Incoming: the core has
//! already validated the block (§8.1–§8.3); what `http` still refuses (a
//! method or URI it cannot represent) is an [`InvalidHead`], a regular field
//! it refuses is skipped. Values stay on the decoded block's memory.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::{self, Authority, PathAndQuery, Scheme};
use http::{Method, StatusCode};

use crate::hpack::HeaderField;
use crate::proto::HeaderList;

/// A received head `http` cannot represent (a method or URI it refuses).
/// A server answers 400; a client fails the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("head not representable as an http message: {0}")]
pub struct InvalidHead(&'static str);

/// The header fields of a request head: `:method`, `:scheme`, `:authority`,
/// `:path`, then `parts.headers` less the connection-specific fields.
///
/// - `:scheme` is the URI's, else `http`; over TLS (`tls`), `http` becomes
///   `https`.
/// - `:authority` is the URI's, else the `host` field's, else
///   `default_authority` (the address connected to).
/// - `:path` is the URI's path and query, `/` if it has none.
/// - A `CONNECT` request has `:method` and `:authority` only (RFC 9113
///   §8.5).
pub fn request_fields(
    parts: &http::request::Parts,
    default_authority: &str,
    tls: bool,
) -> Vec<HeaderField> {
    let uri = &parts.uri;
    let mut fields = Vec::with_capacity(parts.headers.len() + 4);
    fields.push(pseudo(b":method", method_value(&parts.method)));
    let authority = match uri.authority() {
        Some(a) => a.as_str().as_bytes(),
        None => match parts.headers.get(http::header::HOST) {
            Some(host) => host.as_bytes(),
            None => default_authority.as_bytes(),
        },
    };
    if parts.method == Method::CONNECT {
        // A tunnel's request names only where to (RFC 9113 §8.5).
        fields.push(pseudo(b":authority", Bytes::copy_from_slice(authority)));
        push_regular(&parts.headers, &mut fields);
        return fields;
    }
    let scheme = match uri.scheme_str() {
        None | Some("http") if tls => Bytes::from_static(b"https"),
        None | Some("http") => Bytes::from_static(b"http"),
        Some("https") => Bytes::from_static(b"https"),
        Some(other) => Bytes::copy_from_slice(other.as_bytes()),
    };
    fields.push(pseudo(b":scheme", scheme));
    fields.push(pseudo(b":authority", Bytes::copy_from_slice(authority)));
    let path = match uri.path_and_query().map(PathAndQuery::as_str) {
        None | Some("/") | Some("") => Bytes::from_static(b"/"),
        Some(p) => Bytes::copy_from_slice(p.as_bytes()),
    };
    fields.push(pseudo(b":path", path));
    push_regular(&parts.headers, &mut fields);
    fields
}

/// The header fields of a response head: `:status`, then `headers` less the
/// connection-specific fields.
pub fn response_fields(status: StatusCode, headers: &HeaderMap) -> Vec<HeaderField> {
    // Room for the `date` a server adds (`push_date`).
    let mut fields = Vec::with_capacity(headers.len() + 2);
    fields.push(pseudo(b":status", status_value(status)));
    push_regular(headers, &mut fields);
    fields
}

/// Trailer fields from a `HeaderMap` (connection-specific fields dropped).
pub fn trailer_fields(headers: &HeaderMap) -> Vec<HeaderField> {
    let mut fields = Vec::with_capacity(headers.len());
    push_regular(headers, &mut fields);
    fields
}

/// A received request head (the core's validated block) as an
/// `http::Request<()>`: method, URI (absolute when the request has an
/// authority: `:scheme`, `:authority` or else the `host` field, `:path`),
/// version `HTTP/2.0`, the regular fields. Give it a body with
/// [`http::Request::map`].
pub fn request_head(headers: HeaderList) -> Result<http::Request<()>, InvalidHead> {
    request_head_cached(headers, &mut HeadCache::default())
}

/// What one connection's requests usually repeat, kept between them so that
/// it is parsed once: the last `:authority` (clients send the same one on
/// every request of a connection) and the last few paths (a gRPC client
/// calls the same few methods). Holds its own copies, never views of a
/// decoded block (they would pin the block's memory).
///
/// The default one keeps nothing: each request is parsed from its own
/// memory (no copy), as a single conversion wants.
#[derive(Debug, Default)]
pub(crate) struct HeadCache {
    /// Whether to keep what was parsed (see [`HeadCache::new`]).
    keep: bool,
    authority: Option<Authority>,
    paths: [Option<PathAndQuery>; PATHS],
    /// Where the next new path goes (round robin).
    next_path: usize,
}

/// Paths a [`HeadCache`] remembers.
const PATHS: usize = 4;

/// Paths and authorities longer than this are parsed every time (not
/// copied into the cache).
const PATH_MAX: usize = 256;

impl HeadCache {
    /// A cache that keeps what it parses, for a connection's requests.
    pub(crate) fn new() -> Self {
        HeadCache {
            keep: true,
            ..HeadCache::default()
        }
    }

    fn path(&mut self, p: Bytes) -> Result<PathAndQuery, InvalidHead> {
        for cached in self.paths.iter().flatten() {
            if cached.as_str().as_bytes() == &p[..] {
                return Ok(cached.clone());
            }
        }
        // A fragment is never part of a request target (RFC 9110 §7.1), and
        // `http` would drop it without a word: refused instead.
        if p.contains(&b'#') {
            return Err(InvalidHead("path"));
        }
        if !self.keep || p.len() > PATH_MAX {
            return PathAndQuery::from_maybe_shared(p).map_err(|_| InvalidHead("path"));
        }
        let parsed = PathAndQuery::from_maybe_shared(Bytes::copy_from_slice(&p))
            .map_err(|_| InvalidHead("path"))?;
        self.paths[self.next_path] = Some(parsed.clone());
        self.next_path = (self.next_path + 1) % PATHS;
        Ok(parsed)
    }

    fn authority(&mut self, a: Bytes) -> Result<Authority, InvalidHead> {
        if let Some(cached) = &self.authority
            && cached.as_str().as_bytes() == &a[..]
        {
            return Ok(cached.clone());
        }
        if !self.keep || a.len() > PATH_MAX {
            return Authority::from_maybe_shared(a).map_err(|_| InvalidHead("authority"));
        }
        let parsed = Authority::from_maybe_shared(Bytes::copy_from_slice(&a))
            .map_err(|_| InvalidHead("authority"))?;
        self.authority = Some(parsed.clone());
        Ok(parsed)
    }
}

/// [`request_head`], with a connection's [`HeadCache`].
pub(crate) fn request_head_cached(
    headers: HeaderList,
    cache: &mut HeadCache,
) -> Result<http::Request<()>, InvalidHead> {
    let mut method = None;
    let (mut scheme, mut authority, mut path) = (None, None, None);
    // The core put the pseudo-header fields first (RFC 9113 §8.3).
    let pseudo = headers.all().len() - headers.fields().len();
    let mut fields = headers.into_fields().into_iter();
    for f in fields.by_ref().take(pseudo) {
        match &f.name[..] {
            b":method" => method = Some(method_of(&f.value)?),
            b":scheme" => scheme = Some(f.value),
            b":authority" => authority = Some(f.value),
            b":path" => path = Some(f.value),
            // `:protocol` (extended CONNECT) has no place in `http`'s head.
            _ => {}
        }
    }
    // Built in place: the request is large, every move of it is a copy.
    let mut req = http::Request::new(());
    let map = req.headers_mut();
    if fields.len() > 0 {
        map.reserve(fields.len());
    }
    for f in fields {
        append(map, f);
    }
    // An empty `:authority` names nothing (RFC 9110 §4.2.1): as if absent.
    let authority = match authority.filter(|a| !a.is_empty()) {
        Some(a) => Some(a),
        None => map
            .get(http::header::HOST)
            .map(|h| Bytes::copy_from_slice(h.as_bytes())),
    };
    let mut parts = uri::Parts::default();
    if let Some(a) = authority.filter(|a| !a.is_empty()) {
        parts.authority = Some(cache.authority(a)?);
        // CONNECT has no `:scheme`: its URI is the authority alone.
        parts.scheme = match scheme.as_deref() {
            None | Some(b"") => None,
            Some(b"http") => Some(Scheme::HTTP),
            Some(b"https") => Some(Scheme::HTTPS),
            Some(other) => Some(Scheme::try_from(other).map_err(|_| InvalidHead("scheme"))?),
        };
    }
    if let Some(p) = path.filter(|p| !p.is_empty()) {
        parts.path_and_query = Some(cache.path(p)?);
    }
    *req.uri_mut() = http::Uri::from_parts(parts).map_err(|_| InvalidHead("uri"))?;
    *req.method_mut() = method.ok_or(InvalidHead("method"))?;
    *req.version_mut() = http::Version::HTTP_2;
    Ok(req)
}

/// The usual methods without `Method::from_bytes`'s parse.
fn method_of(value: &[u8]) -> Result<Method, InvalidHead> {
    Ok(match value {
        b"GET" => Method::GET,
        b"POST" => Method::POST,
        other => Method::from_bytes(other).map_err(|_| InvalidHead("method"))?,
    })
}

/// A received response head as an `http::Response<()>`: status, version
/// `HTTP/2.0`, the regular fields.
pub fn response_head(headers: HeaderList) -> Result<http::Response<()>, InvalidHead> {
    let status = headers
        .status()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or(InvalidHead("status"))?;
    let mut res = http::Response::new(());
    *res.status_mut() = status;
    *res.version_mut() = http::Version::HTTP_2;
    *res.headers_mut() = header_map(headers.into_fields());
    Ok(res)
}

/// Received fields as a `HeaderMap`, pseudo-header fields left out; a field
/// `http` refuses is skipped (the core already validated them).
pub fn header_map(fields: Vec<HeaderField>) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(fields.len());
    for f in fields {
        if f.name.first() != Some(&b':') {
            append(&mut map, f);
        }
    }
    map
}

fn append(map: &mut HeaderMap, f: HeaderField) {
    // gRPC's names are not among `http`'s standard ones: from_bytes would
    // copy them for every call.
    let name = match known_name(&f.name) {
        Some(name) => Ok(name),
        None => HeaderName::from_bytes(&f.name),
    };
    let (Ok(name), Ok(mut value)) = (name, HeaderValue::from_maybe_shared(f.value)) else {
        return;
    };
    value.set_sensitive(f.sensitive);
    map.append(name, value);
}

/// The names requests and gRPC calls carry most, without
/// `HeaderName::from_bytes`'s parse (and, for gRPC's, its copy: they are
/// not among `http`'s standard names).
fn known_name(name: &[u8]) -> Option<HeaderName> {
    use http::header;
    Some(match name {
        b"user-agent" => header::USER_AGENT,
        b"accept" => header::ACCEPT,
        b"accept-encoding" => header::ACCEPT_ENCODING,
        b"content-type" => header::CONTENT_TYPE,
        b"content-length" => header::CONTENT_LENGTH,
        b"te" => header::TE,
        other => HeaderName::from_static(grpc_name(other)?),
    })
}

fn pseudo(name: &'static [u8], value: Bytes) -> HeaderField {
    HeaderField::new(Bytes::from_static(name), value)
}

/// Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2), and `te`
/// other than `trailers`: dropped on the way out, as hyper does.
fn forbidden(name: &HeaderName, value: &HeaderValue) -> bool {
    use http::header::{CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
    // Names compared as names, not as text: a standard name then costs an
    // enum comparison.
    const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
    const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
    name == CONNECTION
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
        || (name == TE && value != "trailers")
}

fn push_regular(headers: &HeaderMap, out: &mut Vec<HeaderField>) {
    for (name, value) in headers {
        if forbidden(name, value) {
            continue;
        }
        out.push(HeaderField {
            name: name_bytes(name),
            value: value_bytes(value.as_bytes()),
            sensitive: value.is_sensitive(),
        });
    }
}

/// A name's bytes; the names responses carry most are static (no copy).
fn name_bytes(name: &HeaderName) -> Bytes {
    let s = name.as_str();
    let known: &'static str = match s {
        "content-type" => "content-type",
        "content-length" => "content-length",
        "content-encoding" => "content-encoding",
        "cache-control" => "cache-control",
        "date" => "date",
        "server" => "server",
        "etag" => "etag",
        "last-modified" => "last-modified",
        "location" => "location",
        "vary" => "vary",
        "accept" => "accept",
        "accept-encoding" => "accept-encoding",
        "user-agent" => "user-agent",
        "allow" => "allow",
        "te" => "te",
        other => match grpc_name(other.as_bytes()) {
            Some(name) => name,
            None => return Bytes::copy_from_slice(s.as_bytes()),
        },
    };
    Bytes::from_static(known.as_bytes())
}

/// gRPC's field names, as static text.
fn grpc_name(name: &[u8]) -> Option<&'static str> {
    Some(match name {
        b"grpc-status" => "grpc-status",
        b"grpc-message" => "grpc-message",
        b"grpc-timeout" => "grpc-timeout",
        b"grpc-encoding" => "grpc-encoding",
        b"grpc-accept-encoding" => "grpc-accept-encoding",
        b"grpc-status-details-bin" => "grpc-status-details-bin",
        _ => return None,
    })
}

/// A value's bytes; gRPC's usual ones and short numbers (a small body's
/// `content-length`) are static (no copy per call).
fn value_bytes(value: &[u8]) -> Bytes {
    match value {
        b"application/grpc" => Bytes::from_static(b"application/grpc"),
        b"trailers" => Bytes::from_static(b"trailers"),
        b"text/plain; charset=utf-8" => Bytes::from_static(b"text/plain; charset=utf-8"),
        other => match short_number(other) {
            Some(digits) => Bytes::from_static(digits),
            None => Bytes::copy_from_slice(other),
        },
    }
}

/// Every number of three digits, `000` to `999`, one after the other.
static NUMBERS: [u8; 3000] = {
    let mut table = [0u8; 3000];
    let mut n = 0;
    while n < 1000 {
        table[3 * n] = b'0' + (n / 100) as u8;
        table[3 * n + 1] = b'0' + (n / 10 % 10) as u8;
        table[3 * n + 2] = b'0' + (n % 10) as u8;
        n += 1;
    }
    table
};

/// A value of one to three digits, as the same digits in [`NUMBERS`].
fn short_number(value: &[u8]) -> Option<&'static [u8]> {
    if value.is_empty() || value.len() > 3 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = value
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    let end = 3 * n + 3;
    NUMBERS.get(end - value.len()..end)
}

fn method_value(method: &Method) -> Bytes {
    let known: &'static str = match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "CONNECT" => "CONNECT",
        other => return Bytes::copy_from_slice(other.as_bytes()),
    };
    Bytes::from_static(known.as_bytes())
}

fn status_value(status: StatusCode) -> Bytes {
    let known: &'static str = match status.as_u16() {
        200 => "200",
        204 => "204",
        206 => "206",
        304 => "304",
        400 => "400",
        404 => "404",
        413 => "413",
        500 => "500",
        503 => "503",
        _ => return Bytes::copy_from_slice(status.as_str().as_bytes()),
    };
    Bytes::from_static(known.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::HeaderList;

    /// A block as the core hands it over, checked as a request or response.
    fn block(fields: Vec<HeaderField>) -> HeaderList {
        use crate::proto::validate::{BlockKind, check_block};
        let kind = match fields.first() {
            Some(f) if f.name == ":status" => BlockKind::Response,
            _ => BlockKind::Request,
        };
        let checked = check_block(kind, fields.iter().map(|f| (&f.name[..], &f.value[..])));
        HeaderList::new(fields, checked.unwrap())
    }

    fn received(fields: &[(&'static str, &'static str)]) -> HeaderList {
        block(
            fields
                .iter()
                .map(|(n, v)| HeaderField::new(*n, *v))
                .collect(),
        )
    }

    #[test]
    fn request_fields_fill_in_defaults_and_drop_connection_fields() {
        let req = http::Request::get("/a?b=1")
            .header("Connection", "close")
            .header("te", "gzip")
            .header("x-id", "7")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let fields = request_fields(&parts, "host:80", true);
        let got: Vec<(&[u8], &[u8])> = fields.iter().map(|f| (&f.name[..], &f.value[..])).collect();
        assert_eq!(
            got,
            [
                (&b":method"[..], &b"GET"[..]),
                (b":scheme", b"https"),
                (b":authority", b"host:80"),
                (b":path", b"/a?b=1"),
                (b"x-id", b"7"),
            ]
        );
    }

    #[test]
    fn request_fields_take_the_uri_authority_then_host() {
        let (parts, ()) = http::Request::get("http://example.com:8080/")
            .body(())
            .unwrap()
            .into_parts();
        let fields = request_fields(&parts, "default", false);
        assert_eq!(&fields[2].value[..], b"example.com:8080");
        let (parts, ()) = http::Request::get("/")
            .header("host", "h.test")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(
            &request_fields(&parts, "default", false)[2].value[..],
            b"h.test"
        );
    }

    /// Found by the `http_message` fuzz target: a received CONNECT could not
    /// be sent on (`:scheme` and `:path` were always added).
    #[test]
    fn a_connect_request_is_sent_with_its_authority_only() {
        let head = received(&[(":method", "CONNECT"), (":authority", "proxy.test:443")]);
        let (parts, ()) = request_head(head).unwrap().into_parts();
        let fields = request_fields(&parts, "default", true);
        let got: Vec<(&[u8], &[u8])> = fields.iter().map(|f| (&f.name[..], &f.value[..])).collect();
        assert_eq!(
            got,
            [
                (&b":method"[..], &b"CONNECT"[..]),
                (b":authority", b"proxy.test:443"),
            ]
        );
        use crate::proto::validate::{BlockKind, FieldOrigin, check_outgoing};
        assert!(check_outgoing(BlockKind::Request, &fields, FieldOrigin::Any).is_ok());
    }

    /// An empty `:authority` is read as absent, so a `host` field is what
    /// names the target, as it will when the request is sent on. (The
    /// `http_message` fuzz target found a `host` hidden this way; the core
    /// now refuses that one, `proto::authority`'s userinfo test.)
    #[test]
    fn an_empty_authority_is_as_if_absent() {
        let head = received(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", ""),
            (":path", "/x"),
            ("host", ""),
        ]);
        let req = request_head(head).unwrap();
        assert_eq!(req.uri(), "/x");
        let (parts, ()) = req.into_parts();
        let fields = request_fields(&parts, "default", true);
        assert_eq!(&fields[2].value[..], b"");
    }

    #[test]
    fn request_head_builds_an_absolute_uri_and_keeps_field_memory() {
        let head = received(&[
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "a.test"),
            (":path", "/p?q"),
            ("x-one", "1"),
            ("x-one", "2"),
        ]);
        let value_ptr = head.all()[4].value.as_ptr();
        let req = request_head(head).unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), "https://a.test/p?q");
        assert_eq!(req.version(), http::Version::HTTP_2);
        let values: Vec<_> = req.headers().get_all("X-One").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(values[0].as_bytes().as_ptr(), value_ptr, "copied");
    }

    #[test]
    fn request_head_falls_back_to_host_and_refuses_what_http_cannot_hold() {
        let req = request_head(received(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            ("host", "h.test"),
        ]))
        .unwrap();
        assert_eq!(req.uri(), "http://h.test/");
        let bad = received(&[(":method", "GET"), (":scheme", "http"), (":path", "/a b")]);
        assert_eq!(request_head(bad).err(), Some(InvalidHead("path")));
    }

    #[test]
    fn response_head_and_fields_round_trip() {
        let mut map = HeaderMap::new();
        map.insert("content-type", HeaderValue::from_static("text/plain"));
        map.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        let fields = response_fields(StatusCode::NOT_FOUND, &map);
        assert_eq!(fields.len(), 2, "transfer-encoding dropped");
        let head = block(fields);
        let res = response_head(head).unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(res.headers()["content-type"], "text/plain");
        assert_eq!(res.headers().len(), 1);
    }

    #[test]
    fn a_connection_cache_gives_the_heads_a_fresh_parse_gives() {
        let mut cache = HeadCache::new();
        for i in 0..20 {
            let path = format!("/p{}?q={}", i % 7, i % 2);
            let authority = if i % 5 == 0 { "b.test" } else { "a.test:8080" };
            let head = block(vec![
                HeaderField::new(":method", "GET"),
                HeaderField::new(":scheme", "https"),
                HeaderField::new(":authority", authority),
                HeaderField::new(":path", path.clone()),
            ]);
            let cached = request_head_cached(head.clone(), &mut cache).unwrap();
            assert_eq!(cached.uri(), request_head(head).unwrap().uri());
            assert_eq!(cached.uri(), &*format!("https://{authority}{path}"));
        }
        let fragment = received(&[(":method", "GET"), (":scheme", "http"), (":path", "/p0#f")]);
        assert_eq!(
            request_head_cached(fragment, &mut cache).err(),
            Some(InvalidHead("path"))
        );
    }

    #[test]
    fn short_numbers_are_the_same_digits() {
        for v in ["0", "7", "16", "05", "100", "999", "007"] {
            assert_eq!(value_bytes(v.as_bytes()), v.as_bytes());
        }
        assert_eq!(short_number(b"1000"), None);
        assert_eq!(short_number(b"1a"), None);
        assert_eq!(short_number(b""), None);
    }

    #[test]
    fn sensitive_values_stay_sensitive_both_ways() {
        let map = header_map(vec![
            HeaderField::new("authorization", "s").with_sensitive(true),
        ]);
        assert!(map["authorization"].is_sensitive());
        assert!(trailer_fields(&map)[0].sensitive);
    }

    proptest::proptest! {
        /// Whatever the core lets through (any field values it accepts),
        /// the conversion answers without panicking, and what it accepts
        /// keeps the method and path it was given.
        #[test]
        fn any_head_the_core_accepts_converts_or_is_refused(
            method in proptest::collection::vec(0x21u8..0x7f, 1..8),
            authority in proptest::collection::vec(0x20u8..0x7f, 0..20),
            path in proptest::collection::vec(0x21u8..0xff, 1..30),
            value in proptest::collection::vec(0x01u8..0xff, 0..20),
        ) {
            let mut path = path;
            path[0] = b'/';
            let fields = vec![
                HeaderField::new(":method", method.clone()),
                HeaderField::new(":scheme", "https"),
                HeaderField::new(":authority", authority),
                HeaderField::new(":path", path.clone()),
                HeaderField::new("x-any", value),
            ];
            use crate::proto::validate::{BlockKind, check_block};
            let checked = check_block(BlockKind::Request, fields.iter().map(|f| (&f.name[..], &f.value[..])));
            proptest::prop_assume!(checked.is_ok());
            if let Ok(req) = request_head(block(fields)) {
                proptest::prop_assert_eq!(req.method().as_str().as_bytes(), &method[..]);
                let got = req.uri().path_and_query().map(|p| p.as_str().as_bytes().to_vec());
                proptest::prop_assert_eq!(got, Some(path));
            }
        }
    }
}
