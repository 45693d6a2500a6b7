//! RFC 9113 §5.2 / §6.9 flow control, and the send side's bounded buffering.

mod support;

use bytes::Bytes;
use h2proto::frame::{self, Frame, Reason, Settings, StreamId, WindowUpdate};
use h2proto::proto::{Config, Event};

use support::*;

fn data_sent(frames: &[Frame]) -> usize {
    frames
        .iter()
        .map(|f| match f {
            Frame::Data(d) => d.data.len(),
            _ => 0,
        })
        .sum()
}

fn window_updates(frames: &[Frame]) -> Vec<(u32, u32)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::WindowUpdate(w) => Some((w.stream_id.value(), w.window_size_increment)),
            _ => None,
        })
        .collect()
}

/// A server with one open request stream (id 1), after the handshake.
fn server_with_stream() -> ScriptedPeer {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &request("POST", "/"), false);
    raw.conn
        .send_response(StreamId::new(1), status(200), false)
        .unwrap();
    raw.read();
    raw.take_events();
    raw
}

#[test]
fn s6_9_sending_stops_at_the_peer_window_and_resumes_on_update() {
    let mut raw = server_with_stream();
    let body = Bytes::from(vec![7u8; 60_000]);
    assert_eq!(
        raw.conn.send_data(StreamId::new(1), body.clone(), false),
        Ok(60_000)
    );
    assert_eq!(
        raw.conn.send_data(StreamId::new(1), body, false),
        Ok(64 * 1024 - 60_000),
        "64 KiB stream buffer"
    );
    // The peer's windows are the RFC's 65,535.
    assert_eq!(data_sent(&raw.read()), 65_535);
    assert!(raw.read().is_empty());
    raw.send(WindowUpdate::new(StreamId::new(1), 1000));
    assert!(raw.read().is_empty(), "connection window is still zero");
    raw.send(WindowUpdate::new(StreamId::ZERO, 5000));
    // 65,536 bytes were queued and 65,535 went out: the last byte follows.
    assert_eq!(data_sent(&raw.read()), 1);
    raw.conn
        .send_data(StreamId::new(1), Bytes::from(vec![0u8; 5000]), false)
        .unwrap();
    assert_eq!(data_sent(&raw.read()), 999, "the rest of the stream window");
}

#[test]
fn s6_9_2_initial_window_changes_apply_to_open_streams_and_may_go_negative() {
    let mut raw = server_with_stream();
    raw.conn
        .send_data(StreamId::new(1), Bytes::from(vec![0u8; 30_000]), false)
        .unwrap();
    raw.send(WindowUpdate::new(StreamId::ZERO, 1 << 20));
    assert_eq!(data_sent(&raw.read()), 30_000);
    // Shrink the stream windows from 65,535 to 10,000: stream 1 is at 10,000 - 30,000.
    raw.send(
        Settings::builder()
            .initial_window_size(10_000)
            .build()
            .unwrap(),
    );
    raw.read();
    assert_eq!(
        raw.conn.stream_stats(StreamId::new(1)).unwrap().send_window,
        Some(-20_000)
    );
    raw.conn
        .send_data(StreamId::new(1), Bytes::from(vec![0u8; 100]), false)
        .unwrap();
    raw.send(WindowUpdate::new(StreamId::new(1), 20_000));
    assert!(raw.read().is_empty(), "window back to exactly zero");
    raw.send(WindowUpdate::new(StreamId::new(1), 50));
    assert_eq!(data_sent(&raw.read()), 50);
}

#[test]
fn s6_9_2_initial_window_overflow_is_a_flow_control_error() {
    let mut raw = server_with_stream();
    raw.send(WindowUpdate::new(StreamId::new(1), (1 << 31) - 1 - 65_535));
    raw.send(
        Settings::builder()
            .initial_window_size(70_000)
            .build()
            .unwrap(),
    );
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::FLOW_CONTROL_ERROR)
    );
}

#[test]
fn s6_9_1_window_update_overflow_is_a_stream_or_connection_error() {
    let mut raw = server_with_stream();
    raw.send(WindowUpdate::new(StreamId::new(1), 1 << 30));
    raw.send(WindowUpdate::new(StreamId::new(1), 1 << 30));
    assert_eq!(raw.resets(), [(1, Reason::FLOW_CONTROL_ERROR)]);
    raw.send(WindowUpdate::new(StreamId::ZERO, (1 << 31) - 1));
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::FLOW_CONTROL_ERROR)
    );
}

#[test]
fn s6_9_data_beyond_the_stream_window_is_a_stream_error() {
    let mut config = Config::server();
    config.initial_window_size = 65_535;
    let mut raw = server_peer(config);
    raw.headers(1, &request("POST", "/"), false);
    let chunk: &'static [u8] = Box::leak(vec![0u8; 16_384].into_boxed_slice());
    for _ in 0..3 {
        raw.data(1, chunk, false);
    }
    raw.data(1, &chunk[..16_383], false);
    assert!(raw.resets().is_empty(), "exactly 65,535 fits");
    raw.data(1, b"x", false);
    assert_eq!(raw.resets(), [(1, Reason::FLOW_CONTROL_ERROR)]);
    assert!(raw.goaway().is_none());
    // The reset stream's bytes went back to the connection window.
    assert_eq!(raw.conn.stats().recv_unreleased, 0);
}

#[test]
fn s6_9_data_beyond_the_connection_window_is_a_connection_error() {
    let mut config = Config::server();
    config.connection_window_size = 65_535;
    config.initial_window_size = 1 << 20;
    let mut raw = server_peer(config);
    let chunk: &'static [u8] = Box::leak(vec![0u8; 16_384].into_boxed_slice());
    for id in [1, 3, 5, 7, 9] {
        raw.headers(id, &request("POST", "/"), false);
        raw.data(id, chunk, false);
    }
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::FLOW_CONTROL_ERROR)
    );
}

#[test]
fn s6_9_padding_counts_against_the_window_but_is_released_at_once() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &request("POST", "/"), false);
    let mut d = frame::Data::new(StreamId::new(1), "abc", false);
    d.pad_length = Some(200);
    raw.send(d);
    let s = raw.conn.stream_stats(StreamId::new(1)).unwrap();
    assert_eq!(s.recv_unreleased, 3);
    assert_eq!(s.recv_window, 256 * 1024 - 204);
}

#[test]
fn release_capacity_drives_window_updates_by_a_quarter_of_the_window() {
    let mut p = pair();
    p.handshake();
    let id = p
        .client
        .send_request(request("POST", "/upload"), false)
        .unwrap();
    p.run();
    // 200 KiB in; the server's stream window is 256 KiB, the connection's 1 MiB.
    let body = Bytes::from(vec![1u8; 200 * 1024]);
    let mut offset = 0;
    while offset < body.len() {
        offset += p.client.send_data(id, body.slice(offset..), false).unwrap();
        p.run();
    }
    let received: usize = p
        .events(Side::Server)
        .iter()
        .map(|e| match e {
            Event::Data { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(received, 200 * 1024);
    // Nothing released yet: no WINDOW_UPDATE.
    assert!(window_updates(&p.sent_frames(Side::Server)).is_empty());
    p.server.release_capacity(id, 60 * 1024).unwrap();
    assert!(
        window_updates(&p.sent_frames(Side::Server)).is_empty(),
        "below a quarter of 256 KiB"
    );
    p.server.release_capacity(id, 4 * 1024).unwrap();
    assert_eq!(
        window_updates(&p.sent_frames(Side::Server)),
        [(1, 64 * 1024)]
    );
    // Over-releasing is clamped to what was received.
    p.server.release_capacity(id, usize::MAX).unwrap();
    assert_eq!(p.server.stream_stats(id).unwrap().recv_unreleased, 0);
}

#[test]
fn an_application_writing_faster_than_the_peer_reads_is_pushed_back() {
    // grpc-go's OOM case: the application keeps writing, the peer never reads.
    let mut raw = server_with_stream();
    let chunk = Bytes::from(vec![0u8; 1 << 20]);
    let mut accepted = 0usize;
    let mut refused = 0usize;
    for _ in 0..1024 {
        // 1 GiB offered in 1 MiB writes.
        let n = raw
            .conn
            .send_data(StreamId::new(1), chunk.clone(), false)
            .unwrap();
        accepted += n;
        refused += chunk.len() - n;
        raw.read();
        let stats = raw.conn.stats();
        assert!(stats.queued_data <= raw.conn.config().max_send_buffer_per_connection);
        assert!(raw.conn.stream_stats(StreamId::new(1)).unwrap().queued_data <= 64 * 1024);
    }
    assert_eq!(
        accepted,
        64 * 1024 + 65_535,
        "queue cap plus what the window let out"
    );
    assert_eq!(accepted + refused, 1 << 30);
    // Once the peer reads (opens its window), the writer is told to go on.
    raw.send(WindowUpdate::new(StreamId::ZERO, 1 << 20));
    raw.send(WindowUpdate::new(StreamId::new(1), 1 << 20));
    raw.read();
    assert!(raw.take_events().contains(&Event::Writable {
        stream_id: StreamId::new(1)
    }));
}

#[test]
fn a_large_body_arrives_intact_through_small_chunks_and_frames() {
    let mut p = pair();
    p.chunk = 1000;
    p.handshake();
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let body = Bytes::from(body);
    let id = p
        .client
        .send_request(request("POST", "/echo"), false)
        .unwrap();
    let mut offset = 0;
    let mut got = Vec::new();
    let mut ended = false;
    for _ in 0..100_000 {
        if offset < body.len() {
            // END_STREAM applies only once the rest of the body was taken whole.
            offset += p.client.send_data(id, body.slice(offset..), true).unwrap();
        }
        p.step();
        for e in p.events(Side::Server) {
            if let Event::Data {
                data, end_stream, ..
            } = e
            {
                got.extend_from_slice(&data);
                p.server.release_capacity(id, data.len()).unwrap();
                ended |= end_stream;
            }
        }
        if ended {
            break;
        }
    }
    assert!(ended);
    assert_eq!(got.len(), body.len());
    assert!(got == body, "bytes arrive in order, unchanged");
}

#[test]
fn s6_9_2_our_initial_window_change_applies_on_ack_as_a_delta() {
    let mut p = pair();
    p.handshake();
    let id = p.client.send_request(request("POST", "/"), false).unwrap();
    p.run();
    let before = p.server.stream_stats(id).unwrap().recv_window;
    p.server
        .update_settings(
            h2proto::proto::SettingsUpdate::new().initial_window_size(1 << 20),
            p.now,
        )
        .unwrap();
    // Not in force until acknowledged.
    assert_eq!(p.server.stream_stats(id).unwrap().recv_window, before);
    p.run();
    assert!(p.events(Side::Server).contains(&Event::SettingsAcked));
    assert_eq!(p.server.stream_stats(id).unwrap().recv_window, 1 << 20);
    // The client may now send a full MiB on that stream.
    p.server.set_connection_window_size(4 << 20);
    let body = Bytes::from(vec![0u8; 1 << 20]);
    let mut offset = 0;
    while offset < body.len() {
        offset += p.client.send_data(id, body.slice(offset..), false).unwrap();
        p.run();
    }
    assert_eq!(p.server.stats().recv_unreleased, 1 << 20);
    assert!(p.server.stats().counters.resets_sent_for_peer_errors == 0);
    // Lowering it makes the open stream's window negative by the delta.
    p.server
        .update_settings(
            h2proto::proto::SettingsUpdate::new().initial_window_size(1000),
            p.now,
        )
        .unwrap();
    p.run();
    assert_eq!(
        p.server.stream_stats(id).unwrap().recv_window,
        1000 - (1 << 20)
    );
}

#[test]
fn s6_5_3_an_unacknowledged_update_times_out() {
    let mut peer = server_peer(Config::server());
    peer.conn
        .update_settings(
            h2proto::proto::SettingsUpdate::new().max_concurrent_streams(5),
            peer.now,
        )
        .unwrap();
    peer.read(); // never acknowledged
    peer.advance(std::time::Duration::from_secs(11));
    assert_eq!(
        peer.goaway().map(|g| g.error_code),
        Some(Reason::SETTINGS_TIMEOUT)
    );
}

#[test]
fn set_connection_window_size_after_close_queues_nothing() {
    // Found by the simulation: a closed connection kept a WINDOW_UPDATE in
    // its control queue forever (nothing is written once closed).
    let mut p = pair();
    p.handshake();
    p.client.shutdown(p.now);
    p.run();
    assert!(p.client.is_closed() && p.server.is_closed());
    p.server.set_connection_window_size(4 << 20);
    assert_eq!(p.server.stats().control_queued.total, 0);
    let mut raw = server_peer(Config::server());
    raw.conn.close(Reason::NO_ERROR);
    raw.conn.set_connection_window_size(4 << 20);
    assert_eq!(raw.conn.stats().control_queued.window_updates, 0);
}

#[test]
fn s6_9_2_raising_our_initial_window_grants_the_delta_once() {
    // Found by the simulation: on the ACK of a larger INITIAL_WINDOW_SIZE the
    // receiver applied the delta to open streams *and* queued it again as a
    // WINDOW_UPDATE, so the peer could make it hold more than the window it
    // advertised, and a later raise toward 2^31-1 overflowed the peer's send
    // window (FLOW_CONTROL_ERROR between two correct endpoints).
    let mut server = Config::server();
    server.initial_window_size = 65_535;
    server.connection_window_size = 4 << 20;
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    let id = p.client.send_request(request("POST", "/"), false).unwrap();
    p.run();
    let raise = h2proto::proto::SettingsUpdate::new().initial_window_size(100_000);
    p.server.update_settings(raise, p.now).unwrap();
    p.run();
    assert_eq!(
        p.client
            .send_data(id, Bytes::from(vec![7u8; 60_000]), false),
        Ok(60_000)
    );
    p.run();
    p.server.release_capacity(id, 60_000).unwrap();
    p.run();
    assert_eq!(p.server.stream_stats(id).unwrap().recv_window, 100_000);
    assert_eq!(
        p.client.stream_stats(id).unwrap().send_window,
        Some(100_000)
    );
    let max = h2proto::proto::SettingsUpdate::new().initial_window_size((1 << 31) - 1);
    p.server.update_settings(max, p.now).unwrap();
    p.run();
    assert_eq!(p.client.stats().counters.connection_errors, 0);
    assert_eq!(p.server.stats().counters.resets_sent_for_peer_errors, 0);
    assert_eq!(
        p.client.stream_stats(id).unwrap().send_window,
        Some((1 << 31) - 1)
    );
}

#[test]
fn s6_9_an_empty_end_stream_data_fits_a_negative_window() {
    // Found by the simulation (the client lowers its initial window while
    // response DATA is in flight, then the server ends the stream): an
    // empty DATA with END_STREAM on a stream whose receive window the
    // reduction left negative was reset with FLOW_CONTROL_ERROR. §6.9 lets
    // it be sent with no space in the window.
    let mut raw = server_peer(Config::server());
    raw.headers(1, &request("POST", "/"), false);
    let lower = h2proto::proto::SettingsUpdate::new().initial_window_size(10);
    raw.conn.update_settings(lower, raw.now).unwrap();
    raw.read();
    // Sent before we saw the new SETTINGS: within the old window.
    raw.data(1, &[1u8; 100], false);
    raw.send(Settings::ack());
    assert_eq!(
        raw.conn.stream_stats(StreamId::new(1)).unwrap().recv_window,
        -90
    );
    raw.data(1, b"", true);
    assert_eq!(raw.resets(), []);
    assert!(raw.take_events().iter().any(|e| matches!(
        e,
        Event::Data { stream_id, end_stream: true, .. } if stream_id.value() == 1
    )));
    assert_eq!(raw.conn.stats().counters.resets_sent_for_peer_errors, 0);
}

#[test]
fn shrinking_then_restoring_the_connection_window_grants_nothing_twice() {
    // Found by the simulation: set_connection_window_size(0) then back to
    // 65,535 announced another 65,535 although the first window was never
    // taken back, so the peer could make us hold twice the window we set.
    let mut server = Config::server();
    server.connection_window_size = 65_535;
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    p.server.set_connection_window_size(0);
    p.server.set_connection_window_size(65_535);
    p.run();
    assert_eq!(p.server.stats().recv_window, 65_535);
    assert_eq!(p.client.stats().send_window, 65_535);
    // Growing past what was granted still announces the difference.
    p.server.set_connection_window_size(100_000);
    p.run();
    assert_eq!(p.client.stats().send_window, 100_000);
}

#[test]
fn shrinking_the_connection_window_withholds_released_bytes_beyond_it() {
    // A smaller connection window takes effect as the application releases
    // data: bytes released past the new size are never announced, so the
    // peer cannot make us hold more than we now allow.
    let mut p = pair();
    p.handshake();
    p.server.set_connection_window_size(1 << 20);
    p.run();
    let id = p.client.send_request(request("POST", "/"), false).unwrap();
    p.run();
    // Fill 256 KiB worth, spread over streams' windows (64 KiB each).
    let mut ids = vec![id];
    for _ in 0..3 {
        ids.push(p.client.send_request(request("POST", "/"), false).unwrap());
    }
    p.run();
    for &id in &ids {
        let taken = p
            .client
            .send_data(id, Bytes::from(vec![0u8; 65_535]), false)
            .unwrap();
        assert_eq!(taken, 65_535);
    }
    p.run();
    assert_eq!(p.server.stats().recv_unreleased, 4 * 65_535);
    p.server.set_connection_window_size(100_000);
    for &id in &ids {
        p.server.release_capacity(id, 65_535).unwrap();
    }
    p.run();
    // What was granted stays granted (786,436 bytes, more than the new
    // size), but none of the 262,140 released bytes is announced again.
    let granted = (1 << 20) - 4 * 65_535;
    let st = p.server.stats();
    assert_eq!(st.recv_unreleased, 0);
    assert_eq!(st.recv_window, granted, "{st:?}");
    assert_eq!(p.client.stats().send_window, granted);
}

#[test]
fn s6_9_2_released_bytes_are_announced_after_our_initial_window_shrinks() {
    // Found by the `stream_ops` fuzzer: bytes released while our initial
    // window was large stayed below a quarter of it and were kept back; when
    // we lowered the window again the threshold fell under what was kept,
    // but nothing looked again, so the sender's stream window stayed at zero
    // with data queued: the stream never finished.
    let mut server = Config::server();
    server.initial_window_size = 65_535;
    server.connection_window_size = 65_535;
    let mut p = pair_with(Config::client(), server);
    p.handshake();
    let id = p.client.send_request(request("POST", "/"), false).unwrap();
    // The stream and the connection window both run dry.
    let body = Bytes::from(vec![7u8; 65_536]);
    assert_eq!(p.client.send_data(id, body, true), Ok(65_536));
    p.run();
    assert_eq!(p.client.stream_stats(id).unwrap().send_window, Some(0));
    assert_eq!(p.client.stream_stats(id).unwrap().queued_data, 1);
    let raise = h2proto::proto::SettingsUpdate::new().initial_window_size(1 << 30);
    p.server.update_settings(raise, p.now).unwrap();
    p.run();
    // The connection window still holds the last byte back. A quarter of
    // 2^30 is far above 65,535: the stream's release is kept back...
    assert_eq!(p.client.stream_stats(id).unwrap().queued_data, 1);
    p.server.release_capacity(id, 65_535).unwrap();
    let lower = h2proto::proto::SettingsUpdate::new().initial_window_size(65_535);
    p.server.update_settings(lower, p.now).unwrap();
    p.run();
    // ...and once the smaller window is in force it is over the threshold.
    let ended = p.events(Side::Server).iter().any(|e| {
        matches!(
            e,
            Event::Data {
                end_stream: true,
                ..
            }
        )
    });
    assert!(ended, "the last byte never arrived");
    assert_eq!(p.client.stats().queued_data, 0);
}

/// The frames a conformance suite sent `examples/h2_server` (issue #12):
/// SETTINGS_INITIAL_WINDOW_SIZE = 0, `GET /` with END_STREAM, PRIORITY, and
/// WINDOW_UPDATE(1, +1), all before the application answers.
fn server_with_zero_window_and_early_update() -> ScriptedPeer {
    let mut raw = fresh_peer(Config::server());
    raw.send_bytes(frame::PREFACE);
    raw.send(Settings::builder().initial_window_size(0).build().unwrap());
    raw.read();
    raw.send(Settings::ack());
    raw.headers(1, &get("/"), true);
    raw.send(frame::Priority {
        stream_id: StreamId::new(1),
        spec: frame::PrioritySpec {
            exclusive: false,
            stream_dependency: StreamId::ZERO,
            weight: 15,
        },
    });
    raw.send(WindowUpdate::new(StreamId::new(1), 1));
    raw.read();
    raw.take_events();
    raw
}

#[test]
fn s6_9_2_a_window_update_before_the_response_counts_at_initial_window_zero() {
    let mut raw = server_with_zero_window_and_early_update();
    let id = StreamId::new(1);
    assert_eq!(
        raw.conn.stream_stats(id).unwrap().send_window,
        Some(1),
        "0 from SETTINGS + 1 from WINDOW_UPDATE, tracked before any response"
    );
    raw.conn.send_response(id, status(200), false).unwrap();
    assert_eq!(
        raw.conn.send_data(id, Bytes::from_static(b"hello"), true),
        Ok(5)
    );
    let frames = raw.read();
    assert!(matches!(frames.first(), Some(Frame::Headers(h)) if !h.end_stream));
    let data: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Data(d) => Some((d.data.clone(), d.end_stream)),
            _ => None,
        })
        .collect();
    assert_eq!(
        data,
        [(Bytes::from_static(b"h"), false)],
        "the 1 byte the window allows"
    );
    raw.send(WindowUpdate::new(id, 4));
    let frames = raw.read();
    assert!(matches!(&frames[..], [Frame::Data(d)] if &d.data[..] == b"ello" && d.end_stream));
    assert_eq!(raw.conn.live_streams(), 0);
    assert_eq!(
        raw.conn.stats().send_streams,
        0,
        "the writer forgot the stream too"
    );
}

#[test]
fn s6_9_2_a_window_update_after_the_data_was_queued_at_window_zero_releases_it() {
    let mut raw = fresh_peer(Config::server());
    raw.send_bytes(frame::PREFACE);
    raw.send(Settings::builder().initial_window_size(0).build().unwrap());
    raw.read();
    raw.send(Settings::ack());
    raw.headers(1, &get("/"), true);
    let id = StreamId::new(1);
    raw.conn.send_response(id, status(200), false).unwrap();
    raw.conn
        .send_data(id, Bytes::from_static(b"hello"), true)
        .unwrap();
    assert_eq!(data_sent(&raw.read()), 0, "window 0: headers only");
    raw.send(WindowUpdate::new(id, 1));
    assert_eq!(data_sent(&raw.read()), 1);
}

/// Issue #12 item 2: the whole response went out (half-closed (local)); a
/// WINDOW_UPDATE that overflows is still a stream FLOW_CONTROL_ERROR.
#[test]
fn s6_9_1_server_window_overflow_on_a_half_closed_local_stream_is_a_stream_error() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &get("/"), false);
    let id = StreamId::new(1);
    raw.conn.send_response(id, status(200), false).unwrap();
    raw.conn
        .send_data(id, Bytes::from_static(b"done"), true)
        .unwrap();
    assert_eq!(data_sent(&raw.read()), 4);
    assert_eq!(
        raw.conn.stream_stats(id).map(|s| s.state),
        Some(h2proto::proto::StreamState::HalfClosedLocal)
    );
    raw.send(WindowUpdate::new(id, (1 << 31) - 1));
    raw.send(WindowUpdate::new(id, (1 << 31) - 1));
    assert_eq!(raw.resets(), [(1, Reason::FLOW_CONTROL_ERROR)]);
    assert_eq!(raw.conn.live_streams(), 0);
    assert_eq!(raw.conn.stats().send_streams, 0);
}

/// Issue #13 item 5: the client's request (headers, or headers and body)
/// went out whole; the server's overflowing WINDOW_UPDATE is still a stream
/// FLOW_CONTROL_ERROR.
#[test]
fn s6_9_1_client_window_overflow_after_the_request_was_sent_is_a_stream_error() {
    let mut raw = client_peer(Config::client());
    let get_id = raw.conn.send_request(get("/"), true).unwrap();
    let post_id = raw.conn.send_request(request("POST", "/"), false).unwrap();
    raw.conn
        .send_data(post_id, Bytes::from_static(b"body"), true)
        .unwrap();
    assert_eq!(data_sent(&raw.read()), 4);
    for id in [get_id, post_id] {
        raw.send(WindowUpdate::new(id, (1 << 31) - 1));
    }
    assert_eq!(
        raw.resets(),
        [
            (get_id.value(), Reason::FLOW_CONTROL_ERROR),
            (post_id.value(), Reason::FLOW_CONTROL_ERROR)
        ]
    );
    // A stream the response also ended is closed: its updates are ignored.
    let id = raw.conn.send_request(get("/"), true).unwrap();
    raw.read();
    raw.headers(id.value(), &status(204), true);
    raw.send(WindowUpdate::new(id, (1 << 31) - 1));
    assert!(raw.resets().is_empty());
    assert_eq!(raw.conn.stats().send_streams, 0);
}
