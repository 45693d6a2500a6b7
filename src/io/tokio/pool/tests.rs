//! The pool against fake connections whose limits, streams and GOAWAY the
//! test sets, and a dialer the test can hold back or make fail.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::tokio::sync::Semaphore;
use ::tokio::task::JoinHandle;
use ::tokio::time::Instant;

use super::*;

const A: &str = "a.example:80";
const B: &str = "b.example:80";

/// A connection's state, shared by the pool's `Conn` and the test.
#[derive(Debug)]
struct Fake {
    limit: AtomicUsize,
    /// Streams the connection itself counts.
    live: AtomicUsize,
    /// False after GOAWAY or close.
    usable: AtomicBool,
    /// The pool (and every handle) let go of it.
    dropped: AtomicBool,
}

impl Fake {
    fn goaway(&self) {
        self.usable.store(false, SeqCst);
    }
    fn dropped(&self) -> bool {
        self.dropped.load(SeqCst)
    }
}

struct Conn(Arc<Fake>);

impl Drop for Conn {
    fn drop(&mut self) {
        self.0.dropped.store(true, SeqCst);
    }
}

impl PoolConnection for Conn {
    fn can_take_new_request(&self) -> bool {
        self.is_usable() && self.0.live.load(SeqCst) < self.max_concurrent_requests()
    }
    fn max_concurrent_requests(&self) -> usize {
        self.0.limit.load(SeqCst)
    }
    fn is_usable(&self) -> bool {
        self.0.usable.load(SeqCst)
    }
    fn is_idle(&self) -> bool {
        self.0.live.load(SeqCst) == 0
    }
}

/// Opens fakes with MAX_CONCURRENT_STREAMS `limit`; counts and records dials.
struct Dialer {
    limit: usize,
    dials: AtomicUsize,
    authorities: Mutex<Vec<String>>,
    conns: Mutex<Vec<Arc<Fake>>>,
    fail: AtomicBool,
    /// When set, each dial waits for a permit.
    gate: Option<Semaphore>,
}

impl Dialer {
    fn new(limit: usize) -> Arc<Self> {
        Self::build(limit, None)
    }
    fn gated(limit: usize) -> Arc<Self> {
        Self::build(limit, Some(Semaphore::new(0)))
    }
    fn build(limit: usize, gate: Option<Semaphore>) -> Arc<Self> {
        Arc::new(Dialer {
            limit,
            dials: AtomicUsize::new(0),
            authorities: Mutex::new(Vec::new()),
            conns: Mutex::new(Vec::new()),
            fail: AtomicBool::new(false),
            gate,
        })
    }

    async fn dial(&self, authority: String) -> io::Result<Conn> {
        self.dials.fetch_add(1, SeqCst);
        self.authorities.lock().unwrap().push(authority);
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("gate open").forget();
        }
        if self.fail.load(SeqCst) {
            return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
        }
        let fake = Arc::new(Fake {
            limit: AtomicUsize::new(self.limit),
            live: AtomicUsize::new(0),
            usable: AtomicBool::new(true),
            dropped: AtomicBool::new(false),
        });
        self.conns.lock().unwrap().push(Arc::clone(&fake));
        Ok(Conn(fake))
    }

    fn dials(&self) -> usize {
        self.dials.load(SeqCst)
    }
    fn conn(&self, i: usize) -> Arc<Fake> {
        Arc::clone(&self.conns.lock().unwrap()[i])
    }
    fn open_gate(&self, dials: usize) {
        self.gate.as_ref().expect("gated dialer").add_permits(dials);
    }
}

fn config(cap: usize, waiters: usize) -> PoolConfig {
    PoolConfig {
        max_connections_per_authority: cap,
        max_waiters_per_authority: waiters,
        idle_timeout: None,
        sweep_interval: None,
        get_timeout: None,
        ..PoolConfig::default()
    }
}

fn pool_with(config: PoolConfig, dialer: &Arc<Dialer>) -> Pool<Conn, io::Error> {
    let dialer = Arc::clone(dialer);
    Pool::new(config, move |authority| {
        let dialer = Arc::clone(&dialer);
        async move { dialer.dial(authority).await }
    })
}

type Got = Result<Pooled<Conn>, PoolError<io::Error>>;

fn spawn_get(pool: &Pool<Conn, io::Error>) -> JoinHandle<Got> {
    let pool = pool.clone();
    ::tokio::spawn(async move { pool.get(A).await })
}

fn stats(pool: &Pool<Conn, io::Error>) -> AuthorityStats {
    pool.stats().get(A).copied().unwrap_or_default()
}

/// Lets spawned tasks run (single-threaded runtime) until `cond` holds.
async fn settle(cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        ::tokio::task::yield_now().await;
    }
    panic!("the pool never reached the expected state");
}

#[tokio::test]
async fn sequential_gets_reuse_one_connection() {
    let d = Dialer::new(2);
    let pool = pool_with(config(4, 0), &d);
    let first = pool.get(A).await.unwrap().connection_id();
    for _ in 0..3 {
        assert_eq!(pool.get(A).await.unwrap().connection_id(), first);
    }
    assert_eq!(d.dials(), 1);
    assert_eq!(*d.authorities.lock().unwrap(), [A]);
    let expected = AuthorityStats {
        connections: 1,
        idle: 1,
        ..AuthorityStats::default()
    };
    assert_eq!(stats(&pool), expected);
}

#[tokio::test]
async fn concurrent_requests_fill_a_connection_then_grow() {
    let d = Dialer::new(2);
    let pool = pool_with(config(4, 0), &d);
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(pool.get(A).await.unwrap());
    }
    let ids: Vec<u64> = held.iter().map(|p| p.connection_id()).collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[2], ids[3]);
    assert!(ids[0] != ids[2] && ids[2] != ids[4] && ids[0] != ids[4]);
    assert_eq!(d.dials(), 3);
    assert_eq!((stats(&pool).connections, stats(&pool).requests), (3, 5));
    drop(held);
    assert_eq!((stats(&pool).idle, stats(&pool).requests), (3, 0));
}

#[tokio::test]
async fn a_connection_that_says_it_cannot_take_a_request_is_skipped() {
    let d = Dialer::new(2);
    let pool = pool_with(config(4, 0), &d);
    let first = pool.get(A).await.unwrap().connection_id();
    // Streams the pool does not know of (outlived their handles) fill it.
    d.conn(0).live.store(2, SeqCst);
    assert_ne!(pool.get(A).await.unwrap().connection_id(), first);
    assert_eq!(d.dials(), 2);
}

#[tokio::test]
async fn authorities_have_their_own_connections() {
    let d = Dialer::new(2);
    let pool = pool_with(config(4, 0), &d);
    let a = pool.get(A).await.unwrap();
    let b = pool.get(B).await.unwrap();
    assert_ne!(a.connection_id(), b.connection_id());
    assert_eq!((a.authority(), b.authority()), (A, B));
    assert_eq!(*d.authorities.lock().unwrap(), [A, B]);
    assert_eq!(pool.stats().len(), 2);
}

#[tokio::test]
async fn the_cap_holds_and_without_waiters_saturation_fails_at_once() {
    let d = Dialer::new(1);
    let pool = pool_with(config(2, 0), &d);
    let _a = pool.get(A).await.unwrap();
    let _b = pool.get(A).await.unwrap();
    assert!(matches!(pool.get(A).await, Err(PoolError::Saturated)));
    assert_eq!(d.dials(), 2);
}

/// A `get` waiting for a slot that never frees gives up at the pool's get
/// timeout, on virtual time, and leaves the line.
#[tokio::test(start_paused = true)]
async fn a_get_waiting_past_the_get_timeout_fails_and_leaves_the_line() {
    let d = Dialer::new(1);
    let pool = pool_with(
        PoolConfig {
            get_timeout: Some(Duration::from_secs(5)),
            ..config(1, 1)
        },
        &d,
    );
    let _held = pool.get(A).await.unwrap();
    let started = Instant::now();
    assert!(matches!(pool.get(A).await, Err(PoolError::Timeout)));
    assert_eq!(started.elapsed(), Duration::from_secs(5), "virtual time");
    assert_eq!(stats(&pool).waiters, 0);
}

#[tokio::test]
async fn a_waiter_gets_the_slot_a_dropped_handle_frees() {
    let d = Dialer::new(1);
    let pool = pool_with(config(1, 1), &d);
    let a = pool.get(A).await.unwrap();
    let waiter = spawn_get(&pool);
    settle(|| stats(&pool).waiters == 1).await;
    // The line holds one.
    assert!(matches!(pool.get(A).await, Err(PoolError::Saturated)));
    assert!(!waiter.is_finished());

    let id = a.connection_id();
    drop(a);
    let b = waiter.await.unwrap().unwrap();
    assert_eq!(b.connection_id(), id);
    assert_eq!(d.dials(), 1);
    assert_eq!(stats(&pool).waiters, 0);
}

#[tokio::test]
async fn a_cancelled_waiter_leaves_the_line() {
    let d = Dialer::new(1);
    let pool = pool_with(config(1, 1), &d);
    let a = pool.get(A).await.unwrap();
    let waiter = spawn_get(&pool);
    settle(|| stats(&pool).waiters == 1).await;
    waiter.abort();
    assert!(waiter.await.unwrap_err().is_cancelled());
    assert_eq!(stats(&pool).waiters, 0);
    // Its place in the line is free again.
    let next = spawn_get(&pool);
    settle(|| stats(&pool).waiters == 1).await;
    drop(a);
    assert!(next.await.unwrap().is_ok());
}

#[tokio::test]
async fn goaway_and_closed_connections_are_evicted_and_replaced() {
    let d = Dialer::new(2);
    let pool = pool_with(config(4, 0), &d);
    let first = pool.get(A).await.unwrap().connection_id();
    d.conn(0).goaway();
    let b = pool.get(A).await.unwrap();
    assert_ne!(b.connection_id(), first);
    assert_eq!(d.dials(), 2);
    // No handle held it: leaving the pool closed it.
    assert!(d.conn(0).dropped());

    // Closed while requests are in progress: theirs until they finish.
    let c = pool.get(A).await.unwrap();
    assert_eq!(c.connection_id(), b.connection_id());
    d.conn(1).goaway();
    let e = pool.get(A).await.unwrap();
    assert_ne!(e.connection_id(), b.connection_id());
    assert_eq!((stats(&pool).connections, stats(&pool).requests), (1, 1));
    assert!(!d.conn(1).dropped());
    drop((b, c));
    assert!(d.conn(1).dropped());
    assert!(!d.conn(2).dropped());
}

#[tokio::test]
async fn sweep_evicts_unusable_connections_without_a_get() {
    let d = Dialer::new(2);
    let pool = pool_with(config(4, 0), &d);
    drop(pool.get(A).await.unwrap());
    assert_eq!(pool.sweep(Instant::now()), 0);
    d.conn(0).goaway();
    assert_eq!(pool.sweep(Instant::now()), 1);
    assert!(d.conn(0).dropped());
    // Nothing left to know about the authority.
    assert!(pool.stats().is_empty());
}

#[tokio::test]
async fn a_waiter_at_the_cap_dials_when_an_eviction_makes_room() {
    let d = Dialer::new(1);
    let pool = pool_with(config(1, 4), &d);
    let a = pool.get(A).await.unwrap();
    let waiter = spawn_get(&pool);
    settle(|| stats(&pool).waiters == 1).await;
    d.conn(0).goaway();
    assert_eq!(pool.sweep(Instant::now()), 1);
    let b = waiter.await.unwrap().unwrap();
    assert_ne!(b.connection_id(), a.connection_id());
    assert_eq!(d.dials(), 2);
    drop(a);
    assert!(d.conn(0).dropped());
}

#[tokio::test(start_paused = true)]
async fn idle_connections_are_dropped_after_the_idle_timeout() {
    let d = Dialer::new(1);
    let idle = Duration::from_secs(30);
    let pool = pool_with(
        PoolConfig {
            idle_timeout: Some(idle),
            ..config(2, 0)
        },
        &d,
    );
    let a = pool.get(A).await.unwrap();
    let b = pool.get(A).await.unwrap();
    drop((a, b));
    // A stream on the second outlived its handle: busy, not idle.
    d.conn(1).live.store(1, SeqCst);

    ::tokio::time::advance(idle - Duration::from_secs(1)).await;
    assert_eq!(pool.sweep(Instant::now()), 0);
    ::tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(pool.sweep(Instant::now()), 1);
    assert!(d.conn(0).dropped());
    assert!(!d.conn(1).dropped());

    // Idle time counts from when a sweep last saw it busy.
    d.conn(1).live.store(0, SeqCst);
    ::tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(pool.sweep(Instant::now()), 0);
    ::tokio::time::advance(idle).await;
    assert_eq!(pool.sweep(Instant::now()), 1);
    assert!(d.conn(1).dropped());
}

#[tokio::test(start_paused = true)]
async fn the_background_sweeper_evicts_and_ends_with_the_pool() {
    let d = Dialer::new(1);
    let pool = pool_with(
        PoolConfig {
            idle_timeout: Some(Duration::from_secs(5)),
            sweep_interval: Some(Duration::from_secs(1)),
            ..config(2, 0)
        },
        &d,
    );
    drop(pool.get(A).await.unwrap());
    let metrics = ::tokio::runtime::Handle::current().metrics();
    assert_eq!(metrics.num_alive_tasks(), 1);
    // The paused clock jumps from one sweep to the next.
    ::tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(d.conn(0).dropped());
    assert!(pool.stats().is_empty());

    drop(pool);
    settle(|| metrics.num_alive_tasks() == 0).await;
}

#[tokio::test]
async fn concurrent_gets_share_one_dial() {
    let d = Dialer::gated(10);
    let pool = pool_with(config(4, 0), &d);
    let gets: Vec<_> = (0..5).map(|_| spawn_get(&pool)).collect();
    settle(|| {
        let s = stats(&pool);
        s.dialing == 1 && s.waiters == 4
    })
    .await;
    assert_eq!(d.dials(), 1);
    d.open_gate(1);
    let mut ids = Vec::new();
    for get in gets {
        ids.push(get.await.unwrap().unwrap());
    }
    assert!(
        ids.iter()
            .all(|p| p.connection_id() == ids[0].connection_id())
    );
    assert_eq!(d.dials(), 1);
    assert_eq!((stats(&pool).connections, stats(&pool).requests), (1, 5));
}

#[tokio::test]
async fn a_failed_dial_fails_every_get_that_shared_it() {
    let d = Dialer::gated(10);
    d.fail.store(true, SeqCst);
    let pool = pool_with(config(4, 0), &d);
    let gets: Vec<_> = (0..3).map(|_| spawn_get(&pool)).collect();
    settle(|| stats(&pool).waiters == 2).await;
    d.open_gate(1);
    for get in gets {
        match get.await.unwrap() {
            Err(PoolError::Connect(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("expected the dial's error, got {other:?}"),
        }
    }
    assert_eq!(d.dials(), 1);

    // The next get dials afresh.
    d.fail.store(false, SeqCst);
    d.open_gate(1);
    assert!(pool.get(A).await.is_ok());
    assert_eq!(d.dials(), 2);
}

#[tokio::test]
async fn a_cancelled_dial_is_taken_over_by_a_waiter() {
    let d = Dialer::gated(10);
    let pool = pool_with(config(4, 0), &d);
    let dialer = spawn_get(&pool);
    settle(|| stats(&pool).dialing == 1).await;
    let waiter = spawn_get(&pool);
    settle(|| stats(&pool).waiters == 1).await;
    dialer.abort();
    assert!(dialer.await.unwrap_err().is_cancelled());
    settle(|| d.dials() == 2).await;
    d.open_gate(1);
    assert!(waiter.await.unwrap().is_ok());
    assert_eq!(stats(&pool).connections, 1);
}
