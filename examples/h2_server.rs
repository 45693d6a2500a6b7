//! A small HTTP/2 (h2c, prior knowledge) server, on the tokio adapter (the
//! default: a current_thread runtime per core; `H2_SERVER_THREADS=N` for
//! tokio's multi-thread runtime) or the blocking one; the routes are the same.
//!
//! ```sh
//! cargo run --example h2_server -- --addr 127.0.0.1:8080 [--runtime tokio|blocking]
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! ```
//!
//! Over TLS (ALPN `h2`), with a PEM certificate chain and key:
//!
//! ```sh
//! cargo run --example h2_server -- --addr 127.0.0.1:8443 --tls-cert cert.pem --tls-key key.pem
//! curl --http2 --cacert ca.pem https://localhost:8443/
//! ```
//!
//! Routes (GET, HEAD and POST):
//! - `/echo`: the request body back (on tokio, streamed back as it arrives);
//! - `/bytes/N`: N bytes;
//! - anything else: 200 with a short text body.

use bytes::Bytes;
use h2proto::io::tokio::{Body, RecvBody};
use http::{Method, Request, Response, StatusCode};

/// A response with a status, a content type and a whole body.
fn answer(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Bytes> {
    let len = body.len();
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert("content-type", http::HeaderValue::from_static(content_type));
    headers.insert("content-length", len.into());
    res
}

fn handle(req: Request<Bytes>) -> Response<Bytes> {
    const TEXT: &str = "text/plain; charset=utf-8";
    const OCTETS: &str = "application/octet-stream";
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::POST) {
        let mut res = answer(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "method not allowed\n".into(),
        );
        res.headers_mut()
            .insert("allow", http::HeaderValue::from_static("GET, HEAD, POST"));
        return res;
    }
    let path = req.uri().path();
    if path == "/echo" {
        return answer(StatusCode::OK, OCTETS, req.into_body());
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        return match n.parse::<usize>() {
            Ok(n) if n <= 64 << 20 => answer(StatusCode::OK, OCTETS, vec![b'x'; n].into()),
            _ => answer(
                StatusCode::BAD_REQUEST,
                TEXT,
                "N must be a number up to 64 MiB\n".into(),
            ),
        };
    }
    if req.method() == Method::GET && path == "/" && req.uri().query().is_none() {
        // What load tests ask for: the bytes the general case below would
        // produce, without formatting them for every request.
        const HELLO: &str = "hello from h2proto: GET /\n";
        let mut res = Response::new(Bytes::from_static(HELLO.as_bytes()));
        let headers = res.headers_mut();
        headers.insert("content-type", http::HeaderValue::from_static(TEXT));
        headers.insert("content-length", http::HeaderValue::from_static("26"));
        return res;
    }
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let body = format!("hello from h2proto: {} {target}\n", req.method());
    answer(StatusCode::OK, TEXT, body.into())
}

#[path = "support/per_core.rs"]
mod per_core;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8080");
    let mut runtime = String::from("tokio");
    let (mut cert, mut key) = (None, None);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(a)) => addr = a,
            ("--runtime", Some(r)) if r == "tokio" || r == "blocking" => runtime = r,
            ("--tls-cert", Some(f)) => cert = Some(f),
            ("--tls-key", Some(f)) => key = Some(f),
            _ => {
                eprintln!(
                    "usage: h2_server [--addr HOST:PORT] [--runtime tokio|blocking] [--tls-cert PEM --tls-key PEM]"
                );
                std::process::exit(2);
            }
        }
    }
    let tls = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            match h2proto::io::tls::server_config_from_pem_files(cert, key) {
                Ok(config) => Some(config),
                Err(e) => {
                    eprintln!("h2_server: {e}");
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!("h2_server: --tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    let result = if runtime == "tokio" {
        serve_tokio(&addr, tls)
    } else {
        serve_blocking(&addr, tls)
    };
    if let Err(e) = result {
        eprintln!("h2_server: {addr}: {e}");
        std::process::exit(1);
    }
}

/// A server's TLS configuration, if it serves TLS.
type Tls = Option<std::sync::Arc<h2proto::io::tls::rustls::ServerConfig>>;

/// How the startup line names what is served.
fn describe(addr: &str, tls: &Tls) -> String {
    match tls {
        Some(_) => format!("https://{addr} (TLS, ALPN h2"),
        None => format!("http://{addr} (h2c, prior knowledge"),
    }
}

fn serve_blocking(addr: &str, tls: Tls) -> std::io::Result<()> {
    let mut server = h2proto::io::blocking::Server::bind(addr)?;
    eprintln!(
        "h2_server: listening on {}, blocking)",
        describe(addr, &tls)
    );
    if let Some(tls) = tls {
        server = server.with_tls(tls);
    }
    server.serve(handle)
}

/// `GET /bytes/N` on tokio: the size to stream (the blocking adapter builds
/// the whole body instead).
fn streamed_size(req: &Request<RecvBody>) -> Option<usize> {
    let n = req
        .uri()
        .path()
        .strip_prefix("/bytes/")?
        .parse::<usize>()
        .ok()?;
    (req.method() == Method::GET && n <= 64 << 20).then_some(n)
}

/// N bytes sent in 64 KiB pieces of one static buffer as the peer reads
/// them: a client that stops reading holds the sender at its window, so the
/// server's memory does not grow with N.
fn stream_bytes(n: usize) -> Response<Body> {
    static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
    let (mut tx, body) = Body::channel();
    tokio::spawn(async move {
        let mut left = n;
        while left > 0 {
            let piece = left.min(CHUNK.len());
            if tx.send(Bytes::from_static(&CHUNK[..piece])).await.is_err() {
                return; // reset or connection gone
            }
            left -= piece;
        }
        let _ = tx.finish().await;
    });
    let mut res = Response::new(body);
    let headers = res.headers_mut();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert("content-length", n.into());
    res
}

/// `/echo` on tokio: the request body goes back as it arrives. Each chunk
/// returns its flow-control credit only once it has been written back, so
/// a client that stops reading stops its own upload, and the server holds
/// no more than the windows allow, whatever the body's size.
fn stream_echo(req: Request<RecvBody>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let mut res = Response::new(Body::from(body));
    let headers = res.headers_mut();
    headers.insert(
        "content-type",
        http::HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(len) = parts.headers.get("content-length") {
        headers.insert("content-length", len.clone());
    }
    res
}

/// Every request on tokio: the same routes, `/echo` and `/bytes/N` streamed.
async fn handle_tokio(req: Request<RecvBody>) -> Response<Body> {
    if let Some(n) = streamed_size(&req) {
        return stream_bytes(n);
    }
    if req.uri().path() == "/echo" && req.method() != Method::GET {
        return stream_echo(req);
    }
    // The other routes collect the request body first.
    let (parts, mut body) = req.into_parts();
    let status = match body.collect(64 << 20).await {
        Ok(data) => return handle(Request::from_parts(parts, data)).map(Body::from),
        Err(h2proto::io::Error::BodyTooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
        Err(_) => StatusCode::BAD_REQUEST,
    };
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    res
}

fn serve_tokio(addr: &str, tls: Tls) -> std::io::Result<()> {
    use h2proto::io::tokio::{Server, ServerConfig};
    // Default: a current_thread runtime per core (support/per_core.rs).
    // H2_SERVER_THREADS=N: tokio's multi-thread runtime with N workers
    // (0: a single current_thread runtime).
    let threads = std::env::var("H2_SERVER_THREADS")
        .ok()
        .and_then(|t| t.parse::<usize>().ok());
    let rt = match threads {
        None => {
            eprintln!(
                "h2_server: listening on {}, tokio, a runtime per core)",
                describe(addr, &tls)
            );
            return per_core::run(addr, move |listener| {
                let tls = tls.clone();
                async move {
                    let mut server = Server::from_listener(listener, ServerConfig::default());
                    if let Some(tls) = tls {
                        server = server.with_tls(tls);
                    }
                    let _running = server.serve(handle_tokio);
                    std::future::pending::<()>().await
                }
            });
        }
        Some(0) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    rt.block_on(async {
        let mut server = Server::bind(addr).await?;
        eprintln!("h2_server: listening on {}, tokio)", describe(addr, &tls));
        if let Some(tls) = tls {
            server = server.with_tls(tls);
        }
        let _running = server.serve(handle_tokio);
        std::future::pending::<std::io::Result<()>>().await
    })
}
