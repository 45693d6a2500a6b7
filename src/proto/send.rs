//! The application's commands. Each is checked first: misuse is a
//! [`UserError`] and never reaches the wire.

use std::time::Instant;

use bytes::Bytes;

use super::config::{Role, SettingsUpdate};
use super::connection::{Connection, Lifecycle, PendingOpen, Shutdown};
use super::error::{ConnectionError, UserError};
use super::event::{Event, Initiator, ResetCause};
use super::stream::state::{CloseCause, StreamState};
use super::stream::store::Stream;
use super::timer::Timer;
use super::validate::{BlockKind, FieldOrigin, Malformed, check_outgoing};
use crate::frame::{GoAway, Ping, Reason, RstStream, Settings, StreamId, WindowUpdate};
use crate::hpack::HeaderField;
use crate::sched::control::ControlItem;

impl Connection {
    /// Opens a request stream (client only) and queues its headers.
    ///
    /// `fields` are the request's header fields, pseudo-header fields
    /// (`:method`, `:scheme`, `:authority`, `:path`) first; they are checked
    /// against RFC 9113 §8 so that we never send a malformed request. When the
    /// peer's MAX_CONCURRENT_STREAMS is reached the request waits, in order,
    /// for a slot; its id is returned at once either way, and DATA queued on
    /// it goes out after its HEADERS.
    pub fn send_request(
        &mut self,
        fields: Vec<HeaderField>,
        end_stream: bool,
    ) -> Result<StreamId, UserError> {
        self.open_request(fields, end_stream, FieldOrigin::Any)
    }

    /// [`send_request`](Self::send_request) for fields built from `http`'s
    /// types (see [`FieldOrigin::Built`]).
    pub(crate) fn send_built_request(
        &mut self,
        fields: Vec<HeaderField>,
        end_stream: bool,
    ) -> Result<StreamId, UserError> {
        self.open_request(fields, end_stream, FieldOrigin::Built)
    }

    fn open_request(
        &mut self,
        fields: Vec<HeaderField>,
        end_stream: bool,
        origin: FieldOrigin,
    ) -> Result<StreamId, UserError> {
        if self.config.role != Role::Client {
            return Err(UserError::WrongRole);
        }
        if self.lifecycle != Lifecycle::Open {
            return Err(UserError::NotAccepting);
        }
        let checked = check_outgoing(BlockKind::Request, &fields, origin)?;
        self.check_header_list_size(&fields)?;
        if self.next_local_id > StreamId::MAX.value() {
            return Err(UserError::StreamIdsExhausted);
        }
        let must_wait = !self.pending_open.is_empty() || !self.has_open_slot();
        if must_wait && self.pending_open.len() >= self.config.max_pending_open_streams {
            return Err(UserError::TooManyPending);
        }
        let id = StreamId::new(self.next_local_id);
        self.next_local_id += 2;
        let mut stream = Stream::new(id, self.stream_recv_window);
        stream.headers_queued = true;
        stream.end_queued = end_stream;
        stream.head_request = checked.is_head;
        self.store.insert(stream);
        self.counters.streams_opened_locally += 1;
        // Its send window is tracked from now on, even when END_STREAM rides
        // on the HEADERS: the server may still send WINDOW_UPDATEs.
        self.loopy.open_stream(id);
        if must_wait {
            self.pending_open.push_back(PendingOpen {
                id,
                fields,
                end_stream,
            });
        } else {
            self.dispatch_headers(id, fields, end_stream);
        }
        Ok(id)
    }

    /// Queues response headers on a request stream (server only).
    ///
    /// Informational (1xx) responses may come first, any number of them; the
    /// final response comes once. `end_stream` ends the response here.
    pub fn send_response(
        &mut self,
        id: StreamId,
        fields: Vec<HeaderField>,
        end_stream: bool,
    ) -> Result<(), UserError> {
        self.queue_response(id, fields, end_stream, FieldOrigin::Any)
    }

    /// [`send_response`](Self::send_response) for fields built from `http`'s
    /// types (see [`FieldOrigin::Built`]).
    pub(crate) fn send_built_response(
        &mut self,
        id: StreamId,
        fields: Vec<HeaderField>,
        end_stream: bool,
    ) -> Result<(), UserError> {
        self.queue_response(id, fields, end_stream, FieldOrigin::Built)
    }

    fn queue_response(
        &mut self,
        id: StreamId,
        fields: Vec<HeaderField>,
        end_stream: bool,
        origin: FieldOrigin,
    ) -> Result<(), UserError> {
        if self.config.role != Role::Server {
            return Err(UserError::WrongRole);
        }
        let stream = self.store.get(id).ok_or(UserError::UnknownStream(id))?;
        if stream.headers_queued {
            return Err(UserError::HeadersOutOfOrder(id));
        }
        if !stream.state.can_send() {
            return Err(UserError::SendClosed(id));
        }
        let checked = check_outgoing(BlockKind::Response, &fields, origin)?;
        let informational = checked.status.is_some_and(|s| s < 200);
        if informational && (end_stream || checked.status == Some(101)) {
            return Err(UserError::Malformed(Malformed::UnexpectedHeaders));
        }
        self.check_header_list_size(&fields)?;
        if !informational && let Some(stream) = self.store.get_mut(id) {
            stream.headers_queued = true;
            stream.end_queued = end_stream;
        }
        self.loopy.control().push(ControlItem::Headers {
            stream_id: id,
            fields,
            end_stream,
        });
        Ok(())
    }

    /// Queues DATA; returns how many bytes of `data` were taken.
    ///
    /// Takes everything, or as much as the stream's and the connection's
    /// send buffers have room for (see [`Config::max_send_buffer_per_stream`]).
    /// When it takes less, `end_stream` is not applied: offer the rest again
    /// after [`Event::Writable`] for this stream.
    ///
    /// [`Config::max_send_buffer_per_stream`]: super::Config::max_send_buffer_per_stream
    pub fn send_data(
        &mut self,
        id: StreamId,
        data: Bytes,
        end_stream: bool,
    ) -> Result<usize, UserError> {
        let stream = self.sendable(id)?;
        let _ = stream;
        let len = data.len();
        let taken = self
            .loopy
            .push_data(id, data, end_stream)
            .map_err(|_| UserError::SendClosed(id))?;
        if taken == len
            && end_stream
            && let Some(stream) = self.store.get_mut(id)
        {
            stream.end_queued = true;
        }
        Ok(taken)
    }

    /// Queues trailers after the stream's data; they end the stream.
    pub fn send_trailers(
        &mut self,
        id: StreamId,
        fields: Vec<HeaderField>,
    ) -> Result<(), UserError> {
        self.queue_trailers(id, fields, FieldOrigin::Any)
    }

    /// [`send_trailers`](Self::send_trailers) for fields built from `http`'s
    /// types, or received trailers passed on (see [`FieldOrigin::Built`]).
    pub(crate) fn send_built_trailers(
        &mut self,
        id: StreamId,
        fields: Vec<HeaderField>,
    ) -> Result<(), UserError> {
        self.queue_trailers(id, fields, FieldOrigin::Built)
    }

    fn queue_trailers(
        &mut self,
        id: StreamId,
        fields: Vec<HeaderField>,
        origin: FieldOrigin,
    ) -> Result<(), UserError> {
        self.sendable(id)?;
        check_outgoing(BlockKind::Trailers, &fields, origin)?;
        self.check_header_list_size(&fields)?;
        self.loopy
            .push_trailers(id, fields)
            .map_err(|_| UserError::SendClosed(id))?;
        if let Some(stream) = self.store.get_mut(id) {
            stream.end_queued = true;
        }
        Ok(())
    }

    /// The stream exists, its headers are queued and its send side is open.
    fn sendable(&self, id: StreamId) -> Result<&Stream, UserError> {
        let stream = self.store.get(id).ok_or(UserError::UnknownStream(id))?;
        if !stream.headers_queued {
            return Err(UserError::HeadersOutOfOrder(id));
        }
        if stream.end_queued || stream.state.is_closed() {
            return Err(UserError::SendClosed(id));
        }
        Ok(stream)
    }

    fn check_header_list_size(&self, fields: &[HeaderField]) -> Result<(), UserError> {
        let Some(max) = self.peer.max_header_list_size else {
            return Ok(());
        };
        let size: usize = fields.iter().map(HeaderField::size).sum();
        if size > max as usize {
            return Err(UserError::HeaderListTooLarge);
        }
        Ok(())
    }

    /// Resets a stream with `reason` and frees its state. Queued DATA is
    /// dropped; data the application had not released is given back to the
    /// connection window.
    ///
    /// Same rule as [`release_capacity`](Connection::release_capacity): on a
    /// stream that already closed it only frees what the stream still held
    /// and returns `Ok`; on an id no stream ever had (or stream 0),
    /// [`UserError::UnknownStream`].
    pub fn reset(&mut self, id: StreamId, reason: Reason) -> Result<(), UserError> {
        let Some(stream) = self.store.get(id) else {
            return self.check_was_used(id);
        };
        if stream.state.is_closed() {
            // Closed, only holding data not yet released: just free it.
            self.release_all(id);
            return Ok(());
        }
        self.loopy.cancel_stream(id);
        if stream.state == StreamState::Idle {
            // Its HEADERS never went out: nothing to tell the peer (RST_STREAM
            // on an idle stream is a protocol error, §6.4).
            self.pending_open.retain(|p| p.id != id);
            self.store.remove(id);
            self.store.remember(id, CloseCause::ResetSent);
        } else {
            self.loopy
                .control()
                .push(ControlItem::Reset(RstStream::new(id, reason)));
            self.store
                .set_state(id, StreamState::Closed(CloseCause::ResetSent));
            self.release_all(id);
        }
        self.open_pending();
        Ok(())
    }

    /// For a stream no longer live: `Ok` when its id was used (it closed
    /// and was freed, with its credit given back), else `UnknownStream`.
    fn check_was_used(&self, id: StreamId) -> Result<(), UserError> {
        let used = if id == StreamId::ZERO {
            false
        } else if self.is_peer_initiated(id) {
            id <= self.last_remote_id
        } else {
            id.value() < self.next_local_id
        };
        if used || self.store.closed_cause(id).is_some() {
            Ok(())
        } else {
            Err(UserError::UnknownStream(id))
        }
    }

    /// The application consumed `n` bytes of the stream's DATA: they count as
    /// free window again. WINDOW_UPDATE goes out once a quarter of the window was
    /// released (per stream and for the connection), which keeps the peer
    /// sending without a frame per read. Releasing more than was received is
    /// clamped.
    ///
    /// This also decides when a stream is freed: a closed stream stays live
    /// (in [`stats`](Connection::stats), against a graceful
    /// [`shutdown`](Connection::shutdown)) until all its DATA is released or
    /// it is [`reset`](Connection::reset). [`Config::release_on_delivery`]
    /// releases DATA as [`poll_event`](Connection::poll_event) hands it out.
    ///
    /// Same rule as `reset`: on a stream that closed and was freed it does
    /// nothing and returns `Ok`; on an id no stream ever had (or stream 0),
    /// [`UserError::UnknownStream`].
    ///
    /// [`Config::release_on_delivery`]: super::Config::release_on_delivery
    pub fn release_capacity(&mut self, id: StreamId, n: usize) -> Result<(), UserError> {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let Some(stream) = self.store.get_mut(id) else {
            return self.check_was_used(id);
        };
        let released = stream.recv.release(n);
        let update = if stream.state.can_recv() {
            stream.recv.take_update()
        } else {
            None
        };
        self.conn_recv.release(released);
        if let Some(increment) = update {
            self.loopy
                .control()
                .push(ControlItem::WindowUpdate(WindowUpdate::new(id, increment)));
        }
        self.queue_connection_window_update();
        self.free_if_done(id);
        Ok(())
    }

    /// Sends a PING; its ACK comes back as [`Event::PingAck`] with the
    /// round-trip time on the caller's clock. Returns the payload used.
    pub fn ping(&mut self, now: Instant) -> Result<[u8; 8], UserError> {
        if !matches!(self.lifecycle, Lifecycle::Open | Lifecycle::Draining) {
            return Err(UserError::NotAccepting);
        }
        if self.pings.len() >= self.config.max_outstanding_pings {
            return Err(UserError::TooManyPings);
        }
        let payload = self.next_ping_payload();
        self.pings.push_back((payload, now));
        self.loopy
            .control()
            .push(ControlItem::Ping(Ping::new(payload)));
        Ok(payload)
    }

    /// Graceful shutdown: no new streams, let the ones in flight finish, then
    /// close ([`Event::Closed`] with no error).
    ///
    /// A server sends GOAWAY with the largest stream id and a PING first, so
    /// requests already in flight toward it are not lost, then the real last
    /// stream id once the PING is answered (or after
    /// [`Config::shutdown_ping_timeout`](super::Config::shutdown_ping_timeout)).
    /// A client sends GOAWAY and stops opening streams; requests still waiting
    /// for a slot are reported reset with REFUSED_STREAM.
    ///
    /// A stream counts as finished once it closed *and* the application
    /// released all its DATA ([`release_capacity`](Connection::release_capacity)
    /// or [`reset`](Connection::reset)): a caller that never releases keeps
    /// the connection draining, and a transport that ends meanwhile reports
    /// [`ConnectionError::UnexpectedEof`].
    pub fn shutdown(&mut self, now: Instant) {
        if self.lifecycle != Lifecycle::Open {
            return;
        }
        self.start_draining();
        if self.config.role == Role::Server {
            self.loopy.control().push(ControlItem::GoAway(GoAway::new(
                StreamId::MAX,
                Reason::NO_ERROR,
            )));
            self.goaway_sent = Some(StreamId::MAX);
            let payload = self.next_ping_payload();
            self.loopy
                .control()
                .push(ControlItem::Ping(Ping::new(payload)));
            self.shutdown = Shutdown::AwaitingPing(payload);
            self.timers
                .set(Timer::ShutdownPing, now + self.config.shutdown_ping_timeout);
        } else {
            let last = self.goaway_last_id();
            self.goaway_sent = Some(last);
            self.shutdown = Shutdown::Final;
            self.loopy
                .control()
                .push(ControlItem::GoAway(GoAway::new(last, Reason::NO_ERROR)));
            for p in std::mem::take(&mut self.pending_open) {
                self.loopy.cancel_stream(p.id);
                self.store.remove(p.id);
                self.events.push_back(Event::Reset {
                    stream_id: p.id,
                    reason: Reason::REFUSED_STREAM,
                    initiator: Initiator::Local,
                    why: Some(ResetCause::ShuttingDown),
                });
            }
        }
    }

    /// Changes our SETTINGS mid-connection: sends a SETTINGS frame; each
    /// change takes effect when the peer acknowledges it ([`Event::SettingsAcked`]),
    /// and a missing ACK past [`Config::settings_timeout`] ends the connection.
    /// A new INITIAL_WINDOW_SIZE applies to every open stream as a delta.
    ///
    /// [`Config::settings_timeout`]: super::Config::settings_timeout
    pub fn update_settings(
        &mut self,
        update: SettingsUpdate,
        now: Instant,
    ) -> Result<(), UserError> {
        if !matches!(self.lifecycle, Lifecycle::Open | Lifecycle::Draining) {
            return Err(UserError::NotAccepting);
        }
        let mut b = Settings::builder();
        if let Some(v) = update.header_table_size {
            b = b.header_table_size(v);
        }
        if let Some(v) = update.max_concurrent_streams {
            b = b.max_concurrent_streams(v);
        }
        if let Some(v) = update.initial_window_size {
            b = b.initial_window_size(v);
        }
        if let Some(v) = update.max_header_list_size {
            b = b.max_header_list_size(v);
        }
        let frame = b.build().map_err(|_| UserError::InvalidSetting)?;
        if let Some(v) = update.header_table_size
            && v as usize > self.hpack.max_table_size()
        {
            // The peer may use a larger table as soon as it reads this
            // SETTINGS, before its ACK reaches us: allow it now (a smaller
            // one waits for the ACK).
            self.hpack.set_max_table_size(v as usize);
        }
        self.now = now;
        self.loopy.control().push(ControlItem::Settings(frame));
        self.pending_settings.push_back(update);
        if !self.timers.is_set(Timer::SettingsAck) {
            self.timers
                .set(Timer::SettingsAck, now + self.config.settings_timeout);
        }
        Ok(())
    }

    /// Sets the connection receive window (the most received DATA the
    /// application may hold unreleased across all streams). Growing it sends
    /// a WINDOW_UPDATE at once; shrinking takes effect as data is released
    /// (a window, once granted, cannot be taken back).
    pub fn set_connection_window_size(&mut self, size: u32) {
        if !matches!(self.lifecycle, Lifecycle::Open | Lifecycle::Draining) {
            // Nothing will be written any more: a WINDOW_UPDATE would sit
            // in the control queue for the rest of the connection's life.
            return;
        }
        let size = size.min(super::flow::MAX_WINDOW);
        self.config.connection_window_size = size;
        self.conn_recv.set_target(size);
        if let Some(increment) = self.conn_recv.take_update_at(0) {
            let update = WindowUpdate::new(StreamId::ZERO, increment);
            self.loopy.control().push(ControlItem::WindowUpdate(update));
        }
    }

    /// Sets one stream's receive window: the most received DATA the
    /// application may hold unreleased on it. Growing it sends the
    /// difference as a WINDOW_UPDATE at once; shrinking takes effect as
    /// data is released (a window, once granted, cannot be taken back).
    ///
    /// With a small SETTINGS_INITIAL_WINDOW_SIZE this directs credit: a
    /// peer may send on the streams given a larger window and on no other,
    /// which lets an adapter guarantee that one chosen stream (say, the
    /// oldest message being assembled) can finish while others wait. A
    /// later change of our SETTINGS_INITIAL_WINDOW_SIZE resets every
    /// stream's window to the new value (RFC 9113 §6.9.2). Unknown or
    /// finished streams are ignored.
    pub fn set_stream_recv_window(&mut self, id: StreamId, size: u32) {
        let Some(stream) = self.store.get_mut(id) else {
            return;
        };
        if !stream.state.can_recv() {
            return;
        }
        stream.recv.set_target(size.min(super::flow::MAX_WINDOW));
        if let Some(increment) = stream.recv.take_update_at(0) {
            self.loopy
                .control()
                .push(ControlItem::WindowUpdate(WindowUpdate::new(id, increment)));
        }
    }

    /// Abrupt close: GOAWAY with `reason`, every stream dropped at once.
    pub fn close(&mut self, reason: Reason) {
        self.close_with(reason, ConnectionError::LocalClose { reason });
    }

    /// [`close`](Self::close) with GOAWAY debug data (e.g. gRPC's
    /// `too_many_pings`, which peers read to back off).
    pub fn close_with_debug_data(&mut self, reason: Reason, debug_data: Bytes) {
        self.close_with_debug(reason, ConnectionError::LocalClose { reason }, debug_data);
    }
}
