//! RFC 9110 §10.1.1 on every server: a request with `expect: 100-continue`
//! gets `100 Continue` before it has sent any of its body, as soon as the
//! application wants the body (it reads it, or answers with headers while
//! it keeps it: a streaming echo); or, when the answer is known without
//! it, the final response alone. The client is the sans-IO core driven by hand
//! over a `TcpStream`, so each frame's order is seen as it came.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use bytes::{Bytes, BytesMut};
use h2proto::io::tokio::{Body, RecvBody, Server};
use h2proto::proto::{Config, Connection, Event, HeaderField, StreamId};

/// One client connection, driven step by step.
struct Peer {
    sock: TcpStream,
    conn: Connection,
    input: BytesMut,
}

/// What the client saw of its request's stream, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Interim(u16),
    Final(u16),
    /// A DATA frame, and whether it ended the stream.
    Data(Bytes, bool),
    /// The stream was reset.
    Reset,
}

impl Peer {
    fn connect(addr: SocketAddr) -> Peer {
        let sock = TcpStream::connect(addr).unwrap();
        // A hang guard, not a timing assertion.
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Peer {
            sock,
            conn: Connection::new(Config::client(), Instant::now()),
            input: BytesMut::new(),
        }
    }

    fn flush(&mut self) {
        let mut out = BytesMut::new();
        while self.conn.poll_transmit(&mut out, 64 * 1024, Instant::now()) > 0 {}
        self.sock.write_all(&out).unwrap();
    }

    /// POSTs to `path` with `expect: 100-continue`, the body held back.
    fn post_expecting_continue(&mut self, path: &str, len: usize) -> StreamId {
        let fields = vec![
            HeaderField::new(":method", "POST"),
            HeaderField::new(":scheme", "http"),
            HeaderField::new(":authority", "localhost"),
            HeaderField::copy_from(":path".as_bytes(), path.as_bytes()),
            HeaderField::new("expect", "100-continue"),
            HeaderField::copy_from("content-length".as_bytes(), len.to_string().as_bytes()),
        ];
        let id = self.conn.send_request(fields, false).unwrap();
        self.flush();
        id
    }

    fn send_body(&mut self, id: StreamId, body: &'static [u8]) {
        let taken = self
            .conn
            .send_data(id, Bytes::from_static(body), true)
            .unwrap();
        assert_eq!(taken, body.len());
        self.flush();
    }

    /// The next thing seen on stream `id`.
    fn next(&mut self, id: StreamId) -> Seen {
        loop {
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Informational { stream_id, headers } if stream_id == id => {
                        return Seen::Interim(headers.status().unwrap());
                    }
                    Event::Headers {
                        stream_id,
                        headers,
                        end_stream,
                    } if stream_id == id => {
                        assert!(!end_stream || headers.status() != Some(200));
                        return Seen::Final(headers.status().unwrap());
                    }
                    Event::Data {
                        stream_id,
                        data,
                        end_stream,
                    } if stream_id == id => {
                        let _ = self.conn.release_capacity(id, data.len());
                        return Seen::Data(data, end_stream);
                    }
                    Event::Reset { stream_id, .. } if stream_id == id => return Seen::Reset,
                    Event::Closed { error } => panic!("connection closed: {error:?}"),
                    _ => {}
                }
            }
            self.flush();
            let mut buf = [0u8; 16 * 1024];
            let n = self.sock.read(&mut buf).expect("the server answered");
            assert!(n > 0, "the server closed the connection");
            self.input.extend_from_slice(&buf[..n]);
            self.conn.recv(&mut self.input, Instant::now());
        }
    }

    /// The body of stream `id`, to its end.
    fn body(&mut self, id: StreamId) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            match self.next(id) {
                Seen::Data(d, end) => {
                    all.extend_from_slice(&d);
                    if end {
                        return all;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// The exchange every server must pass: `/echo` reads the body (100 first,
/// then the echo), `/refuse` answers without it (no 100).
fn check_server(addr: SocketAddr) {
    let mut peer = Peer::connect(addr);
    let id = peer.post_expecting_continue("/echo", 5);
    assert_eq!(
        peer.next(id),
        Seen::Interim(100),
        "before any body was sent"
    );
    peer.send_body(id, b"hello");
    assert_eq!(peer.next(id), Seen::Final(200));
    assert_eq!(peer.body(id), b"hello");

    let id = peer.post_expecting_continue("/refuse", 5);
    assert_eq!(
        peer.next(id),
        Seen::Final(403),
        "no 100 when the body is not wanted"
    );

    // A streaming echo answers before it reads: 100, then its headers.
    let id = peer.post_expecting_continue("/stream", 5);
    assert_eq!(
        peer.next(id),
        Seen::Interim(100),
        "before any body was sent"
    );
    assert_eq!(peer.next(id), Seen::Final(200));
    peer.send_body(id, b"again");
    assert_eq!(peer.body(id), b"again");
}

async fn tokio_handler(mut req: http::Request<RecvBody>) -> http::Response<Body> {
    if req.uri().path() == "/stream" {
        return http::Response::new(Body::from(req.into_body()));
    }
    if req.uri().path() != "/echo" {
        let mut res = http::Response::new(Body::empty());
        *res.status_mut() = http::StatusCode::FORBIDDEN;
        return res;
    }
    let body = req.body_mut().collect(1 << 20).await.unwrap();
    http::Response::new(Body::from(body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokio_server_sends_100_continue_when_the_handler_reads() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(tokio_handler);
    let addr = server.local_addr();
    tokio::task::spawn_blocking(move || check_server(addr))
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_on_h2proto_sends_100_continue_when_the_extractor_reads() {
    let app = Router::new()
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/stream",
            post(|body: axum::body::Body| async move { body }),
        )
        .route(
            "/refuse",
            post(|| async { (http::StatusCode::FORBIDDEN, "no") }),
        );
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(app);
    let addr = server.local_addr();
    tokio::task::spawn_blocking(move || check_server(addr))
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn the_blocking_server_sends_100_continue_unless_the_body_is_too_large() {
    let mut config = h2proto::io::blocking::ServerConfig::default();
    config.max_request_body = 1000;
    let server = h2proto::io::blocking::Server::bind_with("127.0.0.1:0", config)
        .unwrap()
        .spawn(|req: http::Request<Bytes>| {
            let status = match req.uri().path() {
                "/echo" => http::StatusCode::OK,
                _ => http::StatusCode::FORBIDDEN,
            };
            let mut res = http::Response::new(req.into_body());
            *res.status_mut() = status;
            res
        })
        .unwrap();
    let mut peer = Peer::connect(server.local_addr());
    // The blocking server collects every body before its handler runs:
    // 100 at once, whatever the path.
    let id = peer.post_expecting_continue("/echo", 5);
    assert_eq!(peer.next(id), Seen::Interim(100));
    peer.send_body(id, b"hello");
    assert_eq!(peer.next(id), Seen::Final(200));
    assert_eq!(peer.body(id), b"hello");

    // A declared length over the limit: the 413 at once, no 100.
    let id = peer.post_expecting_continue("/echo", 5000);
    assert_eq!(peer.next(id), Seen::Final(413));
}
