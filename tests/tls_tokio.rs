//! HTTP/2 over TLS on the tokio adapter, ours against ours: requests over
//! TLS, the pool keyed by scheme, and handshakes that fail say why
//! (wrong name, untrusted root, no ALPN, ALPN other than h2).

mod tls_support;

use std::sync::Arc;
use std::time::Duration;

use h2proto::io::tls::{self, TlsError, rustls};
use h2proto::io::tokio::{Body, Client, ClientConfig, Server, ServerHandle};
use tls_support::TestPki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

async fn tls_server(pki: &TestPki) -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_tls(pki.server_config())
        .serve(|req| async move {
            response(
                200,
                format!(
                    "tls {} {}",
                    req.uri().path(),
                    req.uri().scheme_str().unwrap_or_default()
                ),
            )
        })
}

fn tls_error(e: &std::io::Error) -> &TlsError {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<TlsError>())
        .unwrap_or_else(|| panic!("not a TlsError: {e:?}"))
}

#[tokio::test]
async fn get_over_tls() {
    let pki = TestPki::new("tokio-get");
    let server = tls_server(&pki).await;
    let client = Client::connect_tls(
        server.local_addr(),
        "localhost",
        pki.client_config(),
        ClientConfig::default(),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        let res = client.get("/hello").await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(&res.body()[..], b"tls /hello https");
    }
    client.shutdown().await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn connect_url_and_pool_keyed_by_scheme() {
    use h2proto::io::tokio::pool::{Pool, PoolConfig};
    let pki = TestPki::new("tokio-pool");
    let tls_srv = tls_server(&pki).await;
    let plain = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(|_req| async { response(200, "plain") });
    let roots = pki.client_config();
    let pool: Pool<Client, std::io::Error> = Pool::new(PoolConfig::default(), move |origin| {
        let roots = roots.clone();
        async move { Client::connect_url(&origin, Some(roots), ClientConfig::default()).await }
    });
    let https = format!("https://localhost:{}", tls_srv.local_addr().port());
    let http = format!("http://127.0.0.1:{}", plain.local_addr().port());
    let a = pool.get(&https).await.unwrap();
    assert_eq!(
        &a.connection().get("/x").await.unwrap().body()[..],
        b"tls /x https"
    );
    let b = pool.get(&http).await.unwrap();
    assert_eq!(&b.connection().get("/").await.unwrap().body()[..], b"plain");
    assert_eq!(pool.stats().len(), 2);
    drop((a, b));
    tls_srv.shutdown(Duration::from_secs(1)).await;
    plain.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn wrong_name_is_refused_and_says_so() {
    let pki = TestPki::new("tokio-name");
    let server = tls_server(&pki).await;
    let e = Client::connect_tls(
        server.local_addr(),
        "example.com",
        pki.client_config(),
        ClientConfig::default(),
    )
    .await
    .unwrap_err();
    let msg = tls_error(&e).to_string();
    assert!(msg.contains("not valid for name"), "{msg}");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn untrusted_root_is_refused_and_says_so() {
    let pki = TestPki::new("tokio-root");
    let other = TestPki::new("tokio-root-other");
    let server = tls_server(&pki).await;
    let e = Client::connect_tls(
        server.local_addr(),
        "localhost",
        other.client_config(),
        ClientConfig::default(),
    )
    .await
    .unwrap_err();
    let msg = tls_error(&e).to_string();
    assert!(msg.contains("UnknownIssuer"), "{msg}");
    server.shutdown(Duration::from_secs(1)).await;
}

/// A raw rustls client with its own ALPN list (the adapters force `h2`).
async fn raw_client(
    pki: &TestPki,
    alpn: Vec<Vec<u8>>,
    addr: std::net::SocketAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut config = (*pki.client_config()).clone();
    config.alpn_protocols = alpn;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    connector
        .connect(tls::server_name("localhost").unwrap(), tcp)
        .await
}

#[tokio::test]
async fn client_without_alpn_is_closed() {
    let pki = TestPki::new("tokio-noalpn");
    let server = tls_server(&pki).await;
    // The handshake itself completes (no ALPN offered, none selected); the
    // server then refuses: close_notify, no HTTP/2 SETTINGS.
    let mut s = raw_client(&pki, vec![], server.local_addr()).await.unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), None);
    let _ = s.write_all(h2proto::frame::PREFACE).await;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    assert!(
        buf.is_empty(),
        "the server spoke HTTP/2 without ALPN: {buf:?}"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn client_offering_only_http11_fails_the_handshake() {
    let pki = TestPki::new("tokio-h1");
    let server = tls_server(&pki).await;
    let e = raw_client(&pki, vec![b"http/1.1".to_vec()], server.local_addr())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("NoApplicationProtocol"), "{e}");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn our_client_refuses_a_server_without_alpn() {
    let pki = TestPki::new("tokio-srv-noalpn");
    // A TLS server that selects no ALPN protocol.
    let mut config = (*pki.server_config()).clone();
    config.alpn_protocols = vec![];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        if let Ok(mut s) = acceptor.accept(tcp).await {
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf).await;
        }
    });
    let e = Client::connect_tls(
        addr,
        "localhost",
        pki.client_config(),
        ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(tls_error(&e), TlsError::NoAlpn), "{e}");
}

#[tokio::test]
async fn certificate_reload_serves_the_new_chain() {
    let first = TestPki::new("tokio-reload-a");
    let second = TestPki::new("tokio-reload-b");
    let cert =
        Arc::new(tls::ReloadableCert::from_pem_files(&first.cert_pem, &first.key_pem).unwrap());
    let config = tls::server_config_with_resolver(cert.clone()).unwrap();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_tls(config)
        .serve(|_req| async { response(204, Body::empty()) });
    let dial = |roots: Arc<rustls::ClientConfig>| {
        Client::connect_tls(
            server.local_addr(),
            "localhost",
            roots,
            ClientConfig::default(),
        )
    };
    let old = dial(first.client_config()).await.unwrap();
    assert_eq!(old.get("/").await.unwrap().status(), 204);
    assert!(dial(second.client_config()).await.is_err());
    cert.reload_pem_files(&second.cert_pem, &second.key_pem)
        .unwrap();
    let new = dial(second.client_config()).await.unwrap();
    assert_eq!(new.get("/").await.unwrap().status(), 204);
    // The connection opened before the reload keeps working.
    assert_eq!(old.get("/").await.unwrap().status(), 204);
    assert!(dial(first.client_config()).await.is_err());
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn grpc_over_tls() {
    use h2proto::io::tokio::grpc;
    let pki = TestPki::new("tokio-grpc");
    let server = grpc::Server::builder()
        .unary("/t.S/Echo", |_ctx, msg| async move { Ok(msg) })
        .tls(pki.server_config())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = grpc::Client::connect_tls(
        server.local_addr(),
        "foo.test.google.fr",
        pki.client_config(),
        grpc::Config::client(),
    )
    .await
    .unwrap();
    let res = client
        .unary(
            "/t.S/Echo",
            bytes::Bytes::from_static(b"ping"),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(&res.message[..], b"ping");
    client.shutdown().await;
    server.shutdown().await;
}
