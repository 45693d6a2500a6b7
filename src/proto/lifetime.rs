//! How long a connection lives.
//!
//! - The idle timeout ([`Config::idle_timeout`](super::Config::idle_timeout)):
//!   a connection that has carried no stream for that long ends gracefully,
//!   as [`shutdown`](Connection::shutdown) ends it. A peer that opens
//!   connections and leaves them empty (or only pings) cannot hold a
//!   server's memory for ever.
//! - The maximum age ([`Config::max_connection_age`](super::Config::max_connection_age),
//!   grpc-go's `MaxConnectionAge`): a connection that old ends gracefully
//!   however busy it is, so clients behind a connection-level load balancer
//!   reconnect and spread over new backends; streams still open after
//!   [`Config::max_connection_age_grace`](super::Config::max_connection_age_grace)
//!   end with the connection.
//!
//! The timer is lazy: streams coming and going only note when the
//! connection last became empty, and the timer, when it fires, either ends
//! the connection or sets itself for the next possible moment. A busy
//! connection's deadline then moves at most twice a timeout, not with every
//! request (each move costs the driver a timer reset).

use std::time::Instant;

use super::connection::{Connection, Lifecycle};
use super::timer::Timer;

impl Connection {
    /// Arms the lifetime timers of a new connection.
    pub(super) fn start_lifetime(&mut self, now: Instant) {
        if let Some(age) = self.config.max_connection_age {
            self.timers.set(Timer::Age, now + age);
        }
        self.track_idle(now);
    }

    /// The connection reached its maximum age: a graceful shutdown, and the
    /// grace period after which what is still open ends with it.
    pub(super) fn age_timer_fired(&mut self, now: Instant) {
        if self.lifecycle != Lifecycle::Open {
            return;
        }
        self.counters.age_shutdowns += 1;
        self.shutdown(now);
        if let Some(grace) = self.config.max_connection_age_grace {
            self.timers.set(Timer::AgeGrace, now + grace);
        }
    }

    /// The grace after the maximum age ran out with streams still open.
    pub(super) fn age_grace_fired(&mut self) {
        if matches!(self.lifecycle, Lifecycle::Open | Lifecycle::Draining) {
            self.close(super::Reason::NO_ERROR);
        }
    }

    /// Notes when the connection became empty (no live stream, no request
    /// waiting for a slot), and arms the timer if it is not. Runs with the
    /// caller's clock at the end of `poll_transmit` (a stream opened by
    /// `recv` is seen there), and when the connection is made.
    pub(super) fn track_idle(&mut self, now: Instant) {
        let Some(timeout) = self.config.idle_timeout else {
            return;
        };
        if !self.is_idle() {
            self.idle_since = None;
            return;
        }
        // A stream that came and went between two calls is activity too.
        let opened = self.counters.streams_opened_by_peer + self.counters.streams_opened_locally;
        if self.idle_since.is_none_or(|(_, seen)| seen != opened) {
            self.idle_since = Some((now, opened));
        }
        if !self.timers.is_set(Timer::Idle) {
            self.timers.set(Timer::Idle, now + timeout);
        }
    }

    /// The idle timer fired: empty for the whole timeout, the connection
    /// starts its graceful shutdown (a server's GOAWAY lets requests already
    /// in flight in); otherwise the timer is set for when it could be.
    pub(super) fn idle_timer_fired(&mut self, now: Instant) {
        let Some(timeout) = self.config.idle_timeout else {
            return;
        };
        if self.lifecycle != Lifecycle::Open {
            return;
        }
        let since = match self.idle_since {
            Some((since, _)) if self.is_idle() => since,
            // Busy: looked at again a timeout from now.
            _ => {
                self.timers.set(Timer::Idle, now + timeout);
                return;
            }
        };
        if now >= since + timeout {
            self.counters.idle_timeouts += 1;
            self.shutdown(now);
        } else {
            self.timers.set(Timer::Idle, since + timeout);
        }
    }

    fn is_idle(&self) -> bool {
        self.lifecycle == Lifecycle::Open && self.store.is_empty() && self.pending_open.is_empty()
    }
}
