//! Keepalive pings and the server's ping enforcement policy, with grpc-go's
//! defaults, on the caller's clock.
//!
//! - [`KeepaliveConfig`]: after `time` without reading anything, send a
//!   PING; if nothing is read within `timeout`, close the connection. A
//!   client without calls stays quiet unless `permit_without_calls`.
//! - [`EnforcementPolicy`] (server): a client PING earlier than `min_time`
//!   after the previous one (or any PING within 2 h when there are no calls
//!   and `permit_without_calls` is off) is a strike; sending headers or
//!   data clears them; the third strike ends the connection with GOAWAY
//!   ENHANCE_YOUR_CALM and debug data `too_many_pings` (grpc-go's
//!   `maxPingStrikes` = 2).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use h2proto::grpc::keepalive::{EnforcementPolicy, PingEnforcer};
//!
//! let now = Instant::now();
//! let mut enforcer = PingEnforcer::new(EnforcementPolicy::default());
//! let pings = [0u64, 1, 2, 3];
//! let verdicts: Vec<bool> = pings
//!     .iter()
//!     .map(|s| enforcer.on_ping(now + Duration::from_secs(*s), 1))
//!     .collect();
//! assert_eq!(verdicts, [false, false, false, true]); // strikes 1, 2, then GOAWAY
//! ```

use std::time::{Duration, Instant};

/// grpc-go's minimum client keepalive time (shorter values are raised to it).
pub const MIN_CLIENT_TIME: Duration = Duration::from_secs(10);
/// How long a PING is "too early" when a server allows no PINGs without calls.
const NO_CALLS_PING_INTERVAL: Duration = Duration::from_secs(2 * 3600);
/// Strikes tolerated; one more ends the connection.
pub const MAX_PING_STRIKES: u32 = 2;

/// When to send keepalive PINGs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveConfig {
    /// Idle time before a PING; `None` disables keepalive. grpc-go: off on a
    /// client, 2 h on a server. A client's is raised to at least 10 s.
    pub time: Option<Duration>,
    /// How long to wait for anything (the ACK) after the PING before closing.
    /// Default 20 s.
    pub timeout: Duration,
    /// Client: ping even with no call in progress. Default false.
    pub permit_without_calls: bool,
}

impl KeepaliveConfig {
    /// grpc-go's client defaults: disabled, 20 s timeout.
    pub fn client() -> Self {
        KeepaliveConfig {
            time: None,
            timeout: Duration::from_secs(20),
            permit_without_calls: false,
        }
    }

    /// grpc-go's server defaults: every 2 h, 20 s timeout.
    pub fn server() -> Self {
        KeepaliveConfig {
            time: Some(Duration::from_secs(2 * 3600)),
            timeout: Duration::from_secs(20),
            permit_without_calls: true,
        }
    }
}

/// What a server accepts from a client's PINGs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnforcementPolicy {
    /// Least time between client PINGs. Default 5 min.
    pub min_time: Duration,
    /// Whether PINGs are fine with no call in progress. Default false.
    pub permit_without_calls: bool,
}

impl Default for EnforcementPolicy {
    fn default() -> Self {
        EnforcementPolicy {
            min_time: Duration::from_secs(300),
            permit_without_calls: false,
        }
    }
}

/// What the keepalive timer wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepaliveAction {
    /// Nothing.
    None,
    /// Send a PING now.
    Ping,
    /// No answer in time: close the connection.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for `time` of silence.
    Idle,
    /// No calls and not permitted: asleep until a call starts.
    Dormant,
    /// PING sent; the connection dies at this instant unless something is read.
    Waiting(Instant),
}

/// The keepalive timer of one connection.
#[derive(Debug, Clone)]
pub struct Keepalive {
    config: KeepaliveConfig,
    last_read: Instant,
    state: State,
}

impl Keepalive {
    /// A timer starting at `now`.
    pub fn new(config: KeepaliveConfig, now: Instant) -> Self {
        Keepalive {
            config,
            last_read: now,
            state: State::Idle,
        }
    }

    /// Something was read from the peer.
    pub fn on_read(&mut self, now: Instant) {
        self.last_read = now;
        if matches!(self.state, State::Waiting(_)) {
            self.state = State::Idle;
        }
    }

    /// A call started: wake up if dormant.
    pub fn on_call_started(&mut self, now: Instant) {
        if self.state == State::Dormant {
            self.last_read = now;
            self.state = State::Idle;
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let time = self.config.time?;
        match self.state {
            State::Idle => self.last_read.checked_add(time),
            State::Dormant => None,
            State::Waiting(at) => Some(at),
        }
    }

    /// Runs the timer; `active_calls` decides whether a client may ping.
    pub fn handle_timeout(&mut self, now: Instant, active_calls: usize) -> KeepaliveAction {
        let Some(time) = self.config.time else {
            return KeepaliveAction::None;
        };
        match self.state {
            State::Idle if self.last_read.checked_add(time).is_some_and(|t| now >= t) => {
                if active_calls == 0 && !self.config.permit_without_calls {
                    self.state = State::Dormant;
                    KeepaliveAction::None
                } else {
                    self.state =
                        State::Waiting(now.checked_add(self.config.timeout).unwrap_or(now));
                    KeepaliveAction::Ping
                }
            }
            State::Waiting(at) if now >= at => KeepaliveAction::Close,
            _ => KeepaliveAction::None,
        }
    }
}

/// The server's ping-strike counter.
#[derive(Debug, Clone)]
pub struct PingEnforcer {
    policy: EnforcementPolicy,
    last_ping: Option<Instant>,
    strikes: u32,
    reset: bool,
}

impl PingEnforcer {
    /// A counter with no strikes.
    pub fn new(policy: EnforcementPolicy) -> Self {
        PingEnforcer {
            policy,
            last_ping: None,
            strikes: 0,
            reset: false,
        }
    }

    /// Strikes so far.
    pub fn strikes(&self) -> u32 {
        self.strikes
    }

    /// The server sent headers or data: the next PING starts clean (grpc-go's
    /// `resetPingStrikes`).
    pub fn on_send(&mut self) {
        self.reset = true;
    }

    /// A client PING arrived. Returns `true` when it is one strike too many:
    /// send GOAWAY ENHANCE_YOUR_CALM `too_many_pings` and close.
    pub fn on_ping(&mut self, now: Instant, active_calls: usize) -> bool {
        let last = self.last_ping.replace(now);
        if std::mem::take(&mut self.reset) {
            self.strikes = 0;
            return false;
        }
        let Some(last) = last else {
            return false;
        };
        let interval = if !self.policy.permit_without_calls && active_calls == 0 {
            NO_CALLS_PING_INTERVAL
        } else {
            self.policy.min_time
        };
        if last + interval > now {
            self.strikes += 1;
        }
        self.strikes > MAX_PING_STRIKES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_pings_then_closes() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(
            KeepaliveConfig {
                time: Some(Duration::from_secs(10)),
                ..KeepaliveConfig::client()
            },
            t0,
        );
        assert_eq!(k.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(k.handle_timeout(t1, 1), KeepaliveAction::Ping);
        assert_eq!(k.poll_timeout(), Some(t1 + Duration::from_secs(20)));
        assert_eq!(
            k.handle_timeout(t1 + Duration::from_secs(20), 1),
            KeepaliveAction::Close
        );
    }

    #[test]
    fn dormant_without_calls() {
        let t0 = Instant::now();
        let cfg = KeepaliveConfig {
            time: Some(Duration::from_secs(10)),
            ..KeepaliveConfig::client()
        };
        let mut k = Keepalive::new(cfg, t0);
        assert_eq!(
            k.handle_timeout(t0 + Duration::from_secs(10), 0),
            KeepaliveAction::None
        );
        assert_eq!(k.poll_timeout(), None);
        k.on_call_started(t0 + Duration::from_secs(30));
        assert_eq!(k.poll_timeout(), Some(t0 + Duration::from_secs(40)));
    }

    #[test]
    fn strikes_reset_by_sending() {
        let t0 = Instant::now();
        let mut e = PingEnforcer::new(EnforcementPolicy::default());
        for i in 0..3 {
            assert!(!e.on_ping(t0 + Duration::from_secs(i), 1));
        }
        e.on_send();
        assert!(!e.on_ping(t0 + Duration::from_secs(4), 1));
        assert_eq!(e.strikes(), 0);
    }

    #[test]
    fn no_calls_pings_strike_unless_permitted() {
        let t0 = Instant::now();
        let mut e = PingEnforcer::new(EnforcementPolicy::default());
        let late = Duration::from_secs(600); // past min_time, within 2 h
        let v: Vec<bool> = (0..4).map(|i| e.on_ping(t0 + late * i, 0)).collect();
        assert_eq!(v, [false, false, false, true]);
        let mut e = PingEnforcer::new(EnforcementPolicy {
            permit_without_calls: true,
            ..EnforcementPolicy::default()
        });
        assert!((0..10).all(|i| !e.on_ping(t0 + late * i, 0)));
    }
}
