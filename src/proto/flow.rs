//! Flow-control windows (RFC 9113 §5.2, §6.9).
//!
//! Windows are signed: a SETTINGS_INITIAL_WINDOW_SIZE reduction applies as a
//! delta to every open stream's send window and can leave it negative
//! (§6.9.2); the sender then waits until WINDOW_UPDATEs bring it back above
//! zero. No window may exceed 2^31-1 (§6.9.1).
//!
//! The receive side separates three quantities that a single counter would
//! conflate: what the peer may still send (`window`), what it sent that the
//! application has not consumed yet (`unreleased`), and what the application
//! released that we have not yet announced (`pending_update`). WINDOW_UPDATE
//! goes out once `pending_update` reaches a quarter of the target window, which keeps
//! the frame rate low without letting the peer stall (the same threshold h2
//! and grpc-go use).

// The send side's window lives with the scheduler that owns it; the
// receive side's (below) with the connection. The constants are shared.
pub(crate) use crate::sched::window::{DEFAULT_WINDOW, MAX_WINDOW};

/// What the peer may send us, and when to tell it that it may send more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecvWindow {
    /// Bytes the peer may still send before it must wait. Signed because our
    /// own SETTINGS reduction can leave it below zero for in-flight data.
    window: i64,
    /// The window we aim to keep open (the initial window, or what a
    /// bandwidth-delay estimate asks for).
    target: u32,
    /// Received, not yet released by the application.
    unreleased: u32,
    /// Released, not yet announced with WINDOW_UPDATE.
    pending_update: u32,
}

/// Data arrived beyond what we allowed: FLOW_CONTROL_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowExceeded;

impl RecvWindow {
    /// A window of `initial` bytes, which is also the target.
    pub(crate) fn new(initial: u32) -> Self {
        RecvWindow {
            window: i64::from(initial),
            target: initial,
            unreleased: 0,
            pending_update: 0,
        }
    }

    /// Bytes the peer may still send.
    pub(crate) fn window(&self) -> i64 {
        self.window
    }

    /// Bytes received and held by the application.
    pub(crate) fn unreleased(&self) -> u32 {
        self.unreleased
    }

    /// The window size this side aims to advertise.
    #[cfg(test)]
    pub(crate) fn target(&self) -> u32 {
        self.target
    }

    /// Accounts `n` received flow-controlled bytes (DATA payload incl. padding).
    /// An empty frame always fits, even in a window a SETTINGS reduction
    /// made negative (§6.9: an empty DATA with END_STREAM may be sent when
    /// there is no space).
    pub(crate) fn receive(&mut self, n: u32) -> Result<(), WindowExceeded> {
        if n > 0 && i64::from(n) > self.window {
            return Err(WindowExceeded);
        }
        self.window -= i64::from(n);
        // Bounded by the window, itself ≤ 2^31-1, so no overflow.
        self.unreleased = self.unreleased.saturating_add(n);
        Ok(())
    }

    /// The application consumed `n` bytes; returns how many it really held
    /// (releasing more than was received is clamped, not an error on the wire).
    pub(crate) fn release(&mut self, n: u32) -> u32 {
        let n = n.min(self.unreleased);
        self.unreleased -= n;
        self.pending_update = self.pending_update.saturating_add(n);
        n
    }

    /// If enough has been released, the WINDOW_UPDATE increment to send now
    /// (and the window is credited with it). Threshold: a quarter of the
    /// target, as grpc-go: at half, only three quarters of the window are in
    /// flight on average, which caps throughput (and a BDP estimate) below
    /// what the window promises.
    pub(crate) fn take_update(&mut self) -> Option<u32> {
        self.take_update_at(self.target / 4)
    }

    /// Like [`take_update`](RecvWindow::take_update) with any threshold; zero
    /// flushes whatever is pending (used when a stream ends or the window is
    /// about to run dry).
    pub(crate) fn take_update_at(&mut self, threshold: u32) -> Option<u32> {
        // Never announce beyond what keeps the window ≤ 2^31-1.
        let room = i64::from(MAX_WINDOW) - self.window;
        // Nor beyond the target: after a shrink, released bytes refill the
        // window only up to the new size; the rest is never announced.
        let below_target = i64::from(self.target) - self.window - i64::from(self.unreleased);
        let pending = i64::from(self.pending_update);
        let increment = pending.min(room.max(0)).min(below_target.max(0));
        if increment == 0 || increment < i64::from(threshold) {
            if increment == 0 && below_target <= 0 {
                self.pending_update = 0;
            }
            return None;
        }
        self.pending_update = if increment < pending && increment == below_target {
            0
        } else {
            self.pending_update - increment as u32 // ≤ pending_update, fits
        };
        self.window += increment;
        Some(increment as u32)
    }

    /// Changes the target window (local SETTINGS_INITIAL_WINDOW_SIZE or a BDP
    /// estimate). Growing it makes the difference available for release at once.
    pub(crate) fn set_target(&mut self, target: u32) {
        let target = target.min(MAX_WINDOW);
        // Grow by what the peer has not been given yet: a window granted
        // before an earlier shrink was never taken back.
        let granted = self.window + i64::from(self.unreleased) + i64::from(self.pending_update);
        let missing = i64::from(target) - granted;
        if missing > 0 {
            // ≤ 2^31-1: fits.
            self.pending_update = self.pending_update.saturating_add(missing as u32);
        }
        self.target = target;
    }

    /// Changes the target window without announcing the difference: for a
    /// SETTINGS_INITIAL_WINDOW_SIZE change, whose delta both sides apply
    /// with [`apply_delta`](RecvWindow::apply_delta).
    pub(crate) fn retarget(&mut self, target: u32) {
        self.target = target.min(MAX_WINDOW);
    }

    /// Applies our own SETTINGS_INITIAL_WINDOW_SIZE change to a stream's
    /// receive window once the peer acknowledged it (§6.9.2 applies to both sides).
    pub(crate) fn apply_delta(&mut self, delta: i64) {
        self.window = (self.window + delta).min(i64::from(MAX_WINDOW));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::window::{SendWindow, WindowOverflow};
    use proptest::prelude::*;

    #[test]
    fn settings_reduction_can_make_a_send_window_negative() {
        let mut w = SendWindow::new(DEFAULT_WINDOW);
        w.consume(60_000);
        w.apply_delta(16_384 - i64::from(DEFAULT_WINDOW)).unwrap();
        assert_eq!(w.get(), 5_535 + 16_384 - 65_535);
        assert!(w.get() < 0);
        assert_eq!(w.available(), 0);
        w.increase(50_000).unwrap();
        assert_eq!(w.available() as i64, 5_535 + 16_384 - 65_535 + 50_000);
    }

    #[test]
    fn send_window_overflow_is_an_error_and_leaves_the_window_alone() {
        let mut w = SendWindow::new(MAX_WINDOW);
        assert_eq!(w.increase(1), Err(WindowOverflow));
        assert_eq!(w.get(), i64::from(MAX_WINDOW));
        let mut w = SendWindow::new(0);
        assert_eq!(w.increase(MAX_WINDOW), Ok(()));
        assert_eq!(w.apply_delta(1), Err(WindowOverflow));
    }

    #[test]
    fn receiving_past_the_window_is_refused() {
        let mut w = RecvWindow::new(100);
        assert_eq!(w.receive(60), Ok(()));
        assert_eq!(w.receive(41), Err(WindowExceeded));
        assert_eq!(w.receive(40), Ok(()));
        assert_eq!(w.window(), 0);
        assert_eq!(w.receive(1), Err(WindowExceeded));
    }

    #[test]
    fn a_shrunk_window_is_refilled_only_up_to_its_new_size() {
        let mut w = RecvWindow::new(1000);
        w.receive(800).unwrap();
        w.set_target(300);
        // 800 released: the window (200) may grow back to 300, not 1000.
        assert_eq!(w.release(800), 800);
        assert_eq!(w.take_update_at(0), Some(100));
        assert_eq!(w.window(), 300);
        assert_eq!(w.take_update_at(0), None);
        // Growing again announces the difference once.
        w.set_target(1000);
        assert_eq!(w.take_update_at(0), Some(700));
        assert_eq!(w.window(), 1000);
    }

    #[test]
    fn window_update_waits_for_a_quarter_of_the_target() {
        let mut w = RecvWindow::new(1000);
        w.receive(800).unwrap();
        assert_eq!(w.release(249), 249);
        assert_eq!(w.take_update(), None);
        assert_eq!(w.release(1), 1);
        assert_eq!(w.take_update(), Some(250));
        assert_eq!(w.window(), 450);
        assert_eq!(w.take_update(), None);
        // Releasing more than was received is clamped.
        assert_eq!(w.release(10_000), 550);
        assert_eq!(w.take_update_at(0), Some(550));
        assert_eq!(w.window(), 1000);
    }

    #[test]
    fn growing_the_target_opens_the_window() {
        let mut w = RecvWindow::new(DEFAULT_WINDOW);
        w.set_target(1 << 20);
        assert_eq!(w.take_update(), Some((1 << 20) - DEFAULT_WINDOW));
        assert_eq!(w.window(), 1 << 20);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Receive(u32),
        Release(u32),
        Update(u32),
        Target(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..70_000).prop_map(Op::Receive),
            (0u32..70_000).prop_map(Op::Release),
            (0u32..40_000).prop_map(Op::Update),
            (0u32..(1 << 24)).prop_map(Op::Target),
        ]
    }

    proptest! {
        /// Whatever the order of events: the window never exceeds 2^31-1,
        /// every byte is accounted as in the window, held by the application,
        /// or pending announcement, and the peer is never allowed more than
        /// the target.
        #[test]
        fn recv_window_conserves_bytes(ops in proptest::collection::vec(op(), 0..200)) {
            let mut w = RecvWindow::new(DEFAULT_WINDOW);
            let mut granted = i64::from(DEFAULT_WINDOW);
            let mut received = 0i64;
            for op in ops {
                match op {
                    Op::Receive(n) => {
                        let before = w.window();
                        if w.receive(n).is_ok() {
                            received += i64::from(n);
                        } else {
                            prop_assert!(i64::from(n) > before);
                            prop_assert_eq!(w.window(), before);
                        }
                    }
                    Op::Release(n) => { w.release(n); }
                    Op::Update(t) => {
                        if let Some(inc) = w.take_update_at(t) {
                            prop_assert!(inc >= t && inc > 0);
                            granted += i64::from(inc);
                        }
                    }
                    Op::Target(t) => w.set_target(t),
                }
                prop_assert!(w.window() <= i64::from(MAX_WINDOW));
                prop_assert!(w.window() >= 0);
                prop_assert_eq!(w.window(), granted - received);
            }
        }

        /// A stream window used the way the connection uses it (a greedy
        /// sender, releases, our own SETTINGS_INITIAL_WINDOW_SIZE changes,
        /// and `take_update` after each release and each acknowledged
        /// change) never leaves the sender stuck: when the application holds
        /// nothing, a non-zero target means the peer may send.
        #[test]
        fn a_released_stream_window_never_stalls_the_sender(
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let mut setting = DEFAULT_WINDOW;
            let mut w = RecvWindow::new(setting);
            for op in ops {
                match op {
                    Op::Receive(n) => {
                        let n = n.min(w.window().max(0) as u32);
                        w.receive(n).unwrap();
                    }
                    Op::Release(n) => {
                        w.release(n);
                    }
                    Op::Update(_) => {
                        // Everything held comes back, as an application
                        // that reads to the end does.
                        w.release(u32::MAX);
                    }
                    Op::Target(t) => {
                        // What the SETTINGS ACK handler does.
                        w.apply_delta(i64::from(t) - i64::from(setting));
                        w.retarget(t);
                        setting = t;
                    }
                }
                w.take_update();
                prop_assert!(
                    w.window() > 0 || w.unreleased() > 0 || w.target() == 0,
                    "stalled: {:?}",
                    w
                );
            }
        }
    }
}
