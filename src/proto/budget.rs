//! The memory a connection's application side holds on its peer's behalf.
//!
//! The core caps its own queues (receive windows, send buffers, control
//! queue). What it hands out is the application's to hold: a body being
//! collected, a gRPC message being reassembled or waiting for a handler, a
//! response accepted from a handler and not yet taken by the core. A
//! [`MemoryBudget`] is the cap on those bytes for one connection, shared by
//! everything that holds them (the engine, bodies, messages), and the
//! figure behind "why is this connection using memory".
//!
//! Two rules, the same for every adapter:
//!
//! - **Credit follows the bytes.** Received DATA keeps its flow-control
//!   credit while anything of ours holds it; [`MemoryBudget::hold`] wraps a
//!   buffer so that dropping it (the handler is done with it, or the core
//!   wrote the echo back to the socket) owes the credit back to the core.
//!   The owner of the connection applies what is owed with
//!   [`take_owed`](MemoryBudget::take_owed) on its next turn; a dropped
//!   buffer never locks the connection itself, so it may be dropped
//!   anywhere, on any thread.
//! - **A full budget stops early credit.** Assembling a message may return
//!   credit before the message is complete (so a large message keeps
//!   flowing), but only while [`has_room`](MemoryBudget::has_room), and
//!   always for the oldest message in assembly, so a peer that reads never
//!   deadlocks: whatever else is held, one message can always finish.
//!
//! Memory a connection can make us hold is then bounded by its receive
//! window (unreleased bytes, the core's cap) plus the budget plus one
//! message: see `docs/security.md`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use bytes::Bytes;

use crate::frame::StreamId;

/// The SETTINGS_INITIAL_WINDOW_SIZE the crate's servers advertise (HTTP
/// and gRPC, both adapters): one frame's worth. A stream gets its full
/// window ([`Connection::set_stream_recv_window`](super::Connection::set_stream_recv_window))
/// once something reads it: a streaming reader, or the oldest message being
/// assembled. Credit is then directed: a peer that opens a hundred uploads
/// can park at most this much on each stream nobody reads yet, and can
/// never starve the one that has to finish first.
pub const DIRECTED_INITIAL_WINDOW: u32 = 16 * 1024;

/// The default cap: 1 MiB, the default connection receive window. See
/// `docs/security.md` for the reasoning.
pub const DEFAULT_MEMORY_BUDGET: usize = 1024 * 1024;

/// A connection's cap on the bytes its application side holds; cheap to
/// clone (every clone is the same budget).
///
/// ```
/// use bytes::Bytes;
/// use h2proto::frame::StreamId;
/// use h2proto::proto::MemoryBudget;
///
/// let budget = MemoryBudget::new(1 << 20);
/// let body = budget.hold(Bytes::from(vec![0u8; 1000]), StreamId::new(1), 1000, 0);
/// assert_eq!(budget.stats().unreleased, 1000);
/// drop(body);
/// // The credit is owed back to the connection, which applies it.
/// let mut owed = Vec::new();
/// budget.take_owed(&mut owed);
/// assert_eq!(owed, vec![(StreamId::new(1), 1000)]);
/// ```
#[derive(Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    limit: usize,
    /// Bytes counted against the limit.
    held: AtomicUsize,
    /// The most ever counted at once.
    peak: AtomicUsize,
    /// Received bytes held in [`Held`] buffers whose credit is still out.
    unreleased: AtomicUsize,
    owed: Mutex<Owed>,
}

#[derive(Default)]
struct Owed {
    /// Credit to give back, by stream.
    credit: Vec<(StreamId, usize)>,
    /// Woken when credit is owed (the connection's driver, parked).
    waker: Option<Waker>,
}

/// A snapshot of a [`MemoryBudget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BudgetStats {
    /// The cap.
    pub limit: usize,
    /// Bytes counted against it now: message bytes whose credit went back
    /// early, and response bytes waiting outside the core.
    pub held: usize,
    /// The most ever held at once.
    pub peak: usize,
    /// Received bytes the application holds whose credit is still withheld
    /// (these count against the connection's receive window instead).
    pub unreleased: usize,
    /// Credit owed back by dropped buffers, not yet applied.
    pub owed: usize,
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.stats().fmt(f)
    }
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        MemoryBudget {
            inner: Arc::new(Inner {
                limit,
                held: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                unreleased: AtomicUsize::new(0),
                owed: Mutex::new(Owed::default()),
            }),
        }
    }

    /// The cap.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bytes counted against the cap now.
    pub fn held(&self) -> usize {
        self.inner.held.load(Ordering::Relaxed)
    }

    /// Whether `n` more bytes fit under the cap.
    pub fn has_room(&self, n: usize) -> bool {
        self.held().saturating_add(n) <= self.inner.limit
    }

    /// Counts `n` bytes until [`uncharge`](Self::uncharge)d.
    pub fn charge(&self, n: usize) {
        if n == 0 {
            return;
        }
        let now = self.inner.held.fetch_add(n, Ordering::Relaxed) + n;
        self.inner.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Stops counting `n` bytes counted by [`charge`](Self::charge).
    pub fn uncharge(&self, n: usize) {
        if n == 0 {
            return;
        }
        // Saturating: a mismatch is a bug of ours, never a reason to wrap.
        let _ = self
            .inner
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(n))
            });
    }

    /// Wraps received bytes of `stream` so that dropping the last reference
    /// to them gives back what they hold: `unreleased` bytes of flow-control
    /// credit (owed to the connection, see [`take_owed`](Self::take_owed))
    /// and `charged` bytes of budget (counted now, uncounted on drop).
    ///
    /// The result is an ordinary `Bytes`: slicing and cloning share the
    /// guard, so an echo that sends the same bytes back keeps the credit
    /// until the core has written (and dropped) the last of them.
    pub fn hold(&self, data: Bytes, stream: StreamId, unreleased: usize, charged: usize) -> Bytes {
        if unreleased == 0 && charged == 0 {
            return data;
        }
        self.charge(charged);
        self.inner
            .unreleased
            .fetch_add(unreleased, Ordering::Relaxed);
        Bytes::from_owner(Held {
            data,
            budget: self.clone(),
            stream,
            unreleased,
            charged,
        })
    }

    /// Owes `n` bytes of `stream`'s credit back to the connection (what a
    /// dropped [`hold`](Self::hold) buffer does), waking its driver (also
    /// for `n == 0`: the budget has more room, which may unblock a body
    /// being collected).
    pub fn owe(&self, stream: StreamId, n: usize) {
        let waker = {
            let mut owed = self.inner.owed.lock().unwrap_or_else(|e| e.into_inner());
            match owed.credit.last_mut() {
                _ if n == 0 => {}
                Some((s, m)) if *s == stream => *m += n,
                _ => owed.credit.push((stream, n)),
            }
            owed.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Moves the credit owed so far into `into`, as (stream, bytes); the
    /// connection's owner releases it to the core.
    pub fn take_owed(&self, into: &mut Vec<(StreamId, usize)>) {
        let mut owed = self.inner.owed.lock().unwrap_or_else(|e| e.into_inner());
        into.append(&mut owed.credit);
    }

    /// Registers the waker to wake when credit is owed; returns `true` if
    /// some is owed already (then do not park).
    pub fn register(&self, waker: &Waker) -> bool {
        let mut owed = self.inner.owed.lock().unwrap_or_else(|e| e.into_inner());
        if !owed.credit.is_empty() {
            return true;
        }
        match &owed.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => owed.waker = Some(waker.clone()),
        }
        false
    }

    /// Forgets the registered waker (whatever it keeps alive is let go).
    pub fn unregister(&self) {
        self.inner
            .owed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .waker = None;
    }

    /// Whether any buffer handed out still holds credit or budget: only
    /// then can credit become owed.
    pub fn is_lent(&self) -> bool {
        self.held() > 0 || self.inner.unreleased.load(Ordering::Relaxed) > 0
    }

    /// A snapshot.
    pub fn stats(&self) -> BudgetStats {
        let owed = {
            let owed = self.inner.owed.lock().unwrap_or_else(|e| e.into_inner());
            owed.credit.iter().map(|(_, n)| n).sum()
        };
        BudgetStats {
            limit: self.inner.limit,
            held: self.held(),
            peak: self.inner.peak.load(Ordering::Relaxed),
            unreleased: self.inner.unreleased.load(Ordering::Relaxed),
            owed,
        }
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::new(DEFAULT_MEMORY_BUDGET)
    }
}

/// The owner behind a [`MemoryBudget::hold`] buffer.
struct Held {
    data: Bytes,
    budget: MemoryBudget,
    stream: StreamId,
    unreleased: usize,
    charged: usize,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let b = &self.budget;
        b.uncharge(self.charged);
        b.inner
            .unreleased
            .fetch_sub(self.unreleased, Ordering::Relaxed);
        b.owe(self.stream, self.unreleased);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_buffer_owes_its_credit_once_every_clone_is_gone() {
        let budget = MemoryBudget::new(100);
        let data = budget.hold(Bytes::from_static(b"hello world"), StreamId::new(3), 11, 5);
        let slice = data.slice(6..);
        assert_eq!(&slice[..], b"world");
        assert_eq!(budget.held(), 5);
        drop(data);
        let mut owed = Vec::new();
        budget.take_owed(&mut owed);
        assert!(owed.is_empty(), "a slice still holds the bytes");
        drop(slice);
        budget.take_owed(&mut owed);
        assert_eq!(owed, vec![(StreamId::new(3), 11)]);
        let s = budget.stats();
        assert_eq!((s.held, s.peak, s.unreleased, s.owed), (0, 5, 0, 0));
    }

    #[test]
    fn room_is_what_is_left_under_the_limit() {
        let budget = MemoryBudget::new(10);
        assert!(budget.has_room(10));
        budget.charge(4);
        assert!(budget.has_room(6) && !budget.has_room(7));
        budget.uncharge(4);
        budget.uncharge(4); // never wraps
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn owing_wakes_the_registered_waker_and_registering_with_credit_owed_says_so() {
        use std::sync::atomic::AtomicBool;
        use std::task::Wake;
        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let budget = MemoryBudget::new(10);
        assert!(!budget.register(&waker));
        budget.owe(StreamId::new(1), 3);
        assert!(flag.0.load(Ordering::SeqCst));
        assert!(budget.register(&waker), "credit is owed: do not park");
    }
}
