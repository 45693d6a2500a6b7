//! Credit and the budget: what each message holds, early credit, parked
//! messages, and the connection window grown past younger partial messages.
//!
//! Every received byte belongs to a message. While the message is in
//! assembly its bytes keep their flow-control credit, except those released
//! early by [`Endpoint::rebalance`]: all of the oldest message in assembly's
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
//!
//! A server also counts the responses it owes: those queued, and the one
//! each request handed to the application will become (reserved from the
//! hand-over until the call sends or ends, so a handler on another thread
//! that dropped its request and has not answered yet still counts). A new
//! message is taken only when it fits beside them, or when none is owed: a
//! peer that does not read its responses makes us hold one, not one per
//! request that slipped in while the last was being answered.

use std::time::Instant;

use bytes::Bytes;

use super::{Endpoint, Queued, Side};
use crate::frame::StreamId;
use crate::grpc::call::{Call, End, Received};
use crate::grpc::codec::PREFIX_LEN;
use crate::grpc::status::Status;
use crate::grpc::{CallId, CallStats, Event, Hold};
use crate::proto::Role;

/// The largest receive window HTTP/2 allows.
const MAX_WINDOW: usize = (1 << 31) - 1;
/// The connection window grows for withheld partial bytes in steps of this.
const WINDOW_STEP: usize = 64 * 1024;

impl<S: Side> Endpoint<S> {
    /// A new call's state.
    pub(crate) fn new_call(&self, id: StreamId, deadline: Option<Instant>) -> Call {
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
    pub(crate) fn on_call_data(
        &mut self,
        id: StreamId,
        data: Bytes,
    ) -> Option<(Vec<Received>, Result<(), Status>)> {
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
    pub(crate) fn remove_call(&mut self, id: StreamId) -> Option<Call> {
        let mut call = self.calls.remove(&id)?;
        self.reserved_total -= call.reserved;
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
        let sending = match S::ROLE {
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

    /// Whether a message of `n` wire bytes for the call on `id` may be
    /// taken (handed over, or assembled with early credit): it is
    /// [`permitted`](Self::permitted), and on a server the responses owed
    /// besides this call's reservation (which its message replaces) leave
    /// room for the one it will become, or there are none.
    fn admits(&self, id: StreamId, n: usize) -> bool {
        if !self.permitted() {
            return false;
        }
        let limit = self.budget.limit();
        // Cheap and usual: everything counted together fits.
        if S::ROLE == Role::Client || self.budget.held() + self.reserved_total + n <= limit {
            return true;
        }
        let owed: usize = self
            .calls
            .iter()
            .map(|(c, call)| call.send.queued() + if *c == id { 0 } else { call.reserved })
            .sum();
        owed == 0 || owed + n <= limit
    }

    /// Server: counts the response a request of `n` wire bytes handed to
    /// the call on `id` will become (its largest request's, until it sends).
    fn reserve(&mut self, id: StreamId, n: usize) {
        if S::ROLE != Role::Server {
            return;
        }
        if let Some(call) = self.calls.get_mut(&id)
            && call.send.end == End::Open
            && n > call.reserved
        {
            self.reserved_total += n - call.reserved;
            call.reserved = n;
        }
    }

    /// The call on `id` sent (or ended): what it owes is its send queue.
    pub(crate) fn unreserve(&mut self, id: StreamId) {
        if let Some(call) = self.calls.get_mut(&id) {
            self.reserved_total -= std::mem::take(&mut call.reserved);
        }
    }

    /// Hands parked messages over while the budget permits, a call at a
    /// time in turn.
    fn flush_parked(&mut self) {
        while let Some(&id) = self.parked_calls.front() {
            let next = self
                .calls
                .get(&id)
                .and_then(|c| c.parked.front())
                .map(|m| m.2.charged);
            if next.is_some_and(|n| !self.admits(id, n)) {
                break;
            }
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
    pub(crate) fn deliver_parked(&mut self, id: StreamId) {
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
    pub(crate) fn rebalance(&mut self) {
        if !self.parked_calls.is_empty() {
            self.flush_parked();
        }
        self.direct_credit();
        let limit = self.budget.limit();
        let permitted = self.permitted();
        let oldest_admitted = self.oldest_admitted();
        let directed = self.directed.is_some();
        let mut withheld = 0usize;
        for (i, id) in self.assembling.values().enumerate() {
            let Some(call) = self.calls.get_mut(id) else {
                continue;
            };
            let u = call.recv.partial_unreleased;
            let n = match i {
                0 if oldest_admitted => u,
                0 => 0,
                // A server directs its credit: the younger messages wait
                // with their small window (one message at a time, as the
                // HTTP servers collect bodies).
                _ if directed => 0,
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

    /// Whether the oldest message in assembly may come in full (early
    /// credit, its stream's whole window): [`admits`](Self::admits) at its
    /// expected size.
    fn oldest_admitted(&self) -> bool {
        let Some(&id) = self.assembling.values().next() else {
            return false;
        };
        let n = self.calls.get(&id).map_or(0, |c| c.recv.expected());
        self.admits(id, n)
    }

    /// Server: the oldest message in assembly gets its stream's full window
    /// while it is admitted; the stream that had it before goes back to
    /// the small one (its message is complete, it is no longer first, or
    /// the budget is full).
    fn direct_credit(&mut self) {
        let Some(full) = self.directed else {
            return;
        };
        // Over the budget (what the application and the peer hold fills
        // it, or the responses owed leave no room for this one), no stream
        // gets more than its small window: the oldest one's opens again
        // once that is taken.
        let oldest = if self.oldest_admitted() {
            self.assembling.values().next().copied()
        } else {
            None
        };
        if oldest == self.opened {
            return;
        }
        if let Some(prev) = self.opened.take() {
            self.conn
                .set_stream_recv_window(prev, crate::proto::DIRECTED_INITIAL_WINDOW);
        }
        if let Some(id) = oldest {
            self.conn.set_stream_recv_window(id, full);
            self.opened = Some(id);
        }
    }

    pub(super) fn set_conn_extra(&mut self, extra: usize) {
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
    /// [`poll_event_held`](Self::poll_event_held)) and the early credit the
    /// freed budget allows; returns the bytes given back. A driver calls it
    /// when the budget's waker fires.
    pub fn release_owed(&mut self) -> usize {
        let total = self.apply_owed();
        self.rebalance();
        total
    }

    pub(super) fn apply_owed(&mut self) -> usize {
        self.budget.take_owed(&mut self.owed);
        let mut total = 0;
        for (id, n) in self.owed.drain(..) {
            total += n;
            let _ = self.conn.release_capacity(id, n);
        }
        total
    }

    /// What each call in progress holds (message in assembly, send queue).
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
                reserved: c.reserved,
            })
            .collect();
        v.sort_by_key(|s| s.call);
        v
    }

    /// A whole message of the call on `id`: handed over, or parked while
    /// the budget is held by what the application and the peer have not
    /// taken (its credit stays withheld, so the peer stalls).
    pub(crate) fn push_message(
        &mut self,
        id: StreamId,
        message: Bytes,
        compressed: bool,
        hold: Hold,
    ) {
        let permitted = self.admits(id, hold.charged);
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
    pub(crate) fn push_half_closed(&mut self, id: StreamId) {
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
        self.reserve(
            call.stream_id(),
            hold.charged.max(PREFIX_LEN + message.len()),
        );
        self.events.push_back(Queued {
            event: Event::Message {
                call,
                message,
                compressed,
            },
            hold,
        });
    }

    /// The next event. What a message holds (its flow-control credit, its
    /// share of the memory budget) is given back as it is taken here.
    pub fn poll_event(&mut self) -> Option<Event> {
        let (event, hold) = self.poll_event_deferred()?;
        if let Event::Message { call, .. } = &event {
            self.release(*call, hold);
        }
        Some(event)
    }

    /// The next event, without giving back what a message holds: the
    /// [`Hold`] says what, to be returned with [`release`](Self::release)
    /// when the application has consumed the message (zero for other
    /// events). Until then the peer's windows, not our memory, absorb a
    /// slow reader.
    pub fn poll_event_deferred(&mut self) -> Option<(Event, Hold)> {
        let q = self.events.pop_front()?;
        Some((q.event, q.hold))
    }

    /// The next event, a message's buffer holding what the message holds
    /// until its last reference is dropped (anywhere, on any thread): the
    /// credit is then owed through the [`budget`](Self::budget) and applied
    /// by [`release_owed`](Self::release_owed) (and by the next
    /// `poll_transmit`). What an adapter hands its application.
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

    /// Gives back what a message taken with
    /// [`poll_event_deferred`](Self::poll_event_deferred) held, even after
    /// the call ended (its stream's bytes still count against the
    /// connection window).
    pub fn release(&mut self, call: CallId, hold: Hold) {
        if hold.unreleased > 0 {
            let _ = self
                .conn
                .release_capacity(call.stream_id(), hold.unreleased);
        }
        self.budget.uncharge(hold.charged);
    }
}
