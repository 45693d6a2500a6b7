//! A server's handlers learn where a connection comes from: the
//! `ConnectionInfo` in each request's extensions (tokio: when
//! `ServerConfig::connection_info` is on; blocking: always), as an axum
//! `Extension` too.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use h2proto::io::ConnectionInfo;
use h2proto::io::tokio::{Body, Client, RecvBody, Server, ServerConfig};

/// What a handler saw: the info's fields as text, or "none".
fn describe(info: Option<&ConnectionInfo>) -> String {
    match info {
        Some(i) => format!("{} {} {}", i.remote_addr, i.local_addr, i.tls),
        None => "none".into(),
    }
}

fn check(seen: &[u8], server: SocketAddr) {
    let seen = std::str::from_utf8(seen).unwrap();
    let mut parts = seen.split(' ');
    let remote: SocketAddr = parts.next().unwrap().parse().expect(seen);
    assert!(remote.ip().is_loopback(), "{seen}");
    assert_ne!(remote.port(), server.port(), "{seen}");
    assert_eq!(parts.next().unwrap(), server.to_string(), "{seen}");
    assert_eq!(parts.next().unwrap(), "false", "{seen}");
}

async fn handler(req: http::Request<RecvBody>) -> http::Response<Body> {
    http::Response::new(Body::from(describe(req.extensions().get())))
}

#[tokio::test]
async fn tokio_requests_carry_the_connection_info_when_asked() {
    let mut config = ServerConfig::default();
    config.connection_info = true;
    let server = Server::bind_with("127.0.0.1:0", config)
        .await
        .unwrap()
        .serve(handler);
    let client = Client::connect(server.local_addr()).await.unwrap();
    let res = client.get("/").await.unwrap();
    check(res.body(), server.local_addr());
    server.shutdown(Duration::from_secs(1)).await;

    // Off by default.
    let server = Server::bind("127.0.0.1:0").await.unwrap().serve(handler);
    let client = Client::connect(server.local_addr()).await.unwrap();
    assert_eq!(&client.get("/").await.unwrap().body()[..], b"none");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn axum_takes_the_connection_info_as_an_extension() {
    let app = Router::new().route(
        "/",
        get(|Extension(info): Extension<ConnectionInfo>| async move { describe(Some(&info)) }),
    );
    let mut config = ServerConfig::default();
    config.connection_info = true;
    let server = Server::bind_with("127.0.0.1:0", config)
        .await
        .unwrap()
        .serve_service(app);
    let client = Client::connect(server.local_addr()).await.unwrap();
    let res = client.get("/").await.unwrap();
    assert_eq!(res.status(), 200);
    check(res.body(), server.local_addr());
    server.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn blocking_requests_carry_the_connection_info() {
    let server = h2proto::io::blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .spawn(|req: http::Request<Bytes>| {
            http::Response::new(Bytes::from(describe(req.extensions().get())))
        })
        .unwrap();
    let client = h2proto::io::blocking::Client::connect(server.local_addr()).unwrap();
    let res = client.get("/").unwrap();
    check(res.body(), server.local_addr());
}
