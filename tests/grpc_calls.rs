//! gRPC client ↔ gRPC server over the in-memory wire: calls end to end.

mod grpc_support;

use std::time::Duration;

use bytes::Bytes;
use grpc_support::*;
use h2proto::grpc::{CallError, Code, Config, Event, Metadata, MetadataValue, Status};

fn md(pairs: &[(&str, &str)]) -> Metadata {
    let mut m = Metadata::new();
    for (k, v) in pairs {
        m.insert(k, v).unwrap();
    }
    m
}

#[test]
fn unary_call_round_trip() {
    let mut d = default_pair();
    let now = d.now;
    let call =
        d.c.start_call("/test.Svc/Unary", md(&[("x-a", "1")]), None, now)
            .unwrap();
    d.c.send_message(call, Bytes::from_static(b"ping")).unwrap();
    d.c.close_send(call).unwrap();
    d.run();
    let evs = d.take_s();
    let sc = started(&evs)[0];
    assert!(
        matches!(&evs[0], Event::CallStarted { path, metadata, deadline: None, authority, .. }
        if path == "/test.Svc/Unary" && metadata.get("x-a") == Some("1") && authority.as_deref() == Some("localhost"))
    );
    assert_eq!(messages(&evs), [Bytes::from_static(b"ping")]);
    assert!(matches!(evs.last(), Some(Event::HalfClosed { .. })));
    d.s.send_headers(sc, md(&[("h", "v")])).unwrap();
    d.s.send_message(sc, Bytes::from_static(b"pong")).unwrap();
    d.s.finish(sc, Status::ok(), md(&[("t", "w")])).unwrap();
    d.run();
    let evs = d.take_c();
    assert!(matches!(&evs[0], Event::Headers { metadata, .. } if metadata.get("h") == Some("v")));
    assert_eq!(messages(&evs), [Bytes::from_static(b"pong")]);
    match evs.last() {
        Some(Event::Finished {
            status, trailers, ..
        }) => {
            assert_eq!(status.code(), Code::OK);
            assert_eq!(trailers.get("t"), Some("w"));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!((d.c.active_calls(), d.s.active_calls()), (0, 0));
    assert_eq!(d.c.connection().live_streams(), 0);
    assert_eq!(d.s.connection().live_streams(), 0);
}

#[test]
fn messages_reassembled_across_tiny_chunks_and_frames() {
    let mut d = default_pair();
    d.chunk = 7;
    let now = d.now;
    let big: Bytes = (0..100_000u32).map(|i| i as u8).collect::<Vec<_>>().into();
    let call = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    for m in [Bytes::new(), big.clone(), Bytes::from_static(b"x")] {
        d.c.send_message(call, m).unwrap();
    }
    d.c.close_send(call).unwrap();
    d.run();
    let evs = d.take_s();
    assert_eq!(
        messages(&evs),
        [Bytes::new(), big, Bytes::from_static(b"x")]
    );
}

#[test]
fn status_message_percent_encoded_and_details_round_trip() {
    let mut d = default_pair();
    let now = d.now;
    let call = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    d.run();
    let sc = started(&d.take_s())[0];
    let text = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";
    let status = Status::new(Code::from(2), text).with_details(Bytes::from_static(&[1, 2, 3]));
    d.s.finish(sc, status, Metadata::new()).unwrap();
    d.run();
    let f = finished(&d.take_c());
    assert_eq!(f[0].0, call);
    assert_eq!(f[0].1.code(), Code::UNKNOWN);
    assert_eq!(f[0].1.message(), text);
    assert_eq!(f[0].1.details().map(|b| &b[..]), Some(&[1u8, 2, 3][..]));
}

#[test]
fn binary_metadata_round_trips_both_ways() {
    let mut d = default_pair();
    let now = d.now;
    let mut m = Metadata::new();
    m.insert_bin("x-grpc-test-echo-trailing-bin", &[0xab, 0xab, 0xab])
        .unwrap();
    m.insert_bin("k-bin", &[]).unwrap();
    let _call = d.c.start_call("/s/m", m.clone(), None, now).unwrap();
    d.run();
    let evs = d.take_s();
    let Event::CallStarted {
        call: sc, metadata, ..
    } = &evs[0]
    else {
        panic!()
    };
    assert_eq!(
        metadata
            .get_bin("x-grpc-test-echo-trailing-bin")
            .map(|b| &b[..]),
        Some(&[0xab, 0xab, 0xab][..])
    );
    assert_eq!(
        metadata.get_all("k-bin").next(),
        Some(&MetadataValue::Binary(Bytes::new()))
    );
    d.s.finish(*sc, Status::ok(), m).unwrap();
    d.run();
    let evs = d.take_c();
    let Some(Event::Finished { trailers, .. }) = evs.last() else {
        panic!()
    };
    assert_eq!(
        trailers
            .get_bin("x-grpc-test-echo-trailing-bin")
            .map(|b| &b[..]),
        Some(&[0xab, 0xab, 0xab][..])
    );
}

#[test]
fn client_deadline_expires_deadline_exceeded_and_server_sees_cancel() {
    let mut d = default_pair();
    let now = d.now;
    let call =
        d.c.start_call(
            "/s/slow",
            Metadata::new(),
            Some(Duration::from_millis(100)),
            now,
        )
        .unwrap();
    d.run();
    let evs = d.take_s();
    let Event::CallStarted {
        call: sc, deadline, ..
    } = &evs[0]
    else {
        panic!()
    };
    assert_eq!(*deadline, Some(now + Duration::from_millis(100)));
    assert_eq!(d.c.poll_timeout(), Some(now + Duration::from_millis(100)));
    d.advance(Duration::from_millis(99));
    assert!(finished(&d.take_c()).is_empty());
    // The client's timer fires first here (the server's is the same instant,
    // but the client's reset reaches it first when we step).
    d.now += Duration::from_millis(1);
    let t = d.now;
    d.c.handle_timeout(t);
    let f = finished(&d.take_c());
    assert_eq!((f[0].0, f[0].1.code()), (call, Code::DEADLINE_EXCEEDED));
    d.run();
    let evs = d.take_s();
    assert!(
        matches!(&evs[..], [Event::Cancelled { call, status }] if call == sc && status.code() == Code::CANCELLED)
    );
}

/// Found by grpcio's interop client (timeout_on_sleeping_server): when the
/// server's timer fires first on a call it never answered, the client must
/// still see DEADLINE_EXCEEDED: the status goes out, then RST_STREAM(NO_ERROR)
/// (grpcio turns a RST_STREAM(CANCEL) after the trailers into CANCELLED).
#[test]
fn server_deadline_answers_deadline_exceeded_then_resets() {
    let mut d = default_pair();
    let now = d.now;
    let call =
        d.c.start_call(
            "/s/slow",
            Metadata::new(),
            Some(Duration::from_secs(1)),
            now,
        )
        .unwrap();
    d.run();
    d.take_s();
    // Only the server's clock runs out.
    let t = now + Duration::from_secs(1);
    d.s.handle_timeout(t);
    let evs = d.take_s();
    assert!(
        matches!(&evs[..], [Event::Cancelled { status, .. }] if status.code() == Code::DEADLINE_EXCEEDED)
    );
    d.run();
    let f = finished(&d.take_c());
    assert_eq!((f[0].0, f[0].1.code()), (call, Code::DEADLINE_EXCEEDED));
    assert_eq!(f[0].1.message(), "deadline exceeded");
    let resets = d.c.connection().stats().counters.resets_received;
    assert_eq!(resets, 1, "RST_STREAM(NO_ERROR) follows the status");
    assert_eq!(finished(&d.take_c()).len(), 0, "the call ends once");
}

#[test]
fn client_cancel_is_cancelled_on_both_sides() {
    let mut d = default_pair();
    let now = d.now;
    let call = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    d.run();
    d.take_s();
    d.c.cancel(call).unwrap();
    assert_eq!(finished(&d.take_c())[0].1.code(), Code::CANCELLED);
    d.run();
    assert!(
        matches!(&d.take_s()[..], [Event::Cancelled { status, .. }] if status.code() == Code::CANCELLED)
    );
    assert_eq!(d.c.cancel(call), Err(CallError::UnknownCall(call)));
}

#[test]
fn server_cancel_is_cancelled_at_client() {
    let mut d = default_pair();
    let now = d.now;
    d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    d.run();
    let sc = started(&d.take_s())[0];
    d.s.cancel(sc).unwrap();
    d.run();
    assert_eq!(finished(&d.take_c())[0].1.code(), Code::CANCELLED);
}

#[test]
fn unknown_method_unimplemented_helper() {
    let mut d = default_pair();
    let now = d.now;
    d.c.start_call("/no.Such/Method", Metadata::new(), None, now)
        .unwrap();
    d.run();
    let sc = started(&d.take_s())[0];
    d.s.unimplemented(sc).unwrap();
    d.run();
    let f = finished(&d.take_c());
    assert_eq!(f[0].1.code(), Code::UNIMPLEMENTED);
    assert!(f[0].1.message().contains("/no.Such/Method"));
}

#[test]
fn max_recv_message_size_resource_exhausted_at_server() {
    let mut s = Config::server();
    s.max_recv_message_size = 1000;
    let mut d = grpc_pair(Config::client(), s);
    let now = d.now;
    let call = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    d.c.send_message(call, Bytes::from(vec![0u8; 1001]))
        .unwrap();
    d.run();
    let evs = d.take_s();
    assert!(
        matches!(evs.last(), Some(Event::Cancelled { status, .. }) if status.code() == Code::RESOURCE_EXHAUSTED)
    );
    assert_eq!(finished(&d.take_c())[0].1.code(), Code::RESOURCE_EXHAUSTED);
}

#[test]
fn max_recv_message_size_resource_exhausted_at_client() {
    let mut c = Config::client();
    c.max_recv_message_size = 10;
    let mut d = grpc_pair(c, Config::server());
    let now = d.now;
    let call = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    d.run();
    let sc = started(&d.take_s())[0];
    d.s.send_message(sc, Bytes::from(vec![0u8; 11])).unwrap();
    d.run();
    let f = finished(&d.take_c());
    assert_eq!((f[0].0, f[0].1.code()), (call, Code::RESOURCE_EXHAUSTED));
    // The client reset the stream with CANCEL.
    assert!(
        matches!(&d.take_s()[..], [Event::Cancelled { status, .. }] if status.code() == Code::CANCELLED)
    );
}

#[test]
fn max_send_message_size_refused_locally() {
    let mut c = Config::client();
    c.max_send_message_size = 4;
    let mut d = grpc_pair(c, Config::server());
    let now = d.now;
    let call = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    assert_eq!(
        d.c.send_message(call, Bytes::from_static(b"12345")),
        Err(CallError::MessageTooLarge { len: 5, max: 4 })
    );
    assert!(d.c.send_message(call, Bytes::from_static(b"1234")).is_ok());
}

#[test]
fn send_queue_back_pressure_busy_then_writable() {
    let mut c = Config::client();
    c.max_send_queue = 1000;
    let mut d = grpc_pair(c, Config::server());
    let now = d.now;
    let call = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    let chunk = Bytes::from(vec![1u8; 60_000]);
    let mut sent = 0;
    // Fill the HTTP/2 buffer (64 KiB) and our queue without moving bytes.
    loop {
        match d.c.send_message(call, chunk.clone()) {
            Ok(()) => sent += 1,
            Err(CallError::Busy) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 100);
    }
    assert!(sent >= 2);
    d.run();
    let evs = d.take_c();
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::Writable { call: c } if *c == call))
    );
    // The server got every message sent so far (it polls them, releasing window).
    assert_eq!(messages(&d.take_s()).len(), sent);
}

#[test]
fn empty_stream_and_trailers_only_ok() {
    let mut d = default_pair();
    let now = d.now;
    let call = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    d.c.close_send(call).unwrap();
    d.run();
    let evs = d.take_s();
    let sc = started(&evs)[0];
    assert!(matches!(evs.last(), Some(Event::HalfClosed { .. })));
    d.s.finish(sc, Status::ok(), Metadata::new()).unwrap();
    d.run();
    let evs = d.take_c();
    assert!(
        !evs.iter().any(|e| matches!(e, Event::Headers { .. })),
        "trailers-only: no Headers event"
    );
    assert_eq!(finished(&evs)[0].1.code(), Code::OK);
}

#[test]
fn many_messages_unpolled_do_not_exceed_window() {
    // The server does not poll: flow control holds the client, memory stays bounded.
    let mut d = default_pair();
    let now = d.now;
    let call = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    let m = Bytes::from(vec![0u8; 16_000]);
    let mut queued = 0;
    for _ in 0..200 {
        if d.c.send_message(call, m.clone()).is_ok() {
            queued += 1;
        }
        // Move bytes without collecting the server's events.
        let t = d.now;
        d.c.poll_transmit(&mut d.to_s, usize::MAX, t);
        d.s.recv(&mut d.to_s, t);
        d.s.poll_transmit(&mut d.to_c, usize::MAX, t);
        d.c.recv(&mut d.to_c, t);
    }
    let unreleased = d.s.connection().stats();
    let _ = unreleased;
    let held =
        d.s.connection()
            .stream_stats(call.stream_id())
            .map(|s| s.recv_unreleased)
            .unwrap_or(0);
    assert!(held as usize <= 256 * 1024 + 16_005, "held {held}");
    assert!(queued < 200, "the client was held back");
    d.run();
    assert!(messages(&d.take_s()).len() >= queued.min(10));
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_messages_both_ways_with_flag() {
    use h2proto::grpc::{CallOptions, Encoding};
    let mut d = default_pair();
    let now = d.now;
    let opts = CallOptions::new().encoding(Encoding::Gzip);
    let call = d.c.start_call_with("/s/m", opts, now).unwrap();
    let body = Bytes::from(vec![b'a'; 50_000]);
    d.c.send_message(call, body.clone()).unwrap();
    d.c.send_message_with(call, Bytes::from_static(b"plain"), false)
        .unwrap();
    d.run();
    let evs = d.take_s();
    let sc = started(&evs)[0];
    let got: Vec<(Bytes, bool)> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Message {
                message,
                compressed,
                ..
            } => Some((message.clone(), *compressed)),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [(body.clone(), true), (Bytes::from_static(b"plain"), false)]
    );
    d.s.set_send_encoding(sc, Encoding::Gzip).unwrap();
    d.s.send_message(sc, body.clone()).unwrap();
    d.s.finish(sc, Status::ok(), Metadata::new()).unwrap();
    d.run();
    let evs = d.take_c();
    assert!(evs.iter().any(
        |e| matches!(e, Event::Message { compressed: true, message, .. } if *message == body)
    ));
    assert_eq!(finished(&evs)[0].1.code(), Code::OK);
}
