//! The replay buffer's accounting: what a call's sent messages hold so that
//! a transparent retry can send them again, bounded per call and per
//! channel.
//!
//! The channel does not hold the messages (it is payload-agnostic and
//! sans-IO); the caller does, and asks the channel before keeping more
//! ([`Channel::keep_for_replay`](super::Channel::keep_for_replay)). A call
//! whose messages would pass either cap is *committed*: the caller drops
//! what it kept and the call is no longer sent again, so a refusal then
//! reaches the application (UNAVAILABLE). The first response headers commit
//! a call too (the server is processing it), and its end releases it.

/// The default cap of one call's replay buffer: 1 MiB, grpc-java's
/// `perRpcBufferLimit`. Most request streams that are refused at once (a
/// stream limit, a GOAWAY racing the first messages) are far smaller; a
/// larger upload commits and is not retried, as in grpc-java and grpc-go.
pub const DEFAULT_REPLAY_PER_CALL: usize = 1 << 20;

/// The default cap of all replay buffers of a channel: 16 MiB, grpc-java's
/// `retryBufferSize`, so that many concurrent streaming calls cannot hold
/// more than that for retries whatever their number.
pub const DEFAULT_REPLAY_PER_CHANNEL: usize = 16 << 20;

/// One call's share of the replay buffer.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Replay {
    /// Bytes the caller keeps for this call.
    pub bytes: usize,
    /// No more transparent retries: the server may have processed it, or
    /// its messages did not fit.
    pub committed: bool,
}

impl Replay {
    /// Counts `n` more bytes in `total` if both caps allow; otherwise
    /// commits the call (releasing what it held) and says no.
    pub(super) fn keep(
        &mut self,
        n: usize,
        total: &mut usize,
        per_call: usize,
        per_channel: usize,
    ) -> bool {
        if self.committed {
            return false;
        }
        let fits = self.bytes.checked_add(n).is_some_and(|b| b <= per_call)
            && total.checked_add(n).is_some_and(|t| t <= per_channel);
        if !fits {
            self.commit(total);
            return false;
        }
        self.bytes += n;
        *total += n;
        true
    }

    /// Commits the call and releases its bytes from `total`.
    pub(super) fn commit(&mut self, total: &mut usize) {
        self.committed = true;
        self.release(total);
    }

    /// Releases the call's bytes from `total` (its end).
    pub(super) fn release(&mut self, total: &mut usize) {
        *total = total.saturating_sub(self.bytes);
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Replay;

    #[test]
    fn caps_per_call_and_per_channel() {
        let mut total = 0;
        let (mut a, mut b) = (Replay::default(), Replay::default());
        assert!(a.keep(60, &mut total, 100, 150));
        assert!(a.keep(40, &mut total, 100, 150));
        // Past the call's cap: committed, released.
        assert!(!a.keep(1, &mut total, 100, 150));
        assert!(a.committed);
        assert_eq!((a.bytes, total), (0, 0));
        assert!(!a.keep(1, &mut total, 100, 150), "committed for good");
        assert!(b.keep(100, &mut total, 100, 150));
        let mut c = Replay::default();
        assert!(c.keep(50, &mut total, 100, 150));
        // Past the channel's cap.
        assert!(!c.keep(1, &mut total, 100, 150));
        assert_eq!(total, 100);
        b.release(&mut total);
        assert_eq!(total, 0);
        assert!(!Replay::default().keep(usize::MAX, &mut total, usize::MAX, 10));
    }
}
