//! The embedder's contract of `proto::Connection` (issue #14 item 5): every
//! verb surfaces its consequence at once, `reset` and `release_capacity`
//! follow one rule, and the opt-in automatic release.

mod support;

use bytes::{Bytes, BytesMut};
use h2proto::frame::{self, Frame, Ping};
use h2proto::proto::{
    Config, ConnectionError, Event, PeerViolation, Rate, Reason, StreamId, TimeoutKind, UserError,
};

use support::*;

fn closed_events(events: &[Event]) -> Vec<Option<ConnectionError>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Closed { error } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

/// Takes what `poll_transmit` has for the wire (the preface stripped).
fn transmit(conn: &mut h2proto::proto::Connection, now: std::time::Instant) -> Vec<Frame> {
    let mut out = BytesMut::new();
    conn.poll_transmit(&mut out, usize::MAX, now);
    if out.starts_with(frame::PREFACE) {
        let _ = frame::strip_preface(&mut out);
    }
    decode_all(out)
}

#[test]
fn a_peer_protocol_error_in_recv_is_reported_by_recv_itself() {
    let mut raw = fresh_peer(Config::server());
    raw.send_bytes(frame::PREFACE);
    // The first frame must be SETTINGS (RFC 9113 §3.4): a PING is a
    // connection error. `send_bytes` only calls `recv` and `poll_event`.
    raw.send(Ping::new([0; 8]));
    let closed = closed_events(&raw.take_events());
    assert!(
        matches!(
            &closed[..],
            [Some(ConnectionError::PeerViolation {
                violation: PeerViolation::FirstFrameNotSettings,
                ..
            })]
        ),
        "Closed must come from recv, before any poll_transmit: {closed:?}"
    );
    // The GOAWAY that says so is still to be written, and the connection
    // says so: a driver that writes only when asked does write it.
    assert!(raw.conn.wants_write());
    assert!(!raw.conn.is_closed());
    let frames = transmit(&mut raw.conn, raw.now);
    let goaway = frames.iter().find_map(|f| match f {
        Frame::GoAway(g) => Some(g.error_code),
        _ => None,
    });
    assert_eq!(goaway, Some(Reason::PROTOCOL_ERROR));
    assert!(raw.conn.is_closed());
    assert!(!raw.conn.wants_write());
    // Reported once only.
    raw.read();
    assert!(closed_events(&raw.take_events()).is_empty());
}

#[test]
fn a_settings_timeout_is_reported_by_handle_timeout_itself() {
    let mut raw = fresh_peer(Config::client());
    // The preface and SETTINGS go out; the peer never acknowledges them.
    transmit(&mut raw.conn, raw.now);
    let deadline = raw
        .conn
        .poll_timeout()
        .expect("the SETTINGS timer is armed");
    raw.now = deadline;
    raw.conn.handle_timeout(raw.now);
    let mut events = Vec::new();
    while let Some(e) = raw.conn.poll_event() {
        events.push(e);
    }
    assert_eq!(
        closed_events(&events),
        [Some(ConnectionError::Timeout(TimeoutKind::SettingsAck))]
    );
    assert!(raw.conn.wants_write());
    let frames = transmit(&mut raw.conn, raw.now);
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, Frame::GoAway(g) if g.error_code == Reason::SETTINGS_TIMEOUT)),
        "{frames:?}"
    );
    assert!(raw.conn.is_closed());
    assert!(raw.conn.poll_event().is_none());
}

#[test]
fn a_local_close_is_reported_at_once_and_its_goaway_still_written() {
    let mut p = pair();
    p.handshake();
    p.client.close(Reason::INTERNAL_ERROR);
    assert_eq!(
        closed_events(&p.events(Side::Client)),
        [Some(ConnectionError::LocalClose {
            reason: Reason::INTERNAL_ERROR
        })]
    );
    assert!(p.client.wants_write());
    p.run();
    assert!(p.client.is_closed());
    assert!(p.server.poll_event().is_none());
    let server_events = p.events(Side::Server);
    assert!(
        server_events.iter().any(
            |e| matches!(e, Event::GoAway { reason, .. } if *reason == Reason::INTERNAL_ERROR)
        ),
        "{server_events:?}"
    );
    assert!(closed_events(&p.events(Side::Client)).is_empty());
}

#[test]
fn a_drained_connection_wants_write_until_poll_transmit_closes_it() {
    let mut p = pair();
    p.handshake();
    let id = p.client.send_request(get("/"), true).unwrap();
    p.run();
    p.client.shutdown(p.now);
    p.run();
    // The client drains: its request is still open until the response ends.
    assert!(!p.client.is_closed());
    p.server.send_response(id, status(204), true).unwrap();
    let now = p.now;
    p.server.poll_transmit(&mut p.to_client, usize::MAX, now);
    p.client.recv(&mut p.to_client, now);
    // Nothing left to write, but the close is still to be done: the rule
    // "call poll_transmit when wants_write()" must get there.
    assert!(p.client.wants_write());
    assert!(closed_events(&p.events(Side::Client)).is_empty());
    let mut out = BytesMut::new();
    p.client.poll_transmit(&mut out, usize::MAX, now);
    assert!(p.client.is_closed());
    assert_eq!(closed_events(&p.events(Side::Client)), [None]);
}

#[test]
fn reset_and_release_capacity_agree_on_streams_that_are_not_live() {
    let mut p = pair();
    p.handshake();
    // Ids no stream ever had, and stream 0: both refuse, with the same error.
    for id in [StreamId::new(1), StreamId::new(2), StreamId::ZERO] {
        assert_eq!(
            p.client.release_capacity(id, 1),
            Err(UserError::UnknownStream(id))
        );
        assert_eq!(
            p.client.reset(id, Reason::CANCEL),
            Err(UserError::UnknownStream(id))
        );
        assert_eq!(
            p.server.release_capacity(id, 1),
            Err(UserError::UnknownStream(id))
        );
        assert_eq!(
            p.server.reset(id, Reason::CANCEL),
            Err(UserError::UnknownStream(id))
        );
    }
    // A stream that finished and was freed: both are harmless no-ops.
    let id = p.client.send_request(get("/"), true).unwrap();
    p.run();
    p.server.send_response(id, status(204), true).unwrap();
    p.run();
    assert_eq!(p.client.live_streams(), 0);
    assert_eq!(p.server.live_streams(), 0);
    for conn in [&mut p.client, &mut p.server] {
        assert_eq!(conn.release_capacity(id, 1), Ok(()));
        assert_eq!(conn.reset(id, Reason::CANCEL), Ok(()));
    }
    // Nothing went out for them.
    assert!(p.sent_frames(Side::Client).is_empty());
    assert!(p.sent_frames(Side::Server).is_empty());
}

#[test]
fn a_closed_stream_lives_until_its_data_is_released_or_reset() {
    let mut p = pair();
    p.handshake();
    let id = p.client.send_request(request("POST", "/"), false).unwrap();
    p.client
        .send_data(id, Bytes::from_static(b"hello"), true)
        .unwrap();
    p.run();
    p.server.send_response(id, status(204), true).unwrap();
    p.run();
    // Closed both ways, but the server's application never released the 5 bytes.
    assert_eq!(p.server.live_streams(), 1);
    assert_eq!(p.server.stats().streams.closed, 1);
    p.server.release_capacity(id, 5).unwrap();
    assert_eq!(p.server.live_streams(), 0);
}

/// A server that never calls `release_capacity`, with windows far smaller
/// than the upload.
fn upload_without_release(release_on_delivery: bool) -> usize {
    let mut server = Config::server();
    server.initial_window_size = 16 * 1024;
    server.connection_window_size = 65_535;
    server.release_on_delivery = release_on_delivery;
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    let body = Bytes::from(vec![7u8; 256 * 1024]);
    let id = p.client.send_request(request("POST", "/"), false).unwrap();
    let mut offset = 0;
    let mut received = 0;
    for _ in 0..10_000 {
        if offset < body.len() {
            offset += p
                .client
                .send_data(id, body.slice(offset..), true)
                .unwrap_or(0);
        }
        let moved = p.step();
        for e in p.events(Side::Server) {
            if let Event::Data { data, .. } = e {
                received += data.len();
            }
        }
        p.events(Side::Client);
        if !moved && offset == body.len() {
            break;
        }
    }
    received
}

#[test]
fn release_on_delivery_returns_credit_as_data_is_polled() {
    // Without it (the default) the upload stalls at the stream window.
    assert_eq!(upload_without_release(false), 16 * 1024);
    // With it, every byte arrives.
    assert_eq!(upload_without_release(true), 256 * 1024);
}

#[test]
fn release_on_delivery_frees_a_finished_stream() {
    let mut server = Config::server();
    server.release_on_delivery = true;
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    let id = p.client.send_request(request("POST", "/"), false).unwrap();
    p.client
        .send_data(id, Bytes::from_static(b"hello"), true)
        .unwrap();
    p.run();
    p.server.send_response(id, status(204), true).unwrap();
    p.run();
    assert_eq!(p.server.live_streams(), 0);
    assert_eq!(p.server.stats().recv_unreleased, 0);
}

#[test]
fn closed_is_the_last_event_even_when_the_closing_frame_queued_more() {
    // The second peer cancel exceeds the reset budget: the RST_STREAM is
    // still reported, and the connection's end comes after it.
    let mut config = Config::server();
    config.reset_rate = Rate {
        burst: 1,
        per_second: 0,
    };
    let mut raw = server_peer(config);
    for id in [1, 3] {
        raw.headers(id, &get("/"), false);
        raw.rst(id, Reason::CANCEL);
    }
    let events = raw.take_events();
    assert!(
        matches!(
            &events[..],
            [
                Event::Headers { .. },
                Event::Reset { .. },
                Event::Headers { .. },
                Event::Reset { stream_id, .. },
                Event::Closed {
                    error: Some(ConnectionError::PeerViolation {
                        violation: PeerViolation::TooManyResets,
                        ..
                    })
                },
            ] if *stream_id == StreamId::new(3)
        ),
        "{events:?}"
    );
}
