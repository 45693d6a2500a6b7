//! A simulated world for the sans-IO channel: backends that accept, refuse,
//! hang on connect, die mid-call and come back, on a virtual clock.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use h2proto::channel::{
    Address, Channel, ChannelCallId, Config, ConnId, ConnectivityState, Disposition, Event,
    FixedJitter, Outcome, PickOptions, Resolver, StaticResolver, policy,
};
use h2proto::grpc::{Code, Status};

/// How a backend answers a dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    Refuse,
    Hang,
}

#[derive(Debug)]
pub struct Backend {
    pub mode: Mode,
    /// The next this many calls are refused with REFUSED_STREAM.
    pub refuse_streams: u32,
    /// The next this many calls end UNAVAILABLE (processed, failed).
    pub fail_calls: u32,
    pub served: usize,
    /// Its SETTINGS_MAX_CONCURRENT_STREAMS, told to the channel on connect.
    pub max_streams: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Connected(ConnId),
    ConnectFailed(ConnId),
    Finish(ChannelCallId, ConnId),
}

/// A call's end as the application saw it.
pub type Answer = Result<Address, Status>;

pub struct Sim {
    pub ch: Channel,
    pub t0: Instant,
    pub now: Instant,
    pub backends: BTreeMap<Address, Backend>,
    /// Live connections (dialed): address, connected.
    conns: HashMap<ConnId, (Address, bool)>,
    pending: BTreeMap<(Instant, u64), Action>,
    seq: u64,
    pub answers: HashMap<ChannelCallId, Answer>,
    pub started: Vec<ChannelCallId>,
    /// Every dial: when (since t0) and where.
    pub connects: Vec<(Duration, Address)>,
    pub states: Vec<(Duration, ConnectivityState)>,
    pub resolves: Vec<Duration>,
    /// What a DNS lookup returns.
    pub lookup: Vec<Address>,
    pub call_time: Duration,
    pub dial_time: Duration,
    /// Every pick: call, backend, when.
    pub picks: Vec<(ChannelCallId, Address, Duration)>,
    pub disconnects: usize,
    /// Streaming calls: the sizes of the messages each sends once picked.
    pub messages: HashMap<ChannelCallId, Vec<usize>>,
    /// What the simulated caller keeps of a streaming call's messages for
    /// a replay (`None` once the channel said no: committed).
    pub kept: HashMap<ChannelCallId, Option<usize>>,
    /// Bytes the serving backend received on a call's successful attempt.
    pub received: HashMap<ChannelCallId, usize>,
    /// Bytes sent on a call's current attempt.
    attempt_bytes: HashMap<ChannelCallId, usize>,
    /// Connections the channel was told are gone, failed or draining: it
    /// must never pick them again.
    told_down: HashSet<ConnId>,
}

pub fn addr(i: usize) -> Address {
    Address(format!("10.0.0.{i}:50051"))
}

impl Sim {
    pub fn new(n: usize, lb: &str, config: Config) -> Sim {
        let addrs: Vec<Address> = (1..=n).map(addr).collect();
        Sim::with_resolver(Box::new(StaticResolver(addrs.clone())), addrs, lb, config)
    }

    pub fn with_resolver(
        resolver: Box<dyn Resolver>,
        backends: Vec<Address>,
        lb: &str,
        config: Config,
    ) -> Sim {
        let t0 = Instant::now();
        let mut ch = Channel::new(resolver, policy::by_name(lb).unwrap(), config, t0);
        ch.set_jitter(Box::new(FixedJitter(0.0)));
        Sim {
            ch,
            t0,
            now: t0,
            backends: backends
                .into_iter()
                .map(|a| {
                    let b = Backend {
                        mode: Mode::Accept,
                        refuse_streams: 0,
                        fail_calls: 0,
                        served: 0,
                        max_streams: None,
                    };
                    (a, b)
                })
                .collect(),
            conns: HashMap::new(),
            pending: BTreeMap::new(),
            seq: 0,
            answers: HashMap::new(),
            started: Vec::new(),
            connects: Vec::new(),
            states: Vec::new(),
            resolves: Vec::new(),
            lookup: Vec::new(),
            call_time: Duration::from_millis(10),
            dial_time: Duration::from_millis(1),
            picks: Vec::new(),
            disconnects: 0,
            messages: HashMap::new(),
            kept: HashMap::new(),
            received: HashMap::new(),
            attempt_bytes: HashMap::new(),
            told_down: HashSet::new(),
        }
    }

    pub fn since(&self) -> Duration {
        self.now - self.t0
    }

    fn schedule(&mut self, after: Duration, a: Action) {
        self.seq += 1;
        self.pending.insert((self.now + after, self.seq), a);
    }

    fn answer(&mut self, call: ChannelCallId, a: Answer) {
        let prev = self.answers.insert(call, a);
        assert!(prev.is_none(), "{call:?} answered twice");
    }

    pub fn call(&mut self, options: PickOptions) -> ChannelCallId {
        let id = self.ch.start_call(options, self.now);
        self.started.push(id);
        self.drain();
        id
    }

    /// A streaming call: once picked it sends messages of these sizes,
    /// keeping them for a replay as long as the channel lets it.
    pub fn streaming_call(&mut self, options: PickOptions, sizes: Vec<usize>) -> ChannelCallId {
        let id = self.ch.start_call(options, self.now);
        self.started.push(id);
        self.messages.insert(id, sizes);
        self.drain();
        id
    }

    /// A picked streaming call sends: the first attempt its messages
    /// (kept while the channel agrees), a retry what was kept.
    fn send_messages(&mut self, call: ChannelCallId) {
        let Some(sizes) = self.messages.get(&call).cloned() else {
            return;
        };
        let bytes = match self.kept.get(&call) {
            // A retry replays what was kept (a committed call is never
            // sent again).
            Some(Some(kept)) => *kept,
            _ => {
                let mut kept = Some(0);
                for n in &sizes {
                    if let Some(k) = kept {
                        kept = self.ch.keep_for_replay(call, *n).then_some(k + n);
                    }
                }
                self.kept.insert(call, kept);
                sizes.iter().sum()
            }
        };
        self.attempt_bytes.insert(call, bytes);
    }

    /// Handles every event the channel has queued.
    pub fn drain(&mut self) {
        // In batches: a pick already queued when the channel is told its
        // connection is down was a right pick when it was made.
        loop {
            let batch: Vec<Event> = std::iter::from_fn(|| self.ch.poll_event()).collect();
            if batch.is_empty() {
                return;
            }
            let down = self.told_down.clone();
            for ev in batch {
                self.handle(ev, &down);
            }
        }
    }

    fn handle(&mut self, ev: Event, down: &HashSet<ConnId>) {
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("  {:?} {ev:?}", self.since());
        }
        match ev {
            Event::Connect { conn, address, .. } => {
                self.connects.push((self.since(), address.clone()));
                let mode = self.backends.get(&address).map_or(Mode::Refuse, |b| b.mode);
                self.conns.insert(conn, (address, false));
                match mode {
                    Mode::Accept => self.schedule(self.dial_time, Action::Connected(conn)),
                    Mode::Refuse => self.schedule(self.dial_time, Action::ConnectFailed(conn)),
                    Mode::Hang => {}
                }
            }
            Event::Disconnect { conn } => {
                self.disconnects += 1;
                self.conns.remove(&conn);
            }
            Event::Resolve { .. } => {
                self.resolves.push(self.since());
                let a = self.lookup.clone();
                self.ch.update_addresses(a, self.now);
            }
            Event::Pick { call, conn, .. } => {
                assert!(
                    !down.contains(&conn),
                    "{call:?} picked {conn:?}, which the channel was told is down"
                );
                let alive = self.conns.get(&conn).cloned();
                let up = alive.as_ref().is_some_and(|(a, connected)| {
                    *connected && self.backends.get(a).is_some_and(|b| b.mode == Mode::Accept)
                });
                let (address, _) = alive.expect("a pick names a connection we dialed");
                self.picks.push((call, address, self.since()));
                if !up {
                    // The connection died before the call could start.
                    self.told_down.insert(conn);
                    self.ch.disconnected(conn, self.now);
                    self.finish(call, Outcome::NotSent, None);
                } else {
                    self.send_messages(call);
                    self.schedule(self.call_time, Action::Finish(call, conn));
                }
            }
            Event::Fail { call, status } => self.answer(call, Err(status)),
            Event::StateChanged(s) => self.states.push((self.since(), s)),
            Event::SubchannelState { .. } => {}
            _ => {}
        }
    }

    fn finish(&mut self, call: ChannelCallId, outcome: Outcome, answer: Option<Answer>) {
        match self.ch.call_finished(call, outcome, self.now) {
            Disposition::Done => {
                let a = answer.unwrap_or_else(|| {
                    Err(Status::new(Code::UNAVAILABLE, "refused or never sent"))
                });
                self.answer(call, a);
            }
            Disposition::Retry => {}
        }
    }

    fn fire(&mut self, a: Action) {
        match a {
            Action::Connected(conn) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.1 = true;
                    let limit = self.backends.get(&c.0).and_then(|b| b.max_streams);
                    if let Some(l) = limit {
                        self.ch.set_stream_limit(conn, l, self.now);
                    }
                    self.ch.connected(conn, self.now);
                }
            }
            Action::ConnectFailed(conn) => {
                if self.conns.remove(&conn).is_some() {
                    self.told_down.insert(conn);
                    self.ch.connect_failed(conn, "connection refused", self.now);
                }
            }
            Action::Finish(call, conn) => {
                let Some((address, true)) = self.conns.get(&conn).cloned() else {
                    // The connection went away mid-call: it failed.
                    let st = Status::new(Code::UNAVAILABLE, "connection lost");
                    return self.finish(call, Outcome::Done, Some(Err(st)));
                };
                let b = self.backends.get_mut(&address).unwrap();
                if b.refuse_streams > 0 {
                    b.refuse_streams -= 1;
                    return self.finish(call, Outcome::Unprocessed, None);
                }
                if b.fail_calls > 0 {
                    b.fail_calls -= 1;
                    let st = Status::new(Code::UNAVAILABLE, "failed by the backend");
                    let outcome = Outcome::Failed(Code::UNAVAILABLE);
                    return self.finish(call, outcome, Some(Err(st)));
                }
                b.served += 1;
                let got = self.attempt_bytes.get(&call).copied().unwrap_or(0);
                self.received.insert(call, got);
                self.finish(call, Outcome::Done, Some(Ok(address)));
            }
        }
    }

    /// Runs the world up to `t0 + at`.
    pub fn run_until(&mut self, at: Duration) {
        let end = self.t0 + at;
        loop {
            self.drain();
            let p = self.pending.keys().next().map(|k| k.0);
            let t = self.ch.poll_timeout();
            let next = [p, t].into_iter().flatten().min();
            match next {
                Some(n) if n <= end => {
                    self.now = self.now.max(n);
                    if p == Some(n) {
                        let key = *self.pending.keys().next().unwrap();
                        let a = self.pending.remove(&key).unwrap();
                        self.fire(a);
                    } else {
                        self.ch.handle_timeout(self.now);
                    }
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
        self.ch.handle_timeout(self.now);
        self.drain();
    }

    pub fn run_for(&mut self, d: Duration) {
        let at = self.since() + d;
        self.run_until(at);
    }

    /// The backend goes down: its connections break (calls on them fail)
    /// and dials are refused.
    pub fn kill(&mut self, a: &Address) {
        self.backends.get_mut(a).unwrap().mode = Mode::Refuse;
        let dead: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, (x, _))| x == a)
            .map(|(c, _)| *c)
            .collect();
        for c in dead {
            self.conns.remove(&c);
            self.told_down.insert(c);
            self.ch.disconnected(c, self.now);
        }
        self.drain();
    }

    /// The backend sends GOAWAY and stops accepting: its connections take
    /// no new call (the channel is told at once) but the calls on them
    /// finish normally.
    pub fn goaway(&mut self, a: &Address) {
        self.backends.get_mut(a).unwrap().mode = Mode::Refuse;
        let draining: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, (x, _))| x == a)
            .map(|(c, _)| *c)
            .collect();
        for c in draining {
            self.told_down.insert(c);
            self.ch.disconnected(c, self.now);
        }
        self.drain();
    }

    /// The backend is up again.
    pub fn revive(&mut self, a: &Address) {
        self.backends.get_mut(a).unwrap().mode = Mode::Accept;
    }

    /// Connections that are up.
    pub fn live_conns(&self) -> Vec<ConnId> {
        let mut v: Vec<ConnId> = self.conns.iter().filter(|c| c.1.1).map(|c| *c.0).collect();
        v.sort();
        v
    }

    /// Every call started has exactly one answer.
    pub fn check_all_answered(&self) {
        for c in &self.started {
            assert!(self.answers.contains_key(c), "{c:?} never answered");
        }
        assert_eq!(self.ch.active_calls(), 0);
    }

    pub fn ok_by_backend(&self) -> BTreeMap<Address, usize> {
        let mut m = BTreeMap::new();
        for a in self.answers.values().flatten() {
            *m.entry(a.clone()).or_default() += 1;
        }
        m
    }

    pub fn failed(&self) -> usize {
        self.answers.values().filter(|a| a.is_err()).count()
    }
}
