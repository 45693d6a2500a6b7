//! Connection throughput: our client/server `Connection` pair in memory versus
//! the `h2` crate's client and server over `tokio::io::duplex`, in one run.
//!
//! - `requests`: 100,000 GETs with a 13-byte response body, 10 in flight.
//! - `bulk/1x256MiB` and `bulk/16x16MiB`: 256 MiB of response body over one
//!   stream and over 16 streams at once.
//!
//! Both sides use the same windows: 4 MiB per stream, 16 MiB per connection,
//! 16 KiB frames (the default), and 1 MiB of send buffer per stream. Ours moves
//! at most [`WIRE_CHUNK`] bytes per `poll_transmit` (a socket-sized write); h2's
//! duplex pipe buffers as much. The receiving side releases capacity as soon
//! as it has a chunk. One criterion iteration is one whole workload; the
//! handshake is outside the timing.
//!
//! Run: `cargo bench --bench connection`; medians: see docs/benchmarks.md.

use std::future::poll_fn;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use h2proto::hpack::HeaderField;
use h2proto::proto::{Config, Connection, Event};

const REQUESTS: usize = 100_000;
const IN_FLIGHT: usize = 10;
const BODY: &[u8] = b"hello, world\n";
const BULK_TOTAL: usize = 256 << 20;
const STREAM_WINDOW: u32 = 4 << 20;
const CONN_WINDOW: u32 = 16 << 20;
const SEND_BUFFER: usize = 1 << 20;
/// Largest write per `poll_transmit` (ours) and the duplex pipe's buffer (h2).
const WIRE_CHUNK: usize = 256 << 10;
/// Size of the application's chunks handed to `send_data`.
const APP_CHUNK: usize = 1 << 20;

// ---------------------------------------------------------------- ours

fn request() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", "GET"),
        HeaderField::new(":scheme", "https"),
        HeaderField::new(":authority", "example.com"),
        HeaderField::new(":path", "/"),
    ]
}

fn response() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("content-type", "text/plain"),
    ]
}

struct Ours {
    client: Connection,
    server: Connection,
    to_server: BytesMut,
    to_client: BytesMut,
    now: Instant,
}

impl Ours {
    fn new(bulk: bool) -> Self {
        let now = Instant::now();
        let mut c = Config::client();
        let mut s = Config::server();
        if bulk {
            for cfg in [&mut c, &mut s] {
                cfg.initial_window_size = STREAM_WINDOW;
                cfg.connection_window_size = CONN_WINDOW;
                cfg.max_send_buffer_per_stream = SEND_BUFFER;
                cfg.max_send_buffer_per_connection = CONN_WINDOW as usize;
            }
        }
        let mut pair = Ours {
            client: Connection::new(c, now),
            server: Connection::new(s, now),
            to_server: BytesMut::new(),
            to_client: BytesMut::new(),
            now,
        };
        for _ in 0..4 {
            pair.client_to_server();
            while pair.server.poll_event().is_some() {}
            pair.server_to_client();
            while pair.client.poll_event().is_some() {}
        }
        pair
    }

    fn client_to_server(&mut self) {
        self.client
            .poll_transmit(&mut self.to_server, WIRE_CHUNK, self.now);
        self.server.recv(&mut self.to_server, self.now);
    }

    fn server_to_client(&mut self) {
        self.server
            .poll_transmit(&mut self.to_client, WIRE_CHUNK, self.now);
        self.client.recv(&mut self.to_client, self.now);
    }
}

fn ours_requests(total: usize) -> Duration {
    let mut p = Ours::new(false);
    let body = Bytes::from_static(BODY);
    let start = Instant::now();
    let (mut sent, mut done) = (0, 0);
    while done < total {
        while sent - done < IN_FLIGHT && sent < total {
            p.client.send_request(request(), true).unwrap();
            sent += 1;
        }
        p.client_to_server();
        while let Some(event) = p.server.poll_event() {
            if let Event::Headers { stream_id, .. } = event {
                p.server
                    .send_response(stream_id, response(), false)
                    .unwrap();
                p.server.send_data(stream_id, body.clone(), true).unwrap();
            }
        }
        p.server_to_client();
        while let Some(event) = p.client.poll_event() {
            match event {
                Event::Data {
                    stream_id,
                    data,
                    end_stream,
                } => {
                    p.client.release_capacity(stream_id, data.len()).unwrap();
                    done += usize::from(end_stream);
                }
                Event::Headers {
                    end_stream: true, ..
                } => done += 1,
                _ => {}
            }
        }
    }
    start.elapsed()
}

fn ours_bulk(streams: usize) -> Duration {
    let mut p = Ours::new(true);
    let chunk = Bytes::from(vec![0x5a_u8; APP_CHUNK]);
    let per_stream = BULK_TOTAL / streams;
    // (stream, bytes left to queue, may offer more now)
    let mut sending: Vec<(h2proto::frame::StreamId, usize, bool)> = Vec::new();
    let start = Instant::now();
    for _ in 0..streams {
        p.client.send_request(request(), true).unwrap();
    }
    let (mut received, mut done) = (0, 0);
    while done < streams {
        p.client_to_server();
        while let Some(event) = p.server.poll_event() {
            match event {
                Event::Headers { stream_id, .. } => {
                    p.server
                        .send_response(stream_id, response(), false)
                        .unwrap();
                    sending.push((stream_id, per_stream, true));
                }
                Event::Writable { stream_id } => {
                    if let Some(s) = sending.iter_mut().find(|s| s.0 == stream_id) {
                        s.2 = true;
                    }
                }
                _ => {}
            }
        }
        for (id, left, ready) in &mut sending {
            while *ready && *left > 0 {
                let n = (*left).min(APP_CHUNK);
                let taken = p
                    .server
                    .send_data(*id, chunk.slice(..n), n == *left)
                    .unwrap();
                *left -= taken;
                *ready = taken == n;
            }
        }
        sending.retain(|s| s.1 > 0);
        p.server_to_client();
        while let Some(event) = p.client.poll_event() {
            if let Event::Data {
                stream_id,
                data,
                end_stream,
            } = event
            {
                received += data.len();
                p.client.release_capacity(stream_id, data.len()).unwrap();
                done += usize::from(end_stream);
            }
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(received, BULK_TOTAL);
    elapsed
}

// ---------------------------------------------------------------- h2

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn h2_builders(bulk: bool) -> (h2::client::Builder, h2::server::Builder) {
    let mut c = h2::client::Builder::new();
    let mut s = h2::server::Builder::new();
    if bulk {
        c.initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .max_send_buffer_size(SEND_BUFFER);
        s.initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .max_send_buffer_size(SEND_BUFFER);
    }
    (c, s)
}

/// Starts an h2 server on one end of a duplex pipe and returns a ready client.
async fn h2_pair(bulk: bool) -> h2::client::SendRequest<Bytes> {
    let (c, s) = tokio::io::duplex(WIRE_CHUNK);
    let (cb, sb) = h2_builders(bulk);
    tokio::spawn(async move {
        let mut conn = sb.handshake::<_, Bytes>(s).await.unwrap();
        while let Some(accepted) = conn.accept().await {
            let Ok((req, respond)) = accepted else { break };
            if bulk {
                tokio::spawn(h2_send_body(respond, BULK_TOTAL / bulk_streams(&req)));
            } else {
                h2_small_response(respond);
            }
        }
    });
    let (client, conn) = cb.handshake(c).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client.ready().await.unwrap()
}

fn h2_response() -> http::Response<()> {
    http::Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(())
        .unwrap()
}

fn h2_small_response(mut respond: h2::server::SendResponse<Bytes>) {
    let mut send = respond.send_response(h2_response(), false).unwrap();
    send.send_data(Bytes::from_static(BODY), true).unwrap();
}

/// The number of streams a bulk request asks to be split over, from its path.
fn bulk_streams(req: &http::Request<h2::RecvStream>) -> usize {
    req.uri().path()[1..].parse().unwrap()
}

async fn h2_send_body(mut respond: h2::server::SendResponse<Bytes>, mut left: usize) {
    let chunk = Bytes::from(vec![0x5a_u8; APP_CHUNK]);
    let mut send = respond.send_response(h2_response(), false).unwrap();
    while left > 0 {
        send.reserve_capacity(left.min(APP_CHUNK));
        let cap = poll_fn(|cx| send.poll_capacity(cx)).await.unwrap().unwrap();
        let n = cap.min(left);
        send.send_data(chunk.slice(..n), n == left).unwrap();
        left -= n;
    }
}

async fn h2_get(client: &mut h2::client::SendRequest<Bytes>, path: &str) -> usize {
    let req = http::Request::get(format!("https://example.com{path}"))
        .body(())
        .unwrap();
    let (resp, _) = client.send_request(req, true).unwrap();
    let mut body = resp.await.unwrap().into_body();
    let mut received = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        received += chunk.len();
        body.flow_control().release_capacity(chunk.len()).unwrap();
    }
    received
}

fn h2_requests(rt: &tokio::runtime::Runtime, total: usize) -> Duration {
    rt.block_on(async {
        let client = h2_pair(false).await;
        let start = Instant::now();
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let mut client = client.clone();
                tokio::spawn(async move {
                    for _ in 0..total / IN_FLIGHT {
                        client = client.ready().await.unwrap();
                        h2_get(&mut client, "/").await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        start.elapsed()
    })
}

fn h2_bulk(rt: &tokio::runtime::Runtime, streams: usize) -> Duration {
    rt.block_on(async {
        let client = h2_pair(true).await;
        let start = Instant::now();
        let tasks: Vec<_> = (0..streams)
            .map(|_| {
                let mut client = client.clone();
                tokio::spawn(async move { h2_get(&mut client, &format!("/{streams}")).await })
            })
            .collect();
        let mut received = 0;
        for t in tasks {
            received += t.await.unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(received, BULK_TOTAL);
        elapsed
    })
}

// ---------------------------------------------------------------- criterion

fn repeat(iters: u64, mut once: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| once()).sum()
}

fn requests(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("requests");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(REQUESTS as u64));
    g.bench_function("ours", |b| {
        b.iter_custom(|iters| repeat(iters, || ours_requests(REQUESTS)))
    });
    g.bench_function("h2", |b| {
        b.iter_custom(|iters| repeat(iters, || h2_requests(&rt, REQUESTS)))
    });
    g.finish();
}

fn bulk(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("bulk");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(BULK_TOTAL as u64));
    for streams in [1, 16] {
        let label = format!("{streams}x{}MiB", (BULK_TOTAL / streams) >> 20);
        g.bench_function(BenchmarkId::new("ours", &label), |b| {
            b.iter_custom(|iters| repeat(iters, || ours_bulk(streams)))
        });
        g.bench_function(BenchmarkId::new("h2", &label), |b| {
            b.iter_custom(|iters| repeat(iters, || h2_bulk(&rt, streams)))
        });
    }
    g.finish();
}

criterion_group!(benches, requests, bulk);
criterion_main!(benches);
