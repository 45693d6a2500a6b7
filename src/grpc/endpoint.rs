//! What both roles share: the connection, the call table, the event queue,
//! the memory budget and early credit, timers (deadlines, keepalive), the
//! BDP estimator and the RST_STREAM(NO_ERROR)-after-trailers rule.
//! Credit, the memory budget and parked messages are in `credit.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::bdp::BdpEstimator;
use super::call::{Call, status_fields};
use super::keepalive::{Keepalive, KeepaliveAction, PingEnforcer};
use super::status::{Code, Status};
use super::{Config, Event, Hold};
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;
use crate::proto::stream::state::StreamState;
use crate::proto::{self, Connection, MemoryBudget, Role, SettingsUpdate};

mod credit;

/// An event and, for a message, what it holds until the application takes it.
#[derive(Debug)]
struct Queued {
    event: Event,
    hold: Hold,
}

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

impl Core {
    pub fn new(config: Config, role: Role, now: Instant) -> Self {
        let mut config = config;
        config.http2.role = role;
        let mut http2 = config.http2.clone();
        // Server: directed credit. The connection window also stays at the
        // RFC's 65,535 until the client acknowledged our small initial
        // window (`conn_full` then), so what it can park before is 64 KiB.
        let conn_full = http2.connection_window_size;
        let directed = (role == Role::Server).then(|| {
            let full = http2.initial_window_size;
            http2.initial_window_size = full.min(crate::proto::DIRECTED_INITIAL_WINDOW);
            http2.connection_window_size = conn_full.min(crate::proto::flow::DEFAULT_WINDOW);
            full
        });
        let conn = Connection::new(http2, now);
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

    pub fn role(&self) -> Role {
        self.conn.role()
    }

    pub fn push(&mut self, event: Event) {
        self.events.push_back(Queued {
            event,
            hold: Hold::default(),
        });
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
            let reset = self.reset_finished_streams();
            if !(self.pumped || reset) || n >= max {
                break;
            }
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
        let moved = call.send.pump(&mut self.conn, id);
        self.pumped |= moved;
        if moved && self.role() == Role::Server {
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
                            self.role(),
                        ),
                        proto::Initiator::Remote => Status::from_reset(reason),
                    };
                    self.end_call(stream_id, status, None);
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
