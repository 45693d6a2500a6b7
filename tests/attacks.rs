//! One test per known HTTP/2 attack: a scripted peer floods, and the test
//! checks the answer (GOAWAY / RST_STREAM code) and that every introspected
//! queue stayed within its cap for the whole flood.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2proto::frame::{self, Continuation, Frame, Ping, Reason, Settings, StreamId, WindowUpdate};
use h2proto::hpack::{DecoderError, HeaderField};
use h2proto::proto::{
    Config, ConnectionError, Event, Initiator, PeerViolation, Rate, ResetCause, Role, TimeoutKind,
};
use support::*;

/// Asserts the caps that must hold at every step of any flood.
fn within_caps(peer: &ScriptedPeer) {
    let stats = peer.conn.stats();
    let c = peer.conn.config();
    assert!(stats.control_queued.responses <= c.max_pending_responses);
    assert!(stats.closed_remembered <= c.max_closed_streams);
    assert!(stats.queued_data <= c.max_send_buffer_per_connection);
    assert!(stats.streams.total() <= c.max_concurrent_streams as usize + 1);
}

fn goaway_code(peer: &mut ScriptedPeer) -> Option<Reason> {
    peer.goaway().map(|g| g.error_code)
}

fn closed_with(peer: &mut ScriptedPeer) -> Option<ConnectionError> {
    peer.read();
    peer.take_events().into_iter().find_map(|e| match e {
        Event::Closed { error } => error,
        _ => None,
    })
}

#[test]
fn rapid_reset_cve_2023_44487() {
    let mut peer = server_peer(Config::server());
    let mut id = 1;
    let mut opened = 0;
    while !peer.conn.is_closed() && opened < 5000 {
        peer.headers(id, &get("/"), false);
        peer.rst(id, Reason::CANCEL);
        within_caps(&peer);
        assert!(peer.conn.live_streams() <= 1);
        id += 2;
        opened += 1;
        peer.read();
    }
    // Burst 1000 at a frozen clock: the 1001st cancel ends it.
    assert_eq!(opened, 1001);
    let stats = peer.conn.stats();
    assert_eq!(stats.counters.reset_limit_hits, 1);
    assert!(matches!(
        closed_with(&mut peer),
        Some(ConnectionError::PeerViolation {
            reason: Reason::ENHANCE_YOUR_CALM,
            violation: PeerViolation::TooManyResets
        })
    ));
}

#[test]
fn rapid_reset_below_the_rate_is_fine() {
    // A client cancelling 30 requests a second for two minutes stays under 33/s.
    let mut peer = server_peer(Config::server());
    let mut id = 1;
    for _ in 0..3600 {
        peer.headers(id, &get("/"), false);
        peer.rst(id, Reason::CANCEL);
        peer.now += Duration::from_millis(34);
        id += 2;
    }
    assert!(goaway_code(&mut peer).is_none());
    assert_eq!(peer.conn.stats().counters.reset_limit_hits, 0);
}

#[test]
fn made_you_reset_cve_2025_8671() {
    // The peer never sends RST_STREAM; it makes *us* reset, here with DATA on
    // half-closed (remote) streams (a stream error STREAM_CLOSED each time).
    let mut peer = server_peer(Config::server());
    let mut id = 1;
    while !peer.conn.is_closed() && id < 10_000 {
        peer.headers(id, &get("/"), true);
        peer.data(id, b"x", false);
        within_caps(&peer);
        id += 2;
        peer.read();
    }
    assert!(peer.conn.is_closed(), "provoked resets are charged too");
    assert_eq!(peer.conn.stats().counters.reset_limit_hits, 1);
}

#[test]
fn continuation_flood_cve_2024_27316() {
    let mut peer = server_peer(Config::server());
    let block = peer.block(&get("/"));
    peer.send(frame::Headers::new(
        StreamId::new(1),
        block.slice(..1),
        false,
        false,
    ));
    let mut sent = 0;
    while goaway_code(&mut peer).is_none() && sent < 10_000 {
        peer.send(Continuation {
            stream_id: StreamId::new(1),
            field_block_fragment: Bytes::from_static(b"\x00"),
            end_headers: false,
        });
        sent += 1;
        within_caps(&peer);
    }
    assert_eq!(sent, 33, "32 CONTINUATION frames allowed, the 33rd ends it");
    assert_eq!(peer.conn.stats().counters.continuation_limit_hits, 1);
}

#[test]
fn continuation_flood_by_bytes() {
    let mut config = Config::server();
    config.max_header_block_size = 64 * 1024;
    let mut peer = server_peer(config);
    peer.send(frame::Headers::new(
        StreamId::new(1),
        Bytes::from_static(b"\x82"),
        false,
        false,
    ));
    let big = Bytes::from(vec![0u8; 16_000]);
    for _ in 0..5 {
        peer.send(Continuation {
            stream_id: StreamId::new(1),
            field_block_fragment: big.clone(),
            end_headers: false,
        });
    }
    assert_eq!(goaway_code(&mut peer), Some(Reason::ENHANCE_YOUR_CALM));
    assert_eq!(peer.conn.stats().counters.header_block_limit_hits, 1);
}

#[test]
fn hpack_bomb_is_refused_with_431_and_the_connection_lives() {
    // Hand-encoded (our own encoder refuses to index large values): a 4000-byte
    // value enters the dynamic table once, then each 1-byte reference to it
    // expands to 4 KB: 100 references are 400 KB decoded from ~110 bytes.
    let mut peer = server_peer(Config::server());
    // :method GET, :scheme https, :path /, :authority "a" (literal, not indexed).
    let head: &[u8] = &[0x82, 0x87, 0x84, 0x01, 0x01, b'a'];
    let mut first = head.to_vec();
    first.extend_from_slice(&[0x40, 6]);
    first.extend_from_slice(b"x-bomb");
    first.extend_from_slice(&[0x7f, 0xa1, 0x1e]); // length 4000 = 127 + 3873
    first.extend(std::iter::repeat_n(b'b', 4000));
    peer.send(frame::Headers::new(
        StreamId::new(1),
        Bytes::from(first),
        true,
        true,
    ));
    assert!(
        peer.take_events()
            .iter()
            .any(|e| matches!(e, Event::Headers { .. }))
    );
    let mut bomb = head.to_vec();
    bomb.extend(std::iter::repeat_n(0xbe, 100)); // dynamic index 62, 100 times
    peer.send(frame::Headers::new(
        StreamId::new(3),
        Bytes::from(bomb),
        true,
        true,
    ));
    let frames = peer.read();
    let answered_431 = frames
        .iter()
        .any(|f| matches!(f, Frame::Headers(h) if h.stream_id == StreamId::new(3) && h.end_stream));
    assert!(answered_431, "431 response: {frames:?}");
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, Frame::RstStream(r) if r.error_code == Reason::REFUSED_STREAM))
    );
    assert!(!frames.iter().any(|f| matches!(f, Frame::GoAway(_))));
    assert_eq!(peer.conn.stats().counters.oversize_header_lists, 1);
    assert!(
        !peer
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::Headers { .. })),
        "never delivered"
    );
    // The table stayed in sync: the entry is still usable at index 62.
    let mut after = head.to_vec();
    after.push(0xbe);
    peer.send(frame::Headers::new(
        StreamId::new(5),
        Bytes::from(after),
        true,
        true,
    ));
    let events = peer.take_events();
    let h = events.iter().find_map(|e| match e {
        Event::Headers { headers, .. } => Some(headers.clone()),
        _ => None,
    });
    assert_eq!(
        h.and_then(|h| h.get(b"x-bomb").map(|v| v.len())),
        Some(4000)
    );
}

/// A server answering with a header list over the client's limit: the client
/// refuses the stream itself, and says so (a `Local` REFUSED_STREAM is never
/// the peer's "not processed"), with the list's size and the limit.
#[test]
fn oversize_response_headers_are_a_local_refusal_with_the_sizes() {
    let mut raw = client_peer(Config::client());
    let id = raw.conn.send_request(request("POST", "/"), true).unwrap();
    raw.read();
    let mut fields = status(200);
    for i in 0..50 {
        fields.push(HeaderField::new(format!("x-big-{i}"), vec![b'v'; 4000]));
    }
    let block = raw.block(&fields);
    let mut out = BytesMut::new();
    frame::Headers::new(id, block, true, true)
        .encode(&mut out, 16_384)
        .unwrap();
    raw.send_bytes(&out);
    let events = raw.take_events();
    let why = events.iter().find_map(|e| match e {
        Event::Reset {
            reason: Reason::REFUSED_STREAM,
            initiator: Initiator::Local,
            why,
            ..
        } => why.clone(),
        _ => None,
    });
    // ":status" "200", then 50 fields of name + 4000 + 32.
    let expected_size = 7
        + 3
        + 32
        + (0..50)
            .map(|i| format!("x-big-{i}").len() + 4032)
            .sum::<usize>();
    assert_eq!(
        why,
        Some(ResetCause::HeaderListLimit(
            DecoderError::HeaderListTooLarge {
                size: expected_size,
                limit: 65_536,
            }
        ))
    );
    assert_eq!(raw.resets(), [(id.value(), Reason::REFUSED_STREAM)]);
}

#[test]
fn hpack_table_size_update_above_our_setting_is_a_compression_error() {
    let mut peer = server_peer(Config::server());
    // Dynamic table size update to 8192 (> our 4096), then :method GET.
    peer.send(frame::Headers::new(
        StreamId::new(1),
        Bytes::from_static(&[0x3f, 0xe1, 0x3f, 0x82]),
        true,
        true,
    ));
    assert_eq!(goaway_code(&mut peer), Some(Reason::COMPRESSION_ERROR));
}

/// Floods PINGs or SETTINGS while never reading our answers.
fn unread_flood(mut config: Config, frame: Frame, frames: usize) -> (ScriptedPeer, BytesMut) {
    // The back-pressure layer under test here; the rates are another layer
    // (see `ping_flood_read_by_the_peer_is_refused_by_rate`).
    let unlimited = Rate {
        burst: u32::MAX,
        per_second: 0,
    };
    config.ping_rate = unlimited;
    config.settings_rate = unlimited;
    let mut peer = server_peer(config);
    let mut one = BytesMut::new();
    frame.encode(&mut one, 16_384).unwrap();
    let mut input = BytesMut::new();
    for _ in 0..frames {
        input.extend_from_slice(&one);
    }
    peer.conn.recv(&mut input, peer.now);
    within_caps(&peer);
    (peer, input)
}

#[test]
fn ping_flood_pauses_reading_at_the_high_water_mark() {
    let frames = 100_000;
    let (mut peer, input) = unread_flood(Config::server(), Frame::Ping(Ping::new([7; 8])), frames);
    let stats = peer.conn.stats();
    assert_eq!(
        stats.control_queued.ping_acks, 100,
        "paused at 100 owed ACKs"
    );
    assert!(!peer.conn.wants_read());
    assert_eq!(
        input.len(),
        (frames - 100) * 17,
        "the rest stays unread in the caller's buffer"
    );
    assert_eq!(stats.counters.reads_paused, 1);
    // Once the peer reads our ACKs, reading resumes; no ACK was dropped.
    let acks = peer
        .read()
        .iter()
        .filter(|f| matches!(f, Frame::Ping(p) if p.ack))
        .count();
    assert_eq!(acks, 100);
    assert!(peer.conn.wants_read());
}

#[test]
fn settings_flood_pauses_reading_at_the_high_water_mark() {
    let settings = Settings::builder()
        .max_concurrent_streams(50)
        .build()
        .unwrap();
    let (peer, input) = unread_flood(Config::server(), Frame::Settings(settings), 10_000);
    assert_eq!(peer.conn.stats().control_queued.settings_acks, 100);
    assert!(!peer.conn.wants_read());
    assert!(!input.is_empty());
}

#[test]
fn ack_flood_past_the_hard_cap_ends_the_connection() {
    // An embedder that keeps feeding input despite wants_read() == false.
    let mut config = Config::server();
    config.pending_responses_high_water = usize::MAX;
    let (mut peer, _) = unread_flood(config, Frame::Ping(Ping::new([7; 8])), 5000);
    assert_eq!(peer.conn.stats().counters.pending_response_cap_hits, 1);
    let frames = peer.read();
    let acks = frames
        .iter()
        .filter(|f| matches!(f, Frame::Ping(p) if p.ack))
        .count();
    assert_eq!(acks, 1000, "every owed ACK is still sent before the GOAWAY");
    assert!(
        matches!(frames.last(), Some(Frame::GoAway(g)) if g.error_code == Reason::ENHANCE_YOUR_CALM)
    );
}

#[test]
fn settings_with_too_many_entries() {
    let mut peer = server_peer(Config::server());
    let mut b = Settings::builder();
    for i in 0..33u16 {
        b = b.push(frame::Setting::Unknown {
            id: 0x100 + i,
            value: 1,
        });
    }
    peer.send(b.build().unwrap());
    assert_eq!(goaway_code(&mut peer), Some(Reason::ENHANCE_YOUR_CALM));
    assert_eq!(peer.conn.stats().counters.settings_entries_limit_hits, 1);
}

#[test]
fn empty_data_flood_spends_the_glitch_budget() {
    let mut peer = server_peer(Config::server());
    peer.headers(1, &request("POST", "/"), false);
    let mut sent = 0;
    while !peer.conn.is_closed() && sent < 5000 {
        peer.data(1, b"", false);
        sent += 1;
        peer.read();
        within_caps(&peer);
    }
    assert_eq!(sent, 1001);
    assert_eq!(peer.conn.stats().counters.glitch_limit_hits, 1);
}

#[test]
fn priority_and_unknown_frame_floods_spend_the_glitch_budget() {
    for priority in [true, false] {
        let mut peer = server_peer(Config::server());
        let mut sent = 0;
        while !peer.conn.is_closed() && sent < 5000 {
            if priority {
                let spec = frame::PrioritySpec {
                    stream_dependency: StreamId::new(0),
                    weight: 1,
                    exclusive: false,
                };
                peer.send(frame::Priority {
                    stream_id: StreamId::new(1 + 2 * sent),
                    spec,
                });
            } else {
                peer.send(frame::Unknown {
                    frame_type: 0xfa,
                    flags: 0,
                    stream_id: StreamId::ZERO,
                    payload: Bytes::new(),
                });
            }
            sent += 1;
            peer.read();
        }
        assert_eq!(sent, 1001, "priority: {priority}");
    }
}

#[test]
fn malformed_header_flood_spends_both_budgets() {
    let mut peer = server_peer(Config::server());
    let mut bad = get("/");
    bad.push(HeaderField::new("connection", "close"));
    let mut id = 1;
    while !peer.conn.is_closed() && id < 10_000 {
        peer.headers(id, &bad, true);
        id += 2;
        peer.read();
        within_caps(&peer);
    }
    assert!(peer.conn.is_closed());
}

#[test]
fn slow_reader_with_a_shut_window() {
    let mut peer = server_peer(Config::server());
    peer.headers(1, &get("/big"), true);
    let id = StreamId::new(1);
    peer.conn.send_response(id, status(200), false).unwrap();
    peer.conn
        .send_data(id, Bytes::from(vec![0u8; 64 * 1024]), false)
        .unwrap();
    peer.read(); // 64 KiB minus one byte go out; the window is now shut
    peer.conn
        .send_data(id, Bytes::from(vec![0u8; 1024]), false)
        .unwrap();
    peer.advance(Duration::from_secs(59));
    assert!(goaway_code(&mut peer).is_none());
    peer.advance(Duration::from_secs(2));
    assert_eq!(goaway_code(&mut peer), Some(Reason::ENHANCE_YOUR_CALM));
    assert_eq!(peer.conn.stats().counters.send_stalls, 1);
}

#[test]
fn slow_reader_trickling_one_byte_window_updates() {
    let mut peer = server_peer(Config::server());
    peer.headers(1, &get("/big"), true);
    let id = StreamId::new(1);
    peer.conn.send_response(id, status(200), false).unwrap();
    peer.conn
        .send_data(id, Bytes::from(vec![0u8; 64 * 1024]), false)
        .unwrap();
    peer.read();
    // Keep plenty queued behind the shut window.
    peer.conn
        .send_data(id, Bytes::from(vec![0u8; 60 * 1024]), false)
        .unwrap();
    let mut elapsed = 0;
    while goaway_code(&mut peer).is_none() && elapsed < 600 {
        peer.send(WindowUpdate::new(StreamId::ZERO, 1));
        peer.send(WindowUpdate::new(id, 1));
        peer.read();
        peer.advance(Duration::from_secs(5));
        elapsed += 5;
    }
    assert!(
        (60..=65).contains(&elapsed),
        "tiny updates do not re-arm the timer ({elapsed} s)"
    );
    assert!(matches!(
        closed_with(&mut peer),
        Some(ConnectionError::Timeout(TimeoutKind::SendStall))
    ));
}

/// A browser pausing a download (or a gRPC client whose application stops
/// consuming one stream) keeps that stream's window shut while it reads the
/// rest of the connection: flow control it is entitled to (RFC 9113 §5.2),
/// not a slow reader. The connection, and every other stream on it, lives.
#[test]
fn a_stream_the_peer_holds_shut_while_reading_the_connection_is_not_a_slow_reader() {
    let mut peer = server_peer(Config::server());
    peer.send(WindowUpdate::new(StreamId::ZERO, 10 << 20));
    peer.headers(1, &get("/video"), true);
    peer.headers(3, &get("/long-poll"), true);
    let (video, quiet) = (StreamId::new(1), StreamId::new(3));
    peer.conn.send_response(video, status(200), false).unwrap();
    peer.conn
        .send_data(video, Bytes::from(vec![0u8; 64 * 1024]), false)
        .unwrap();
    peer.read(); // the stream's 65,535 go out; its window is shut
    peer.conn
        .send_data(video, Bytes::from(vec![0u8; 1024]), false)
        .unwrap();
    for _ in 0..10 {
        peer.advance(Duration::from_secs(61));
        assert_eq!(goaway_code(&mut peer), None);
    }
    assert!(!peer.conn.is_closed());
    let counters = peer.conn.stats().counters;
    assert_eq!(counters.send_stalls, 0);
    assert!(counters.streams_held_by_peer_windows >= 9);
    // Both streams still work: the quiet one answers, the held one resumes.
    peer.conn.send_response(quiet, status(204), true).unwrap();
    peer.send(WindowUpdate::new(video, 2048));
    let frames = peer.read();
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, Frame::Data(d) if d.stream_id == video))
    );
    assert_eq!(goaway_code(&mut peer), None);
    assert!(!peer.conn.is_closed());
}

/// Queued DATA that the windows would let out but that never leaves,
/// because the transport stopped taking bytes (the peer does not read its
/// socket, so the adapter stops calling `poll_transmit`), is a slow reader
/// whatever the windows say.
#[test]
fn a_transport_that_takes_nothing_is_a_slow_reader_even_with_open_windows() {
    let mut peer = server_peer(Config::server());
    peer.headers(1, &get("/big"), true);
    peer.read();
    let id = StreamId::new(1);
    peer.conn.send_response(id, status(200), false).unwrap();
    peer.conn
        .send_data(id, Bytes::from(vec![0u8; 32 * 1024]), false)
        .unwrap();
    // The socket takes one small write, then nothing more.
    let mut out = BytesMut::new();
    peer.conn.poll_transmit(&mut out, 1000, peer.now);
    let start = peer.now;
    peer.conn.handle_timeout(start + Duration::from_secs(59));
    assert_eq!(peer.conn.stats().counters.send_stalls, 0);
    peer.conn.handle_timeout(start + Duration::from_secs(61));
    assert_eq!(peer.conn.stats().counters.send_stalls, 1);
    assert_eq!(peer.conn.stats().counters.streams_held_by_peer_windows, 0);
    assert!(matches!(
        closed_with(&mut peer),
        Some(ConnectionError::Timeout(TimeoutKind::SendStall))
    ));
}

#[test]
fn a_reader_that_keeps_up_is_never_a_slow_reader() {
    let mut p = pair();
    p.handshake();
    let id = p.client.send_request(get("/stream"), true).unwrap();
    p.run();
    p.server.send_response(id, status(200), false).unwrap();
    for _ in 0..200 {
        p.server
            .send_data(id, Bytes::from(vec![0u8; 32 * 1024]), false)
            .unwrap();
        p.run();
        for e in p.events(Side::Client) {
            if let Event::Data { data, .. } = e {
                p.client.release_capacity(id, data.len()).unwrap();
            }
        }
        p.advance(Duration::from_secs(1));
    }
    assert!(!p.server.is_closed());
    assert_eq!(p.server.stats().counters.send_stalls, 0);
}

/// Issue #13 item 8: a peer that floods PINGs *and reads our ACKs* never
/// trips the back-pressure above; `Config::ping_rate` refuses it. Either
/// role floods the other through a pair on a virtual clock, 1000 PINGs a
/// second, each answered and read.
#[test]
fn ping_flood_read_by_the_peer_is_refused_by_rate() {
    for flooder in [Side::Server, Side::Client] {
        let victim = if flooder == Side::Server {
            Side::Client
        } else {
            Side::Server
        };
        let mut p = pair();
        p.handshake();
        let mut pings = 0;
        while !p.conn(victim).is_closed() && pings < 10_000 {
            let now = p.now;
            if p.conn(flooder).ping(now).is_err() {
                break;
            }
            pings += 1;
            p.run();
            p.advance(Duration::from_millis(1));
        }
        let stats = p.conn(victim).stats();
        assert_eq!(stats.counters.ping_limit_hits, 1, "{flooder:?} flooding");
        // Burst 100, then 10 a second against 1000 a second.
        assert!((100..=120).contains(&pings), "refused after {pings} PINGs");
        let closed = p.events(victim).into_iter().find_map(|e| match e {
            Event::Closed { error } => error,
            _ => None,
        });
        assert_eq!(
            closed,
            Some(ConnectionError::PeerViolation {
                reason: Reason::ENHANCE_YOUR_CALM,
                violation: PeerViolation::TooManyPings,
            })
        );
        let goaway = p.events(flooder).into_iter().find_map(|e| match e {
            Event::GoAway {
                reason, debug_data, ..
            } => Some((reason, debug_data)),
            _ => None,
        });
        assert_eq!(
            goaway,
            Some((
                Reason::ENHANCE_YOUR_CALM,
                Bytes::from_static(b"too_many_pings")
            )),
            "grpc clients back off their keepalive on this debug data"
        );
    }
}

/// The same for SETTINGS frames (each one an ACK and a pass over the
/// streams' windows): `Config::settings_rate`, both roles.
#[test]
fn settings_flood_read_by_the_peer_is_refused_by_rate() {
    for role in [Role::Server, Role::Client] {
        let mut peer = match role {
            Role::Server => server_peer(Config::server()),
            Role::Client => client_peer(Config::client()),
        };
        let settings = Settings::builder()
            .initial_window_size(70_000)
            .build()
            .unwrap();
        let mut sent = 0;
        let mut acks = 0;
        let mut goaway = None;
        while goaway.is_none() && sent < 10_000 {
            peer.send(settings.clone());
            sent += 1;
            for f in peer.read() {
                match f {
                    Frame::Settings(s) if s.is_ack() => acks += 1,
                    Frame::GoAway(g) => goaway = Some(g.error_code),
                    _ => {}
                }
            }
            within_caps(&peer);
            peer.advance(Duration::from_millis(1));
        }
        assert_eq!(goaway, Some(Reason::ENHANCE_YOUR_CALM), "{role:?}");
        assert_eq!(peer.conn.stats().counters.settings_limit_hits, 1);
        // The handshake's SETTINGS took one token of the burst of 100.
        assert!((90..=120).contains(&sent), "{role:?}: refused after {sent}");
        assert_eq!(
            acks,
            sent - 1,
            "every SETTINGS before the limit acknowledged"
        );
    }
}

/// What the limits must never refuse: keepalive PINGs every 5 s both ways
/// and a SETTINGS change a minute, for ten hours of virtual time. (The
/// server's idle timeout, which PINGs do not hold off, is off here: what is
/// tested is the rate limits.)
#[test]
fn keepalive_pings_for_hours_are_never_refused() {
    let mut server = Config::server();
    server.idle_timeout = None;
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    let mut acked = 0;
    for second in (0..10 * 3600).step_by(5) {
        let now = p.now;
        p.client.ping(now).unwrap();
        p.server.ping(now).unwrap();
        if second % 60 == 0 {
            let update = h2proto::proto::SettingsUpdate::new().max_concurrent_streams(100);
            p.client.update_settings(update, now).unwrap();
            p.server.update_settings(update, now).unwrap();
        }
        p.run();
        acked += p
            .events(Side::Client)
            .iter()
            .chain(p.events(Side::Server).iter())
            .filter(|e| matches!(e, Event::PingAck { .. }))
            .count();
        p.advance(Duration::from_secs(5));
    }
    assert_eq!(acked, 2 * 10 * 3600 / 5);
    for side in [Side::Client, Side::Server] {
        let c = p.conn(side).stats().counters;
        assert_eq!((c.ping_limit_hits, c.settings_limit_hits), (0, 0));
        assert!(!p.conn(side).is_closed());
    }
}

/// A BDP estimator pings each time data arrives (one PING per round trip
/// while a transfer runs): PINGs that follow DATA we wrote are free, however
/// fast. PINGs with nothing in between still spend the budget.
#[test]
fn pings_paired_with_our_data_are_free() {
    let mut peer = server_peer(Config::server());
    peer.headers(1, &request("GET", "/"), true);
    peer.send(WindowUpdate::new(StreamId::ZERO, 1 << 30));
    peer.send(WindowUpdate::new(StreamId::new(1), 1 << 30));
    let id = StreamId::new(1);
    peer.conn.send_response(id, status(200), false).unwrap();
    peer.read();
    for _ in 0..5000 {
        peer.conn
            .send_data(id, Bytes::from_static(&[0; 100]), false)
            .unwrap();
        peer.read();
        peer.send(Ping::new([1; 8]));
        assert!(
            matches!(&peer.read()[..], [Frame::Ping(p)] if p.ack),
            "answered"
        );
    }
    assert_eq!(peer.conn.stats().counters.ping_limit_hits, 0);
    // Unpaired, at the same instant: the burst, then GOAWAY.
    let mut unpaired = 0;
    while goaway_code(&mut peer).is_none() && unpaired < 1000 {
        peer.send(Ping::new([2; 8]));
        unpaired += 1;
    }
    assert_eq!(unpaired, 101);
    assert_eq!(peer.conn.stats().counters.ping_limit_hits, 1);
}
