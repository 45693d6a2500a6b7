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
//! compare like for like. Both run the same runtime layout: a current_thread
//! runtime per core accepting from one socket (`support/per_core.rs`), or
//! tokio's multi-thread runtime with `AXUM_WORK_STEALING=1`.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::{get, post};

#[path = "support/per_core.rs"]
mod per_core;

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

#[derive(Clone, Copy)]
enum Transport {
    H2proto,
    Hyper,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut addr, mut transport) = ("127.0.0.1:8080".to_owned(), Transport::H2proto);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        let value = value.or_else(|| args.next()).ok_or(USAGE)?;
        match (flag.as_str(), value.as_str()) {
            ("--addr", _) => addr = value,
            ("--transport", "h2proto") => transport = Transport::H2proto,
            ("--transport", "hyper") => transport = Transport::Hyper,
            _ => return Err(USAGE.into()),
        }
    }
    let name = match transport {
        Transport::H2proto => "h2proto",
        Transport::Hyper => "hyper",
    };
    if std::env::var_os("AXUM_WORK_STEALING").is_some() {
        println!("{name} serving axum on {addr} (multi-thread runtime)");
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            serve(listener, transport).await;
            Ok::<_, std::io::Error>(())
        })?;
    } else {
        println!("{name} serving axum on {addr} (a runtime per core)");
        per_core::run(&addr, move |listener| serve(listener, transport))?;
    }
    Ok(())
}

/// Serves `app()` on `listener` until the process ends.
async fn serve(listener: tokio::net::TcpListener, transport: Transport) {
    match transport {
        Transport::H2proto => {
            use h2proto::io::tokio::{Server, ServerConfig};
            // Kept: dropping the handle would stop the server.
            let _server =
                Server::from_listener(listener, ServerConfig::default()).serve_service(app());
            std::future::pending::<()>().await;
        }
        Transport::Hyper => {
            if let Err(e) = serve_hyper(listener).await {
                eprintln!("hyper: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// hyper's HTTP/2 server, one task per connection.
async fn serve_hyper(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tower_service::Service;
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
