//! Introspection: the queues, windows and counters that explain a connection's memory.

use super::stream::state::StreamState;
use crate::sched::control::{ControlKind, ControlQueue};

/// A snapshot of a connection, from [`Connection::stats`](super::Connection::stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Live streams by state.
    pub streams: StatesCount,
    /// Our requests waiting for a concurrency slot.
    pub pending_open: usize,
    /// Closed streams remembered for late frames.
    pub closed_remembered: usize,
    /// Control frames queued, by kind.
    pub control_queued: ControlCounts,
    /// The most control frames ever queued at once.
    pub control_high_water: usize,
    /// DATA bytes queued across all streams.
    pub queued_data: usize,
    /// Streams the send scheduler keeps state for (queue, window): one per
    /// stream that is not closed, since a half-closed (local) stream's send
    /// window is still checked for overflow (RFC 9113 §6.9.1).
    pub send_streams: usize,
    /// Connection send window (may be negative only for streams, never here).
    pub send_window: i64,
    /// Connection receive window: what the peer may still send.
    pub recv_window: i64,
    /// Received DATA bytes the application has not released.
    pub recv_unreleased: u32,
    /// Tokens left in the reset limiter (as of its last use).
    pub reset_tokens: u32,
    /// Tokens left in the glitch limiter (as of its last use).
    pub glitch_tokens: u32,
    /// Tokens left in the PING limiter (as of its last use).
    pub ping_tokens: u32,
    /// Tokens left in the SETTINGS limiter (as of its last use).
    pub settings_tokens: u32,
    /// What happened so far.
    pub counters: Counters,
}

/// One stream, from [`Connection::stream_stats`](super::Connection::stream_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// Its §5.1 state.
    pub state: StreamState,
    /// Its send window, from its creation until it is closed (a
    /// half-closed (local) stream keeps one: the peer may still update it).
    pub send_window: Option<i64>,
    /// DATA bytes queued on it.
    pub queued_data: usize,
    /// Its receive window.
    pub recv_window: i64,
    /// Bytes received on it and not released.
    pub recv_unreleased: u32,
}

/// Live streams by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatesCount {
    /// Idle (opened by us, HEADERS not yet on the wire).
    pub idle: usize,
    /// Reserved (local or remote).
    pub reserved: usize,
    /// Open.
    pub open: usize,
    /// Half-closed (local).
    pub half_closed_local: usize,
    /// Half-closed (remote).
    pub half_closed_remote: usize,
    /// Closed but holding received data the application has not released.
    pub closed: usize,
}

impl StatesCount {
    pub(crate) fn add(&mut self, state: StreamState) {
        let slot = match state {
            StreamState::Idle => &mut self.idle,
            StreamState::ReservedLocal | StreamState::ReservedRemote => &mut self.reserved,
            StreamState::Open => &mut self.open,
            StreamState::HalfClosedLocal => &mut self.half_closed_local,
            StreamState::HalfClosedRemote => &mut self.half_closed_remote,
            StreamState::Closed(_) => &mut self.closed,
        };
        *slot += 1;
    }

    /// All live streams.
    pub fn total(&self) -> usize {
        self.idle
            + self.reserved
            + self.open
            + self.half_closed_local
            + self.half_closed_remote
            + self.closed
    }
}

/// Control frames queued, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ControlCounts {
    /// SETTINGS (ours).
    pub settings: usize,
    /// SETTINGS ACKs we owe.
    pub settings_acks: usize,
    /// PINGs of ours.
    pub pings: usize,
    /// PING ACKs we owe.
    pub ping_acks: usize,
    /// RST_STREAM.
    pub resets: usize,
    /// WINDOW_UPDATE.
    pub window_updates: usize,
    /// GOAWAY.
    pub goaways: usize,
    /// HEADERS blocks.
    pub headers: usize,
    /// Items owed to the peer because of what it sent (ACKs, resets for its errors).
    pub responses: usize,
    /// Everything queued.
    pub total: usize,
}

impl ControlCounts {
    pub(crate) fn from_queue(q: &ControlQueue) -> Self {
        ControlCounts {
            settings: q.count(ControlKind::Settings),
            settings_acks: q.count(ControlKind::SettingsAck),
            pings: q.count(ControlKind::Ping),
            ping_acks: q.count(ControlKind::PingAck),
            resets: q.count(ControlKind::Reset),
            window_updates: q.count(ControlKind::WindowUpdate),
            goaways: q.count(ControlKind::GoAway),
            headers: q.count(ControlKind::Headers),
            responses: q.responses(),
            total: q.len(),
        }
    }
}

/// Running totals of what the connection saw and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Streams the peer opened.
    pub streams_opened_by_peer: u64,
    /// Streams we opened.
    pub streams_opened_locally: u64,
    /// Streams the peer reset.
    pub resets_received: u64,
    /// Streams we reset because the peer broke a stream-level rule.
    pub resets_sent_for_peer_errors: u64,
    /// Streams refused with REFUSED_STREAM (over our concurrency limit or after GOAWAY).
    pub streams_refused: u64,
    /// Frames ignored (on streams we reset, unknown types, PRIORITY).
    pub frames_ignored: u64,
    /// Connection errors we detected.
    pub connection_errors: u64,
    /// Glitches charged (empty DATA, PRIORITY, unknown frames, malformed or oversize header blocks).
    pub glitches: u64,
    /// Times `recv` paused at `pending_responses_high_water`.
    pub reads_paused: u64,
    /// Header lists over our limit (answered 431 or REFUSED_STREAM).
    pub oversize_header_lists: u64,
    /// Times each limit ended the connection.
    pub reset_limit_hits: u64,
    /// See `reset_limit_hits`.
    pub glitch_limit_hits: u64,
    /// See `reset_limit_hits`.
    pub pending_response_cap_hits: u64,
    /// See `reset_limit_hits`.
    pub settings_entries_limit_hits: u64,
    /// See `reset_limit_hits`.
    pub continuation_limit_hits: u64,
    /// See `reset_limit_hits`.
    pub header_block_limit_hits: u64,
    /// See `reset_limit_hits`.
    pub send_stalls: u64,
    /// Times `send_stall_timeout` passed with DATA queued only behind the
    /// peer's shut stream windows while its connection window was open:
    /// flow control the peer is entitled to, so nothing was closed.
    pub streams_held_by_peer_windows: u64,
    /// See `reset_limit_hits` (`Config::ping_rate`).
    pub ping_limit_hits: u64,
    /// See `reset_limit_hits` (`Config::settings_rate`).
    pub settings_limit_hits: u64,
    /// PINGs received from the peer (not ACKs): what a keepalive
    /// enforcement policy counts.
    pub pings_received: u64,
    /// Graceful shutdowns started by `Config::idle_timeout`.
    pub idle_timeouts: u64,
    /// Graceful shutdowns started by `Config::max_connection_age`.
    pub age_shutdowns: u64,
}
