//! Deterministic simulation of a client and a server [`Pair`]: operation
//! sequences on both ends, a model of what each side sent on each stream, and
//! the invariants checked after every step.
//!
//! Shared by `tests/simulation.rs` (proptest generates the operations) and
//! the `stream_ops` fuzz target (libFuzzer's bytes become operations), so a
//! case found by either replays in the other. Nothing here reads a clock or a
//! random source: the pair's virtual clock starts at a fixed `Instant` and
//! only [`Op::Advance`] moves it, so one operation list is one execution.
//!
//! Connection-wide invariants are checked after every operation and every
//! pair step; per-stream ones for the streams that step or operation
//! touched (an event on them, an operation naming them), for every stream
//! after a connection-wide event or operation (settings, GOAWAY, close,
//! shutdown, the clock), whenever the pair settles, and at the end. A
//! stream freed without an event still shows: the connection's unreleased
//! bytes must equal what the application holds on all streams, after every
//! step. Looking up every stream after every step made the fuzz target
//! spend 86% of its time in the check.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use h2proto::frame::{Reason, StreamId};
use h2proto::hpack::HeaderField;
use h2proto::internal::MAX_WINDOW;
use h2proto::proto::{Config, ConnectionError, Event, Initiator, SettingsUpdate};
use h2proto::testing::{Pair, Side, request, status};

mod model;
pub use model::*;
use model::{base_instant, body, ix};

/// The simulation: the pair, the model, and what bounds the invariants use.
pub struct Sim {
    pub pair: Pair,
    pub streams: Vec<StreamModel>,
    index: BTreeMap<u32, usize>,
    knobs: [Knobs; 2],
    /// Largest stream receive window each side ever advertised.
    max_stream_window: [u64; 2],
    /// Largest connection receive window each side ever set.
    max_conn_window: [u64; 2],
    closed: [bool; 2],
    shut_down: [bool; 2],
    /// An event or operation since the last check concerned the whole
    /// connection (settings, GOAWAY, close, the clock): the next check
    /// looks at every stream.
    all_touched: bool,
    pub log: bool,
}

impl Sim {
    /// A fresh pair, handshake done.
    pub fn new(client: Knobs, server: Knobs) -> Self {
        let mut pair = Pair::new(
            client.config(Config::client()),
            server.config(Config::server()),
            base_instant(),
        );
        pair.handshake();
        let w = |k: &Knobs| u64::from(k.initial_window.clamp(65_535, MAX_WINDOW));
        let c = |k: &Knobs| u64::from(k.connection_window.clamp(65_535, MAX_WINDOW));
        let mut sim = Sim {
            pair,
            streams: Vec::new(),
            index: BTreeMap::new(),
            knobs: [client, server],
            max_stream_window: [w(&client), w(&server)],
            max_conn_window: [c(&client), c(&server)],
            closed: [false; 2],
            shut_down: [false; 2],
            all_touched: false,
            log: false,
        };
        sim.check();
        sim
    }

    fn pick(&self, stream: u8) -> Option<usize> {
        let i = usize::from(stream);
        (i < self.streams.len()).then_some(i)
    }

    fn sid(&self, i: usize) -> StreamId {
        StreamId::new(self.streams[i].id)
    }

    /// Applies one operation, collects the events into the model and checks
    /// every invariant.
    pub fn apply(&mut self, op: &Op) {
        if self.log {
            eprintln!("op: {op:?}");
        }
        let now = self.pair.now;
        match *op {
            Op::Open { end_stream } => {
                let fields = request(if end_stream { "GET" } else { "POST" }, "/sim");
                if let Ok(id) = self.pair.client.send_request(fields, end_stream) {
                    let mut m = StreamModel {
                        id: id.value(),
                        ..Default::default()
                    };
                    if end_stream {
                        m.request.end = Some(End::Headers);
                    }
                    self.index.insert(id.value(), self.streams.len());
                    self.streams.push(m);
                }
            }
            Op::Respond {
                stream,
                end_stream,
                informational,
            } => {
                if let Some(i) = self.pick(stream)
                    && self.streams[i].server_has_it
                {
                    let id = self.sid(i);
                    if informational {
                        let _ = self.pair.server.send_response(id, status(103), false);
                    }
                    if self
                        .pair
                        .server
                        .send_response(id, status(200), end_stream)
                        .is_ok()
                    {
                        let m = &mut self.streams[i];
                        assert!(!m.responded, "second final response accepted on {id:?}");
                        m.responded = true;
                        if end_stream {
                            m.response.end = Some(End::Headers);
                        }
                    }
                }
            }
            Op::Data {
                side,
                stream,
                len,
                end_stream,
            } => {
                if let Some(i) = self.pick(stream) {
                    self.send_data(side, i, len, end_stream);
                }
            }
            Op::Trailers { side, stream } => {
                if let Some(i) = self.pick(stream) {
                    let id = self.sid(i);
                    let fields = vec![HeaderField::new("x-sim", "end")];
                    if self.pair.conn(side).send_trailers(id, fields).is_ok() {
                        let flow = self.flow_out(side, i);
                        assert!(
                            flow.end.is_none(),
                            "trailers accepted after the end on {id:?}"
                        );
                        flow.end = Some(End::Trailers);
                    }
                }
            }
            Op::Reset { side, stream, code } => {
                if let Some(i) = self.pick(stream) {
                    self.reset(side, i, Reason::from(code));
                }
            }
            Op::Release {
                side,
                stream,
                amount,
            } => {
                if let Some(i) = self.pick(stream) {
                    self.release(side, i, amount);
                }
            }
            Op::Ping { side } => {
                let _ = self.pair.conn(side).ping(now);
            }
            Op::Settings {
                side,
                initial_window,
                max_concurrent_streams,
                header_table_size,
            } => {
                let mut u = SettingsUpdate::new();
                if let Some(v) = initial_window {
                    u = u.initial_window_size(v);
                }
                if let Some(v) = max_concurrent_streams {
                    u = u.max_concurrent_streams(v);
                }
                if let Some(v) = header_table_size {
                    u = u.header_table_size(v);
                }
                if self.pair.conn(side).update_settings(u, now).is_ok()
                    && let Some(v) = initial_window
                {
                    let m = &mut self.max_stream_window[ix(side)];
                    *m = (*m).max(u64::from(v));
                }
            }
            Op::ConnectionWindow { side, size } => {
                self.pair.conn(side).set_connection_window_size(size);
                let m = &mut self.max_conn_window[ix(side)];
                *m = (*m).max(u64::from(size.min(MAX_WINDOW)));
            }
            Op::Shutdown { side } => {
                self.pair.conn(side).shutdown(now);
                self.shut_down[ix(side)] = true;
            }
            Op::Step { chunk, times } => {
                self.pair.chunk = chunk.max(1);
                for _ in 0..times.max(1) {
                    self.pair.step();
                    self.collect();
                    self.check_touched();
                }
            }
            Op::Advance { millis } => {
                self.pair.advance(Duration::from_millis(u64::from(millis)));
            }
        }
        match op.stream().and_then(|s| self.pick(s)) {
            Some(i) => self.streams[i].touched = true,
            None => {
                if op.is_connection_wide() {
                    self.all_touched = true;
                }
            }
        }
        if let Op::Open { .. } = op
            && let Some(m) = self.streams.last_mut()
        {
            m.touched = true;
        }
        self.collect();
        self.check_touched();
    }

    fn flow_out(&mut self, side: Side, i: usize) -> &mut Flow {
        match side {
            Side::Client => &mut self.streams[i].request,
            Side::Server => &mut self.streams[i].response,
        }
    }

    fn flow_in(&mut self, side: Side, i: usize) -> &mut Flow {
        match side {
            Side::Client => &mut self.streams[i].response,
            Side::Server => &mut self.streams[i].request,
        }
    }

    fn send_data(&mut self, side: Side, i: usize, len: u32, end_stream: bool) {
        let id = self.sid(i);
        let dir = ix(side) as u8;
        let from = self.flow_out(side, i).sent;
        let data = body(id.value(), dir, from, len);
        let before = self.pair.conn(side).stream_stats(id).map(|s| s.queued_data);
        if let Ok(taken) = self.pair.conn(side).send_data(id, data, end_stream) {
            assert!(taken <= len as usize, "took more than offered");
            let flow = self.flow_out(side, i);
            assert!(flow.end.is_none(), "data accepted after the end on {id:?}");
            flow.sent += taken as u64;
            if end_stream && taken == len as usize {
                flow.end = Some(End::Data);
            }
            if taken < len as usize
                && let Some(before) = before
            {
                // Took less: the stream or the connection buffer is full.
                let cap = self.knobs[ix(side)].stream_buffer;
                let stats = self.pair.conn(side).stats();
                let after = before + taken;
                assert!(
                    after >= cap || stats.queued_data >= self.knobs[ix(side)].connection_buffer,
                    "send_data took {taken} of {len} with room left ({after} < {cap})"
                );
            }
        }
    }

    fn reset(&mut self, side: Side, i: usize, reason: Reason) {
        let id = self.sid(i);
        let conn = self.pair.conn(side);
        // A stream already closed on this side only gives its held data back.
        let open = conn.stream_stats(id).is_some_and(|s| !s.state.is_closed());
        if conn.reset(id, reason).is_ok() {
            if open {
                self.streams[i].reset = true;
            }
            self.flow_in(side, i).held = 0;
        }
    }

    fn release(&mut self, side: Side, i: usize, amount: Option<u32>) {
        let id = self.sid(i);
        let held = self.flow_in(side, i).held;
        let n = amount.map_or(held, |a| u64::from(a).min(held));
        let asked = amount.map_or(held, u64::from);
        let _ = self.pair.conn(side).release_capacity(id, asked as usize);
        self.flow_in(side, i).held -= n;
    }

    /// Takes both sides' events into the model, checking each against it.
    pub fn collect(&mut self) {
        for side in [Side::Client, Side::Server] {
            for event in self.pair.events(side) {
                if self.log {
                    eprintln!("  {side:?}: {}", short(&event));
                }
                self.on_event(side, event);
            }
        }
    }

    fn model_index(&self, id: StreamId) -> usize {
        *self
            .index
            .get(&id.value())
            .unwrap_or_else(|| panic!("event on a stream nobody opened: {id:?}"))
    }

    fn on_event(&mut self, side: Side, event: Event) {
        match &event {
            Event::Headers { stream_id, .. }
            | Event::Informational { stream_id, .. }
            | Event::Data { stream_id, .. }
            | Event::Trailers { stream_id, .. }
            | Event::Reset { stream_id, .. }
            | Event::Writable { stream_id } => {
                let i = self.model_index(*stream_id);
                self.streams[i].touched = true;
            }
            Event::PingAck { .. } => {}
            _ => self.all_touched = true,
        }
        match event {
            Event::Headers {
                stream_id,
                end_stream,
                ..
            } => {
                let i = self.model_index(stream_id);
                let m = &mut self.streams[i];
                match side {
                    Side::Server => {
                        assert!(!m.server_has_it, "request headers twice on {stream_id:?}");
                        m.server_has_it = true;
                    }
                    Side::Client => {
                        assert!(m.responded, "response headers nobody sent on {stream_id:?}");
                        assert!(
                            !m.client_has_response,
                            "final response twice on {stream_id:?}"
                        );
                        m.client_has_response = true;
                    }
                }
                if end_stream {
                    self.end_received(side, i, End::Headers);
                }
            }
            Event::Informational { stream_id, .. } => {
                assert_eq!(side, Side::Client);
                let i = self.model_index(stream_id);
                assert!(
                    !self.streams[i].client_has_response,
                    "1xx after the final response"
                );
            }
            Event::Data {
                stream_id,
                data,
                end_stream,
            } => {
                let i = self.model_index(stream_id);
                let dir = 1 - ix(side) as u8;
                let flow = self.flow_in(side, i);
                assert!(
                    flow.received_end.is_none(),
                    "DATA after the end on {stream_id:?}"
                );
                for (k, b) in data.iter().enumerate() {
                    let at = flow.received + k as u64;
                    assert_eq!(
                        *b,
                        pattern(stream_id.value(), dir, at),
                        "{side:?} got a wrong byte at {at} on {stream_id:?}"
                    );
                }
                flow.received += data.len() as u64;
                flow.held += data.len() as u64;
                assert!(
                    flow.received <= flow.sent,
                    "{side:?} received {} of {} sent on {stream_id:?}",
                    flow.received,
                    flow.sent
                );
                if end_stream {
                    self.end_received(side, i, End::Data);
                }
            }
            Event::Trailers { stream_id, .. } => {
                let i = self.model_index(stream_id);
                self.end_received(side, i, End::Trailers);
            }
            Event::Reset {
                stream_id,
                reason,
                initiator,
                ..
            } => {
                // Between two correct endpoints nobody breaks a stream rule:
                // our own resets are only refusals (a client's queued
                // requests when it shuts down).
                assert!(
                    initiator == Initiator::Remote || reason == Reason::REFUSED_STREAM,
                    "{side:?} reset {stream_id:?} for a peer error: {reason:?}"
                );
                let i = self.model_index(stream_id);
                self.streams[i].reset = true;
                self.flow_in(side, i).held = 0;
            }
            Event::Closed { error } => {
                assert!(
                    !matches!(error, Some(ConnectionError::PeerViolation { .. })),
                    "{side:?} closed for a peer violation: {error:?}"
                );
                self.closed[ix(side)] = true;
                for s in &mut self.streams {
                    match side {
                        Side::Client => s.response.held = 0,
                        Side::Server => s.request.held = 0,
                    }
                }
            }
            Event::GoAway { reason, .. } => {
                assert!(
                    reason == Reason::NO_ERROR
                        || reason == Reason::SETTINGS_TIMEOUT
                        || reason == Reason::ENHANCE_YOUR_CALM,
                    "{side:?} got GOAWAY {reason:?}"
                );
            }
            _ => {}
        }
    }

    fn end_received(&mut self, side: Side, i: usize, how: End) {
        let id = self.streams[i].id;
        let flow = self.flow_in(side, i);
        assert!(
            flow.received_end.is_none(),
            "{side:?}: stream {id} ended twice"
        );
        assert_eq!(
            flow.end,
            Some(how),
            "{side:?}: stream {id} ended unlike it was sent"
        );
        assert_eq!(
            flow.received, flow.sent,
            "{side:?}: stream {id} ended after {} of {} bytes",
            flow.received, flow.sent
        );
        flow.received_end = Some(how);
    }

    /// Every invariant that holds after any step, on every stream.
    pub fn check(&mut self) {
        self.check_streams(true);
    }

    /// The invariants after one pair step: connection-wide ones, and the
    /// per-stream ones on the streams the step touched.
    fn check_touched(&mut self) {
        let all = self.all_touched;
        self.check_streams(all);
    }

    fn check_streams(&mut self, all: bool) {
        self.all_touched = false;
        for side in [Side::Client, Side::Server] {
            let s = ix(side);
            let knobs = self.knobs[s];
            let max_stream = self.max_stream_window[s];
            let max_conn = self.max_conn_window[s];
            let conn = self.pair.conn(side);
            let st = conn.stats();
            let cfg = conn.config().clone();
            assert_eq!(
                st.counters.connection_errors, 0,
                "{side:?} saw a peer violation"
            );
            assert_eq!(
                st.counters.resets_sent_for_peer_errors, 0,
                "{side:?} reset for a peer error"
            );
            assert_eq!(st.counters.glitches, 0, "{side:?} charged a glitch");
            assert_eq!(st.streams.total(), conn.live_streams());
            // The writer tracks the send window of every stream that is not
            // closed (half-closed (local) included: §6.9.1), and no other.
            assert_eq!(
                st.send_streams,
                st.streams.total() - st.streams.closed,
                "{side:?} writer streams vs live, unclosed streams: {st:?}"
            );
            // The connection cap gives way only to what a stream's own window
            // lets out (so parked streams never starve one with window).
            assert!(
                st.queued_data <= knobs.connection_buffer + st.send_streams * knobs.stream_buffer,
                "{side:?} queued {}",
                st.queued_data
            );
            assert!(st.closed_remembered <= cfg.max_closed_streams);
            assert!(st.pending_open <= cfg.max_pending_open_streams);
            assert!(st.control_queued.responses <= cfg.max_pending_responses);
            assert!(
                st.send_window <= i64::from(MAX_WINDOW),
                "{side:?} send window {}",
                st.send_window
            );
            assert!(
                st.recv_window <= i64::from(MAX_WINDOW),
                "{side:?} recv window {}",
                st.recv_window
            );
            assert!(
                u64::from(st.recv_unreleased) <= max_conn,
                "{side:?} holds {} unreleased, connection window at most {max_conn}",
                st.recv_unreleased
            );
            let dying = self.closed[s]
                || (!conn.wants_read()
                    && st.control_queued.responses < cfg.pending_responses_high_water);
            let mut held_total = 0u64;
            for m in self.streams.iter_mut() {
                let id = StreamId::new(m.id);
                let held = match side {
                    Side::Client => m.response.held,
                    Side::Server => m.request.held,
                };
                held_total += held;
                if !all && !m.touched {
                    continue;
                }
                let ss = if m.gone[s] {
                    None
                } else {
                    conn.stream_stats(id)
                };
                let Some(ss) = ss else {
                    assert!(
                        held == 0 || dying,
                        "{side:?} forgot stream {} holding {held} bytes",
                        m.id
                    );
                    m.gone[s] |= m.seen[s];
                    continue;
                };
                m.seen[s] = true;
                assert!(
                    ss.queued_data <= knobs.stream_buffer,
                    "{side:?} stream {} queued {}",
                    m.id,
                    ss.queued_data
                );
                if let Some(w) = ss.send_window {
                    assert!(
                        w <= i64::from(MAX_WINDOW),
                        "{side:?} stream {} send window {w}",
                        m.id
                    );
                }
                assert!(ss.recv_window <= i64::from(MAX_WINDOW));
                assert_eq!(
                    u64::from(ss.recv_unreleased),
                    held,
                    "{side:?} stream {}: unreleased bytes differ from what the application holds",
                    m.id
                );
                assert!(
                    held <= max_stream,
                    "{side:?} stream {} holds {held}, more than any window it granted ({max_stream})",
                    m.id
                );
            }
            if !dying {
                assert_eq!(
                    u64::from(st.recv_unreleased),
                    held_total,
                    "{side:?}: connection unreleased bytes differ from what the application holds"
                );
            }
        }
        for m in &mut self.streams {
            m.touched = false;
        }
    }

    /// Whether both directions of the wire are empty and neither side wants to write.
    fn quiet(&self) -> bool {
        self.pair.to_server.is_empty()
            && self.pair.to_client.is_empty()
            && !self.pair.client.wants_write()
            && !self.pair.server.wants_write()
    }

    fn run(&mut self) {
        self.pair.chunk = usize::MAX;
        for _ in 0..10_000 {
            let moved = self.pair.step();
            self.collect();
            self.check_touched();
            if !moved && self.quiet() {
                self.check();
                return;
            }
        }
        panic!("the pair did not settle");
    }

    /// Drives both sides to completion: restores windows and slots, answers
    /// and ends every stream, releases every byte held, runs until quiet;
    /// then checks that every stream delivered exactly what was sent (unless
    /// reset) and that no state is left on either side.
    pub fn finish(&mut self) {
        let now = self.pair.now;
        for side in [Side::Client, Side::Server] {
            let k = self.knobs[ix(side)];
            let u = SettingsUpdate::new()
                .initial_window_size(k.initial_window.max(1024))
                .max_concurrent_streams(k.max_concurrent_streams.max(1));
            let _ = self.pair.conn(side).update_settings(u, now);
            self.pair
                .conn(side)
                .set_connection_window_size(k.connection_window.max(65_535));
        }
        for _ in 0..1_000 {
            self.run();
            let mut acted = false;
            for i in 0..self.streams.len() {
                acted |= self.finish_stream(i);
            }
            self.collect();
            self.check();
            // Timers: the shutdown PING, a stalled send.
            if !acted {
                self.run();
                if self.all_done() {
                    break;
                }
                self.pair.advance(Duration::from_secs(1));
                self.collect();
                self.check();
            }
        }
        self.run();
        for side in [Side::Client, Side::Server] {
            let closed = self.closed[ix(side)];
            let conn = self.pair.conn(side);
            let st = conn.stats();
            assert_eq!(
                conn.live_streams(),
                0,
                "{side:?} still has live streams: {st:?}"
            );
            assert_eq!(st.streams.total(), 0, "{side:?}: {st:?}");
            assert_eq!(st.queued_data, 0, "{side:?} still queues data: {st:?}");
            assert_eq!(
                st.send_streams, 0,
                "{side:?} still keeps send state: {st:?}"
            );
            assert_eq!(
                st.pending_open, 0,
                "{side:?} still has pending opens: {st:?}"
            );
            if !closed {
                // A connection that ended keeps its last connection-window
                // count (no stream is left to release it).
                assert_eq!(st.recv_unreleased, 0, "{side:?} still holds data: {st:?}");
            }
            assert_eq!(
                st.control_queued.total, 0,
                "{side:?} still queues control frames: {st:?}"
            );
            assert!(st.closed_remembered <= conn.config().max_closed_streams);
        }
        let dead = self.closed[0] || self.closed[1];
        for m in &self.streams {
            if m.reset || dead {
                continue;
            }
            for (name, f) in [("request", &m.request), ("response", &m.response)] {
                assert_eq!(f.received, f.sent, "stream {} {name}: bytes lost", m.id);
                assert_eq!(f.received_end, f.end, "stream {} {name}: end differs", m.id);
                assert!(f.end.is_some(), "stream {} {name} never ended", m.id);
            }
        }
    }

    fn all_done(&self) -> bool {
        self.pair.client.live_streams() == 0
            && self.pair.server.live_streams() == 0
            && self.pair.client.stats().pending_open == 0
    }

    /// One round of finishing a stream; true when it did something.
    fn finish_stream(&mut self, i: usize) -> bool {
        let id = self.sid(i);
        let mut acted = false;
        // Release whatever either side holds.
        for side in [Side::Client, Side::Server] {
            if self.flow_in(side, i).held > 0 {
                self.release(side, i, None);
                acted = true;
            }
        }
        if self.streams[i].server_has_it
            && !self.streams[i].responded
            && self
                .pair
                .server
                .stream_stats(id)
                .is_some_and(|s| s.state.can_send())
        {
            let len = (self.streams[i].id % 3) * 1000;
            let end = len == 0;
            if self.pair.server.send_response(id, status(200), end).is_ok() {
                self.streams[i].responded = true;
                if end {
                    self.streams[i].response.end = Some(End::Headers);
                }
                acted = true;
            }
        }
        for side in [Side::Client, Side::Server] {
            let ready = match side {
                Side::Client => true,
                Side::Server => self.streams[i].responded,
            };
            if ready && self.flow_out(side, i).end.is_none() && !self.streams[i].reset {
                let before = self.flow_out(side, i).sent;
                self.send_data(side, i, 0, true);
                acted |=
                    self.flow_out(side, i).end.is_some() || self.flow_out(side, i).sent > before;
            }
        }
        acted
    }
}

fn short(e: &Event) -> String {
    match e {
        Event::Data {
            stream_id,
            data,
            end_stream,
        } => format!(
            "Data {{ {stream_id:?}, {} bytes, end_stream: {end_stream} }}",
            data.len()
        ),
        Event::Headers {
            stream_id,
            end_stream,
            ..
        } => format!("Headers {{ {stream_id:?}, end_stream: {end_stream} }}"),
        other => format!("{other:?}"),
    }
}

/// Runs one case: the operations, then completion.
pub fn run_case(client: Knobs, server: Knobs, ops: &[Op]) {
    let mut sim = Sim::new(client, server);
    sim.log = std::env::var_os("SIM_LOG").is_some();
    for op in ops {
        sim.apply(op);
    }
    sim.finish();
}
