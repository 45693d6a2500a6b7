//! Shared by `connection_server` and `connection_client`: a real connection
//! after a valid preface and SETTINGS exchange, fed arbitrary bytes (raw, or
//! shaped as frames) interleaved with arbitrary local commands, with the
//! stats caps checked after every step.

use std::time::Duration;

use arbitrary::{Result, Unstructured};
use bytes::{Bytes, BytesMut};
use h2proto::frame::{self, Reason, StreamId};
use h2proto::hpack::HeaderField;
use h2proto::internal::MAX_WINDOW;
use h2proto::proto::{Config, Event, Rate, Role, SettingsUpdate};
use h2proto::testing::{ScriptedPeer, request, status};

fn config(u: &mut Unstructured, role: Role) -> Result<Config> {
    let mut c = Config::new(role);
    if u.arbitrary()? {
        c.initial_window_size = u.int_in_range(0..=200_000)?;
        c.connection_window_size = u.int_in_range(0..=400_000)?;
        c.max_send_buffer_per_stream = u.int_in_range(1..=70_000)?;
        c.max_send_buffer_per_connection = u.int_in_range(1..=200_000)?;
        c.max_concurrent_streams = u.int_in_range(0..=8)?;
        c.max_closed_streams = u.int_in_range(0..=16)?;
        c.max_pending_open_streams = u.int_in_range(0..=8)?;
        c.pending_responses_high_water = u.int_in_range(1..=8)?;
        c.max_pending_responses = u.int_in_range(c.pending_responses_high_water..=16)?;
        c.max_header_list_size = u.int_in_range(0..=4096)?;
        c.max_continuation_frames = u.int_in_range(0..=4)?;
        c.max_header_block_size = u.int_in_range(0..=8192)?;
        c.ping_rate = Rate {
            burst: u.int_in_range(0..=8)?,
            per_second: u.int_in_range(0..=4)?,
        };
        // At least the handshake's SETTINGS.
        c.settings_rate = Rate {
            burst: u.int_in_range(1..=8)?,
            per_second: u.int_in_range(0..=4)?,
        };
    }
    Ok(c)
}

fn stream_id(u: &mut Unstructured) -> Result<StreamId> {
    Ok(StreamId::new(u32::from(u.int_in_range(0u8..=12)?)))
}

fn check(peer: &ScriptedPeer, max_concurrent: u32) {
    let conn = &peer.conn;
    let st = conn.stats();
    let cfg = conn.config();
    // The connection cap gives way only to what a stream's window lets out.
    assert!(
        st.queued_data
            <= cfg.max_send_buffer_per_connection
                + st.send_streams * cfg.max_send_buffer_per_stream
    );
    assert!(st.closed_remembered <= cfg.max_closed_streams);
    assert!(st.pending_open <= cfg.max_pending_open_streams);
    assert!(st.control_queued.responses <= cfg.max_pending_responses);
    assert!(st.recv_window <= i64::from(MAX_WINDOW));
    assert!(st.send_window <= i64::from(MAX_WINDOW));
    assert_eq!(st.streams.total(), conn.live_streams());
    if conn.role() == Role::Server {
        let active = st.streams.open + st.streams.half_closed_remote + st.streams.half_closed_local;
        assert!(active <= max_concurrent as usize);
    }
    for id in 0..16 {
        if let Some(s) = conn.stream_stats(StreamId::new(id)) {
            assert!(s.queued_data <= cfg.max_send_buffer_per_stream);
            assert!(s.recv_window <= i64::from(MAX_WINDOW));
            assert!(s.send_window.is_none_or(|w| w <= i64::from(MAX_WINDOW)));
        }
    }
}

/// Runs one input against a connection of `role`.
pub fn run(data: &[u8], role: Role) {
    let mut u = Unstructured::new(data);
    let Ok(cfg) = config(&mut u, role) else {
        return;
    };
    let mut max_concurrent = cfg.max_concurrent_streams;
    let mut peer = match role {
        Role::Server => ScriptedPeer::server(cfg, std::time::Instant::now()),
        Role::Client => ScriptedPeer::client(cfg, std::time::Instant::now()),
    };
    check(&peer, max_concurrent);
    let mut seen: Vec<StreamId> = Vec::new();
    while !u.is_empty() {
        if step(&mut u, &mut peer, &mut seen, &mut max_concurrent).is_err() {
            break;
        }
        for e in peer.take_events() {
            if let Event::Headers { stream_id, .. } | Event::Data { stream_id, .. } = e
                && !seen.contains(&stream_id)
                && seen.len() < 64
            {
                seen.push(stream_id);
            }
        }
        check(&peer, max_concurrent);
    }
}

fn pick(u: &mut Unstructured, seen: &[StreamId]) -> Result<StreamId> {
    if !seen.is_empty() && u.arbitrary()? {
        Ok(*u.choose(seen)?)
    } else {
        stream_id(u)
    }
}

fn step(
    u: &mut Unstructured,
    peer: &mut ScriptedPeer,
    seen: &mut Vec<StreamId>,
    max_concurrent: &mut u32,
) -> Result<()> {
    let now = peer.now;
    match u.int_in_range(0u8..=15)? {
        // Raw bytes.
        0..=2 => {
            let n = u.int_in_range(0..=64)?;
            let bytes = u.bytes(n)?;
            peer.send_bytes(bytes);
        }
        // A frame header with a plausible type and length, then payload.
        3..=5 => {
            let kind = u.int_in_range(0u8..=10)?;
            let flags: u8 = u.arbitrary()?;
            let id = stream_id(u)?;
            let n = u.int_in_range(0..=48)?;
            let payload = u.bytes(n)?;
            let mut out = BytesMut::new();
            frame::Head {
                length: payload.len() as u32,
                frame_type: frame::FrameType::from(kind),
                flags,
                stream_id: id,
            }
            .encode(&mut out);
            out.extend_from_slice(payload);
            peer.send_bytes(&out);
        }
        // A well-formed header block.
        6 => {
            let id = stream_id(u)?.value() | 1;
            let end: bool = u.arbitrary()?;
            let fields = match u.int_in_range(0u8..=2)? {
                0 => request("POST", "/"),
                1 => status(200),
                _ => vec![HeaderField::new("x-t", "1")],
            };
            peer.headers(id, &fields, end);
        }
        // Local commands.
        7 => {
            let end = u.arbitrary()?;
            let _ = peer.conn.send_request(request("POST", "/"), end);
        }
        8 => {
            let id = pick(u, seen)?;
            let end = u.arbitrary()?;
            let _ = peer.conn.send_response(id, status(200), end);
        }
        9 => {
            let id = pick(u, seen)?;
            let n = u.int_in_range(0..=100_000)?;
            let end = u.arbitrary()?;
            let _ = peer.conn.send_data(id, Bytes::from(vec![0u8; n]), end);
        }
        10 => {
            let id = pick(u, seen)?;
            if u.arbitrary()? {
                let _ = peer
                    .conn
                    .send_trailers(id, vec![HeaderField::new("x-t", "1")]);
            } else {
                let _ = peer.conn.reset(id, Reason::from(u.int_in_range(0..=13)?));
            }
        }
        11 => {
            let id = pick(u, seen)?;
            let n = u.int_in_range(0..=100_000)?;
            let _ = peer.conn.release_capacity(id, n);
        }
        12 => match u.int_in_range(0u8..=4)? {
            0 => {
                let _ = peer.conn.ping(now);
            }
            1 => {
                let mut s = SettingsUpdate::new();
                if u.arbitrary()? {
                    s = s.initial_window_size(u.int_in_range(0..=MAX_WINDOW)?);
                }
                if u.arbitrary()? {
                    let n = u.int_in_range(0..=8)?;
                    *max_concurrent = (*max_concurrent).max(n);
                    s = s.max_concurrent_streams(n);
                }
                if u.arbitrary()? {
                    s = s.header_table_size(u.int_in_range(0..=8192)?);
                }
                let _ = peer.conn.update_settings(s, now);
            }
            2 => peer
                .conn
                .set_connection_window_size(u.int_in_range(0..=MAX_WINDOW)?),
            3 => peer.conn.shutdown(now),
            _ => peer.conn.close(Reason::from(u.int_in_range(0..=13)?)),
        },
        13 => peer.advance(Duration::from_millis(u.int_in_range(0..=20_000)?)),
        // Read what the connection wrote (it answers, updates windows, ...).
        _ => {
            peer.read();
        }
    }
    Ok(())
}
