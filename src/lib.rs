//! # h2proto
//!
//! A sans-IO HTTP/2 ([RFC 9113]) and HPACK ([RFC 7541]) protocol core.
//!
//! *Sans-IO* means this crate never touches a socket, a thread or a clock. The
//! caller owns all of those: it hands the core the bytes it read and the current
//! time, and gets back parsed frames (later: connection events) and the bytes to
//! write. That makes the core usable from any runtime (blocking `std::net`,
//! tokio, an embedded event loop, a simulation) and makes every test
//! deterministic.
//!
//! ## The frame codec
//!
//! [`frame`] turns bytes into HTTP/2 frames and back, checking every framing
//! rule of RFC 9113 §4 and §6. Whatever reads the socket appends to a
//! [`BytesMut`](bytes::BytesMut); the [`Decoder`](frame::Decoder) takes whole
//! frames off its front and leaves a partial frame in place until the rest
//! arrives. Payloads are views into that buffer, not copies.
//!
//! ```
//! use bytes::BytesMut;
//! use h2proto::frame::{
//!     self, Data, Decoder, Frame, Headers, Settings, StreamId, WindowUpdate,
//! };
//!
//! // The client side: what it would write to the socket.
//! let peer_max = frame::DEFAULT_MAX_FRAME_SIZE;
//! let mut out = BytesMut::from(&frame::PREFACE[..]);
//! let settings = Settings::builder().initial_window_size(1 << 20).build()?;
//! Frame::from(settings).encode(&mut out, peer_max)?;
//! let stream = StreamId::new(1);
//! Headers::new(stream, &b"\x82\x87\x84"[..], false, true).encode(&mut out, peer_max)?;
//! Data::new(stream, "ping?", true).encode(&mut out, peer_max)?;
//!
//! // The server side: bytes arrive in arbitrary pieces (here 7 at a time).
//! let mut rx = BytesMut::new();
//! let mut decoder = Decoder::new();
//! let mut preface_done = false;
//! let mut frames = Vec::new();
//! for piece in out.chunks(7) {
//!     rx.extend_from_slice(piece);
//!     if !preface_done {
//!         preface_done = frame::strip_preface(&mut rx)?;
//!         if !preface_done {
//!             continue;
//!         }
//!     }
//!     // Errors carry their scope: a stream error means RST_STREAM that
//!     // stream and carry on; a connection error means GOAWAY and close.
//!     while let Some(f) = decoder.decode(&mut rx)? {
//!         frames.push(f);
//!     }
//! }
//! assert!(matches!(&frames[0], Frame::Settings(s) if s.len() == 1));
//! assert!(matches!(&frames[1], Frame::Headers(h) if h.end_headers));
//! assert!(matches!(&frames[2], Frame::Data(d) if &d.data[..] == b"ping?" && d.end_stream));
//!
//! // The server's reply: it credits the stream for the data it consumed.
//! let mut reply = BytesMut::new();
//! WindowUpdate::new(stream, 5).encode(&mut reply, peer_max)?;
//! assert_eq!(reply.len(), 13);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [RFC 9113]: https://www.rfc-editor.org/rfc/rfc9113
//! [RFC 7541]: https://www.rfc-editor.org/rfc/rfc7541
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod channel;
pub mod frame;
pub mod grpc;
pub mod hpack;
pub mod io;
pub mod message;
pub mod proto;
pub mod sched;
#[cfg(feature = "testing")]
pub mod testing;
