//! [`Channel`]: the state machine. See the [module docs](super).

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use super::backoff::{Attempt, Backoff};
use super::replay::Replay;
use super::{
    Address, ChannelCallId, Config, ConnId, ConnectivityState, Disposition, Event, Jitter,
    LbAction, LbPolicy, Outcome, PickOptions, Resolver, SeededJitter, SubchannelId, SubchannelView,
};
use crate::grpc::{Code, Status};
use crate::sched::IdKeyMap;

use ConnectivityState::*;

mod resolution;
mod scaling;

#[derive(Debug)]
struct Subchannel {
    id: SubchannelId,
    address: Address,
    state: ConnectivityState,
    conn: Option<ConnId>,
    backoff: Backoff,
    /// The attempt in progress (CONNECTING) or the one that failed (TRANSIENT_FAILURE).
    attempt: Option<Attempt>,
    /// Calls picked onto the current connection and not finished.
    calls: usize,
    /// The peer's MAX_CONCURRENT_STREAMS.
    limit: usize,
    /// More connections to the same backend (gRFC A105, opt-in).
    extra: Vec<scaling::Extra>,
}

#[derive(Debug)]
struct Call {
    options: PickOptions,
    /// Where it runs, while it does.
    running: Option<(SubchannelId, ConnId)>,
    /// A subchannel to avoid on the next pick (where it was refused).
    avoid: Option<SubchannelId>,
    retries: u32,
    not_sent: u32,
    /// Attempts under the call's retry policy (transparent ones not counted).
    attempts: u32,
    /// What the caller keeps of its sent messages, for a replay.
    replay: Replay,
}

/// A gRPC channel over N subchannels, sans-IO. See the [module docs](super)
/// for a walk-through; `docs/architecture.md` has the state tables.
///
/// Every call the caller starts ends exactly once: either the caller gets
/// [`Disposition::Done`] from [`call_finished`](Channel::call_finished),
/// or the channel emits [`Event::Fail`] for it (or the caller cancels it
/// while it waits: [`cancel_call`](Channel::cancel_call)).
#[derive(Debug)]
pub struct Channel {
    config: Config,
    resolver: Box<dyn Resolver>,
    policy: Box<dyn LbPolicy>,
    jitter: Box<dyn Jitter>,
    subs: Vec<Subchannel>,
    next_id: u64,
    calls: IdKeyMap<ChannelCallId, Call>,
    /// Calls waiting for a pick, oldest first.
    queue: VecDeque<ChannelCallId>,
    deadlines: BTreeSet<(Instant, ChannelCallId)>,
    /// Calls waiting for their retry policy's backoff.
    retry_timers: BTreeSet<(Instant, ChannelCallId)>,
    events: VecDeque<Event>,
    /// The state last reported.
    state: ConnectivityState,
    idle: bool,
    shutdown: bool,
    last_activity: Instant,
    /// A lookup asked of the caller and not answered yet.
    resolving: bool,
    last_resolve: Option<Instant>,
    next_resolve: Option<Instant>,
    /// Addresses have been received at least once.
    resolved: bool,
    resolve_error: Option<String>,
    last_error: Option<String>,
    /// Subchannels whose state changed, for the policy.
    changed: VecDeque<SubchannelId>,
    /// Bytes the caller keeps for replays, all calls together.
    replay_total: usize,
}

impl Channel {
    /// A channel in IDLE: nothing happens until a call or [`connect`](Self::connect).
    pub fn new(
        resolver: Box<dyn Resolver>,
        policy: Box<dyn LbPolicy>,
        config: Config,
        now: Instant,
    ) -> Channel {
        Channel {
            config,
            resolver,
            policy,
            jitter: Box::new(SeededJitter::new(0)),
            subs: Vec::new(),
            next_id: 1,
            calls: IdKeyMap::default(),
            queue: VecDeque::new(),
            deadlines: BTreeSet::new(),
            retry_timers: BTreeSet::new(),
            events: VecDeque::new(),
            state: Idle,
            idle: true,
            shutdown: false,
            last_activity: now,
            resolving: false,
            last_resolve: None,
            next_resolve: None,
            resolved: false,
            resolve_error: None,
            last_error: None,
            changed: VecDeque::new(),
            replay_total: 0,
        }
    }

    /// Replaces the jitter source (tests use [`FixedJitter`](super::FixedJitter)).
    pub fn set_jitter(&mut self, jitter: Box<dyn Jitter>) {
        self.jitter = jitter;
    }

    /// The load-balancing policy's name.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    /// The channel's connectivity state.
    pub fn state(&self) -> ConnectivityState {
        self.state
    }

    /// The subchannels, in address-list order.
    pub fn subchannels(&self) -> Vec<SubchannelView> {
        self.subs.iter().map(view).collect()
    }

    /// Calls started and not ended (waiting or running).
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Calls waiting for a subchannel.
    pub fn queued_calls(&self) -> usize {
        self.queue.len()
    }

    /// The next thing for the caller to do.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Leaves IDLE: resolves and connects as the policy wants, without a call
    /// (grpc-go's `Connect`).
    pub fn connect(&mut self, now: Instant) {
        self.last_activity = now;
        self.exit_idle(now);
        self.update(now);
    }

    /// Starts a call: an [`Event::Pick`] follows when a subchannel can take
    /// it, or an [`Event::Fail`].
    pub fn start_call(&mut self, options: PickOptions, now: Instant) -> ChannelCallId {
        let id = ChannelCallId(self.next());
        self.last_activity = now;
        if self.shutdown {
            let status = Status::new(Code::UNAVAILABLE, "the channel is shut down");
            self.events.push_back(Event::Fail { call: id, status });
            return id;
        }
        self.calls.insert(
            id,
            Call {
                options,
                running: None,
                avoid: None,
                retries: 0,
                not_sent: 0,
                attempts: 1,
                replay: Replay::default(),
            },
        );
        self.enqueue(id, false);
        self.exit_idle(now);
        self.update(now);
        id
    }

    /// A call picked onto a connection ended: the channel decides whether it
    /// is sent again (see [`Outcome`]).
    pub fn call_finished(
        &mut self,
        call: ChannelCallId,
        outcome: Outcome,
        now: Instant,
    ) -> Disposition {
        self.last_activity = now;
        let Some(c) = self.calls.get_mut(&call) else {
            return Disposition::Done;
        };
        let ran_on = c.running.take();
        if let Some((sub, conn)) = ran_on
            && let Some(s) = self.subs.iter_mut().find(|s| s.id == sub)
        {
            if s.conn == Some(conn) {
                s.calls = s.calls.saturating_sub(1);
            } else if let Some(e) = s.extra.iter_mut().find(|e| e.conn == conn) {
                e.calls = e.calls.saturating_sub(1);
            }
        }
        let committed = c.replay.committed;
        let retry = match outcome {
            Outcome::Done => false,
            // A committed call's messages are gone (or it was answered):
            // it cannot be sent again.
            Outcome::Unprocessed | Outcome::Failed(_) if committed => false,
            Outcome::Unprocessed if c.retries < self.config.transparent_retries => {
                c.retries += 1;
                true
            }
            Outcome::NotSent if c.not_sent < self.config.not_sent_retries => {
                c.not_sent += 1;
                true
            }
            Outcome::Failed(code) => {
                // gRFC A6: after a uniformly random part of the backoff,
                // unless that passes the deadline.
                if let Some(p) = c.options.retry.filter(|p| p.retries(c.attempts, code)) {
                    let u = (self.jitter.sample().clamp(-1.0, 1.0) + 1.0) / 2.0;
                    let at = now + p.backoff(c.attempts).mul_f64(u);
                    if c.options.deadline.is_none_or(|d| at < d) {
                        c.attempts += 1;
                        c.avoid = None;
                        self.retry_timers.insert((at, call));
                        self.update(now);
                        return Disposition::Retry;
                    }
                }
                false
            }
            _ => false,
        };
        let disposition = if retry {
            c.avoid = ran_on.map(|(sub, _)| sub);
            self.enqueue(call, true);
            Disposition::Retry
        } else {
            self.remove_call(call);
            Disposition::Done
        };
        self.update(now);
        disposition
    }

    /// The caller wants to keep `bytes` more of what it sent on `call`, to
    /// send it again if the call is retried transparently. True: counted
    /// (until the call commits or ends). False: that would pass
    /// [`Config::replay_per_call`] or [`Config::replay_per_channel`], so
    /// the call is committed: the caller drops what it kept, and a refusal
    /// of this call now ends it (no retry).
    pub fn keep_for_replay(&mut self, call: ChannelCallId, bytes: usize) -> bool {
        let (per_call, per_channel) = (self.config.replay_per_call, self.config.replay_per_channel);
        match self.calls.get_mut(&call) {
            Some(c) => c
                .replay
                .keep(bytes, &mut self.replay_total, per_call, per_channel),
            None => false,
        }
    }

    /// The call is committed: its response headers arrived (the server is
    /// processing it), or the caller will not keep its messages. What it
    /// kept for a replay is released; it is no longer retried.
    pub fn commit(&mut self, call: ChannelCallId) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.replay.commit(&mut self.replay_total);
        }
    }

    /// Bytes kept for replays by all calls ([`keep_for_replay`](Self::keep_for_replay)).
    pub fn replay_buffered(&self) -> usize {
        self.replay_total
    }

    /// Whether `call` is committed (see [`commit`](Self::commit)); `None`
    /// for a call the channel does not know (ended).
    pub fn is_committed(&self, call: ChannelCallId) -> Option<bool> {
        self.calls.get(&call).map(|c| c.replay.committed)
    }

    /// The caller gave up on a call that has not been picked (or ended);
    /// it is forgotten without an event. A running call ends with
    /// [`call_finished`](Self::call_finished) instead.
    pub fn cancel_call(&mut self, call: ChannelCallId, now: Instant) {
        if let Some(c) = self.calls.get(&call)
            && c.running.is_none()
        {
            self.forget(call);
            self.update(now);
        }
    }

    /// The attempt `conn` connected: its subchannel is READY and its backoff
    /// starts over.
    pub fn connected(&mut self, conn: ConnId, now: Instant) {
        if let Some(i) = self.by_conn(conn)
            && self.subs[i].state == Connecting
        {
            self.subs[i].backoff.reset();
            self.subs[i].attempt = None;
            self.subs[i].calls = 0;
            self.set_state(i, Ready);
        } else {
            self.extra_connected(conn);
        }
        self.update(now);
    }

    /// The peer's MAX_CONCURRENT_STREAMS on `conn`: past it, calls wait
    /// (or go to another READY subchannel). Unlimited until said: when it is
    /// known at connect time, say it before [`connected`](Self::connected),
    /// which hands waiting calls out.
    pub fn set_stream_limit(&mut self, conn: ConnId, limit: u32, now: Instant) {
        let limit = (limit as usize).max(1);
        match self.by_conn(conn) {
            Some(i) => self.subs[i].limit = limit,
            None => self.extra_limit(conn, limit),
        }
        self.update(now);
    }

    /// The attempt `conn` failed (`why` is kept for the status of calls
    /// that fail fast).
    pub fn connect_failed(&mut self, conn: ConnId, why: &str, now: Instant) {
        if let Some(i) = self.by_conn(conn) {
            self.last_error = Some(format!("{}: {why}", self.subs[i].address));
            self.fail_attempt(i, now);
        } else {
            self.extra_gone(conn);
        }
        self.update(now);
    }

    /// The connection `conn` is gone or draining (closed, lost, GOAWAY):
    /// no new call goes there; calls already on it end on their own.
    pub fn disconnected(&mut self, conn: ConnId, now: Instant) {
        if let Some(i) = self.by_conn(conn) {
            match self.subs[i].state {
                Connecting => self.fail_attempt(i, now),
                _ => {
                    self.subs[i].conn = None;
                    self.subs[i].calls = 0;
                    self.set_state(i, Idle);
                    self.want_resolve(now);
                }
            }
        } else {
            self.extra_gone(conn);
        }
        self.update(now);
    }

    /// Closes every connection and fails every waiting call; the channel is
    /// SHUTDOWN for good.
    pub fn shutdown(&mut self, now: Instant) {
        self.shutdown = true;
        for i in 0..self.subs.len() {
            self.drop_extras(i);
        }
        for s in &mut self.subs {
            if let Some(conn) = s.conn.take() {
                self.events.push_back(Event::Disconnect { conn });
            }
            s.state = Shutdown;
        }
        let backing_off = std::mem::take(&mut self.retry_timers);
        for call in std::mem::take(&mut self.queue)
            .into_iter()
            .chain(backing_off.into_iter().map(|t| t.1))
        {
            self.fail(
                call,
                Status::new(Code::UNAVAILABLE, "the channel is shut down"),
            );
        }
        self.update(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.shutdown {
            return None;
        }
        let subs = self.subs.iter().filter_map(|s| match s.state {
            Connecting => s.attempt.map(|a| a.timeout),
            TransientFailure => s.attempt.map(|a| a.next_start),
            _ => None,
        });
        let resolve = self.next_resolve.filter(|_| !self.idle && !self.resolving);
        let deadline = self.deadlines.first().map(|d| d.0);
        let retry = self.retry_timers.first().map(|d| d.0);
        subs.chain(resolve)
            .chain(self.extras_deadline())
            .chain(deadline)
            .chain(retry)
            .chain(self.idle_at())
            .min()
    }

    /// Runs what is due at `now`: connect timeouts, backoff ends, deadlines
    /// of waiting calls, re-resolution, idleness.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.shutdown {
            return;
        }
        for i in 0..self.subs.len() {
            let s = &self.subs[i];
            match (s.state, s.attempt) {
                (Connecting, Some(a)) if a.timeout <= now => {
                    if let Some(conn) = s.conn {
                        self.events.push_back(Event::Disconnect { conn });
                    }
                    self.last_error = Some(format!("{}: connect timed out", s.address));
                    self.fail_attempt(i, now);
                }
                (TransientFailure, Some(a)) if a.next_start <= now => self.set_state(i, Idle),
                _ => {}
            }
        }
        self.expire_extras(now);
        while let Some(&(at, call)) = self.retry_timers.first() {
            if at > now {
                break;
            }
            self.retry_timers.remove(&(at, call));
            if self.calls.contains_key(&call) {
                self.enqueue(call, false);
            }
        }
        while let Some(&(at, call)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.forget(call);
            let status = Status::new(
                Code::DEADLINE_EXCEEDED,
                "deadline exceeded while waiting for a connection",
            );
            self.events.push_back(Event::Fail { call, status });
        }
        if self.next_resolve.is_some_and(|t| t <= now) && !self.idle {
            self.next_resolve = None;
            self.resolve(now);
        }
        if self.idle_at().is_some_and(|t| t <= now) {
            self.enter_idle();
        }
        self.update(now);
    }

    // ---- internals ----

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn by_conn(&self, conn: ConnId) -> Option<usize> {
        self.subs.iter().position(|s| s.conn == Some(conn))
    }

    fn idle_at(&self) -> Option<Instant> {
        let d = self.config.idle_timeout?;
        (!self.idle && self.calls.is_empty()).then(|| self.last_activity + d)
    }

    fn enqueue(&mut self, call: ChannelCallId, front: bool) {
        if front {
            self.queue.push_front(call);
        } else {
            self.queue.push_back(call);
        }
        if let Some(d) = self.calls.get(&call).and_then(|c| c.options.deadline) {
            self.deadlines.insert((d, call));
        }
    }

    /// Drops a waiting call's state.
    fn forget(&mut self, call: ChannelCallId) {
        if let Some(c) = self.remove_call(call)
            && let Some(d) = c.options.deadline
        {
            self.deadlines.remove(&(d, call));
        }
        self.queue.retain(|&c| c != call);
        self.retry_timers.retain(|t| t.1 != call);
    }

    /// Removes a call, releasing its replay bytes.
    fn remove_call(&mut self, call: ChannelCallId) -> Option<Call> {
        let mut c = self.calls.remove(&call)?;
        c.replay.release(&mut self.replay_total);
        Some(c)
    }

    fn fail(&mut self, call: ChannelCallId, status: Status) {
        self.forget(call);
        self.events.push_back(Event::Fail { call, status });
    }

    fn set_state(&mut self, i: usize, state: ConnectivityState) {
        if self.subs[i].state == Ready && state != Ready {
            self.drop_extras(i);
        }
        let s = &mut self.subs[i];
        if s.state == state {
            return;
        }
        s.state = state;
        self.events.push_back(Event::SubchannelState {
            subchannel: s.id,
            address: s.address.clone(),
            state,
        });
        if !self.idle {
            self.changed.push_back(s.id);
        }
    }

    fn fail_attempt(&mut self, i: usize, now: Instant) {
        self.subs[i].conn = None;
        // TRANSIENT_FAILURE even when the backoff is already over: the
        // policy must see it (handle_timeout moves it to IDLE at once).
        self.set_state(i, TransientFailure);
        if self.subs[i].attempt.is_none() {
            self.set_state(i, Idle);
        }
        self.want_resolve(now);
    }

    fn exit_idle(&mut self, now: Instant) {
        if !self.idle || self.shutdown {
            return;
        }
        self.idle = false;
        if !self.resolved || self.resolver.is_dynamic() {
            self.resolve(now);
        }
        let mut actions = Vec::new();
        self.policy.exit_idle(&self.subchannels(), &mut actions);
        self.apply(actions, now);
    }

    fn enter_idle(&mut self) {
        self.idle = true;
        self.changed.clear();
        for i in 0..self.subs.len() {
            if let Some(conn) = self.subs[i].conn.take() {
                self.events.push_back(Event::Disconnect { conn });
            }
            self.subs[i].backoff.reset();
            self.subs[i].attempt = None;
            self.subs[i].calls = 0;
            self.set_state(i, Idle);
        }
        self.policy.entered_idle();
    }

    fn apply(&mut self, actions: Vec<LbAction>, now: Instant) {
        for a in actions {
            match a {
                LbAction::Connect(id) => {
                    let Some(i) = self.subs.iter().position(|s| s.id == id) else {
                        continue;
                    };
                    if self.idle || self.subs[i].state != Idle {
                        continue;
                    }
                    let conn = ConnId(self.next());
                    let cfg = self.config.connect;
                    let s = &mut self.subs[i];
                    s.attempt = Some(s.backoff.start(&cfg, &mut *self.jitter, now));
                    s.conn = Some(conn);
                    s.calls = 0;
                    self.events.push_back(Event::Connect {
                        subchannel: id,
                        conn,
                        address: s.address.clone(),
                    });
                    self.set_state(i, Connecting);
                }
                LbAction::Disconnect(id) => {
                    let Some(i) = self.subs.iter().position(|s| s.id == id) else {
                        continue;
                    };
                    if let Some(conn) = self.subs[i].conn.take() {
                        self.events.push_back(Event::Disconnect { conn });
                    }
                    self.subs[i].attempt = None;
                    self.set_state(i, Idle);
                }
            }
        }
    }

    /// After any input: let the policy react to state changes, report the
    /// channel's state, hand waiting calls out.
    fn update(&mut self, now: Instant) {
        // A call waking a policy that went IDLE (pick_first) changes things
        // once more; the round bound only guards against a policy loop.
        for _ in 0..4 {
            let mut budget = 16 * (self.subs.len() + 1);
            while let Some(id) = self.changed.pop_front() {
                if self.idle || budget == 0 {
                    self.changed.clear();
                    break;
                }
                budget -= 1;
                let mut actions = Vec::new();
                self.policy
                    .subchannel_changed(&self.subchannels(), id, &mut actions);
                self.apply(actions, now);
            }
            let state = self.compute_state();
            if state != self.state {
                self.state = state;
                self.events.push_back(Event::StateChanged(state));
            }
            if !self.dispatch(now) {
                break;
            }
        }
    }

    fn compute_state(&self) -> ConnectivityState {
        if self.shutdown {
            Shutdown
        } else if self.idle {
            Idle
        } else if !self.resolved {
            if self.resolve_error.is_some() && !self.resolving {
                TransientFailure
            } else {
                Connecting
            }
        } else {
            self.policy.state(&self.subchannels())
        }
    }

    /// Picks for the waiting calls, in order; fails those that do not wait
    /// for ready if the channel is TRANSIENT_FAILURE. True if it asked an
    /// IDLE policy to connect (the state must be looked at again).
    fn dispatch(&mut self, now: Instant) -> bool {
        let mut waiting = VecDeque::new();
        let mut exit_idle = false;
        while let Some(call) = self.queue.pop_front() {
            let Some(c) = self.calls.get(&call) else {
                continue;
            };
            let avoid = c.avoid;
            let views = self.subchannels();
            if let Some(id) = self.policy.pick(&views, avoid)
                && let Some(s) = self.subs.iter_mut().find(|s| s.id == id)
                && let (Ready, Some(first)) = (s.state, s.conn)
            {
                // The first connection while it has room, then the extras.
                let conn = match s.extra.iter_mut().find(|e| e.has_room()) {
                    Some(e) if s.calls >= s.limit => {
                        e.calls += 1;
                        e.conn
                    }
                    _ => {
                        s.calls += 1;
                        first
                    }
                };
                let deadline = self.calls.get_mut(&call).and_then(|c| {
                    c.running = Some((id, conn));
                    c.options.deadline
                });
                if let Some(d) = deadline {
                    self.deadlines.remove(&(d, call));
                }
                self.events.push_back(Event::Pick {
                    call,
                    subchannel: id,
                    conn,
                });
                continue;
            }
            if self.state == TransientFailure && !c.options.wait_for_ready {
                let why = self
                    .resolve_error
                    .clone()
                    .or_else(|| self.last_error.clone())
                    .unwrap_or_else(|| "no subchannel is READY".to_owned());
                let Some(c) = self.remove_call(call) else {
                    continue;
                };
                if let Some(d) = c.options.deadline {
                    self.deadlines.remove(&(d, call));
                }
                let status = Status::new(Code::UNAVAILABLE, format!("no READY backend: {why}"));
                self.events.push_back(Event::Fail { call, status });
                continue;
            }
            exit_idle |= self.state == Idle;
            waiting.push_back(call);
        }
        let scale = !waiting.is_empty();
        self.queue = waiting;
        if scale && !self.idle && !self.shutdown {
            // Every READY connection is full (A105, opt-in): one more.
            self.scale_up(now);
        }
        if exit_idle && !self.idle && !self.shutdown {
            // pick_first went IDLE when its backend left: a call brings it back.
            let mut actions = Vec::new();
            self.policy.exit_idle(&self.subchannels(), &mut actions);
            self.apply(actions, now);
            return true;
        }
        false
    }
}

fn view(s: &Subchannel) -> SubchannelView {
    SubchannelView {
        id: s.id,
        address: s.address.clone(),
        state: s.state,
        has_room: s.state == Ready && (s.calls < s.limit || s.extra.iter().any(|e| e.has_room())),
    }
}
