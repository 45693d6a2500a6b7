//! Rate limiting on the caller's clock.
//!
//! Floods (rapid reset, PING/SETTINGS floods, "glitches") are measured with
//! token buckets refilled from the `now` the caller passes in, so tests drive
//! them with a virtual clock and nothing in the core reads time by itself.

use std::time::{Duration, Instant};

/// A rate limit: `burst` events at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed at once.
    pub burst: u32,
    /// Events allowed per second in the long run (0: never refills).
    pub per_second: u32,
}

impl Rate {
    /// A full bucket for this rate.
    pub(crate) fn bucket(self) -> TokenBucket {
        TokenBucket::new(self.burst, self.per_second)
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second` tokens a second.
///
/// Each event costs one token; an event that finds the bucket empty is over
/// the rate. A `per_second` of zero means the bucket never refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TokenBucket {
    burst: u32,
    per_second: u32,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(burst: u32, per_second: u32) -> Self {
        TokenBucket {
            burst,
            per_second,
            tokens: f64::from(burst),
            last: None,
        }
    }

    /// Takes one token at `now`; `false` when the rate is exceeded (nothing is
    /// taken then).
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        self.try_take_n(1, now)
    }

    /// Takes `n` tokens at `now`, all or nothing.
    pub(crate) fn try_take_n(&mut self, n: u32, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= f64::from(n) {
            self.tokens -= f64::from(n);
            true
        } else {
            false
        }
    }

    /// Tokens left as of the last event (rounded down), for introspection.
    pub(crate) fn tokens(&self) -> u32 {
        self.tokens as u32 // in 0..=burst
    }

    /// Tokens left at `now` (rounded down), for introspection.
    #[cfg(test)]
    pub(crate) fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        self.tokens as u32 // in 0..=burst
    }

    fn refill(&mut self, now: Instant) {
        // A clock that goes backwards (a caller bug) refills nothing rather than panicking.
        let elapsed = match self.last {
            Some(last) => now.checked_duration_since(last).unwrap_or(Duration::ZERO),
            None => Duration::ZERO,
        };
        if self.last.is_none_or(|last| now > last) {
            self.last = Some(now);
        }
        let refill = elapsed.as_secs_f64() * f64::from(self.per_second);
        self.tokens = (self.tokens + refill).min(f64::from(self.burst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_steady_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 10);
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0), "burst exhausted");
        // 10 per second: one token every 100 ms.
        assert!(!b.try_take(t0 + Duration::from_millis(50)));
        assert!(b.try_take(t0 + Duration::from_millis(100)));
        assert!(!b.try_take(t0 + Duration::from_millis(150)));
        // A long pause refills no more than the burst.
        assert_eq!(b.available(t0 + Duration::from_secs(60)), 3);
    }

    #[test]
    fn all_or_nothing_and_a_clock_going_backwards_is_harmless() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut b = TokenBucket::new(5, 0);
        assert!(b.try_take_n(4, t0));
        assert!(!b.try_take_n(2, t0));
        assert_eq!(b.available(t0 - Duration::from_secs(1)), 1);
        assert!(b.try_take(t0));
        assert!(
            !b.try_take(t0 + Duration::from_secs(3600)),
            "rate 0 never refills"
        );
    }
}
