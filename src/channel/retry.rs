//! gRFC A6 retries: a per-method policy (off unless configured) that sends
//! a call again after a status it names, with exponential backoff.

use std::time::Duration;

use crate::grpc::Code;

/// A set of status codes (a bit per code 0–31).
///
/// ```
/// use h2proto::channel::CodeSet;
/// use h2proto::grpc::Code;
/// let set = CodeSet::of(&[Code::UNAVAILABLE, Code::RESOURCE_EXHAUSTED]);
/// assert!(set.contains(Code::UNAVAILABLE));
/// assert!(!set.contains(Code::INTERNAL));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodeSet(u32);

impl CodeSet {
    /// The set of these codes (codes above 31 are left out).
    pub fn of(codes: &[Code]) -> CodeSet {
        CodeSet(
            codes
                .iter()
                .filter(|c| c.value() < 32)
                .fold(0, |m, c| m | 1 << c.value()),
        )
    }

    /// Whether `code` is in the set.
    pub fn contains(self, code: Code) -> bool {
        code.value() < 32 && self.0 & (1 << code.value()) != 0
    }
}

/// A retry policy (gRFC A6's `retryPolicy`): a call that ends with one of
/// `retryable_codes` before the server committed to a response is sent
/// again, up to `max_attempts` in all, the n-th retry after a uniformly
/// random delay in `[0, min(initial_backoff × multiplierⁿ⁻¹, max_backoff))`.
/// Transparent retries (calls the server did not process) do not count.
///
/// ```
/// use std::time::Duration;
/// use h2proto::channel::{CodeSet, RetryPolicy};
/// use h2proto::grpc::Code;
///
/// let p = RetryPolicy::new(3, CodeSet::of(&[Code::UNAVAILABLE]));
/// assert_eq!(p.backoff(1), Duration::from_millis(100));
/// assert_eq!(p.backoff(2), Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 2 to 5 (A6 caps it at 5).
    pub max_attempts: u32,
    /// The first retry's backoff bound.
    pub initial_backoff: Duration,
    /// The bound of every backoff.
    pub max_backoff: Duration,
    /// Growth of the backoff bound per retry.
    pub backoff_multiplier: f64,
    /// The statuses worth another attempt.
    pub retryable_codes: CodeSet,
}

impl RetryPolicy {
    /// `max_attempts` (capped to 5) for these codes, with a 100 ms initial
    /// backoff, ×2, at most 1 s.
    pub fn new(max_attempts: u32, retryable_codes: CodeSet) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.clamp(1, 5),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            backoff_multiplier: 2.0,
            retryable_codes,
        }
    }

    /// Sets the backoff parameters.
    pub fn with_backoff(mut self, initial: Duration, max: Duration, multiplier: f64) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self.backoff_multiplier = multiplier;
        self
    }

    /// The bound of the `n`-th retry's delay (`n` from 1).
    pub fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .backoff_multiplier
            .powi(n.saturating_sub(1).min(64) as i32);
        let b = self.initial_backoff.as_secs_f64() * exp;
        Duration::from_secs_f64(b.min(self.max_backoff.as_secs_f64()).max(0.0))
    }

    /// Whether a call that made `attempts` attempts and ended with `code`
    /// gets another.
    pub fn retries(&self, attempts: u32, code: Code) -> bool {
        attempts < self.max_attempts.min(5) && self.retryable_codes.contains(code)
    }
}
