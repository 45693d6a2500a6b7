//! The per-connection task shared by every tokio role (HTTP/2 and gRPC,
//! server and client).
//!
//! A connection is one [`Driver`] future, spawned as one task, and any number
//! of [`Shared`] handles (request, response and body handles, call handles).
//! The sans-IO engine lives behind one `std::sync::Mutex` that nobody holds
//! across an `.await`:
//!
//! - handles lock it, act on the engine directly (`send_data`, `reset`,
//!   `release_capacity`, ...) and mark it dirty, which wakes the driver if it
//!   is parked. There is no command channel, so a handle's call costs one
//!   uncontended lock, and the engine's own answer (how many bytes
//!   `send_data` took) is the handle's back-pressure;
//! - the driver, each turn: feeds what it read to `recv`, runs due timers,
//!   lets the engine hand events to the handles (`dispatch`, which wakes
//!   their tasks), asks `poll_transmit` for bytes, then unlocks and does the
//!   I/O. It reads only while the engine `wants_read()` and little input is
//!   buffered, so a flooding peer is slowed by TCP itself, and it reads and
//!   writes in the same poll so that a peer which stops reading can never
//!   keep us from reading;
//! - work the engine wants run on the connection's task (a server's request
//!   handlers, by default) is polled by the driver itself, next to the I/O:
//!   no task spawn and no cross-thread wake per request.
//!
//! When the engine is closed and its last bytes are written, the driver
//! shuts the socket down, tells the engine the transport is gone
//! ([`Engine::finish`]) and ends. If the task is dropped first (runtime
//! shutdown, abort), `Drop` does the same, so no handle waits forever.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::time::Sleep;
use bytes::BytesMut;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio_util::io::poll_read_buf;

use crate::io::sans_io::SansIo;
use crate::proto::{MemoryBudget, Transmit};

/// Room for the first read of a connection; doubled up to `MAX_READ` each
/// time a read fills it. Small at first: an idle connection keeps little.
const FIRST_READ: usize = 8 * 1024;
/// The most room offered to one read.
const MAX_READ: usize = 64 * 1024;
/// Unconsumed input past which we stop reading.
const MAX_BUFFERED_INPUT: usize = 256 * 1024;
/// Most bytes asked of `poll_transmit` at once.
const MAX_WRITE: usize = 256 * 1024;
/// Slices per vectored write (the segments of up to `MAX_WRITE` bytes).
const MAX_IO_SLICES: usize = 64;
/// Turns with progress before the driver yields to other tasks.
const TURNS_BEFORE_YIELD: usize = 32;
/// After our last frame (a GOAWAY) and our FIN: how long, and for how many
/// bytes, we keep reading and discarding before dropping the socket. A
/// socket closed with unread input answers with a TCP RST, and a RST can
/// destroy the GOAWAY still unread in the peer's receive buffer: the peer
/// would then see "connection reset" instead of which of its streams we
/// never processed (and could safely retry). The peer closes once it read
/// our FIN; these bounds are for one that does not.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);
const LINGER_BYTES: usize = 1 << 20;
/// After a write fails, how long the driver goes on reading what the peer
/// had sent (its GOAWAY says which of our streams it never processed)
/// before it ends the connection with the write's error.
const READ_AFTER_WRITE_FAILED: std::time::Duration = std::time::Duration::from_secs(1);

/// The time the core runs on: tokio's clock (the same as the system's,
/// except under a paused test clock, where timers then fire on virtual time).
pub(crate) fn now() -> Instant {
    ::tokio::time::Instant::now().into_std()
}

/// Work run on the connection's own task.
pub(crate) type LocalTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What the driver runs: a sans-IO connection (a
/// [`Connection`](crate::proto::Connection) or a gRPC endpoint) plus the
/// role's table of stream handles.
pub(crate) trait Engine: Send + 'static {
    /// The sans-IO connection the driver feeds and polls.
    type Conn: SansIo;
    /// That connection.
    fn conn(&mut self) -> &mut Self::Conn;
    /// The engine's own next deadline (a client's request deadlines), as
    /// opposed to the connection's timers.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// Runs the engine's own deadlines due at `now`.
    fn expire(&mut self, _now: Instant) {}
    /// Hands the engine's events to the handles, waking their tasks; work to
    /// run on the connection's task goes to `spawn`.
    fn dispatch(&mut self, now: Instant, spawn: &mut Vec<LocalTask>);
    /// The transport is gone (`io_error` says why if it failed): nothing more
    /// will be read or written, so whatever waits must be told.
    fn finish(&mut self, io_error: Option<&io::Error>);
    /// The connection's memory budget: buffers dropped anywhere owe credit
    /// through it, and the parked driver is woken to apply it (in
    /// [`dispatch`](Engine::dispatch)).
    fn budget(&self) -> &MemoryBudget;
}

/// The engine and the driver's wake-up state, behind the connection's lock.
pub(crate) struct Shared<E> {
    /// The engine.
    pub engine: E,
    /// Set when a handle changed the engine; the driver clears it each turn.
    dirty: bool,
    /// The parked driver's waker (`None` while it runs).
    driver: Option<Waker>,
    /// The driver ended: handles must not wait for it.
    pub finished: bool,
}

impl<E> Shared<E> {
    /// Notes that the engine changed; returns the parked driver's waker, to
    /// be woken after the lock is released.
    #[must_use = "wake the returned waker after unlocking"]
    pub(crate) fn touch(&mut self) -> Option<Waker> {
        self.dirty = true;
        self.driver.take()
    }
}

/// A shared reference to a connection's engine, held by the driver and by
/// every handle.
pub(crate) struct Handle<E>(Arc<Mutex<Shared<E>>>);

impl<E> Clone for Handle<E> {
    fn clone(&self) -> Self {
        Handle(Arc::clone(&self.0))
    }
}

impl<E: Engine> Handle<E> {
    /// Wraps an engine.
    pub(crate) fn new(engine: E) -> Self {
        Handle(Arc::new(Mutex::new(Shared {
            engine,
            dirty: false,
            driver: None,
            finished: false,
        })))
    }

    /// Whether both are handles to the same connection.
    pub(crate) fn same(&self, other: &Handle<E>) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Locks the engine. A panic elsewhere while it was held does not make
    /// the connection unusable for the others: the engine is still consistent
    /// between calls.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared<E>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the engine, then wakes the driver: something may be
    /// ready to write.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut E) -> R) -> R {
        let mut shared = self.lock();
        let r = f(&mut shared.engine);
        let waker = shared.touch();
        drop(shared);
        if let Some(w) = waker {
            w.wake();
        }
        r
    }

    /// Runs `f` on the engine without waking the driver (reads only).
    pub(crate) fn inspect<R>(&self, f: impl FnOnce(&E) -> R) -> R {
        f(&self.lock().engine)
    }

    /// A reference that does not keep the engine alive: what the engine
    /// itself may hold to hand out new handles without an `Arc` cycle.
    pub(crate) fn downgrade(&self) -> WeakHandle<E> {
        WeakHandle(Arc::downgrade(&self.0))
    }
}

/// A [`Handle`] that does not keep the connection alive.
pub(crate) struct WeakHandle<E>(Weak<Mutex<Shared<E>>>);

impl<E> WeakHandle<E> {
    /// The handle, while the connection still exists.
    pub(crate) fn upgrade(&self) -> Option<Handle<E>> {
        self.0.upgrade().map(Handle)
    }
}

/// The task that runs one connection: see the module documentation.
pub(crate) struct Driver<IO, E: Engine> {
    io: IO,
    handle: Handle<E>,
    input: BytesMut,
    /// `input` came empty (new, or from the spare list) and nothing was read
    /// into it since: no frame can view it.
    input_untouched: bool,
    /// Room offered to the next read.
    read_size: usize,
    /// What the engine produced and the socket has not taken yet.
    output: Transmit,
    /// The peer closed its side (or reading failed).
    eof: bool,
    eof_told: bool,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
    tasks: FuturesUnordered<LocalTask>,
    spawn: Vec<LocalTask>,
    done: bool,
    /// Closed cleanly: bytes still to discard before the socket goes
    /// (see [`LINGER`]).
    linger: Option<usize>,
    /// The transport failed: a write's error (reading goes on until the
    /// peer's end or [`READ_AFTER_WRITE_FAILED`]), or a read's (what was
    /// read before it is processed first).
    failed: Option<Failed>,
}

/// A transport failure the driver is winding down from.
struct Failed {
    error: io::Error,
    /// When to stop waiting for the peer's end.
    give_up: Instant,
    /// The engine has had a turn since: what was read is applied.
    turned: bool,
}

impl<IO, E> Driver<IO, E>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    E: Engine,
{
    /// A driver for `engine` over `io`; spawn it (or await it).
    pub(crate) fn new(io: IO, handle: Handle<E>) -> Self {
        Driver {
            io,
            handle,
            input: BytesMut::new(),
            input_untouched: false,
            read_size: FIRST_READ,
            output: Transmit::new(),
            eof: false,
            eof_told: false,
            timer: Box::pin(::tokio::time::sleep_until(
                ::tokio::time::Instant::now() + std::time::Duration::from_secs(86_400),
            )),
            timer_at: None,
            tasks: FuturesUnordered::new(),
            spawn: Vec::new(),
            done: false,
            linger: None,
            failed: None,
        }
    }

    /// The engine's turn, under the lock: input, timers, events, output.
    /// Returns (wants_read, closed, next timeout).
    fn turn(&mut self, now: Instant) -> (bool, bool, Option<Instant>) {
        let mut shared = self.handle.lock();
        shared.dirty = false;
        let e = &mut shared.engine;
        if e.conn().poll_timeout().is_some_and(|at| at <= now) {
            e.conn().handle_timeout(now);
        }
        if e.deadline().is_some_and(|at| at <= now) {
            e.expire(now);
        }
        if !self.input.is_empty() {
            e.conn().recv(&mut self.input, now);
        }
        if self.eof && !self.eof_told && self.input.is_empty() {
            self.eof_told = true;
            e.conn().recv_eof(now);
        }
        e.dispatch(now, &mut self.spawn);
        if self.output.is_empty() {
            // Also opens waiting requests and notices a finished connection.
            e.conn().poll_transmit(&mut self.output, MAX_WRITE, now);
            e.dispatch(now, &mut self.spawn);
        }
        let own = e.deadline();
        let conn = e.conn();
        let next = match (conn.poll_timeout(), own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (conn.wants_read(), conn.is_closed(), next)
    }

    fn fail(&mut self, e: io::Error) -> Poll<io::Result<()>> {
        self.finish(Some(&e));
        Poll::Ready(Err(e))
    }

    /// The transport failed. What the peer sent before that still counts
    /// (a GOAWAY that says which requests it never processed, responses
    /// that completed): it is processed before the connection ends, and
    /// after a write error reading goes on until the peer's end, a read
    /// error, or [`READ_AFTER_WRITE_FAILED`]. Nothing more is written.
    fn transport_failed(&mut self, e: io::Error, reading: bool) {
        if reading {
            self.eof = true;
        }
        self.output.clear();
        if self.failed.is_none() {
            self.failed = Some(Failed {
                error: e,
                give_up: now() + READ_AFTER_WRITE_FAILED,
                turned: false,
            });
        }
    }
}

impl<IO, E> Future for Driver<IO, E>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    E: Engine,
{
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.linger.is_some() {
            return this.poll_linger(cx);
        }
        if this.done {
            return Poll::Ready(Ok(()));
        }
        for _ in 0..TURNS_BEFORE_YIELD {
            let mut progress = false;
            let now = now();
            let (mut wants_read, closed, mut deadline) = this.turn(now);
            if let Some(failed) = &mut this.failed {
                // Read what the peer sent, whatever the engine wants, and
                // wake up to give up in time.
                failed.turned = true;
                wants_read = true;
                deadline = Some(deadline.map_or(failed.give_up, |d| d.min(failed.give_up)));
            }

            // The connection's own tasks (handlers): they lock the engine
            // themselves, outside our turn.
            // Each new task is polled once here first: most handlers finish
            // at once, and then cost neither a task node nor a wake-up.
            for mut task in this.spawn.drain(..) {
                if task.as_mut().poll(cx).is_ready() {
                    progress = true;
                } else {
                    this.tasks.push(task);
                }
            }
            while let Poll::Ready(Some(())) = this.tasks.poll_next_unpin(cx) {
                progress = true;
            }

            // Read, when the engine wants input and little is buffered.
            if wants_read && !this.eof && this.input.len() < MAX_BUFFERED_INPUT {
                if this.input.capacity() == 0
                    && let Some(spare) = spare::take()
                {
                    this.input = spare;
                    this.input_untouched = true;
                }
                if this.input.capacity() - this.input.len() < this.read_size / 2
                    && !this.input.try_reclaim(this.read_size)
                {
                    // Not `reserve`: it doubles a 64 KiB buffer holding a
                    // partial frame to 128 KiB, glibc's mmap threshold (its
                    // free raises the threshold for good). Exact instead.
                    let mut fresh = BytesMut::with_capacity(this.input.len() + this.read_size);
                    fresh.extend_from_slice(&this.input);
                    this.input_untouched = fresh.is_empty();
                    this.input = fresh;
                }
                let room = this.input.capacity() - this.input.len();
                match poll_read_buf(Pin::new(&mut this.io), cx, &mut this.input) {
                    Poll::Ready(Ok(n)) => {
                        this.input_untouched &= n == 0;
                        if n == 0 {
                            this.eof = true;
                        } else if n == room {
                            this.read_size = (this.read_size * 2).min(MAX_READ);
                        }
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        this.transport_failed(e, true);
                        progress = true;
                    }
                    Poll::Pending => {}
                }
            }

            // Write what the engine produced: frame headers and small frames
            // from one buffer, large DATA from the application's own memory.
            if this.failed.is_some() {
                // Nothing more goes out; the engine's output is dropped.
                this.output.clear();
            }
            while !this.output.is_empty() {
                let mut slices = [IoSlice::new(&[]); MAX_IO_SLICES];
                let count = this.output.io_slices(&mut slices);
                let io = Pin::new(&mut this.io);
                let result = if count > 1 && io.is_write_vectored() {
                    io.poll_write_vectored(cx, &slices[..count])
                } else {
                    io.poll_write(cx, &slices[0])
                };
                match result {
                    Poll::Ready(Ok(0)) => {
                        this.transport_failed(io::ErrorKind::WriteZero.into(), false);
                        progress = true;
                    }
                    Poll::Ready(Ok(n)) => {
                        this.output.advance(n);
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => {
                        this.transport_failed(e, false);
                        progress = true;
                    }
                    Poll::Pending => break,
                }
            }
            let flushed = this.output.is_empty();
            // Ends once what the peer sent before its end is applied (a
            // partial frame left in the input never completes), or in time.
            if let Some(failed) = &this.failed
                && ((this.eof && failed.turned) || closed || now >= failed.give_up)
                && let Some(failed) = this.failed.take()
            {
                return this.fail(failed.error);
            }

            if closed && flushed {
                // Best effort: the peer may already be gone.
                match Pin::new(&mut this.io).poll_shutdown(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(_)) => {
                        this.finish(None);
                        return Poll::Ready(Ok(()));
                    }
                    Poll::Ready(Ok(())) => {
                        this.finish(None);
                        if this.eof {
                            return Poll::Ready(Ok(()));
                        }
                        this.linger = Some(LINGER_BYTES);
                        let until = ::tokio::time::Instant::now() + LINGER;
                        this.timer.as_mut().reset(until);
                        return this.poll_linger(cx);
                    }
                }
            }
            // Timers.
            if deadline != this.timer_at {
                this.timer_at = deadline;
                if let Some(at) = deadline {
                    this.timer
                        .as_mut()
                        .reset(::tokio::time::Instant::from_std(at));
                }
            }
            if this.timer_at.is_some() && this.timer.as_mut().poll(cx).is_ready() {
                progress = true;
            }

            if !progress {
                let mut shared = this.handle.lock();
                // Credit owed by a buffer dropped since this turn began
                // (registered first, so a drop from now on wakes us).
                if shared.dirty || shared.engine.budget().register(cx.waker()) {
                    continue;
                }
                shared.driver = Some(cx.waker().clone());
                drop(shared);
                this.release_idle_buffers();
                return Poll::Pending;
            }
        }
        // Busy for a while: let other tasks run, then go on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<IO: AsyncRead + Unpin, E: Engine> Driver<IO, E> {
    /// After a clean close: read and discard until the peer's EOF, an
    /// error, [`LINGER`] or [`LINGER_BYTES`], whichever comes first.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let Some(left) = self.linger else {
                return Poll::Ready(Ok(()));
            };
            if self.timer.as_mut().poll(cx).is_ready() {
                break;
            }
            self.input.clear();
            self.input.reserve(FIRST_READ);
            self.input_untouched = false;
            match poll_read_buf(Pin::new(&mut self.io), cx, &mut self.input) {
                Poll::Ready(Ok(n)) if n > 0 && n < left => self.linger = Some(left - n),
                Poll::Ready(_) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        self.linger = None;
        self.input = BytesMut::new();
        Poll::Ready(Ok(()))
    }
}

impl<IO, E: Engine> Driver<IO, E> {
    /// Parked with nothing buffered: give the buffers back, so that an idle
    /// connection holds none (a read never needs its buffer beyond the
    /// call; the next one reserves again).
    fn release_idle_buffers(&mut self) {
        if self.input.is_empty() && self.input.capacity() != 0 {
            spare::give(std::mem::take(&mut self.input), self.input_untouched);
            self.input_untouched = false;
        }
        // The output buffer is small on an idle connection; one grown by a
        // burst is given back too (keeping small ones saves reallocating
        // them on every turn).
        if self.output.is_empty() && self.output.capacity() > MAX_READ {
            self.output = Transmit::new();
        }
    }

    /// Ends the connection: the engine learns the transport is gone.
    fn finish(&mut self, io_error: Option<&io::Error>) {
        if self.done {
            return;
        }
        self.done = true;
        let mut spawn = Vec::new();
        let mut shared = self.handle.lock();
        shared.finished = true;
        shared.engine.finish(io_error);
        shared.engine.dispatch(now(), &mut spawn);
        // Unlock before the never-run tasks are dropped: dropping them drops
        // handles, which lock the engine.
        drop(shared);
        drop(spawn);
    }
}

impl<IO, E: Engine> Drop for Driver<IO, E> {
    fn drop(&mut self) {
        if !self.done {
            let aborted =
                io::Error::new(io::ErrorKind::ConnectionAborted, "connection task dropped");
            self.finish(Some(&aborted));
        }
    }
}

/// Read buffers that connections gave back as they went idle, kept for the
/// next read on the same thread. An idle connection still holds no buffer,
/// and a busy one that drains its input every turn does not pay for a fresh
/// one each time: glibc serves an 8 KiB `malloc` from its large-chunk path,
/// consolidating its fast bins first (about 300 instructions a request at
/// h2load's batches of ten, `scripts/ir-per-request.sh`).
mod spare {
    use std::cell::RefCell;

    use bytes::BytesMut;

    use super::FIRST_READ;

    /// Buffers kept per thread: what a thread's busy connections hand back
    /// and take again within one wake-up.
    const KEPT: usize = 8;
    /// A buffer grown past this (a burst) goes back to the allocator.
    const MAX_KEPT_SIZE: usize = 2 * FIRST_READ;

    thread_local! {
        static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    }

    /// Keeps an emptied read buffer for a later read, when its memory is
    /// ours alone (no frame, body chunk or header value still views it) and
    /// small; otherwise drops it. `untouched`: it was taken empty and
    /// nothing was read into it, so it is ours alone as it is (a wake-up
    /// without input takes a buffer and gives it back unused).
    pub(super) fn give(mut buf: BytesMut, untouched: bool) {
        // Asking for more than the room it has left makes `try_reclaim`
        // take the whole allocation back, which it can only do when nothing
        // else refers to it; the capacity is then the allocation's.
        let room = buf.capacity();
        let whole = untouched || buf.try_reclaim(room + 1);
        if !whole || !(FIRST_READ..=MAX_KEPT_SIZE).contains(&buf.capacity()) {
            return;
        }
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < KEPT {
                spare.push(buf);
            }
        });
    }

    /// A kept buffer, empty, its whole allocation free (`FIRST_READ` to
    /// `MAX_KEPT_SIZE` bytes).
    pub(super) fn take() -> Option<BytesMut> {
        SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten()
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use bytes::BufMut;

        #[test]
        fn only_unshared_small_buffers_are_kept() {
            // Drained by frames split off and dropped: kept, whole again.
            let mut buf = BytesMut::with_capacity(FIRST_READ);
            buf.put_bytes(1, 700);
            drop(buf.split_to(700));
            give(buf, false);
            let kept = take().expect("kept");
            assert!(kept.is_empty() && kept.capacity() >= FIRST_READ);
            // A frame still held elsewhere: its memory is not ours to reuse,
            // even with room left for a read.
            for size in [FIRST_READ, 2 * FIRST_READ] {
                let mut buf = BytesMut::with_capacity(size);
                buf.put_bytes(1, 700);
                let frame = buf.split_to(700).freeze();
                give(buf, false);
                assert!(take().is_none());
                drop(frame);
            }
            // Grown by a burst: given back to the allocator.
            let mut buf = BytesMut::with_capacity(4 * FIRST_READ);
            buf.put_bytes(1, 10);
            drop(buf.split_to(10));
            give(buf, false);
            assert!(take().is_none());
            // Taken and given back unused (a wake-up without input).
            let unused = BytesMut::with_capacity(FIRST_READ);
            give(unused, true);
            assert_eq!(take().map(|b| b.capacity()), Some(FIRST_READ));
            // At most KEPT per thread.
            for _ in 0..KEPT + 3 {
                let mut buf = BytesMut::with_capacity(FIRST_READ);
                buf.put_bytes(1, 10);
                drop(buf.split_to(10));
                give(buf, false);
            }
            assert_eq!(std::iter::from_fn(take).count(), KEPT);
        }
    }
}
