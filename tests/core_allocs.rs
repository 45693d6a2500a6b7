//! Heap allocations the sans-IO core makes per request on a server: one GET
//! in, one response (headers and a short body) out, through `recv`,
//! `poll_event`, `send_response`, `send_data` and `poll_transmit`. Counted by
//! a counting allocator on this thread only, and pinned, so a change that
//! adds an allocation to the per-request path shows up here (issue #16:
//! allocations are a large share of the per-request cost).
//!
//! What the application builds itself (the response's field list) is made
//! outside the counted calls; what the core hands over (the request's field
//! list in `Event::Headers`) is counted where it is made.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use h2proto::hpack::HeaderField;
use h2proto::proto::{Config, Connection, Event, Transmit};

struct Counting;

thread_local! {
    /// Allocations made on this thread while counting is on.
    static ALLOCS: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note_alloc() {
    // `try_with`: the allocator may run while the thread is being torn down.
    let _ = ALLOCS.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        note_alloc();
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`, returning what it returned and how many allocations it made.
fn counted<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCS.with(|c| c.set(Some(0)));
    let out = f();
    let n = ALLOCS.with(|c| c.replace(None)).unwrap_or(0);
    (out, n)
}

/// Allocations per call site, summed over the measured requests.
#[derive(Debug, Default)]
struct Tally {
    recv: usize,
    poll_event: usize,
    send_response: usize,
    send_data: usize,
    poll_transmit: usize,
}

impl Tally {
    fn total(&self) -> usize {
        self.recv + self.poll_event + self.send_response + self.send_data + self.poll_transmit
    }
}

fn request() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", "GET"),
        HeaderField::new(":scheme", "http"),
        HeaderField::new(":authority", "127.0.0.1:8080"),
        HeaderField::new(":path", "/"),
        HeaderField::new("user-agent", "h2load nghttp2/1.52.0"),
    ]
}

fn response() -> Vec<HeaderField> {
    vec![
        HeaderField::new(":status", "200"),
        HeaderField::new("content-type", "text/plain; charset=utf-8"),
        HeaderField::new("content-length", "13"),
    ]
}

/// A client and a server in memory; the server's calls are counted.
struct Pair {
    client: Connection,
    server: Connection,
    to_server: BytesMut,
    server_out: Transmit,
    to_client: BytesMut,
    now: Instant,
}

impl Pair {
    fn new() -> Self {
        let now = Instant::now();
        let mut pair = Pair {
            client: Connection::new(Config::client(), now),
            server: Connection::new(Config::server(), now),
            to_server: BytesMut::with_capacity(1 << 16),
            server_out: Transmit::new(),
            to_client: BytesMut::with_capacity(1 << 16),
            now,
        };
        for _ in 0..4 {
            pair.client_to_server();
            while pair.server.poll_event().is_some() {}
            pair.server_to_client(&mut Tally::default());
            while pair.client.poll_event().is_some() {}
        }
        pair
    }

    fn client_to_server(&mut self) {
        self.client
            .poll_transmit(&mut self.to_server, usize::MAX, self.now);
    }

    fn server_recv(&mut self, tally: &mut Tally) {
        let ((), n) = counted(|| self.server.recv(&mut self.to_server, self.now));
        tally.recv += n;
    }

    fn server_to_client(&mut self, tally: &mut Tally) {
        let (_, n) = counted(|| {
            self.server
                .poll_transmit(&mut self.server_out, usize::MAX, self.now)
        });
        tally.poll_transmit += n;
        // What a socket write does: the bytes go, the buffer is reused.
        while !self.server_out.is_empty() {
            let mut slices = [std::io::IoSlice::new(&[]); 16];
            let k = self.server_out.io_slices(&mut slices);
            let mut len = 0;
            for s in &slices[..k] {
                self.to_client.extend_from_slice(s);
                len += s.len();
            }
            self.server_out.advance(len);
        }
        self.client.recv(&mut self.to_client, self.now);
    }

    /// `in_flight` requests, answered in one server turn; returns the tally.
    fn round(&mut self, in_flight: usize, tally: &mut Tally) {
        for _ in 0..in_flight {
            self.client.send_request(request(), true).unwrap();
        }
        self.client_to_server();
        self.server_recv(tally);
        let body = Bytes::from_static(b"hello, world\n");
        loop {
            let (event, n) = counted(|| self.server.poll_event());
            tally.poll_event += n;
            let Some(event) = event else { break };
            if let Event::Headers { stream_id, .. } = event {
                let fields = response();
                let (r, n) = counted(|| self.server.send_response(stream_id, fields, false));
                r.unwrap();
                tally.send_response += n;
                let (r, n) = counted(|| self.server.send_data(stream_id, body.clone(), true));
                assert_eq!(r.unwrap(), body.len());
                tally.send_data += n;
            }
        }
        self.server_to_client(tally);
        let mut done = 0;
        while let Some(event) = self.client.poll_event() {
            if let Event::Data {
                stream_id,
                data,
                end_stream,
            } = event
            {
                self.client.release_capacity(stream_id, data.len()).unwrap();
                done += usize::from(end_stream);
            }
        }
        assert_eq!(done, in_flight, "every request answered");
    }
}

/// Allocations per request the server-side core makes today: the request's
/// field list, handed to the application in `Event::Headers` (the DATA queue
/// of a stream reuses an emptied one; 2.0 before). Lower it when an
/// allocation goes; a rise is a regression on the per-request path.
const MAX_ALLOCS_PER_REQUEST: f64 = 1.05;

#[test]
fn server_allocations_per_request_are_pinned() {
    let mut pair = Pair::new();
    // Warm-up: buffers, tables and maps reach their working size.
    for _ in 0..20 {
        pair.round(10, &mut Tally::default());
    }
    let mut tally = Tally::default();
    const ROUNDS: usize = 50;
    const IN_FLIGHT: usize = 10;
    for _ in 0..ROUNDS {
        pair.round(IN_FLIGHT, &mut tally);
    }
    let per_request = tally.total() as f64 / (ROUNDS * IN_FLIGHT) as f64;
    println!("allocations per request: {per_request:.2} ({tally:?})");
    assert!(
        per_request <= MAX_ALLOCS_PER_REQUEST,
        "{per_request:.2} allocations per request, pinned at {MAX_ALLOCS_PER_REQUEST}: {tally:?}"
    );
    assert!(per_request > 0.0, "the counting allocator counts");
}
