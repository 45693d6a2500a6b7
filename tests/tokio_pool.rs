//! The connection pool with the real tokio client against our tokio server,
//! which advertises MAX_CONCURRENT_STREAMS 2: reuse, growth past the limit,
//! the per-authority cap, and a fresh connection after GOAWAY.
//!
//! `/slow` requests are answered only when the test opens a gate, so "in
//! flight" is a state the test controls, not a duration.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use h2proto::io::tokio::pool::{Pool, PoolConfig, Pooled};
use h2proto::io::tokio::{Client, Server, ServerConfig, ServerHandle};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

const AUTHORITY: &str = "svc.test:80";
const LIMIT: u32 = 2;

/// A server whose `/slow` handler waits for the gate; it answers with its
/// name. `arrived` gets a permit per `/slow` request received.
struct TestServer {
    handle: ServerHandle,
    gate: Arc<Semaphore>,
    arrived: Arc<Semaphore>,
}

async fn start(name: &'static str) -> TestServer {
    let mut config = ServerConfig::default();
    config.h2.max_concurrent_streams = LIMIT;
    let gate = Arc::new(Semaphore::new(0));
    let arrived = Arc::new(Semaphore::new(0));
    let (g, a) = (Arc::clone(&gate), Arc::clone(&arrived));
    let handle = Server::bind_with("127.0.0.1:0", config)
        .await
        .expect("bind")
        .serve(move |req| {
            let (gate, arrived) = (Arc::clone(&g), Arc::clone(&a));
            async move {
                if req.uri().path() == "/slow" {
                    arrived.add_permits(1);
                    gate.acquire().await.expect("gate").forget();
                }
                response(200, name)
            }
        });
    TestServer {
        handle,
        gate,
        arrived,
    }
}

impl TestServer {
    async fn wait_arrived(&self, n: u32) {
        self.arrived
            .acquire_many(n)
            .await
            .expect("arrived")
            .forget();
    }
}

/// A pool whose connector dials whatever `addr` holds now and returns the
/// client once the server's SETTINGS are in (a first request answered), so
/// the client knows the limit of 2 before the pool fills it.
fn pool(
    config: PoolConfig,
    addr: &Arc<Mutex<SocketAddr>>,
) -> (Pool<Client, io::Error>, Arc<AtomicUsize>) {
    let dials = Arc::new(AtomicUsize::new(0));
    let (addr, counter) = (Arc::clone(addr), Arc::clone(&dials));
    let pool = Pool::new(config, move |_authority: String| {
        counter.fetch_add(1, SeqCst);
        let addr = *addr.lock().unwrap();
        async move {
            let client = Client::connect(addr).await?;
            client.get("/").await.map_err(io::Error::other)?;
            Ok(client)
        }
    });
    (pool, dials)
}

fn config(cap: usize) -> PoolConfig {
    PoolConfig {
        max_connections_per_authority: cap,
        sweep_interval: None,
        ..PoolConfig::default()
    }
}

/// A `/slow` request through the pool; gives back the connection's id and
/// the body (the server's name).
fn spawn_slow(pool: &Pool<Client, io::Error>) -> JoinHandle<(u64, String)> {
    let pool = pool.clone();
    tokio::spawn(async move {
        let conn: Pooled<Client> = pool.get(AUTHORITY).await.expect("pool");
        let res = conn.get("/slow").await.expect("response");
        (
            conn.connection_id(),
            String::from_utf8(res.body().to_vec()).unwrap(),
        )
    })
}

/// Lets the other tasks run until `cond` holds (nothing here waits on time).
async fn settle(cond: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the pool never reached the expected state");
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let server = start("one").await;
    let addr = Arc::new(Mutex::new(server.handle.local_addr()));
    let (pool, dials) = pool(config(4), &addr);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let conn = pool.get(AUTHORITY).await.unwrap();
        assert_eq!(&conn.get("/").await.unwrap().body()[..], b"one");
        ids.push(conn.connection_id());
    }
    assert!(ids.iter().all(|&id| id == ids[0]));
    assert_eq!(dials.load(SeqCst), 1);
    assert_eq!(server.handle.stats().connections, 1);
    // Idle once the dropped body's credit has gone back (the driver's turn).
    settle(|| pool.stats()[AUTHORITY].idle == 1).await;
}

#[tokio::test]
async fn concurrent_requests_grow_past_max_concurrent_streams() {
    let server = start("one").await;
    let addr = Arc::new(Mutex::new(server.handle.local_addr()));
    let (pool, dials) = pool(config(4), &addr);
    let requests: Vec<_> = (0..5).map(|_| spawn_slow(&pool)).collect();
    server.wait_arrived(5).await;
    // 2 + 2 + 1: each connection filled to the server's limit.
    let stats = pool.stats()[AUTHORITY];
    assert_eq!((stats.connections, stats.requests), (3, 5));
    assert_eq!(dials.load(SeqCst), 3);
    assert_eq!(server.handle.stats().connections, 3);

    server.gate.add_permits(5);
    let mut per_conn = std::collections::BTreeMap::<u64, usize>::new();
    for r in requests {
        *per_conn.entry(r.await.unwrap().0).or_default() += 1;
    }
    let mut counts: Vec<usize> = per_conn.into_values().collect();
    counts.sort();
    assert_eq!(counts, [1, 2, 2]);
}

#[tokio::test]
async fn at_the_cap_the_fifth_request_waits_for_a_slot() {
    let server = start("one").await;
    let addr = Arc::new(Mutex::new(server.handle.local_addr()));
    let (pool, dials) = pool(config(2), &addr);
    let first: Vec<_> = (0..4).map(|_| spawn_slow(&pool)).collect();
    server.wait_arrived(4).await;
    let fifth = spawn_slow(&pool);
    settle(|| pool.stats()[AUTHORITY].waiters == 1).await;
    let stats = pool.stats()[AUTHORITY];
    assert_eq!((stats.connections, stats.requests), (2, 4));
    assert!(!fifth.is_finished());

    // One answer frees one slot: the fifth request goes out on it.
    server.gate.add_permits(1);
    server.wait_arrived(1).await;
    assert_eq!(pool.stats()[AUTHORITY].waiters, 0);
    server.gate.add_permits(4);
    for r in first {
        r.await.unwrap();
    }
    assert_eq!(fifth.await.unwrap().1, "one");
    assert_eq!(dials.load(SeqCst), 2);
    assert_eq!(server.handle.stats().connections, 2);
}

#[tokio::test]
async fn after_goaway_the_next_get_opens_a_fresh_connection() {
    let old = start("old").await;
    let addr = Arc::new(Mutex::new(old.handle.local_addr()));
    let (pool, dials) = pool(config(4), &addr);
    let conn = pool.get(AUTHORITY).await.unwrap();
    assert_eq!(&conn.get("/").await.unwrap().body()[..], b"old");
    let (old_id, client) = (conn.connection_id(), conn.connection().clone());
    drop(conn);

    // A new instance takes over the authority; the old one shuts down
    // gracefully (GOAWAY, then close).
    let new = start("new").await;
    *addr.lock().unwrap() = new.handle.local_addr();
    old.handle.shutdown(Duration::from_secs(5)).await;
    // Once a request on the old connection fails, the client has seen the
    // GOAWAY or the close.
    assert!(client.get("/").await.is_err());
    drop(client);

    let conn = pool.get(AUTHORITY).await.unwrap();
    assert_ne!(conn.connection_id(), old_id);
    assert_eq!(&conn.get("/").await.unwrap().body()[..], b"new");
    assert_eq!(dials.load(SeqCst), 2);
    assert_eq!(pool.stats()[AUTHORITY].connections, 1);
}
