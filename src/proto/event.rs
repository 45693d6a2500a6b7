//! What a connection tells its caller.

use std::time::Duration;

use bytes::Bytes;

use super::error::ConnectionError;
use super::validate::{CheckedBlock, Malformed, Pseudo};
use crate::frame::{Reason, StreamId};
use crate::hpack::{DecoderError, HeaderField};

/// Something that happened on the connection. Poll them with
/// [`Connection::poll_event`](super::Connection::poll_event) until `None`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A request arrived (server) or a final response (client).
    Headers {
        /// The stream.
        stream_id: StreamId,
        /// The validated header block.
        headers: HeaderList,
        /// No DATA or trailers follow.
        end_stream: bool,
    },
    /// An informational (1xx) response (client only); the final one follows.
    Informational {
        /// The stream.
        stream_id: StreamId,
        /// The validated header block.
        headers: HeaderList,
    },
    /// A chunk of a message body. Release it with
    /// [`Connection::release_capacity`](super::Connection::release_capacity)
    /// once consumed, or the peer runs out of window. Unreleased DATA also
    /// keeps its stream live after it closed (a graceful shutdown waits for
    /// it); [`Config::release_on_delivery`](super::Config::release_on_delivery)
    /// releases each chunk as `poll_event` hands it out.
    Data {
        /// The stream.
        stream_id: StreamId,
        /// The payload (padding removed), a zero-copy view of the input buffer.
        data: Bytes,
        /// This is the end of the message.
        end_stream: bool,
    },
    /// Trailers: the end of the message.
    Trailers {
        /// The stream.
        stream_id: StreamId,
        /// The validated trailer block.
        trailers: HeaderList,
    },
    /// The stream was reset and its state freed.
    Reset {
        /// The stream.
        stream_id: StreamId,
        /// The RST_STREAM code. REFUSED_STREAM means the peer did no work on
        /// it: safe to retry (RFC 9113 §8.7). Streams above a received GOAWAY's
        /// last stream id are reported this way.
        reason: Reason,
        /// Who reset it: `Local` when we reset it because the peer broke a
        /// stream-level rule or exceeded one of our limits (the application's
        /// own resets are not reported). Only a `Remote` REFUSED_STREAM means
        /// the peer did no work on the stream; a `Local` one never does.
        initiator: Initiator,
        /// Why we reset it: `Some` exactly when `initiator` is `Local`.
        why: Option<ResetCause>,
    },
    /// `send_data` took less than offered on this stream before; there is room now.
    Writable {
        /// The stream.
        stream_id: StreamId,
    },
    /// The peer's SETTINGS arrived and were applied.
    RemoteSettings(PeerSettings),
    /// The peer acknowledged our SETTINGS; they are in force.
    SettingsAcked,
    /// One of our PINGs was answered.
    PingAck {
        /// The PING's payload.
        payload: [u8; 8],
        /// Time from [`ping`](super::Connection::ping) to the ACK, on the caller's clock.
        rtt: Duration,
    },
    /// The peer sent GOAWAY: no new streams; streams up to `last_stream_id` may finish.
    GoAway {
        /// The last stream the peer may have processed.
        last_stream_id: StreamId,
        /// Its error code (NO_ERROR for a graceful shutdown).
        reason: Reason,
        /// Its debug data.
        debug_data: Bytes,
    },
    /// The connection is over: no more events, nothing more is read, no
    /// stream lives on. After an error (or [`close`](super::Connection::close))
    /// it comes at once, from the verb that caused it, while the GOAWAY that
    /// says so still waits in [`poll_transmit`](super::Connection::poll_transmit):
    /// write that out, then close the transport once
    /// [`is_closed`](super::Connection::is_closed). `None` is a clean close.
    Closed {
        /// Why, if it was not clean.
        error: Option<ConnectionError>,
    },
}

/// Which side decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// This endpoint.
    Local,
    /// The peer.
    Remote,
}

/// Why this endpoint reset a stream (the `why` of a local [`Event::Reset`]).
///
/// The adapters also use it for the resets the application caused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ResetCause {
    /// The peer's header list exceeded one of our limits (size, field count,
    /// string length: [`DecoderError::keeps_table_in_sync`]); sent as
    /// REFUSED_STREAM, yet the peer may have processed the request.
    #[error("{0}")]
    HeaderListLimit(DecoderError),
    /// The peer sent a malformed message (RFC 9113 §8.1.1).
    #[error("malformed message: {0}")]
    Malformed(Malformed),
    /// The peer broke another stream-level rule (flow control, a frame the
    /// stream's state forbids, a stream-scope frame error): the reset's
    /// reason says which.
    #[error("the peer broke a stream-level rule")]
    PeerError,
    /// A request waiting for a concurrency slot was never sent: we shut the
    /// connection down (reported as REFUSED_STREAM).
    #[error("the connection is shutting down; the request was never sent")]
    ShuttingDown,
    /// The application (or its adapter) cancelled the stream: a dropped
    /// handle or body sender, a timeout, a body over its limit.
    #[error("cancelled locally")]
    Cancelled,
}

/// The peer's settings as currently in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerSettings {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub header_table_size: u32,
    /// SETTINGS_ENABLE_PUSH.
    pub enable_push: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (`None`: unlimited, the RFC default).
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub initial_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (`None`: unlimited).
    pub max_header_list_size: Option<u32>,
}

impl Default for PeerSettings {
    /// The RFC 9113 §6.5.2 initial values.
    fn default() -> Self {
        PeerSettings {
            header_table_size: 4096,
            enable_push: true,
            max_concurrent_streams: None,
            initial_window_size: super::flow::DEFAULT_WINDOW,
            max_frame_size: crate::frame::DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
        }
    }
}

/// A received header list (RFC 7541's term for a decoded header block),
/// checked against RFC 9113 §8: pseudo-header fields first, then the regular
/// ones, all zero-copy views of the decoded block. (The encoded block on the
/// wire is a [`frame::Headers`](crate::frame::Headers) frame.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderList {
    fields: Vec<HeaderField>,
    checked: CheckedBlock,
}

impl HeaderList {
    pub(crate) fn new(fields: Vec<HeaderField>, checked: CheckedBlock) -> Self {
        HeaderList { fields, checked }
    }

    fn pseudo(&self, field: Pseudo) -> Option<&[u8]> {
        let at = self.checked.pseudo.get(field)?;
        self.fields.get(usize::from(at)).map(|f| &f.value[..])
    }

    /// `:method` of a request.
    pub fn method(&self) -> Option<&[u8]> {
        self.pseudo(Pseudo::Method)
    }

    /// `:scheme` of a request.
    pub fn scheme(&self) -> Option<&[u8]> {
        self.pseudo(Pseudo::Scheme)
    }

    /// `:authority` of a request.
    pub fn authority(&self) -> Option<&[u8]> {
        self.pseudo(Pseudo::Authority)
    }

    /// `:path` of a request.
    pub fn path(&self) -> Option<&[u8]> {
        self.pseudo(Pseudo::Path)
    }

    /// `:status` of a response.
    pub fn status(&self) -> Option<u16> {
        self.checked.status
    }

    /// The content-length field, parsed.
    pub fn content_length(&self) -> Option<u64> {
        self.checked.content_length
    }

    /// The regular (non-pseudo) fields, in order.
    pub fn fields(&self) -> &[HeaderField] {
        self.fields
            .get(usize::from(self.checked.first_regular)..)
            .unwrap_or_default()
    }

    /// The value of the first regular field with this (lowercase) name.
    pub fn get(&self, name: &[u8]) -> Option<&Bytes> {
        self.fields()
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// Every field, pseudo-header fields included, in wire order.
    pub fn all(&self) -> &[HeaderField] {
        &self.fields
    }

    /// Takes the fields, pseudo-header fields included.
    pub fn into_fields(self) -> Vec<HeaderField> {
        self.fields
    }
}
