//! The tokio adapter (feature `tokio`): an HTTP/2 [`Server`] and [`Client`]
//! over `tokio::net` (cleartext, prior knowledge: h2c), each connection one
//! task driving the sans-IO core, with streaming bodies both ways.
//!
//! Messages are the `http` crate's: a handler takes an
//! `http::Request<RecvBody>` and answers an `http::Response<Body>`; the
//! client sends `http::Request<Body>` and gets `http::Response<RecvBody>`
//! ([`Client::send_request`]), or whole messages, `http::Request<Bytes>` ⇄
//! `http::Response<Bytes>` ([`Client::send`]). The HTTP rules (heads ⇄
//! header fields, HEAD, 500 on a panic, retries of refused requests) are
//! [`crate::message`]'s.
//!
//! ```
//! use h2proto::io::tokio::{Body, Client, Server};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::bind("127.0.0.1:0").await?.serve(|req: http::Request<_>| async move {
//!     http::Response::new(Body::from(format!("you asked for {}", req.uri().path())))
//! });
//! let client = Client::connect(server.local_addr()).await?;
//! let res = client.get("/x").await?;
//! assert_eq!(&res.body()[..], b"you asked for /x");
//! server.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! # How it runs
//!
//! All protocol decisions stay in the core; this layer moves bytes, wakes
//! tasks and reads the clock.
//!
//! - **One task per connection** (`driver.rs`): it reads the socket while
//!   the core `wants_read()` and little input is buffered, feeds `recv`,
//!   files the core's events into per-stream slots (waking the handle
//!   waiting there), writes what `poll_transmit` produced (up to 256 KiB at
//!   a time), and sleeps until input, a handle's action or `poll_timeout`.
//! - **Handles act on the core directly**, under the connection's lock
//!   (never held across an `.await`): a body chunk taken, a `send_data`, a
//!   reset are one uncontended lock each, with no command channel.
//! - **Server handlers** (`Fn(http::Request<RecvBody>) -> impl Future<Output = http::Response<Body>>`)
//!   run on their connection's task by default: no spawn and no
//!   cross-thread wake-up per request.
//!   [`ServerConfig::spawn_handlers`] spawns them instead. A handler that
//!   panics gets its stream answered with 500 (or reset if it had started
//!   answering).
//!
//! # Back-pressure
//!
//! - **Receiving**: a [`RecvBody`] chunk's flow-control credit goes back to
//!   the peer only when the application takes the chunk, so a reader that
//!   stops reading stops the peer at its window
//!   (`Config::initial_window_size` per stream, `connection_window_size`
//!   per connection): received bytes held for a handle never exceed them.
//! - **Sending**: the core's `send_data` takes what fits in the stream's
//!   send buffer (`Config::max_send_buffer_per_stream`); the rest waits for
//!   `Event::Writable`. A [`BodySender`] therefore waits while the peer
//!   does not read, with at most one piece of its own between it and the
//!   connection.
//!
//! # Handles and cancellation
//!
//! A stream stays tracked while a handle on it exists (the response future,
//! a [`RecvBody`], the request's handler or a body being sent). Dropping one
//! before the end of its message resets the stream with CANCEL (a client's
//! response, either side's outgoing body); a server's request body dropped
//! unread is discarded as it arrives, and once the response is complete the
//! stream is reset with NO_ERROR (RFC 9113 §8.1). Streams that end normally,
//! are reset by the peer, or die with the connection free their state when
//! their last handle goes; when the connection ends, every waiting handle
//! gets the error. Dropping the last [`Client`] clone sends GOAWAY: the
//! responses in flight complete, then the connection closes.
//!
//! # Graceful shutdown
//!
//! [`ServerHandle::shutdown`] stops accepting, has every connection send the
//! core's two-phase GOAWAY (new streams are refused, streams in flight go
//! on), waits up to its grace period, then closes what is left.
//!
//! # axum, tonic and tower (feature `tower`)
//!
//! The `tower` module adds the ecosystem's traits: `Server::serve_service`
//! serves a `tower_service::Service` over `http::Request`/`http::Response`
//! (an axum `Router`, a tonic server), [`Client`] is such a service (a tonic
//! client runs on it), and [`RecvBody`] is an `http_body::Body`.
//!
//! # Connection pool
//!
//! [`pool`] keeps client connections per authority, reusing them while they
//! can take a request and opening more up to a cap (Go's
//! `http2clientConnPool`).

mod body;
pub mod channel;
mod client;
pub(crate) mod driver;
mod engine;
pub mod grpc;
pub mod pool;
mod pool_send;
mod recv_body;
mod server;
pub(crate) mod tls;
#[cfg(feature = "tower")]
pub mod tower;

pub use body::{Body, BodySender};
pub use client::{Client, ClientConfig, ResponseFuture, Timeout};
pub use recv_body::RecvBody;
pub use server::{
    ConnectionInfo, Server, ServerConfig, ServerHandle, ServerStats, collect_request,
};
