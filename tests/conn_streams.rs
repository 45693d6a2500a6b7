//! RFC 9113 §5.1 (stream states), §5.1.1 (identifiers), §5.1.2 (concurrency).

mod support;

use h2proto::frame::{Reason, StreamId, WindowUpdate};
use h2proto::proto::{Config, Event, Initiator, UserError};

use support::*;

fn reset_events(events: &[Event]) -> Vec<(u32, Reason, Initiator)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Reset {
                stream_id,
                reason,
                initiator,
                ..
            } => Some((stream_id.value(), *reason, *initiator)),
            _ => None,
        })
        .collect()
}

#[test]
fn s5_1_request_and_response_close_the_stream_and_free_it() {
    let mut p = pair();
    p.handshake();
    let id = p.client.send_request(get("/"), true).unwrap();
    p.run();
    let req = p.events(Side::Server);
    assert!(
        matches!(&req[0], Event::Headers { stream_id, end_stream: true, .. } if *stream_id == id)
    );
    p.server.send_response(id, status(200), false).unwrap();
    p.server.send_data(id, "hello".into(), true).unwrap();
    p.run();
    let res = p.events(Side::Client);
    assert!(matches!(
        &res[0],
        Event::Headers {
            end_stream: false,
            ..
        }
    ));
    assert!(matches!(&res[1], Event::Data { data, end_stream: true, .. } if &data[..] == b"hello"));
    // The client holds 5 unreleased bytes: the stream stays until released.
    assert_eq!(p.client.live_streams(), 1);
    p.client.release_capacity(id, 5).unwrap();
    assert_eq!(p.client.live_streams(), 0);
    assert_eq!(p.server.live_streams(), 0);
}

#[test]
fn s5_1_data_after_we_reset_is_ignored() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &get("/"), false);
    raw.conn.reset(StreamId::new(1), Reason::CANCEL).unwrap();
    assert_eq!(raw.resets(), [(1, Reason::CANCEL)]);
    // The peer had DATA in flight: ignored, no error, connection window returned.
    raw.data(1, b"late", false);
    raw.data(1, b"later", true);
    assert!(raw.resets().is_empty());
    assert!(raw.goaway().is_none());
    assert_eq!(raw.conn.stats().recv_unreleased, 0);
}

#[test]
fn s5_1_frames_after_the_peer_reset_are_a_stream_error() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &get("/"), false);
    raw.rst(1, Reason::CANCEL);
    assert_eq!(
        reset_events(&raw.take_events()),
        [(1, Reason::CANCEL, Initiator::Remote)]
    );
    raw.data(1, b"x", false);
    assert_eq!(raw.resets(), [(1, Reason::STREAM_CLOSED)]);
    assert!(
        raw.goaway().is_none(),
        "a stream error, the connection lives"
    );
}

#[test]
fn s5_1_data_after_end_stream_is_a_connection_error() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &get("/"), true);
    raw.conn
        .send_response(StreamId::new(1), status(204), true)
        .unwrap();
    raw.read();
    // Closed by END_STREAM both ways: more DATA is a connection STREAM_CLOSED.
    raw.data(1, b"x", false);
    let goaway = raw.goaway().expect("GOAWAY");
    assert_eq!(goaway.error_code, Reason::STREAM_CLOSED);
}

#[test]
fn s5_1_window_update_racing_our_end_stream_is_ignored() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &get("/"), true);
    raw.conn
        .send_response(StreamId::new(1), status(200), false)
        .unwrap();
    raw.conn
        .send_data(StreamId::new(1), "body".into(), true)
        .unwrap();
    raw.read();
    raw.send(WindowUpdate::new(StreamId::new(1), 100));
    raw.rst(1, Reason::NO_ERROR);
    assert!(raw.read().is_empty(), "nothing to answer");
}

#[test]
fn s5_1_half_closed_remote_rejects_more_data_with_stream_closed() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &get("/"), true);
    raw.data(1, b"x", false);
    assert_eq!(raw.resets(), [(1, Reason::STREAM_CLOSED)]);
    assert!(raw.goaway().is_none());
}

#[test]
fn s5_1_frames_on_idle_streams_are_a_connection_error() {
    for frame in ["data", "rst", "window_update"] {
        let mut raw = server_peer(Config::server());
        match frame {
            "data" => raw.data(5, b"x", false),
            "rst" => raw.rst(5, Reason::CANCEL),
            _ => raw.send(WindowUpdate::new(StreamId::new(5), 1)),
        }
        assert_eq!(
            raw.goaway().map(|g| g.error_code),
            Some(Reason::PROTOCOL_ERROR),
            "{frame}"
        );
    }
}

#[test]
fn s5_1_1_client_stream_ids_must_be_odd_and_increasing() {
    let mut raw = server_peer(Config::server());
    raw.headers(2, &get("/"), true);
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );

    let mut raw = server_peer(Config::server());
    raw.headers(5, &get("/"), true);
    raw.headers(3, &get("/"), true);
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );
}

#[test]
fn s5_1_1_a_new_id_implicitly_closes_lower_idle_ones() {
    let mut raw = server_peer(Config::server());
    raw.headers(7, &get("/"), true);
    // Stream 3 was never used and is now closed: DATA on it is not "idle".
    raw.data(3, b"x", false);
    assert_eq!(raw.resets(), [(3, Reason::STREAM_CLOSED)]);
}

#[test]
fn s5_1_1_client_ids_are_odd_and_increase() {
    let mut p = pair();
    p.handshake();
    let ids: Vec<u32> = (0..3)
        .map(|_| p.client.send_request(get("/"), true).unwrap().value())
        .collect();
    assert_eq!(ids, [1, 3, 5]);
}

#[test]
fn s5_1_2_server_refuses_streams_over_its_limit() {
    let mut config = Config::server();
    config.max_concurrent_streams = 2;
    let mut raw = server_peer(config);
    raw.headers(1, &get("/"), false);
    raw.headers(3, &get("/"), false);
    raw.headers(5, &get("/"), false);
    assert_eq!(raw.resets(), [(5, Reason::REFUSED_STREAM)]);
    assert_eq!(raw.conn.stats().counters.streams_refused, 1);
    // Finishing one frees a slot.
    raw.rst(1, Reason::CANCEL);
    raw.headers(7, &get("/"), false);
    assert!(raw.resets().is_empty());
    assert_eq!(raw.conn.live_streams(), 2);
}

#[test]
fn s5_1_2_client_waits_for_slots_and_opens_in_order() {
    let mut server = Config::server();
    server.max_concurrent_streams = 2;
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    let ids: Vec<StreamId> = (0..5)
        .map(|_| p.client.send_request(get("/"), false).unwrap())
        .collect();
    assert!(!p.client.can_take_new_request());
    assert_eq!(p.client.stats().pending_open, 3);
    p.run();
    let opened: Vec<u32> = p
        .events(Side::Server)
        .iter()
        .filter_map(|e| match e {
            Event::Headers { stream_id, .. } => Some(stream_id.value()),
            _ => None,
        })
        .collect();
    assert_eq!(opened, [1, 3]);
    // Each stream that ends lets the next pending one out, in order.
    for (i, id) in ids.iter().enumerate() {
        p.client.send_data(*id, "".into(), true).unwrap();
        p.run();
        let srv = p.events(Side::Server);
        p.server.send_response(*id, status(200), true).unwrap();
        p.run();
        if i + 2 < ids.len() {
            assert!(
                srv.iter().any(
                    |e| matches!(e, Event::Headers { stream_id, .. } if *stream_id == ids[i + 2])
                ) || p.events(Side::Server).iter().any(
                    |e| matches!(e, Event::Headers { stream_id, .. } if *stream_id == ids[i + 2])
                ),
                "stream {} opened after {} finished",
                ids[i + 2].value(),
                id.value()
            );
        }
    }
    assert_eq!(p.server.stats().counters.streams_refused, 0);
    assert!(p.client.can_take_new_request());
    assert_eq!(p.client.live_streams(), 0);
}

/// nghttpd with `--max-concurrent-streams=10` refused most of 100 requests
/// sent at once on a fresh connection: before the server's SETTINGS arrived
/// the client took the limit as unlimited and sent every HEADERS. Until the
/// first SETTINGS it now assumes 100, like Go's transport and nghttp2.
#[test]
fn s5_1_2_client_assumes_100_streams_until_the_first_settings() {
    let mut server = Config::server();
    server.max_concurrent_streams = 1000;
    let mut p = pair_with(Config::client(), server);
    for _ in 0..150 {
        p.client.send_request(get("/"), true).unwrap();
    }
    let headers = |frames: &[h2proto::frame::Frame]| {
        frames
            .iter()
            .filter(|f| matches!(f, h2proto::frame::Frame::Headers(_)))
            .count()
    };
    assert_eq!(headers(&p.sent_frames(Side::Client)), 100);
    assert_eq!(p.client.stats().pending_open, 50);
    // The server's SETTINGS (limit 1000) let the rest out.
    p.server.poll_transmit(&mut p.to_client, usize::MAX, p.now);
    p.deliver(Side::Client);
    assert_eq!(headers(&p.sent_frames(Side::Client)), 50);
    assert_eq!(p.client.stats().pending_open, 0);
}

#[test]
fn s5_1_2_resetting_a_pending_request_sends_nothing() {
    let mut server = Config::server();
    server.max_concurrent_streams = 1;
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    let _a = p.client.send_request(get("/a"), false).unwrap();
    let b = p.client.send_request(get("/b"), false).unwrap();
    p.client.reset(b, Reason::CANCEL).unwrap();
    p.run();
    assert!(reset_events(&p.events(Side::Server)).is_empty());
    assert_eq!(p.client.stats().pending_open, 0);
}

#[test]
fn misuse_is_refused_without_touching_the_wire() {
    let mut p = pair();
    p.handshake();
    assert_eq!(
        p.server.send_request(get("/"), true),
        Err(UserError::WrongRole)
    );
    let id = p.client.send_request(get("/"), true).unwrap();
    assert_eq!(
        p.client.send_data(id, "x".into(), false),
        Err(UserError::SendClosed(id))
    );
    assert_eq!(
        p.client.send_response(id, status(200), true),
        Err(UserError::WrongRole)
    );
    let bad = vec![h2proto::hpack::HeaderField::new(":method", "GET")];
    assert!(matches!(
        p.client.send_request(bad, true),
        Err(UserError::Malformed(_))
    ));
    assert_eq!(
        p.client.send_data(StreamId::new(99), "x".into(), false),
        Err(UserError::UnknownStream(StreamId::new(99)))
    );
    p.run();
    // Only the one valid request reached the server.
    let heads = p
        .events(Side::Server)
        .iter()
        .filter(|e| matches!(e, Event::Headers { .. }))
        .count();
    assert_eq!(heads, 1);
    assert_eq!(p.server.send_response(id, status(200), false), Ok(()));
    assert_eq!(
        p.server.send_response(id, status(200), true),
        Err(UserError::HeadersOutOfOrder(id))
    );
}

#[test]
fn closed_stream_memory_is_bounded() {
    let mut config = Config::server();
    config.max_closed_streams = 16;
    let mut raw = server_peer(config);
    for i in 0..100u32 {
        raw.headers(2 * i + 1, &get("/"), false);
        raw.rst(2 * i + 1, Reason::CANCEL);
        assert!(raw.conn.stats().closed_remembered <= 16);
    }
    assert_eq!(raw.conn.stats().closed_remembered, 16);
    assert_eq!(raw.conn.live_streams(), 0);
    // A recent one is still known: DATA on it is a stream error, not a guess.
    raw.data(199, b"x", false);
    assert_eq!(raw.resets(), [(199, Reason::STREAM_CLOSED)]);
}

#[test]
fn a_local_reset_drops_queued_data_and_frees_the_stream() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &request("POST", "/"), false);
    raw.data(1, b"unread body", false);
    let id = StreamId::new(1);
    raw.conn.send_response(id, status(200), false).unwrap();
    raw.conn
        .send_data(id, vec![0u8; 200_000].into(), false)
        .unwrap();
    assert!(raw.conn.stats().queued_data > 0);
    raw.conn.reset(id, Reason::CANCEL).unwrap();
    let stats = raw.conn.stats();
    assert_eq!(stats.queued_data, 0);
    assert_eq!(
        stats.recv_unreleased, 0,
        "unread body credited back to the connection"
    );
    assert_eq!(raw.conn.live_streams(), 0);
    assert_eq!(raw.resets(), [(1, Reason::CANCEL)]);
    // Resetting again is a no-op, not an error.
    assert_eq!(raw.conn.reset(id, Reason::CANCEL), Ok(()));
}
