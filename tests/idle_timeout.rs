//! `proto::Config::idle_timeout` and `max_connection_age` through the
//! adapters: a server lets a connection go (GOAWAY NO_ERROR, then the
//! socket closes) on the runtime's clock, whatever the client keeps doing
//! below the stream level.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;

const IDLE: Duration = Duration::from_millis(300);

/// A bare client: the preface and an empty SETTINGS, the server's SETTINGS
/// acknowledged, then nothing but reading (not even the PING of the
/// server's graceful shutdown is answered). Returns the frame types the
/// server sent and how long after the handshake the socket closed (`None`:
/// still open after 5 s).
fn bare_client_until_closed(addr: SocketAddr) -> (Vec<u8>, Option<Duration>) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap(); // SETTINGS
    tcp.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]).unwrap(); // SETTINGS ACK
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let start = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(5) {
        match tcp.read(&mut buf) {
            Ok(0) => return (frame_types(&bytes), Some(start.elapsed())),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (frame_types(&bytes), Some(start.elapsed())),
        }
    }
    (frame_types(&bytes), None)
}

fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        types.push(bytes[3]);
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    types
}

fn assert_closed_gracefully(addr: SocketAddr) {
    let (types, closed_after) = bare_client_until_closed(addr);
    let closed_after = closed_after.expect("the server closed the idle connection");
    assert!(
        closed_after >= IDLE - Duration::from_millis(50),
        "{closed_after:?}"
    );
    assert!(
        types.contains(&7),
        "a GOAWAY came first: frame types {types:?}"
    );
}

#[tokio::test]
async fn the_tokio_server_lets_idle_connections_go() {
    let mut config = h2proto::io::tokio::ServerConfig::default();
    config.h2.idle_timeout = Some(IDLE);
    // The bare client never answers the shutdown's PING: the final GOAWAY
    // goes out when this passes.
    config.h2.shutdown_ping_timeout = IDLE;
    let server = h2proto::io::tokio::Server::bind_with("127.0.0.1:0", config)
        .await
        .unwrap()
        .serve(|_req| async { http::Response::new(h2proto::io::tokio::Body::from("hi")) });
    let addr = server.local_addr();
    // A client that made a request, then stays quiet.
    let client = h2proto::io::tokio::Client::connect(addr).await.unwrap();
    assert_eq!(&client.get("/").await.unwrap().body()[..], b"hi");
    tokio::time::sleep(IDLE * 3).await;
    assert!(
        client.is_closed(),
        "the server's GOAWAY ended the connection"
    );
    tokio::task::spawn_blocking(move || assert_closed_gracefully(addr))
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn the_blocking_server_lets_idle_connections_go() {
    let mut config = h2proto::io::blocking::ServerConfig::default();
    config.h2.idle_timeout = Some(IDLE);
    config.h2.shutdown_ping_timeout = IDLE;
    let server = h2proto::io::blocking::Server::bind_with("127.0.0.1:0", config)
        .unwrap()
        .spawn(|_req: http::Request<Bytes>| http::Response::new(Bytes::from_static(b"hi")))
        .unwrap();
    assert_closed_gracefully(server.local_addr());
    server.shutdown();
}

#[tokio::test]
async fn the_tokio_grpc_server_ends_connections_at_their_maximum_age() {
    use h2proto::io::tokio::grpc::{Config, Server};
    let mut config = Config::server();
    config.grpc.http2.max_connection_age = Some(IDLE);
    config.grpc.http2.shutdown_ping_timeout = IDLE;
    let server = Server::builder()
        .config(config)
        .unary("/t.T/Echo", |_ctx, m: Bytes| async move { Ok(m) })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::task::spawn_blocking(move || assert_closed_gracefully(addr))
        .await
        .unwrap();
}
