//! The gRPC memory budget (issue #12) on the sans-IO endpoint: a client that
//! sends many large unary calls and does not read the responses makes the
//! server hold no more than its connection window + budget + one message;
//! every call completes once it reads again; a reader that interleaves
//! partial messages on many streams never deadlocks; credit comes back only
//! when a message buffer is dropped.

mod grpc_support;

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use grpc_support::grpc_request;
use h2proto::frame::StreamId;
use h2proto::grpc::{self, Code, Config, Event, Metadata, Server, Status};
use h2proto::proto::{self, Connection};

const MIB: usize = 1 << 20;

/// One gRPC message: prefix + payload.
fn framed(len: usize) -> Bytes {
    let mut v = Vec::with_capacity(5 + len);
    v.push(0);
    v.extend_from_slice(&(len as u32).to_be_bytes());
    v.resize(5 + len, 0x61);
    Bytes::from(v)
}

/// A raw HTTP/2 client sending unary calls of one message each, as its
/// windows allow, with the default 65,535-byte windows; it consumes the
/// responses only while `reading`.
struct Peer {
    conn: Connection,
    /// Request bytes left to send, per stream.
    pending: Vec<(StreamId, Bytes)>,
    reading: bool,
    /// Sends the requests one after another (else all at once, the core's
    /// round-robin interleaving them).
    in_order: bool,
    /// Calls that ended, and those with grpc-status 0.
    ended: usize,
    ok: usize,
    received: usize,
}

impl Peer {
    fn new(now: Instant) -> Peer {
        let mut config = proto::Config::client();
        config.initial_window_size = 65_535;
        config.connection_window_size = 65_535;
        Peer {
            conn: Connection::new(config, now),
            pending: Vec::new(),
            reading: false,
            in_order: false,
            ended: 0,
            ok: 0,
            received: 0,
        }
    }

    fn start(&mut self, calls: usize, len: usize) {
        for _ in 0..calls {
            let id = self
                .conn
                .send_request(grpc_request("/echo.Echo/UnaryEcho"), false)
                .unwrap();
            self.pending.push((id, framed(len)));
        }
    }

    fn pump(&mut self) {
        let n = if self.in_order { 1 } else { self.pending.len() };
        for (id, body) in self.pending.iter_mut().take(n) {
            match self.conn.send_data(*id, body.clone(), true) {
                Ok(n) => drop(body.split_to(n.min(body.len()))),
                // Refused or reset by the server: nothing more to send.
                Err(_) => *body = Bytes::new(),
            }
        }
        self.pending.retain(|(_, b)| !b.is_empty());
    }

    fn events(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                proto::Event::Data {
                    stream_id, data, ..
                } => {
                    self.received += data.len();
                    if self.reading {
                        self.conn.release_capacity(stream_id, data.len()).unwrap();
                    }
                }
                proto::Event::Trailers { trailers, .. } => {
                    self.ended += 1;
                    if trailers.get(b"grpc-status").map(|v| &v[..]) == Some(b"0") {
                        self.ok += 1;
                    }
                }
                proto::Event::Reset { .. } => self.ended += 1,
                proto::Event::Writable { .. } => {}
                _ => {}
            }
        }
    }

    /// Starts reading: what was held back is consumed too.
    fn read_again(&mut self) {
        self.reading = true;
        let ids: Vec<StreamId> = (0..200).map(|i| StreamId::new(2 * i + 1)).collect();
        for id in ids {
            if let Some(s) = self.conn.stream_stats(id) {
                let _ = self.conn.release_capacity(id, s.recv_unreleased as usize);
            }
        }
    }
}

/// A server application answering each unary call with a fresh copy of its
/// request (as a decoder/encoder would), keeping nothing.
struct EchoApp {
    server: Server,
    /// Responses waiting for `Writable` (Busy), per call.
    blocked: Vec<(grpc::CallId, Bytes)>,
}

impl EchoApp {
    fn events(&mut self) {
        while let Some(ev) = self.server.poll_event_held() {
            match ev {
                Event::Message { call, message, .. } => {
                    let response = Bytes::copy_from_slice(&message);
                    drop(message);
                    match self.server.send_message(call, response.clone()) {
                        Ok(()) => {}
                        Err(grpc::CallError::Busy) => self.blocked.push((call, response)),
                        Err(e) => panic!("{e}"),
                    }
                }
                Event::HalfClosed { call } if !self.blocked.iter().any(|b| b.0 == call) => {
                    let _ = self.server.finish(call, Status::ok(), Metadata::new());
                }
                Event::Writable { call } => {
                    if let Some(i) = self.blocked.iter().position(|b| b.0 == call) {
                        let (c, r) = self.blocked.remove(i);
                        self.server.send_message(c, r).unwrap();
                        let _ = self.server.finish(c, Status::ok(), Metadata::new());
                    }
                }
                _ => {}
            }
        }
    }
}

/// Bytes the server holds for the peer: received (withheld or charged)
/// and accepted for sending, inside and outside the HTTP/2 core.
fn held(server: &Server) -> usize {
    let c = server.connection().stats();
    c.recv_unreleased as usize + server.budget().held() + c.queued_data
}

fn step(peer: &mut Peer, app: &mut EchoApp, now: Instant) -> bool {
    let (mut up, mut down) = (BytesMut::new(), BytesMut::new());
    peer.pump();
    let a = peer.conn.poll_transmit(&mut up, usize::MAX, now);
    app.server.recv(&mut up, now);
    app.events();
    let b = app.server.poll_transmit(&mut down, usize::MAX, now);
    peer.conn.recv(&mut down, now);
    peer.events();
    app.events();
    a + b > 0
}

/// Runs 50 unary calls of 1 MiB from a client that does not read, then
/// reads. Returns the most the server held before it read (an upper
/// bound: whole messages count in both figures), the most held by messages
/// in assembly, and the largest stream window it granted.
fn fifty_calls_then_read(in_order: bool) -> (usize, usize, usize) {
    let now = Instant::now();
    let config = Config::server();
    let mut app = EchoApp {
        server: Server::new(config, now),
        blocked: Vec::new(),
    };
    let mut peer = Peer::new(now);
    peer.in_order = in_order;
    peer.start(50, MIB);
    let (mut peak, mut partial_peak, mut stream_window) = (0, 0, 0);
    for _ in 0..5_000 {
        let moved = step(&mut peer, &mut app, now);
        let h = held(&app.server);
        peak = peak.max(h);
        let partial: usize = app.server.call_stats().iter().map(|c| c.partial).sum();
        partial_peak = partial_peak.max(partial);
        let w = app.server.connection().config().initial_window_size as usize;
        stream_window = stream_window.max(w);
        if !moved {
            break;
        }
    }
    assert!(
        peer.ended < 50,
        "the client read nothing: calls cannot all end"
    );
    assert!(
        !peer.pending.is_empty(),
        "the client was never stopped from sending"
    );

    // It reads again: every call completes, and everything is given back.
    peer.read_again();
    for _ in 0..100_000 {
        if !step(&mut peer, &mut app, now) && peer.ended == 50 {
            break;
        }
    }
    assert_eq!(
        (peer.ended, peer.ok),
        (50, 50),
        "{:?}",
        app.server.call_stats()
    );
    assert_eq!(app.server.budget().held(), 0);
    assert_eq!(app.server.connection().stats().recv_unreleased, 0);
    (peak, partial_peak, stream_window)
}

#[test]
fn fifty_large_unary_calls_from_a_client_that_never_reads_stay_within_the_budget() {
    let c = Config::server();
    let (window, budget) = (c.http2.connection_window_size as usize, c.memory_budget);
    let (peak, _, _) = fifty_calls_then_read(true);
    // Connection window + budget + one message (the response accepted on
    // an empty queue), plus the core's own send buffers.
    let bound = window + budget + (MIB + 5) + 2 * 64 * 1024;
    assert!(peak <= bound, "held {peak} > {bound}");
}

/// The client interleaves its 50 requests (the core's round-robin): the
/// younger partial messages withhold the whole connection window, and the
/// oldest must still finish (so the connection window grows past them).
/// What messages in assembly hold is then bounded by their streams' own
/// windows (which the BDP estimator may have grown).
#[test]
fn interleaved_partial_messages_never_deadlock_a_peer_that_reads() {
    let c = Config::server();
    let (window, budget) = (c.http2.connection_window_size as usize, c.memory_budget);
    let (_, partial, stream_window) = fifty_calls_then_read(false);
    let bound = window + budget + (MIB + 5) + 50 * stream_window;
    assert!(partial <= bound, "in assembly {partial} > {bound}");
}

#[test]
fn a_message_over_the_max_is_resource_exhausted() {
    let now = Instant::now();
    let mut config = Config::server();
    config.max_recv_message_size = 64 * 1024;
    let mut app = EchoApp {
        server: Server::new(config, now),
        blocked: Vec::new(),
    };
    let mut peer = Peer::new(now);
    peer.start(1, 64 * 1024 + 1);
    let mut cancelled = None;
    for _ in 0..100 {
        let (mut up, mut down) = (BytesMut::new(), BytesMut::new());
        peer.pump();
        peer.conn.poll_transmit(&mut up, usize::MAX, now);
        app.server.recv(&mut up, now);
        while let Some(ev) = app.server.poll_event_held() {
            if let Event::Cancelled { status, .. } = ev {
                cancelled = Some(status.code());
            }
        }
        app.server.poll_transmit(&mut down, usize::MAX, now);
        peer.conn.recv(&mut down, now);
        peer.events();
    }
    assert_eq!(cancelled, Some(Code::RESOURCE_EXHAUSTED));
    assert_eq!(peer.ended, 1);
    assert_eq!(app.server.budget().held(), 0);
    assert_eq!(app.server.connection().stats().recv_unreleased, 0);
}

/// Over tokio: 50 concurrent 1 MiB unary calls whose client does not read
/// the responses. The server's budget holds one message (the response the
/// client does not take: the next request waits, its response reserved
/// from the hand-over; the client's own budget parks the responses, so its
/// windows stop the server); once the client reads, every call completes
/// and both budgets are empty. Fixed windows: the BDP estimator would let
/// whole messages fit the stream windows (see `interleaved_...`).
#[tokio::test(flavor = "current_thread")]
async fn tokio_fifty_large_calls_unread_stay_within_the_budget_then_complete() {
    use h2proto::io::tokio::grpc::{CallOptions, Client, Server};
    use std::time::Duration;

    let mut config = h2proto::io::tokio::grpc::Config::server();
    config.grpc = config.grpc.fixed_windows(256 * 1024, MIB as u32);
    let server = Server::builder()
        .config(config)
        .unary("/echo.Echo/UnaryEcho", |_ctx, request: Bytes| async move {
            // A fresh response, as a decoder and an encoder would make.
            Ok(Bytes::copy_from_slice(&request))
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect(server.local_addr()).await.unwrap();
    let payload = Bytes::from(vec![0x61u8; MIB]);
    let mut calls = Vec::new();
    for _ in 0..50 {
        let mut call = client
            .call("/echo.Echo/UnaryEcho", CallOptions::default())
            .unwrap();
        call.send(payload.clone()).await.unwrap();
        call.close_send().unwrap();
        calls.push(call);
    }
    // Let it settle without reading.
    let mut last = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = (server.budget_stats(), client.budget_stats());
        if last.as_ref() == Some(&now) {
            break;
        }
        last = Some(now);
    }
    for b in server.budget_stats() {
        assert!(b.peak <= (MIB + 5) + 64 * 1024, "server {b:?}");
    }

    // Read: everything completes.
    let read = async {
        for mut call in calls {
            let Some(m) = call.recv().await.unwrap() else {
                panic!("no response: {:?}", call.status().await);
            };
            assert_eq!(m.len(), MIB);
            drop(m);
            assert!(call.status().await.is_ok());
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .is_err()
    {
        let s: Vec<_> = server
            .call_stats()
            .into_iter()
            .filter(|c| c.partial + c.parked + c.send_queued > 0)
            .collect();
        let c: Vec<_> = client
            .call_stats()
            .into_iter()
            .filter(|c| c.partial + c.parked + c.send_queued > 0)
            .collect();
        eprintln!(
            "CLIENT {:?}\nSERVER {:?}",
            client.connection_stats(),
            server.connection_stats()
        );
        panic!(
            "stalled: server {:?} {:?} {s:?}\nclient {:?} {:?} {c:?}",
            server.budget_stats(),
            server
                .connection_stats()
                .iter()
                .map(|c| (
                    c.recv_unreleased,
                    c.queued_data,
                    c.send_window,
                    c.recv_window
                ))
                .collect::<Vec<_>>(),
            client.budget_stats(),
            {
                let c = client.connection_stats();
                (
                    c.recv_unreleased,
                    c.queued_data,
                    c.send_window,
                    c.recv_window,
                )
            },
        );
    }
    // The last releases are still travelling (the server's last sends, its
    // WINDOW_UPDATEs): wait for them, bounded, rather than a fixed 50 ms a
    // loaded machine can miss.
    let held = || {
        (
            client.budget_stats().held,
            server.budget_stats().iter().map(|b| b.held).sum::<usize>(),
        )
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while held() != (0, 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(held(), (0, 0), "(client, server) bytes held");
    server.shutdown().await;
}

/// A message taken with `poll_event_held` keeps its credit (and its share
/// of the budget) until its last slice is dropped; `release_owed` then
/// gives it back.
#[test]
fn credit_returns_only_when_the_message_is_dropped() {
    let now = Instant::now();
    let mut server = Server::new(Config::server(), now);
    let mut peer = Peer::new(now);
    peer.start(1, 100 * 1024);
    let mut message = None;
    for _ in 0..20 {
        let (mut up, mut down) = (BytesMut::new(), BytesMut::new());
        peer.pump();
        peer.conn.poll_transmit(&mut up, usize::MAX, now);
        server.recv(&mut up, now);
        while let Some(ev) = server.poll_event_held() {
            if let Event::Message { message: m, .. } = ev {
                message = Some(m);
            }
        }
        server.poll_transmit(&mut down, usize::MAX, now);
        peer.conn.recv(&mut down, now);
        peer.events();
    }
    let message = message.expect("the request");
    let wire = 100 * 1024 + 5;
    // Part of it was released early while it was assembled (it spans
    // frames): the rest is withheld, and all of it is charged.
    let withheld = server.connection().stats().recv_unreleased as usize;
    assert!(withheld > 0);
    assert_eq!(server.budget().held(), wire);
    let tail = message.slice(1000..);
    drop(message);
    assert_eq!(server.release_owed(), 0, "a slice still holds it");
    assert_eq!(
        server.connection().stats().recv_unreleased as usize,
        withheld
    );
    assert_eq!(server.budget().held(), wire);
    drop(tail);
    assert_eq!(server.budget().stats().owed, withheld);
    assert_eq!(server.release_owed(), withheld);
    assert_eq!(server.connection().stats().recv_unreleased, 0);
    assert_eq!(server.budget().held(), 0);
}
