//! A client connection pool keyed by authority.
//!
//! # What Go does
//!
//! Go's `http2clientConnPool` keeps, per authority, a list of connections.
//! A request takes the first one whose `canTakeNewRequest` (really
//! `ReserveNewRequest`) says yes; when none can, it dials, and concurrent
//! requests for the same authority share that one dial (`dialCall`) and its
//! error. Connections leave the list when they close or receive GOAWAY, and
//! close themselves after `IdleConnTimeout` without streams. By default Go
//! puts no cap on connections per authority.
//!
//! # What this pool does
//!
//! [`Pool::get`] returns a [`Pooled`] handle that holds one request slot on a
//! connection until it is dropped:
//!
//! 1. **Reuse first, in order.** Connections are tried oldest first; one is
//!    taken when it is usable, its own
//!    [`can_take_new_request`](PoolConnection::can_take_new_request) says yes,
//!    and fewer `Pooled` handles hold it than its
//!    [`max_concurrent_requests`](PoolConnection::max_concurrent_requests).
//!    The second check is the pool's version of Go's stream reservation: a
//!    request counts from `get` on, not from when its stream opens, so many
//!    concurrent `get`s do not all pile onto one connection.
//! 2. **Grow** when every connection is at its limit and the authority has
//!    fewer than [`PoolConfig::max_connections_per_authority`] connections.
//! 3. **One dial per authority**, as in Go: a `get` that finds a dial in
//!    flight waits for it, and gets its error if it fails. The dial runs in
//!    the `get` that started it; if that `get` is cancelled, a waiter starts
//!    another. More connections than one are therefore opened one after the
//!    other.
//! 4. **At the cap, a bounded line.** Up to
//!    [`PoolConfig::max_waiters_per_authority`] `get`s wait for a slot
//!    (roughly first come, first served; a fresh `get` may take a slot just
//!    freed); past that, or with 0, `get` fails at once with
//!    [`PoolError::Saturated`]. Unlike Go, the pool never lets an unbounded
//!    crowd queue up behind a saturated authority: a caller that prefers to
//!    shed load gets an answer, and a waiting `get` gives up after
//!    [`PoolConfig::get_timeout`] (30 s by default) with
//!    [`PoolError::Timeout`] (dropping a waiting `get` leaves the line).
//!
//! Waiters are woken, without polling, when a `Pooled` is dropped, a dial
//! ends, or a connection is evicted. A slot can also free up inside a
//! connection (a stream that outlived its `Pooled`, a raised
//! MAX_CONCURRENT_STREAMS) without the pool noticing; every
//! [`sweep`](Pool::sweep) therefore wakes the waiters too.
//!
//! # Eviction and the sweeper
//!
//! A connection that is not [`usable`](PoolConnection::is_usable) (closed, or
//! it received GOAWAY) is dropped from the pool on the next `get` for its
//! authority and by [`Pool::sweep`]. A connection without `Pooled` handles
//! that stays [idle](PoolConnection::is_idle) for
//! [`PoolConfig::idle_timeout`] is dropped by `sweep`. Dropping the pool's
//! handle is what closes it: the connection goes when the last `Pooled`
//! handle to it does (the tokio client starts a graceful close when dropped).
//!
//! `sweep` runs on a background task every [`PoolConfig::sweep_interval`],
//! started with the pool's first connection when there is a tokio runtime.
//! The task holds only a weak reference to the pool: it ends when the last
//! [`Pool`] clone is dropped (aborted at once, and it would also stop at its
//! next tick). With `sweep_interval: None` there is no task and the caller
//! calls `sweep` itself.
//!
//! ```
//! use std::io;
//! use h2proto::io::tokio::pool::{Pool, PoolConfig, PoolConnection};
//!
//! // Stands in for the tokio HTTP/2 client.
//! struct Conn;
//! impl PoolConnection for Conn {
//!     fn can_take_new_request(&self) -> bool { true }
//!     fn max_concurrent_requests(&self) -> usize { 2 }
//!     fn is_usable(&self) -> bool { true }
//!     fn is_idle(&self) -> bool { true }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let pool = Pool::new(PoolConfig::default(), |_authority: String| async {
//!     Ok::<_, io::Error>(Conn)
//! });
//! let a = pool.get("example.com:80").await?;
//! let b = pool.get("example.com:80").await?; // same connection, second slot
//! let c = pool.get("example.com:80").await?; // both slots held: a second connection
//! assert_eq!(pool.stats()["example.com:80"].connections, 2);
//! drop((a, b, c));
//! # Ok::<_, h2proto::io::tokio::pool::PoolError<io::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # With the tokio client
//!
//! [`Client`](super::Client) is a [`PoolConnection`]. Its connector should
//! return it once the server's SETTINGS are in, or the client assumes a
//! limit of 100 streams and the pool fills it past the server's real one; a
//! first request answered is proof enough, since SETTINGS come first:
//!
//! ```
//! use std::io;
//! use h2proto::io::tokio::pool::{Pool, PoolConfig};
//! use h2proto::io::tokio::{Body, Client, Server};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = Server::bind("127.0.0.1:0").await?
//! #     .serve(|_req| async { http::Response::new(Body::from("hi")) });
//! # let addr = server.local_addr();
//! let pool = Pool::new(PoolConfig::default(), move |_authority: String| async move {
//!     // A real connector resolves the authority; this one knows the address.
//!     let client = Client::connect(addr).await?;
//!     client.get("/").await.map_err(io::Error::other)?;
//!     Ok::<_, io::Error>(client)
//! });
//! let conn = pool.get("svc.local:80").await?;
//! assert_eq!(&conn.get("/hello").await?.body()[..], b"hi");
//! # Ok(())
//! # }
//! ```

pub use super::pool_send::PoolSendError;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use ::tokio::sync::Notify;
use ::tokio::task::AbortHandle;
use ::tokio::time::Instant;

/// What the pool needs to know about a connection. Every method is called
/// with the pool's lock held, so it must be cheap and must not block.
pub trait PoolConnection: Send + Sync + 'static {
    /// Whether the connection would open one more request's stream now
    /// (Go's `canTakeNewRequest`): open, no GOAWAY, below the peer's
    /// MAX_CONCURRENT_STREAMS, nothing queued to open.
    fn can_take_new_request(&self) -> bool;
    /// How many requests the connection runs at once: the peer's
    /// MAX_CONCURRENT_STREAMS as known now (HTTP/2 clients assume 100 before
    /// the peer's SETTINGS arrive). The pool holds at most this many
    /// [`Pooled`] handles to the connection.
    fn max_concurrent_requests(&self) -> usize;
    /// False once the connection is closed or received GOAWAY: it takes no
    /// more requests, ever.
    fn is_usable(&self) -> bool;
    /// True when no stream is live on the connection.
    fn is_idle(&self) -> bool;
}

/// The tokio HTTP/2 [`Client`](super::Client) in a pool.
///
/// The client does not say what MAX_CONCURRENT_STREAMS the server sent, so
/// the limit is taken as the streams it runs plus one if it can take another
/// now. That is exact once each request's stream is open (send it right
/// after `get`), and errs towards a new connection, never towards queueing,
/// while handles are held with their requests not sent yet.
///
/// Before the server's SETTINGS arrive the client assumes a limit of 100,
/// so a connector should hand the client over once they have (one request
/// answered is proof: the server sends SETTINGS first).
impl PoolConnection for super::Client {
    fn can_take_new_request(&self) -> bool {
        super::Client::can_take_new_request(self)
    }
    fn max_concurrent_requests(&self) -> usize {
        self.live_streams() + usize::from(super::Client::can_take_new_request(self))
    }
    fn is_usable(&self) -> bool {
        !self.is_closed() && self.goaway_received().is_none()
    }
    fn is_idle(&self) -> bool {
        self.live_streams() == 0
    }
}

/// How the pool sizes and ages its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections to one authority, counting none that are being
    /// evicted; 0 is taken as 1. Default 4 (Go has no cap).
    pub max_connections_per_authority: usize,
    /// Most `get`s waiting on one authority: a `get` that finds the
    /// authority at its cap, with this many already waiting, fails with
    /// [`PoolError::Saturated`] (0: at once). A `get` that can wait for a
    /// dial in flight instead is never refused. Default 256.
    pub max_waiters_per_authority: usize,
    /// A connection without requests idle this long is dropped by
    /// [`Pool::sweep`]; `None` keeps idle connections. Default 90 s (Go's
    /// `IdleConnTimeout`).
    pub idle_timeout: Option<Duration>,
    /// How often the background task sweeps; `None`: no task, the caller
    /// calls [`Pool::sweep`]. Default 1 s.
    pub sweep_interval: Option<Duration>,
    /// How long one [`Pool::get`] may take, waiting in line and dialing
    /// included; past it, it fails with [`PoolError::Timeout`] (a dial it
    /// started is handed over to a waiter, as when it is dropped). `None`: no
    /// limit. Default 30 s. Requests on the connection it returns have their
    /// own timeouts: the tokio client's [`ClientConfig::request_timeout`](super::ClientConfig::request_timeout).
    pub get_timeout: Option<Duration>,
    /// How many times [`Pool::send`] and the pool's tower service send a
    /// request again when the server did not process it (its
    /// REFUSED_STREAM, a stream above its GOAWAY) or it never left (its
    /// connection stopped taking new streams first), each time on the
    /// connection [`Pool::get`] then gives: servers that close connections
    /// after so many requests (nginx's `keepalive_requests`) or on a
    /// deploy say so with a GOAWAY, and the requests caught by it go to a
    /// fresh connection. Nothing else is sent twice. Default 3.
    pub unprocessed_retries: usize,
    /// The most the tower service keeps of one request's body to send it
    /// again (an `http_body::Body` is read once); a request whose body
    /// outgrows it is not retried. Default 64 KiB.
    pub replay_per_request: usize,
    /// The most all requests of the pool keep together for that
    /// ([`Pool::replay_buffered`]). Default 4 MiB.
    pub replay_per_pool: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections_per_authority: 4,
            max_waiters_per_authority: 256,
            idle_timeout: Some(Duration::from_secs(90)),
            sweep_interval: Some(Duration::from_secs(1)),
            get_timeout: Some(Duration::from_secs(30)),
            unprocessed_retries: 3,
            replay_per_request: 64 * 1024,
            replay_per_pool: 4 * 1024 * 1024,
        }
    }
}

/// Why [`Pool::get`] gave no connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError<E: std::error::Error + 'static> {
    /// The authority is at its connection cap, every connection is at its
    /// limit, and [`PoolConfig::max_waiters_per_authority`] `get`s already
    /// wait.
    #[error("every connection to the authority is busy and the waiting line is full")]
    Saturated,
    /// The dial this `get` started or waited for failed; every `get` that
    /// shared the dial gets the same error.
    #[error("connecting failed: {0}")]
    Connect(Arc<E>),
    /// No connection within [`PoolConfig::get_timeout`].
    #[error("no connection within the pool's get timeout")]
    Timeout,
}

/// Per-authority numbers from [`Pool::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthorityStats {
    /// Connections in the pool.
    pub connections: usize,
    /// Of those, connections without `Pooled` handles and without streams.
    pub idle: usize,
    /// `Pooled` handles held (requests in progress).
    pub requests: usize,
    /// Dials in flight (0 or 1).
    pub dialing: usize,
    /// `get`s waiting for a dial or a slot.
    pub waiters: usize,
}

type ConnectFuture<C, E> = Pin<Box<dyn Future<Output = Result<C, E>> + Send + 'static>>;
type ConnectFn<C, E> = dyn Fn(String) -> ConnectFuture<C, E> + Send + Sync;

/// A pool of client connections keyed by authority (`host:port`). Cheap to
/// clone; clones share the connections. See the module documentation.
pub struct Pool<C, E: std::error::Error + 'static> {
    inner: Arc<Inner<C, E>>,
}

impl<C, E: std::error::Error + 'static> Clone for Pool<C, E> {
    fn clone(&self) -> Self {
        Pool {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C, E: std::error::Error + 'static> fmt::Debug for Pool<C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner<C, E> {
    config: PoolConfig,
    /// Request body bytes kept for replays (the tower service's).
    replay_kept: Arc<AtomicUsize>,
    connect: Box<ConnectFn<C, E>>,
    state: Mutex<State<C, E>>,
    sweeper: Mutex<Option<AbortHandle>>,
}

struct State<C, E> {
    authorities: HashMap<String, Authority<C, E>>,
    /// Ids for connections and dials, unique within the pool.
    next_id: u64,
}

struct Authority<C, E> {
    /// Oldest first: reuse fills old connections and lets new ones go idle.
    conns: Vec<Slot<C>>,
    /// The dial in flight.
    dialing: Option<u64>,
    /// The last failed dial, for the `get`s that waited on it.
    failed: Option<(u64, Arc<E>)>,
    waiters: usize,
    /// Every waiting `get` holds a clone, which keeps this entry in the map.
    notify: Arc<Notify>,
}

struct Slot<C> {
    id: u64,
    conn: Arc<C>,
    /// `Pooled` handles held.
    leases: usize,
    /// Last lease or release, or last sweep that saw it busy.
    last_used: Instant,
}

/// What one look at an authority decided.
enum Step<C, E> {
    Ready(u64, Arc<C>),
    Dial(u64),
    Wait,
    Failed(Arc<E>),
    Saturated,
}

impl<C: PoolConnection, E: std::error::Error + Send + Sync + 'static> Pool<C, E> {
    /// A pool that opens connections with `connect(authority)`. The future
    /// should resolve once the connection is ready for requests; bound it
    /// with a timeout of its own, since `get`s sharing the dial wait for it.
    pub fn new<F, Fut>(config: PoolConfig, connect: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C, E>> + Send + 'static,
    {
        let connect: Box<ConnectFn<C, E>> = Box::new(move |a| Box::pin(connect(a)));
        Pool {
            inner: Arc::new(Inner {
                config,
                replay_kept: Arc::new(AtomicUsize::new(0)),
                connect,
                state: Mutex::new(State {
                    authorities: HashMap::new(),
                    next_id: 0,
                }),
                sweeper: Mutex::new(None),
            }),
        }
    }

    /// Request body bytes its requests keep now to send them again
    /// (at most [`PoolConfig::replay_per_pool`]).
    pub fn replay_buffered(&self) -> usize {
        self.inner.replay_kept.load(Ordering::Acquire)
    }

    /// The counter behind [`replay_buffered`](Self::replay_buffered).
    #[cfg(feature = "tower")]
    pub(crate) fn replay_counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.inner.replay_kept)
    }

    /// The pool's configuration.
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// A connection to `authority` with a request slot held for the caller
    /// until the returned [`Pooled`] is dropped: an existing one when one has
    /// room, else a new one, else (at the cap) the first slot to free up.
    ///
    /// Cancel-safe: dropping the future leaves the waiting line, or hands a
    /// dial it started over to a waiter. Bounded by
    /// [`PoolConfig::get_timeout`].
    pub async fn get(&self, authority: &str) -> Result<Pooled<C>, PoolError<E>> {
        match self.inner.config.get_timeout {
            Some(limit) => ::tokio::time::timeout(limit, self.get_unbounded(authority))
                .await
                .unwrap_or(Err(PoolError::Timeout)),
            None => self.get_unbounded(authority).await,
        }
    }

    async fn get_unbounded(&self, authority: &str) -> Result<Pooled<C>, PoolError<E>> {
        let notify = self.inner.notify_for(authority);
        // The dial this `get` waited for, to share its error.
        let mut awaited_dial = None;
        loop {
            // Armed before looking, so a wake-up between look and wait counts.
            let mut notified = pin!(notify.notified());
            notified.as_mut().enable();
            let mut evicted = Vec::new();
            let step = self
                .inner
                .checkout(authority, &mut awaited_dial, &mut evicted);
            // Dropped outside the lock: dropping a connection may start its close.
            drop(evicted);
            match step {
                Step::Ready(id, conn) => return Ok(self.pooled(authority, id, conn)),
                Step::Failed(e) => return Err(PoolError::Connect(e)),
                Step::Saturated => return Err(PoolError::Saturated),
                Step::Dial(dial) => {
                    if let Some((id, conn)) = self.dial(authority, dial).await? {
                        return Ok(self.pooled(authority, id, conn));
                    }
                }
                Step::Wait => {
                    let _line = WaitGuard {
                        inner: &self.inner,
                        authority,
                    };
                    notified.await;
                }
            }
        }
    }

    /// Drops connections that are no longer usable and those idle past
    /// [`PoolConfig::idle_timeout`] at `now`, forgets empty authorities, and
    /// wakes waiting `get`s. Returns how many connections were dropped.
    pub fn sweep(&self, now: Instant) -> usize {
        self.inner.sweep(now)
    }

    /// Connections, idle connections, requests, dials and waiters per
    /// authority.
    pub fn stats(&self) -> BTreeMap<String, AuthorityStats> {
        let state = self.inner.lock();
        state
            .authorities
            .iter()
            .map(|(name, a)| {
                let stats = AuthorityStats {
                    connections: a.conns.len(),
                    idle: a
                        .conns
                        .iter()
                        .filter(|s| s.leases == 0 && s.conn.is_idle())
                        .count(),
                    requests: a.conns.iter().map(|s| s.leases).sum(),
                    dialing: usize::from(a.dialing.is_some()),
                    waiters: a.waiters,
                };
                (name.clone(), stats)
            })
            .collect()
    }

    fn pooled(&self, authority: &str, id: u64, conn: Arc<C>) -> Pooled<C> {
        let pool: Weak<dyn Release> = Arc::downgrade(&self.inner) as Weak<dyn Release>;
        Pooled {
            conn,
            authority: authority.into(),
            id,
            pool,
        }
    }

    /// Runs one dial. `Ok(Some)`: the new connection, with a slot taken for
    /// the dialer; `Ok(None)`: it has no room, look again.
    async fn dial(
        &self,
        authority: &str,
        dial: u64,
    ) -> Result<Option<(u64, Arc<C>)>, PoolError<E>> {
        let mut guard = DialGuard {
            inner: &self.inner,
            authority,
            dial,
            armed: true,
        };
        let result = (self.inner.connect)(authority.to_owned()).await;
        guard.armed = false;
        let now = Instant::now();
        let (outcome, notify) = {
            let mut state = self.inner.lock();
            let id = state.next_id;
            state.next_id += 1;
            let entry = state.entry(authority);
            if entry.dialing == Some(dial) {
                entry.dialing = None;
            }
            let outcome = match result {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    let mut slot = Slot {
                        id,
                        conn: Arc::clone(&conn),
                        leases: 0,
                        last_used: now,
                    };
                    // The dialer paid for it: it gets the first slot.
                    let taken = slot.has_room();
                    if taken {
                        slot.leases = 1;
                    }
                    entry.conns.push(slot);
                    Ok(taken.then_some((id, conn)))
                }
                Err(e) => {
                    let e = Arc::new(e);
                    entry.failed = Some((dial, Arc::clone(&e)));
                    Err(PoolError::Connect(e))
                }
            };
            (outcome, Arc::clone(&entry.notify))
        };
        // The new connection may have room for waiters; a failure is theirs too.
        notify.notify_waiters();
        self.inner.start_sweeper();
        outcome
    }
}

impl<C: PoolConnection, E: std::error::Error + Send + Sync + 'static> Inner<C, E> {
    fn lock(&self) -> MutexGuard<'_, State<C, E>> {
        // Nothing panics with the lock held in a way that breaks the maps.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify_for(&self, authority: &str) -> Arc<Notify> {
        Arc::clone(&self.lock().entry(authority).notify)
    }

    /// One look at `authority` under the lock: evict (into `evicted`), reuse,
    /// dial or wait.
    fn checkout(
        &self,
        authority: &str,
        awaited_dial: &mut Option<u64>,
        evicted: &mut Vec<Slot<C>>,
    ) -> Step<C, E> {
        let now = Instant::now();
        let cap = self.config.max_connections_per_authority.max(1);
        let mut state = self.lock();
        let next_id = state.next_id;
        let entry = state.entry(authority);
        if let (Some(awaited), Some((failed, e))) = (*awaited_dial, &entry.failed)
            && awaited == *failed
        {
            return Step::Failed(Arc::clone(e));
        }
        evicted.extend(entry.conns.extract_if(.., |s| !s.conn.is_usable()));
        if !evicted.is_empty() {
            // Room under the cap: other waiters may dial too.
            entry.notify.notify_waiters();
        }
        if let Some(slot) = entry.conns.iter_mut().find(|s| s.has_room()) {
            slot.leases += 1;
            slot.last_used = now;
            return Step::Ready(slot.id, Arc::clone(&slot.conn));
        }
        if let Some(dial) = entry.dialing {
            *awaited_dial = Some(dial);
            entry.waiters += 1;
            return Step::Wait;
        }
        if entry.conns.len() < cap {
            entry.dialing = Some(next_id);
            state.next_id += 1;
            return Step::Dial(next_id);
        }
        if entry.waiters >= self.config.max_waiters_per_authority {
            return Step::Saturated;
        }
        entry.waiters += 1;
        Step::Wait
    }

    fn sweep(&self, now: Instant) -> usize {
        let idle_timeout = self.config.idle_timeout;
        let mut evicted = Vec::new();
        let mut wake = Vec::new();
        {
            let mut state = self.lock();
            state.authorities.retain(|_, entry| {
                let before = evicted.len();
                evicted.extend(entry.conns.extract_if(.., |s| {
                    if !s.conn.is_usable() {
                        return true;
                    }
                    if s.leases > 0 || !s.conn.is_idle() {
                        // Idle time counts from when it was last seen busy.
                        s.last_used = now;
                        return false;
                    }
                    idle_timeout.is_some_and(|t| now.saturating_duration_since(s.last_used) >= t)
                }));
                // A waiting `get` holds a clone of `notify`: then the entry stays.
                let unused = entry.conns.is_empty()
                    && entry.dialing.is_none()
                    && entry.waiters == 0
                    && Arc::strong_count(&entry.notify) == 1;
                if !unused && (evicted.len() > before || entry.waiters > 0) {
                    wake.push(Arc::clone(&entry.notify));
                }
                !unused
            });
        }
        for notify in wake {
            notify.notify_waiters();
        }
        evicted.len()
    }

    /// Starts the background sweeper once, if configured and inside a runtime.
    fn start_sweeper(self: &Arc<Self>) {
        let Some(every) = self.config.sweep_interval else {
            return;
        };
        let mut sweeper = self.sweeper.lock().unwrap_or_else(|e| e.into_inner());
        if sweeper.is_some() {
            return;
        }
        let Ok(runtime) = ::tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = Arc::downgrade(self);
        let task = runtime.spawn(async move {
            let mut ticks = ::tokio::time::interval_at(Instant::now() + every, every);
            ticks.set_missed_tick_behavior(::tokio::time::MissedTickBehavior::Delay);
            loop {
                let now = ticks.tick().await;
                // The pool is gone: so is our reason to run.
                let Some(pool) = pool.upgrade() else { break };
                pool.sweep(now);
            }
        });
        *sweeper = Some(task.abort_handle());
    }
}

impl<C, E> State<C, E> {
    fn entry(&mut self, authority: &str) -> &mut Authority<C, E> {
        // Look up by &str first: most calls find the entry, and need no String.
        if !self.authorities.contains_key(authority) {
            self.authorities.insert(
                authority.to_owned(),
                Authority {
                    conns: Vec::new(),
                    dialing: None,
                    failed: None,
                    waiters: 0,
                    notify: Arc::new(Notify::new()),
                },
            );
        }
        self.authorities
            .get_mut(authority)
            .expect("inserted just above")
    }
}

impl<C: PoolConnection> Slot<C> {
    fn has_room(&self) -> bool {
        self.leases < self.conn.max_concurrent_requests() && self.conn.can_take_new_request()
    }
}

impl<C, E> Drop for Inner<C, E> {
    fn drop(&mut self) {
        let sweeper = self.sweeper.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = sweeper.take() {
            task.abort();
        }
    }
}

/// Leaves the waiting line when a waiting `get` wakes or is dropped.
struct WaitGuard<'a, C: PoolConnection, E: std::error::Error + Send + Sync + 'static> {
    inner: &'a Inner<C, E>,
    authority: &'a str,
}

impl<C: PoolConnection, E: std::error::Error + Send + Sync + 'static> Drop for WaitGuard<'_, C, E> {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        let entry = state.entry(self.authority);
        entry.waiters = entry.waiters.saturating_sub(1);
    }
}

/// Clears the dial mark of a `get` cancelled mid-dial, so a waiter dials.
struct DialGuard<'a, C: PoolConnection, E: std::error::Error + Send + Sync + 'static> {
    inner: &'a Inner<C, E>,
    authority: &'a str,
    dial: u64,
    armed: bool,
}

impl<C: PoolConnection, E: std::error::Error + Send + Sync + 'static> Drop for DialGuard<'_, C, E> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let notify = {
            let mut state = self.inner.lock();
            let entry = state.entry(self.authority);
            if entry.dialing == Some(self.dial) {
                entry.dialing = None;
            }
            Arc::clone(&entry.notify)
        };
        notify.notify_waiters();
    }
}

/// Gives a slot back; what [`Pooled`] knows of its pool (no error type).
trait Release: Send + Sync {
    fn release(&self, authority: &str, id: u64);
}

impl<C: PoolConnection, E: std::error::Error + Send + Sync + 'static> Release for Inner<C, E> {
    fn release(&self, authority: &str, id: u64) {
        let notify = {
            let mut state = self.lock();
            let Some(entry) = state.authorities.get_mut(authority) else {
                return;
            };
            if let Some(slot) = entry.conns.iter_mut().find(|s| s.id == id) {
                slot.leases = slot.leases.saturating_sub(1);
                slot.last_used = Instant::now();
            }
            Arc::clone(&entry.notify)
        };
        // One slot freed: one waiter.
        notify.notify_one();
    }
}

/// A connection from [`Pool::get`], with one request slot held until this
/// handle is dropped. Derefs to the connection.
///
/// Hold it until the response is complete: the pool counts the slot as
/// taken while the handle lives, whatever the connection's streams say.
pub struct Pooled<C> {
    conn: Arc<C>,
    authority: Box<str>,
    id: u64,
    /// Weak: a handle does not keep the pool (or its sweeper) alive.
    pool: Weak<dyn Release>,
}

impl<C> Pooled<C> {
    /// The authority the connection goes to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The connection itself, e.g. to clone the `Arc` beyond the slot.
    pub fn connection(&self) -> &Arc<C> {
        &self.conn
    }

    /// The connection's id in the pool: equal ids, same connection.
    pub fn connection_id(&self) -> u64 {
        self.id
    }
}

impl<C> Deref for Pooled<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.conn
    }
}

impl<C> fmt::Debug for Pooled<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pooled")
            .field("authority", &self.authority)
            .field("connection_id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<C> Drop for Pooled<C> {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.release(&self.authority, self.id);
        }
    }
}

#[cfg(test)]
mod tests;
