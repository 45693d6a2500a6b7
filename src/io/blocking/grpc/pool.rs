//! The handler threads of a blocking gRPC server: at most `size` handlers
//! run at once, the other calls wait in a queue (as state, not as blocked
//! threads). A handler that waits on its peer (a `recv` with nothing
//! arrived, a `send` held by flow control) gives its place to a queued call
//! while it waits, so a queued call never waits behind a call that waits
//! for the client: no deadlock however the client orders its calls.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// A handler run, boxed.
pub(super) type Job = Box<dyn FnOnce() + Send>;

/// How long an idle handler thread waits for work before it ends.
const KEEP_IDLE: Duration = Duration::from_secs(10);

/// What the server's handler threads are doing (see
/// [`ServerHandle::handler_stats`](super::ServerHandle::handler_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandlerStats {
    /// Handler threads alive (running, waiting on a peer, or idle).
    pub threads: usize,
    /// Handlers running: at most the pool size, except for the moment a
    /// handler that waited on its peer resumes.
    pub running: usize,
    /// Handlers waiting on their peer (they gave their place away).
    pub waiting: usize,
    /// Calls whose handler waits for a free place.
    pub queued: usize,
}

/// A pool of handler threads; clones share it.
#[derive(Clone)]
pub(super) struct Pool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.inner.size)
            .field("stats", &self.stats())
            .finish()
    }
}

struct Inner {
    size: usize,
    state: Mutex<State>,
    /// Idle threads wait here for a wake token.
    work: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    running: usize,
    waiting: usize,
    /// Idle threads not yet handed a wake token.
    idle: usize,
    /// Wake tokens handed out and not yet taken.
    wakes: usize,
}

/// What the current thread is to a pool (only a pool's own thread counts
/// itself out while it waits; a handler moved to another thread does not).
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Other,
    Running,
    Waiting,
}

thread_local! {
    static ROLE: Cell<Role> = const { Cell::new(Role::Other) };
}

impl Pool {
    /// A pool running at most `size` handlers at once (at least one).
    pub(super) fn new(size: usize) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                size: size.max(1),
                state: Mutex::default(),
                work: Condvar::new(),
            }),
        }
    }

    /// Queues a handler run; it starts when a place is free.
    pub(super) fn submit(&self, job: Job) {
        let mut st = self.inner.lock();
        st.queue.push_back(job);
        self.inner.dispatch(st);
    }

    /// What the threads are doing now.
    pub(super) fn stats(&self) -> HandlerStats {
        let st = self.inner.lock();
        HandlerStats {
            threads: st.threads,
            running: st.running,
            waiting: st.waiting,
            queued: st.queue.len(),
        }
    }

    /// The calling handler is about to wait on its peer: its place goes to a
    /// queued call until the returned guard drops.
    pub(super) fn waiting(&self) -> WaitGuard<'_> {
        let counted = ROLE.with(|r| r.get()) == Role::Running;
        if counted {
            ROLE.with(|r| r.set(Role::Waiting));
            let mut st = self.inner.lock();
            st.running = st.running.saturating_sub(1);
            st.waiting += 1;
            self.inner.dispatch(st);
        }
        WaitGuard {
            pool: self,
            counted,
        }
    }
}

/// Counts a waiting handler back in when it drops.
pub(super) struct WaitGuard<'a> {
    pool: &'a Pool,
    counted: bool,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        if self.counted {
            ROLE.with(|r| r.set(Role::Running));
            let mut st = self.pool.inner.lock();
            st.waiting = st.waiting.saturating_sub(1);
            // Resumes at once (waiting for a place could deadlock on the
            // handlers holding them); the pool is over size for a moment.
            st.running += 1;
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A handler panicking never holds this lock: the state is sound.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts queued jobs while there are free places: on an idle thread,
    /// else on a new one.
    fn dispatch(self: &Arc<Self>, mut st: MutexGuard<'_, State>) {
        while st.running < self.size && st.queue.len() > st.wakes {
            if st.idle > 0 {
                st.idle -= 1;
                st.wakes += 1;
                self.work.notify_one();
                continue;
            }
            let Some(job) = st.queue.pop_front() else {
                return;
            };
            st.running += 1;
            st.threads += 1;
            let inner = self.clone();
            let spawned = thread::Builder::new()
                .name("grpc-call".into())
                .spawn(move || inner.work(job));
            if spawned.is_err() {
                // No thread now: the job waits for one to come free (a
                // running handler takes it when done).
                // The job was dropped with the error: its call is cancelled.
                st.running -= 1;
                st.threads -= 1;
                return;
            }
        }
    }

    /// A handler thread's life: its first job, then queued ones, then idle
    /// until woken or [`KEEP_IDLE`] passes.
    fn work(self: Arc<Self>, first: Job) {
        ROLE.with(|r| r.set(Role::Running));
        let mut job = first;
        loop {
            // A panicking handler ends its call (the dropped call cancels
            // it) but not the thread's bookkeeping.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            let mut st = self.lock();
            st.running = st.running.saturating_sub(1);
            ROLE.with(|r| r.set(Role::Other));
            loop {
                if st.running < self.size
                    && st.queue.len() > st.wakes
                    && let Some(next) = st.queue.pop_front()
                {
                    st.running += 1;
                    job = next;
                    break;
                }
                if st.idle >= self.size {
                    // Enough idle threads already.
                    st.threads = st.threads.saturating_sub(1);
                    return;
                }
                st.idle += 1;
                let (next, timeout) = self
                    .work
                    .wait_timeout_while(st, KEEP_IDLE, |s| s.wakes == 0)
                    .unwrap_or_else(|e| e.into_inner());
                st = next;
                if st.wakes == 0 {
                    debug_assert!(timeout.timed_out());
                    st.idle = st.idle.saturating_sub(1);
                    st.threads = st.threads.saturating_sub(1);
                    return;
                }
                st.wakes -= 1;
                match st.queue.pop_front() {
                    Some(next) if st.running < self.size => {
                        st.running += 1;
                        job = next;
                        break;
                    }
                    Some(next) => st.queue.push_front(next),
                    None => {}
                }
            }
            ROLE.with(|r| r.set(Role::Running));
            drop(st);
        }
    }
}
