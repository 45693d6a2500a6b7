//! The writer's ordering, fairness, flow-control and buffering rules.

use super::*;
use crate::frame::{Decoder, Frame, Ping, Reason, RstStream};

const LIMITS: SendLimits = SendLimits {
    stream_buffer: 1 << 20,
    connection_buffer: 4 << 20,
};

fn id(n: u32) -> StreamId {
    StreamId::new(n)
}

/// Opens a stream per id, its HEADERS (`fields`) queued.
fn open(w: &mut Loopy, ids: &[u32], fields: Vec<HeaderField>) {
    for &n in ids {
        w.open_stream(id(n));
        w.control().push(ControlItem::Headers {
            stream_id: id(n),
            fields: fields.clone(),
            end_stream: false,
        });
    }
}

/// Caps small enough that a few streams fill the connection's.
const SMALL_LIMITS: SendLimits = SendLimits {
    stream_buffer: 1000,
    connection_buffer: 1500,
};

/// A writer with one established stream per id, windows as given.
fn writer(ids: &[u32], window: u32) -> Loopy {
    let mut w = Loopy::new(LIMITS, 4096);
    w.set_initial_window(window).unwrap();
    if window > 65_535 {
        w.window_update(StreamId::ZERO, window - 65_535).unwrap();
    }
    open(&mut w, ids, vec![HeaderField::new(":status", "200")]);
    let mut sink = BytesMut::new();
    w.poll_transmit(&mut sink, usize::MAX);
    w.drain_written().for_each(drop);
    w
}

fn frames(mut bytes: BytesMut) -> Vec<Frame> {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    while let Some(f) = d.decode(&mut bytes).expect("writer output decodes") {
        out.push(f);
    }
    assert!(bytes.is_empty(), "trailing partial frame");
    out
}

fn transmit(w: &mut Loopy, max: usize) -> Vec<Frame> {
    let mut out = BytesMut::new();
    let n = w.poll_transmit(&mut out, max);
    assert_eq!(n, out.len());
    assert!(n <= max);
    frames(out)
}

/// (stream, payload length, end_stream) of each DATA frame.
fn data_frames(frames: &[Frame]) -> Vec<(u32, usize, bool)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Data(d) => Some((d.stream_id.value(), d.data.len(), d.end_stream)),
            _ => None,
        })
        .collect()
}

#[test]
fn control_frames_go_before_data() {
    let mut w = writer(&[1], 1 << 20);
    w.push_data(id(1), Bytes::from(vec![7; 1000]), false)
        .unwrap();
    w.control().push(ControlItem::Ping(Ping::new([9; 8])));
    w.control()
        .push_response(ControlItem::Reset(RstStream::new(id(3), Reason::CANCEL)));
    let out = transmit(&mut w, usize::MAX);
    assert!(matches!(out[0], Frame::Ping(_)));
    assert!(matches!(out[1], Frame::RstStream(_)));
    assert_eq!(data_frames(&out[2..]), [(1, 1000, false)]);
}

#[test]
fn data_is_round_robin_one_frame_per_stream_per_turn() {
    let mut w = writer(&[1, 3, 5], 1 << 20);
    for n in [1, 3, 5] {
        w.push_data(id(n), Bytes::from(vec![0; 40_000]), true)
            .unwrap();
    }
    let out = transmit(&mut w, usize::MAX);
    let order: Vec<u32> = data_frames(&out).iter().map(|f| f.0).collect();
    assert_eq!(order, [1, 3, 5, 1, 3, 5, 1, 3, 5]);
    // 16384 + 16384 + 7232, END_STREAM on the last of each stream.
    let ones: Vec<_> = data_frames(&out).into_iter().filter(|f| f.0 == 1).collect();
    assert_eq!(
        ones,
        [(1, 16_384, false), (1, 16_384, false), (1, 7_232, true)]
    );
    let ends: Vec<_> = w.drain_written().collect();
    assert_eq!(ends.len(), 3);
    assert_eq!(w.stream_count(), 3, "ended streams keep their window");
    assert_eq!(w.queued_data(), 0);
    for n in [1, 3, 5] {
        // Half-closed (local): a WINDOW_UPDATE still counts, and overflows.
        assert_eq!(w.window_update(id(n), 1), Ok(()));
        assert!(w.window_update(id(n), (1 << 31) - 1).is_err());
        w.close_stream(id(n));
    }
    assert_eq!(w.stream_count(), 0, "closed streams are forgotten");
    assert!(!w.wants_write());
}

#[test]
fn a_stream_out_of_window_does_not_block_the_others() {
    let mut w = writer(&[1, 3], 65_535);
    w.push_data(id(1), Bytes::from(vec![0; 100_000]), false)
        .unwrap();
    w.push_data(id(3), Bytes::from(vec![0; 10]), true).unwrap();
    let mut out = transmit(&mut w, usize::MAX);
    // The connection window (65,535) is shared: stream 3 still gets its turn.
    assert!(data_frames(&out).contains(&(3, 10, true)));
    let sent: usize = data_frames(&out).iter().map(|f| f.1).sum();
    assert_eq!(sent, 65_535);
    assert_eq!(w.connection_window(), 0);
    assert!(!w.wants_write());
    // Stream window credit alone is not enough; the connection's is needed too.
    w.window_update(id(1), 1_000).unwrap();
    assert!(transmit(&mut w, usize::MAX).is_empty());
    w.window_update(StreamId::ZERO, 500).unwrap();
    out = transmit(&mut w, usize::MAX);
    assert_eq!(data_frames(&out), [(1, 500, false)]);
}

#[test]
fn trailers_follow_the_last_data() {
    let mut w = writer(&[1], 1 << 20);
    w.push_data(id(1), Bytes::from(vec![1; 20_000]), false)
        .unwrap();
    w.push_trailers(id(1), vec![HeaderField::new("grpc-status", "0")])
        .unwrap();
    assert_eq!(
        w.push_data(id(1), Bytes::from_static(b"x"), false),
        Err(SendError::AlreadyEnded)
    );
    let out = transmit(&mut w, usize::MAX);
    assert_eq!(data_frames(&out), [(1, 16_384, false), (1, 3_616, false)]);
    match out.last() {
        Some(Frame::Headers(h)) => assert!(h.end_stream && h.end_headers),
        other => panic!("expected trailers last, got {other:?}"),
    }
    let written: Vec<_> = w.drain_written().collect();
    assert_eq!(
        written,
        [Written::Headers {
            stream_id: id(1),
            end_stream: true
        }]
    );
}

#[test]
fn end_stream_without_data_needs_no_window() {
    let mut w = writer(&[1], 0);
    w.push_data(id(1), Bytes::new(), true).unwrap();
    assert_eq!(data_frames(&transmit(&mut w, usize::MAX)), [(1, 0, true)]);
}

#[test]
fn nothing_is_sent_before_the_stream_headers() {
    let mut w = Loopy::new(LIMITS, 4096);
    w.open_stream(id(1));
    w.push_data(id(1), Bytes::from_static(b"early"), true)
        .unwrap();
    assert!(transmit(&mut w, usize::MAX).is_empty());
    w.control().push(ControlItem::Headers {
        stream_id: id(1),
        fields: vec![],
        end_stream: false,
    });
    let out = transmit(&mut w, usize::MAX);
    assert!(matches!(out[0], Frame::Headers(_)));
    assert_eq!(data_frames(&out), [(1, 5, true)]);
}

#[test]
fn queues_are_capped_and_writable_follows_when_room_frees() {
    let mut w = Loopy::new(SMALL_LIMITS, 4096);
    // No stream window: the connection-wide cap applies to everything.
    w.set_initial_window(0).unwrap();
    open(&mut w, &[1, 3], vec![]);
    assert_eq!(
        w.push_data(id(1), Bytes::from(vec![0; 5000]), true),
        Ok(1000)
    );
    assert_eq!(
        w.push_data(id(3), Bytes::from(vec![0; 5000]), false),
        Ok(500)
    );
    assert_eq!(w.queued_data(), 1500);
    assert_eq!(w.push_data(id(3), Bytes::from(vec![0; 1]), false), Ok(0));
    w.window_update(id(1), 65_535).unwrap();
    w.window_update(id(3), 65_535).unwrap();
    transmit(&mut w, usize::MAX);
    let writable: Vec<_> = w
        .drain_written()
        .filter(|e| matches!(e, Written::Writable { .. }))
        .collect();
    assert_eq!(writable.len(), 2);
    for n in [1, 3] {
        assert!(writable.contains(&Written::Writable { stream_id: id(n) }));
    }
    // END_STREAM was refused with the partial write, so the stream is still open.
    assert!(w.has_stream(id(1)));
}

#[test]
fn output_respects_max_and_resumes_mid_frame() {
    let mut w = writer(&[1, 3], 1 << 20);
    w.push_data(id(1), Bytes::from(vec![1; 30_000]), true)
        .unwrap();
    w.control()
        .push(ControlItem::GoAway(crate::frame::GoAway::new(
            id(0),
            Reason::NO_ERROR,
        )));
    w.push_data(id(3), Bytes::from(vec![3; 30_000]), true)
        .unwrap();
    let mut all = BytesMut::new();
    let mut calls = 0;
    loop {
        let mut out = BytesMut::new();
        let n = w.poll_transmit(&mut out, 7);
        assert!(n <= 7);
        if n == 0 {
            break;
        }
        all.extend_from_slice(&out);
        calls += 1;
    }
    assert!(calls > 60_000 / 7);
    let out = frames(all);
    let sent: usize = data_frames(&out).iter().map(|f| f.1).sum();
    assert_eq!(sent, 60_000);
}

#[test]
fn a_settings_reduction_makes_windows_negative_until_updates_arrive() {
    let mut w = writer(&[1], 65_535);
    w.push_data(id(1), Bytes::from(vec![0; 65_535]), false)
        .unwrap();
    transmit(&mut w, usize::MAX);
    assert_eq!(w.stream_window(id(1)), Some(0));
    w.set_initial_window(16_384).unwrap();
    assert_eq!(w.stream_window(id(1)), Some(16_384 - 65_535));
    w.window_update(StreamId::ZERO, 100_000).unwrap();
    w.push_data(id(1), Bytes::from(vec![0; 10]), false).unwrap();
    w.window_update(id(1), 49_151).unwrap();
    assert!(
        transmit(&mut w, usize::MAX).is_empty(),
        "window is exactly zero"
    );
    w.window_update(id(1), 4).unwrap();
    assert_eq!(data_frames(&transmit(&mut w, usize::MAX)), [(1, 4, false)]);
    assert_eq!(
        w.set_initial_window(crate::sched::window::MAX_WINDOW),
        Ok(())
    );
    assert_eq!(
        w.window_update(id(1), crate::sched::window::MAX_WINDOW),
        Err(WindowOverflow)
    );
}

#[test]
fn cancelling_drops_queued_data_and_unsent_control_items() {
    let mut w = Loopy::new(LIMITS, 4096);
    w.open_stream(id(1));
    w.control().push(ControlItem::Headers {
        stream_id: id(1),
        fields: vec![],
        end_stream: false,
    });
    w.control()
        .push(ControlItem::WindowUpdate(crate::frame::WindowUpdate::new(
            id(1),
            10,
        )));
    w.control()
        .push(ControlItem::WindowUpdate(crate::frame::WindowUpdate::new(
            StreamId::ZERO,
            10,
        )));
    w.push_data(id(1), Bytes::from(vec![0; 300]), false)
        .unwrap();
    assert_eq!(w.cancel_stream(id(1)), 300);
    assert_eq!(w.queued_data(), 0);
    let out = transmit(&mut w, usize::MAX);
    assert_eq!(
        out.len(),
        1,
        "only the connection WINDOW_UPDATE is left: {out:?}"
    );
}

/// A server that directs its credit (gives window to one stream and none to
/// the others) must not deadlock a client whose connection-wide send cap is
/// full of bytes parked on the streams without window.
#[test]
fn a_stream_with_window_queues_past_a_cap_filled_by_parked_streams() {
    let mut w = Loopy::new(SMALL_LIMITS, 4096);
    w.set_initial_window(0).unwrap();
    open(&mut w, &[1, 3, 5], vec![]);
    // Streams 3 and 5 park 1500 bytes: the connection cap is full.
    assert_eq!(
        w.push_data(id(3), Bytes::from(vec![3; 1000]), false),
        Ok(1000)
    );
    assert_eq!(
        w.push_data(id(5), Bytes::from(vec![5; 1000]), false),
        Ok(500)
    );
    assert_eq!(w.push_data(id(1), Bytes::from(vec![1; 1000]), false), Ok(0));
    // The peer opens stream 1 only: it is told it may write, and it can.
    w.window_update(id(1), 800).unwrap();
    transmit(&mut w, usize::MAX);
    let writable: Vec<_> = w
        .drain_written()
        .filter(|e| matches!(e, Written::Writable { .. }))
        .collect();
    assert_eq!(writable, [Written::Writable { stream_id: id(1) }]);
    assert_eq!(
        w.push_data(id(1), Bytes::from(vec![1; 1000]), false),
        Ok(800)
    );
    let sent: usize = transmit(&mut w, usize::MAX)
        .iter()
        .filter_map(|f| match f {
            Frame::Data(d) if d.stream_id == id(1) => Some(d.data.len()),
            _ => None,
        })
        .sum();
    assert_eq!(sent, 800, "stream 1's bytes went out");
    assert_eq!(w.stream_window(id(1)), Some(0));
}

/// Header blocks are encoded in place after their frame header; one larger
/// than the peer's frame size still goes out as HEADERS and CONTINUATIONs,
/// and the blocks around it stay whole.
#[test]
fn header_blocks_fit_one_frame_or_continue() {
    let mut w = Loopy::new(LIMITS, 4096);
    let big = "v".repeat(30_000);
    for (n, value) in [(1, "small"), (3, big.as_str()), (5, "after")] {
        w.open_stream(id(n));
        w.control().push(ControlItem::Headers {
            stream_id: id(n),
            fields: vec![
                HeaderField::new(":status", "200"),
                HeaderField::copy_from("x-v", value),
            ],
            end_stream: n == 5,
        });
    }
    let out = transmit(&mut w, usize::MAX);
    let mut decoder = hpack::Decoder::new(4096);
    let mut blocks: Vec<(u32, bool, Vec<u8>)> = Vec::new();
    for f in &out {
        match f {
            Frame::Headers(h) => {
                assert_eq!(h.end_headers, h.stream_id != id(3), "{h}");
                blocks.push((
                    h.stream_id.value(),
                    h.end_stream,
                    h.field_block_fragment.to_vec(),
                ));
            }
            Frame::Continuation(c) => {
                let last = blocks.last_mut().expect("CONTINUATION after HEADERS");
                assert_eq!(c.stream_id.value(), last.0);
                last.2.extend_from_slice(&c.field_block_fragment);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(out.len(), 4, "HEADERS, HEADERS + CONTINUATION, HEADERS");
    let summary: Vec<(u32, bool)> = blocks.iter().map(|b| (b.0, b.1)).collect();
    assert_eq!(summary, [(1, false), (3, false), (5, true)]);
    for (n, _, block) in blocks {
        let mut fields = Vec::new();
        decoder.decode(&Bytes::from(block), &mut fields).unwrap();
        let want = match n {
            1 => "small",
            3 => big.as_str(),
            _ => "after",
        };
        assert_eq!(fields[1].value, want.as_bytes());
    }
    let written: Vec<Written> = w.drain_written().collect();
    assert_eq!(written.len(), 3);
}
