//! The gRPC client against a raw HTTP/2 server: request headers on the wire
//! and the status a client synthesizes from what it gets.

mod grpc_support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use grpc_support::*;
use h2proto::frame::{self, Reason, StreamId};
use h2proto::grpc::{Code, Config, Event, Metadata, Status};
use h2proto::hpack::{Encoder, HeaderField};
use h2proto::proto::{Event as H2, Initiator};

type Raw = Duo<h2proto::grpc::Client, h2proto::proto::Connection>;

fn call(d: &mut Raw) -> (h2proto::grpc::CallId, StreamId) {
    let now = d.now;
    let c = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    d.run();
    let evs = d.take_s();
    let id = evs
        .iter()
        .find_map(|e| match e {
            H2::Headers { stream_id, .. } => Some(*stream_id),
            _ => None,
        })
        .unwrap();
    (c, id)
}

fn status_of(d: &mut Raw) -> Status {
    d.run();
    let f = finished(&d.take_c());
    assert_eq!(f.len(), 1, "one Finished");
    f[0].1.clone()
}

fn grpc_headers() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("content-type", "application/grpc"),
    ]
}

#[test]
fn request_headers_per_spec() {
    let mut d = raw_server(Config::client());
    let now = d.now;
    let mut md = Metadata::new();
    md.insert("x-custom", "v").unwrap();
    md.insert_bin("x-b-bin", &[0xff, 0xfe]).unwrap();
    d.c.start_call(
        "/pkg.Service/Method",
        md,
        Some(Duration::from_millis(1500)),
        now,
    )
    .unwrap();
    d.run();
    let evs = d.take_s();
    let H2::Headers {
        headers: h,
        end_stream: false,
        ..
    } = &evs[0]
    else {
        panic!("{evs:?}")
    };
    assert_eq!(h.method(), Some(&b"POST"[..]));
    assert_eq!(h.scheme(), Some(&b"http"[..]));
    assert_eq!(h.path(), Some(&b"/pkg.Service/Method"[..]));
    assert_eq!(h.authority(), Some(&b"localhost"[..]));
    assert_eq!(field(h, "te"), Some("trailers"));
    assert_eq!(field(h, "content-type"), Some("application/grpc"));
    assert_eq!(field(h, "grpc-timeout"), Some("1500000u"));
    assert!(
        field(h, "grpc-accept-encoding")
            .unwrap()
            .contains("identity")
    );
    assert!(field(h, "user-agent").unwrap().starts_with("h2proto-grpc/"));
    assert_eq!(field(h, "x-custom"), Some("v"));
    assert_eq!(field(h, "x-b-bin"), Some("//4"), "base64 unpadded");
}

#[test]
fn close_send_is_empty_data_with_end_stream() {
    let mut d = raw_server(Config::client());
    let (c, id) = call(&mut d);
    d.c.send_message(c, Bytes::from_static(b"m")).unwrap();
    d.run();
    d.c.close_send(c).unwrap();
    d.run();
    let data: Vec<(usize, bool)> = d
        .take_s()
        .iter()
        .filter_map(|e| match e {
            H2::Data {
                stream_id,
                data,
                end_stream,
            } if *stream_id == id => Some((data.len(), *end_stream)),
            _ => None,
        })
        .collect();
    assert_eq!(data.last(), Some(&(0, true)));
    assert_eq!(data.iter().map(|x| x.0).sum::<usize>(), 6);
}

#[test]
fn http_status_mapping() {
    for (http, code) in [
        (400, Code::INTERNAL),
        (401, Code::UNAUTHENTICATED),
        (403, Code::PERMISSION_DENIED),
        (404, Code::UNIMPLEMENTED),
        (429, Code::UNAVAILABLE),
        (502, Code::UNAVAILABLE),
        (503, Code::UNAVAILABLE),
        (504, Code::UNAVAILABLE),
        (500, Code::UNKNOWN),
        (418, Code::UNKNOWN),
    ] {
        let mut d = raw_server(Config::client());
        let (_, id) = call(&mut d);
        d.s.send_response(
            id,
            vec![HeaderField::new(":status", http.to_string())],
            true,
        )
        .unwrap();
        assert_eq!(status_of(&mut d).code(), code, "{http}");
    }
}

#[test]
fn non_200_with_body_resets_stream() {
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    d.s.send_response(id, vec![HeaderField::new(":status", "503")], false)
        .unwrap();
    assert_eq!(status_of(&mut d).code(), Code::UNAVAILABLE);
    assert!(d.take_s().iter().any(|e| matches!(
        e,
        H2::Reset {
            reason: Reason::CANCEL,
            ..
        }
    )));
}

#[test]
fn non_grpc_content_type_is_unknown() {
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    let h = vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("content-type", "text/html"),
    ];
    d.s.send_response(id, h, true).unwrap();
    assert_eq!(status_of(&mut d).code(), Code::UNKNOWN);
}

#[test]
fn missing_grpc_status_is_unknown() {
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    d.s.send_response(id, grpc_headers(), false).unwrap();
    d.s.send_trailers(id, vec![HeaderField::new("x", "y")])
        .unwrap();
    let s = status_of(&mut d);
    assert_eq!(s.code(), Code::UNKNOWN);
    // Trailers-only without grpc-status too.
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    d.s.send_response(id, grpc_headers(), true).unwrap();
    assert_eq!(status_of(&mut d).code(), Code::UNKNOWN);
}

#[test]
fn end_stream_without_trailers_is_internal() {
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    d.s.send_response(id, grpc_headers(), false).unwrap();
    d.s.send_data(id, msg(b"ok"), true).unwrap();
    d.run();
    let evs = d.take_c();
    assert_eq!(messages(&evs), [Bytes::from_static(b"ok")]);
    assert_eq!(finished(&evs)[0].1.code(), Code::INTERNAL);
}

#[test]
fn truncated_message_before_trailers_is_internal() {
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    d.s.send_response(id, grpc_headers(), false).unwrap();
    d.s.send_data(id, Bytes::from_static(&[0, 0, 0, 0, 5, 1]), false)
        .unwrap();
    d.s.send_trailers(id, vec![HeaderField::new("grpc-status", "0")])
        .unwrap();
    assert_eq!(status_of(&mut d).code(), Code::INTERNAL);
}

#[test]
fn bad_grpc_message_decodes_without_failing() {
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    let mut h = grpc_headers();
    h.push(HeaderField::new("grpc-status", "3"));
    h.push(HeaderField::new("grpc-message", "bad %zz %E2%82 end%"));
    d.s.send_response(id, h, true).unwrap();
    let s = status_of(&mut d);
    assert_eq!(s.code(), Code::INVALID_ARGUMENT);
    assert!(s.message().starts_with("bad %zz "));
    assert!(s.message().ends_with(" end%"));
}

#[test]
fn bad_base64_in_response_is_internal() {
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    let mut h = grpc_headers();
    h.push(HeaderField::new("x-bin", "@@@"));
    d.s.send_response(id, h, false).unwrap();
    assert_eq!(status_of(&mut d).code(), Code::INTERNAL);
}

#[test]
fn rst_stream_codes_mapped_and_reason_kept() {
    for (reason, code) in [
        (Reason::REFUSED_STREAM, Code::UNAVAILABLE),
        (Reason::CANCEL, Code::CANCELLED),
        (Reason::ENHANCE_YOUR_CALM, Code::RESOURCE_EXHAUSTED),
        (Reason::INADEQUATE_SECURITY, Code::PERMISSION_DENIED),
        (Reason::PROTOCOL_ERROR, Code::INTERNAL),
        (Reason::NO_ERROR, Code::INTERNAL),
        (Reason::INTERNAL_ERROR, Code::INTERNAL),
    ] {
        let mut d = raw_server(Config::client());
        let (_, id) = call(&mut d);
        d.s.reset(id, reason).unwrap();
        let s = status_of(&mut d);
        assert_eq!(
            (s.code(), s.reset_reason()),
            (code, Some(reason)),
            "{reason:?}"
        );
    }
}

/// A response whose header list exceeds the client's 64 KiB limit: the
/// client refused the stream itself, so the status says what happened here,
/// with the sizes, as RESOURCE_EXHAUSTED (grpc C-core's code for received
/// metadata over its limit; grpc-go says INTERNAL), not UNAVAILABLE "reset
/// by peer".
#[test]
fn oversize_response_headers_are_resource_exhausted_locally() {
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    let mut fields = vec![HeaderField::new(":status", "200")];
    for i in 0..50 {
        fields.push(HeaderField::new(format!("x-big-{i}"), vec![b'v'; 4000]));
    }
    // Encoded by hand: the server's connection will not send a list over the
    // limit the client advertised. Nothing enters the dynamic table (a
    // static entry, then values over 3/4 of it), so HPACK stays in sync.
    let mut block = BytesMut::new();
    Encoder::new(4096).encode(&fields, &mut block);
    frame::Headers::new(id, block.freeze(), false, true)
        .encode(&mut d.to_c, 16_384)
        .unwrap();
    let s = status_of(&mut d);
    assert_eq!(s.code(), Code::RESOURCE_EXHAUSTED);
    assert!(
        s.message().starts_with("response header list of ")
            && s.message().ends_with(" bytes exceeds the limit of 65536"),
        "{}",
        s.message()
    );
    assert_eq!(
        (s.reset_reason(), s.reset_initiator()),
        (Some(Reason::REFUSED_STREAM), Some(Initiator::Local))
    );
}

/// A malformed response (DATA beyond its content-length) is the client's own
/// PROTOCOL_ERROR reset: INTERNAL, saying why, and not blamed on a reset by
/// the peer.
#[test]
fn malformed_response_is_internal_and_says_why() {
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    let mut h = grpc_headers();
    h.push(HeaderField::new("content-length", "1"));
    d.s.send_response(id, h, false).unwrap();
    d.run();
    frame::Data::new(id, &b"0123456789"[..], false)
        .encode(&mut d.to_c, 16_384)
        .unwrap();
    let s = status_of(&mut d);
    assert_eq!(s.code(), Code::INTERNAL);
    assert_eq!(
        s.message(),
        "malformed response: DATA length does not match content-length"
    );
    assert_eq!(s.reset_initiator(), Some(Initiator::Local));
}

#[test]
fn goaway_above_last_stream_is_unavailable() {
    let mut d = raw_server(Config::client());
    let (first, id) = call(&mut d);
    let now = d.now;
    let second = d.c.start_call("/s/m", Metadata::new(), None, now).unwrap();
    // The second call's HEADERS are written but never reach the server.
    let mut lost = bytes::BytesMut::new();
    d.c.poll_transmit(&mut lost, usize::MAX, now);
    d.s.close(Reason::NO_ERROR);
    d.run();
    // The server is gone: the transport ends.
    d.c.recv_eof(now);
    let evs = d.take_c();
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::GoAway { last_stream_id, .. } if *last_stream_id == id))
    );
    let f = finished(&evs);
    let s2 = &f.iter().find(|(c, _)| *c == second).unwrap().1;
    assert_eq!(s2.code(), Code::UNAVAILABLE);
    assert_eq!(s2.reset_reason(), Some(Reason::REFUSED_STREAM), "retryable");
    // The first call dies with the connection, also UNAVAILABLE.
    let s1 = &f.iter().find(|(c, _)| *c == first).unwrap().1;
    assert_eq!(s1.code(), Code::UNAVAILABLE);
}

#[test]
fn trailers_before_half_close_client_resets_no_error() {
    let mut d = raw_server(Config::client());
    let (_, id) = call(&mut d);
    let mut h = grpc_headers();
    h.push(HeaderField::new("grpc-status", "0"));
    d.s.send_response(id, h, true).unwrap();
    assert!(status_of(&mut d).is_ok());
    let evs = d.take_s();
    assert!(evs.iter().any(|e| matches!(
        e,
        H2::Reset {
            reason: Reason::NO_ERROR,
            ..
        }
    )));
    assert_eq!(d.c.connection().live_streams(), 0);
}

#[test]
fn client_keepalive_pings_and_closes_without_ack() {
    let mut c = Config::client();
    c.keepalive.time = Some(Duration::from_secs(1)); // raised to 10 s
    c.keepalive.timeout = Duration::from_secs(3);
    let mut d = raw_server(c);
    let (_call, _) = call(&mut d);
    let now = d.now;
    assert_eq!(d.c.poll_timeout(), Some(now + Duration::from_secs(10)));
    d.advance(Duration::from_secs(10));
    d.run(); // answered
    d.take_s();
    assert!(finished(&d.take_c()).is_empty());
    d.advance(Duration::from_secs(10)); // pings again; this time no answer is delivered
    let mut lost = bytes::BytesMut::new();
    let t = d.now;
    d.c.poll_transmit(&mut lost, usize::MAX, t);
    d.advance(Duration::from_secs(3));
    let f = finished(&d.take_c());
    assert_eq!(f[0].1.code(), Code::UNAVAILABLE);
    assert!(f[0].1.message().contains("keepalive"));
}

#[test]
fn client_keepalive_dormant_without_calls() {
    let mut c = Config::client();
    c.keepalive.time = Some(Duration::from_secs(10));
    let mut d = raw_server(c);
    d.advance(Duration::from_secs(10));
    assert_eq!(
        d.c.poll_timeout(),
        None,
        "no calls, not permitted: no pings"
    );
}
