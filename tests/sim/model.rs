//! The simulation's vocabulary: the knobs it varies, the operations it
//! runs, and the model of what each stream carried.

use std::time::{Duration, Instant};

use bytes::Bytes;
use h2proto::proto::Config;
use h2proto::testing::Side;

/// The knobs of one endpoint's [`Config`] that the simulation varies; small
/// values make back-pressure, blocked windows and refused slots common.
#[derive(Debug, Clone, Copy)]
pub struct Knobs {
    pub initial_window: u32,
    pub connection_window: u32,
    pub stream_buffer: usize,
    pub connection_buffer: usize,
    pub max_concurrent_streams: u32,
    pub max_frame_size: u32,
    pub send_stall: bool,
}

impl Knobs {
    pub(crate) fn config(&self, mut c: Config) -> Config {
        c.initial_window_size = self.initial_window;
        c.connection_window_size = self.connection_window;
        c.max_send_buffer_per_stream = self.stream_buffer;
        c.max_send_buffer_per_connection = self.connection_buffer;
        c.max_concurrent_streams = self.max_concurrent_streams;
        c.max_frame_size = self.max_frame_size;
        c.send_stall_timeout = self.send_stall.then(|| Duration::from_secs(5));
        c
    }
}

/// One thing the application (or the network) does. `stream` is the index
/// of a stream in opening order; an index not opened (yet) makes the
/// operation a no-op, so removing an unrelated operation while shrinking
/// does not retarget the others.
#[derive(Debug, Clone)]
pub enum Op {
    /// Client: `send_request` (a body follows unless `end_stream`).
    Open { end_stream: bool },
    /// Server: `send_response` on a request it received; `informational`
    /// sends a 103 first.
    Respond {
        stream: u8,
        end_stream: bool,
        informational: bool,
    },
    /// `send_data` of `len` bytes (the model records what was taken).
    Data {
        side: Side,
        stream: u8,
        len: u32,
        end_stream: bool,
    },
    /// `send_trailers`.
    Trailers { side: Side, stream: u8 },
    /// `reset` with an error code.
    Reset { side: Side, stream: u8, code: u32 },
    /// `release_capacity`: `Some(n)` bytes, or everything held.
    Release {
        side: Side,
        stream: u8,
        amount: Option<u32>,
    },
    /// `ping`.
    Ping { side: Side },
    /// `update_settings`.
    Settings {
        side: Side,
        initial_window: Option<u32>,
        max_concurrent_streams: Option<u32>,
        header_table_size: Option<u32>,
    },
    /// `set_connection_window_size`.
    ConnectionWindow { side: Side, size: u32 },
    /// Graceful `shutdown`.
    Shutdown { side: Side },
    /// `times` pair steps with `chunk` bytes per direction per step.
    Step { chunk: usize, times: u8 },
    /// Move the virtual clock (runs due timers).
    Advance { millis: u32 },
}

impl Op {
    /// The stream index the operation names, if any.
    pub fn stream(&self) -> Option<u8> {
        match *self {
            Op::Respond { stream, .. }
            | Op::Data { stream, .. }
            | Op::Trailers { stream, .. }
            | Op::Reset { stream, .. }
            | Op::Release { stream, .. } => Some(stream),
            _ => None,
        }
    }

    /// Whether it may change every stream: settings, the connection
    /// window, shutdown, the clock.
    pub fn is_connection_wide(&self) -> bool {
        matches!(
            self,
            Op::Settings { .. }
                | Op::ConnectionWindow { .. }
                | Op::Shutdown { .. }
                | Op::Advance { .. }
        )
    }
}

/// One direction of one stream: what the sender's application had taken and
/// how it ended, what the receiver's application saw and still holds.
#[derive(Debug, Default, Clone)]
pub struct Flow {
    pub sent: u64,
    pub end: Option<End>,
    pub received: u64,
    pub received_end: Option<End>,
    /// Received and not yet released by the receiving application.
    pub held: u64,
}

/// How a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// END_STREAM on the header block.
    Headers,
    /// END_STREAM on DATA.
    Data,
    /// Trailers.
    Trailers,
}

/// The model of one stream.
#[derive(Debug, Default, Clone)]
pub struct StreamModel {
    pub id: u32,
    pub request: Flow,
    pub response: Flow,
    /// Some side reset it (or it was refused): only prefixes are checked.
    pub reset: bool,
    /// The server saw the request headers.
    pub server_has_it: bool,
    /// The server queued its final response headers.
    pub responded: bool,
    /// The client saw the final response headers.
    pub client_has_response: bool,
    /// Per side (`ix`): the connection has had state for it, and has
    /// forgotten it since (ids are never reused: it cannot come back, so
    /// `check` stops looking it up).
    pub seen: [bool; 2],
    pub gone: [bool; 2],
    /// An event or an operation concerned it since the last check.
    pub touched: bool,
}

pub(crate) fn ix(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

/// The byte at `offset` of a stream's request (`dir` 0) or response (`dir` 1)
/// body: position-dependent, so a lost, repeated or reordered byte shows.
pub fn pattern(id: u32, dir: u8, offset: u64) -> u8 {
    let x = offset
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(id) << 8 | u64::from(dir));
    (x >> 56) as u8 ^ (offset as u8)
}

pub(crate) fn body(id: u32, dir: u8, from: u64, len: u32) -> Bytes {
    (0..u64::from(len))
        .map(|i| pattern(id, dir, from + i))
        .collect::<Vec<u8>>()
        .into()
}

pub(crate) fn base_instant() -> Instant {
    // Any fixed point: only differences on the virtual clock matter.
    Instant::now()
}
