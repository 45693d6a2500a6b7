//! A gRPC echo server, on h2proto's tokio adapter (the default: a
//! current_thread runtime per core; `ECHO_WORK_STEALING=1` for tokio's
//! multi-thread runtime) or its blocking one:
//!
//! ```text
//! package echo;
//! message EchoRequest { string message = 1; }
//! message EchoResponse { string message = 1; }
//! service Echo { rpc UnaryEcho(EchoRequest) returns (EchoResponse); }
//! ```
//!
//! ```sh
//! cargo run --release --example grpc_echo_server -- --addr 127.0.0.1:50051 [--runtime blocking|tokio]
//! ```
//!
//! Other paths end UNIMPLEMENTED; a request that does not decode ends
//! INVALID_ARGUMENT. With `ECHO_WORK_STEALING=1 ECHO_STATS=1` it prints each
//! connection's core stats, memory budget and busy calls every second (what
//! a server holds for a client that does not read, say).

use bytes::Bytes;
use h2proto::grpc::{Code, Metadata, Status};
use prost::Message;

/// `echo.EchoRequest`. The `string` field is held as `Bytes` (the same
/// bytes on the wire): decoding then slices the received message instead of
/// copying it (see `echo` for the response).
#[derive(Clone, PartialEq, prost::Message)]
struct EchoRequest {
    #[prost(bytes = "bytes", tag = "1")]
    message: Bytes,
}

/// `echo.EchoResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct EchoResponse {
    #[prost(bytes = "bytes", tag = "1")]
    message: Bytes,
}

const PATH: &str = "/echo.Echo/UnaryEcho";

/// The method itself, for both runtimes.
fn echo(request: Bytes) -> Result<Bytes, Status> {
    let req = EchoRequest::decode(request.clone())
        .map_err(|e| Status::new(Code::INVALID_ARGUMENT, format!("bad request: {e}")))?;
    if std::str::from_utf8(&req.message).is_err() {
        return Err(Status::new(Code::INTERNAL, "message is not UTF-8"));
    }
    let resp = EchoResponse {
        message: req.message,
    };
    // Both messages are field 1 as bytes: a request holding just that
    // field, canonically encoded (the same length as our encoding: no
    // unknown or repeated fields, no padded lengths), is byte for byte the
    // response. Sending it back costs no allocation, and keeps a large
    // request's memory (and its flow-control credit) until it is written.
    if resp.encoded_len() == request.len() {
        return Ok(request);
    }
    Ok(resp.encode_to_vec().into())
}

#[path = "support/per_core.rs"]
mod per_core;

fn main() {
    let (mut addr, mut tokio) = ("127.0.0.1:50051".to_owned(), true);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let value = value.or_else(|| args.next()).unwrap_or_default();
        match name.as_str() {
            "--addr" => addr = value,
            "--runtime" => match value.as_str() {
                "tokio" => tokio = true,
                "blocking" => tokio = false,
                other => {
                    eprintln!("--runtime {other:?}: blocking or tokio");
                    std::process::exit(2);
                }
            },
            other => {
                eprintln!(
                    "unknown flag {other}; usage: --addr HOST:PORT [--runtime blocking|tokio]"
                );
                std::process::exit(2);
            }
        }
    }
    if tokio {
        serve_tokio(&addr);
    } else {
        serve_blocking(&addr);
    }
}

fn serve_tokio(addr: &str) {
    // ECHO_WORK_STEALING=1: tokio's multi-thread runtime instead.
    if std::env::var_os("ECHO_WORK_STEALING").is_none() {
        return serve_per_core(addr);
    }
    use h2proto::io::tokio::grpc::Server;
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(async {
        let server = Server::builder()
            .unary(PATH, |_ctx, request| async move { echo(request) })
            .bind(addr)
            .await;
        // Kept: dropping the handle would stop the server.
        let server = match server {
            Ok(s) => {
                println!("echo server (tokio) listening on {}", s.local_addr());
                s
            }
            Err(e) => {
                eprintln!("cannot serve on {addr}: {e}");
                std::process::exit(1);
            }
        };
        if std::env::var_os("ECHO_STATS").is_some() {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                for (c, b) in server.connection_stats().iter().zip(server.budget_stats()) {
                    eprintln!(
                        "core: recv_unreleased {} recv_window {} queued {} live {:?}; budget {b:?}",
                        c.recv_unreleased, c.recv_window, c.queued_data, c.streams
                    );
                }
                for st in server
                    .call_stats()
                    .iter()
                    .filter(|s| s.partial + s.parked + s.send_queued > 0)
                {
                    eprintln!("  {st:?}");
                }
            }
        }
        std::future::pending::<()>().await;
    });
}

/// The default tokio layout: a current_thread runtime per core
/// (`support/per_core.rs`).
fn serve_per_core(addr: &str) {
    use h2proto::io::tokio::grpc::Server;
    println!("echo server (tokio, a runtime per core) listening on {addr}");
    let result = per_core::run(addr, |listener| async move {
        match Server::builder()
            .unary(PATH, |_ctx, request| async move { echo(request) })
            .serve(listener)
        {
            // Kept: dropping the handle would stop the server.
            Ok(_server) => std::future::pending::<()>().await,
            Err(e) => eprintln!("cannot serve: {e}"),
        }
    });
    if let Err(e) = result {
        eprintln!("cannot serve on {addr}: {e}");
        std::process::exit(1);
    }
}

fn serve_blocking(addr: &str) {
    use h2proto::io::blocking::grpc::{Server, ServerCall};
    let handler = |mut call: ServerCall| {
        if call.path() != PATH {
            let _ = call.unimplemented();
            return;
        }
        let status = match call.recv() {
            Ok(Some((request, _))) => match echo(request) {
                Ok(response) => match call.send(response) {
                    Ok(()) => Status::ok(),
                    Err(_) => return,
                },
                Err(status) => status,
            },
            Ok(None) => Status::new(Code::INTERNAL, "no request message"),
            Err(_) => return,
        };
        let _ = call.finish(status, Metadata::new());
    };
    match Server::bind(addr).and_then(|s| s.spawn(handler)) {
        Ok(server) => {
            println!(
                "echo server (blocking) listening on {}",
                server.local_addr()
            );
            server.wait();
        }
        Err(e) => {
            eprintln!("cannot serve on {addr}: {e}");
            std::process::exit(1);
        }
    }
}
