//! [`Connection`]: the sans-IO HTTP/2 endpoint, client or server.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::config::{Config, Role, SettingsUpdate};
use super::error::{ConnectionError, PeerViolation, TimeoutKind};
use super::event::{Event, PeerSettings};
use super::flow::{DEFAULT_WINDOW, MAX_WINDOW, RecvWindow};
use super::limits::TokenBucket;
use super::stats::{ConnectionStats, StreamStats};
use super::stream::store::Store;
use super::timer::{Timer, TimerTable};
use crate::frame::{self, GoAway, Ping, Reason, Settings, StreamId, WindowUpdate};
use crate::hpack::{self, DecoderLimits, HeaderField};
use crate::sched::control::ControlItem;
use crate::sched::loopy::{Loopy, SendLimits, Written};
use crate::sched::transmit::TransmitBuf;

/// Streams we open before the peer's first SETTINGS tells us its limit
/// (Go's `initialMaxConcurrentStreams`, nghttp2's
/// `NGHTTP2_DEFAULT_MAX_CONCURRENT_STREAMS` for a remote peer).
pub(crate) const INITIAL_PEER_MAX_CONCURRENT_STREAMS: usize = 100;

/// Event queue capacity kept once drained; past it the drained queue frees
/// its memory. Ordinary traffic (tens of events between two polls) never
/// reallocates; a burst does not pin its memory for the connection's life.
const KEEP_QUEUED_EVENTS: usize = 64;

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// Normal operation.
    Open,
    /// GOAWAY sent or received: no new streams; existing ones finish.
    Draining,
    /// A connection error or an abrupt close: flush the GOAWAY, then stop.
    Closing,
    /// Finished.
    Closed,
}

/// A request of ours waiting for a slot under the peer's MAX_CONCURRENT_STREAMS.
#[derive(Debug)]
pub(crate) struct PendingOpen {
    pub id: StreamId,
    pub fields: Vec<HeaderField>,
    pub end_stream: bool,
}

/// A header block split over HEADERS + CONTINUATION frames, being gathered.
#[derive(Debug)]
pub(crate) struct PartialBlock {
    pub stream_id: StreamId,
    pub end_stream: bool,
    pub fragments: BytesMut,
    /// A stream error the HEADERS frame itself carried (e.g. a priority
    /// self-dependency): applied once the block is decoded.
    pub forced: Option<Reason>,
    /// CONTINUATION frames so far.
    pub continuations: usize,
}

/// Graceful shutdown progress (GOAWAY 2^31-1, PING, then the real GOAWAY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shutdown {
    None,
    /// First GOAWAY and PING sent; waiting for the PING ACK.
    AwaitingPing([u8; 8]),
    /// Final GOAWAY queued.
    Final,
}

/// An HTTP/2 connection endpoint that never does I/O.
///
/// Feed it what the transport read with [`recv`](Connection::recv), act on
/// [`poll_event`](Connection::poll_event), send what
/// [`poll_transmit`](Connection::poll_transmit) produces, and call
/// [`handle_timeout`](Connection::handle_timeout) at
/// [`poll_timeout`](Connection::poll_timeout). Time is always an argument.
/// The [module docs](super) give the loop: which calls, in which order.
///
/// ```
/// use std::time::Instant;
/// use bytes::BytesMut;
/// use h2proto::hpack::HeaderField;
/// use h2proto::proto::{Config, Connection, Event};
///
/// let now = Instant::now();
/// let mut client = Connection::new(Config::client(), now);
/// let mut server = Connection::new(Config::server(), now);
///
/// let request = vec![
///     HeaderField::new(":method", "GET"),
///     HeaderField::new(":scheme", "https"),
///     HeaderField::new(":authority", "example.com"),
///     HeaderField::new(":path", "/"),
/// ];
/// let id = client.send_request(request, true)?;
///
/// // Move bytes both ways until both sides are quiet (a socket would do this).
/// let mut wire = BytesMut::new();
/// for _ in 0..4 {
///     client.poll_transmit(&mut wire, usize::MAX, now);
///     server.recv(&mut wire, now);
///     while let Some(event) = server.poll_event() {
///         if let Event::Headers { stream_id, headers, .. } = event {
///             assert_eq!(headers.path(), Some(&b"/"[..]));
///             server.send_response(stream_id, vec![HeaderField::new(":status", "204")], true)?;
///         }
///     }
///     server.poll_transmit(&mut wire, usize::MAX, now);
///     client.recv(&mut wire, now);
/// }
/// let mut status = None;
/// while let Some(event) = client.poll_event() {
///     if let Event::Headers { stream_id, headers, end_stream } = event {
///         assert_eq!((stream_id, end_stream), (id, true));
///         status = headers.status();
///     }
/// }
/// assert_eq!(status, Some(204));
/// # Ok::<(), h2proto::proto::UserError>(())
/// ```
#[derive(Debug)]
pub struct Connection {
    pub(crate) config: Config,
    pub(crate) decoder: frame::Decoder,
    pub(crate) hpack: hpack::Decoder,
    pub(crate) loopy: Loopy,
    pub(crate) store: Store,
    pub(crate) events: VecDeque<Event>,
    pub(crate) timers: TimerTable,
    pub(crate) conn_recv: RecvWindow,
    pub(crate) peer: PeerSettings,
    /// Stream receive windows start at max(65,535, ours) until the peer
    /// acknowledges our SETTINGS, then drop to ours.
    pub(crate) stream_recv_window: u32,
    /// Our SETTINGS sent and not yet acknowledged, oldest first.
    pub(crate) pending_settings: VecDeque<SettingsUpdate>,
    pub(crate) preface_received: bool,
    pub(crate) got_settings: bool,
    pub(crate) next_local_id: u32,
    pub(crate) last_remote_id: StreamId,
    pub(crate) pending_open: VecDeque<PendingOpen>,
    pub(crate) pings: VecDeque<([u8; 8], Instant)>,
    pub(crate) ping_counter: u64,
    pub(crate) partial: Option<PartialBlock>,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) goaway_sent: Option<StreamId>,
    pub(crate) goaway_received: Option<(StreamId, Reason)>,
    pub(crate) shutdown: Shutdown,
    pub(crate) close_error: Option<ConnectionError>,
    /// The end of the connection, decided and not yet reported: `poll_event`
    /// returns it as `Event::Closed` after every event queued before it
    /// (an error close is reported at once, before its GOAWAY is written).
    pub(crate) unreported_close: Option<Option<ConnectionError>>,
    /// `Event::Closed` was handed out (exactly once).
    pub(crate) closed_reported: bool,
    pub(crate) counters: super::stats::Counters,
    /// The latest `now` any entry point was given (the core keeps no clock).
    pub(crate) now: Instant,
    /// Since when the connection has carried no stream, and how many it had
    /// opened by then (`idle.rs`).
    pub(crate) idle_since: Option<(Instant, u64)>,
    pub(crate) reset_bucket: TokenBucket,
    pub(crate) glitch_bucket: TokenBucket,
    pub(crate) ping_bucket: TokenBucket,
    pub(crate) settings_bucket: TokenBucket,
    /// We wrote DATA or HEADERS since the peer's last PING: its next PING
    /// is free (see [`Config::ping_rate`]).
    pub(crate) sent_since_ping: bool,
    /// DATA bytes written since the send-stall timer was last re-armed.
    pub(crate) stall_progress: usize,
}

impl Connection {
    /// A new connection. A client queues the connection preface; both roles
    /// queue their SETTINGS (and a connection WINDOW_UPDATE when the
    /// configured window is above 65,535) for the first `poll_transmit`.
    ///
    /// Out-of-range settings in `config` are clamped to what RFC 9113 allows.
    pub fn new(mut config: Config, now: Instant) -> Self {
        config.initial_window_size = config.initial_window_size.min(MAX_WINDOW);
        config.connection_window_size = config
            .connection_window_size
            .clamp(DEFAULT_WINDOW, MAX_WINDOW);
        config.max_frame_size = config
            .max_frame_size
            .clamp(frame::DEFAULT_MAX_FRAME_SIZE, frame::MAX_MAX_FRAME_SIZE);
        let is_server = config.role == Role::Server;
        let limits = SendLimits {
            stream_buffer: config.max_send_buffer_per_stream,
            connection_buffer: config.max_send_buffer_per_connection,
        };
        let mut hpack = hpack::Decoder::with_limits(
            // Until our SETTINGS are acknowledged the peer may use the default 4096.
            (config.header_table_size as usize).max(4096),
            DecoderLimits {
                max_header_list_size: config.max_header_list_size as usize,
                max_fields: config.max_header_fields,
                max_string_len: config.max_header_list_size as usize,
            },
        );
        // Fields taken from the tables then skip the block check's byte reads.
        hpack.note_valid_entries(super::validate::field_bytes_valid);
        let mut conn = Connection {
            decoder: frame::Decoder::with_max_frame_size(config.max_frame_size),
            hpack,
            loopy: Loopy::new(limits, 4096),
            store: Store::new(is_server, config.max_closed_streams),
            events: VecDeque::new(),
            timers: TimerTable::default(),
            conn_recv: RecvWindow::new(DEFAULT_WINDOW),
            peer: PeerSettings::default(),
            stream_recv_window: config.initial_window_size.max(DEFAULT_WINDOW),
            pending_settings: VecDeque::new(),
            preface_received: !is_server,
            got_settings: false,
            next_local_id: if is_server { 2 } else { 1 },
            last_remote_id: StreamId::ZERO,
            pending_open: VecDeque::new(),
            pings: VecDeque::new(),
            ping_counter: 0,
            partial: None,
            lifecycle: Lifecycle::Open,
            goaway_sent: None,
            goaway_received: None,
            shutdown: Shutdown::None,
            close_error: None,
            unreported_close: None,
            closed_reported: false,
            counters: Default::default(),
            now,
            idle_since: None,
            reset_bucket: config.reset_rate.bucket(),
            glitch_bucket: config.glitch_rate.bucket(),
            ping_bucket: config.ping_rate.bucket(),
            settings_bucket: config.settings_rate.bucket(),
            sent_since_ping: false,
            stall_progress: 0,
            config,
        };
        if !is_server {
            conn.loopy.control().push(ControlItem::Preface);
        }
        let settings = conn.local_settings();
        conn.loopy.control().push(ControlItem::Settings(settings));
        let initial = SettingsUpdate::from_config(&conn.config);
        conn.pending_settings.push_back(initial);
        conn.conn_recv
            .set_target(conn.config.connection_window_size);
        conn.queue_connection_window_update();
        conn.timers
            .set(Timer::SettingsAck, now + conn.config.settings_timeout);
        conn.start_lifetime(now);
        conn
    }

    fn local_settings(&self) -> Settings {
        let c = &self.config;
        let mut b = Settings::builder()
            .max_concurrent_streams(c.max_concurrent_streams)
            .initial_window_size(c.initial_window_size)
            .max_frame_size(c.max_frame_size)
            .max_header_list_size(c.max_header_list_size);
        if c.header_table_size != 4096 {
            b = b.header_table_size(c.header_table_size);
        }
        if c.role == Role::Client {
            b = b.enable_push(false);
        }
        // Every value was clamped into its §6.5.2 range in `new`.
        b.build().unwrap_or_else(|_| Settings::ack())
    }

    /// The role this connection plays.
    pub fn role(&self) -> Role {
        self.config.role
    }

    /// The configuration in force (after clamping).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The peer's settings as currently applied.
    pub fn peer_settings(&self) -> PeerSettings {
        self.peer
    }

    /// The next event, or `None` when there is nothing more for now.
    ///
    /// With [`Config::release_on_delivery`], handing out an
    /// [`Event::Data`] also releases its bytes (as
    /// [`release_capacity`](Connection::release_capacity) would).
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if event.is_none() {
            if self.events.capacity() > KEEP_QUEUED_EVENTS {
                // A burst (say 100 requests at once) grew the queue: give the
                // memory back rather than hold it for the connection's life.
                self.events = VecDeque::new();
            }
            // Last: whatever the verb that ended the connection queued
            // besides (a stream's reset, say) comes before.
            let error = self.unreported_close.take()?;
            self.closed_reported = true;
            return Some(Event::Closed { error });
        }
        if self.config.release_on_delivery
            && let Some(Event::Data {
                stream_id, data, ..
            }) = &event
        {
            // The bytes leave our hands now: credit goes back. A stream reset
            // since the event was queued already gave everything back.
            let _ = self.release_capacity(*stream_id, data.len());
        }
        event
    }

    /// Whether the caller should read more input. False while we owe the peer
    /// [`Config::pending_responses_high_water`] control frames or more (it is
    /// not reading ours: stop reading it, so TCP slows it down), and once
    /// closing. `recv` itself stops consuming input at the same point.
    pub fn wants_read(&self) -> bool {
        matches!(self.lifecycle, Lifecycle::Open | Lifecycle::Draining)
            && self.loopy.control_ref().responses() < self.config.pending_responses_high_water
    }

    /// Whether [`poll_transmit`](Connection::poll_transmit) has something
    /// to do: bytes to write, or a close to complete (it stays true from an
    /// error or [`close`](Connection::close), and from the end of a graceful
    /// shutdown, until `poll_transmit` finishes the connection).
    pub fn wants_write(&self) -> bool {
        self.lifecycle != Lifecycle::Closed && (self.loopy.wants_write() || self.finish_pending())
    }

    /// Whether the connection is finished: everything it had to write was
    /// taken by `poll_transmit` (a closing GOAWAY included), so the
    /// transport can be closed once those bytes are written.
    pub fn is_closed(&self) -> bool {
        self.lifecycle == Lifecycle::Closed
    }

    /// Appends up to `max` bytes to send to `dst`; returns how many.
    ///
    /// `dst` is a `BytesMut` (every frame copied into it) or a
    /// [`Transmit`](crate::proto::Transmit) (large DATA payloads kept as the
    /// application's `Bytes`, for a vectored write).
    pub fn poll_transmit<B: TransmitBuf>(
        &mut self,
        dst: &mut B,
        max: usize,
        now: Instant,
    ) -> usize {
        if self.lifecycle == Lifecycle::Closed {
            return 0;
        }
        self.now = now;
        // Streams may have closed since the last call (on receive, on reset):
        // requests waiting for a slot go first.
        self.open_pending();
        let data_before = self.loopy.data_written();
        let n = self.loopy.poll_transmit(dst, max);
        let mut written = self.loopy.take_written();
        for w in written.drain(..) {
            self.sent_since_ping |= matches!(w, Written::Headers { .. });
            self.on_written(w);
        }
        self.sent_since_ping |= self.loopy.data_written() > data_before;
        self.loopy.recycle_written(written);
        self.track_send_progress(self.loopy.data_written() - data_before);
        self.maybe_finish();
        self.track_idle(now);
        n
    }

    /// The earliest time [`handle_timeout`](Connection::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.lifecycle == Lifecycle::Closed {
            None
        } else {
            self.timers.next_timeout()
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let fired: Vec<Timer> = self.timers.expired(now).collect();
        for timer in fired {
            match timer {
                Timer::SettingsAck => {
                    self.close_with(
                        Reason::SETTINGS_TIMEOUT,
                        ConnectionError::Timeout(TimeoutKind::SettingsAck),
                    );
                }
                Timer::ShutdownPing => self.final_goaway(),
                Timer::Idle => self.idle_timer_fired(now),
                Timer::Age => self.age_timer_fired(now),
                Timer::AgeGrace => self.age_grace_fired(),
                // Streams the peer holds shut while it reads the rest of the
                // connection are flow control, not a slow reader: what they
                // hold is capped per stream. Looked at again a timeout later.
                Timer::SendStall if self.loopy.held_by_stream_windows() => {
                    self.counters.streams_held_by_peer_windows += 1;
                    self.stall_progress = 0;
                    if let Some(timeout) = self.config.send_stall_timeout {
                        self.timers.set(Timer::SendStall, now + timeout);
                    }
                }
                Timer::SendStall if self.loopy.queued_data() > 0 => {
                    self.counters.send_stalls += 1;
                    self.close_with(
                        Reason::ENHANCE_YOUR_CALM,
                        ConnectionError::Timeout(TimeoutKind::SendStall),
                    );
                }
                _ => {}
            }
        }
    }

    /// The transport reached end of file: nothing more will arrive. The
    /// connection ends at once: [`Event::Closed`], with the error of a GOAWAY
    /// the peer sent, else [`ConnectionError::UnexpectedEof`] if streams were
    /// still open (a stream closed both ways whose data the application has
    /// not released yet is complete, and does not count).
    pub fn recv_eof(&mut self) {
        if matches!(self.lifecycle, Lifecycle::Closing | Lifecycle::Closed) {
            return;
        }
        // Streams closed both ways but not yet released by the application
        // (their last DATA unread) were complete: they do not make the end
        // unexpected.
        let unfinished = self.store.iter().any(|s| !s.state.is_closed());
        let error =
            (unfinished || !self.pending_open.is_empty()).then_some(ConnectionError::UnexpectedEof);
        self.close_error = self.close_error.take().or(error);
        self.finish();
    }

    /// Slow-reader defence: queued DATA must make real progress (at least
    /// `send_stall_min_progress` bytes) within `send_stall_timeout`; tiny
    /// WINDOW_UPDATEs that let a few bytes out do not re-arm the timer.
    fn track_send_progress(&mut self, written: usize) {
        let Some(timeout) = self.config.send_stall_timeout else {
            return;
        };
        if self.loopy.queued_data() == 0 || self.lifecycle == Lifecycle::Closing {
            self.timers.stop(Timer::SendStall);
            self.stall_progress = 0;
            return;
        }
        self.stall_progress += written;
        if !self.timers.is_set(Timer::SendStall)
            || self.stall_progress >= self.config.send_stall_min_progress
        {
            self.stall_progress = 0;
            self.timers.set(Timer::SendStall, self.now + timeout);
        }
    }

    /// Queues a control frame we owe the peer because of what it sent. Past
    /// [`Config::max_pending_responses`] the connection ends instead: the peer
    /// is not reading, and an ACK must never be dropped silently.
    pub(crate) fn respond(&mut self, item: ControlItem) {
        if matches!(self.lifecycle, Lifecycle::Closing | Lifecycle::Closed) {
            return;
        }
        if self.loopy.control_ref().responses() >= self.config.max_pending_responses {
            self.counters.pending_response_cap_hits += 1;
            self.peer_error(Reason::ENHANCE_YOUR_CALM, PeerViolation::NotReading);
            return;
        }
        self.loopy.control().push_response(item);
    }

    /// Charges one "glitch" (a frame that costs work and carries nothing).
    pub(crate) fn glitch(&mut self) {
        self.counters.glitches += 1;
        if !self.glitch_bucket.try_take(self.now) {
            self.counters.glitch_limit_hits += 1;
            self.peer_error(Reason::ENHANCE_YOUR_CALM, PeerViolation::TooManyGlitches);
        }
    }

    /// Charges one reset (a peer cancel of its own stream, or our reset for its error).
    pub(crate) fn charge_reset(&mut self) {
        if !self.reset_bucket.try_take(self.now) {
            self.counters.reset_limit_hits += 1;
            self.peer_error(Reason::ENHANCE_YOUR_CALM, PeerViolation::TooManyResets);
        }
    }

    /// Reacts to what the writer put on the wire: stream state changes that
    /// happen when our frames are sent (RFC 9113 §5.1).
    fn on_written(&mut self, written: Written) {
        use super::stream::state::{Direction::Send, Input};
        match written {
            Written::Headers {
                stream_id,
                end_stream,
            } => {
                self.store
                    .transition(stream_id, Send, Input::Headers { end_stream });
                self.free_if_done(stream_id);
            }
            Written::EndOfData { stream_id } => {
                self.store
                    .transition(stream_id, Send, Input::Data { end_stream: true });
                self.free_if_done(stream_id);
            }
            Written::Reset { .. } | Written::GoAway { .. } => {}
            Written::Writable { stream_id } => self.events.push_back(Event::Writable { stream_id }),
        }
        self.open_pending();
    }

    /// Frees a stream's state once it is done with: the writer's as soon as
    /// the stream is closed (until then it tracks the send window, even after
    /// our END_STREAM went out: RFC 9113 §6.9.1 still applies to a
    /// half-closed (local) stream), the store's once the application also
    /// released all its received data.
    pub(crate) fn free_if_done(&mut self, id: StreamId) {
        if self.store.get(id).is_some_and(|s| !s.state.is_closed()) {
            // Still open: nothing to free (the store frees closed streams only).
            return;
        }
        self.loopy.close_stream(id);
        self.store.free_if_done(id);
    }

    /// Sends queued requests while the peer's concurrency limit allows.
    pub(crate) fn open_pending(&mut self) {
        while !self.pending_open.is_empty()
            && self.lifecycle == Lifecycle::Open
            && self.has_open_slot()
        {
            let Some(p) = self.pending_open.pop_front() else {
                break;
            };
            self.dispatch_headers(p.id, p.fields, p.end_stream);
        }
    }

    pub(crate) fn has_open_slot(&self) -> bool {
        let limit = match self.peer.max_concurrent_streams {
            Some(n) => n as usize,
            // The peer's limit is not known before its SETTINGS: assume 100,
            // as Go's transport and nghttp2 do, rather than "unlimited".
            None if !self.got_settings => INITIAL_PEER_MAX_CONCURRENT_STREAMS,
            None => usize::MAX,
        };
        self.store.local_in_use() < limit
    }

    /// Queues HEADERS that open one of our streams; it counts toward the
    /// peer's limit from now on.
    pub(crate) fn dispatch_headers(
        &mut self,
        id: StreamId,
        fields: Vec<HeaderField>,
        end_stream: bool,
    ) {
        self.store.dispatch(id);
        self.loopy.control().push(ControlItem::Headers {
            stream_id: id,
            fields,
            end_stream,
        });
    }

    pub(crate) fn queue_connection_window_update(&mut self) {
        if let Some(increment) = self.conn_recv.take_update() {
            let update = WindowUpdate::new(StreamId::ZERO, increment);
            self.loopy.control().push(ControlItem::WindowUpdate(update));
        }
    }

    /// Ends the connection because of an error: GOAWAY with `reason`, every
    /// stream dropped, input ignored from now on.
    pub(crate) fn close_with(&mut self, reason: Reason, error: ConnectionError) {
        self.close_with_debug(reason, error, Bytes::new());
    }

    /// [`close_with`](Self::close_with), with GOAWAY debug data.
    pub(crate) fn close_with_debug(
        &mut self,
        reason: Reason,
        error: ConnectionError,
        debug: Bytes,
    ) {
        if matches!(self.lifecycle, Lifecycle::Closing | Lifecycle::Closed) {
            return;
        }
        // Reported at once, not when the GOAWAY is written: the caller
        // learns from the verb that caused it (`recv`, `handle_timeout`,
        // `close`); `wants_write()` stays true until the GOAWAY is out.
        self.unreported_close = Some(Some(error));
        self.drop_all_streams();
        let last = self.goaway_last_id();
        let mut goaway = GoAway::new(last, reason);
        goaway.additional_debug_data = debug;
        self.goaway_sent = Some(last);
        self.loopy.control().push(ControlItem::GoAway(goaway));
        self.lifecycle = Lifecycle::Closing;
        for t in Timer::ALL {
            self.timers.stop(t);
        }
    }

    /// A peer violation at connection scope.
    pub(crate) fn peer_error(&mut self, reason: Reason, violation: PeerViolation) {
        self.counters.connection_errors += 1;
        self.close_with(reason, ConnectionError::PeerViolation { reason, violation });
    }

    fn drop_all_streams(&mut self) {
        for id in self.store.ids() {
            self.loopy.cancel_stream(id);
            if let Some(stream) = self.store.remove(id) {
                // Nobody will release it now: keep `stats()` truthful.
                self.conn_recv.release(stream.recv.unreleased());
            }
        }
        for p in std::mem::take(&mut self.pending_open) {
            self.loopy.cancel_stream(p.id);
        }
    }

    /// Graceful shutdown, second step: the real last stream id.
    pub(crate) fn final_goaway(&mut self) {
        if self.shutdown == Shutdown::Final || self.lifecycle != Lifecycle::Draining {
            return;
        }
        self.shutdown = Shutdown::Final;
        self.timers.stop(Timer::ShutdownPing);
        let last = self.goaway_last_id();
        self.goaway_sent = Some(last);
        let goaway = GoAway::new(last, Reason::NO_ERROR);
        self.loopy.control().push(ControlItem::GoAway(goaway));
    }

    /// The last stream id for a GOAWAY: the highest the peer opened, but
    /// never above one we sent already (§6.8: it "MUST NOT increase"). The
    /// peer may still open streams after our GOAWAY; they are ignored, and
    /// a later GOAWAY must not claim them.
    pub(crate) fn goaway_last_id(&self) -> StreamId {
        match self.goaway_sent {
            Some(sent) => sent.min(self.last_remote_id),
            None => self.last_remote_id,
        }
    }

    /// Closes once nothing is left to do: after an error once the GOAWAY is
    /// out, when draining once every stream finished.
    pub(crate) fn maybe_finish(&mut self) {
        if self.finish_pending() && !self.loopy.wants_write() {
            self.finish();
        }
    }

    /// The connection ends once what is queued is written: it is closing,
    /// or draining with no stream left.
    fn finish_pending(&self) -> bool {
        match self.lifecycle {
            Lifecycle::Closing => true,
            Lifecycle::Draining => {
                self.store.is_empty()
                    && self.pending_open.is_empty()
                    && !matches!(self.shutdown, Shutdown::AwaitingPing(_))
            }
            Lifecycle::Open | Lifecycle::Closed => false,
        }
    }

    fn finish(&mut self) {
        self.drop_all_streams();
        self.lifecycle = Lifecycle::Closed;
        for t in Timer::ALL {
            self.timers.stop(t);
        }
        let error = self.close_error.take();
        if !self.closed_reported && self.unreported_close.is_none() {
            self.unreported_close = Some(error);
        }
    }

    /// Starts draining after a GOAWAY: no new streams from now on.
    pub(crate) fn start_draining(&mut self) {
        if self.lifecycle == Lifecycle::Open {
            self.lifecycle = Lifecycle::Draining;
        }
    }

    /// A fresh PING payload of ours.
    pub(crate) fn next_ping_payload(&mut self) -> [u8; 8] {
        self.ping_counter += 1;
        self.ping_counter.to_be_bytes()
    }

    /// Queues a PING ACK we owe the peer, unless it pings faster than
    /// [`Config::ping_rate`] allows (then the connection ends).
    pub(crate) fn answer_ping(&mut self, payload: [u8; 8]) {
        self.counters.pings_received += 1;
        // A PING after something we sent is what a BDP estimator does: free.
        let free = std::mem::take(&mut self.sent_since_ping);
        if !free && !self.ping_bucket.try_take(self.now) {
            self.counters.ping_limit_hits += 1;
            self.counters.connection_errors += 1;
            let reason = Reason::ENHANCE_YOUR_CALM;
            self.close_with_debug(
                reason,
                ConnectionError::PeerViolation {
                    reason,
                    violation: PeerViolation::TooManyPings,
                },
                Bytes::from_static(b"too_many_pings"),
            );
            return;
        }
        self.respond(ControlItem::Ping(Ping::ack(payload)));
    }

    /// Charges one SETTINGS frame (not an ACK) against
    /// [`Config::settings_rate`]; false when over it (the connection ends).
    pub(crate) fn charge_settings(&mut self) -> bool {
        if self.settings_bucket.try_take(self.now) {
            return true;
        }
        self.counters.settings_limit_hits += 1;
        self.peer_error(
            Reason::ENHANCE_YOUR_CALM,
            PeerViolation::TooManySettingsFrames,
        );
        false
    }

    /// Whether this client can take one more request now (Go's
    /// `canTakeNewRequest`): not after GOAWAY either way, not while closing,
    /// not once stream ids ran out, and not when it would have to wait for a
    /// concurrency slot.
    pub fn can_take_new_request(&self) -> bool {
        self.config.role == Role::Client
            && self.lifecycle == Lifecycle::Open
            && self.next_local_id <= StreamId::MAX.value()
            && self.pending_open.is_empty()
            && self.has_open_slot()
    }

    /// Counts, queues and windows: what explains this connection's memory.
    pub fn stats(&self) -> ConnectionStats {
        let mut by_state = super::stats::StatesCount::default();
        for s in self.store.iter() {
            by_state.add(s.state);
        }
        let control = self.loopy.control_ref();
        ConnectionStats {
            streams: by_state,
            pending_open: self.pending_open.len(),
            closed_remembered: self.store.closed_len(),
            control_queued: super::stats::ControlCounts::from_queue(control),
            control_high_water: control.high_water(),
            queued_data: self.loopy.queued_data(),
            send_streams: self.loopy.stream_count(),
            send_window: self.loopy.connection_window(),
            recv_window: self.conn_recv.window(),
            recv_unreleased: self.conn_recv.unreleased(),
            reset_tokens: self.reset_bucket.tokens(),
            glitch_tokens: self.glitch_bucket.tokens(),
            ping_tokens: self.ping_bucket.tokens(),
            settings_tokens: self.settings_bucket.tokens(),
            counters: self.counters,
        }
    }

    /// The state, windows and queued bytes of one live stream.
    pub fn stream_stats(&self, id: StreamId) -> Option<StreamStats> {
        let s = self.store.get(id)?;
        Some(StreamStats {
            state: s.state,
            send_window: self.loopy.stream_window(id),
            queued_data: self.loopy.stream_queued(id),
            recv_window: s.recv.window(),
            recv_unreleased: s.recv.unreleased(),
        })
    }

    /// Live streams (any state but forgotten).
    pub fn live_streams(&self) -> usize {
        self.store.len()
    }
}
