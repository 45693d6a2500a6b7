//! A small HTTP/2 (h2c, prior knowledge) server on the blocking adapter.
//!
//! ```sh
//! cargo run --example h2_server -- --addr 127.0.0.1:8080
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! ```
//!
//! Routes (GET, HEAD and POST):
//! - `/echo`: the request body back;
//! - `/bytes/N`: N bytes;
//! - anything else: 200 with a short text body.

use h2proto::io::blocking::Server;
use h2proto::io::{Request, Response};

fn handle(req: Request) -> Response {
    if !matches!(req.method.as_str(), "GET" | "HEAD" | "POST") {
        return Response::new(405)
            .with_header("allow", "GET, HEAD, POST")
            .with_body("method not allowed\n");
    }
    let path = req.path.split('?').next().unwrap_or_default();
    if path == "/echo" {
        return Response::new(200)
            .with_header("content-type", "application/octet-stream")
            .with_header("content-length", req.body.len().to_string())
            .with_body(req.body);
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        return match n.parse::<usize>() {
            Ok(n) if n <= 64 << 20 => Response::new(200)
                .with_header("content-type", "application/octet-stream")
                .with_header("content-length", n.to_string())
                .with_body(vec![b'x'; n]),
            _ => Response::new(400).with_body("N must be a number up to 64 MiB\n"),
        };
    }
    let body = format!("hello from h2proto: {} {}\n", req.method, req.path);
    Response::new(200)
        .with_header("content-type", "text/plain; charset=utf-8")
        .with_header("content-length", body.len().to_string())
        .with_body(body)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8080");
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(a)) => addr = a,
            _ => {
                eprintln!("usage: h2_server [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let server = match Server::bind(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("h2_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("h2_server: listening on http://{addr} (h2c, prior knowledge)");
    if let Err(e) = server.serve(handle) {
        eprintln!("h2_server: {e}");
        std::process::exit(1);
    }
}
