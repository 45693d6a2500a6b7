//! gRPC over HTTP/2 (grpc/grpc `PROTOCOL-HTTP2.md`), sans-IO and
//! payload-agnostic: messages are [`Bytes`]; protobuf is the caller's business.
//!
//! One type, [`Endpoint`], is either end of a connection, by its [`Side`]:
//! [`Client`] is `Endpoint<ClientSide>` and [`Server`] `Endpoint<ServerSide>`.
//! It owns a [`proto::Connection`](crate::proto::Connection) and offers the
//! same verbs one level up: bytes in with `recv`, gRPC
//! [`Event`]s out with `poll_event`, commands (`start_call`, `send_message`,
//! `close_send`, `send_headers`, `finish`, `cancel`) that become HTTP/2
//! commands, bytes out with `poll_transmit`, timers with `poll_timeout` /
//! `handle_timeout`. Time is always an argument.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::{Bytes, BytesMut};
//! use h2proto::grpc::{Client, Code, Config, Event, Metadata, Server, Status};
//!
//! let now = Instant::now();
//! let mut client = Client::new(Config::client(), now);
//! let mut server = Server::new(Config::server(), now);
//!
//! let call = client.start_call("/echo.Echo/Say", Metadata::new(), Some(Duration::from_secs(5)), now)?;
//! client.send_message(call, Bytes::from_static(b"hi"))?;
//! client.close_send(call)?;
//!
//! let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
//! let mut reply = None;
//! for _ in 0..8 {
//!     client.poll_transmit(&mut to_server, usize::MAX, now);
//!     server.recv(&mut to_server, now);
//!     while let Some(event) = server.poll_event() {
//!         match event {
//!             Event::Message { call, message, .. } => {
//!                 server.send_headers(call, Metadata::new())?;
//!                 server.send_message(call, message)?; // echo
//!             }
//!             Event::HalfClosed { call } => server.finish(call, Status::ok(), Metadata::new())?,
//!             _ => {}
//!         }
//!     }
//!     server.poll_transmit(&mut to_client, usize::MAX, now);
//!     client.recv(&mut to_client, now);
//!     while let Some(event) = client.poll_event() {
//!         match event {
//!             Event::Message { message, .. } => reply = Some(message),
//!             Event::Finished { status, .. } => assert_eq!(status.code(), Code::OK),
//!             _ => {}
//!         }
//!     }
//! }
//! assert_eq!(reply.as_deref(), Some(&b"hi"[..]));
//! # Ok::<(), h2proto::grpc::CallError>(())
//! ```

pub mod bdp;
mod call;
mod client;
pub mod codec;
mod config;
mod endpoint;
pub mod keepalive;
pub mod metadata;
mod server;
pub mod status;
pub mod timeout;

use std::time::Instant;

use bytes::Bytes;

pub use client::{CallOptions, Client, ClientSide};
pub use codec::Encoding;
pub use config::Config;
pub use endpoint::{Endpoint, Side};
pub use metadata::{Metadata, MetadataError, MetadataValue};
pub use server::{Server, ServerSide};
pub use status::{Code, Status};

use crate::frame::{Reason, StreamId};
use crate::proto::{ConnectionError, UserError};

/// What a received message still holds on the connection's behalf, from
/// [`Server::poll_event_deferred`] / [`Client::poll_event_deferred`]: give
/// it back with `release` once the message is consumed. (`poll_event` gives
/// it back at once; `poll_event_held` ties it to the message's buffer.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hold {
    /// Received bytes whose flow-control credit is still withheld: they
    /// count against the stream and connection receive windows.
    pub unreleased: usize,
    /// Bytes whose credit went back early (the message was assembled
    /// across more than the window allows): counted against the
    /// connection's [`MemoryBudget`](crate::proto::MemoryBudget).
    pub charged: usize,
}

/// What one call holds now (see [`Server::call_stats`] /
/// [`Client::call_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallStats {
    /// The call.
    pub call: CallId,
    /// Bytes of the message in assembly received so far.
    pub partial: usize,
    /// Of those, bytes whose credit is withheld.
    pub partial_unreleased: usize,
    /// Of those, bytes released early (charged to the budget).
    pub partial_charged: usize,
    /// Whole received messages parked until the budget has room (their
    /// wire bytes; charged, credit withheld).
    pub parked: usize,
    /// Message bytes accepted by `send_message` and not yet taken by the
    /// HTTP/2 layer (charged to the budget).
    pub send_queued: usize,
    /// Server: the response a request handed to the application will
    /// become, counted until the call sends or ends (see
    /// [`Config::memory_budget`]).
    pub reserved: usize,
}

/// One call: the HTTP/2 stream it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(StreamId);

impl CallId {
    /// The HTTP/2 stream of the call.
    pub fn stream_id(self) -> StreamId {
        self.0
    }
}

/// Something that happened to a call or the connection. Poll with
/// `poll_event` until `None`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Server: a valid gRPC request arrived. Route on `path`; an unknown
    /// method or service is answered with
    /// [`Server::unimplemented`].
    CallStarted {
        /// The call.
        call: CallId,
        /// `:path`, `/Service/Method`.
        path: String,
        /// `:authority`, if sent.
        authority: Option<String>,
        /// Custom metadata (and `user-agent`).
        metadata: Metadata,
        /// The deadline from `grpc-timeout`, on the caller's clock.
        deadline: Option<Instant>,
    },
    /// Client: the response headers arrived.
    Headers {
        /// The call.
        call: CallId,
        /// Custom metadata of the response headers.
        metadata: Metadata,
    },
    /// A whole message (decompressed).
    Message {
        /// The call.
        call: CallId,
        /// The message.
        message: Bytes,
        /// Whether it arrived compressed.
        compressed: bool,
    },
    /// Server: the client has sent everything (END_STREAM).
    HalfClosed {
        /// The call.
        call: CallId,
    },
    /// Server: the call ended without a `finish`: the client cancelled
    /// (CANCELLED, or the code its RST_STREAM maps to), the deadline passed
    /// (DEADLINE_EXCEEDED; the stream was reset with CANCEL), the client sent
    /// something malformed (the status it was answered with), or the
    /// connection went away (UNAVAILABLE).
    Cancelled {
        /// The call.
        call: CallId,
        /// Why.
        status: Status,
    },
    /// Client: the call is over, with the server's status or one
    /// synthesized from what happened.
    Finished {
        /// The call.
        call: CallId,
        /// The outcome.
        status: Status,
        /// Custom metadata of the trailers.
        trailers: Metadata,
    },
    /// A call whose `send_message` returned [`CallError::Busy`] has room again.
    Writable {
        /// The call.
        call: CallId,
    },
    /// The peer sent GOAWAY. Client calls above `last_stream_id` end
    /// UNAVAILABLE (safe to retry); the others may finish.
    GoAway {
        /// The last stream the peer may process.
        last_stream_id: StreamId,
        /// Its error code.
        reason: Reason,
        /// Its debug data (`too_many_pings` from a gRPC server's enforcement).
        debug_data: Bytes,
    },
    /// The connection is finished. `None` is a clean close.
    Closed {
        /// Why, if not clean.
        error: Option<ConnectionError>,
    },
}

/// A command that could not be carried out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No such call (never started, or already over).
    #[error("no call {0:?}")]
    UnknownCall(CallId),
    /// The call's send queue is full: retry after [`Event::Writable`].
    #[error("send queue full")]
    Busy,
    /// The send side already ended (`close_send` or `finish`).
    #[error("the call's send side has ended")]
    SendClosed,
    /// Headers were already sent (server).
    #[error("headers already sent")]
    HeadersSent,
    /// The message is larger than the max send message size.
    #[error("message larger than max ({len} vs. {max})")]
    MessageTooLarge {
        /// Its length (after compression).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Invalid metadata or path.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// A path that is not `/Service/Method`.
    #[error("invalid path {0:?}")]
    InvalidPath(String),
    /// Compression failed or is not built in.
    #[error("compression: {0}")]
    Compression(Status),
    /// The HTTP/2 layer refused the command.
    #[error(transparent)]
    Http2(#[from] UserError),
}
