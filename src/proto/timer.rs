//! The connection's timers: a fixed table, one slot per kind, nothing allocated.
//!
//! The core never reads a clock. Deadlines are computed from the `now` the
//! caller passes in, [`TimerTable::next_timeout`] tells the caller when to
//! call back, and [`TimerTable::expired`] says which timers fired at a given
//! `now`.

use std::time::Instant;

/// Every timer a connection may arm. (Keepalive PINGs and idle timeouts are
/// the layers above's: `grpc::keepalive`, the adapters' idle timers.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Timer {
    /// Our SETTINGS must be acknowledged before this (else SETTINGS_TIMEOUT).
    SettingsAck,
    /// Graceful shutdown: after the first GOAWAY (and its PING), send the real
    /// last stream id by this time even if the PING went unanswered.
    ShutdownPing,
    /// No progress on the send side while data waits for window (slow reader).
    SendStall,
    /// No stream for `Config::idle_timeout`: graceful shutdown.
    Idle,
    /// `Config::max_connection_age` reached: graceful shutdown.
    Age,
    /// `Config::max_connection_age_grace` after that: the connection ends.
    AgeGrace,
}

impl Timer {
    /// Every timer, in slot order.
    pub(crate) const ALL: [Timer; 6] = [
        Timer::SettingsAck,
        Timer::ShutdownPing,
        Timer::SendStall,
        Timer::Idle,
        Timer::Age,
        Timer::AgeGrace,
    ];

    fn slot(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    /// Arms (or re-arms) a timer.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.slot()] = Some(at);
    }

    /// Disarms a timer.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.slot()] = None;
    }

    /// The deadline of a timer, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.slot()]
    }

    /// Whether a timer is armed.
    pub(crate) fn is_set(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// The earliest armed deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns every timer due at `now`, in slot order.
    pub(crate) fn expired(&mut self, now: Instant) -> impl Iterator<Item = Timer> + use<> {
        let mut fired = [None; Timer::ALL.len()];
        for (slot, timer) in Timer::ALL.into_iter().enumerate() {
            if self.deadlines[slot].is_some_and(|at| at <= now) {
                self.deadlines[slot] = None;
                fired[slot] = Some(timer);
            }
        }
        fired.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn slots_follow_the_declaration_order() {
        for (i, t) in Timer::ALL.iter().enumerate() {
            assert_eq!(t.slot(), i);
        }
    }

    #[test]
    fn next_timeout_is_the_earliest_and_expired_disarms() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next_timeout(), None);
        table.set(Timer::SendStall, t0 + Duration::from_secs(30));
        table.set(Timer::SettingsAck, t0 + Duration::from_secs(10));
        table.set(Timer::ShutdownPing, t0 + Duration::from_secs(20));
        assert_eq!(table.next_timeout(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(table.expired(t0 + Duration::from_secs(9)).count(), 0);
        let fired: Vec<_> = table.expired(t0 + Duration::from_secs(20)).collect();
        assert_eq!(fired, [Timer::SettingsAck, Timer::ShutdownPing]);
        assert_eq!(table.next_timeout(), Some(t0 + Duration::from_secs(30)));
        table.stop(Timer::SendStall);
        assert_eq!(table.next_timeout(), None);
    }
}
