//! HTTP/2 and gRPC over TLS on the blocking adapter (one rustls session
//! shared by the reader and writer threads: see `src/io/blocking/tls.rs`):
//! ours against ours, large bodies both ways, failing handshakes that say
//! why, and grpc's interop cases over TLS, blocking and tokio crossed.

#[path = "../examples/interop/cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "../examples/interop/messages.rs"]
mod messages;
#[path = "../examples/interop/service.rs"]
mod service;
mod tls_support;

use std::sync::OnceLock;

use h2proto::io::blocking::{Client, ClientConfig, Server};
use h2proto::io::tls::TlsError;
use tls_support::TestPki;

use bytes::Bytes;
mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

fn tls_error(e: &std::io::Error) -> &TlsError {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
        .unwrap_or_else(|| panic!("not a TlsError: {e:?}"))
}

fn echo(req: http::Request<Bytes>) -> http::Response<Bytes> {
    let scheme = req.uri().scheme_str().unwrap_or_default().to_owned();
    with_header(response(200, req.into_body()), "x-scheme", scheme)
}

#[test]
fn echo_large_bodies_over_tls() {
    let pki = TestPki::new("blocking-echo");
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .with_tls(pki.server_config())
        .spawn(echo)
        .unwrap();
    let client = Client::connect_tls(
        server.local_addr(),
        "localhost",
        pki.client_config(),
        ClientConfig::default(),
    )
    .unwrap();
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    for _ in 0..3 {
        let res = client.send(request("POST", "/echo", body.clone())).unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(header(&res, "x-scheme"), Some(&b"https"[..]));
        assert!(res.body()[..] == body[..], "body differs");
    }
    // Concurrent requests from several threads share the one session.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let res = client
                    .send(request("POST", "/echo", body[..100_000].to_vec()))
                    .unwrap();
                assert_eq!(res.body().len(), 100_000);
            });
        }
    });
    client.shutdown();
    server.shutdown();
}

#[test]
fn wrong_name_and_untrusted_root_say_so() {
    let pki = TestPki::new("blocking-fail");
    let other = TestPki::new("blocking-fail-other");
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .with_tls(pki.server_config())
        .spawn(echo)
        .unwrap();
    let addr = server.local_addr();
    let e = Client::connect_tls(
        addr,
        "example.com",
        pki.client_config(),
        ClientConfig::default(),
    )
    .unwrap_err();
    let msg = tls_error(&e).to_string();
    assert!(msg.contains("not valid for name"), "{msg}");
    let e = Client::connect_tls(
        addr,
        "localhost",
        other.client_config(),
        ClientConfig::default(),
    )
    .unwrap_err();
    let msg = tls_error(&e).to_string();
    assert!(msg.contains("UnknownIssuer"), "{msg}");
    // The server survives both and serves the next client.
    let client = Client::connect_tls(
        addr,
        "localhost",
        pki.client_config(),
        ClientConfig::default(),
    )
    .unwrap();
    assert_eq!(
        client
            .send(request("GET", "/", Bytes::new()))
            .unwrap()
            .status(),
        200
    );
    client.shutdown();
    server.shutdown();
}

#[test]
fn plaintext_client_against_tls_server_fails() {
    let pki = TestPki::new("blocking-plain");
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .with_tls(pki.server_config())
        .spawn(echo)
        .unwrap();
    let client = Client::connect(server.local_addr()).unwrap();
    assert!(client.send(request("GET", "/", Bytes::new())).is_err());
    client.shutdown();
    server.shutdown();
}

/// Our blocking interop server over TLS, shared by the gRPC tests.
fn grpc_server() -> (u16, &'static TestPki) {
    static SERVER: OnceLock<(h2proto::io::blocking::grpc::ServerHandle, TestPki)> = OnceLock::new();
    let (server, pki) = SERVER.get_or_init(|| {
        let pki = TestPki::new("blocking-grpc");
        let server = h2proto::io::blocking::grpc::Server::bind("127.0.0.1:0")
            .unwrap()
            .with_tls(pki.server_config())
            .spawn(service::handle)
            .expect("start our interop server");
        (server, pki)
    });
    (server.local_addr().port(), pki)
}

#[test]
fn grpc_interop_cases_over_tls_blocking() {
    let (port, pki) = grpc_server();
    let client = h2proto::io::blocking::grpc::Client::connect_tls(
        ("127.0.0.1", port),
        "foo.test.google.fr",
        pki.client_config(),
        h2proto::io::blocking::grpc::Config::client(),
    )
    .expect("connect");
    let mut failures = Vec::new();
    for (name, run_case) in cases::CASES {
        if let Err(e) = run_case(&client) {
            failures.push(format!("{name}: {e}"));
        }
    }
    client.shutdown();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn client_without_alpn_is_closed_by_the_blocking_server() {
    use h2proto::io::tls::rustls;
    use std::io::{Read, Write};
    let pki = TestPki::new("blocking-noalpn");
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .with_tls(pki.server_config())
        .spawn(echo)
        .unwrap();
    // A raw rustls client offering no ALPN: the handshake completes, then
    // the server refuses (close_notify) without a byte of HTTP/2.
    let mut config = (*pki.client_config()).clone();
    config.alpn_protocols = vec![];
    let name = h2proto::io::tls::server_name("localhost").unwrap();
    let session = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(server.local_addr()).unwrap();
    let mut tls = rustls::StreamOwned::new(session, tcp);
    let _ = tls.write_all(h2proto::frame::PREFACE);
    assert_eq!(tls.conn.alpn_protocol(), None);
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf);
    assert!(
        buf.is_empty(),
        "the server spoke HTTP/2 without ALPN: {buf:?}"
    );
    // It goes on serving clients that do offer h2.
    let client = Client::connect_tls(
        server.local_addr(),
        "localhost",
        pki.client_config(),
        ClientConfig::default(),
    )
    .unwrap();
    assert_eq!(
        client
            .send(request("GET", "/", Bytes::new()))
            .unwrap()
            .status(),
        200
    );
    client.shutdown();
    server.shutdown();
}
