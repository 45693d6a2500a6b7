//! What both roles share: the connection, the call table, the event queue,
//! the memory budget and early credit, timers (deadlines, keepalive), the
//! BDP estimator and the RST_STREAM(NO_ERROR)-after-trailers rule.
//!
//! # Credit and the budget
//!
//! Every received byte belongs to a message. While the message is in
//! assembly its bytes keep their flow-control credit, except those released
//! early by [`Core::rebalance`]: all of the oldest message in assembly's
//! (while what the application and the peer hold is under the budget), and
//! the others' while the budget has room. Early-released bytes are charged
//! to the budget. A whole message is charged with all its bytes and keeps
//! the credit still withheld ([`Hold`]) until it is polled (`poll_event`),
//! released (`poll_event_deferred` + `release`) or its buffer dropped
//! (`poll_event_held`: the credit comes back through the budget, applied by
//! `release_owed`). While what the application and the peer hold (messages
//! handed over, responses not yet taken by the core) is at the cap, whole
//! messages are parked in their call, credit withheld, so a peer that does
//! not read stalls on its windows.
//!
//! Withheld bytes of younger messages could fill the connection window and
//! starve the oldest (a peer that interleaves its streams): past half the
//! window they are covered by a larger connection window (their streams'
//! own windows stay shut), so the oldest can always finish.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::call::{Call, status_fields};
use super::keepalive::{Keepalive, KeepaliveAction, PingEnforcer};
use super::status::{Code, Status};
use super::{CallId, CallStats, Config, Event, Hold};
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;
use crate::proto::bdp::BdpEstimator;
use crate::proto::stream::state::StreamState;
use crate::proto::{self, Connection, MemoryBudget, Role, SettingsUpdate};

/// An event and, for a message, what it holds until the application takes it.
#[derive(Debug)]
struct Queued {
    event: Event,
    hold: Hold,
}

/// The largest receive window HTTP/2 allows.
const MAX_WINDOW: usize = (1 << 31) - 1;
/// The connection window grows for withheld partial bytes in steps of this.
const WINDOW_STEP: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct Core {
    pub conn: Connection,
    pub config: Config,
    pub calls: HashMap<StreamId, Call>,
    events: VecDeque<Queued>,
    keepalive: Keepalive,
    enforcer: Option<PingEnforcer>,
    pings_seen: u64,
    bdp: Option<BdpEstimator>,
    bdp_ping: Option<[u8; 8]>,
    /// Server streams answered before the client half-closed: RST_STREAM
    /// (NO_ERROR) once our END_STREAM is on the wire.
    rst_after_end: Vec<StreamId>,
    /// What the application side holds (see the module docs).
    pub budget: MemoryBudget,
    /// Messages in assembly, oldest first.
    assembling: BTreeMap<u64, StreamId>,
    next_seq: u64,
    /// Bytes of messages in assembly released early, over every call.
    partial_charged: usize,
    /// Bytes released early of whole messages parked in their calls.
    parked_charged: usize,
    /// Calls with parked messages, in turn.
    parked_calls: VecDeque<StreamId>,
    /// The connection receive window asked for (config, then BDP).
    conn_window: u32,
    /// What the window is grown by to cover withheld partial bytes.
    conn_extra: usize,
    /// Scratch for credit owed by dropped buffers.
    owed: Vec<(StreamId, usize)>,
}

impl Core {
    pub fn new(config: Config, role: Role, now: Instant) -> Self {
        let mut config = config;
        config.http2.role = role;
        let conn = Connection::new(config.http2.clone(), now);
        let mut keepalive_cfg = config.keepalive;
        if role == Role::Client {
            keepalive_cfg.time = keepalive_cfg
                .time
                .map(|t| t.max(super::keepalive::MIN_CLIENT_TIME));
        }
        Core {
            keepalive: Keepalive::new(keepalive_cfg, now),
            enforcer: (role == Role::Server).then(|| PingEnforcer::new(config.enforcement)),
            bdp: config
                .bdp
                .then(|| BdpEstimator::new(config.http2.initial_window_size)),
            calls: HashMap::new(),
            events: VecDeque::new(),
            pings_seen: 0,
            bdp_ping: None,
            rst_after_end: Vec::new(),
            budget: MemoryBudget::new(config.memory_budget),
            assembling: BTreeMap::new(),
            next_seq: 0,
            partial_charged: 0,
            parked_charged: 0,
            parked_calls: VecDeque::new(),
            conn_window: config.http2.connection_window_size,
            conn_extra: 0,
            owed: Vec::new(),
            conn,
            config,
        }
    }

    /// A new call's state.
    pub fn new_call(&self, id: StreamId, deadline: Option<Instant>) -> Call {
        Call::new(
            id,
            self.config.max_recv_message_size,
            deadline,
            self.budget.clone(),
        )
    }

    /// Takes a DATA chunk for a call (see `RecvSide::on_data`): the messages
    /// it completed and a decoding error. Early credit is decided by
    /// [`rebalance`](Self::rebalance) once the chunks of this turn are in.
    pub fn on_call_data(
        &mut self,
        id: StreamId,
        data: Bytes,
    ) -> Option<(Vec<super::call::Received>, Result<(), Status>)> {
        let call = self.calls.get_mut(&id)?;
        let before = call.recv.partial_charged;
        let (mut messages, result) = call.recv.on_data(data);
        self.partial_charged = self.partial_charged - before + call.recv.partial_charged;
        // A whole message counts against the budget with all its bytes
        // until it is given back: what the application side holds.
        for m in &mut messages {
            self.budget.charge(m.hold.unreleased);
            m.hold.charged += m.hold.unreleased;
        }
        // A message that completed leaves the age order; a new one joins
        // it at the end.
        if (!messages.is_empty() || call.recv.partial == 0)
            && let Some(seq) = call.recv.seq.take()
        {
            self.assembling.remove(&seq);
        }
        if call.recv.partial > 0 && call.recv.seq.is_none() {
            call.recv.seq = Some(self.next_seq);
            self.assembling.insert(self.next_seq, id);
            self.next_seq += 1;
        }
        Some((messages, result))
    }

    /// Forgets a call, giving back what its message in assembly holds.
    pub fn remove_call(&mut self, id: StreamId) -> Option<Call> {
        let mut call = self.calls.remove(&id)?;
        if let Some(seq) = call.recv.seq.take() {
            self.assembling.remove(&seq);
        }
        let r = &call.recv;
        if r.partial_unreleased > 0 {
            let _ = self.conn.release_capacity(id, r.partial_unreleased);
        }
        self.budget.uncharge(r.partial_charged);
        self.partial_charged -= r.partial_charged;
        // Nobody will take these any more.
        for (_, _, hold) in call.parked.drain(..) {
            self.parked_charged -= hold.charged;
            if hold.unreleased > 0 {
                let _ = self.conn.release_capacity(id, hold.unreleased);
            }
            self.budget.uncharge(hold.charged);
        }
        Some(call)
    }

    /// What the application and the peer hold: the budget's bytes that
    /// are not ours to finish (messages in assembly, parked messages).
    ///
    /// A client leaves its own requests out: they wait for the server,
    /// which may wait for us to take its responses (counting them would
    /// deadlock both). A server counts its responses: they are what its
    /// requests became, and a client that does not read them must stall.
    fn outside(&self) -> usize {
        let ours = self.partial_charged + self.parked_charged;
        let sending = match self.role() {
            Role::Client => self.calls.values().map(|c| c.send.queued()).sum(),
            Role::Server => 0,
        };
        self.budget.held().saturating_sub(ours + sending)
    }

    /// Whether what the application and the peer hold is under the cap:
    /// then messages are handed over and the oldest in assembly gets its
    /// credit.
    fn permitted(&self) -> bool {
        self.outside() < self.budget.limit()
    }

    /// Hands parked messages over while the budget permits, a call at a
    /// time in turn.
    fn flush_parked(&mut self) {
        while self.permitted()
            && let Some(&id) = self.parked_calls.front()
        {
            let Some(call) = self.calls.get_mut(&id) else {
                self.parked_calls.pop_front();
                continue;
            };
            let c = call.id;
            let next = call.parked.pop_front();
            let (empty, half_closed) = (call.parked.is_empty(), call.half_closed_parked);
            if empty {
                call.half_closed_parked = false;
            }
            self.parked_calls.pop_front();
            if !empty {
                self.parked_calls.push_back(id);
            }
            if let Some((message, compressed, hold)) = next {
                self.parked_charged -= hold.charged;
                self.push_event_message(c, message, compressed, hold);
            }
            if empty && half_closed {
                self.push(Event::HalfClosed { call: c });
            }
        }
    }

    /// Hands a call's parked messages over now, whatever the budget (the
    /// call is ending and its end must follow them).
    fn deliver_parked(&mut self, id: StreamId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let c = call.id;
        let parked = std::mem::take(&mut call.parked);
        for (message, compressed, hold) in parked {
            self.parked_charged -= hold.charged;
            self.push_event_message(c, message, compressed, hold);
        }
    }

    /// Early credit for messages in assembly: the oldest gets all of its
    /// withheld bytes released while what the application and the peer
    /// hold (the budget minus messages in assembly) is under the cap, so a
    /// peer that reads never deadlocks; the others while the budget has
    /// room. Then the connection window covers what younger messages
    /// withhold past half of it, so the oldest's bytes can always arrive.
    pub fn rebalance(&mut self) {
        if !self.parked_calls.is_empty() {
            self.flush_parked();
        }
        let limit = self.budget.limit();
        let permitted = self.permitted();
        let mut withheld = 0usize;
        for (i, id) in self.assembling.values().enumerate() {
            let Some(call) = self.calls.get_mut(id) else {
                continue;
            };
            let u = call.recv.partial_unreleased;
            let n = match i {
                0 if permitted => u,
                0 => 0,
                _ => u.min(limit.saturating_sub(self.budget.held())),
            };
            if n > 0 {
                call.recv.release_early(n);
                self.budget.charge(n);
                self.partial_charged += n;
                let _ = self.conn.release_capacity(*id, n);
            }
            if i > 0 {
                withheld += call.recv.partial_unreleased;
            }
        }
        // Not capped: what the peer may spend on younger streams instead of
        // the oldest is bounded by their own stream windows, and capping it
        // deadlocks a peer that interleaves (tests/grpc_budget.rs).
        let extra = if permitted && !self.assembling.is_empty() {
            let base = self.conn_window as usize;
            let mut extra = withheld.saturating_sub(base / 2);
            // The peer spent the window (on younger streams): a step more,
            // so the oldest's bytes can come.
            let st = self.conn.stats();
            if st.recv_window < WINDOW_STEP as i64 {
                let open = st.recv_unreleased as usize + WINDOW_STEP;
                extra = extra.max(open.saturating_sub(base)).max(self.conn_extra);
            }
            extra.div_ceil(WINDOW_STEP) * WINDOW_STEP
        } else {
            0
        };
        self.set_conn_extra(extra);
    }

    fn set_conn_extra(&mut self, extra: usize) {
        self.conn_extra = extra;
        let target = (self.conn_window as usize + extra).min(MAX_WINDOW) as u32;
        // Also when grown and the peer has spent it: setting it again
        // announces the credit released since, which the quarter-window
        // threshold would otherwise keep back.
        if target != self.conn.config().connection_window_size
            || (extra > 0 && self.conn.stats().recv_window < WINDOW_STEP as i64)
        {
            self.conn.set_connection_window_size(target);
        }
    }

    /// Applies the credit owed by dropped message buffers (see
    /// `poll_event_held`), then early credit the freed room allows.
    /// Returns the bytes released.
    pub fn release_owed(&mut self) -> usize {
        let total = self.apply_owed();
        self.rebalance();
        total
    }

    fn apply_owed(&mut self) -> usize {
        self.budget.take_owed(&mut self.owed);
        let mut total = 0;
        for (id, n) in self.owed.drain(..) {
            total += n;
            let _ = self.conn.release_capacity(id, n);
        }
        total
    }

    /// What each call holds now.
    pub fn call_stats(&self) -> Vec<CallStats> {
        let mut v: Vec<CallStats> = self
            .calls
            .values()
            .map(|c| CallStats {
                call: c.id,
                partial: c.recv.partial,
                partial_unreleased: c.recv.partial_unreleased,
                partial_charged: c.recv.partial_charged,
                parked: c.parked.iter().map(|m| m.2.charged).sum(),
                send_queued: c.send.queued(),
            })
            .collect();
        v.sort_by_key(|s| s.call);
        v
    }

    pub fn role(&self) -> Role {
        self.conn.role()
    }

    pub fn push(&mut self, event: Event) {
        self.events.push_back(Queued {
            event,
            hold: Hold::default(),
        });
    }

    /// A whole message of the call on `id`: handed over, or parked while
    /// the budget is held by what the application and the peer have not
    /// taken (its credit stays withheld, so the peer stalls).
    pub fn push_message(&mut self, id: StreamId, message: Bytes, compressed: bool, hold: Hold) {
        let permitted = self.permitted();
        let Some(call) = self.calls.get_mut(&id) else {
            return self.push_event_message(CallId(id), message, compressed, hold);
        };
        if permitted && call.parked.is_empty() {
            let c = call.id;
            return self.push_event_message(c, message, compressed, hold);
        }
        if call.parked.is_empty() {
            self.parked_calls.push_back(id);
        }
        call.parked.push_back((message, compressed, hold));
        self.parked_charged += hold.charged;
    }

    /// Server: the client half-closed (after its parked messages, if any).
    pub fn push_half_closed(&mut self, id: StreamId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.parked.is_empty() {
            let c = call.id;
            self.push(Event::HalfClosed { call: c });
        } else {
            call.half_closed_parked = true;
        }
    }

    fn push_event_message(&mut self, call: CallId, message: Bytes, compressed: bool, hold: Hold) {
        self.events.push_back(Queued {
            event: Event::Message {
                call,
                message,
                compressed,
            },
            hold,
        });
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        let (event, hold) = self.poll_event_deferred()?;
        if let Event::Message { call, .. } = &event {
            self.release(*call, hold);
        }
        Some(event)
    }

    /// The next event and what its message holds, not given back yet.
    pub fn poll_event_deferred(&mut self) -> Option<(Event, Hold)> {
        let q = self.events.pop_front()?;
        Some((q.event, q.hold))
    }

    /// The next event, a message's buffer holding what it holds until the
    /// last reference to it is dropped.
    pub fn poll_event_held(&mut self) -> Option<Event> {
        let (mut event, hold) = self.poll_event_deferred()?;
        if let Event::Message { call, message, .. } = &mut event {
            // The charge moves from the queue to the buffer.
            self.budget.uncharge(hold.charged);
            let data = std::mem::take(message);
            *message = self
                .budget
                .hold(data, call.stream_id(), hold.unreleased, hold.charged);
        }
        Some(event)
    }

    /// Gives back what a message of `call` held (the call may be over: its
    /// stream's bytes still count against the connection window).
    pub fn release(&mut self, call: CallId, hold: Hold) {
        if hold.unreleased > 0 {
            let _ = self
                .conn
                .release_capacity(call.stream_id(), hold.unreleased);
        }
        self.budget.uncharge(hold.charged);
    }

    pub fn recv(&mut self, input: &mut BytesMut, now: Instant) {
        let before = input.len();
        self.conn.recv(input, now);
        if input.len() != before {
            self.keepalive.on_read(now);
        }
        self.enforce_pings(now);
        self.process(now);
    }

    pub fn recv_eof(&mut self, now: Instant) {
        self.conn.recv_eof();
        self.process(now);
    }

    pub fn poll_transmit<B: crate::proto::TransmitBuf>(
        &mut self,
        dst: &mut B,
        max: usize,
        now: Instant,
    ) -> usize {
        // Credit of buffers dropped since (`process` rebalances after).
        self.apply_owed();
        let mut n = self.conn.poll_transmit(dst, max, now);
        self.process(now);
        if self.reset_finished_streams() && n < max {
            n += self.conn.poll_transmit(dst, max - n, now);
            self.process(now);
        }
        n
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let deadlines = self.calls.values().filter_map(|c| c.deadline);
        [self.conn.poll_timeout(), self.keepalive.poll_timeout()]
            .into_iter()
            .flatten()
            .chain(deadlines)
            .min()
    }

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
            let unanswered =
                self.role() == Role::Server && self.calls.get(&id).is_some_and(|c| !c.headers);
            if unanswered && self.answer_deadline_exceeded(id) {
                // A status, as grpc-go and grpc core send: a client whose
                // own timer is later than ours learns DEADLINE_EXCEEDED, not
                // CANCELLED. Then RST_STREAM(NO_ERROR) if the client has not
                // half-closed (grpcio reports CANCELLED on a RST_STREAM(CANCEL)
                // right after the trailers, whatever they said).
                self.reset_after_end(id);
            } else {
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

    /// Server: a trailers-only DEADLINE_EXCEEDED response on a call that
    /// sent nothing yet. Whether it was queued.
    fn answer_deadline_exceeded(&mut self, id: StreamId) -> bool {
        let mut fields = vec![
            HeaderField::new(":status", "200"),
            HeaderField::new("content-type", "application/grpc"),
        ];
        let status = Status::new(Code::DEADLINE_EXCEEDED, "deadline exceeded");
        status_fields(&status, &super::Metadata::new(), &mut fields);
        self.conn.send_response(id, fields, true).is_ok()
    }

    pub fn call_started(&mut self, now: Instant) {
        self.keepalive.on_call_started(now);
    }

    /// Removes a call and reports its end: `Finished` on a client,
    /// `Cancelled` on a server.
    pub fn end_call(&mut self, id: StreamId, status: Status, trailers: Option<super::Metadata>) {
        if self.role() == Role::Client {
            // The status follows every message the server sent.
            self.deliver_parked(id);
        }
        let Some(call) = self.remove_call(id) else {
            return;
        };
        let event = match self.role() {
            Role::Client => Event::Finished {
                call: call.id,
                status,
                trailers: trailers.unwrap_or_default(),
            },
            Role::Server => Event::Cancelled {
                call: call.id,
                status,
            },
        };
        self.push(event);
    }

    /// Ends every call with `status` (the connection is going away).
    pub fn fail_all(&mut self, status: Status) {
        let mut ids: Vec<StreamId> = self.calls.keys().copied().collect();
        ids.sort();
        for id in ids {
            self.end_call(id, status.clone(), None);
        }
    }

    /// Queues RST_STREAM(NO_ERROR) after our END_STREAM is written.
    pub fn reset_after_end(&mut self, id: StreamId) {
        self.rst_after_end.push(id);
    }

    /// Sends the RST_STREAM(NO_ERROR)s whose END_STREAM went out. Returns
    /// whether any was queued.
    fn reset_finished_streams(&mut self) -> bool {
        let mut queued = false;
        let conn = &mut self.conn;
        self.rst_after_end
            .retain(|&id| match conn.stream_stats(id).map(|s| s.state) {
                Some(StreamState::HalfClosedLocal) => {
                    let _ = conn.reset(id, Reason::NO_ERROR);
                    queued = true;
                    false
                }
                Some(StreamState::Open | StreamState::Idle) => true,
                _ => false,
            });
        queued
    }

    /// Pumps one call's send side; reports Writable when it asked for it.
    pub fn pump(&mut self, id: StreamId) {
        let max_queue = self.config.max_send_queue;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.send.pump(&mut self.conn, id) && self.role() == Role::Server {
            self.note_server_send();
        }
        let server = self.role() == Role::Server;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let writable = call.send.want_writable && call.send.queued() < max_queue;
        if writable {
            call.send.want_writable = false;
        }
        let c = call.id;
        // A server call whose trailers went to the HTTP/2 layer is over.
        let done = server && call.send.end == super::call::End::Sent && call.headers;
        if writable {
            self.push(Event::Writable { call: c });
        }
        if done {
            self.remove_call(id);
        }
    }

    /// The server wrote headers or data: ping strikes start over.
    pub fn note_server_send(&mut self) {
        if let Some(e) = &mut self.enforcer {
            e.on_send();
        }
    }

    fn enforce_pings(&mut self, now: Instant) {
        let seen = self.conn.stats().counters.pings_received;
        let new = seen.saturating_sub(self.pings_seen);
        self.pings_seen = seen;
        let Some(enforcer) = &mut self.enforcer else {
            return;
        };
        for _ in 0..new {
            if enforcer.on_ping(now, self.calls.len()) {
                self.fail_all(Status::new(
                    Code::UNAVAILABLE,
                    "connection closed: client sent too many pings",
                ));
                self.conn.close_with_debug_data(
                    Reason::ENHANCE_YOUR_CALM,
                    Bytes::from_static(b"too_many_pings"),
                );
                return;
            }
        }
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
        let update = SettingsUpdate::new().initial_window_size(window);
        if self.conn.update_settings(update, now).is_ok() && window > self.conn_window {
            self.conn_window = window;
            self.set_conn_extra(self.conn_extra);
        }
    }

    /// The BDP estimate, when the estimator runs.
    pub fn bdp_window(&self) -> Option<u32> {
        self.bdp.as_ref().map(BdpEstimator::bdp)
    }

    /// Drains the connection's events into gRPC events.
    pub fn process(&mut self, now: Instant) {
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
                    self.dispatch(ev, now);
                }
                proto::Event::Writable { stream_id } => self.pump(stream_id),
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
                    stream_id, reason, ..
                } => {
                    if let Some(c) = self.calls.get_mut(&stream_id) {
                        c.send.drop_all();
                    }
                    self.end_call(stream_id, Status::from_reset(reason), None);
                }
                other => self.dispatch(other, now),
            }
        }
        self.rebalance();
    }

    fn dispatch(&mut self, ev: proto::Event, now: Instant) {
        match self.role() {
            Role::Client => super::client::on_event(self, ev),
            Role::Server => super::server::on_event(self, ev, now),
        }
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
