//! The blocking `std::net` adapter: an HTTP/2 server and client over
//! cleartext TCP with prior knowledge (h2c, RFC 9113 §3.3).
//!
//! Messages are whole, and the `http` crate's: a handler gets an
//! `http::Request<Bytes>` with its body collected (up to
//! [`ServerConfig::max_request_body`]) and returns an
//! `http::Response<Bytes>`; a client sends a request and gets the whole
//! response back. Trailers ride in the extensions as
//! [`message::Trailers`](crate::message::Trailers); the HTTP rules are
//! [`crate::message`]'s.
//!
//! ```
//! use h2proto::io::blocking::{Client, Server};
//!
//! let server = Server::bind("127.0.0.1:0")?
//!     .spawn(|req: http::Request<bytes::Bytes>| http::Response::new(req.into_body()))?;
//! let client = Client::connect(server.local_addr())?;
//! let res = client.send(http::Request::post("/echo").body("hello".into())?)?;
//! assert_eq!(&res.body()[..], b"hello");
//! client.shutdown();
//! server.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a connection runs
//!
//! Each connection has a driver thread that alone owns the sans-IO
//! [`Connection`](crate::proto::Connection), a reader thread and a writer
//! thread. The driver waits on one channel for input, finished writes,
//! application commands (a handler's response, a client's request) and the
//! core's next timer, so it is never stuck in a socket call:
//!
//! - input is fed to `recv`, events are dispatched, `poll_transmit` output
//!   goes to the writer, one buffer at a time;
//! - the reader reads only on credit from the driver, and gets none while
//!   the core says `wants_read() == false` or unconsumed input piles up;
//! - body bytes are released to flow control as they are collected;
//! - `send_data` takes what fits in the stream's send buffer; the rest goes
//!   on `Event::Writable`;
//! - end of file is `recv_eof`; timers are `recv_timeout` up to
//!   `poll_timeout`, then `handle_timeout`.
//!
//! Handlers run on a bounded pool of threads
//! ([`ServerConfig::handler_threads`]) shared by all connections.

mod client;
mod driver;
pub mod grpc;
mod server;
mod slots;
mod tls;

pub use crate::io::ConnectionInfo;
pub use client::{Client, ClientConfig};
pub use server::{Server, ServerConfig, ServerHandle, ServerStats};
