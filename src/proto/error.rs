//! Errors, grouped by who is at fault: the peer, the local application, or time.

use bytes::Bytes;

use super::validate::Malformed;
use crate::frame::{FrameError, Reason, StreamId};
use crate::hpack::DecoderError;

/// Why a connection ended with an error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer broke the protocol; we sent GOAWAY with `reason`.
    #[error("peer protocol violation ({reason}): {violation}")]
    PeerViolation {
        /// The code of the GOAWAY we sent.
        reason: Reason,
        /// What the peer did.
        violation: PeerViolation,
    },
    /// The peer sent GOAWAY with an error code.
    #[error("peer closed the connection with {reason}")]
    RemoteGoAway {
        /// Its error code.
        reason: Reason,
        /// Its debug data.
        debug_data: Bytes,
    },
    /// The application closed the connection with an error code.
    #[error("closed locally with {reason}")]
    LocalClose {
        /// The code of the GOAWAY we sent.
        reason: Reason,
    },
    /// The peer did not answer in time.
    #[error("timed out: {0}")]
    Timeout(TimeoutKind),
    /// The transport ended while streams were still open.
    #[error("connection closed by the transport with streams still open")]
    UnexpectedEof,
}

impl ConnectionError {
    /// The HTTP/2 error code associated with this error.
    pub fn reason(&self) -> Reason {
        match self {
            ConnectionError::PeerViolation { reason, .. }
            | ConnectionError::RemoteGoAway { reason, .. }
            | ConnectionError::LocalClose { reason } => *reason,
            ConnectionError::Timeout(TimeoutKind::SettingsAck) => Reason::SETTINGS_TIMEOUT,
            ConnectionError::Timeout(TimeoutKind::SendStall) => Reason::ENHANCE_YOUR_CALM,
            ConnectionError::UnexpectedEof => Reason::INTERNAL_ERROR,
        }
    }
}

/// A deadline the peer missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Our SETTINGS were not acknowledged in time (RFC 9113 §6.5.3).
    #[error("SETTINGS not acknowledged")]
    SettingsAck,
    /// Queued DATA made no progress for `Config::send_stall_timeout`.
    #[error("no send progress (slow reader)")]
    SendStall,
}

/// What the peer did wrong, at connection scope.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerViolation {
    /// A frame broke a §4/§6 rule.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A header block failed to decode; the HPACK state is lost.
    #[error("HPACK: {0}")]
    Hpack(#[from] DecoderError),
    /// The client connection preface was wrong (§3.4).
    #[error("invalid connection preface")]
    BadPreface,
    /// The first frame was not SETTINGS (§3.4).
    #[error("first frame was not SETTINGS")]
    FirstFrameNotSettings,
    /// A stream id that breaks §5.1.1 (wrong parity, not increasing, or a
    /// stream we never opened).
    #[error("unexpected stream id {0}")]
    UnexpectedStreamId(StreamId),
    /// A frame that the stream's state forbids at connection scope (§5.1).
    #[error("frame not allowed on stream {0} in its state")]
    StreamState(StreamId),
    /// PUSH_PROMISE, which we disabled or which a client cannot send (§6.6, §8.4).
    #[error("PUSH_PROMISE not allowed")]
    PushPromise,
    /// A SETTINGS value the receiver's role forbids (a server enabling push).
    #[error("invalid setting")]
    InvalidSetting,
    /// A header block (HEADERS + CONTINUATION) far larger than any header
    /// list we accept could need (CONTINUATION flood).
    #[error("header block too large")]
    HeaderBlockTooLarge,
    /// It keeps more of our answers (ACKs, RST_STREAMs) unread than
    /// `Config::max_pending_responses` (a SETTINGS or PING flood).
    #[error("peer does not read our control frames")]
    NotReading,
    /// Too many resets: it cancels its own streams, or provokes ours, faster
    /// than `Config::reset_rate` (rapid reset, MadeYouReset).
    #[error("too many stream resets")]
    TooManyResets,
    /// Too many frames that carry nothing (`Config::glitch_rate`).
    #[error("too many useless frames")]
    TooManyGlitches,
    /// PINGs faster than `Config::ping_rate` (a flood, even one whose ACKs
    /// the peer reads).
    #[error("too many PINGs")]
    TooManyPings,
    /// SETTINGS frames faster than `Config::settings_rate`.
    #[error("too many SETTINGS frames")]
    TooManySettingsFrames,
    /// A SETTINGS frame with more entries than `Config::max_settings_entries`.
    #[error("too many SETTINGS entries")]
    TooManySettings,
    /// More CONTINUATION frames in one block than `Config::max_continuation_frames`.
    #[error("too many CONTINUATION frames")]
    TooManyContinuations,
    /// A window grew past 2^31-1 (§6.9.1), or DATA exceeded the connection window.
    #[error("flow-control violation")]
    FlowControl,
    /// A GOAWAY whose last stream id is above that of a GOAWAY the peer sent
    /// before (§6.8: it may only stay or go down).
    #[error("GOAWAY last stream id raised from {previous} to {last}")]
    GoAwayLastStreamIdIncreased {
        /// The last stream id of the earlier GOAWAY.
        previous: StreamId,
        /// The larger one of this GOAWAY.
        last: StreamId,
    },
}

/// A request the local application made that the connection refused.
/// Nothing was sent; the connection is unaffected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// Only a client can do that (open streams), or only a server (respond).
    #[error("not allowed in this role")]
    WrongRole,
    /// No stream has this id: never opened (or stream 0), or, for the verbs
    /// that send, already closed and freed.
    #[error("no open stream {0}")]
    UnknownStream(StreamId),
    /// The stream's send side has ended (END_STREAM or trailers queued, or reset).
    #[error("stream {0} can no longer send")]
    SendClosed(StreamId),
    /// HEADERS must come first, or the final response was already sent.
    #[error("headers out of order on stream {0}")]
    HeadersOutOfOrder(StreamId),
    /// The headers would be a malformed message (RFC 9113 §8); nothing was sent.
    #[error("malformed headers: {0}")]
    Malformed(#[from] Malformed),
    /// The headers exceed the peer's SETTINGS_MAX_HEADER_LIST_SIZE.
    #[error("header list larger than the peer accepts")]
    HeaderListTooLarge,
    /// The connection is shutting down or closed; no new streams.
    #[error("connection is not accepting new streams")]
    NotAccepting,
    /// All stream ids of this role are used up; open a new connection.
    #[error("stream ids exhausted")]
    StreamIdsExhausted,
    /// Too many requests wait for a concurrency slot already.
    #[error("too many requests waiting for a stream slot")]
    TooManyPending,
    /// A setting outside the range RFC 9113 §6.5.2 allows.
    #[error("setting value out of range")]
    InvalidSetting,
    /// Too many PINGs await their ACK already.
    #[error("too many outstanding PINGs")]
    TooManyPings,
}
