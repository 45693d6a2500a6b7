//! A hyper 1.x HTTP/2 server with prior knowledge (h2c), a baseline peer of
//! `scripts/bench-peers.sh`: a multi-thread tokio runtime (default workers),
//! `hyper::server::conn::http2` with hyper-util's `TokioExecutor`.
//!
//! Routes: `/echo` streams the request body back (as h2proto's example
//! does on tokio); `/bytes/N` answers N bytes of `x`; anything else a 26-byte text
//! body, the length of h2proto's `examples/h2_server.rs` answer to `GET /`.
//! Both answers carry the same headers as ours (content-type, content-length).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// Same length as `hello from h2proto: GET /\n`.
const HELLO: &[u8] = b"hello from hyper!!: GET /\n";
const _: () = assert!(HELLO.len() == 26);

type Body = BoxBody<Bytes, hyper::Error>;

fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed()
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if req.uri().path() == "/echo" {
        let mut res = Response::builder().header("content-type", "application/octet-stream");
        if let Some(len) = req.headers().get("content-length") {
            res = res.header("content-length", len.clone());
        }
        return Ok(res.body(req.into_body().boxed()).expect("valid response"));
    }
    let (body, ctype) = match req.uri().path().strip_prefix("/bytes/") {
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n <= 64 << 20 => (Bytes::from(vec![b'x'; n]), "application/octet-stream"),
            _ => {
                let mut r = Response::new(full(Bytes::from_static(b"bad N\n")));
                *r.status_mut() = hyper::StatusCode::BAD_REQUEST;
                return Ok(r);
            }
        },
        None => (Bytes::from_static(HELLO), "text/plain; charset=utf-8"),
    };
    let len = body.len();
    Ok(Response::builder()
        .header("content-type", ctype)
        .header("content-length", len)
        .body(full(body))
        .expect("valid response"))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8081");
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(a)) => addr = a,
            _ => {
                eprintln!("usage: hyper_server [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
        eprintln!("hyper_server: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    eprintln!("hyper_server: listening on http://{addr} (h2c, prior knowledge)");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}
