//! The tower face over TLS (features `tower` and `tls`): an axum `Router`
//! served by h2proto with rustls, called through the tower face of a TLS
//! client; the service sees an `https` URI.

mod tls_support;

use std::future::poll_fn;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use h2proto::io::tokio::{Client, ClientConfig, Server};
use http::Uri;
use http_body_util::{BodyExt, Empty};
use tls_support::TestPki;
use tower_service::Service;

#[tokio::test]
async fn axum_over_tls_through_the_tower_client() {
    let pki = TestPki::new("tower-axum");
    let app = Router::new().route("/uri", get(|uri: Uri| async move { uri.to_string() }));
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_tls(pki.server_config())
        .serve_service(app);
    let port = server.local_addr().port();
    let mut client = Client::connect_tls(
        server.local_addr(),
        "localhost",
        pki.client_config(),
        ClientConfig::default(),
    )
    .await
    .unwrap();
    for _ in 0..2 {
        poll_fn(|cx| Service::<http::Request<Empty<Bytes>>>::poll_ready(&mut client, cx))
            .await
            .unwrap();
        let req = http::Request::get("/uri?q=1")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let res = tokio::time::timeout(Duration::from_secs(20), client.call(req))
            .await
            .expect("hung")
            .unwrap();
        assert_eq!(res.status(), 200);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("https://localhost:{port}/uri?q=1").as_bytes());
    }
    server.shutdown(Duration::from_secs(1)).await;
}
