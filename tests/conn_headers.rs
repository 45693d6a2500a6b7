//! RFC 9113 §4.3 / §6.2 / §6.10 (header blocks and CONTINUATION) and §8 (messages).

mod support;

use bytes::Bytes;
use h2proto::frame::{self, Continuation, PrioritySpec, Reason, StreamId};
use h2proto::hpack::HeaderField;
use h2proto::proto::{Config, Event, Initiator, Malformed, UserError};

use support::*;

fn with(mut fields: Vec<HeaderField>, name: &'static str, value: &'static str) -> Vec<HeaderField> {
    fields.push(HeaderField::new(name, value));
    fields
}

/// Sends a header block split into HEADERS + CONTINUATIONs of `piece` bytes.
fn split_headers(
    raw: &mut ScriptedPeer,
    id: u32,
    fields: &[HeaderField],
    piece: usize,
    end_stream: bool,
) {
    let block = raw.block(fields);
    let chunks: Vec<Bytes> = block.chunks(piece).map(Bytes::copy_from_slice).collect();
    let last = chunks.len() - 1;
    raw.send(frame::Headers::new(
        StreamId::new(id),
        chunks[0].clone(),
        end_stream,
        last == 0,
    ));
    for (i, c) in chunks.into_iter().enumerate().skip(1) {
        raw.send(Continuation {
            stream_id: StreamId::new(id),
            field_block_fragment: c,
            end_headers: i == last,
        });
    }
}

fn headers_event(events: &[Event]) -> Option<&h2proto::proto::HeaderList> {
    events.iter().find_map(|e| match e {
        Event::Headers { headers, .. } => Some(headers),
        _ => None,
    })
}

#[test]
fn s6_10_a_block_split_over_continuations_is_reassembled() {
    let mut raw = server_peer(Config::server());
    let fields = with(
        with(get("/split"), "user-agent", "test/1.0"),
        "x-long",
        "0123456789abcdef0123456789",
    );
    split_headers(&mut raw, 1, &fields, 3, true);
    let events = raw.take_events();
    let h = headers_event(&events).expect("request");
    assert_eq!(h.path(), Some(&b"/split"[..]));
    assert_eq!(
        h.get(b"x-long").map(|v| &v[..]),
        Some(&b"0123456789abcdef0123456789"[..])
    );
}

#[test]
fn s6_10_another_frame_inside_a_block_is_a_connection_error() {
    let mut raw = server_peer(Config::server());
    let block = raw.block(&get("/"));
    raw.send(frame::Headers::new(
        StreamId::new(1),
        block.slice(..2),
        true,
        false,
    ));
    raw.send(frame::Ping::new([0; 8]));
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );
}

#[test]
fn s6_10_continuation_of_another_stream_is_a_connection_error() {
    let mut raw = server_peer(Config::server());
    let block = raw.block(&get("/"));
    raw.send(frame::Headers::new(
        StreamId::new(1),
        block.slice(..2),
        true,
        false,
    ));
    raw.send(Continuation {
        stream_id: StreamId::new(3),
        field_block_fragment: block.slice(2..),
        end_headers: true,
    });
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );
}

#[test]
fn s6_10_continuation_without_a_block_is_a_connection_error() {
    let mut raw = server_peer(Config::server());
    raw.send(Continuation {
        stream_id: StreamId::new(1),
        field_block_fragment: Bytes::new(),
        end_headers: true,
    });
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );
}

#[test]
fn s4_3_a_bad_hpack_block_is_a_compression_error() {
    let mut raw = server_peer(Config::server());
    // Indexed field 0 does not exist (RFC 7541 §6.1).
    raw.send(frame::Headers::new(
        StreamId::new(1),
        Bytes::from_static(&[0x80]),
        true,
        true,
    ));
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::COMPRESSION_ERROR)
    );
}

#[test]
fn s4_3_refused_streams_still_update_the_hpack_table() {
    let mut config = Config::server();
    config.max_concurrent_streams = 1;
    let mut raw = server_peer(config);
    raw.headers(1, &get("/a"), false);
    // Refused (over the limit), but its literal is indexed by our encoder ...
    let first = raw.block(&with(get("/b"), "x-indexed", "remember-me"));
    raw.send(frame::Headers::new(
        StreamId::new(3),
        first.clone(),
        false,
        true,
    ));
    assert_eq!(raw.resets(), [(3, Reason::REFUSED_STREAM)]);
    raw.rst(1, Reason::CANCEL);
    raw.take_events();
    // ... and the next block refers to it by index: the server must follow.
    let second = raw.block(&with(get("/b"), "x-indexed", "remember-me"));
    assert!(
        second.len() * 2 < first.len(),
        "second block uses the table: {second:?} vs {first:?}"
    );
    raw.send(frame::Headers::new(StreamId::new(5), second, true, true));
    let events = raw.take_events();
    let h = headers_event(&events).expect("stream 5 decoded");
    assert_eq!(
        h.get(b"x-indexed").map(|v| &v[..]),
        Some(&b"remember-me"[..])
    );
}

#[test]
fn s5_3_1_priority_self_dependency_is_a_stream_error() {
    let mut raw = server_peer(Config::server());
    let block = raw.block(&get("/"));
    let mut h = frame::Headers::new(StreamId::new(1), block, true, true);
    h.priority = Some(PrioritySpec {
        stream_dependency: StreamId::new(1),
        weight: 16,
        exclusive: false,
    });
    let mut out = bytes::BytesMut::new();
    // Our encoder refuses to write it, so build it by hand: flags PRIORITY|END_HEADERS|END_STREAM.
    let payload: Vec<u8> = [&[0, 0, 0, 1, 15][..], &h.field_block_fragment[..]].concat();
    frame::Head {
        length: payload.len() as u32,
        frame_type: frame::FrameType::Headers,
        flags: 0x20 | 0x4 | 0x1,
        stream_id: StreamId::new(1),
    }
    .encode(&mut out);
    out.extend_from_slice(&payload);
    raw.send_bytes(&out);
    assert_eq!(raw.resets(), [(1, Reason::PROTOCOL_ERROR)]);
    // The block was still decoded: the next request works.
    raw.headers(3, &get("/next"), true);
    assert!(headers_event(&raw.take_events()).is_some());
}

#[test]
fn s8_2_malformed_requests_reset_the_stream_only() {
    let cases: Vec<(&str, Vec<HeaderField>)> = vec![
        ("uppercase name", with(get("/"), "X-Upper", "1")),
        (
            "connection header",
            with(get("/"), "connection", "keep-alive"),
        ),
        ("te other than trailers", with(get("/"), "te", "gzip")),
        (
            "missing :path",
            get("/").into_iter().filter(|f| f.name != ":path").collect(),
        ),
        (
            "response pseudo in request",
            with(get("/"), ":status", "200"),
        ),
    ];
    for (name, fields) in cases {
        let mut raw = server_peer(Config::server());
        raw.headers(1, &fields, true);
        assert_eq!(raw.resets(), [(1, Reason::PROTOCOL_ERROR)], "{name}");
        assert!(raw.goaway().is_none(), "{name}: connection lives");
        assert!(
            headers_event(&raw.take_events()).is_none(),
            "{name}: not delivered"
        );
    }
}

/// HPACK lets a block index a field that made an earlier block malformed
/// (the entry stays in the table: a stream error does not undo the insert).
/// The decoder notes per entry whether its bytes are valid, and the block
/// check skips the bytes of the fields it knows: an entry noted wrongly would
/// let the second request through.
#[test]
fn s8_2_1_a_malformed_field_stays_malformed_when_indexed_by_a_later_block() {
    // :method GET, :scheme http, :path / (static), :authority a.b (literal,
    // not indexed): nothing enters the table but the field under test.
    const HEAD: [u8; 8] = [0x82, 0x86, 0x84, 0x01, 0x03, b'a', b'.', b'b'];
    let cases: [(&[u8], &[u8], bool); 5] = [
        (b"x-upper", b"1", true),
        (b"X-Upper", b"1", false),
        (b"x-cr", b"a\rb", false),
        (b"x-space", b" a", false),
        (b"x-nul", b"a\0", false),
    ];
    for (name, value, valid) in cases {
        let mut raw = server_peer(Config::server());
        // Literal with incremental indexing, new name (RFC 7541 §6.2.1).
        let mut first = HEAD.to_vec();
        first.extend([0x40, name.len() as u8]);
        first.extend(name);
        first.push(value.len() as u8);
        first.extend(value);
        // The same field as dynamic index 62, the entry just inserted.
        let mut second = HEAD.to_vec();
        second.push(0x80 | 62);
        for (id, block) in [(1, first), (3, second)] {
            raw.send(frame::Headers::new(
                StreamId::new(id),
                Bytes::from(block),
                true,
                true,
            ));
        }
        let what = String::from_utf8_lossy(name);
        let resets = raw.resets();
        assert!(raw.goaway().is_none(), "{what}: connection lives");
        if valid {
            assert!(resets.is_empty(), "{what}");
            let requests = raw
                .take_events()
                .iter()
                .filter(|e| match e {
                    Event::Headers { headers, .. } => {
                        headers.get(name).map(|v| &v[..]) == Some(value)
                    }
                    _ => false,
                })
                .count();
            assert_eq!(requests, 2, "{what}: both requests carry the field");
        } else {
            assert_eq!(
                resets,
                [(1, Reason::PROTOCOL_ERROR), (3, Reason::PROTOCOL_ERROR)],
                "{what}"
            );
            assert!(headers_event(&raw.take_events()).is_none(), "{what}");
        }
    }
}

#[test]
fn s8_1_1_content_length_must_match_the_data() {
    let mut raw = server_peer(Config::server());
    raw.headers(
        1,
        &with(request("POST", "/"), "content-length", "10"),
        false,
    );
    raw.data(1, b"12345", false);
    raw.data(1, b"123", true);
    assert_eq!(raw.resets(), [(1, Reason::PROTOCOL_ERROR)]);
    let events = raw.take_events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Reset {
            initiator: Initiator::Local,
            ..
        }
    )));

    let mut raw = server_peer(Config::server());
    raw.headers(1, &with(request("POST", "/"), "content-length", "3"), false);
    raw.data(1, b"1234", false);
    assert_eq!(
        raw.resets(),
        [(1, Reason::PROTOCOL_ERROR)],
        "overshoot fails at once"
    );

    let mut raw = server_peer(Config::server());
    raw.headers(1, &with(request("POST", "/"), "content-length", "3"), false);
    raw.data(1, b"123", true);
    assert!(raw.resets().is_empty());
}

#[test]
fn s8_1_trailers_must_end_the_stream_and_carry_no_pseudo_fields() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &request("POST", "/"), false);
    raw.headers(1, &[HeaderField::new("x-trailer", "1")], false);
    assert_eq!(raw.resets(), [(1, Reason::PROTOCOL_ERROR)]);

    let mut raw = server_peer(Config::server());
    raw.headers(1, &request("POST", "/"), false);
    raw.headers(1, &[HeaderField::new(":path", "/")], true);
    assert_eq!(raw.resets(), [(1, Reason::PROTOCOL_ERROR)]);

    let mut raw = server_peer(Config::server());
    raw.headers(1, &request("POST", "/"), false);
    raw.data(1, b"body", false);
    raw.headers(1, &[HeaderField::new("grpc-status", "0")], true);
    let events = raw.take_events();
    assert!(events.iter().any(
        |e| matches!(e, Event::Trailers { trailers, .. } if trailers.get(b"grpc-status").is_some())
    ));
}

#[test]
fn s8_1_informational_responses_come_before_the_final_one() {
    let mut raw = client_peer(Config::client());
    let id = raw.conn.send_request(request("POST", "/"), false).unwrap();
    raw.read();
    raw.headers(id.value(), &status(100), false);
    raw.headers(id.value(), &status(200), false);
    raw.data(id.value(), b"ok", true);
    let events = raw.take_events();
    assert!(
        matches!(&events[0], Event::Informational { headers, .. } if headers.status() == Some(100))
    );
    assert!(matches!(&events[1], Event::Headers { headers, .. } if headers.status() == Some(200)));
    // An informational response with END_STREAM is malformed.
    let id = raw.conn.send_request(get("/"), true).unwrap();
    raw.read();
    raw.headers(id.value(), &status(103), true);
    assert_eq!(raw.resets(), [(id.value(), Reason::PROTOCOL_ERROR)]);
}

#[test]
fn s8_1_1_a_head_response_has_no_body_whatever_content_length_says() {
    let mut raw = client_peer(Config::client());
    let id = raw.conn.send_request(request("HEAD", "/"), true).unwrap();
    raw.read();
    raw.headers(
        id.value(),
        &with(status(200), "content-length", "1000"),
        true,
    );
    assert!(raw.resets().is_empty());
    assert!(matches!(
        &raw.take_events()[0],
        Event::Headers {
            end_stream: true,
            ..
        }
    ));
}

#[test]
fn s6_6_push_promise_is_a_connection_error() {
    let mut raw = client_peer(Config::client());
    let id = raw.conn.send_request(get("/"), true).unwrap();
    raw.read();
    let block = raw.block(&get("/pushed"));
    raw.send(frame::PushPromise {
        stream_id: id,
        promised_stream_id: StreamId::new(2),
        field_block_fragment: block,
        end_headers: true,
        pad_length: None,
    });
    assert_eq!(
        raw.goaway().map(|g| g.error_code),
        Some(Reason::PROTOCOL_ERROR)
    );
}

#[test]
fn s8_the_client_refuses_to_send_what_a_server_would_reject() {
    let mut p = pair();
    p.handshake();
    for fields in [
        with(get("/"), "connection", "close"),
        with(get("/"), "Host", "x"),
        with(get("/"), "te", "gzip"),
    ] {
        assert!(p.client.send_request(fields, true).is_err());
    }
}

#[test]
fn s6_5_3_a_larger_header_table_may_be_used_before_our_ack_arrives() {
    // Found by the simulation: the client lowered SETTINGS_HEADER_TABLE_SIZE
    // to 0 (acknowledged), then raised it to 1; the server, having read the
    // raise, started its next response block with a size update to 1, which
    // reached the client before the ACK: the client's decoder still allowed
    // 0 and ended the connection with COMPRESSION_ERROR.
    let mut p = pair();
    p.handshake();
    let zero = h2proto::proto::SettingsUpdate::new().header_table_size(0);
    p.client.update_settings(zero, p.now).unwrap();
    p.run();
    let id = p.client.send_request(request("GET", "/"), true).unwrap();
    p.run();
    let one = h2proto::proto::SettingsUpdate::new().header_table_size(1);
    p.client.update_settings(one, p.now).unwrap();
    // The response is queued before the server reads the raise, and written
    // (encoded) after it, ahead of the SETTINGS ACK.
    p.server.send_response(id, status(200), true).unwrap();
    p.run();
    assert_eq!(p.client.stats().counters.connection_errors, 0);
    assert!(
        p.events(Side::Client)
            .iter()
            .any(|e| matches!(e, Event::Headers { stream_id, .. } if *stream_id == id))
    );
}

/// Issue #12 item 3: a `host` naming another authority than `:authority`
/// is malformed (the stream only); equal after normalization, or without
/// `:authority`, it is fine. A client refuses to send the mismatch.
#[test]
fn s8_3_1_host_differing_from_authority_is_malformed() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &with(get("/"), "host", "other.example"), true);
    assert_eq!(raw.resets(), [(1, Reason::PROTOCOL_ERROR)]);
    assert!(raw.goaway().is_none(), "connection lives");
    assert!(headers_event(&raw.take_events()).is_none(), "not delivered");

    // `request()` uses `:authority example.com` over https.
    raw.headers(3, &with(get("/"), "host", "EXAMPLE.com:443"), true);
    let no_authority: Vec<HeaderField> = with(get("/"), "host", "other.example")
        .into_iter()
        .filter(|f| f.name != ":authority")
        .collect();
    raw.headers(5, &no_authority, true);
    assert!(raw.resets().is_empty());
    let delivered = raw
        .take_events()
        .iter()
        .filter(|e| matches!(e, Event::Headers { .. }))
        .count();
    assert_eq!(delivered, 2);

    let mut client = client_peer(Config::client());
    assert_eq!(
        client
            .conn
            .send_request(with(get("/"), "host", "other.example"), true),
        Err(UserError::Malformed(Malformed::HostMismatch))
    );
}

#[test]
fn s8_1_a_server_sends_100_continue_before_the_request_body() {
    let mut raw = server_peer(Config::server());
    raw.headers(1, &request("POST", "/"), false);
    let _ = raw.take_events();
    raw.conn
        .send_response(StreamId::new(1), status(100), false)
        .unwrap();
    let frames = raw.read();
    assert!(
        frames.iter().any(
            |f| matches!(f, frame::Frame::Headers(h) if h.stream_id.value() == 1 && !h.end_stream)
        ),
        "{frames:?}"
    );
    // The final response still follows, once the body is in.
    raw.data(1, b"body", true);
    raw.conn
        .send_response(StreamId::new(1), status(200), true)
        .unwrap();
    let frames = raw.read();
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, frame::Frame::Headers(h) if h.end_stream)),
        "{frames:?}"
    );
}
