//! Property tests of the frame codec: encode→decode round trips across random
//! chunkings of the byte stream, CONTINUATION splitting, and decoding of
//! arbitrary bytes never panicking.

use bytes::{Bytes, BytesMut};
use h2proto::frame::{
    Continuation, DEFAULT_MAX_FRAME_SIZE, Data, Decoder, Frame, GoAway, HEADER_LEN, Headers, Ping,
    Priority, PrioritySpec, PushPromise, Reason, RstStream, Setting, Settings, StreamId, Unknown,
    WindowUpdate,
};
use proptest::prelude::*;
use quickcheck::{QuickCheck, TestResult};

// ---------------------------------------------------------------- strategies

fn stream_id() -> impl Strategy<Value = StreamId> {
    (1..=StreamId::MAX.value()).prop_map(StreamId::new)
}

fn any_stream_id() -> impl Strategy<Value = StreamId> {
    any::<u32>().prop_map(StreamId::new)
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

fn reason() -> impl Strategy<Value = Reason> {
    prop_oneof![
        (0u32..=0xd).prop_map(Reason::new),
        any::<u32>().prop_map(Reason::new)
    ]
}

fn priority_spec_for(stream: StreamId) -> impl Strategy<Value = PrioritySpec> {
    (any::<bool>(), any_stream_id(), any::<u8>())
        .prop_filter("no self-dependency", move |(_, dep, _)| *dep != stream)
        .prop_map(|(exclusive, stream_dependency, weight)| PrioritySpec {
            exclusive,
            stream_dependency,
            weight,
        })
}

fn data() -> impl Strategy<Value = Frame> {
    (stream_id(), bytes(600), any::<bool>(), any::<Option<u8>>()).prop_map(
        |(stream_id, data, end_stream, pad_length)| {
            Frame::Data(Data {
                stream_id,
                data,
                end_stream,
                pad_length,
            })
        },
    )
}

fn headers(end_headers: bool) -> impl Strategy<Value = Headers> {
    stream_id().prop_flat_map(move |stream_id| {
        (
            prop::option::of(priority_spec_for(stream_id)),
            bytes(400),
            any::<bool>(),
            any::<Option<u8>>(),
        )
            .prop_map(
                move |(priority, field_block_fragment, end_stream, pad_length)| Headers {
                    stream_id,
                    priority,
                    field_block_fragment,
                    end_stream,
                    end_headers,
                    pad_length,
                },
            )
    })
}

fn push_promise(end_headers: bool) -> impl Strategy<Value = PushPromise> {
    (stream_id(), stream_id(), bytes(400), any::<Option<u8>>()).prop_map(
        move |(stream_id, promised_stream_id, field_block_fragment, pad_length)| PushPromise {
            stream_id,
            promised_stream_id,
            field_block_fragment,
            end_headers,
            pad_length,
        },
    )
}

fn priority() -> impl Strategy<Value = Frame> {
    stream_id().prop_flat_map(|stream_id| {
        priority_spec_for(stream_id)
            .prop_map(move |spec| Frame::Priority(Priority { stream_id, spec }))
    })
}

fn setting() -> impl Strategy<Value = Setting> {
    prop_oneof![
        any::<u32>().prop_map(Setting::HeaderTableSize),
        any::<bool>().prop_map(Setting::EnablePush),
        any::<u32>().prop_map(Setting::MaxConcurrentStreams),
        (0..=StreamId::MAX.value()).prop_map(Setting::InitialWindowSize),
        ((1u32 << 14)..(1 << 24)).prop_map(Setting::MaxFrameSize),
        any::<u32>().prop_map(Setting::MaxHeaderListSize),
        (7u16.., any::<u32>()).prop_map(|(id, value)| Setting::Unknown { id, value }),
    ]
}

fn settings() -> impl Strategy<Value = Frame> {
    prop_oneof![
        Just(Frame::Settings(Settings::ack())),
        prop::collection::vec(setting(), 0..20).prop_map(|entries| {
            let b = entries
                .into_iter()
                .fold(Settings::builder(), |b, s| b.push(s));
            Frame::Settings(b.build().expect("strategy yields valid settings"))
        }),
    ]
}

fn control() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (stream_id(), reason()).prop_map(|(id, r)| Frame::RstStream(RstStream::new(id, r))),
        (any::<bool>(), any::<[u8; 8]>())
            .prop_map(|(ack, opaque_data)| Frame::Ping(Ping { ack, opaque_data })),
        (any_stream_id(), reason(), bytes(200)).prop_map(|(last, code, debug)| {
            Frame::GoAway(GoAway {
                last_stream_id: last,
                error_code: code,
                additional_debug_data: debug,
            })
        }),
        (any_stream_id(), 1..=StreamId::MAX.value())
            .prop_map(|(id, inc)| Frame::WindowUpdate(WindowUpdate::new(id, inc))),
        (10u8.., any::<u8>(), any_stream_id(), bytes(200)).prop_map(
            |(frame_type, flags, stream_id, payload)| {
                Frame::Unknown(Unknown {
                    frame_type,
                    flags,
                    stream_id,
                    payload,
                })
            }
        ),
    ]
}

/// A field block: HEADERS or PUSH_PROMISE, then (if it lacks END_HEADERS) up to
/// three CONTINUATION frames on the same stream, the last one ending the block.
fn field_block() -> impl Strategy<Value = Vec<Frame>> {
    let first = prop_oneof![
        any::<bool>()
            .prop_flat_map(headers)
            .prop_map(Frame::Headers),
        any::<bool>()
            .prop_flat_map(push_promise)
            .prop_map(Frame::PushPromise),
    ];
    (first, prop::collection::vec(bytes(100), 1..=3)).prop_map(|(first, fragments)| {
        let (stream_id, open) = match &first {
            Frame::Headers(h) => (h.stream_id, !h.end_headers),
            Frame::PushPromise(p) => (p.stream_id, !p.end_headers),
            _ => unreachable!(),
        };
        let mut frames = vec![first];
        if open {
            let last = fragments.len() - 1;
            frames.extend(
                fragments
                    .into_iter()
                    .enumerate()
                    .map(|(i, field_block_fragment)| {
                        Frame::Continuation(Continuation {
                            stream_id,
                            field_block_fragment,
                            end_headers: i == last,
                        })
                    }),
            );
        }
        frames
    })
}

/// A valid frame sequence mixing every frame type.
fn sequence() -> impl Strategy<Value = Vec<Frame>> {
    let unit = prop_oneof![
        data().prop_map(|f| vec![f]),
        priority().prop_map(|f| vec![f]),
        settings().prop_map(|f| vec![f]),
        control().prop_map(|f| vec![f]),
        field_block(),
    ];
    prop::collection::vec(unit, 1..12).prop_map(|units| units.into_iter().flatten().collect())
}

// ---------------------------------------------------------------- helpers

fn encode_all(frames: &[Frame], max: u32) -> BytesMut {
    let mut wire = BytesMut::new();
    for f in frames {
        f.encode(&mut wire, max).expect("valid frame encodes");
    }
    wire
}

/// Feeds `wire` to a fresh decoder in chunks of the given sizes (cycled),
/// decoding everything available after each chunk.
fn decode_chunked(wire: &[u8], chunks: &[usize]) -> Vec<Frame> {
    let mut decoder = Decoder::new();
    let mut rx = BytesMut::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut sizes = chunks.iter().copied().cycle();
    while pos < wire.len() {
        let n = sizes.next().unwrap_or(1).max(1).min(wire.len() - pos);
        rx.extend_from_slice(&wire[pos..pos + n]);
        pos += n;
        loop {
            let before = rx.len();
            match decoder.decode(&mut rx) {
                Ok(Some(f)) => out.push(f),
                Ok(None) => {
                    assert_eq!(rx.len(), before, "Ok(None) consumed input");
                    assert!(decoder.next_frame_len(&rx) > rx.len());
                    break;
                }
                Err(e) => panic!("valid stream failed to decode: {e}"),
            }
        }
    }
    assert!(rx.is_empty(), "{} octets left over", rx.len());
    out
}

// ---------------------------------------------------------------- round trips

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_frame_type_round_trips_across_chunkings(
        frames in sequence(),
        chunks in prop::collection::vec(1usize..80, 1..16),
    ) {
        let wire = encode_all(&frames, DEFAULT_MAX_FRAME_SIZE);
        prop_assert_eq!(decode_chunked(&wire, &chunks), frames);
    }

    #[test]
    fn byte_at_a_time_round_trip(frames in sequence()) {
        let wire = encode_all(&frames, DEFAULT_MAX_FRAME_SIZE);
        prop_assert_eq!(decode_chunked(&wire, &[1]), frames);
    }

    #[test]
    fn data_head_plus_payload_plus_padding_equals_encode(frame in data()) {
        let Frame::Data(d) = &frame else { unreachable!() };
        let mut whole = BytesMut::new();
        d.encode(&mut whole, DEFAULT_MAX_FRAME_SIZE).unwrap();
        let mut parts = BytesMut::new();
        d.encode_head(&mut parts, DEFAULT_MAX_FRAME_SIZE).unwrap();
        prop_assert_eq!(parts.len(), HEADER_LEN + usize::from(d.pad_length.is_some()));
        parts.extend_from_slice(&d.data);
        d.encode_padding(&mut parts);
        prop_assert_eq!(&parts, &whole);
        prop_assert_eq!(whole.len(), HEADER_LEN + d.flow_controlled_len());
    }

    #[test]
    fn large_headers_split_into_continuation(
        mut h in headers(true),
        end_headers in any::<bool>(),
        fragment in bytes(3000),
        extra in 1u32..120,
        chunks in prop::collection::vec(1usize..200, 1..8),
    ) {
        h.end_headers = end_headers;
        h.field_block_fragment = fragment;
        let overhead = h.pad_length.map_or(0, |p| 1 + u32::from(p))
            + if h.priority.is_some() { 5 } else { 0 };
        let max = overhead + extra;
        let wire = encode_all(&[Frame::Headers(h.clone())], max);
        let frames = decode_chunked(&wire, &chunks);
        check_split(&frames, &wire, max, end_headers, &h.field_block_fragment);
        let Some(Frame::Headers(first)) = frames.first() else { panic!("HEADERS first") };
        prop_assert_eq!(first.priority, h.priority);
        prop_assert_eq!(first.pad_length, h.pad_length);
        prop_assert_eq!(first.end_stream, h.end_stream);
        // Below the fixed overhead nothing fits: an error, and nothing written.
        // (A limit of 0 is treated as 1, so start at overhead 2.)
        if overhead > 1 {
            let mut out = BytesMut::new();
            prop_assert!(Frame::Headers(h).encode(&mut out, overhead - 1).is_err());
            prop_assert!(out.is_empty());
        }
    }

    #[test]
    fn large_push_promise_splits_into_continuation(
        mut p in push_promise(true),
        fragment in bytes(3000),
        extra in 1u32..120,
    ) {
        p.field_block_fragment = fragment;
        let max = p.pad_length.map_or(0, |n| 1 + u32::from(n)) + 4 + extra;
        let wire = encode_all(&[Frame::PushPromise(p.clone())], max);
        let frames = decode_chunked(&wire, &[7, 300, 1]);
        check_split(&frames, &wire, max, true, &p.field_block_fragment);
        let Some(Frame::PushPromise(first)) = frames.first() else { panic!("PUSH_PROMISE first") };
        prop_assert_eq!(first.promised_stream_id, p.promised_stream_id);
        prop_assert_eq!(first.pad_length, p.pad_length);
    }
}

/// Checks a split field block: one leading frame and CONTINUATIONs on the same
/// stream, every frame within `max`, END_HEADERS exactly on the last frame if
/// the block ends, and the fragments concatenating to the original.
fn check_split(frames: &[Frame], wire: &[u8], max: u32, end_headers: bool, fragment: &[u8]) {
    let mut joined = Vec::new();
    let mut ends = Vec::new();
    let stream = frames[0].stream_id();
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.stream_id(), stream);
        match f {
            Frame::Headers(h) if i == 0 => {
                joined.extend_from_slice(&h.field_block_fragment);
                ends.push(h.end_headers);
            }
            Frame::PushPromise(p) if i == 0 => {
                joined.extend_from_slice(&p.field_block_fragment);
                ends.push(p.end_headers);
            }
            Frame::Continuation(c) if i > 0 => {
                assert!(c.field_block_fragment.len() <= max as usize);
                joined.extend_from_slice(&c.field_block_fragment);
                ends.push(c.end_headers);
            }
            other => panic!("unexpected frame {other} at {i}"),
        }
    }
    assert_eq!(joined, fragment);
    let last = ends.len() - 1;
    for (i, e) in ends.iter().enumerate() {
        assert_eq!(
            *e,
            end_headers && i == last,
            "END_HEADERS on frame {i} of {}",
            ends.len()
        );
    }
    // Every frame header on the wire declares a length within `max`.
    let mut pos = 0;
    while pos < wire.len() {
        let len = u32::from_be_bytes([0, wire[pos], wire[pos + 1], wire[pos + 2]]);
        assert!(len <= max, "frame of {len} > max {max}");
        pos += HEADER_LEN + len as usize;
    }
    if fragment.is_empty() {
        assert_eq!(frames.len(), 1, "an empty block needs no CONTINUATION");
    }
}

// ---------------------------------------------------------------- never panics

/// Why [`drain`] stopped.
#[derive(Debug, PartialEq)]
enum Stop {
    /// What is left is less than one whole frame.
    Incomplete,
    /// A connection error: decoding must not go on.
    ConnectionError,
}

/// Decodes until the input runs out or a connection error; checks the
/// decoder's contract on the way. Panics (failing the property) on a breach.
fn drain(decoder: &mut Decoder, buf: &mut BytesMut) -> Stop {
    loop {
        let before = buf.len();
        match decoder.decode(buf) {
            Ok(Some(_)) => assert!(
                buf.len() + HEADER_LEN <= before,
                "a frame consumes its header"
            ),
            Ok(None) => {
                assert_eq!(buf.len(), before);
                return Stop::Incomplete;
            }
            Err(e) if e.is_connection_error() => return Stop::ConnectionError,
            Err(e) => {
                assert!(
                    buf.len() < before,
                    "stream error {e} did not consume the frame"
                );
            }
        }
    }
}

/// Whether `buf` holds less than the whole frame its header declares (what
/// `Ok(None)` claims).
fn is_partial_frame(buf: &[u8]) -> bool {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return true;
    };
    let declared = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    buf.len() < HEADER_LEN + declared
}

/// What a drained buffer must look like: a connection error, or only part
/// of a frame left.
fn drained_correctly(stop: Stop, buf: &BytesMut) -> bool {
    stop == Stop::ConnectionError || is_partial_frame(buf)
}

#[test]
fn quickcheck_arbitrary_bytes_never_panic() {
    fn prop(data: Vec<u8>) -> bool {
        let mut buf = BytesMut::from(&data[..]);
        let stop = drain(&mut Decoder::new(), &mut buf);
        drained_correctly(stop, &buf)
    }
    QuickCheck::new()
        .tests(5000)
        .quickcheck(prop as fn(Vec<u8>) -> bool);
}

#[test]
fn quickcheck_arbitrary_payload_after_valid_header_never_panics() {
    // A well-formed 9-octet header of any type, flags and stream, declaring the
    // true payload length (or a random one), followed by arbitrary octets,
    // then a valid PING: unless the first frame is a connection error, the
    // decoder must get past it and through the PING.
    fn prop(ty: u8, flags: u8, stream: u32, payload: Vec<u8>, lie: Option<u16>) -> TestResult {
        let len = lie.map_or(payload.len(), usize::from);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
        buf.extend_from_slice(&[ty % 12, flags]);
        buf.extend_from_slice(&stream.to_be_bytes());
        buf.extend_from_slice(&payload);
        let mut decoder = Decoder::new();
        let first = decoder.decode(&mut buf.clone());
        if let Ok(Some(f)) = &first {
            // Whatever decodes must re-encode.
            let mut out = BytesMut::new();
            if let Err(e) = f.encode(&mut out, DEFAULT_MAX_FRAME_SIZE) {
                return TestResult::error(format!("{f} failed to re-encode: {e}"));
            }
        }
        h2proto::frame::Ping::new([7; 8])
            .encode(&mut buf, DEFAULT_MAX_FRAME_SIZE)
            .unwrap();
        let stop = drain(&mut Decoder::new(), &mut buf);
        TestResult::from_bool(drained_correctly(stop, &buf))
    }
    QuickCheck::new()
        .tests(5000)
        .quickcheck(prop as fn(u8, u8, u32, Vec<u8>, Option<u16>) -> TestResult);
}

#[test]
fn quickcheck_bytes_inside_open_field_block_never_panic() {
    fn prop(data: Vec<u8>) -> bool {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::new();
        Headers::new(StreamId::new(1), Bytes::from_static(b"\x82"), false, false)
            .encode(&mut buf, DEFAULT_MAX_FRAME_SIZE)
            .unwrap();
        assert!(matches!(
            decoder.decode(&mut buf),
            Ok(Some(Frame::Headers(_)))
        ));
        assert_eq!(decoder.expecting_continuation(), Some(StreamId::new(1)));
        buf.extend_from_slice(&data);
        let stop = drain(&mut decoder, &mut buf);
        drained_correctly(stop, &buf)
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop as fn(Vec<u8>) -> bool);
}
