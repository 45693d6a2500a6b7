//! The HTTP message layer (`message`) on heads a peer can really send:
//! arbitrary request and response header blocks go through a real
//! connection's receive check, then
//!
//! - the cached conversion (the tokio server's, one cache across the
//!   input's requests) must give what the plain one gives;
//! - a head that converts must convert back to fields our own connection
//!   sends, and the peer that receives them must see the same head again
//!   (what we parse, we can forward unchanged).
#![no_main]

use std::time::Instant;

use arbitrary::{Result, Unstructured};
use bytes::Bytes;
use h2proto::hpack::HeaderField;
use h2proto::internal::CachedRequestHeads;
use h2proto::message::{self, http};
use h2proto::proto::{Config, Event, HeaderList};
use h2proto::testing::{Pair, ScriptedPeer, request};
use libfuzzer_sys::fuzz_target;

const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"OPTIONS",
    b"CONNECT",
    b"DELETE",
    b"M-SEARCH",
    b"get",
    b"",
];
const SCHEMES: &[&[u8]] = &[b"http", b"https", b"HTTP", b"ftp", b"a+b.c-d", b""];
const AUTHORITIES: &[&[u8]] = &[
    b"example.com",
    b"example.com:8080",
    b"[::1]:443",
    b"user@host",
    b"h",
    b"xn--bcher-kva.example",
    b"",
];
const PATHS: &[&[u8]] = &[
    b"/",
    b"*",
    b"/a?b=c",
    b"/echo.Echo/UnaryEcho",
    b"/%zz",
    b"//x",
    b"/?",
    b"noslash",
    b"",
];
const NAMES: &[&[u8]] = &[
    b"host",
    b"te",
    b"content-length",
    b"cookie",
    b"grpc-timeout",
    b"user-agent",
    b"expect",
    b"content-type",
    b"grpc-status",
    b"x-bin",
    b"set-cookie",
    b"authorization",
    b"x-a",
    b"x_under",
    b"location",
];
const VALUES: &[&[u8]] = &[
    b"",
    b"trailers",
    b"0",
    b"12",
    b"100-continue",
    b"a=b",
    b"application/grpc",
    b"example.com",
    b"1S",
    b"\x80\xff",
    b"\x7f",
    b"a\tb",
];
const STATUSES: &[&[u8]] = &[
    b"200", b"204", b"304", b"404", b"100", b"103", b"999", b"20", b"abc",
];

/// Requests (and responses) per input: each one a stream on the same
/// connections.
const MAX_MESSAGES: usize = 24;

fn pick(u: &mut Unstructured, from: &[&'static [u8]]) -> Result<Bytes> {
    // Mostly a dictionary word; sometimes arbitrary bytes, or a word with
    // an arbitrary tail.
    Ok(match u.int_in_range(0u8..=9)? {
        0 => {
            let len = usize::from(u.int_in_range(0u8..=24)?);
            Bytes::copy_from_slice(u.bytes(len)?)
        }
        1 => {
            let mut v = u.choose(from)?.to_vec();
            let len = usize::from(u.int_in_range(0u8..=4)?);
            v.extend_from_slice(u.bytes(len)?);
            Bytes::from(v)
        }
        _ => Bytes::from_static(u.choose(from)?),
    })
}

fn regular(u: &mut Unstructured) -> Result<HeaderField> {
    Ok(HeaderField::new(pick(u, NAMES)?, pick(u, VALUES)?).with_sensitive(u.ratio(1, 8)?))
}

fn request_fields(u: &mut Unstructured) -> Result<Vec<HeaderField>> {
    let mut fields = Vec::new();
    let pseudo: [(&'static [u8], &[&'static [u8]]); 4] = [
        (b":method", METHODS),
        (b":scheme", SCHEMES),
        (b":authority", AUTHORITIES),
        (b":path", PATHS),
    ];
    for (name, words) in pseudo {
        // Each pseudo-header field usually present, once.
        if u.ratio(7, 8)? {
            fields.push(HeaderField::new(Bytes::from_static(name), pick(u, words)?));
        }
    }
    if u.ratio(1, 16)? {
        fields.push(HeaderField::new(":protocol", "websocket"));
    }
    for _ in 0..u.int_in_range(0u8..=6)? {
        fields.push(regular(u)?);
    }
    if u.ratio(1, 16)? && !fields.is_empty() {
        let i = u.choose_index(fields.len())?;
        let j = u.choose_index(fields.len())?;
        fields.swap(i, j);
    }
    Ok(fields)
}

fn response_fields(u: &mut Unstructured) -> Result<Vec<HeaderField>> {
    let mut fields = vec![HeaderField::new(":status", pick(u, STATUSES)?)];
    for _ in 0..u.int_in_range(0u8..=6)? {
        fields.push(regular(u)?);
    }
    Ok(fields)
}

fn same_request(a: &http::Request<()>, b: &http::Request<()>) -> bool {
    a.method() == b.method()
        && a.uri() == b.uri()
        && a.version() == b.version()
        && a.headers() == b.headers()
}

/// `b` is `a` sent on: the same, except that a URI without an authority
/// (`http`'s URI then keeps no scheme either) gets the sender's default
/// or an empty `host` field's.
fn forwarded(a: &http::Request<()>, b: &http::Request<()>) -> bool {
    if a.uri().authority().is_some() {
        return same_request(a, b);
    }
    a.method() == b.method()
        && a.uri().path_and_query() == b.uri().path_and_query()
        && a.version() == b.version()
        && a.headers() == b.headers()
}

fn same_response(a: &http::Response<()>, b: &http::Response<()>) -> bool {
    a.status() == b.status() && a.version() == b.version() && a.headers() == b.headers()
}

fn heads(events: Vec<Event>) -> Vec<(u32, HeaderList)> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Headers {
                stream_id, headers, ..
            } => Some((stream_id.value(), headers)),
            _ => None,
        })
        .collect()
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let now = Instant::now();
    // The peer's requests arrive here; a client of ours receives its
    // responses; `pair` carries what we send on.
    let mut server = ScriptedPeer::server(Config::server(), now);
    let mut client = ScriptedPeer::client(Config::client(), now);
    let mut pair = Pair::new(Config::client(), Config::server(), now);
    pair.handshake();
    let mut cache = CachedRequestHeads::new();
    for n in 0..MAX_MESSAGES {
        if u.is_empty() {
            break;
        }
        // A request from the peer.
        let fields = request_fields(&mut u)?;
        server.headers(2 * n as u32 + 1, &fields, true);
        let events = std::mem::take(&mut server.events);
        for (_, head) in heads(events) {
            let plain = message::request_head(head.clone());
            let cached = cache.request_head(head.clone());
            match (&plain, &cached) {
                (Ok(a), Ok(b)) => assert!(same_request(a, b), "{head:?}: {a:?} != {b:?}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{head:?}: {plain:?} but cached {cached:?}"),
            }
            let Ok(req) = plain else { continue };
            // Forwarded: our client sends it, our server sees the same head.
            let (parts, ()) = req.into_parts();
            let out = message::request_fields(&parts, "fallback.example", false);
            match pair.client.send_request(out.clone(), true) {
                Ok(_) => {}
                Err(e) => panic!("{head:?} parsed, but {out:?} is refused: {e}"),
            }
            pair.run();
            let got = heads(std::mem::take(&mut pair.server_events));
            assert_eq!(got.len(), 1, "{out:?} did not arrive whole");
            let (sid, got_head) = got.into_iter().next().unwrap();
            let again = message::request_head(got_head)
                .unwrap_or_else(|e| panic!("{head:?} sent on as {out:?}: {e}"));
            let original = http::Request::from_parts(parts, ());
            assert!(
                forwarded(&original, &again),
                "{head:?} forwarded as {again:?}"
            );

            // A response from the peer, to a request of our client.
            let Ok(id) = client.conn.send_request(request("GET", "/"), true) else {
                continue;
            };
            client.read();
            let fields = response_fields(&mut u)?;
            client.headers(id.value(), &fields, u.arbitrary()?);
            let events = std::mem::take(&mut client.events);
            for (_, head) in heads(events) {
                let Ok(res) = message::response_head(head.clone()) else {
                    continue;
                };
                if res.status().is_informational() {
                    continue;
                }
                let out = message::response_fields(res.status(), res.headers());
                if let Err(e) = pair
                    .server
                    // Not ended: a `content-length` would then have to be 0.
                    .send_response(h2proto::frame::StreamId::new(sid), out.clone(), false)
                {
                    panic!("{head:?} parsed, but {out:?} is refused: {e}");
                }
                pair.run();
                let got = heads(std::mem::take(&mut pair.client_events));
                assert_eq!(got.len(), 1, "{out:?} did not arrive whole");
                let again = message::response_head(got.into_iter().next().unwrap().1)
                    .expect("a head we built converts");
                assert!(
                    same_response(&res, &again),
                    "{head:?} forwarded as {again:?}"
                );
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
