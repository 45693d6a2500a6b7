//! Send windows (RFC 9113 §6.9): how much the scheduler may still send on a
//! stream or on the connection.
//!
//! Signed: a SETTINGS_INITIAL_WINDOW_SIZE reduction applies as a delta to
//! every open stream's send window and can leave it negative (§6.9.2); the
//! sender then waits until WINDOW_UPDATEs bring it back above zero. No window
//! may exceed 2^31-1 (§6.9.1).

/// The largest legal window, 2^31-1 (RFC 9113 §6.9.1).
pub(crate) const MAX_WINDOW: u32 = (1 << 31) - 1;

/// The window every stream and the connection start with (RFC 9113 §6.9.2).
pub(crate) const DEFAULT_WINDOW: u32 = 65_535;

/// A window update or settings change pushed a window past 2^31-1: a
/// FLOW_CONTROL_ERROR (of the stream, or of the connection for its window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowOverflow;

/// How much we may send (a stream's or the connection's send window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendWindow {
    window: i64,
}

impl SendWindow {
    /// A window of `initial` bytes.
    pub(crate) fn new(initial: u32) -> Self {
        SendWindow {
            window: i64::from(initial),
        }
    }

    /// The signed window: negative after a SETTINGS reduction.
    pub(crate) fn get(&self) -> i64 {
        self.window
    }

    /// Bytes that may be sent now (zero while the window is negative).
    pub(crate) fn available(&self) -> u32 {
        // Never above MAX_WINDOW, so the cast is exact.
        self.window.clamp(0, i64::from(MAX_WINDOW)) as u32
    }

    /// Records `n` bytes sent. The caller never sends more than [`available`].
    ///
    /// [`available`]: SendWindow::available
    pub(crate) fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.available());
        self.window -= i64::from(n);
    }

    /// Applies a WINDOW_UPDATE increment.
    pub(crate) fn increase(&mut self, increment: u32) -> Result<(), WindowOverflow> {
        self.apply_delta(i64::from(increment))
    }

    /// Applies the change of SETTINGS_INITIAL_WINDOW_SIZE (`new - old`) to a
    /// stream's send window (§6.9.2). The result may be negative.
    pub(crate) fn apply_delta(&mut self, delta: i64) -> Result<(), WindowOverflow> {
        let next = self.window + delta;
        if next > i64::from(MAX_WINDOW) {
            return Err(WindowOverflow);
        }
        self.window = next;
        Ok(())
    }
}
