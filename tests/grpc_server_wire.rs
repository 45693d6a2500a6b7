//! A raw HTTP/2 client against the gRPC server: what goes on the wire, and
//! malformed gRPC requests.

mod grpc_support;

use std::time::Duration;

use bytes::Bytes;
use grpc_support::*;
use h2proto::frame::Reason;
use h2proto::grpc::{Code, Config, Event, Metadata, Status};
use h2proto::proto::{self, Connection, Event as H2};

type Raw = Duo<Connection, h2proto::grpc::Server>;

fn open(
    d: &mut Raw,
    fields: Vec<h2proto::hpack::HeaderField>,
    end: bool,
) -> h2proto::frame::StreamId {
    let id = d.c.send_request(fields, end).unwrap();
    d.run();
    id
}

/// The response the raw client got: (headers, trailers, reset reason).
fn response(
    evs: &[H2],
) -> (
    Option<proto::HeaderList>,
    Option<proto::HeaderList>,
    Option<Reason>,
) {
    let mut out = (None, None, None);
    for e in evs {
        match e {
            H2::Headers { headers, .. } => out.0 = Some(headers.clone()),
            H2::Trailers { trailers, .. } => out.1 = Some(trailers.clone()),
            H2::Reset { reason, .. } => out.2 = Some(*reason),
            _ => {}
        }
    }
    out
}

fn rejected(fields: Vec<h2proto::hpack::HeaderField>) -> (u16, String, Option<Reason>) {
    let mut d = raw_client(Config::server());
    open(&mut d, fields, false);
    assert!(started(&d.take_s()).is_empty(), "not a gRPC call");
    let (h, _, rst) = response(&d.take_c());
    let h = h.unwrap();
    (
        h.status().unwrap(),
        field(&h, "grpc-status").unwrap_or("").to_owned(),
        rst,
    )
}

#[test]
fn non_post_is_http_405() {
    let mut f = grpc_request("/s/m");
    set(&mut f, ":method", Some("GET"));
    f.retain(|x| x.name != ":method");
    f.insert(0, h2proto::hpack::HeaderField::new(":method", "GET"));
    let (status, grpc, rst) = rejected(f);
    assert_eq!((status, grpc.as_str()), (405, "13"));
    assert_eq!(
        rst,
        Some(Reason::NO_ERROR),
        "request not finished: RST_STREAM(NO_ERROR)"
    );
}

#[test]
fn wrong_content_type_is_http_415() {
    let mut f = grpc_request("/s/m");
    set(&mut f, "content-type", Some("application/json"));
    assert_eq!(rejected(f).0, 415);
    let mut f = grpc_request("/s/m");
    set(&mut f, "content-type", Some("application/grpcx"));
    assert_eq!(rejected(f).0, 415);
}

#[test]
fn content_type_subtypes_accepted() {
    for ct in [
        "application/grpc+proto",
        "application/grpc+json",
        "application/grpc;charset=utf-8",
    ] {
        let mut d = raw_client(Config::server());
        let mut f = grpc_request("/s/m");
        set(&mut f, "content-type", Some(ct));
        open(&mut d, f, true);
        assert_eq!(started(&d.take_s()).len(), 1, "{ct}");
    }
}

#[test]
fn missing_te_is_http_400() {
    let mut f = grpc_request("/s/m");
    set(&mut f, "te", None);
    let (status, grpc, _) = rejected(f);
    assert_eq!((status, grpc.as_str()), (400, "13"));
}

#[test]
fn bad_timeout_is_http_400() {
    for bad in ["123456789S", "1x", "S", "-1S"] {
        let mut f = grpc_request("/s/m");
        set(&mut f, "grpc-timeout", Some(bad));
        assert_eq!(rejected(f).0, 400, "{bad}");
    }
}

#[test]
fn timeout_sets_server_deadline() {
    let mut d = raw_client(Config::server());
    let mut f = grpc_request("/s/m");
    set(&mut f, "grpc-timeout", Some("1500m"));
    let now = d.now;
    open(&mut d, f, true);
    let evs = d.take_s();
    assert!(
        matches!(&evs[0], Event::CallStarted { deadline: Some(t), .. } if *t == now + Duration::from_millis(1500))
    );
    assert_eq!(d.s.poll_timeout(), Some(now + Duration::from_millis(1500)));
}

#[test]
fn bad_base64_is_http_400() {
    let mut f = grpc_request("/s/m");
    set(&mut f, "k-bin", Some("not base64!"));
    assert_eq!(rejected(f).0, 400);
}

#[test]
fn padded_and_unpadded_base64_accepted() {
    let mut d = raw_client(Config::server());
    let mut f = grpc_request("/s/m");
    set(&mut f, "a-bin", Some("AQ=="));
    set(&mut f, "b-bin", Some("AQ"));
    open(&mut d, f, true);
    let evs = d.take_s();
    let Event::CallStarted { metadata, .. } = &evs[0] else {
        panic!("{evs:?}")
    };
    assert_eq!(metadata.get_bin("a-bin"), metadata.get_bin("b-bin"));
    assert_eq!(metadata.get_bin("a-bin").map(|b| &b[..]), Some(&[1u8][..]));
}

#[test]
fn unsupported_grpc_encoding_unimplemented_with_accept_encoding() {
    let mut d = raw_client(Config::server());
    let mut f = grpc_request("/s/m");
    set(&mut f, "grpc-encoding", Some("snappy"));
    open(&mut d, f, true);
    let (h, _, _) = response(&d.take_c());
    let h = h.unwrap();
    assert_eq!(h.status(), Some(200));
    assert_eq!(field(&h, "grpc-status"), Some("12"));
    assert!(
        field(&h, "grpc-accept-encoding")
            .unwrap()
            .contains("identity")
    );
}

#[test]
fn response_headers_and_trailers_on_the_wire() {
    let mut d = raw_client(Config::server());
    let id = open(&mut d, grpc_request("/s/m"), true);
    let sc = started(&d.take_s())[0];
    d.s.send_message(sc, Bytes::from_static(b"x")).unwrap();
    d.s.finish(
        sc,
        Status::new(Code::NOT_FOUND, "100% gone\n"),
        Metadata::new(),
    )
    .unwrap();
    d.run();
    let evs = d.take_c();
    let (h, t, rst) = response(&evs);
    let h = h.unwrap();
    assert_eq!(h.status(), Some(200));
    assert_eq!(field(&h, "content-type"), Some("application/grpc"));
    let t = t.unwrap();
    assert_eq!(field(&t, "grpc-status"), Some("5"));
    assert_eq!(field(&t, "grpc-message"), Some("100%25 gone%0A"));
    assert_eq!(rst, None, "client had half-closed: no RST_STREAM");
    let data: Vec<u8> = evs
        .iter()
        .filter_map(|e| match e {
            H2::Data {
                stream_id, data, ..
            } if *stream_id == id => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(data, [0, 0, 0, 0, 1, b'x']);
}

#[test]
fn ok_status_always_sent() {
    let mut d = raw_client(Config::server());
    open(&mut d, grpc_request("/s/m"), true);
    let sc = started(&d.take_s())[0];
    d.s.send_headers(sc, Metadata::new()).unwrap();
    d.s.finish(sc, Status::ok(), Metadata::new()).unwrap();
    d.run();
    let (_, t, _) = response(&d.take_c());
    assert_eq!(field(&t.unwrap(), "grpc-status"), Some("0"));
}

#[test]
fn trailers_only_response_when_nothing_sent() {
    let mut d = raw_client(Config::server());
    open(&mut d, grpc_request("/s/m"), true);
    let sc = started(&d.take_s())[0];
    d.s.finish(sc, Status::new(Code::ABORTED, ""), Metadata::new())
        .unwrap();
    d.run();
    let evs = d.take_c();
    assert!(
        matches!(&evs[0], H2::Headers { end_stream: true, headers, .. }
        if field(headers, "grpc-status") == Some("10") && headers.status() == Some(200))
    );
}

#[test]
fn finish_before_half_close_sends_rst_no_error_after_trailers() {
    let mut d = raw_client(Config::server());
    let id = open(&mut d, grpc_request("/s/m"), false);
    let sc = started(&d.take_s())[0];
    d.s.send_message(sc, Bytes::from_static(b"early")).unwrap();
    d.s.finish(sc, Status::ok(), Metadata::new()).unwrap();
    d.run();
    let evs = d.take_c();
    let ti = evs
        .iter()
        .position(|e| matches!(e, H2::Trailers { .. }))
        .expect("trailers");
    let ri = evs.iter().position(|e| matches!(e, H2::Reset { stream_id, reason: Reason::NO_ERROR, .. } if *stream_id == id)).expect("rst");
    assert!(ti < ri);
    assert_eq!(d.s.connection().live_streams(), 0);
}

#[test]
fn bad_compressed_flag_prefix_is_internal() {
    let mut d = raw_client(Config::server());
    let id = open(&mut d, grpc_request("/s/m"), false);
    d.take_s();
    d.c.send_data(id, Bytes::from_static(&[7, 0, 0, 0, 0]), true)
        .unwrap();
    d.run();
    assert!(
        matches!(d.take_s().last(), Some(Event::Cancelled { status, .. }) if status.code() == Code::INTERNAL)
    );
    let (h, _, _) = response(&d.take_c());
    assert_eq!(field(&h.unwrap(), "grpc-status"), Some("13"));
}

#[test]
fn compressed_flag_without_encoding_is_internal() {
    let mut d = raw_client(Config::server());
    let id = open(&mut d, grpc_request("/s/m"), false);
    d.take_s();
    d.c.send_data(id, Bytes::from_static(&[1, 0, 0, 0, 1, 9]), true)
        .unwrap();
    d.run();
    assert!(
        matches!(d.take_s().last(), Some(Event::Cancelled { status, .. }) if status.code() == Code::INTERNAL)
    );
}

#[test]
fn truncated_message_at_end_stream_is_internal() {
    let mut d = raw_client(Config::server());
    let id = open(&mut d, grpc_request("/s/m"), false);
    d.take_s();
    d.c.send_data(id, Bytes::from_static(&[0, 0, 0, 0, 9, 1, 2]), true)
        .unwrap();
    d.run();
    let evs = d.take_s();
    assert!(!evs.iter().any(|e| matches!(e, Event::HalfClosed { .. })));
    assert!(
        matches!(evs.last(), Some(Event::Cancelled { status, .. }) if status.code() == Code::INTERNAL)
    );
}

#[test]
fn oversize_prefix_refused_before_buffering() {
    let mut d = raw_client(Config::server());
    let id = open(&mut d, grpc_request("/s/m"), false);
    d.take_s();
    // Announces 4 MiB + 1 but sends 5 bytes: refused at the prefix.
    d.c.send_data(id, Bytes::from_static(&[0, 0, 0x40, 0, 1]), false)
        .unwrap();
    d.run();
    assert!(
        matches!(d.take_s().last(), Some(Event::Cancelled { status, .. }) if status.code() == Code::RESOURCE_EXHAUSTED)
    );
    let (h, _, rst) = response(&d.take_c());
    assert_eq!(field(&h.unwrap(), "grpc-status"), Some("8"));
    assert_eq!(rst, Some(Reason::NO_ERROR));
}

#[test]
fn client_rst_cancel_surfaces_cancelled() {
    let mut d = raw_client(Config::server());
    let id = open(&mut d, grpc_request("/s/m"), false);
    d.take_s();
    d.c.reset(id, Reason::CANCEL).unwrap();
    d.run();
    assert!(
        matches!(&d.take_s()[..], [Event::Cancelled { status, .. }] if status.code() == Code::CANCELLED)
    );
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_bomb_capped_at_max_message_size() {
    let mut s = Config::server();
    s.max_recv_message_size = 1 << 16;
    let mut d = raw_client(s);
    let mut f = grpc_request("/s/m");
    set(&mut f, "grpc-encoding", Some("gzip"));
    let id = open(&mut d, f, false);
    d.take_s();
    let z = h2proto::grpc::Encoding::Gzip
        .compress(&vec![0u8; 1 << 20])
        .unwrap();
    let framed = h2proto::grpc::codec::frame_message(true, &z);
    d.c.send_data(id, framed, true).unwrap();
    d.run();
    assert!(
        matches!(d.take_s().last(), Some(Event::Cancelled { status, .. }) if status.code() == Code::RESOURCE_EXHAUSTED)
    );
}

#[test]
fn ping_flood_gets_goaway_too_many_pings() {
    let mut d = raw_client(Config::server());
    for _ in 0..3 {
        let now = d.now;
        d.c.ping(now).unwrap();
        d.run();
        d.advance(Duration::from_secs(1));
    }
    let evs = d.take_c();
    assert!(
        !evs.iter().any(|e| matches!(e, H2::GoAway { .. })),
        "2 strikes tolerated"
    );
    let now = d.now;
    d.c.ping(now).unwrap();
    d.run();
    let evs = d.take_c();
    assert!(
        evs.iter()
            .any(|e| matches!(e, H2::GoAway { reason, debug_data, .. }
        if *reason == Reason::ENHANCE_YOUR_CALM && &debug_data[..] == b"too_many_pings")),
        "{evs:?}"
    );
}

#[test]
fn pings_within_policy_are_fine() {
    let mut s = Config::server();
    s.enforcement.permit_without_calls = true;
    s.enforcement.min_time = Duration::from_secs(10);
    let mut d = raw_client(s);
    for _ in 0..10 {
        let now = d.now;
        d.c.ping(now).unwrap();
        d.run();
        d.advance(Duration::from_secs(10));
    }
    assert!(!d.take_c().iter().any(|e| matches!(e, H2::GoAway { .. })));
}

#[test]
fn server_sends_keepalive_ping_after_idle_and_closes_without_ack() {
    let mut s = Config::server();
    s.keepalive.time = Some(Duration::from_secs(60));
    s.keepalive.timeout = Duration::from_secs(5);
    let mut d = raw_client(s);
    let now = d.now;
    assert_eq!(d.s.poll_timeout(), Some(now + Duration::from_secs(60)));
    d.advance(Duration::from_secs(60));
    d.run(); // the client answers the PING
    assert_eq!(d.s.connection().stats().counters.connection_errors, 0);
    // Now the client goes silent: nothing is delivered.
    d.advance(Duration::from_secs(60));
    let mut out = bytes::BytesMut::new();
    let t = d.now;
    d.s.poll_transmit(&mut out, usize::MAX, t);
    d.advance(Duration::from_secs(5));
    let t = d.now;
    d.s.poll_transmit(&mut out, usize::MAX, t);
    assert!(d.s.connection().is_closed());
}
