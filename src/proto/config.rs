//! Connection configuration: our SETTINGS and every limit, with documented defaults.

use std::time::Duration;

pub use super::limits::Rate;

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends the connection preface and opens odd-numbered streams.
    Client,
    /// Checks the preface and answers requests.
    Server,
}

/// Everything a [`Connection`](super::Connection) is configured with.
///
/// Start from [`Config::client`] or [`Config::server`] and change fields:
///
/// ```
/// use h2proto::proto::Config;
/// let mut config = Config::server();
/// config.max_concurrent_streams = 250;
/// config.initial_window_size = 1 << 20;
/// ```
///
/// The SETTINGS fields are what we advertise (and enforce once the peer
/// acknowledged them); the limits bound what the peer can make us hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Client or server.
    pub role: Role,

    /// SETTINGS_HEADER_TABLE_SIZE: the HPACK table the peer may use toward
    /// us. Default 4096 (the RFC's).
    pub header_table_size: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams the peer may open at once.
    /// Default 100 on a server; on a client (which refuses server push) 100 too.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: each stream's receive window. Default
    /// 256 KiB. The peer can make us hold at most this much per stream until
    /// the application releases it.
    pub initial_window_size: u32,
    /// The connection's receive window, announced with WINDOW_UPDATE after the
    /// preface. Default 1 MiB: the most received DATA the application can be
    /// holding unreleased across all streams.
    pub connection_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE: largest frame payload we accept. Default 16384.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE: largest decoded header list we accept
    /// (name + value + 32 per field). Default 64 KiB.
    pub max_header_list_size: u32,

    /// Most fields in one header list. Default 256.
    pub max_header_fields: usize,
    /// How long the peer has to acknowledge our SETTINGS before the connection
    /// ends with SETTINGS_TIMEOUT. Default 10 s.
    pub settings_timeout: Duration,
    /// DATA bytes the application may queue per stream before `send_data`
    /// takes less than offered. Default 64 KiB (grpc-go's write quota).
    pub max_send_buffer_per_stream: usize,
    /// DATA bytes queued across all streams. Default 1 MiB. A stream whose
    /// send window lets bytes out now may still queue them (up to
    /// `max_send_buffer_per_stream`) when the cap is full: bytes parked on
    /// streams the peer gives no window must not starve the stream it is
    /// waiting for (a server that directs its credit).
    pub max_send_buffer_per_connection: usize,
    /// Control frames we owe the peer (SETTINGS/PING ACKs, RST_STREAMs for its
    /// errors) at which `recv` stops consuming input and `wants_read()` turns
    /// false, until the peer reads what we owe it. Default 100 (grpc-go
    /// throttles its reader at the same depth).
    pub pending_responses_high_water: usize,
    /// Hard cap on those frames: one more ends the connection with
    /// ENHANCE_YOUR_CALM (nothing is dropped silently). With `recv` pausing at
    /// the high-water mark this is a backstop. Default 1000 (nghttp2's bound
    /// on queued ACKs).
    pub max_pending_responses: usize,
    /// Streams the peer may cancel (RST_STREAM on a stream it opened) plus
    /// streams we reset because of its errors: a token bucket on the caller's
    /// clock. Over the rate: GOAWAY ENHANCE_YOUR_CALM. Answers rapid reset
    /// (CVE-2023-44487) and peer-provoked resets (CVE-2025-8671). Default
    /// 1000 burst, 33 per second (nghttp2's).
    pub reset_rate: Rate,
    /// "Glitches": frames that cost us work and carry nothing (empty DATA
    /// without END_STREAM, frames on closed streams, PRIORITY, unknown frame
    /// types, malformed header blocks). Over the rate: GOAWAY
    /// ENHANCE_YOUR_CALM. Default 1000 burst, 33 per second (nghttp2's).
    pub glitch_rate: Rate,
    /// PINGs the peer may send (not ACKs): a token bucket on the caller's
    /// clock. A PING that follows DATA or HEADERS we wrote since its previous
    /// PING is free (the pattern of BDP estimators, which ping as they
    /// receive; grpc-go's enforcement forgives it the same way). Over the
    /// rate: GOAWAY ENHANCE_YOUR_CALM with debug data `too_many_pings`. This
    /// bounds a flood by a peer that does read our ACKs, which
    /// `pending_responses_high_water` cannot see. Default 100 burst, 10 per
    /// second: keepalives (seconds apart at the most eager) never come near.
    pub ping_rate: Rate,
    /// SETTINGS frames the peer may send (not ACKs), a token bucket on the
    /// caller's clock; each one costs an ACK and may touch every stream's
    /// window. Over the rate: GOAWAY ENHANCE_YOUR_CALM. Default 100 burst,
    /// 10 per second (peers send a handful per connection).
    pub settings_rate: Rate,
    /// Most entries in one SETTINGS frame. Default 32.
    pub max_settings_entries: usize,
    /// Most CONTINUATION frames in one header block (CVE-2024-27316 family).
    /// Default 32.
    pub max_continuation_frames: usize,
    /// Most bytes of one encoded header block across HEADERS and
    /// CONTINUATION. Default 4 × `max_header_list_size` (Huffman can inflate
    /// odd bytes, but not that much).
    pub max_header_block_size: usize,
    /// Queued DATA that makes no progress for this long (the peer keeps its
    /// connection window shut, trickles tiny WINDOW_UPDATEs, or its transport
    /// takes nothing) ends the connection with ENHANCE_YOUR_CALM. Not when
    /// the connection window is open and only the streams' own windows hold
    /// the DATA back: that peer reads the connection and flow-controls those
    /// streams (a paused download, a slow consumer of one gRPC stream), which
    /// RFC 9113 §5.2 allows; what they hold stays capped per stream
    /// (`max_send_buffer_per_stream`), and the check repeats a timeout later
    /// (counted in `streams_held_by_peer_windows`). `None` disables it.
    /// Default 60 s.
    pub send_stall_timeout: Option<Duration>,
    /// DATA bytes that must be written within `send_stall_timeout` to count as
    /// progress. Default 16 KiB.
    pub send_stall_min_progress: usize,
    /// Closed streams remembered, so late frames get the RFC's answer rather
    /// than a guess. Default 1000.
    pub max_closed_streams: usize,
    /// Client requests waiting for a concurrency slot. Default 1000.
    pub max_pending_open_streams: usize,
    /// PINGs of ours awaiting their ACK. Default 8.
    pub max_outstanding_pings: usize,
    /// Graceful shutdown: how long to wait for the PING that follows the first
    /// GOAWAY before sending the final one anyway. Default 5 s.
    pub shutdown_ping_timeout: Duration,
    /// Release each [`Event::Data`](super::Event::Data) as
    /// [`poll_event`](super::Connection::poll_event) hands it out, instead
    /// of waiting for [`release_capacity`](super::Connection::release_capacity).
    /// For embedders that copy data out at once; the peer may then have
    /// up to a window more in flight while the application still holds
    /// what it took. Default `false`.
    pub release_on_delivery: bool,
    /// How long a connection may carry no stream (none open, none waiting
    /// for a slot) before it ends gracefully, as
    /// [`shutdown`](super::Connection::shutdown) ends it: a server's GOAWAY
    /// lets requests already on their way in, then the connection closes.
    /// PINGs and SETTINGS do not count as activity: a peer that only keeps
    /// a connection alive still lets it go. On the caller's clock. Default
    /// 5 minutes for a server (Caddy's; nginx keeps 75 s), `None` for a
    /// client (its pool decides when an idle connection goes).
    pub idle_timeout: Option<Duration>,
    /// How old a connection may grow before it ends gracefully, however busy
    /// (grpc-go's `MaxConnectionAge`): clients behind a connection-level
    /// load balancer then reconnect and reach new backends. A server sends
    /// GOAWAY as [`shutdown`](super::Connection::shutdown) does. Unlike
    /// grpc-go, no jitter is added (the core has no randomness): give
    /// connections different ages if they all start together. Default
    /// `None`.
    pub max_connection_age: Option<Duration>,
    /// After `max_connection_age`, how long streams still open may take
    /// before the connection ends under them (GOAWAY NO_ERROR; grpc-go's
    /// `MaxConnectionAgeGrace`). `None`: they take as long as they need.
    /// Default `None`.
    pub max_connection_age_grace: Option<Duration>,
}

impl Config {
    /// Defaults for a client.
    pub fn client() -> Self {
        Config {
            role: Role::Client,
            idle_timeout: None,
            ..Self::server()
        }
    }

    /// Defaults for a server.
    pub fn server() -> Self {
        Config {
            role: Role::Server,
            header_table_size: 4096,
            max_concurrent_streams: 100,
            initial_window_size: 256 * 1024,
            connection_window_size: 1024 * 1024,
            max_frame_size: crate::frame::DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: 64 * 1024,
            max_header_fields: 256,
            settings_timeout: Duration::from_secs(10),
            max_send_buffer_per_stream: 64 * 1024,
            max_send_buffer_per_connection: 1024 * 1024,
            pending_responses_high_water: 100,
            max_pending_responses: 1000,
            reset_rate: Rate {
                burst: 1000,
                per_second: 33,
            },
            glitch_rate: Rate {
                burst: 1000,
                per_second: 33,
            },
            ping_rate: Rate {
                burst: 100,
                per_second: 10,
            },
            settings_rate: Rate {
                burst: 100,
                per_second: 10,
            },
            max_settings_entries: 32,
            max_continuation_frames: 32,
            max_header_block_size: 4 * 64 * 1024,
            send_stall_timeout: Some(Duration::from_secs(60)),
            send_stall_min_progress: 16 * 1024,
            max_closed_streams: 1000,
            max_pending_open_streams: 1000,
            max_outstanding_pings: 8,
            shutdown_ping_timeout: Duration::from_secs(5),
            release_on_delivery: false,
            idle_timeout: Some(Duration::from_secs(300)),
            max_connection_age: None,
            max_connection_age_grace: None,
        }
    }

    /// Defaults for the given role.
    pub fn new(role: Role) -> Self {
        match role {
            Role::Client => Self::client(),
            Role::Server => Self::server(),
        }
    }
}

/// Local settings to change after the handshake, with
/// [`Connection::update_settings`](super::Connection::update_settings).
/// `None` leaves a setting as it is. Each change takes effect when the peer
/// acknowledges it (RFC 9113 §6.5.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettingsUpdate {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub header_table_size: Option<u32>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE (at most 2^31-1).
    pub initial_window_size: Option<u32>,
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub max_header_list_size: Option<u32>,
}

impl SettingsUpdate {
    /// No change.
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes SETTINGS_INITIAL_WINDOW_SIZE.
    pub fn initial_window_size(mut self, value: u32) -> Self {
        self.initial_window_size = Some(value);
        self
    }

    /// Changes SETTINGS_MAX_CONCURRENT_STREAMS.
    pub fn max_concurrent_streams(mut self, value: u32) -> Self {
        self.max_concurrent_streams = Some(value);
        self
    }

    /// Changes SETTINGS_HEADER_TABLE_SIZE.
    pub fn header_table_size(mut self, value: u32) -> Self {
        self.header_table_size = Some(value);
        self
    }

    /// Changes SETTINGS_MAX_HEADER_LIST_SIZE.
    pub fn max_header_list_size(mut self, value: u32) -> Self {
        self.max_header_list_size = Some(value);
        self
    }

    /// The settings a config starts with, as an update.
    pub(crate) fn from_config(c: &Config) -> Self {
        SettingsUpdate {
            header_table_size: Some(c.header_table_size),
            max_concurrent_streams: Some(c.max_concurrent_streams),
            initial_window_size: Some(c.initial_window_size),
            max_header_list_size: Some(c.max_header_list_size),
        }
    }
}
