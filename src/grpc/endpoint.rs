//! The gRPC endpoint, one type for both sides: [`Endpoint<S>`](Endpoint)
//! owns the connection, the call table, the event queue, the memory budget
//! and early credit, timers (deadlines, keepalive) and the BDP estimator.
//! What differs by side (request or response rules, how a call ends) is
//! the [`Side`] type parameter's, implemented in `client.rs` and
//! `server.rs`, so this file never names either.
//! Credit, the memory budget and parked messages are in `credit.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::bdp::BdpEstimator;
use super::call::Call;
use super::keepalive::{Keepalive, KeepaliveAction};
use super::status::{Code, Status};
use super::{CallError, CallId, Config, Event, Hold, Metadata};
use crate::frame::{Reason, StreamId};
use crate::proto::{self, Connection, MemoryBudget, Role, SettingsUpdate, TransmitBuf};
use crate::sched::IdMap;

mod credit;

/// Which end of the connection an [`Endpoint`] is:
/// [`ClientSide`](super::ClientSide) or [`ServerSide`](super::ServerSide).
/// Sealed: the two sides are the protocol's.
pub trait Side: behaviour::Behaviour {}

/// What each side implements for the shared endpoint (sealed: the module
/// is private, so no other crate can implement [`Side`]).
pub(super) mod behaviour {
    use super::*;

    /// The side-specific rules the shared endpoint calls into.
    pub trait Behaviour: Debug + Send + Sized + 'static {
        /// The HTTP/2 role of this side.
        const ROLE: Role;
        /// The shortest keepalive interval this side may ping at.
        const MIN_KEEPALIVE_TIME: Duration;
        /// The side's own state, from the configuration.
        fn new(config: &Config) -> Self;
        /// Directed credit (see `credit.rs`): shrinks the advertised
        /// windows in `http2` and returns the stream window the message
        /// being read gets; `None` keeps the configured windows.
        fn directed_credit(http2: &mut proto::Config) -> Option<u32>;
        /// A stream event of a call (headers, data, trailers).
        fn on_event(ep: &mut Endpoint<Self>, event: proto::Event, now: Instant);
        /// Ends the call on `id` and reports it (`Finished` to a client,
        /// `Cancelled` to a server).
        fn end_call(
            ep: &mut Endpoint<Self>,
            id: StreamId,
            status: Status,
            trailers: Option<Metadata>,
        );
        /// Before a message is queued (a server sends its headers first).
        fn before_send(ep: &mut Endpoint<Self>, call: CallId) -> Result<(), CallError>;
        /// The application cancels a call it holds.
        fn cancel(ep: &mut Endpoint<Self>, id: StreamId) -> Result<(), CallError>;
        /// The call's deadline passed: whether the side answered it (a
        /// server's status), else the stream is reset with CANCEL.
        fn answer_deadline(ep: &mut Endpoint<Self>, id: StreamId) -> bool;
        /// After input was processed (a server enforces its ping policy).
        fn after_recv(ep: &mut Endpoint<Self>, now: Instant);
        /// After a `poll_transmit` round: whether it queued frames that
        /// want another round.
        fn after_transmit(ep: &mut Endpoint<Self>) -> bool;
        /// A call's send side was pumped (`moved`: bytes went to the HTTP/2
        /// layer).
        fn after_pump(ep: &mut Endpoint<Self>, id: StreamId, moved: bool);
    }
}

/// An event and, for a message, what it holds until the application takes it.
#[derive(Debug)]
struct Queued {
    event: Event,
    hold: Hold,
}

/// A gRPC connection, sans-IO, on side `S`: [`Client`](super::Client) or
/// [`Server`](super::Server) (the usual names). Bytes in with
/// [`recv`](Self::recv), [`Event`]s out with [`poll_event`](Self::poll_event),
/// bytes out with [`poll_transmit`](Self::poll_transmit), timers with
/// [`poll_timeout`](Self::poll_timeout) / [`handle_timeout`](Self::handle_timeout);
/// the commands are the side's (`start_call` on a client, `finish` on a
/// server, ...). See the [module docs](super) for a complete exchange.
///
/// Code that only moves bytes and events is written once for both sides:
///
/// ```
/// use std::time::Instant;
/// use bytes::BytesMut;
/// use h2proto::grpc::{Client, Code, Config, Endpoint, Event, Metadata, Server, Side};
///
/// /// What `a` has to send, delivered to `b`; returns `b`'s events.
/// fn deliver<A: Side, B: Side>(a: &mut Endpoint<A>, b: &mut Endpoint<B>, now: Instant) -> Vec<Event> {
///     let mut wire = BytesMut::new();
///     a.poll_transmit(&mut wire, usize::MAX, now);
///     b.recv(&mut wire, now);
///     std::iter::from_fn(|| b.poll_event()).collect()
/// }
///
/// let now = Instant::now();
/// let mut client = Client::new(Config::client(), now);
/// let mut server = Server::new(Config::server(), now);
/// client.start_call("/no.Such/Method", Metadata::new(), None, now)?;
/// let Some(Event::CallStarted { call, .. }) = deliver(&mut client, &mut server, now).pop() else {
///     panic!("no call");
/// };
/// server.unimplemented(call)?;
/// let events = deliver(&mut server, &mut client, now);
/// assert!(matches!(&events[..], [Event::Finished { status, .. }] if status.code() == Code::UNIMPLEMENTED));
/// # Ok::<(), h2proto::grpc::CallError>(())
/// ```
#[derive(Debug)]
pub struct Endpoint<S> {
    pub(crate) conn: Connection,
    pub(crate) config: Config,
    pub(crate) calls: IdMap<Call>,
    /// What only this side keeps.
    pub(crate) side: S,
    events: VecDeque<Queued>,
    keepalive: Keepalive,
    bdp: Option<BdpEstimator>,
    bdp_ping: Option<[u8; 8]>,
    /// What the application side holds (see the module docs).
    pub(crate) budget: MemoryBudget,
    /// Messages in assembly, oldest first.
    assembling: BTreeMap<u64, StreamId>,
    next_seq: u64,
    /// Bytes of messages in assembly released early, over every call.
    partial_charged: usize,
    /// Bytes released early of whole messages parked in their calls.
    parked_charged: usize,
    /// Calls with parked messages, in turn.
    parked_calls: VecDeque<StreamId>,
    /// Server: the calls' reservations (`Call::reserved`), summed.
    reserved_total: usize,
    /// The connection receive window asked for (config, then BDP).
    conn_window: u32,
    /// What the window is grown by to cover withheld partial bytes.
    conn_extra: usize,
    /// Scratch for credit owed by dropped buffers.
    owed: Vec<(StreamId, usize)>,
    /// Server: directed credit. Streams start with the small advertised
    /// window; the oldest message in assembly gets this one (the
    /// configured `initial_window_size`, then the BDP estimate).
    directed: Option<u32>,
    /// The stream whose window is open for its message.
    opened: Option<StreamId>,
    /// The configured connection window, in force once our SETTINGS are
    /// acknowledged (directed credit).
    conn_full: u32,
    /// A call's send side moved bytes into the HTTP/2 layer since the
    /// last `poll_transmit` round.
    pumped: bool,
}

impl<S: Side> Endpoint<S> {
    /// A connection on side `S`: a client's preface and SETTINGS go out
    /// with the first `poll_transmit`; a server expects the client's.
    pub fn new(config: Config, now: Instant) -> Self {
        let mut config = config;
        config.http2.role = S::ROLE;
        let mut http2 = config.http2.clone();
        // The connection window stays at the RFC's 65,535 until the client
        // acknowledged a directed server's small initial window
        // (`conn_full` then), so what it can park before is 64 KiB.
        let conn_full = http2.connection_window_size;
        let directed = S::directed_credit(&mut http2);
        let conn = Connection::new(http2, now);
        let mut keepalive_cfg = config.keepalive;
        keepalive_cfg.time = keepalive_cfg.time.map(|t| t.max(S::MIN_KEEPALIVE_TIME));
        Endpoint {
            keepalive: Keepalive::new(keepalive_cfg, now),
            side: S::new(&config),
            bdp: config
                .bdp
                .then(|| BdpEstimator::new(config.http2.initial_window_size)),
            calls: IdMap::default(),
            events: VecDeque::new(),
            bdp_ping: None,
            budget: MemoryBudget::new(config.memory_budget),
            assembling: BTreeMap::new(),
            next_seq: 0,
            partial_charged: 0,
            parked_charged: 0,
            parked_calls: VecDeque::new(),
            reserved_total: 0,
            conn_window: if directed.is_some() {
                conn_full.min(crate::proto::flow::DEFAULT_WINDOW)
            } else {
                conn_full
            },
            conn_full,
            conn_extra: 0,
            owed: Vec::new(),
            directed,
            opened: None,
            pumped: false,
            conn,
            config,
        }
    }

    pub(crate) fn push(&mut self, event: Event) {
        self.events.push_back(Queued {
            event,
            hold: Hold::default(),
        });
    }

    /// Feeds bytes read from the transport; whole frames are consumed.
    pub fn recv(&mut self, input: &mut BytesMut, now: Instant) {
        let before = input.len();
        self.conn.recv(input, now);
        if input.len() != before {
            self.keepalive.on_read(now);
        }
        S::after_recv(self, now);
        self.process(now);
    }

    /// The transport reached end of file.
    pub fn recv_eof(&mut self, now: Instant) {
        self.conn.recv_eof();
        self.process(now);
    }

    /// Appends up to `max` bytes to send to `dst`; returns how many.
    pub fn poll_transmit<B: TransmitBuf>(
        &mut self,
        dst: &mut B,
        max: usize,
        now: Instant,
    ) -> usize {
        // Credit of buffers dropped since (`process` rebalances after).
        self.apply_owed();
        let mut n = 0;
        // Writing can make room (a Writable event), and `process` then
        // pumps queued messages into the HTTP/2 layer: ask it again, or
        // what was pumped waits for an event that may never come (a peer
        // waiting for exactly those bytes). Bounded: each round either
        // wrote or pumped something.
        for _ in 0..4 {
            n += self.conn.poll_transmit(dst, max - n, now);
            self.pumped = false;
            self.process(now);
            let queued = S::after_transmit(self);
            if !(self.pumped || queued) || n >= max {
                break;
            }
        }
        n
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due (deadlines,
    /// keepalive, the connection's timers).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let deadlines = self.calls.values().filter_map(|c| c.deadline);
        [self.conn.poll_timeout(), self.keepalive.poll_timeout()]
            .into_iter()
            .flatten()
            .chain(deadlines)
            .min()
    }

    /// Runs what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
        match self.keepalive.handle_timeout(now, self.calls.len()) {
            KeepaliveAction::None => {}
            KeepaliveAction::Ping => {
                let _ = self.conn.ping(now);
            }
            KeepaliveAction::Close => {
                self.fail_all(Status::new(
                    Code::UNAVAILABLE,
                    "keepalive ping not acknowledged within timeout",
                ));
                self.conn.close(Reason::NO_ERROR);
            }
        }
        let expired: Vec<StreamId> = self
            .calls
            .values()
            .filter(|c| c.deadline.is_some_and(|d| d <= now))
            .map(|c| c.id.stream_id())
            .collect();
        for id in expired {
            if !S::answer_deadline(self, id) {
                let _ = self.conn.reset(id, Reason::CANCEL);
            }
            self.end_call(
                id,
                Status::new(Code::DEADLINE_EXCEEDED, "deadline exceeded"),
                None,
            );
        }
        self.process(now);
    }

    /// Queues a message, compressed when the call has an encoding. See
    /// [`send_message_with`](Self::send_message_with).
    pub fn send_message(&mut self, call: CallId, message: Bytes) -> Result<(), CallError> {
        self.send_message_with(call, message, true)
    }

    /// Queues a message; `compress` asks for the call's encoding (ignored
    /// for identity). A server sends its response headers first if it has
    /// not. Returns [`CallError::Busy`] when the call already queued
    /// [`Config::max_send_queue`] bytes: retry after [`Event::Writable`].
    pub fn send_message_with(
        &mut self,
        call: CallId,
        message: Bytes,
        compress: bool,
    ) -> Result<(), CallError> {
        S::before_send(self, call)?;
        let (q, m) = (
            self.config.max_send_queue,
            self.config.max_send_message_size,
        );
        self.call_mut(call)?.send.push(message, compress, q, m)?;
        // A server's response exists: it counts as queued bytes now (a
        // client reserves nothing).
        self.unreserve(call.stream_id());
        self.pump(call.stream_id());
        Ok(())
    }

    /// Cancels the call: RST_STREAM(CANCEL). A client's call finishes
    /// CANCELLED; a server's call ends without a status (the client sees
    /// CANCELLED).
    pub fn cancel(&mut self, call: CallId) -> Result<(), CallError> {
        self.call_mut(call)?;
        S::cancel(self, call.stream_id())
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// The connection's memory budget (see [`Config::memory_budget`]);
    /// `budget().stats()` next to `connection().stats()`.
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// The HTTP/2 connection (stats, windows, settings).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The HTTP/2 connection, for what this layer does not wrap (e.g. a
    /// graceful `shutdown`).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The BDP estimate (the receive window asked for), when BDP is on.
    pub fn bdp_window(&self) -> Option<u32> {
        self.bdp.as_ref().map(BdpEstimator::bdp)
    }

    pub(crate) fn call_mut(&mut self, call: CallId) -> Result<&mut Call, CallError> {
        self.calls
            .get_mut(&call.stream_id())
            .ok_or(CallError::UnknownCall(call))
    }

    /// Takes a DATA chunk of the call on `id` and queues the messages it
    /// completed; returns the decoding result (`None`: no such call).
    pub(crate) fn take_data(&mut self, id: StreamId, data: Bytes) -> Option<Result<(), Status>> {
        let (messages, result) = self.on_call_data(id, data)?;
        for m in messages {
            self.push_message(id, m.data, m.compressed, m.hold);
        }
        Some(result)
    }

    pub(crate) fn call_started(&mut self, now: Instant) {
        self.keepalive.on_call_started(now);
    }

    /// Removes a call and reports its end: `Finished` on a client,
    /// `Cancelled` on a server.
    pub(crate) fn end_call(&mut self, id: StreamId, status: Status, trailers: Option<Metadata>) {
        S::end_call(self, id, status, trailers);
    }

    /// Ends every call with `status` (the connection is going away).
    pub(crate) fn fail_all(&mut self, status: Status) {
        let mut ids: Vec<StreamId> = self.calls.keys().copied().collect();
        ids.sort();
        for id in ids {
            self.end_call(id, status.clone(), None);
        }
    }

    /// Pumps one call's send side; reports Writable when it asked for it.
    pub(crate) fn pump(&mut self, id: StreamId) {
        let max_queue = self.config.max_send_queue;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let moved = call.send.pump(&mut self.conn, id);
        self.pumped |= moved;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let writable = call.send.want_writable && call.send.queued() < max_queue;
        if writable {
            call.send.want_writable = false;
            let c = call.id;
            self.push(Event::Writable { call: c });
        }
        S::after_pump(self, id, moved);
    }

    fn on_data_bytes(&mut self, n: usize, now: Instant) {
        let Some(bdp) = &mut self.bdp else {
            return;
        };
        if n > 0 && bdp.add(u32::try_from(n).unwrap_or(u32::MAX)) {
            match self.conn.ping(now) {
                Ok(payload) => self.bdp_ping = Some(payload),
                Err(_) => bdp.abort_sample(),
            }
        }
    }

    fn on_ping_ack(&mut self, payload: [u8; 8], rtt: std::time::Duration, now: Instant) {
        if self.bdp_ping != Some(payload) {
            return;
        }
        self.bdp_ping = None;
        let Some(window) = self.bdp.as_mut().and_then(|b| b.on_ack(rtt)) else {
            return;
        };
        if let Some(full) = &mut self.directed {
            // Directed credit: the estimate is the window the stream being
            // read gets; the advertised one stays small.
            *full = window;
            if let Some(id) = self.opened {
                self.conn.set_stream_recv_window(id, window);
            }
        } else {
            let update = SettingsUpdate::new().initial_window_size(window);
            if self.conn.update_settings(update, now).is_err() {
                return;
            }
        }
        if window > self.conn_window {
            self.conn_window = window;
            self.set_conn_extra(self.conn_extra);
        }
    }

    /// Drains the connection's events into gRPC events.
    fn process(&mut self, now: Instant) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                proto::Event::Data {
                    stream_id,
                    ref data,
                    ..
                } => {
                    self.on_data_bytes(data.len(), now);
                    if !self.calls.contains_key(&stream_id) {
                        // A call already over: give the window back at once.
                        let _ = self.conn.release_capacity(stream_id, data.len());
                        continue;
                    }
                    S::on_event(self, ev, now);
                }
                proto::Event::Writable { stream_id } => self.pump(stream_id),
                proto::Event::SettingsAcked if self.conn_window < self.conn_full => {
                    self.conn_window = self.conn_full;
                    self.set_conn_extra(self.conn_extra);
                }
                proto::Event::PingAck { payload, rtt } => self.on_ping_ack(payload, rtt, now),
                proto::Event::GoAway {
                    last_stream_id,
                    reason,
                    debug_data,
                } => self.push(Event::GoAway {
                    last_stream_id,
                    reason,
                    debug_data,
                }),
                proto::Event::Closed { error } => {
                    let msg = match &error {
                        Some(e) => format!("connection closed: {e}"),
                        None => "connection closed".to_owned(),
                    };
                    self.fail_all(Status::new(Code::UNAVAILABLE, msg));
                    self.push(Event::Closed { error });
                }
                proto::Event::Reset {
                    stream_id,
                    reason,
                    initiator,
                    why,
                } => {
                    if let Some(c) = self.calls.get_mut(&stream_id) {
                        c.send.drop_all();
                    }
                    // Our own resets say what happened here; only the peer's
                    // are "reset by peer".
                    let status = match initiator {
                        proto::Initiator::Local => Status::from_local_reset(
                            reason,
                            &why.unwrap_or(proto::ResetCause::PeerError),
                            S::ROLE,
                        ),
                        proto::Initiator::Remote => Status::from_reset(reason),
                    };
                    self.end_call(stream_id, status, None);
                }
                other => S::on_event(self, other, now),
            }
        }
        self.rebalance();
    }
}
#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::{Bytes, BytesMut};

    use crate::grpc::{CallError, Client, Config, Event, Metadata, Server};

    /// A server that takes messages with `poll_event_deferred` and does not
    /// release them keeps the client's window shut once its budget is
    /// spent; releasing reopens it.
    #[test]
    fn deferred_release_keeps_the_peer_window_shut() {
        let now = Instant::now();
        let window = 65_535;
        let budget = 16 * 1024;
        let mut client = Client::new(Config::client(), now);
        let mut config = Config::server().fixed_windows(window, window);
        config.memory_budget = budget;
        let mut server = Server::new(config, now);
        let call = client
            .start_call("/s.S/M", Metadata::new(), None, now)
            .unwrap();
        let (mut up, mut down) = (BytesMut::new(), BytesMut::new());
        let (mut sent, mut held, mut taken) = (0usize, Vec::new(), 0usize);
        let mut step = |client: &mut Client, server: &mut Server, held: &mut Vec<_>| {
            for _ in 0..16 {
                client.poll_transmit(&mut up, usize::MAX, now);
                server.recv(&mut up, now);
                while let Some((event, hold)) = server.poll_event_deferred() {
                    if let Event::Message { call, message, .. } = event {
                        held.push((call, hold, message.len()));
                    }
                }
                server.poll_transmit(&mut down, usize::MAX, now);
                client.recv(&mut down, now);
                while client.poll_event().is_some() {}
            }
        };
        // Far more than the window, offered as fast as the client takes it.
        for _ in 0..4 {
            loop {
                match client.send_message(call, Bytes::from(vec![7u8; 8 * 1024])) {
                    Ok(()) => sent += 1,
                    Err(CallError::Busy) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            step(&mut client, &mut server, &mut held);
        }
        // Bytes of a message split across DATA frames are released early
        // (a message larger than the window must not stall) only within
        // the budget, so about window + budget gets through; then nothing.
        let received: usize = held.iter().map(|h| h.2 + 5).sum();
        assert!(
            received <= window as usize + budget + 8 * 1024 + 5,
            "{received} > window + budget + one message"
        );
        // Handed over while under the budget, whole messages count in full.
        let charged: usize = held.iter().map(|h| h.1.charged).sum();
        assert!(charged <= budget + 8 * 1024 + 5, "{charged} charged");
        let ours: usize = server
            .call_stats()
            .iter()
            .map(|c| c.partial_charged + c.parked)
            .sum();
        assert_eq!(server.budget().held(), charged + ours);
        let before = held.len();
        step(&mut client, &mut server, &mut held);
        assert_eq!(held.len(), before, "messages arrived with no credit given");
        assert!(
            sent * (8 * 1024 + 5) > received + 64 * 1024,
            "the sender was never stopped"
        );
        let unreleased = server.connection().stats().recv_unreleased as usize;
        assert!(unreleased >= window as usize / 2, "{unreleased} unreleased");

        // The application consumes: credit flows back and more arrives.
        for (call, hold, _) in held.drain(..) {
            server.release(call, hold);
            taken += 1;
        }
        // What is left charged is the endpoint's own: the message in
        // assembly's early bytes and the messages parked.
        let ours: usize = server
            .call_stats()
            .iter()
            .map(|c| c.partial_charged + c.parked)
            .sum();
        assert_eq!(server.budget().held(), ours);
        step(&mut client, &mut server, &mut held);
        assert!(taken > 0 && !held.is_empty(), "nothing more after release");
    }
}
