//! The idle timeout ([`Config::idle_timeout`](super::Config::idle_timeout)):
//! a connection that has carried no stream for that long ends gracefully,
//! as [`shutdown`](Connection::shutdown) ends it. A peer that opens
//! connections and leaves them empty (or only pings) cannot hold a server's
//! memory for ever.

use std::time::Instant;

use super::connection::{Connection, Lifecycle};
use super::timer::Timer;

impl Connection {
    /// Arms the idle timer once the connection has no live stream (and no
    /// request waiting for a slot), and disarms it while one lives. Runs
    /// with the caller's clock at the end of the verbs that take it; a
    /// stream opened by `recv` is seen by the `poll_transmit` that follows,
    /// and the timer's firing checks again.
    pub(super) fn track_idle(&mut self, now: Instant) {
        let Some(timeout) = self.config.idle_timeout else {
            return;
        };
        let armed = self.timers.is_set(Timer::Idle);
        match (self.is_idle(), armed) {
            (true, false) => self.timers.set(Timer::Idle, now + timeout),
            (false, true) => self.timers.stop(Timer::Idle),
            _ => {}
        }
    }

    /// The idle timer fired: still idle, the connection starts its graceful
    /// shutdown (a server's GOAWAY lets requests already in flight in).
    pub(super) fn idle_timer_fired(&mut self, now: Instant) {
        if self.is_idle() {
            self.counters.idle_timeouts += 1;
            self.shutdown(now);
        }
    }

    fn is_idle(&self) -> bool {
        self.lifecycle == Lifecycle::Open && self.store.is_empty() && self.pending_open.is_empty()
    }
}
