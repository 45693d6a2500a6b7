//! Bandwidth-delay product estimator: grpc-go's `bdpEstimator`, sans-IO.
//!
//! The receiver sends a PING when DATA starts arriving and counts the DATA
//! bytes that arrive until its ACK. That sample (at most ~1.5× the real BDP
//! on a saturated link) divided by the RTT is a bandwidth sample. When the
//! sample reaches 2/3 of the current estimate *and* the bandwidth is the
//! highest seen, the estimate becomes 2× the sample (capped at
//! [`BDP_LIMIT`]), and the caller grows its receive windows to it
//! ([`Connection::update_settings`](crate::proto::Connection::update_settings) with
//! `initial_window_size`, and
//! [`Connection::set_connection_window_size`](crate::proto::Connection::set_connection_window_size)).
//!
//! The estimator holds no clock and sends nothing: the caller reports DATA
//! with [`add`](BdpEstimator::add), sends the PING when told to, and reports
//! the PING's round trip with [`on_ack`](BdpEstimator::on_ack).
//!
//! ```
//! use std::time::Duration;
//! use h2proto::grpc::bdp::BdpEstimator;
//!
//! let mut bdp = BdpEstimator::new(65_535);
//! assert!(bdp.add(16_384)); // first DATA of a sample: send a PING now
//! assert!(!bdp.add(200_000)); // counted into the sample
//! let grown = bdp.on_ack(Duration::from_millis(50));
//! assert_eq!(grown, Some(2 * 216_384));
//! ```

use std::time::Duration;

/// The largest window the estimator asks for: 16 MiB (grpc-go's `bdpLimit`).
pub const BDP_LIMIT: u32 = 16 << 20;
/// Weight of a new RTT sample after the first ten (grpc-go's `alpha`).
const ALPHA: f64 = 0.9;
/// A sample must reach this share of the estimate to grow it (grpc-go's `beta`).
const BETA: f64 = 0.66;
/// Growth factor over the sample (grpc-go's `gamma`).
const GAMMA: f64 = 2.0;

/// grpc-go's BDP estimator. See the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct BdpEstimator {
    bdp: u32,
    sample: u32,
    bw_max: f64,
    sent: bool,
    sample_count: u64,
    rtt: f64,
}

impl BdpEstimator {
    /// An estimator starting from the current receive window.
    pub fn new(initial_window: u32) -> Self {
        BdpEstimator {
            bdp: initial_window.min(BDP_LIMIT),
            sample: 0,
            bw_max: 0.0,
            sent: false,
            sample_count: 0,
            rtt: 0.0,
        }
    }

    /// The current estimate (the window last asked for).
    pub fn bdp(&self) -> u32 {
        self.bdp
    }

    /// Whether a sample's PING is in flight.
    pub fn is_sampling(&self) -> bool {
        self.sent
    }

    /// `n` DATA bytes arrived. Returns `true` when the caller must send the
    /// sample's PING now (the first DATA since the last sample ended).
    pub fn add(&mut self, n: u32) -> bool {
        if self.bdp == BDP_LIMIT {
            return false;
        }
        if !self.sent {
            self.sent = true;
            self.sample = n;
            self.sample_count += 1;
            return true;
        }
        self.sample = self.sample.saturating_add(n);
        false
    }

    /// The caller could not send the sample's PING (e.g. too many PINGs
    /// outstanding): forget the sample, the next DATA starts another.
    pub fn abort_sample(&mut self) {
        self.sent = false;
        self.sample = 0;
    }

    /// The sample's PING was acknowledged after `rtt`. Returns the new
    /// window when the estimate grew.
    pub fn on_ack(&mut self, rtt: Duration) -> Option<u32> {
        if !self.sent {
            return None;
        }
        self.sent = false;
        self.sample_count += 1;
        // A zero RTT (same-instant virtual clocks) would divide by zero:
        // treat it as one microsecond.
        let rtt_sample = rtt.as_secs_f64().max(1e-6);
        if self.sample_count < 10 {
            self.rtt += (rtt_sample - self.rtt) / self.sample_count as f64;
        } else {
            self.rtt += (rtt_sample - self.rtt) * ALPHA;
        }
        let sample = f64::from(self.sample);
        let bw_current = sample / (self.rtt.max(1e-6) * 1.5);
        if bw_current > self.bw_max {
            self.bw_max = bw_current;
        }
        if sample >= BETA * f64::from(self.bdp)
            && bw_current >= self.bw_max
            && self.bdp != BDP_LIMIT
        {
            // `as` saturates on overflow; the cap follows.
            let grown = ((GAMMA * sample) as u32).min(BDP_LIMIT);
            if grown > self.bdp {
                self.bdp = grown;
                return Some(grown);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_twice_the_sample_and_caps() {
        let mut b = BdpEstimator::new(65_535);
        let mut window = 65_535;
        for _ in 0..20 {
            if !b.add(window) {
                break;
            }
            if let Some(w) = b.on_ack(Duration::from_millis(10)) {
                assert_eq!(w, (2 * u64::from(window)).min(u64::from(BDP_LIMIT)) as u32);
                window = w;
            }
        }
        assert_eq!(b.bdp(), BDP_LIMIT);
        assert!(!b.add(1), "no more samples at the cap");
    }

    #[test]
    fn small_samples_do_not_grow() {
        let mut b = BdpEstimator::new(1 << 20);
        assert!(b.add(1000));
        assert_eq!(b.on_ack(Duration::from_millis(10)), None);
        assert_eq!(b.bdp(), 1 << 20);
    }

    #[test]
    fn ack_without_sample_is_ignored() {
        let mut b = BdpEstimator::new(65_535);
        assert_eq!(b.on_ack(Duration::ZERO), None);
    }
}
