//! Issue #12: a client that stops reading costs a server no more than its
//! windows and the connection's memory budget, on both runtimes; every
//! request completes once it reads again.
//!
//! The hostile client is the crate's own core, driven by hand over a real
//! socket: it sends N concurrent 1 MiB POSTs and never gives back credit
//! for the responses (its windows stay at the RFC's 65,535 bytes) until
//! phase two. What the server holds is read from its stats (bytes in the
//! budget, received bytes not given back, DATA queued in the core), and
//! the process heap is watched by a counting allocator.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2proto::frame::StreamId;
use h2proto::hpack::HeaderField;
use h2proto::proto::{Config, Connection, DEFAULT_MEMORY_BUDGET, Event};

use h2proto::io::tokio::Body;
mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

mod alloc_support;

#[global_allocator]
static ALLOC: alloc_support::Counting = alloc_support::Counting;

const STREAMS: usize = 50;
const BODY: usize = 1 << 20;
const MIB: usize = 1 << 20;

/// What the server holds for one connection, from its stats.
#[derive(Debug, Default, Clone, Copy)]
struct Held {
    budget: usize,
    unreleased: usize,
    queued: usize,
}

impl Held {
    fn total(&self) -> usize {
        self.budget + self.unreleased + self.queued
    }
}

/// The hostile client: the core in the client role over a blocking socket.
struct Client {
    sock: TcpStream,
    conn: Connection,
    input: BytesMut,
    output: BytesMut,
    /// Request body bytes still to queue, by stream.
    to_send: HashMap<StreamId, usize>,
    /// Response bytes received, by stream, and which responses ended.
    got: HashMap<StreamId, usize>,
    done: HashMap<StreamId, u16>,
    status: HashMap<StreamId, u16>,
    /// Phase two: give the credit back.
    reading: bool,
}

static PAYLOAD: [u8; 64 * 1024] = [b'p'; 64 * 1024];

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        sock.set_nodelay(true).unwrap();
        let mut config = Config::client();
        // The RFC's defaults: 65,535 bytes per stream and per connection.
        config.initial_window_size = 65_535;
        config.connection_window_size = 65_535;
        Client {
            sock,
            conn: Connection::new(config, Instant::now()),
            input: BytesMut::new(),
            output: BytesMut::new(),
            to_send: HashMap::new(),
            got: HashMap::new(),
            done: HashMap::new(),
            status: HashMap::new(),
            reading: false,
        }
    }

    fn post(&mut self, path: &str) {
        let fields = vec![
            HeaderField::new(":method", "POST"),
            HeaderField::new(":scheme", "http"),
            HeaderField::new(":authority", "localhost"),
            HeaderField::new(":path", path.to_owned()),
            HeaderField::new("content-length", BODY.to_string()),
        ];
        let id = self.conn.send_request(fields, false).unwrap();
        self.to_send.insert(id, BODY);
    }

    /// One round of I/O; whether anything happened.
    fn step(&mut self) -> bool {
        let now = Instant::now();
        let mut progress = false;
        // Queue request body bytes as the core takes them.
        for (id, left) in self.to_send.iter_mut() {
            while *left > 0 {
                let n = (*left).min(PAYLOAD.len());
                let end = *left == n;
                let taken = self
                    .conn
                    .send_data(*id, Bytes::from_static(&PAYLOAD[..n]), end)
                    .unwrap_or(0);
                if taken < n {
                    *left -= taken;
                    break;
                }
                *left -= n;
            }
        }
        self.to_send.retain(|_, left| *left > 0);
        self.output.clear();
        if self.conn.poll_transmit(&mut self.output, 256 * 1024, now) > 0 {
            self.sock.write_all(&self.output).unwrap();
            progress = true;
        }
        let mut buf = [0u8; 64 * 1024];
        match self.sock.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => {
                self.input.extend_from_slice(&buf[..n]);
                self.conn.recv(&mut self.input, now);
                progress = true;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("client socket: {e}"),
        }
        while let Some(event) = self.conn.poll_event() {
            progress = true;
            match event {
                Event::Headers {
                    stream_id,
                    headers,
                    end_stream,
                } => {
                    let status = headers.status().unwrap_or(0);
                    self.status.insert(stream_id, status);
                    if end_stream {
                        self.done.insert(stream_id, status);
                    }
                }
                Event::Data {
                    stream_id,
                    data,
                    end_stream,
                } => {
                    *self.got.entry(stream_id).or_default() += data.len();
                    if self.reading {
                        let _ = self.conn.release_capacity(stream_id, data.len());
                    }
                    if end_stream {
                        let status = self.status.get(&stream_id).copied().unwrap_or(0);
                        self.done.insert(stream_id, status);
                    }
                }
                Event::Trailers { stream_id, .. } => {
                    let status = self.status.get(&stream_id).copied().unwrap_or(0);
                    self.done.insert(stream_id, status);
                }
                Event::Reset {
                    stream_id, reason, ..
                } => panic!("stream {stream_id:?} reset: {reason:?}"),
                Event::Closed { error } => panic!("connection closed: {error:?}"),
                _ => {}
            }
        }
        progress
    }

    /// Starts reading: the credit held back so far goes out.
    fn start_reading(&mut self) {
        self.reading = true;
        for (&id, &n) in &self.got {
            let _ = self.conn.release_capacity(id, n);
        }
    }
}

/// Runs the scenario against a server at `addr`; `held` reads the server's
/// stats. Returns the most the server held while the client did not read.
fn stop_reading_then_read(addr: SocketAddr, path: &str, held: impl Fn() -> Held) -> Held {
    // One scenario at a time: the heap is the process's.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let heap_before = alloc_support::live();
    let mut client = Client::connect(addr);
    for _ in 0..STREAMS {
        client.post(path);
    }
    // Phase one: until nothing moves for a while.
    let mut peak = Held::default();
    let mut heap_peak = 0usize;
    let mut quiet_since = Instant::now();
    let start = Instant::now();
    while quiet_since.elapsed() < Duration::from_millis(500) {
        assert!(start.elapsed() < Duration::from_secs(60), "never settled");
        if client.step() {
            quiet_since = Instant::now();
        }
        let h = held();
        if h.total() > peak.total() {
            peak = h;
        }
        heap_peak = heap_peak.max(alloc_support::growth_since(heap_before));
    }
    let stalled = client.done.len();
    assert!(
        stalled < STREAMS,
        "the client read nothing, yet every response finished"
    );
    // What the server may hold: its receive window (unreleased bytes), the
    // budget plus one message (the oldest always finishes), and the core's
    // send buffer. The client process's own share of the heap is its
    // 65,535-byte windows and its I/O buffers.
    let bound = 1024 * 1024 + DEFAULT_MEMORY_BUDGET + BODY + 1024 * 1024;
    assert!(peak.total() <= bound, "held {peak:?}, bound {bound}");
    assert!(
        heap_peak <= bound + MIB,
        "heap grew by {heap_peak} bytes (held {peak:?})"
    );
    eprintln!(
        "{path}: peak held {peak:?} = {} bytes; heap growth {heap_peak} bytes",
        peak.total()
    );
    // Phase two: the client reads; every request completes.
    client.start_reading();
    let start = Instant::now();
    while client.done.len() < STREAMS {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} of {STREAMS} done after reading again ({:?}); left to send {:?}; client {:?}",
            client.done.len(),
            held(),
            {
                let mut v: Vec<_> = client
                    .to_send
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.value(),
                            *v,
                            client.conn.stream_stats(*k).map(|s| s.send_window),
                        )
                    })
                    .collect();
                v.sort();
                v
            },
            client.conn.stats()
        );
        client.step();
    }
    for (id, status) in &client.done {
        assert_eq!(*status, 200, "stream {id:?}");
        assert_eq!(client.got.get(id).copied().unwrap_or(0), BODY, "{id:?}");
    }
    peak
}

fn tokio_server(
    route: &'static str,
) -> (tokio::runtime::Runtime, h2proto::io::tokio::ServerHandle) {
    use h2proto::io::tokio::Server;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        Server::bind("127.0.0.1:0")
            .await
            .unwrap()
            .serve(move |req| async move {
                if route == "stream" {
                    // The streaming echo: chunks go back as they arrive.
                    response(200, req.into_body())
                } else {
                    // The whole-message echo: collect, then answer.
                    match h2proto::io::tokio::collect_request(req, 16 << 20).await {
                        Ok(req) => response(200, req.into_body()),
                        Err(_) => response(400, Body::empty()),
                    }
                }
            })
    });
    (rt, server)
}

fn tokio_held(server: &h2proto::io::tokio::ServerHandle) -> Held {
    let s = server.stats();
    Held {
        budget: s.budget_held,
        unreleased: s.recv_unreleased,
        queued: s.queued_data,
    }
}

#[test]
fn tokio_streaming_echo_holds_no_more_than_the_windows_while_the_client_does_not_read() {
    let (_rt, server) = tokio_server("stream");
    let peak = stop_reading_then_read(server.local_addr(), "/echo", || tokio_held(&server));
    // Streaming: nothing waits in the budget, only in the windows.
    assert!(peak.budget <= 64 * 1024 * 4, "{peak:?}");
}

#[test]
fn tokio_whole_body_echo_holds_the_budget_and_one_message_while_the_client_does_not_read() {
    let (_rt, server) = tokio_server("whole");
    let peak = stop_reading_then_read(server.local_addr(), "/echo", || tokio_held(&server));
    assert!(peak.budget <= DEFAULT_MEMORY_BUDGET + 2 * BODY, "{peak:?}");
}

#[test]
fn blocking_whole_body_echo_holds_the_budget_and_one_message_while_the_client_does_not_read() {
    let server = h2proto::io::blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .spawn(|req| response(200, req.into_body()))
        .unwrap();
    let addr = server.local_addr();
    let peak = stop_reading_then_read(addr, "/echo", || {
        let s = server.stats();
        Held {
            budget: s.budget_held,
            unreleased: s.recv_unreleased,
            queued: s.queued_data,
        }
    });
    assert!(peak.budget <= DEFAULT_MEMORY_BUDGET + 2 * BODY, "{peak:?}");
    server.shutdown();
}

/// A body that can never fit is refused with 413 before any handler sees
/// it (blocking), or with `BodyTooLarge` to a tokio handler collecting it;
/// the connection goes on serving.
#[test]
fn a_body_over_the_limit_is_413_and_the_connection_lives() {
    use h2proto::io::blocking::{Client, Server, ServerConfig};
    let mut config = ServerConfig::default();
    config.max_request_body = 64 * 1024;
    let server = Server::bind_with("127.0.0.1:0", config)
        .unwrap()
        .spawn(|req| response(200, req.into_body()))
        .unwrap();
    let client = Client::connect(server.local_addr()).unwrap();
    let big = client
        .send(request("POST", "/echo", vec![0u8; 1 << 20]))
        .unwrap();
    assert_eq!(big.status(), 413);
    let small = client
        .send(request("POST", "/echo", vec![7u8; 1000]))
        .unwrap();
    assert_eq!((small.status().as_u16(), small.body().len()), (200, 1000));
    server.shutdown();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use h2proto::io::tokio::{Client, Server};
        let server = Server::bind("127.0.0.1:0")
            .await
            .unwrap()
            .serve(|req| async move {
                match h2proto::io::tokio::collect_request(req, 64 * 1024).await {
                    Ok(req) => response(200, req.into_body()),
                    Err(h2proto::io::Error::BodyTooLarge) => response(413, Body::empty()),
                    Err(_) => response(400, Body::empty()),
                }
            });
        let client = Client::connect(server.local_addr()).await.unwrap();
        let big = client
            .send(request("POST", "/echo", vec![0u8; 1 << 20]))
            .await
            .unwrap();
        assert_eq!(big.status(), 413);
        let small = client
            .send(request("POST", "/echo", vec![7u8; 1000]))
            .await
            .unwrap();
        assert_eq!((small.status().as_u16(), small.body().len()), (200, 1000));
        server.shutdown(Duration::from_secs(1)).await;
    });
}

/// Clients: a collected response body counts in the connection's budget
/// for as long as the application holds it (issue #13: whole-body
/// collection lives in the same budget as the servers').
#[test]
fn collected_response_bodies_count_in_the_clients_budget_until_dropped() {
    let server = h2proto::io::blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .spawn(|_| response(200, vec![1u8; 100_000]))
        .unwrap();
    let client = h2proto::io::blocking::Client::connect(server.local_addr()).unwrap();
    let res = client.send(request("GET", "/", Bytes::new())).unwrap();
    assert_eq!(res.body().len(), 100_000);
    assert_eq!(client.memory().held, 100_000);
    let slice = res.body().slice(10..20);
    drop(res);
    assert_eq!(client.memory().held, 100_000, "a slice still holds it");
    drop(slice);
    assert_eq!(client.memory().held, 0);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = h2proto::io::tokio::Client::connect(server.local_addr())
            .await
            .unwrap();
        let res = client
            .send(request("GET", "/", Bytes::new()))
            .await
            .unwrap();
        assert_eq!(res.body().len(), 100_000);
        assert_eq!(client.memory().held, 100_000);
        drop(res);
        assert_eq!(client.memory().held, 0);
    });
    server.shutdown();
}
