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
//! [RFC 9113]: https://www.rfc-editor.org/rfc/rfc9113
//! [RFC 7541]: https://www.rfc-editor.org/rfc/rfc7541
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod frame;
pub mod grpc;
pub mod hpack;
pub mod io;
pub mod proto;
pub mod sched;
#[cfg(feature = "testing")]
pub mod testing;
