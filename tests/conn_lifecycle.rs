//! RFC 9113 §3.4 (preface), §6.5 (SETTINGS), §6.7 (PING), §6.8 (GOAWAY).

mod support;

use std::time::Duration;

use h2proto::frame::{self, Frame, GoAway, Ping, Reason, Settings, StreamId};
use h2proto::hpack;
use h2proto::proto::{Config, ConnectionError, Event, Initiator, PeerViolation, TimeoutKind};

use support::*;

fn closed_error(events: &[Event]) -> Option<Option<ConnectionError>> {
    events.iter().find_map(|e| match e {
        Event::Closed { error } => Some(error.clone()),
        _ => None,
    })
}

#[test]
fn s3_4_client_sends_the_preface_then_settings_and_window_update() {
    let mut raw = fresh_peer(Config::client());
    let mut out = bytes::BytesMut::new();
    raw.conn.poll_transmit(&mut out, usize::MAX, raw.now);
    assert!(out.starts_with(frame::PREFACE));
    let _ = frame::strip_preface(&mut out);
    let frames = decode_all(out);
    assert!(matches!(&frames[0], Frame::Settings(s) if !s.is_ack()));
    // 1 MiB connection window by default: announced at once.
    assert!(
        matches!(&frames[1], Frame::WindowUpdate(w) if w.stream_id.is_zero() && w.window_size_increment == (1 << 20) - 65_535)
    );
}

#[test]
fn s3_4_a_bad_preface_is_a_protocol_error() {
    let mut raw = fresh_peer(Config::server());
    raw.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );
    assert!(raw.conn.is_closed());
    assert!(matches!(
        closed_error(&raw.take_events()),
        Some(Some(ConnectionError::PeerViolation {
            violation: PeerViolation::BadPreface,
            ..
        }))
    ));
}

#[test]
fn s3_4_the_first_frame_must_be_settings() {
    let mut raw = fresh_peer(Config::server());
    raw.send_bytes(frame::PREFACE);
    raw.send(Ping::new([0; 8]));
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );
}

#[test]
fn s3_4_preface_split_byte_by_byte_is_fine() {
    let mut raw = fresh_peer(Config::server());
    for b in frame::PREFACE {
        raw.send_bytes(&[*b]);
    }
    raw.send(Settings::builder().build().unwrap());
    assert!(raw.goaway().is_none());
    assert!(
        raw.take_events()
            .iter()
            .any(|e| matches!(e, Event::RemoteSettings(_)))
    );
}

#[test]
fn s6_5_3_settings_are_acknowledged_and_take_effect_on_ack() {
    let mut p = pair();
    p.run();
    for side in [Side::Client, Side::Server] {
        let events = p.events(side);
        assert!(
            events.iter().any(|e| matches!(e, Event::RemoteSettings(_))),
            "{side:?}"
        );
        assert!(
            events.iter().any(|e| matches!(e, Event::SettingsAcked)),
            "{side:?}"
        );
    }
    assert_eq!(p.client.peer_settings().max_concurrent_streams, Some(100));
    assert!(
        !p.server.peer_settings().enable_push,
        "client disables push"
    );
}

#[test]
fn s6_5_3_missing_settings_ack_is_a_settings_timeout() {
    let mut raw = fresh_peer(Config::server());
    raw.send_bytes(frame::PREFACE);
    raw.send(Settings::builder().build().unwrap());
    raw.read(); // our SETTINGS go out, no ACK comes back
    raw.advance(Duration::from_secs(9));
    assert!(raw.goaway().is_none());
    raw.advance(Duration::from_secs(2));
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::SETTINGS_TIMEOUT)
    );
    assert_eq!(
        closed_error(&raw.take_events()),
        Some(Some(ConnectionError::Timeout(TimeoutKind::SettingsAck)))
    );
}

#[test]
fn s6_5_2_a_server_enabling_push_is_a_client_protocol_error() {
    let mut raw = fresh_peer(Config::client());
    raw.send(Settings::builder().enable_push(true).build().unwrap());
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );
}

#[test]
fn s6_5_unknown_settings_and_frame_types_are_ignored() {
    let mut raw = server_peer(Config::server());
    raw.send(
        Settings::builder()
            .push(frame::Setting::Unknown { id: 0xfe, value: 7 })
            .build()
            .unwrap(),
    );
    raw.send(frame::Unknown {
        frame_type: 0xbb,
        flags: 0xff,
        stream_id: StreamId::new(1),
        payload: "x".into(),
    });
    let frames = raw.read();
    assert!(frames.iter().all(|f| !matches!(f, Frame::GoAway(_))));
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, Frame::Settings(s) if s.is_ack()))
    );
}

#[test]
fn s6_7_pings_are_answered_and_ours_measure_rtt() {
    let mut raw = server_peer(Config::server());
    raw.send(Ping::new(*b"12345678"));
    assert!(raw.read().contains(&Frame::Ping(Ping::ack(*b"12345678"))));
    let payload = raw.conn.ping(raw.now).unwrap();
    assert!(raw.read().contains(&Frame::Ping(Ping::new(payload))));
    raw.now += Duration::from_millis(42);
    raw.send(Ping::ack(payload));
    assert!(raw.take_events().contains(&Event::PingAck {
        payload,
        rtt: Duration::from_millis(42)
    }));
    // An ACK for a PING we never sent is ignored.
    raw.send(Ping::ack([9; 8]));
    assert!(raw.take_events().is_empty());
}

#[test]
fn s6_8_graceful_server_shutdown_is_two_phase() {
    let mut p = pair();
    p.handshake();
    let a = p.client.send_request(get("/a"), true).unwrap();
    p.run();
    p.server.shutdown(p.now);
    let frames = p.sent_frames(Side::Server);
    assert!(
        matches!(&frames[0], Frame::GoAway(g) if g.last_stream_id == StreamId::MAX && g.error_code == Reason::NO_ERROR)
    );
    assert!(matches!(&frames[1], Frame::Ping(p) if !p.ack));
    // sent_frames consumed those bytes; re-run a pair to exercise the whole flow.
    let mut p = pair();
    p.handshake();
    let a2 = p.client.send_request(get("/a"), true).unwrap();
    p.run();
    p.server.shutdown(p.now);
    p.run();
    // After the PING round trip the real last stream id goes out.
    let goaways: Vec<_> = p
        .events(Side::Client)
        .into_iter()
        .filter_map(|e| match e {
            Event::GoAway { last_stream_id, .. } => Some(last_stream_id.value()),
            _ => None,
        })
        .collect();
    assert_eq!(goaways, [StreamId::MAX.value(), a2.value()]);
    assert!(!p.client.can_take_new_request());
    // The stream in flight still completes, then both sides close cleanly.
    p.server.send_response(a2, status(200), true).unwrap();
    p.run();
    assert!(p.server.is_closed());
    assert!(p.client.is_closed());
    assert_eq!(closed_error(&p.events(Side::Client)), Some(None));
    let _ = a;
}

#[test]
fn s6_8_streams_above_last_stream_id_are_refused_and_retryable() {
    let mut raw = client_peer(Config::client());
    let ids: Vec<StreamId> = (0..3)
        .map(|_| raw.conn.send_request(get("/"), true).unwrap())
        .collect();
    raw.read();
    raw.send(GoAway::new(ids[0], Reason::NO_ERROR));
    let events = raw.take_events();
    let refused: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Reset {
                stream_id,
                reason: Reason::REFUSED_STREAM,
                initiator: Initiator::Remote,
                why: None,
            } => Some(stream_id.value()),
            _ => None,
        })
        .collect();
    assert_eq!(refused, [ids[1].value(), ids[2].value()]);
    assert!(!raw.conn.can_take_new_request());
    assert!(raw.conn.send_request(get("/"), true).is_err());
    // Stream 1 may still finish; then the connection closes.
    raw.headers(ids[0].value(), &status(200), true);
    raw.read();
    assert!(raw.conn.is_closed());
}

/// A server draining with stream 1 open, its final GOAWAY (last stream 1,
/// sent when the shutdown PING went unanswered) read by the peer.
fn server_after_final_goaway() -> ScriptedPeer {
    let mut raw = server_peer(Config::server());
    // Stream 1 keeps the connection open while it drains.
    raw.headers(1, &request("POST", "/"), false);
    raw.conn.shutdown(raw.now);
    raw.read();
    raw.advance(Duration::from_secs(10));
    assert_eq!(
        raw.goaway().map(|g| g.last_stream_id),
        Some(StreamId::new(1))
    );
    raw
}

#[test]
fn s6_8_frames_on_streams_ignored_after_our_goaway_are_discarded_quietly() {
    // Found by the simulation: a request racing the server's final GOAWAY
    // was ignored, but its DATA then drew RST_STREAM(STREAM_CLOSED) and was
    // charged to the peer's reset budget, and its trailers were a connection
    // PROTOCOL_ERROR. §6.8: the sender of GOAWAY just discards such frames.
    let mut raw = server_after_final_goaway();
    raw.take_events();
    raw.headers(3, &request("POST", "/"), false);
    raw.data(3, b"body", false);
    raw.headers(3, &[hpack::HeaderField::new("x-t", "1")], true);
    let frames = raw.read();
    assert!(
        !frames
            .iter()
            .any(|f| matches!(f, Frame::RstStream(_) | Frame::GoAway(_))),
        "{frames:?}"
    );
    let counters = raw.conn.stats().counters;
    assert_eq!(counters.resets_sent_for_peer_errors, 0);
    assert_eq!(counters.connection_errors, 0);
    assert_eq!(counters.streams_refused, 1);
    assert_eq!(raw.conn.live_streams(), 1);
    assert!(raw.take_events().is_empty());
}

#[test]
fn s6_8_a_later_goaway_never_raises_the_last_stream_id_we_sent() {
    // Found by the fuzzer (stream_ops): after the final GOAWAY of a graceful
    // shutdown, a request the peer had in flight is ignored, but its id was
    // still recorded as the highest seen; a connection error then sent a
    // second GOAWAY with that higher id, which §6.8 forbids ("MUST NOT
    // increase") and which the peer rightly took as a PROTOCOL_ERROR.
    let mut raw = server_after_final_goaway();
    raw.headers(3, &request("POST", "/"), false);
    raw.read();
    raw.conn.close(Reason::INTERNAL_ERROR);
    let last: Vec<_> = raw
        .read()
        .into_iter()
        .filter_map(|f| match f {
            Frame::GoAway(g) => Some((g.last_stream_id, g.error_code)),
            _ => None,
        })
        .collect();
    assert_eq!(last, [(StreamId::new(1), Reason::INTERNAL_ERROR)]);
}

#[test]
fn s6_8_goaway_with_an_error_is_reported_when_the_connection_ends() {
    let mut raw = client_peer(Config::client());
    raw.send(GoAway {
        last_stream_id: StreamId::ZERO,
        error_code: Reason::ENHANCE_YOUR_CALM,
        additional_debug_data: "calm".into(),
    });
    raw.read();
    let events = raw.take_events();
    assert!(matches!(
        closed_error(&events),
        Some(Some(ConnectionError::RemoteGoAway {
            reason: Reason::ENHANCE_YOUR_CALM,
            ..
        }))
    ));
}

#[test]
fn abrupt_close_sends_goaway_and_drops_every_stream() {
    let mut p = pair();
    p.handshake();
    p.client.send_request(request("POST", "/"), false).unwrap();
    p.run();
    p.server.close(Reason::INTERNAL_ERROR);
    p.run();
    assert!(p.server.is_closed());
    assert_eq!(p.server.live_streams(), 0);
    let events = p.events(Side::Client);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::GoAway {
            reason: Reason::INTERNAL_ERROR,
            ..
        }
    )));
}

#[test]
fn eof_with_streams_open_is_an_error_and_without_is_clean() {
    let mut p = pair();
    p.handshake();
    p.client.recv_eof();
    assert_eq!(closed_error(&p.events(Side::Client)), Some(None));

    let mut p = pair();
    p.handshake();
    p.client.send_request(get("/"), true).unwrap();
    p.client.recv_eof();
    assert_eq!(
        closed_error(&p.events(Side::Client)),
        Some(Some(ConnectionError::UnexpectedEof))
    );
}

#[test]
fn s6_8_requests_waiting_for_a_slot_are_refused_by_any_goaway() {
    let mut peer = client_peer(Config::client());
    peer.send(
        Settings::builder()
            .max_concurrent_streams(1)
            .build()
            .unwrap(),
    );
    let a = peer.conn.send_request(get("/a"), true).unwrap();
    let b = peer.conn.send_request(get("/b"), true).unwrap();
    peer.read();
    assert_eq!(peer.conn.stats().pending_open, 1);
    // Only the first phase of a graceful shutdown arrives: last id 2^31-1.
    peer.send(GoAway::new(StreamId::MAX, Reason::NO_ERROR));
    let refused: Vec<StreamId> = peer
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Reset {
                stream_id,
                reason: Reason::REFUSED_STREAM,
                ..
            } => Some(stream_id),
            _ => None,
        })
        .collect();
    assert_eq!(refused, [b], "the unsent request is refused, retryable");
    peer.headers(a.value(), &status(200), true);
    peer.read();
    assert!(
        peer.conn.is_closed(),
        "nothing left: the connection finishes"
    );
}

#[test]
fn closing_gives_back_unreleased_data_in_the_stats() {
    let mut peer = server_peer(Config::server());
    peer.headers(1, &request("POST", "/"), false);
    peer.data(1, b"held by the application", false);
    assert_eq!(peer.conn.stats().recv_unreleased, 23);
    peer.conn.close(Reason::NO_ERROR);
    peer.read();
    assert!(peer.conn.is_closed());
    assert_eq!(peer.conn.stats().recv_unreleased, 0);
    assert_eq!(peer.conn.live_streams(), 0);
}

/// Issue #13 item 4: §6.8 "Endpoints MUST NOT increase the value they send
/// in the last stream identifier". Either role: connection PROTOCOL_ERROR.
#[test]
fn s6_8_a_goaway_raising_its_last_stream_id_is_a_connection_error() {
    // Our client, a server that sends GOAWAY(1) then GOAWAY(3).
    let mut raw = client_peer(Config::client());
    let a = raw.conn.send_request(get("/"), false).unwrap();
    raw.read();
    raw.send(GoAway::new(a, Reason::NO_ERROR));
    raw.send(GoAway::new(a, Reason::NO_ERROR));
    assert!(
        raw.goaway().is_none(),
        "the same last stream id again is fine"
    );
    raw.send(GoAway::new(StreamId::new(3), Reason::NO_ERROR));
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );
    let error = closed_error(&raw.take_events()).flatten();
    assert_eq!(
        error,
        Some(ConnectionError::PeerViolation {
            reason: Reason::PROTOCOL_ERROR,
            violation: PeerViolation::GoAwayLastStreamIdIncreased {
                previous: a,
                last: StreamId::new(3),
            },
        })
    );

    // Our server, a client that sends GOAWAY(0) then GOAWAY(2).
    let mut raw = server_peer(Config::server());
    raw.headers(1, &request("POST", "/"), false);
    raw.send(GoAway::new(StreamId::ZERO, Reason::NO_ERROR));
    assert!(raw.goaway().is_none());
    raw.send(GoAway::new(StreamId::new(2), Reason::NO_ERROR));
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );
}

#[test]
fn s6_8_a_goaway_lowering_its_last_stream_id_is_fine() {
    // The two-phase shutdown nghttp2 and we send: MAX, then the real one.
    let mut raw = client_peer(Config::client());
    let a = raw.conn.send_request(get("/"), true).unwrap();
    raw.read();
    raw.send(GoAway::new(StreamId::MAX, Reason::NO_ERROR));
    raw.send(GoAway::new(a, Reason::NO_ERROR));
    assert!(raw.goaway().is_none());
    raw.headers(a.value(), &status(204), true);
    raw.read();
    assert!(raw.conn.is_closed());
    assert_eq!(closed_error(&raw.take_events()), Some(None));
}

/// A server whose connections go idle after `secs` seconds without a stream.
fn idle_pair(secs: u64) -> Pair {
    let mut server = Config::server();
    server.idle_timeout = Some(Duration::from_secs(secs));
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    p
}

/// The GOAWAYs the client has received so far (their last stream ids).
fn goaways_received(p: &mut Pair) -> Vec<u32> {
    p.events(Side::Client)
        .into_iter()
        .filter_map(|e| match e {
            Event::GoAway { last_stream_id, .. } => Some(last_stream_id.value()),
            _ => None,
        })
        .collect()
}

/// `Config::idle_timeout`: a connection that carries no stream for that long
/// ends as a graceful shutdown ends it (GOAWAY NO_ERROR with the largest id,
/// then the real one), cleanly on both sides.
#[test]
fn an_idle_server_connection_ends_gracefully() {
    let mut p = idle_pair(30);
    p.advance(Duration::from_secs(29));
    p.run();
    assert!(goaways_received(&mut p).is_empty());
    p.advance(Duration::from_secs(2));
    p.run();
    let client_events = p.events(Side::Client);
    assert!(
        matches!(
            &client_events[..],
            [
                Event::GoAway {
                    last_stream_id: StreamId::MAX,
                    reason: Reason::NO_ERROR,
                    ..
                },
                Event::Closed { error: None }
            ]
        ),
        "{client_events:?}"
    );
    assert_eq!(closed_error(&p.events(Side::Server)), Some(None));
    assert!(p.server.is_closed() && p.client.is_closed());
    assert_eq!(p.server.stats().counters.idle_timeouts, 1);
}

/// PINGs (a keepalive) are not activity: only streams are.
#[test]
fn pings_alone_do_not_keep_a_connection_from_idling() {
    let mut p = idle_pair(30);
    for _ in 0..3 {
        p.client.ping(p.now).unwrap();
        p.run();
        p.advance(Duration::from_secs(9));
        p.run();
    }
    assert!(goaways_received(&mut p).is_empty(), "27 s in");
    p.advance(Duration::from_secs(4));
    p.run();
    assert_eq!(
        goaways_received(&mut p).first(),
        Some(&StreamId::MAX.value())
    );
}

/// A live stream holds the timeout off however long it lasts; the count
/// starts again when the last stream is gone.
#[test]
fn a_live_stream_holds_off_the_idle_timeout() {
    let mut p = idle_pair(30);
    let id = p.client.send_request(get("/slow"), true).unwrap();
    p.run();
    p.advance(Duration::from_secs(100));
    p.run();
    assert!(goaways_received(&mut p).is_empty(), "a stream is open");
    p.server.send_response(id, status(200), true).unwrap();
    p.run();
    p.advance(Duration::from_secs(29));
    p.run();
    assert!(
        goaways_received(&mut p).is_empty(),
        "29 s after the stream ended"
    );
    p.advance(Duration::from_secs(2));
    p.run();
    assert_eq!(goaways_received(&mut p), [StreamId::MAX.value()]);
    assert!(p.server.is_closed() && p.client.is_closed());
}

/// Servers let idle connections go after 5 minutes; clients (whose pools
/// decide) and gRPC servers (as grpc-go) keep them.
#[test]
fn idle_timeout_defaults() {
    assert_eq!(
        Config::server().idle_timeout,
        Some(Duration::from_secs(300))
    );
    assert_eq!(Config::client().idle_timeout, None);
    assert_eq!(h2proto::grpc::Config::server().http2.idle_timeout, None);
    assert_eq!(h2proto::grpc::Config::client().http2.idle_timeout, None);
}

/// A request that comes and goes between two looks at the clock still
/// counts: the idle time starts again when it is done.
#[test]
fn a_stream_that_came_and_went_restarts_the_idle_count() {
    let mut p = idle_pair(30);
    p.advance(Duration::from_secs(25));
    p.run();
    let id = p.client.send_request(get("/quick"), true).unwrap();
    p.run();
    p.server.send_response(id, status(204), true).unwrap();
    p.run();
    p.advance(Duration::from_secs(10));
    p.run();
    assert!(
        goaways_received(&mut p).is_empty(),
        "10 s after the request"
    );
    p.advance(Duration::from_secs(21));
    p.run();
    assert_eq!(
        goaways_received(&mut p).first(),
        Some(&StreamId::MAX.value())
    );
}

/// `Config::max_connection_age` (grpc-go's `MaxConnectionAge`): a busy
/// connection ends gracefully at that age; a stream still open after
/// `max_connection_age_grace` ends with it.
#[test]
fn a_connection_at_its_maximum_age_drains_then_ends_after_the_grace() {
    let mut server = Config::server();
    server.max_connection_age = Some(Duration::from_secs(60));
    server.max_connection_age_grace = Some(Duration::from_secs(10));
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    let id = p.client.send_request(get("/long"), true).unwrap();
    p.run();
    p.advance(Duration::from_secs(59));
    p.run();
    assert!(goaways_received(&mut p).is_empty(), "59 s old");
    p.advance(Duration::from_secs(2));
    p.run();
    // GOAWAY with the largest id, then (after the PING) the real last one.
    assert_eq!(
        goaways_received(&mut p),
        [StreamId::MAX.value(), id.value()]
    );
    assert!(!p.server.is_closed(), "the stream may still finish");
    assert_eq!(p.server.stats().counters.age_shutdowns, 1);
    p.advance(Duration::from_secs(9));
    p.run();
    assert!(!p.server.is_closed(), "within the grace");
    p.advance(Duration::from_secs(2));
    p.run();
    assert!(p.server.is_closed(), "the grace is over");
    assert_eq!(
        closed_error(&p.events(Side::Server)),
        Some(Some(ConnectionError::LocalClose {
            reason: Reason::NO_ERROR
        }))
    );
    // The client sees its stream end with the transport.
    p.client.recv_eof();
    assert!(p.client.is_closed());
}

/// Without a grace, a stream open at the maximum age finishes normally
/// and the connection closes cleanly after it.
#[test]
fn a_connection_at_its_maximum_age_lets_its_streams_finish() {
    let mut server = Config::server();
    server.max_connection_age = Some(Duration::from_secs(60));
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    let id = p.client.send_request(get("/long"), true).unwrap();
    p.run();
    p.advance(Duration::from_secs(3600));
    p.run();
    assert!(!p.server.is_closed(), "the stream holds it open");
    p.server.send_response(id, status(200), true).unwrap();
    p.run();
    assert!(p.server.is_closed() && p.client.is_closed());
    assert_eq!(closed_error(&p.events(Side::Server)), Some(None));
}

#[test]
fn max_connection_age_is_off_by_default() {
    for config in [
        Config::server(),
        Config::client(),
        h2proto::grpc::Config::server().http2,
    ] {
        assert_eq!(
            (config.max_connection_age, config.max_connection_age_grace),
            (None, None)
        );
    }
}
