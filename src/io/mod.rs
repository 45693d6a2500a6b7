//! I/O adapters: the only place in the crate with sockets, threads and the
//! system clock.
//!
//! The adapters drive a [`Connection`](crate::proto::Connection) over a real
//! transport. Their HTTP servers and clients speak the `http` crate's
//! messages, converted and governed by [`crate::message`]: whole messages
//! are `http::Request<Bytes>` / `http::Response<Bytes>` (trailers in the
//! extensions as [`message::Trailers`](crate::message::Trailers)); the
//! tokio adapter also streams bodies (`http::Request<tokio::RecvBody>`,
//! `http::Response<tokio::Body>`). [`Error`] is what can go wrong with one
//! exchange.
//!
//! [`blocking`] is the `std::net` adapter: a threaded [`blocking::Server`]
//! and a [`blocking::Client`] speaking HTTP/2 over cleartext TCP with prior
//! knowledge (h2c, RFC 9113 §3.3); `tokio` (feature `tokio`) the async one.

pub mod blocking;
mod date;
mod grpc_error;
mod sans_io;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;

use crate::frame::Reason;
use crate::proto::{ConnectionError, Initiator, ResetCause, UserError};

/// Where a server's connection comes from. The tokio server puts it in
/// every request's extensions when `ServerConfig::connection_info` is on
/// (the blocking server always does): an axum handler takes it as
/// `Extension<ConnectionInfo>`, a tonic one reads
/// `request.extensions().get::<ConnectionInfo>()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The client's address.
    pub remote_addr: std::net::SocketAddr,
    /// Our address, the one the client connected to.
    pub local_addr: std::net::SocketAddr,
    /// Whether the connection runs over TLS.
    pub tls: bool,
}

/// One connection as a server sees it: the core's queues, windows and
/// counters, and what the application side holds against the connection's
/// memory budget. The "why is this connection using memory" view, per
/// connection (`ServerHandle::connections` on either adapter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConnectionSnapshot {
    /// The core's figures (as of the connection's last turn on the
    /// blocking adapter).
    pub core: crate::proto::ConnectionStats,
    /// What the adapter and the handlers hold on the connection's behalf.
    pub memory: crate::proto::BudgetStats,
}

/// A snapshot of a server, summed over its connections
/// (`ServerHandle::stats` on either adapter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Open connections.
    pub connections: usize,
    /// Streams alive in the connections' cores, summed (tokio adapter; the
    /// blocking one reports 0).
    pub live_streams: usize,
    /// Streams the adapter still tracks for a handle, summed (tokio
    /// adapter; the blocking one reports 0).
    pub tracked_streams: usize,
    /// DATA bytes queued to send in the cores, summed.
    pub queued_data: usize,
    /// Received DATA bytes not yet given back to the peers (held by the
    /// cores' queues or by the application), summed.
    pub recv_unreleased: usize,
    /// Bytes counted in the connections' memory budgets, summed.
    pub budget_held: usize,
    /// The most any one connection's budget ever counted.
    pub budget_peak: usize,
}

impl ServerStats {
    /// Counts one more connection with its core's and budget's figures.
    pub(crate) fn add_connection(
        &mut self,
        core: &crate::proto::ConnectionStats,
        budget: &crate::proto::BudgetStats,
    ) {
        self.connections += 1;
        self.queued_data += core.queued_data;
        self.recv_unreleased += core.recv_unreleased as usize;
        self.budget_held += budget.held;
        self.budget_peak = self.budget_peak.max(budget.peak);
    }
}

pub(crate) use crate::proto::DIRECTED_INITIAL_WINDOW;

/// A server's TLS configuration, if it serves TLS (either adapter: the
/// handshake differs, the setting does not).
#[cfg(feature = "tls")]
pub(crate) type Acceptor = Option<std::sync::Arc<rustls::ServerConfig>>;
/// Without the `tls` feature a server serves TCP only.
#[cfg(not(feature = "tls"))]
pub(crate) type Acceptor = Option<NoTls>;

/// No TLS configuration can exist without the `tls` feature.
#[cfg(not(feature = "tls"))]
#[derive(Clone, Debug)]
pub(crate) struct NoTls(std::convert::Infallible);

/// Directed credit for a server's configuration: lowers the advertised
/// initial window to [`DIRECTED_INITIAL_WINDOW`] and the connection window to
/// the RFC's 65,535 until the peer has acknowledged that (so what it can
/// park before our SETTINGS apply is 65,535 bytes in all, not 65,535 per
/// stream). Returns the configured (stream, connection) windows: what a read
/// stream gets, and the connection window once the SETTINGS are in force.
pub(crate) fn direct_windows(h2: &mut crate::proto::Config) -> (u32, u32) {
    let full = (h2.initial_window_size, h2.connection_window_size);
    h2.initial_window_size = full.0.min(DIRECTED_INITIAL_WINDOW);
    h2.connection_window_size = full.1.min(crate::proto::flow::DEFAULT_WINDOW);
    full
}

/// The connection window that keeps credit available for the stream that
/// must finish: the configured window plus what streams waiting their
/// turn hold unreleased (each at most its small window), so parked bytes
/// never use up the window of the one being read.
pub(crate) fn lent_connection_window(base: u32, parked: usize) -> u32 {
    let parked = u32::try_from(parked).unwrap_or(u32::MAX);
    base.saturating_add(parked)
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The connection ended with an error before the exchange finished.
    #[error("connection error: {0}")]
    Connection(#[from] ConnectionError),
    /// The connection closed cleanly (or was shut down) before the exchange finished.
    #[error("connection closed")]
    Closed,
    /// The peer reset the stream with this code: its RST_STREAM, or
    /// REFUSED_STREAM for a stream above the last stream id of its GOAWAY.
    /// REFUSED_STREAM from the peer means it did no work on the request
    /// (RFC 9113 §8.7; see [`is_unprocessed`](Error::is_unprocessed)).
    #[error("stream reset by the peer with {0}")]
    PeerReset(Reason),
    /// This side reset the stream, with `reason` on the wire, because of
    /// `why` (e.g. the response's header list exceeded our limit, or the
    /// response was malformed). The peer may have processed the request:
    /// it is never sent again, whatever the code.
    #[error("stream reset locally with {reason}: {why}")]
    LocalReset {
        /// The RST_STREAM code we sent.
        reason: Reason,
        /// Why.
        why: ResetCause,
    },
    /// The connection refused the request as given (malformed headers, ...).
    #[error("request refused locally: {0}")]
    User(#[from] UserError),
    /// The request could not be built (`http` refused a part of it: a URI,
    /// a header name or value).
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] http::Error),
    /// The body was larger than the configured maximum.
    #[error("body larger than the configured maximum")]
    BodyTooLarge,
    /// No answer within the configured time; the stream was cancelled.
    #[error("timed out")]
    Timeout,
}

impl Error {
    /// True when the peer said it did no work on the request: a
    /// REFUSED_STREAM from the peer, or a stream above the last stream id of
    /// its GOAWAY (RFC 9113 §8.7). Only then may a request, even a
    /// non-idempotent one, be sent again; the clients do so themselves a
    /// few times. A reset of our own never qualifies.
    pub fn is_unprocessed(&self) -> bool {
        matches!(self, Error::PeerReset(Reason::REFUSED_STREAM))
    }

    /// True when the request never left this client: its connection had
    /// stopped taking new streams (a GOAWAY either way, or its end) or had
    /// used up its stream ids before the request's HEADERS could go. Like
    /// [`is_unprocessed`](Self::is_unprocessed), it may go on another
    /// connection; the connection pools do so.
    pub fn is_not_sent(&self) -> bool {
        matches!(
            self,
            Error::User(UserError::NotAccepting | UserError::StreamIdsExhausted)
        )
    }
}

/// The error for a stream reset the core reported, keeping who reset it.
pub(crate) fn reset_error(reason: Reason, initiator: Initiator, why: Option<ResetCause>) -> Error {
    match initiator {
        Initiator::Local => Error::LocalReset {
            reason,
            why: why.unwrap_or(ResetCause::PeerError),
        },
        Initiator::Remote => Error::PeerReset(reason),
    }
}
