//! gRPC over tokio: a server that routes calls by `:path` to async
//! handlers, and a client with the four call kinds (unary, client-, server-
//! and bidi-streaming), on the connection driver of [`io::tokio`](super).
//!
//! Messages are [`Bytes`]; protobuf stays the caller's business. The API
//! follows [`io::blocking::grpc`](crate::io::blocking::grpc) (routes and
//! call handles with `recv`, `send`, `finish`, `status`), with `async`
//! waits.
//!
//! ```
//! use bytes::Bytes;
//! use h2proto::grpc::{Code, Metadata, Status};
//! use h2proto::io::tokio::grpc::{CallOptions, Client, Server};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder()
//!     // Unary: one message in, one out (or a status).
//!     .unary("/echo.Echo/Say", |_ctx, message: Bytes| async move { Ok(message) })
//!     // Server streaming: the handler sends as it likes, then returns the status.
//!     .server_streaming("/echo.Echo/Count", |_ctx, _request, mut out| async move {
//!         for i in 0..3u8 {
//!             out.send(Bytes::from(vec![i])).await.map_err(|e| e.to_status())?;
//!         }
//!         Ok(())
//!     })
//!     .bind("127.0.0.1:0")
//!     .await?;
//!
//! let client = Client::connect(server.local_addr()).await?;
//! let reply = client.unary("/echo.Echo/Say", Bytes::from_static(b"hi"), CallOptions::new()).await?;
//! assert_eq!(reply.message, "hi");
//!
//! let mut stream = client
//!     .server_streaming("/echo.Echo/Count", Bytes::new(), CallOptions::new())
//!     .await?;
//! let mut got = Vec::new();
//! while let Some(m) = stream.recv().await? {
//!     got.push(m[0]);
//! }
//! assert_eq!(got, [0, 1, 2]);
//! assert!(stream.status().await.is_ok());
//!
//! // An unknown method.
//! let err = client.unary("/echo.Echo/Nope", Bytes::new(), CallOptions::new()).await;
//! assert!(matches!(err, Err(e) if e.to_status().code() == Code::UNIMPLEMENTED));
//!
//! client.shutdown().await;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # How calls run
//!
//! Each connection is one driver task over the sans-IO
//! [`grpc::Server`](crate::grpc::Server) or
//! [`grpc::Client`](crate::grpc::Client) behind a lock. Call handles act on
//! the endpoint directly under that lock (no command channel) and the
//! driver hands each call's events to its queue, waking the handle's task.
//!
//! - **Handlers** run on their connection's task by default (no spawn per
//!   call): a handler must not block the thread. [`Config::spawn_handlers`]
//!   spawns each on the runtime instead.
//! - **Back-pressure**: a send waits while the call's send queue is full
//!   ([`grpc::Config::max_send_queue`](crate::grpc::Config::max_send_queue))
//!   or the connection's memory budget is
//!   ([`grpc::Config::memory_budget`](crate::grpc::Config::memory_budget));
//!   a received message's flow-control credit goes back to the peer when the
//!   application drops it (every clone and slice), so a reader that stops
//!   reading, or keeps what it read, stops the peer through its windows.
//!   `budget_stats()` and `call_stats()` on [`ServerHandle`] and [`Client`]
//!   show what is held.
//! - **Deadlines** (`grpc-timeout`) are the endpoint's: the call ends
//!   DEADLINE_EXCEEDED and the handler sees it (`recv` and `send` fail,
//!   [`Context::cancelled`] completes), as it sees a client's cancellation.
//! - **Dropping** every handle of a call that has not ended cancels it
//!   (RST_STREAM CANCEL) and frees its state.

mod call;
mod client;
mod engine;
mod server;

use std::time::Duration;

use bytes::Bytes;

pub use crate::grpc::CallOptions;
pub use crate::io::grpc_error::Error;
pub use call::{CallSender, ClientCall, Streaming};
pub use client::Client;
pub(crate) use client::{ConnSender, ConnStreaming};
pub use server::{Context, Requests, Responses, Server, ServerCall, ServerHandle};

use crate::grpc::Metadata;

/// Settings of the tokio gRPC client and server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The sans-IO endpoint's settings.
    pub grpc: crate::grpc::Config,
    /// Server: spawn each call's handler as its own task instead of running
    /// it on the connection's task. Default off.
    pub spawn_handlers: bool,
    /// Longest a graceful shutdown waits for calls in progress before
    /// closing the connection. Default 10 s.
    pub shutdown_wait: Duration,
    /// Server: most connections served at once. At the cap the server
    /// accepts no more until one ends (new ones wait in the kernel's
    /// backlog). Default 10,000.
    pub max_connections: usize,
}

impl Config {
    /// Client defaults.
    pub fn client() -> Config {
        Config {
            grpc: crate::grpc::Config::client(),
            spawn_handlers: false,
            shutdown_wait: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }

    /// Server defaults.
    pub fn server() -> Config {
        Config {
            grpc: crate::grpc::Config::server(),
            ..Config::client()
        }
    }
}

/// The answer of a unary or client-streaming call that ended OK.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Response {
    /// The response headers' metadata.
    pub headers: Metadata,
    /// The response message.
    pub message: Bytes,
    /// The trailers' metadata.
    pub trailers: Metadata,
}
