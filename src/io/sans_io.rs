//! The verbs a driver loop needs of a sans-IO connection, one trait for
//! both that the adapters run: an HTTP/2 [`Connection`] and a gRPC
//! [`Endpoint`](grpc::Endpoint) of either side. Each runtime has one
//! driver loop over it (`blocking/driver.rs`, `tokio/driver.rs`).

use std::time::Instant;

use bytes::BytesMut;

use crate::grpc::{self, Side};
use crate::proto::{self, Connection, MemoryBudget, TransmitBuf};

/// A connection a driver can run: bytes in, events out, bytes out, timers.
/// Every verb that can need time takes `now`.
pub(crate) trait SansIo {
    /// What [`poll_event`](SansIo::poll_event) hands out.
    type Event;
    /// Feeds input; whole frames are consumed from the front.
    fn recv(&mut self, input: &mut BytesMut, now: Instant);
    /// The transport reached end of file: nothing more will arrive.
    fn recv_eof(&mut self, now: Instant);
    /// The next event. Received data keeps its flow-control credit until
    /// the application is done with it (a `Connection`'s `release_capacity`;
    /// a gRPC message's buffer, dropped).
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// Appends up to `max` bytes to send to `dst`; returns how many. Call it
    /// even when nothing seems queued: it also opens waiting streams and
    /// notices a finished connection.
    fn poll_transmit<B: TransmitBuf>(&mut self, dst: &mut B, max: usize, now: Instant) -> usize;
    /// When [`handle_timeout`](SansIo::handle_timeout) is due.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Runs what is due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// Whether to read more input (false while the peer does not read what
    /// we owe it).
    fn wants_read(&self) -> bool;
    /// Whether the connection is finished: once its last bytes are written,
    /// the transport can be closed.
    fn is_closed(&self) -> bool;
    /// Graceful shutdown: GOAWAY, let the streams in progress finish, close.
    fn shutdown(&mut self, now: Instant);
    /// Applies the credit owed through `budget` by buffers the application
    /// dropped; returns the bytes given back. A gRPC endpoint owns its
    /// budget (`budget` is that one) and also rebalances its early credit.
    fn release_owed(&mut self, budget: &MemoryBudget) -> usize;
}

impl SansIo for Connection {
    type Event = proto::Event;

    fn recv(&mut self, input: &mut BytesMut, now: Instant) {
        Connection::recv(self, input, now);
    }
    /// The connection needs no time for it (see `proto`'s rule on `now`).
    fn recv_eof(&mut self, _now: Instant) {
        Connection::recv_eof(self);
    }
    fn poll_event(&mut self) -> Option<proto::Event> {
        Connection::poll_event(self)
    }
    fn poll_transmit<B: TransmitBuf>(&mut self, dst: &mut B, max: usize, now: Instant) -> usize {
        Connection::poll_transmit(self, dst, max, now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Connection::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Connection::handle_timeout(self, now);
    }
    fn wants_read(&self) -> bool {
        Connection::wants_read(self)
    }
    fn is_closed(&self) -> bool {
        Connection::is_closed(self)
    }
    fn shutdown(&mut self, now: Instant) {
        Connection::shutdown(self, now);
    }
    fn release_owed(&mut self, budget: &MemoryBudget) -> usize {
        let mut owed = Vec::new();
        budget.take_owed(&mut owed);
        let mut total = 0;
        for (id, n) in owed {
            total += n;
            let _ = self.release_capacity(id, n);
        }
        total
    }
}

/// Messages come out as buffers of the endpoint's budget
/// (`poll_event_held`): dropping one gives its credit back.
impl<S: Side> SansIo for grpc::Endpoint<S> {
    type Event = grpc::Event;

    fn recv(&mut self, input: &mut BytesMut, now: Instant) {
        grpc::Endpoint::recv(self, input, now);
    }
    fn recv_eof(&mut self, now: Instant) {
        grpc::Endpoint::recv_eof(self, now);
    }
    fn poll_event(&mut self) -> Option<grpc::Event> {
        self.poll_event_held()
    }
    fn poll_transmit<B: TransmitBuf>(&mut self, dst: &mut B, max: usize, now: Instant) -> usize {
        grpc::Endpoint::poll_transmit(self, dst, max, now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        grpc::Endpoint::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        grpc::Endpoint::handle_timeout(self, now);
    }
    fn wants_read(&self) -> bool {
        self.connection().wants_read()
    }
    fn is_closed(&self) -> bool {
        self.connection().is_closed()
    }
    fn shutdown(&mut self, now: Instant) {
        self.connection_mut().shutdown(now);
    }
    fn release_owed(&mut self, _own: &MemoryBudget) -> usize {
        grpc::Endpoint::release_owed(self)
    }
}
