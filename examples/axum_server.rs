//! One axum `Router` on either HTTP/2 transport: h2proto's tokio server
//! (feature `tower`) or hyper's, same routes and handlers.
//!
//! ```text
//! cargo run --example axum_server -- --addr 127.0.0.1:8080 --transport h2proto
//! cargo run --example axum_server -- --addr 127.0.0.1:8081 --transport hyper
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! curl --http2-prior-knowledge --data-binary @file http://127.0.0.1:8080/echo
//! curl --http2-prior-knowledge http://127.0.0.1:8080/bytes/1000000 | wc -c
//! ```
//!
//! Both are cleartext HTTP/2 with prior knowledge (h2c); hyper runs its
//! HTTP/2 server only (`hyper::server::conn::http2`), so that the two
//! compare like for like.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::{get, post};

const USAGE: &str = "usage: axum_server [--addr HOST:PORT] [--transport h2proto|hyper]";

/// The routes, whatever the transport: GET / text, POST /echo streams the
/// request body back as it arrives, GET /bytes/N N bytes.
fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello from axum\n" }))
        .route("/echo", post(|body: Body| async move { body }))
        .route(
            "/bytes/{n}",
            get(|Path(n): Path<usize>| async move { vec![b'x'; n.min(1 << 30)] }),
        )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut addr, mut transport) = ("127.0.0.1:8080".to_owned(), "h2proto".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        let value = value.or_else(|| args.next()).ok_or(USAGE)?;
        match flag.as_str() {
            "--addr" => addr = value,
            "--transport" => transport = value,
            _ => return Err(USAGE.into()),
        }
    }
    match transport.as_str() {
        "h2proto" => {
            let server = h2proto::io::tokio::Server::bind(&addr)
                .await?
                .serve_service(app());
            println!("h2proto serving axum on {}", server.local_addr());
            std::future::pending::<()>().await;
        }
        "hyper" => serve_hyper(&addr).await?,
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

/// hyper's HTTP/2 server, one task per connection.
async fn serve_hyper(addr: &str) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower_service::Service;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("hyper serving axum on {}", listener.local_addr()?);
    let app = app();
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            app.clone().call(req)
        });
        tokio::spawn(
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc),
        );
    }
}
