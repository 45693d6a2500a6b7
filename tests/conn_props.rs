//! No input to `recv` panics, in either role; structured hostile frame
//! sequences keep every invariant the stats expose.

mod support;

use bytes::{Bytes, BytesMut};
use h2proto::frame::{self, Reason, Settings, StreamId};
use h2proto::hpack::{self, HeaderField};
use h2proto::proto::{Config, Event, Role};
use proptest::prelude::*;
use quickcheck::{QuickCheck, TestResult};
use support::*;

fn feed(raw: &mut ScriptedPeer, bytes: &[u8], chunk: usize) {
    for piece in bytes.chunks(chunk.max(1)) {
        raw.send_bytes(piece);
        raw.read();
    }
}

/// Checks what must hold whatever the peer sent.
fn invariants(raw: &mut ScriptedPeer) {
    let stats = raw.conn.stats();
    let config = raw.conn.config().clone();
    // The connection cap gives way only to what a stream's window lets out.
    assert!(
        stats.queued_data
            <= config.max_send_buffer_per_connection
                + stats.send_streams * config.max_send_buffer_per_stream
    );
    assert!(stats.closed_remembered <= config.max_closed_streams);
    assert!(stats.recv_window <= i64::from(u32::MAX >> 1));
    assert!(stats.control_queued.responses <= config.max_pending_responses + 1);
    assert_eq!(stats.streams.total(), raw.conn.live_streams());
    if raw.conn.role() == Role::Server {
        assert!(
            stats.streams.open + stats.streams.half_closed_remote + stats.streams.half_closed_local
                <= config.max_concurrent_streams as usize
        );
    }
}

#[test]
fn random_bytes_never_panic_either_role() {
    fn prop(bytes: Vec<u8>, chunk: u8, server: bool) -> TestResult {
        let mut raw = if server {
            server_peer(Config::server())
        } else {
            client_peer(Config::client())
        };
        if !server {
            let _ = raw.conn.send_request(support::request("POST", "/"), false);
        }
        feed(&mut raw, &bytes, usize::from(chunk));
        invariants(&mut raw);
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(3000)
        .quickcheck(prop as fn(Vec<u8>, u8, bool) -> TestResult);
}

#[test]
fn random_bytes_after_a_valid_frame_header_never_panic() {
    // Frame headers that pass the length check reach the per-type decoders
    // and the connection logic far more often than random bytes do.
    fn prop(kind: u8, flags: u8, id: u8, payload: Vec<u8>, server: bool) -> TestResult {
        let mut raw = if server {
            server_peer(Config::server())
        } else {
            client_peer(Config::client())
        };
        let mut out = BytesMut::new();
        frame::Head {
            length: payload.len() as u32,
            frame_type: frame::FrameType::from(kind % 12),
            flags,
            stream_id: StreamId::new(u32::from(id % 8)),
        }
        .encode(&mut out);
        out.extend_from_slice(&payload);
        feed(&mut raw, &out, out.len());
        invariants(&mut raw);
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(5000)
        .quickcheck(prop as fn(u8, u8, u8, Vec<u8>, bool) -> TestResult);
}

/// Which stream an operation targets: mostly one that exists, sometimes a
/// new one (next id), sometimes an arbitrary id (idle, closed, wrong parity).
#[derive(Debug, Clone, Copy)]
enum Target {
    Existing(u8),
    New,
    Any(u32),
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        8 => any::<u8>().prop_map(Target::Existing),
        3 => Just(Target::New),
        1 => (0u32..16).prop_map(Target::Any),
    ]
}

/// A frame a hostile or buggy peer might send, or a local command.
#[derive(Debug, Clone)]
enum Op {
    Headers {
        to: Target,
        fields: u8,
        end_stream: bool,
        split: bool,
    },
    Data {
        to: Target,
        len: u16,
        end_stream: bool,
        pad: Option<u8>,
    },
    Reset {
        to: Target,
        code: u32,
    },
    WindowUpdate {
        to: Target,
        increment: u32,
    },
    Settings {
        window: Option<u32>,
        max_frame: Option<u32>,
        table: Option<u32>,
        streams: Option<u32>,
    },
    Ping {
        ack: bool,
    },
    Priority {
        to: Target,
        dep: u32,
    },
    GoAway {
        last: u32,
        code: u32,
    },
    Garbage(Vec<u8>),
    Release {
        to: Target,
        n: u32,
    },
    LocalReset {
        to: Target,
    },
    Respond {
        to: Target,
        data: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (target(), 0u8..6, any::<bool>(), any::<bool>())
            .prop_map(|(to, fields, end_stream, split)| Op::Headers { to, fields, end_stream, split }),
        6 => (target(), 0u16..20_000, any::<bool>(), proptest::option::weighted(0.2, any::<u8>()))
            .prop_map(|(to, len, end_stream, pad)| Op::Data { to, len, end_stream, pad }),
        1 => (target(), 0u32..16).prop_map(|(to, code)| Op::Reset { to, code }),
        2 => (target(), prop_oneof![1u32..100_000, Just((1 << 31) - 1)])
            .prop_map(|(to, increment)| Op::WindowUpdate { to, increment }),
        1 => (
            proptest::option::of(prop_oneof![0u32..200_000, Just((1 << 31) - 1)]),
            proptest::option::of(16_384u32..100_000),
            proptest::option::of(0u32..10_000),
            proptest::option::of(0u32..5),
        )
            .prop_map(|(window, max_frame, table, streams)| Op::Settings { window, max_frame, table, streams }),
        1 => any::<bool>().prop_map(|ack| Op::Ping { ack }),
        1 => (target(), 0u32..12).prop_map(|(to, dep)| Op::Priority { to, dep }),
        1 => (0u32..12, 0u32..14).prop_map(|(last, code)| Op::GoAway { last, code }),
        1 => proptest::collection::vec(any::<u8>(), 0..24).prop_map(Op::Garbage),
        4 => (target(), 0u32..40_000).prop_map(|(to, n)| Op::Release { to, n }),
        1 => target().prop_map(|to| Op::LocalReset { to }),
        5 => (target(), 0u16..40_000).prop_map(|(to, data)| Op::Respond { to, data }),
    ]
}

const NAMES: [&str; 6] = [
    "user-agent",
    "accept",
    "x-a",
    "content-length",
    "cookie",
    "x-b",
];

fn block_fields(role: Role, n: u8) -> Vec<HeaderField> {
    let mut fields = match role {
        // We play the client toward a server, and the server toward a client.
        Role::Server => support::request("POST", "/p"),
        Role::Client => support::status(200),
    };
    for (i, name) in NAMES.iter().take(usize::from(n)).enumerate() {
        let value = if *name == "content-length" {
            "5".to_owned()
        } else {
            format!("v{i}")
        };
        fields.push(HeaderField::new(*name, value));
    }
    fields
}

/// The scripted side's view: the HPACK encoder and the streams in play.
struct Script {
    enc: hpack::Encoder,
    streams: Vec<u32>,
    next_id: u32,
}

impl Script {
    fn new(role: Role) -> Self {
        Script {
            enc: hpack::Encoder::new(4096),
            streams: Vec::new(),
            next_id: if role == Role::Server { 1 } else { 2 },
        }
    }

    /// Resolves a target to a stream id. A server under test gets new
    /// streams from us; a client under test opens its own (see `Respond`).
    fn id(&mut self, raw: &mut ScriptedPeer, to: Target) -> u32 {
        self.resolve(raw, to, false)
    }

    /// Like `id`, but `Target::New` opens a stream only for HEADERS; other
    /// frames aimed at "new" go to an existing stream.
    fn resolve(&mut self, raw: &mut ScriptedPeer, to: Target, opens: bool) -> u32 {
        let to = match to {
            Target::New if !opens => Target::Existing(0),
            other => other,
        };
        match to {
            Target::Existing(i) if !self.streams.is_empty() => {
                self.streams[usize::from(i) % self.streams.len()]
            }
            Target::Any(id) => id,
            _ if raw.role() == Role::Server => {
                let id = self.next_id;
                self.next_id += 2;
                self.streams.push(id);
                id
            }
            _ => match raw.conn.send_request(support::request("POST", "/"), false) {
                Ok(id) => {
                    // The request must be on the wire before a server can answer it.
                    raw.read();
                    self.streams.push(id.value());
                    id.value()
                }
                Err(_) => 1,
            },
        }
    }
}

/// Writes a frame by hand (the encoder refuses what the RFC forbids, such as
/// stream-carrying frames on stream 0, which a hostile peer sends anyway).
fn raw_frame(raw: &mut ScriptedPeer, kind: frame::FrameType, flags: u8, id: u32, payload: &[u8]) {
    let mut out = BytesMut::new();
    frame::Head {
        length: payload.len() as u32,
        frame_type: kind,
        flags,
        stream_id: StreamId::new(id),
    }
    .encode(&mut out);
    out.extend_from_slice(payload);
    raw.send_bytes(&out);
}

fn apply(raw: &mut ScriptedPeer, script: &mut Script, op: Op) {
    use frame::FrameType as T;
    let sid = StreamId::new;
    match op {
        Op::Headers {
            to,
            fields,
            end_stream,
            split,
        } => {
            let id = script.resolve(raw, to, true);
            let mut block = BytesMut::new();
            script
                .enc
                .encode(&block_fields(raw.role(), fields), &mut block);
            let block = block.freeze();
            let flags = u8::from(end_stream);
            if id == 0 {
                // Still encoded above, so our encoder's table moved: this is a
                // connection error anyway, so the desync does not matter.
                raw_frame(raw, T::Headers, 0x4 | flags, 0, &block);
            } else if split && block.len() > 1 {
                raw.send(frame::Headers::new(
                    sid(id),
                    block.slice(..1),
                    end_stream,
                    false,
                ));
                raw.send(frame::Continuation {
                    stream_id: sid(id),
                    field_block_fragment: block.slice(1..),
                    end_headers: true,
                });
            } else {
                raw.send(frame::Headers::new(sid(id), block, end_stream, true));
            }
        }
        Op::Data {
            to,
            len,
            end_stream,
            pad,
        } => {
            let id = script.id(raw, to);
            let mut d = frame::Data::new(
                sid(id.max(1)),
                Bytes::from(vec![b'x'; usize::from(len)]),
                end_stream,
            );
            d.pad_length = pad;
            if id == 0 {
                raw_frame(raw, T::Data, 0, 0, b"zero");
            } else if d.flow_controlled_len() <= 16_384 {
                raw.send(d);
            }
        }
        Op::Reset { to, code } => {
            let id = script.id(raw, to);
            raw_frame(raw, T::RstStream, 0, id, &code.to_be_bytes());
        }
        Op::WindowUpdate { to, increment } => {
            let id = script.id(raw, to);
            raw.send(frame::WindowUpdate::new(sid(id), increment));
        }
        Op::Settings {
            window,
            max_frame,
            table,
            streams,
        } => {
            let mut b = Settings::builder();
            if let Some(v) = window {
                b = b.initial_window_size(v);
            }
            if let Some(v) = max_frame {
                b = b.max_frame_size(v);
            }
            if let Some(v) = table {
                b = b.header_table_size(v);
            }
            if let Some(v) = streams {
                b = b.max_concurrent_streams(v);
            }
            raw.send(b.build().unwrap());
        }
        Op::Ping { ack } => raw.send(if ack {
            frame::Ping::ack([1; 8])
        } else {
            frame::Ping::new([2; 8])
        }),
        Op::Priority { to, dep } => {
            let id = script.id(raw, to);
            let mut payload = dep.to_be_bytes().to_vec();
            payload.push(15);
            raw_frame(raw, T::Priority, 0, id, &payload);
        }
        Op::GoAway { last, code } => raw.send(frame::GoAway::new(sid(last), Reason::new(code))),
        Op::Garbage(bytes) => raw.send_bytes(&bytes),
        Op::Release { to, n } => {
            let id = script.id(raw, to);
            let _ = raw.conn.release_capacity(sid(id), n as usize);
        }
        Op::LocalReset { to } => {
            let id = script.id(raw, to);
            let _ = raw.conn.reset(sid(id), Reason::CANCEL);
        }
        Op::Respond { to, data } => {
            let id = script.id(raw, to);
            if raw.role() == Role::Server {
                let _ = raw.conn.send_response(sid(id), support::status(200), false);
            }
            let _ = raw.conn.send_data(
                sid(id),
                Bytes::from(vec![0u8; usize::from(data)]),
                data % 2 == 0,
            );
        }
    }
    raw.read();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn hostile_frame_sequences_keep_invariants(server in any::<bool>(), ops in proptest::collection::vec(op(), 1..80)) {
        let mut raw = if server { server_peer(Config::server()) } else { client_peer(Config::client()) };
        let mut script = Script::new(raw.role());
        // One stream open from the start, so "existing" always has a target.
        apply(&mut raw, &mut script, Op::Headers { to: Target::New, fields: 0, end_stream: false, split: false });
        for op in ops {
            apply(&mut raw, &mut script, op);
            invariants(&mut raw);
            if raw.conn.is_closed() {
                break;
            }
        }
        // Closing frees everything.
        raw.conn.close(Reason::NO_ERROR);
        raw.read();
        prop_assert!(raw.conn.is_closed());
        prop_assert_eq!(raw.conn.live_streams(), 0);
        let closed = raw.take_events().iter().filter(|e| matches!(e, Event::Closed { .. })).count();
        prop_assert!(closed <= 1);
    }
}
