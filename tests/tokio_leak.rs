//! 100,000 requests whose responses are dropped at random points (before
//! the headers, after them, mid-body, or read to the end): afterwards no
//! stream is alive on either side, no task is left over, and the heap has
//! not grown. A counting global allocator measures the heap.

use std::time::Duration;

use bytes::Bytes;
use h2proto::io::tokio::{Body, Client, Server, ServerConfig};
use h2proto::proto::Rate;

mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

mod alloc_support;

#[global_allocator]
static ALLOC: alloc_support::Counting = alloc_support::Counting;

/// A tiny seeded xorshift: reproducible drop points without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

async fn routes(req: http::Request<h2proto::io::tokio::RecvBody>) -> http::Response<Body> {
    let n: usize = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if req.uri().path().starts_with("/stream/") {
        let (mut tx, body) = Body::channel();
        tokio::spawn(async move {
            let piece = Bytes::from(vec![b'y'; 8 * 1024]);
            let mut left = n;
            while left > 0 {
                let k = left.min(piece.len());
                if tx.send(piece.slice(..k)).await.is_err() {
                    return;
                }
                left -= k;
            }
            let _ = tx.finish().await;
        });
        return response(200, body);
    }
    response(200, vec![b'x'; n])
}

/// One request, dropped at a point chosen by `pick`.
async fn one(client: &Client, pick: u64) {
    let size = (pick >> 8) % 40_000;
    let path = if pick & 1 == 0 {
        format!("/bytes/{size}")
    } else {
        format!("/stream/{size}")
    };
    let response = client.send_request(request("GET", &path, Body::empty()));
    match (pick >> 1) % 4 {
        0 => drop(response),
        1 => {
            // Polled once, then dropped: usually before the headers.
            let _ = tokio::time::timeout(Duration::ZERO, response).await;
        }
        2 => {
            // After the headers, or after the first chunk.
            let mut res = response.await.expect("response");
            if pick & 64 != 0 {
                let _ = res.body_mut().chunk().await;
            }
        }
        _ => {
            let mut res = response.await.expect("response");
            let body = res.body_mut().collect(1 << 20).await.expect("body");
            assert_eq!(body.len() as u64, size);
        }
    }
}

async fn run(client: &Client, requests: usize, seed: u64) {
    const CONCURRENCY: usize = 50;
    let mut workers = Vec::new();
    for w in 0..CONCURRENCY {
        let client = client.clone();
        let mut rng = XorShift(seed ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        workers.push(tokio::spawn(async move {
            for _ in 0..requests / CONCURRENCY {
                one(&client, rng.next()).await;
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
}

/// Waits (bounded) until `done` holds.
async fn settle(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..5_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("never settled: {what}");
}

#[test]
fn dropped_responses_leak_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut config = ServerConfig::default();
        // 100,000 cancels in seconds is this test's point, not an attack.
        config.h2.reset_rate = Rate {
            burst: u32::MAX,
            per_second: u32::MAX,
        };
        let server = Server::bind_with("127.0.0.1:0", config)
            .await
            .unwrap()
            .serve(routes);
        let client = Client::connect(server.local_addr()).await.unwrap();
        let metrics = tokio::runtime::Handle::current().metrics();

        let quiet = |client: &Client| {
            let s = server.stats();
            client.live_streams() == 0
                && client.tracked_streams() == 0
                && s.live_streams == 0
                && s.tracked_streams == 0
        };
        run(&client, 10_000, 1).await;
        settle("after warm-up", || quiet(&client)).await;
        let tasks_before = metrics.num_alive_tasks();
        let heap_before = alloc_support::live();

        run(&client, 100_000, 2).await;
        settle("after the run", || quiet(&client)).await;
        settle("tasks", || metrics.num_alive_tasks() <= tasks_before).await;
        let heap_after = alloc_support::live();
        let growth = heap_after - heap_before;
        eprintln!(
            "heap before {heap_before} after {heap_after} growth {growth}; tasks {tasks_before}; client {:?}",
            client.stats().counters
        );
        assert!(growth < 1 << 20, "heap grew by {growth} bytes");
        assert!(!client.is_closed());
        server.shutdown(Duration::from_secs(5)).await;
    });
}
