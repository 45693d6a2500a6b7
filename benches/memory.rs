//! Heap held per idle connection and per open stream: ours versus the `h2` crate.
//!
//! A counting global allocator tracks live heap bytes (allocated − freed).
//! Each figure is the growth of that count across the step, divided by the
//! number of connections or streams it created, with everything the step made
//! still alive:
//!
//! - idle connection: a client and a server after the preface and SETTINGS
//!   exchange. Ours: both `Connection`s (boxed, so their own size counts) and
//!   the two wire buffers between them.
//!   h2: both ends' connection futures (spawned on a current-thread runtime,
//!   as h2 needs), the `SendRequest` handle and the duplex pipe between them.
//! - open stream: a request sent without END_STREAM, its headers received by
//!   the server, a response sent without END_STREAM and received by the
//!   client; both directions stay open. Measured after one finished
//!   exchange on the connection, so one-off growth (HPACK tables, buffers)
//!   is not counted per stream. Only protocol state is kept (h2's
//!   stream handles, not the received header maps; ours drops its events).
//!
//! Run: `cargo bench --bench memory` (it prints a table; no timing).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use h2proto::hpack::HeaderField;
use h2proto::proto::{Config, Connection, Event};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments; only a
// counter is updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Relaxed)
}

const CONNECTIONS: usize = 100;
const STREAMS: usize = 100;

// ---------------------------------------------------------------- ours

struct Ours {
    client: Connection,
    server: Connection,
    to_server: BytesMut,
    to_client: BytesMut,
    now: Instant,
}

impl Ours {
    fn new(now: Instant) -> Box<Self> {
        let mut p = Box::new(Ours {
            client: Connection::new(Config::client(), now),
            server: Connection::new(Config::server(), now),
            to_server: BytesMut::new(),
            to_client: BytesMut::new(),
            now,
        });
        p.settle(|_, _| {});
        p
    }

    /// Moves bytes both ways until quiet, handing each server event to `on_server`.
    fn settle(&mut self, mut on_server: impl FnMut(&mut Connection, Event)) {
        for _ in 0..8 {
            self.client
                .poll_transmit(&mut self.to_server, usize::MAX, self.now);
            self.server.recv(&mut self.to_server, self.now);
            while let Some(e) = self.server.poll_event() {
                on_server(&mut self.server, e);
            }
            self.server
                .poll_transmit(&mut self.to_client, usize::MAX, self.now);
            self.client.recv(&mut self.to_client, self.now);
            while self.client.poll_event().is_some() {}
        }
    }
}

fn request() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", "POST"),
        HeaderField::new(":scheme", "https"),
        HeaderField::new(":authority", "example.com"),
        HeaderField::new(":path", "/upload"),
    ]
}

/// The server's answer: headers, ending the stream if the request ended it.
fn respond(server: &mut Connection, e: Event) {
    if let Event::Headers {
        stream_id,
        end_stream,
        ..
    } = e
    {
        let status = vec![HeaderField::new(":status", "200")];
        server.send_response(stream_id, status, end_stream).unwrap();
    }
}

fn ours() -> (f64, f64) {
    let now = Instant::now();
    let mut pairs = Vec::with_capacity(CONNECTIONS);
    let before = live();
    for _ in 0..CONNECTIONS {
        pairs.push(Ours::new(now));
    }
    let per_conn = (live() - before) as f64 / CONNECTIONS as f64;

    let p = &mut pairs[0];
    // One finished exchange first, so one-off growth (HPACK tables and
    // scratch) is not counted per stream.
    p.client.send_request(request(), true).unwrap();
    p.settle(respond);
    let before = live();
    for _ in 0..STREAMS {
        p.client.send_request(request(), false).unwrap();
    }
    p.settle(respond);
    assert_eq!(p.client.live_streams(), STREAMS);
    assert_eq!(p.server.live_streams(), STREAMS);
    let per_stream = (live() - before) as f64 / STREAMS as f64;
    (per_conn, per_stream)
}

// ---------------------------------------------------------------- h2

type Held = Arc<Mutex<Vec<(h2::RecvStream, h2::SendStream<Bytes>)>>>;

async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

async fn h2_server(io: tokio::io::DuplexStream, held: Held) {
    let mut conn = h2::server::handshake(io).await.unwrap();
    while let Some(Ok((req, mut respond))) = conn.accept().await {
        let body = req.into_body();
        let resp = http::Response::builder().status(200).body(()).unwrap();
        let end = body.is_end_stream();
        let send = respond.send_response(resp, end).unwrap();
        if !end {
            held.lock().unwrap().push((body, send));
        }
    }
}

async fn h2_connect(held: Held) -> h2::client::SendRequest<Bytes> {
    let (c, s) = tokio::io::duplex(64 << 10);
    tokio::spawn(h2_server(s, held));
    let (client, conn) = h2::client::handshake(c).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client.ready().await.unwrap()
}

fn h2() -> (f64, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let held: Held = Arc::new(Mutex::new(Vec::with_capacity(STREAMS)));
        let mut clients = Vec::with_capacity(CONNECTIONS);
        let mut streams = Vec::with_capacity(STREAMS);
        // The runtime's own structures grow on first use: warm them up.
        let warm = h2_connect(held.clone()).await;
        settle().await;
        let before = live();
        for _ in 0..CONNECTIONS {
            clients.push(h2_connect(held.clone()).await);
        }
        settle().await;
        let per_conn = (live() - before) as f64 / CONNECTIONS as f64;

        let client = &mut clients[0];
        // One finished exchange first, as for ours.
        let req = http::Request::post("https://example.com/upload")
            .body(())
            .unwrap();
        let (resp, _) = client.send_request(req, true).unwrap();
        let mut body = resp.await.unwrap().into_body();
        while body.data().await.is_some() {}
        settle().await;
        let before = live();
        for _ in 0..STREAMS {
            let req = http::Request::post("https://example.com/upload")
                .body(())
                .unwrap();
            *client = client.clone().ready().await.unwrap();
            let (resp, send) = client.send_request(req, false).unwrap();
            let body = resp.await.unwrap().into_body();
            streams.push((body, send));
        }
        settle().await;
        assert_eq!(held.lock().unwrap().len(), STREAMS);
        let per_stream = (live() - before) as f64 / STREAMS as f64;
        drop(warm);
        (per_conn, per_stream)
    })
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too: run either way.
    let (ours_conn, ours_stream) = ours();
    let (h2_conn, h2_stream) = h2();
    println!("heap bytes held (live allocations), ours vs h2");
    println!("| | ours | h2 | ours / h2 |");
    println!("|---|---:|---:|---:|");
    println!(
        "| per idle connection (client + server) | {ours_conn:.0} | {h2_conn:.0} | {:.2} |",
        ours_conn / h2_conn
    );
    println!(
        "| per open stream (both ends) | {ours_stream:.0} | {h2_stream:.0} | {:.2} |",
        ours_stream / h2_stream
    );
}
