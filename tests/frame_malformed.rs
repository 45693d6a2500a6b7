//! Every malformed-frame rule of RFC 9113 §4/§6 the codec enforces, as a
//! table: each row asserts the exact scope (connection, or stream with its
//! id), the exact `Reason` and the `Violation`, and for stream errors that the
//! offending frame was consumed so decoding can carry on.
//!
//! docs/conformance.md maps each rule to its row here.

use bytes::BytesMut;
use h2proto::frame::{
    Decoder, Frame, FrameType, Reason, Scope, Setting, StreamId, Violation, strip_preface,
};

// ---------------------------------------------------------------- frame builders

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PUSH_PROMISE: u8 = 0x5;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIO: u8 = 0x20;

/// A raw frame: header declaring `payload.len()`, then the payload.
fn raw(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    raw_len(payload.len() as u32, ty, flags, stream, payload)
}

/// A raw frame whose header declares `len` whatever the payload.
fn raw_len(len: u32, ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = len.to_be_bytes()[1..].to_vec();
    v.extend_from_slice(&[ty, flags]);
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend_from_slice(&value.to_be_bytes());
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Priority fields: exclusive bit + dependency, weight.
fn prio(dep: u32, weight: u8) -> Vec<u8> {
    let mut v = dep.to_be_bytes().to_vec();
    v.push(weight);
    v
}

fn sid(n: u32) -> StreamId {
    StreamId::new(n)
}

/// A valid PING placed after each row's bytes: after a stream error it must be
/// the next thing decoded.
fn sentinel() -> Vec<u8> {
    raw(PING, 0, 0, b"sentinel")
}

// ---------------------------------------------------------------- the table

struct Row {
    name: &'static str,
    /// Valid frames decoded before the bad one (e.g. an open field block).
    prelude: Vec<u8>,
    bad: Vec<u8>,
    scope: Scope,
    reason: Reason,
    violation: Violation,
}

fn conn(name: &'static str, bad: Vec<u8>, reason: Reason, violation: Violation) -> Row {
    Row {
        name,
        prelude: Vec::new(),
        bad,
        scope: Scope::Connection,
        reason,
        violation,
    }
}

fn stream(name: &'static str, id: u32, bad: Vec<u8>, reason: Reason, violation: Violation) -> Row {
    Row {
        name,
        prelude: Vec::new(),
        bad,
        scope: Scope::Stream(sid(id)),
        reason,
        violation,
    }
}

fn after(prelude: Vec<u8>, row: Row) -> Row {
    Row { prelude, ..row }
}

use Reason as R;
use Violation as V;

#[rustfmt::skip]
fn table() -> Vec<Row> {
    let fse = R::FRAME_SIZE_ERROR;
    let pe = R::PROTOCOL_ERROR;
    let too_large = |length| V::FrameTooLarge {
        length,
        max: 16_384,
    };
    let wrong = |frame_type, length, expected| V::WrongLength {
        frame_type,
        length,
        expected,
    };
    let short = |frame_type, length, min| V::TooShort {
        frame_type,
        length,
        min,
    };
    let pad = |frame_type, pad_length, available| V::PaddingTooLong {
        frame_type,
        pad_length,
        available,
    };
    let bad_setting = |id, value| V::InvalidSettingValue { id, value };
    let open_headers = || raw(HEADERS, 0, 1, b"\x82");
    let zero = |ty| V::StreamIdZero(ty);
    let nonzero = |frame_type| V::StreamIdNonZero {
        frame_type,
        stream_id: sid(1),
    };

    vec![
        // §4.2 frame size above the local SETTINGS_MAX_FRAME_SIZE: detected from
        // the 9-octet header alone (rows carry no payload at all).
        conn("DATA above max frame size", raw_len(16_385, DATA, 0, 1, b""), fse, too_large(16_385)),
        conn("HEADERS above max frame size", raw_len(16_385, HEADERS, END_HEADERS, 1, b""), fse, too_large(16_385)),
        conn("SETTINGS above max frame size", raw_len(1 << 20, SETTINGS, 0, 0, b""), fse, too_large(1 << 20)),
        conn("PING above max frame size", raw_len(0xff_ffff, PING, 0, 0, b""), fse, too_large(0xff_ffff)),
        conn("unknown type above max frame size", raw_len(20_000, 0xfa, 0, 9, b""), fse, too_large(20_000)),
        // §6.1, §6.2, §6.3, §6.4, §6.6, §6.10: stream frames on stream 0.
        conn("DATA on stream 0", raw(DATA, 0, 0, b"x"), pe, zero(FrameType::Data)),
        conn("HEADERS on stream 0", raw(HEADERS, END_HEADERS, 0, b"\x82"), pe, zero(FrameType::Headers)),
        conn("PRIORITY on stream 0", raw(PRIORITY, 0, 0, &prio(1, 0)), pe, zero(FrameType::Priority)),
        conn("PRIORITY on stream 0, bad length", raw(PRIORITY, 0, 0, b"\0"), pe, zero(FrameType::Priority)),
        conn("RST_STREAM on stream 0", raw(RST_STREAM, 0, 0, &[0, 0, 0, 8]), pe, zero(FrameType::RstStream)),
        conn("PUSH_PROMISE on stream 0", raw(PUSH_PROMISE, END_HEADERS, 0, &[0, 0, 0, 2]), pe, zero(FrameType::PushPromise)),
        conn("CONTINUATION on stream 0", raw(CONTINUATION, END_HEADERS, 0, b""), pe, zero(FrameType::Continuation)),
        // §6.5, §6.7, §6.8: connection frames on a stream.
        conn("SETTINGS on stream 1", raw(SETTINGS, 0, 1, b""), pe, nonzero(FrameType::Settings)),
        conn("SETTINGS ACK on stream 1", raw(SETTINGS, ACK, 1, b""), pe, nonzero(FrameType::Settings)),
        conn("PING on stream 1", raw(PING, 0, 1, b"12345678"), pe, nonzero(FrameType::Ping)),
        conn("GOAWAY on stream 1", raw(GOAWAY, 0, 1, &[0; 8]), pe, nonzero(FrameType::GoAway)),
        // §6.3: PRIORITY length other than 5 is a *stream* FRAME_SIZE_ERROR.
        stream("PRIORITY length 4", 3, raw(PRIORITY, 0, 3, &[0, 0, 0, 1]), fse, wrong(FrameType::Priority, 4, 5)),
        stream("PRIORITY length 6", 3, raw(PRIORITY, 0, 3, &[0, 0, 0, 1, 0, 0]), fse, wrong(FrameType::Priority, 6, 5)),
        stream("PRIORITY length 0", 5, raw(PRIORITY, 0, 5, b""), fse, wrong(FrameType::Priority, 0, 5)),
        // §6.4: RST_STREAM length other than 4: connection FRAME_SIZE_ERROR.
        conn("RST_STREAM length 3", raw(RST_STREAM, 0, 1, &[0, 0, 8]), fse, wrong(FrameType::RstStream, 3, 4)),
        conn("RST_STREAM length 5", raw(RST_STREAM, 0, 1, &[0, 0, 0, 8, 0]), fse, wrong(FrameType::RstStream, 5, 4)),
        // §6.7: PING length other than 8.
        conn("PING length 0", raw(PING, 0, 0, b""), fse, wrong(FrameType::Ping, 0, 8)),
        conn("PING length 7", raw(PING, 0, 0, b"1234567"), fse, wrong(FrameType::Ping, 7, 8)),
        conn("PING ACK length 9", raw(PING, ACK, 0, b"123456789"), fse, wrong(FrameType::Ping, 9, 8)),
        // §6.9: WINDOW_UPDATE length other than 4, on a stream or on stream 0.
        conn("WINDOW_UPDATE length 3 on stream 1", raw(WINDOW_UPDATE, 0, 1, &[0, 0, 1]), fse, wrong(FrameType::WindowUpdate, 3, 4)),
        conn("WINDOW_UPDATE length 5 on stream 1", raw(WINDOW_UPDATE, 0, 1, &[0, 0, 0, 1, 0]), fse, wrong(FrameType::WindowUpdate, 5, 4)),
        conn("WINDOW_UPDATE length 3 on stream 0", raw(WINDOW_UPDATE, 0, 0, &[0, 0, 1]), fse, wrong(FrameType::WindowUpdate, 3, 4)),
        // §6.5: SETTINGS length not a multiple of 6; ACK with a payload.
        conn("SETTINGS length 5", raw(SETTINGS, 0, 0, &[0, 3, 0, 0, 0]), fse, V::SettingsLength(5)),
        conn("SETTINGS length 7", raw(SETTINGS, 0, 0, &cat(&[&setting(3, 1), b"\0"])), fse, V::SettingsLength(7)),
        conn("SETTINGS ACK with 6-octet payload", raw(SETTINGS, ACK, 0, &setting(3, 1)), fse, V::SettingsAckWithPayload(6)),
        conn("SETTINGS ACK with 1-octet payload", raw(SETTINGS, ACK, 0, b"\0"), fse, V::SettingsAckWithPayload(1)),
        // §6.5.2 value ranges.
        conn("ENABLE_PUSH = 2", raw(SETTINGS, 0, 0, &setting(2, 2)), pe, bad_setting(2, 2)),
        conn("ENABLE_PUSH = 2^32-1", raw(SETTINGS, 0, 0, &setting(2, u32::MAX)), pe, bad_setting(2, u32::MAX)),
        conn("INITIAL_WINDOW_SIZE = 2^31", raw(SETTINGS, 0, 0, &setting(4, 1 << 31)), R::FLOW_CONTROL_ERROR, bad_setting(4, 1 << 31)),
        conn("INITIAL_WINDOW_SIZE = 2^32-1", raw(SETTINGS, 0, 0, &setting(4, u32::MAX)), R::FLOW_CONTROL_ERROR, bad_setting(4, u32::MAX)),
        conn("MAX_FRAME_SIZE = 2^14-1", raw(SETTINGS, 0, 0, &setting(5, 16_383)), pe, bad_setting(5, 16_383)),
        conn("MAX_FRAME_SIZE = 0", raw(SETTINGS, 0, 0, &setting(5, 0)), pe, bad_setting(5, 0)),
        conn("MAX_FRAME_SIZE = 2^24", raw(SETTINGS, 0, 0, &setting(5, 1 << 24)), pe, bad_setting(5, 1 << 24)),
        conn("bad value after valid entries", raw(SETTINGS, 0, 0, &cat(&[&setting(3, 10), &setting(0x99, 7), &setting(2, 5)])), pe, bad_setting(2, 5)),
        // §4.2: payload too short for mandatory fields.
        conn("DATA PADDED, length 0", raw(DATA, PADDED, 1, b""), fse, short(FrameType::Data, 0, 1)),
        conn("HEADERS PRIORITY, length 4", raw(HEADERS, PRIO | END_HEADERS, 1, &[0, 0, 0, 3]), fse, short(FrameType::Headers, 4, 5)),
        conn("HEADERS PADDED|PRIORITY, length 5", raw(HEADERS, PADDED | PRIO | END_HEADERS, 1, &[0; 5]), fse, short(FrameType::Headers, 5, 6)),
        conn("HEADERS PADDED, length 0", raw(HEADERS, PADDED | END_HEADERS, 1, b""), fse, short(FrameType::Headers, 0, 1)),
        conn("PUSH_PROMISE length 3", raw(PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 2]), fse, short(FrameType::PushPromise, 3, 4)),
        conn("PUSH_PROMISE PADDED, length 4", raw(PUSH_PROMISE, PADDED | END_HEADERS, 1, &[0, 0, 0, 2]), fse, short(FrameType::PushPromise, 4, 5)),
        conn("GOAWAY length 0", raw(GOAWAY, 0, 0, b""), fse, short(FrameType::GoAway, 0, 8)),
        conn("GOAWAY length 7", raw(GOAWAY, 0, 0, &[0; 7]), fse, short(FrameType::GoAway, 7, 8)),
        // §6.1, §6.2, §6.6: padding as long as (or longer than) what follows it.
        conn("DATA pad length = payload length", raw(DATA, PADDED, 1, &[4, b'a', 0, 0]), pe, pad(FrameType::Data, 4, 3)),
        conn("DATA pad length 255, length 1", raw(DATA, PADDED, 1, &[255]), pe, pad(FrameType::Data, 255, 0)),
        conn("HEADERS pad too long", raw(HEADERS, PADDED | END_HEADERS, 1, &[3, 0x82, 0]), pe, pad(FrameType::Headers, 3, 2)),
        conn("HEADERS PRIORITY pad eats priority fields", raw(HEADERS, PADDED | PRIO | END_HEADERS, 1, &cat(&[&[3], &prio(0, 0), &[0, 0]])), pe, pad(FrameType::Headers, 3, 2)),
        conn("PUSH_PROMISE pad too long", raw(PUSH_PROMISE, PADDED | END_HEADERS, 1, &[1, 0, 0, 0, 2]), pe, pad(FrameType::PushPromise, 1, 0)),
        // §5.3.1: a stream depending on itself is a stream PROTOCOL_ERROR.
        stream("HEADERS depends on itself", 5, raw(HEADERS, PRIO | END_HEADERS, 5, &cat(&[&prio(5, 16), b"\x82"])), pe, V::SelfDependency(FrameType::Headers)),
        stream("HEADERS depends on itself, exclusive", 7, raw(HEADERS, PRIO | END_HEADERS | END_STREAM, 7, &prio(0x8000_0007, 0)), pe, V::SelfDependency(FrameType::Headers)),
        stream("PRIORITY depends on itself", 3, raw(PRIORITY, 0, 3, &prio(3, 200)), pe, V::SelfDependency(FrameType::Priority)),
        // §6.9: increment 0: stream error on a stream, connection error on 0.
        stream("WINDOW_UPDATE 0 on stream 3", 3, raw(WINDOW_UPDATE, 0, 3, &[0; 4]), pe, V::ZeroWindowIncrement),
        stream("WINDOW_UPDATE 0 (reserved bit set) on stream 3", 3, raw(WINDOW_UPDATE, 0, 3, &[0x80, 0, 0, 0]), pe, V::ZeroWindowIncrement),
        conn("WINDOW_UPDATE 0 on stream 0", raw(WINDOW_UPDATE, 0, 0, &[0; 4]), pe, V::ZeroWindowIncrement),
        // §5.1.1 / §6.6: stream 0 can never be promised.
        conn("PUSH_PROMISE promises stream 0", raw(PUSH_PROMISE, END_HEADERS, 1, &[0x80, 0, 0, 0]), pe, V::PromisedStreamIdZero),
        // §6.2, §6.10: CONTINUATION sequencing.
        conn("CONTINUATION with no open field block", raw(CONTINUATION, END_HEADERS, 1, b"\x82"), pe, V::UnexpectedContinuation(sid(1))),
        after(open_headers(), conn("DATA inside an open field block", raw(DATA, 0, 1, b"x"), pe, V::ExpectedContinuation { expected: sid(1), frame_type: FrameType::Data, stream_id: sid(1) })),
        after(open_headers(), conn("CONTINUATION on another stream", raw(CONTINUATION, END_HEADERS, 3, b""), pe, V::ExpectedContinuation { expected: sid(1), frame_type: FrameType::Continuation, stream_id: sid(3) })),
        after(open_headers(), conn("PING inside an open field block", raw(PING, 0, 0, b"12345678"), pe, V::ExpectedContinuation { expected: sid(1), frame_type: FrameType::Ping, stream_id: sid(0) })),
        after(cat(&[&open_headers(), &raw(CONTINUATION, 0, 1, b"\x84")]), conn("unknown frame inside an open field block", raw(0xa, 0, 1, b""), pe, V::ExpectedContinuation { expected: sid(1), frame_type: FrameType::Unknown(0xa), stream_id: sid(1) })),
        after(raw(PUSH_PROMISE, 0, 1, &[0, 0, 0, 2]), conn("HEADERS inside an open PUSH_PROMISE block", raw(HEADERS, END_HEADERS, 3, b""), pe, V::ExpectedContinuation { expected: sid(1), frame_type: FrameType::Headers, stream_id: sid(3) })),
        after(cat(&[&open_headers(), &raw(CONTINUATION, END_HEADERS, 1, b"\x84")]), conn("CONTINUATION after END_HEADERS", raw(CONTINUATION, END_HEADERS, 1, b""), pe, V::UnexpectedContinuation(sid(1)))),
    ]
}

#[test]
fn every_malformed_case_has_exact_scope_reason_and_violation() {
    let rows = table();
    assert!(rows.len() >= 60, "table shrank to {} rows", rows.len());
    for row in rows {
        let Row {
            name,
            prelude,
            bad,
            scope,
            reason,
            violation,
        } = row;
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&cat(&[&prelude, &bad, &sentinel()])[..]);
        let after_bad = sentinel().len();

        let err = loop {
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => {
                    assert!(
                        buf.len() > after_bad + bad.len() - 1,
                        "{name}: bad frame decoded as valid"
                    );
                }
                Ok(None) => panic!("{name}: decoder wants more input"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.scope(), scope, "{name}: scope ({err})");
        assert_eq!(err.reason(), reason, "{name}: reason ({err})");
        assert_eq!(err.violation(), violation, "{name}: violation ({err})");
        assert_eq!(
            err.is_connection_error(),
            scope == Scope::Connection,
            "{name}"
        );
        if let Scope::Stream(id) = scope {
            assert_eq!(err.stream_id(), Some(id), "{name}");
            // The bad frame was consumed; the next frame decodes normally.
            assert_eq!(
                buf.len(),
                after_bad,
                "{name}: stream error must consume the frame"
            );
            match decoder.decode(&mut buf) {
                Ok(Some(Frame::Ping(p))) => assert_eq!(&p.opaque_data, b"sentinel", "{name}"),
                other => {
                    panic!("{name}: after a stream error expected the sentinel, got {other:?}")
                }
            }
        }
    }
}

#[test]
fn oversize_frame_is_rejected_without_its_payload() {
    // Only the header has arrived; nothing of the 16 MiB payload is buffered.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&raw_len(0xff_ffff, DATA, 0, 1, b"")[..]);
    let err = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(
        err.violation(),
        V::FrameTooLarge {
            length: 0xff_ffff,
            max: 16_384
        }
    );
    assert_eq!(
        decoder.next_frame_len(&buf),
        9,
        "no reservation hint for an oversize frame"
    );
    // Exactly at the limit is fine.
    let mut buf = BytesMut::from(&raw(DATA, 0, 1, &vec![0; 16_384])[..]);
    assert!(matches!(decoder.decode(&mut buf), Ok(Some(Frame::Data(d))) if d.data.len() == 16_384));
}

#[test]
fn self_dependent_headers_error_carries_the_field_block() {
    // The stream is reset, but the field block must still reach HPACK, and the
    // CONTINUATION that follows must still be accepted.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(
        &cat(&[
            &raw(HEADERS, PRIO, 5, &cat(&[&prio(5, 0), b"\x82"])),
            &raw(CONTINUATION, END_HEADERS, 5, b"\x84"),
        ])[..],
    );
    let err = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(err.scope(), Scope::Stream(sid(5)));
    let Some(Frame::Headers(h)) = err.frame() else {
        panic!("frame missing: {err:?}")
    };
    assert_eq!(&h.field_block_fragment[..], b"\x82");
    assert_eq!(decoder.expecting_continuation(), Some(sid(5)));
    let Some(Frame::Continuation(c)) = decoder.decode(&mut buf).unwrap() else {
        panic!()
    };
    assert!(c.end_headers);
    assert_eq!(decoder.expecting_continuation(), None);
}

#[test]
fn bad_client_preface_is_a_connection_protocol_error() {
    for input in [
        &b"PRI * HTTP/1.1\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\0\0\0\x04\0\0\0\0\0",
    ] {
        let mut buf = BytesMut::from(input);
        let err = strip_preface(&mut buf).unwrap_err();
        assert_eq!(
            (err.scope(), err.reason()),
            (Scope::Connection, R::PROTOCOL_ERROR)
        );
        assert_eq!(err.violation(), V::InvalidPreface);
    }
}

// ---------------------------------------------------------------- what must be accepted

fn decode_one(bytes: &[u8]) -> Frame {
    let mut buf = BytesMut::from(bytes);
    let frame = Decoder::new()
        .decode(&mut buf)
        .expect("valid")
        .expect("complete");
    assert!(buf.is_empty());
    frame
}

#[test]
fn reserved_bits_are_ignored() {
    // R bit of the stream identifier (§4.1).
    assert_eq!(
        decode_one(&raw(DATA, 0, 0x8000_0001, b"x")).stream_id(),
        sid(1)
    );
    assert!(matches!(
        decode_one(&raw(SETTINGS, 0, 0x8000_0000, b"")),
        Frame::Settings(_)
    ));
    // R bit of Window Size Increment (§6.9), Last-Stream-ID (§6.8) and Promised Stream ID (§6.6).
    let Frame::WindowUpdate(w) = decode_one(&raw(WINDOW_UPDATE, 0, 1, &[0x80, 0, 0, 9])) else {
        panic!()
    };
    assert_eq!(w.window_size_increment, 9);
    let Frame::GoAway(g) = decode_one(&raw(GOAWAY, 0, 0, &[0x80, 0, 0, 3, 0, 0, 0, 0])) else {
        panic!()
    };
    assert_eq!(g.last_stream_id, sid(3));
    let Frame::PushPromise(p) = decode_one(&raw(PUSH_PROMISE, END_HEADERS, 1, &[0x80, 0, 0, 2]))
    else {
        panic!()
    };
    assert_eq!(p.promised_stream_id, sid(2));
}

#[test]
fn undefined_flags_are_ignored_and_not_re_sent() {
    // DATA defines only END_STREAM and PADDED; everything else is set here.
    let Frame::Data(d) = decode_one(&raw(DATA, !(END_STREAM | PADDED), 1, b"abc")) else {
        panic!()
    };
    assert!(!d.end_stream && d.pad_length.is_none());
    let mut out = BytesMut::new();
    d.encode(&mut out, 16_384).unwrap();
    assert_eq!(
        out[4], 0,
        "undefined flags must be left unset when sending (§4.1)"
    );
    // PING defines only ACK; SETTINGS only ACK; GOAWAY, RST_STREAM, PRIORITY, WINDOW_UPDATE none.
    assert_eq!(
        decode_one(&raw(PING, 0xfe, 0, b"12345678")),
        Frame::Ping(h2proto::frame::Ping::new(*b"12345678"))
    );
    assert!(matches!(decode_one(&raw(SETTINGS, 0xfe, 0, b"")), Frame::Settings(s) if !s.is_ack()));
    assert!(
        matches!(decode_one(&raw(RST_STREAM, 0xff, 1, &[0, 0, 0, 8])), Frame::RstStream(r) if r.error_code == R::CANCEL)
    );
    assert!(matches!(
        decode_one(&raw(WINDOW_UPDATE, 0xff, 0, &[0, 0, 0, 1])),
        Frame::WindowUpdate(_)
    ));
    assert!(matches!(
        decode_one(&raw(PRIORITY, 0xff, 1, &prio(3, 1))),
        Frame::Priority(_)
    ));
    assert!(matches!(
        decode_one(&raw(GOAWAY, 0xff, 0, &[0; 8])),
        Frame::GoAway(_)
    ));
    // HEADERS without PADDED/PRIORITY but with the undefined bits set.
    let Frame::Headers(h) = decode_one(&raw(HEADERS, 0xd2 | END_HEADERS, 1, b"\x82")) else {
        panic!()
    };
    assert!(h.end_headers && !h.end_stream && h.priority.is_none() && h.pad_length.is_none());
}

#[test]
fn unknown_types_and_settings_are_kept() {
    let Frame::Unknown(u) = decode_one(&raw(0xfb, 0xa5, 0x8000_0007, b"ext")) else {
        panic!()
    };
    assert_eq!(
        (u.frame_type, u.flags, u.stream_id, &u.payload[..]),
        (0xfb, 0xa5, sid(7), &b"ext"[..])
    );
    let Frame::Settings(s) = decode_one(&raw(
        SETTINGS,
        0,
        0,
        &cat(&[&setting(0x8, 1), &setting(0xffff, u32::MAX)]),
    )) else {
        panic!()
    };
    assert_eq!(s.len(), 2);
    assert_eq!(
        s.iter().collect::<Vec<_>>(),
        [
            Setting::Unknown { id: 0x8, value: 1 },
            Setting::Unknown {
                id: 0xffff,
                value: u32::MAX
            }
        ]
    );
}

#[test]
fn boundary_values_are_accepted() {
    let Frame::Settings(s) = decode_one(&raw(
        SETTINGS,
        0,
        0,
        &cat(&[
            &setting(2, 0),
            &setting(2, 1),
            &setting(4, (1 << 31) - 1),
            &setting(5, 1 << 14),
            &setting(5, (1 << 24) - 1),
            &setting(1, u32::MAX),
        ]),
    )) else {
        panic!()
    };
    assert_eq!(s.len(), 6);
    assert_eq!(
        s.iter().nth(2),
        Some(Setting::InitialWindowSize((1 << 31) - 1))
    );
    // Padding that leaves zero octets of data or fragment is valid.
    assert!(
        matches!(decode_one(&raw(DATA, PADDED, 1, &[2, 0, 0])), Frame::Data(d) if d.data.is_empty())
    );
    assert!(
        matches!(decode_one(&raw(HEADERS, PADDED | END_HEADERS, 1, &[1, 0])), Frame::Headers(h) if h.field_block_fragment.is_empty())
    );
    // Dependency on stream 0 and on other streams is fine.
    assert!(matches!(
        decode_one(&raw(PRIORITY, 0, 1, &prio(0, 0))),
        Frame::Priority(_)
    ));
    // Largest increment.
    assert!(
        matches!(decode_one(&raw(WINDOW_UPDATE, 0, 0, &[0x7f, 0xff, 0xff, 0xff])), Frame::WindowUpdate(w) if w.window_size_increment == (1 << 31) - 1)
    );
}

#[test]
fn unknown_error_codes_survive() {
    let Frame::RstStream(r) = decode_one(&raw(RST_STREAM, 0, 1, &[0xde, 0xad, 0xbe, 0xef])) else {
        panic!()
    };
    assert_eq!(r.error_code.code(), 0xdead_beef);
    assert_eq!(r.error_code.to_string(), "0xdeadbeef");
    let mut out = BytesMut::new();
    r.encode(&mut out, 16_384).unwrap();
    assert_eq!(&out[9..], &[0xde, 0xad, 0xbe, 0xef]);
}
