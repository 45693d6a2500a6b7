//! The tokio adapter (feature `tokio`): HTTP/2 and gRPC servers and clients
//! over `tokio::net`, each connection one task driving the sans-IO core.
//!
//! All protocol decisions stay in the core; this layer moves bytes, wakes
//! tasks and reads the clock. How a connection runs is described in
//! `driver.rs`: one task per connection, handles that act on the engine
//! under a lock, reading paused while the core says `wants_read() == false`.

pub(crate) mod driver;
pub mod grpc;
