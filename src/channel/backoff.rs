//! Reconnect backoff, as gRPC's `doc/connection-backoff.md` specifies it.
//!
//! A subchannel's first attempt starts at once. Each attempt gets
//! `max(next_start, start + min_connect_timeout)` to connect, where
//! `next_start` is when the following attempt may begin: `start +
//! initial_backoff` for the first, then `start + backoff ± jitter × backoff`
//! with `backoff = min(backoff × multiplier, max_backoff)`. The sequence
//! starts over once a connection is READY.

use std::fmt;
use std::time::{Duration, Instant};

/// The reconnect parameters (grpc-go's `ConnectParams`); [`Default`] is
/// the spec's: 1 s initial backoff, ×1.6, ±20 % jitter, 120 s at most, and
/// at least 20 s for an attempt to connect.
///
/// ```
/// use std::time::Duration;
/// use h2proto::channel::ConnectParams;
///
/// let p = ConnectParams::default();
/// assert_eq!(p.initial_backoff, Duration::from_secs(1));
/// assert_eq!(p.max_backoff, Duration::from_secs(120));
/// let fast = ConnectParams { initial_backoff: Duration::from_millis(100), ..p };
/// assert_eq!(fast.multiplier, 1.6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectParams {
    /// INITIAL_BACKOFF: from the start of the first attempt to the start of
    /// the second. Default 1 s.
    pub initial_backoff: Duration,
    /// MULTIPLIER applied to the backoff after each failed attempt. Default 1.6.
    pub multiplier: f64,
    /// JITTER: each backoff but the first is moved by a uniform random
    /// fraction in `[-jitter, +jitter]` of itself. Default 0.2.
    pub jitter: f64,
    /// MAX_BACKOFF: the backoff never grows past it. Default 120 s.
    pub max_backoff: Duration,
    /// MIN_CONNECT_TIMEOUT: an attempt always gets at least this long to
    /// connect. Default 20 s.
    pub min_connect_timeout: Duration,
}

impl Default for ConnectParams {
    fn default() -> Self {
        ConnectParams {
            initial_backoff: Duration::from_secs(1),
            multiplier: 1.6,
            jitter: 0.2,
            max_backoff: Duration::from_secs(120),
            min_connect_timeout: Duration::from_secs(20),
        }
    }
}

/// A source of jitter: uniform samples in `[-1.0, 1.0]`. Injected so that
/// tests know every backoff exactly.
pub trait Jitter: Send + fmt::Debug {
    /// The next sample, in `[-1.0, 1.0]` (values outside are clamped).
    fn sample(&mut self) -> f64;
}

/// The default jitter: a xorshift64* generator from a seed (the tokio
/// adapter seeds it from the clock). Not cryptographic; it only spreads
/// reconnects.
#[derive(Debug, Clone)]
pub struct SeededJitter(u64);

impl SeededJitter {
    /// A generator with this seed (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Self {
        SeededJitter(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }
}

impl Jitter for SeededJitter {
    fn sample(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11; // 53 bits
        (r as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

/// Always the same sample: `FixedJitter(0.0)` turns jitter off, `1.0` and
/// `-1.0` give the extremes.
#[derive(Debug, Clone, Copy)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn sample(&mut self) -> f64 {
        self.0
    }
}

/// One subchannel's place in the backoff sequence.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    /// The backoff of the attempt in progress (`None`: none yet).
    current: Option<Duration>,
}

/// The times of one connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// The earliest start of the next attempt if this one fails.
    pub next_start: Instant,
    /// When this attempt is abandoned.
    pub timeout: Instant,
}

impl Backoff {
    pub(super) fn new() -> Self {
        Backoff { current: None }
    }

    /// Back to the first step (a connection became READY).
    pub(super) fn reset(&mut self) {
        self.current = None;
    }

    /// The backoff the next attempt will use, without jitter.
    #[cfg(test)]
    pub(super) fn current(&self) -> Option<Duration> {
        self.current
    }

    /// Starts an attempt at `now`.
    pub(super) fn start(
        &mut self,
        p: &ConnectParams,
        jitter: &mut dyn Jitter,
        now: Instant,
    ) -> Attempt {
        let delay = match self.current {
            None => {
                self.current = Some(p.initial_backoff);
                p.initial_backoff
            }
            Some(prev) => {
                let grown = prev.as_secs_f64() * p.multiplier;
                let b = grown.min(p.max_backoff.as_secs_f64()).max(0.0);
                self.current = Some(Duration::from_secs_f64(b));
                let j = jitter.sample().clamp(-1.0, 1.0) * p.jitter;
                Duration::from_secs_f64((b + b * j).max(0.0))
            }
        };
        let next_start = now + delay;
        Attempt {
            next_start,
            timeout: next_start.max(now + p.min_connect_timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_sequence_without_jitter() {
        let p = ConnectParams::default();
        let mut b = Backoff::new();
        let mut j = FixedJitter(0.0);
        let t0 = Instant::now();
        let a = b.start(&p, &mut j, t0);
        assert_eq!(a.next_start - t0, Duration::from_secs(1));
        assert_eq!(a.timeout - t0, Duration::from_secs(20));
        let expect = [1.6, 2.56, 4.096, 6.5536, 10.48576, 16.777216, 26.8435456];
        for e in expect {
            let a = b.start(&p, &mut j, t0);
            let got = (a.next_start - t0).as_secs_f64();
            assert!((got - e).abs() < 1e-6, "{got} vs {e}");
            assert_eq!(a.timeout, a.next_start.max(t0 + p.min_connect_timeout));
        }
        for _ in 0..20 {
            b.start(&p, &mut j, t0);
        }
        assert_eq!(b.current(), Some(Duration::from_secs(120)));
        b.reset();
        assert_eq!(
            b.start(&p, &mut j, t0).next_start - t0,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn jitter_bounds_and_seeded_range() {
        let p = ConnectParams::default();
        let t0 = Instant::now();
        for (s, f) in [(1.0, 1.2), (-1.0, 0.8), (7.0, 1.2)] {
            let mut b = Backoff::new();
            b.start(&p, &mut FixedJitter(s), t0);
            let a = b.start(&p, &mut FixedJitter(s), t0);
            let got = (a.next_start - t0).as_secs_f64();
            assert!((got - 1.6 * f).abs() < 1e-9, "{got}");
        }
        let mut j = SeededJitter::new(42);
        let v: Vec<f64> = (0..1000).map(|_| j.sample()).collect();
        assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)));
        assert!(v.iter().any(|x| *x > 0.5) && v.iter().any(|x| *x < -0.5));
    }
}
