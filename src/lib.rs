//! # h2proto
//!
//! A sans-IO HTTP/2 ([RFC 9113]) and HPACK ([RFC 7541]) protocol core, with
//! gRPC on top and adapters for `std::net` and tokio.
//!
//! *Sans-IO* means the core never touches a socket, a thread or a clock. The
//! caller owns all of those: it hands the core the bytes it read and the
//! current time, and gets back events and the bytes to write. That makes the
//! core usable from any runtime (blocking `std::net`, tokio, an embedded event
//! loop, a simulation) and makes every test deterministic.
//!
//! ## The layers
//!
//! Each module uses only the ones below it:
//!
//! ```text
//! io       sockets, threads, the system clock, TLS: the blocking (std::net) and
//!          tokio adapters, HTTP and gRPC servers and clients, a pool   (features)
//! channel  the gRPC channel: resolver, subchannels, backoff, load balancing
//! grpc     gRPC calls over one HTTP/2 connection: framing, status, deadlines
//! message  HTTP messages (the `http` crate's types) to and from header fields,
//!          and the HTTP rules both adapters share (HEAD, 413, 500, retries)
//! proto    one HTTP/2 connection, either role: streams, flow control, limits
//!          (its send scheduler is crate-private)
//! hpack    header compression            frame    the frame codec
//! ```
//!
//! Everything above `io` is sans-IO. To run HTTP/2 or gRPC over sockets, use
//! [`io`]; to embed the protocol in your own transport, drive a
//! [`proto::Connection`] (its module docs give the loop, and
//! `examples/std_net_loop.rs` runs it over a `TcpStream`); `docs/architecture.md`
//! has the details.
//!
//! ## Two connections, driven by hand
//!
//! A client uploads 100,000 bytes to a server whose stream window is 16 KiB:
//! the upload completes only because the server gives credit back as it
//! consumes DATA. Time is a plain value the caller moves.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::{Bytes, BytesMut};
//! use h2proto::proto::{Config, Connection, Event, HeaderField};
//!
//! let mut now = Instant::now();
//! let mut server_config = Config::server();
//! server_config.initial_window_size = 16 * 1024;
//! let mut client = Connection::new(Config::client(), now);
//! let mut server = Connection::new(server_config, now);
//! let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
//!
//! let request = ["POST", "http", "example.com", "/upload"];
//! let names = [":method", ":scheme", ":authority", ":path"];
//! let fields = names.iter().zip(request).map(|(n, v)| HeaderField::new(*n, v)).collect();
//! let id = client.send_request(fields, false)?;
//! let body = Bytes::from(vec![b'x'; 100_000]);
//! // `send_data` takes what fits the send buffer; `Writable` says when to go on.
//! let mut sent = client.send_data(id, body.clone(), true)?;
//! client.ping(now)?; // its ACK comes back with the round trip on our clock
//! let (mut received, mut status, mut rtt) = (0, None, None);
//! while status.is_none() {
//!     client.poll_transmit(&mut to_server, usize::MAX, now);
//!     server.recv(&mut to_server, now);
//!     while let Some(event) = server.poll_event() {
//!         if let Event::Data { stream_id, data, end_stream } = event {
//!             received += data.len();
//!             // Consumed: the credit goes back (or the client stalls at 16 KiB).
//!             server.release_capacity(stream_id, data.len())?;
//!             if end_stream {
//!                 let ok = vec![HeaderField::new(":status", "204")];
//!                 server.send_response(stream_id, ok, true)?;
//!             }
//!         }
//!     }
//!     server.poll_transmit(&mut to_client, usize::MAX, now);
//!     now += Duration::from_millis(10); // the wire takes 10 ms, on our clock
//!     client.recv(&mut to_client, now);
//!     while let Some(event) = client.poll_event() {
//!         match event {
//!             Event::Writable { .. } => sent += client.send_data(id, body.slice(sent..), true)?,
//!             Event::Headers { headers, .. } => status = headers.status(),
//!             Event::PingAck { rtt: measured, .. } => rtt = Some(measured),
//!             _ => {}
//!         }
//!     }
//!     // Timers: each side says when it next needs `handle_timeout`.
//!     for conn in [&mut client, &mut server] {
//!         if conn.poll_timeout().is_some_and(|at| at <= now) {
//!             conn.handle_timeout(now);
//!         }
//!     }
//! }
//! assert_eq!((received, status), (100_000, Some(204)));
//! assert_eq!(rtt, Some(Duration::from_millis(10)));
//!
//!
//! // A peer that never answers: our SETTINGS go unacknowledged, and the
//! // timer ends the connection when the caller says the time has come.
//! let mut lonely = Connection::new(Config::client(), now);
//! lonely.poll_transmit(&mut BytesMut::new(), usize::MAX, now);
//! let deadline = lonely.poll_timeout().expect("the SETTINGS timer");
//! assert_eq!(deadline, now + Duration::from_secs(10));
//! lonely.handle_timeout(deadline);
//! assert!(matches!(lonely.poll_event(), Some(Event::Closed { error: Some(_) })));
//! # Ok::<(), h2proto::proto::UserError>(())
//! ```
//!
//! [RFC 9113]: https://www.rfc-editor.org/rfc/rfc9113
//! [RFC 7541]: https://www.rfc-editor.org/rfc/rfc7541
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// What is `pub` is the API: an item users cannot reach is `pub(crate)`, so
// its visibility says what is promised. (Crate-level here rather than in
// Cargo's `[lints]`, which would also hold the test and example crates,
// whose support modules share items through `#[path]` and `pub`.)
#![warn(unreachable_pub)]

pub mod channel;
pub mod frame;
pub mod grpc;
pub mod hpack;
#[doc(hidden)]
pub mod internal;
pub mod io;
pub mod message;
pub mod proto;
mod sched;
#[cfg(feature = "testing")]
pub mod testing;
