//! A gRPC endpoint of either side against a peer that speaks correct
//! HTTP/2 (a real `Connection`) but arbitrary gRPC: header blocks with
//! arbitrary `content-type`, `grpc-timeout`, `grpc-encoding`,
//! `grpc-status`, `grpc-message` and metadata (`-bin` too); DATA cut
//! anywhere, holding length-prefixed messages with any flag and length,
//! gzip ones and a gzip bomb; trailers, resets, GOAWAY, raw bytes; all
//! interleaved with the application's commands and a virtual clock.
//!
//! Checked after every step: a server holds no more calls than its
//! concurrency limit, no message is larger than the receive limit, a call
//! ends at most once and says nothing after its end. At the end, once the
//! connection is closed: no call is left and the memory budget holds
//! nothing.
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::{Result, Unstructured};
use bytes::{Bytes, BytesMut};
use h2proto::frame::{Reason, StreamId};
use h2proto::grpc::codec::frame_message;
use h2proto::grpc::{
    self, CallId, CallOptions, Code, Config, Encoding, Endpoint, Event, Metadata, Side, Status,
};
use h2proto::hpack::HeaderField;
use h2proto::proto::{self, Connection};
use libfuzzer_sys::fuzz_target;

const MAX_RECV: usize = 16 * 1024;
const MAX_CONCURRENT: u32 = 4;
const STEPS: usize = 200;

const PATHS: &[&str] = &["/pkg.Svc/Method", "/a/b", "/", "", "noslash", "/x y", "/é"];
const CONTENT_TYPES: &[&[u8]] = &[
    b"application/grpc",
    b"application/grpc+proto",
    b"application/grpcx",
    b"application/json",
    b"",
];
const TIMEOUTS: &[&[u8]] = &[
    b"1S",
    b"100m",
    b"0n",
    b"99999999H",
    b"123456789u",
    b"1x",
    b"",
    b"18446744073709551615n",
    b"-1S",
];
const ENCODINGS: &[&[u8]] = &[b"gzip", b"identity", b"deflate", b"", b"GZIP"];
const STATUSES: &[&[u8]] = &[b"200", b"404", b"503", b"204", b"100", b"429"];
const GRPC_STATUSES: &[&[u8]] = &[
    b"0", b"1", b"13", b"14", b"16", b"17", b"99", b"-1", b"", b"abc",
];
const MESSAGES: &[&[u8]] = &[
    b"",
    b"plain",
    b"%",
    b"%zz",
    b"%C3%A9t%C3",
    b"a%20b",
    b"\xff",
];
const MD_NAMES: &[&[u8]] = &[
    b"x-a",
    b"x-b-bin",
    b"grpc-status-details-bin",
    b"grpc-x",
    b"user-agent",
    b"grpc-accept-encoding",
];
const MD_VALUES: &[&[u8]] = &[b"", b"v", b"AAEC", b"AAE=", b"!!", b"a b", b"\x80"];

fn word(u: &mut Unstructured, from: &[&'static [u8]]) -> Result<Bytes> {
    Ok(if u.ratio(1, 8)? {
        let len = u.int_in_range(0..=16)?;
        Bytes::copy_from_slice(u.bytes(len)?)
    } else {
        Bytes::from_static(u.choose(from)?)
    })
}

fn field(name: &'static str, value: Bytes) -> HeaderField {
    HeaderField::new(Bytes::from_static(name.as_bytes()), value)
}

fn metadata_fields(u: &mut Unstructured, out: &mut Vec<HeaderField>) -> Result<()> {
    for _ in 0..u.int_in_range(0..=3)? {
        out.push(HeaderField::new(word(u, MD_NAMES)?, word(u, MD_VALUES)?));
    }
    Ok(())
}

fn metadata(u: &mut Unstructured) -> Result<Metadata> {
    let mut md = Metadata::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let _ = if u.arbitrary()? {
            md.insert("x-a", u.choose(&["v", "", "a b", "é"])?)
        } else {
            let len = u.int_in_range(0..=8)?;
            md.insert_bin("x-b-bin", u.bytes(len)?)
        };
    }
    Ok(md)
}

fn gzip_bomb() -> Bytes {
    static BOMB: OnceLock<Bytes> = OnceLock::new();
    BOMB.get_or_init(|| {
        let message = Encoding::Gzip.compress(&vec![0; 1 << 20]).unwrap();
        frame_message(true, &message)
    })
    .clone()
}

/// Bytes for a stream's DATA: messages with any flag and length prefix.
fn body(u: &mut Unstructured) -> Result<Bytes> {
    let mut out = BytesMut::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let len = u.int_in_range(0..=64)?;
        let payload = u.bytes(len)?;
        match u.int_in_range(0..=9)? {
            0 => out.extend_from_slice(&gzip_bomb()),
            1 => {
                let gz = Encoding::Gzip.compress(payload).unwrap();
                out.extend_from_slice(&frame_message(true, &gz));
            }
            2 => {
                // Any flag, any declared length.
                out.extend_from_slice(&[u.arbitrary()?]);
                out.extend_from_slice(&u.arbitrary::<u32>()?.to_be_bytes());
                out.extend_from_slice(payload);
            }
            3 => {
                // Compressed flag, bytes that are not gzip.
                out.extend_from_slice(&frame_message(true, payload));
            }
            _ => out.extend_from_slice(&frame_message(false, payload)),
        }
    }
    Ok(out.freeze())
}

/// Mostly the first word (a valid value), else any.
fn usual(u: &mut Unstructured, from: &[&'static [u8]]) -> Result<Bytes> {
    if u.ratio(3, 4)? {
        Ok(Bytes::from_static(from[0]))
    } else {
        word(u, from)
    }
}

fn request_fields(u: &mut Unstructured) -> Result<Vec<HeaderField>> {
    let path = if u.ratio(3, 4)? {
        PATHS[0]
    } else {
        u.choose(PATHS)?
    };
    let method: &'static [u8] = if u.ratio(7, 8)? { b"POST" } else { b"GET" };
    let mut f = vec![
        field(":method", Bytes::from_static(method)),
        field(":scheme", Bytes::from_static(b"http")),
        field(":path", Bytes::copy_from_slice(path.as_bytes())),
        field(":authority", Bytes::from_static(b"svc")),
    ];
    if u.ratio(7, 8)? {
        f.push(field("content-type", usual(u, CONTENT_TYPES)?));
    }
    if u.ratio(7, 8)? {
        f.push(field("te", Bytes::from_static(b"trailers")));
    }
    if u.ratio(1, 3)? {
        f.push(field("grpc-timeout", word(u, TIMEOUTS)?));
    }
    if u.ratio(1, 3)? {
        f.push(field("grpc-encoding", word(u, ENCODINGS)?));
    }
    metadata_fields(u, &mut f)?;
    Ok(f)
}

fn status_fields(u: &mut Unstructured, f: &mut Vec<HeaderField>) -> Result<()> {
    if u.ratio(7, 8)? {
        f.push(field("grpc-status", word(u, GRPC_STATUSES)?));
    }
    if u.ratio(1, 2)? {
        f.push(field("grpc-message", word(u, MESSAGES)?));
    }
    metadata_fields(u, f)
}

fn response_fields(u: &mut Unstructured) -> Result<(Vec<HeaderField>, bool)> {
    let mut f = vec![field(":status", usual(u, STATUSES)?)];
    if u.ratio(7, 8)? {
        f.push(field("content-type", usual(u, CONTENT_TYPES)?));
    }
    if u.ratio(1, 3)? {
        f.push(field("grpc-encoding", word(u, ENCODINGS)?));
    }
    // Trailers-only.
    let end = u.ratio(1, 4)?;
    if end {
        status_fields(u, &mut f)?;
    } else {
        metadata_fields(u, &mut f)?;
    }
    Ok((f, end))
}

fn status(u: &mut Unstructured) -> Result<Status> {
    let code = Code::from(u.int_in_range(0u32..=20)?);
    Ok(Status::new(code, *u.choose(&["", "done", "100% é\n"])?))
}

/// What the test knows of the calls, to check the events against.
#[derive(Default)]
struct Calls {
    live: Vec<CallId>,
    ended: HashSet<CallId>,
}

impl Calls {
    fn on_event(&mut self, event: &Event) {
        let (call, ends) = match event {
            Event::CallStarted { call, .. } => {
                assert!(!self.ended.contains(call), "{call:?} started again");
                self.live.push(*call);
                return;
            }
            Event::Headers { call, .. } | Event::HalfClosed { call } | Event::Writable { call } => {
                (*call, false)
            }
            Event::Message { call, message, .. } => {
                assert!(message.len() <= MAX_RECV, "{} byte message", message.len());
                (*call, false)
            }
            Event::Cancelled { call, .. } | Event::Finished { call, .. } => (*call, true),
            _ => return,
        };
        assert!(
            !self.ended.contains(&call),
            "{event:?} after the call ended"
        );
        if ends {
            self.ended.insert(call);
            self.live.retain(|c| *c != call);
        }
    }

    fn pick(&self, u: &mut Unstructured) -> Result<Option<CallId>> {
        if self.live.is_empty() {
            return Ok(None);
        }
        Ok(Some(*u.choose(&self.live)?))
    }
}

/// The peer: a real connection whose streams the test drives.
struct Peer {
    conn: Connection,
    streams: Vec<StreamId>,
}

impl Peer {
    fn stream(&self, u: &mut Unstructured) -> Result<Option<StreamId>> {
        if self.streams.is_empty() {
            return Ok(None);
        }
        Ok(Some(*u.choose(&self.streams)?))
    }

    /// Peer commands both sides share: DATA, trailers, resets, GOAWAY.
    fn act(&mut self, u: &mut Unstructured, now: Instant, headers_first: bool) -> Result<()> {
        let Some(id) = self.stream(u)? else {
            return Ok(());
        };
        match u.int_in_range(0..=9)? {
            0..=4 => {
                let data = body(u)?;
                let end = u.ratio(1, 3)?;
                if headers_first {
                    // A server's DATA needs its response headers first.
                    let _ = self.conn.send_response(
                        id,
                        vec![
                            field(":status", "200".into()),
                            field("content-type", "application/grpc".into()),
                        ],
                        false,
                    );
                }
                // Cut anywhere.
                let cut = u.int_in_range(0..=data.len())?;
                let _ = self.conn.send_data(id, data.slice(..cut), false);
                let _ = self.conn.send_data(id, data.slice(cut..), end);
            }
            5 | 6 => {
                let mut f = Vec::new();
                if headers_first {
                    status_fields(u, &mut f)?;
                } else {
                    metadata_fields(u, &mut f)?;
                }
                let _ = self.conn.send_trailers(id, f);
            }
            7 => {
                let reason = *u.choose(&[
                    Reason::CANCEL,
                    Reason::NO_ERROR,
                    Reason::REFUSED_STREAM,
                    Reason::INTERNAL_ERROR,
                    Reason::ENHANCE_YOUR_CALM,
                ])?;
                let _ = self.conn.reset(id, reason);
            }
            8 => self.conn.shutdown(now),
            _ => {}
        }
        Ok(())
    }
}

/// `FUZZ_TRACE=1` prints every event (to see what an input reaches).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

/// Moves bytes both ways until nothing moves; checks the events.
fn exchange<S: Side>(
    ep: &mut Endpoint<S>,
    peer: &mut Peer,
    calls: &mut Calls,
    now: Instant,
    max_concurrent: Option<u32>,
) {
    let (mut to_ep, mut to_peer) = (BytesMut::new(), BytesMut::new());
    for _ in 0..64 {
        let a = ep.poll_transmit(&mut to_peer, usize::MAX, now);
        peer.conn.recv(&mut to_peer, now);
        let b = peer.conn.poll_transmit(&mut to_ep, usize::MAX, now);
        ep.recv(&mut to_ep, now);
        while let Some(e) = ep.poll_event() {
            if trace() {
                eprintln!("endpoint: {e:?}");
            }
            calls.on_event(&e);
        }
        while let Some(e) = peer.conn.poll_event() {
            if trace() {
                eprintln!("peer: {e:?}");
            }
            match e {
                proto::Event::Headers { stream_id, .. } if !peer.streams.contains(&stream_id) => {
                    peer.streams.push(stream_id);
                }
                proto::Event::Data {
                    stream_id, data, ..
                } => {
                    let _ = peer.conn.release_capacity(stream_id, data.len());
                }
                _ => {}
            }
        }
        if let Some(max) = max_concurrent {
            assert!(
                ep.active_calls() <= max as usize,
                "{} calls",
                ep.active_calls()
            );
        }
        if a + b == 0 {
            break;
        }
    }
}

fn endpoint_config(role: proto::Role) -> Config {
    let mut c = match role {
        proto::Role::Client => Config::client(),
        proto::Role::Server => Config::server(),
    };
    c.max_recv_message_size = MAX_RECV;
    c.memory_budget = 64 * 1024;
    c.max_send_queue = 8 * 1024;
    c.http2.max_concurrent_streams = MAX_CONCURRENT;
    c
}

/// Ends the connection and checks nothing is left.
fn finish<S: Side>(mut ep: Endpoint<S>, mut peer: Peer, mut calls: Calls, now: Instant) {
    ep.connection_mut().close(Reason::NO_ERROR);
    exchange(&mut ep, &mut peer, &mut calls, now, None);
    ep.recv_eof(now);
    while let Some(e) = ep.poll_event() {
        calls.on_event(&e);
    }
    assert_eq!(ep.active_calls(), 0, "calls left after the close");
    let stats = ep.budget().stats();
    assert_eq!(stats.held, 0, "budget still holds bytes: {stats:?}");
}

/// What happens to either side: time passes (timers, deadlines), or raw
/// bytes arrive (whatever they are, nothing may panic).
fn world<S: Side>(
    u: &mut Unstructured,
    ep: &mut Endpoint<S>,
    peer: &mut Peer,
    now: &mut Instant,
) -> Result<()> {
    if u.arbitrary()? {
        *now += Duration::from_millis(u.int_in_range(0..=3000)?);
        ep.handle_timeout(*now);
        peer.conn.handle_timeout(*now);
    } else if u.ratio(1, 4)? {
        let len = u.int_in_range(0..=32)?;
        let mut raw = BytesMut::from(u.bytes(len)?);
        ep.recv(&mut raw, *now);
    }
    Ok(())
}

fn run_server(u: &mut Unstructured) -> Result<()> {
    let mut now = Instant::now();
    let mut ep = grpc::Server::new(endpoint_config(proto::Role::Server), now);
    let mut peer = Peer {
        conn: Connection::new(proto::Config::client(), now),
        streams: Vec::new(),
    };
    let mut calls = Calls::default();
    exchange(&mut ep, &mut peer, &mut calls, now, Some(MAX_CONCURRENT));
    for _ in 0..STEPS {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0..=12)? {
            0 | 1 => {
                let f = request_fields(u)?;
                let end = u.ratio(1, 4)?;
                if let Ok(id) = peer.conn.send_request(f, end) {
                    peer.streams.push(id);
                }
            }
            2..=4 => peer.act(u, now, false)?,
            5 => {
                if let Some(call) = calls.pick(u)? {
                    let _ = ep.send_headers(call, metadata(u)?);
                }
            }
            6 | 7 => {
                if let Some(call) = calls.pick(u)? {
                    let len = u.int_in_range(0..=4096)?;
                    let _ = ep.send_message(call, Bytes::copy_from_slice(u.bytes(len)?));
                }
            }
            8 => {
                if let Some(call) = calls.pick(u)? {
                    let _ = ep.finish(call, status(u)?, metadata(u)?);
                }
            }
            9 => {
                if let Some(call) = calls.pick(u)? {
                    let _ = match u.int_in_range(0..=2)? {
                        0 => ep.cancel(call),
                        1 => ep.unimplemented(call),
                        _ => ep.set_send_encoding(call, Encoding::Gzip),
                    };
                }
            }
            _ => world(u, &mut ep, &mut peer, &mut now)?,
        }
        exchange(&mut ep, &mut peer, &mut calls, now, Some(MAX_CONCURRENT));
    }
    finish(ep, peer, calls, now);
    Ok(())
}

fn run_client(u: &mut Unstructured) -> Result<()> {
    let mut now = Instant::now();
    let mut ep = grpc::Client::new(endpoint_config(proto::Role::Client), now);
    let mut peer = Peer {
        conn: Connection::new(proto::Config::server(), now),
        streams: Vec::new(),
    };
    let mut calls = Calls::default();
    exchange(&mut ep, &mut peer, &mut calls, now, None);
    for _ in 0..STEPS {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0..=12)? {
            0 | 1 => {
                let mut options = CallOptions::new();
                if u.arbitrary()? {
                    options = options.timeout(Duration::from_millis(u.int_in_range(0..=5000)?));
                }
                options = options.metadata(metadata(u)?);
                if u.ratio(1, 4)? {
                    options = options.encoding(Encoding::Gzip);
                }
                if let Ok(call) = ep.start_call_with(u.choose(PATHS)?, options, now) {
                    calls.live.push(call);
                }
            }
            2 | 3 => {
                // The server answers a stream: headers, or trailers-only.
                if let Some(id) = peer.stream(u)? {
                    let (f, end) = response_fields(u)?;
                    let _ = peer.conn.send_response(id, f, end);
                }
            }
            4..=6 => peer.act(u, now, true)?,
            7 | 8 => {
                if let Some(call) = calls.pick(u)? {
                    let len = u.int_in_range(0..=4096)?;
                    let _ = ep.send_message(call, Bytes::copy_from_slice(u.bytes(len)?));
                }
            }
            9 => {
                if let Some(call) = calls.pick(u)? {
                    let _ = if u.arbitrary()? {
                        ep.close_send(call)
                    } else {
                        ep.cancel(call)
                    };
                }
            }
            _ => world(u, &mut ep, &mut peer, &mut now)?,
        }
        exchange(&mut ep, &mut peer, &mut calls, now, None);
    }
    finish(ep, peer, calls, now);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.arbitrary::<bool>() {
        Ok(true) => run_server(&mut u),
        Ok(false) => run_client(&mut u),
        Err(_) => Ok(()),
    };
});
