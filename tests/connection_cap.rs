//! `max_connections` on the servers: at the cap a server accepts nothing
//! more until a connection ends, and then serves the one that waited in
//! the kernel's backlog. What all connections hold together stays bounded
//! however many a peer opens.

use std::time::Duration;

use bytes::Bytes;

const WAIT: Duration = Duration::from_millis(400);

#[tokio::test]
async fn the_tokio_server_serves_at_most_max_connections() {
    let mut config = h2proto::io::tokio::ServerConfig::default();
    config.max_connections = 1;
    let server = h2proto::io::tokio::Server::bind_with("127.0.0.1:0", config)
        .await
        .unwrap()
        .serve(|_req| async { http::Response::new(h2proto::io::tokio::Body::from("hi")) });
    let addr = server.local_addr();
    let first = h2proto::io::tokio::Client::connect(addr).await.unwrap();
    assert_eq!(&first.get("/").await.unwrap().body()[..], b"hi");
    // The second connects (the kernel's backlog) but is not served.
    let second = h2proto::io::tokio::Client::connect(addr).await.unwrap();
    let waiting = tokio::spawn(async move { second.get("/").await.map(|r| r.into_body()) });
    tokio::time::sleep(WAIT).await;
    assert!(!waiting.is_finished(), "served past the cap");
    // The first goes: the second is accepted and served.
    first.shutdown().await;
    let body = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a slot is free")
        .unwrap()
        .unwrap();
    assert_eq!(&body[..], b"hi");
    server.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn the_blocking_server_serves_at_most_max_connections() {
    let mut config = h2proto::io::blocking::ServerConfig::default();
    config.max_connections = 1;
    let server = h2proto::io::blocking::Server::bind_with("127.0.0.1:0", config)
        .unwrap()
        .spawn(|_req: http::Request<Bytes>| http::Response::new(Bytes::from_static(b"hi")))
        .unwrap();
    let addr = server.local_addr();
    let first = h2proto::io::blocking::Client::connect(addr).unwrap();
    assert_eq!(&first.get("/").unwrap().body()[..], b"hi");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let second = h2proto::io::blocking::Client::connect(addr).unwrap();
        let _ = tx.send(second.get("/").map(|r| r.into_body()));
    });
    assert!(rx.recv_timeout(WAIT).is_err(), "served past the cap");
    first.shutdown();
    let body = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("served once a slot is free")
        .unwrap();
    assert_eq!(&body[..], b"hi");
    server.shutdown();
}

#[tokio::test]
async fn the_tokio_grpc_server_serves_at_most_max_connections() {
    use h2proto::io::tokio::grpc::{CallOptions, Client, Config, Server};
    let mut config = Config::server();
    config.max_connections = 1;
    let server = Server::builder()
        .config(config)
        .unary("/t.T/Echo", |_ctx, m: Bytes| async move { Ok(m) })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let echo = |client: Client, m: &'static [u8]| async move {
        let res = client.unary("/t.T/Echo", Bytes::from_static(m), CallOptions::new());
        res.await.map(|r| r.message)
    };
    let first = Client::connect(addr).await.unwrap();
    assert_eq!(&echo(first.clone(), b"a").await.unwrap()[..], b"a");
    let second = Client::connect(addr).await.unwrap();
    let waiting = tokio::spawn(echo(second, b"b"));
    tokio::time::sleep(WAIT).await;
    assert!(!waiting.is_finished(), "served past the cap");
    drop(first);
    let echoed = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a slot is free")
        .unwrap()
        .unwrap();
    assert_eq!(&echoed[..], b"b");
}

/// Whether a bare HTTP/2 client hears the server's SETTINGS within `wait`.
fn hears_settings(tcp: &mut std::net::TcpStream, wait: Duration) -> bool {
    use std::io::{Read, Write};
    let _ = tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0");
    tcp.set_read_timeout(Some(wait)).unwrap();
    let mut head = [0u8; 9];
    tcp.read_exact(&mut head).is_ok() && head[3] == 4
}

#[test]
fn the_blocking_grpc_server_serves_at_most_max_connections() {
    use h2proto::io::blocking::grpc::{Config, Server};
    let mut config = Config::server();
    config.max_connections = 1;
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .with_config(config)
        .spawn(drop)
        .unwrap();
    let addr = server.local_addr();
    let mut first = std::net::TcpStream::connect(addr).unwrap();
    assert!(hears_settings(&mut first, Duration::from_secs(5)));
    let mut second = std::net::TcpStream::connect(addr).unwrap();
    assert!(!hears_settings(&mut second, WAIT), "served past the cap");
    drop(first);
    assert!(
        hears_settings(&mut second, Duration::from_secs(5)),
        "served once a slot is free"
    );
    server.shutdown();
}
