//! A gRPC server of `echo.Echo/UnaryEcho`, the gRPC side of
//! `scripts/bench-peers.sh` (compared there with a tonic server of the same
//! service, `benches/peers/tonic_echo`).
//!
//! ```sh
//! cargo run --release --example grpc_echo_server -- --addr 127.0.0.1:50051
//! ```
//!
//! `--runtime blocking` (the default) serves on the blocking gRPC adapter
//! (`h2proto::io::blocking::grpc`); `--runtime tokio` is reserved for the
//! tokio adapter, not built yet (it exits 2).
//!
//! The service, with hand-written `prost` messages of the same field numbers:
//!
//! ```proto
//! syntax = "proto3";
//! package echo;
//! service Echo { rpc UnaryEcho(EchoRequest) returns (EchoResponse); }
//! message EchoRequest { string message = 1; }
//! message EchoResponse { string message = 1; }
//! ```

use h2proto::grpc::{Code, Metadata, Status};
use h2proto::io::blocking::grpc::{Server, ServerCall};
use prost::Message;

/// `echo.EchoRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRequest {
    #[prost(string, tag = "1")]
    pub message: String,
}

/// `echo.EchoResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoResponse {
    #[prost(string, tag = "1")]
    pub message: String,
}

/// One call: a unary echo, anything else UNIMPLEMENTED.
fn handle(mut call: ServerCall) {
    if call.path() != "/echo.Echo/UnaryEcho" {
        let _ = call.unimplemented();
        return;
    }
    let request = match call.recv() {
        Ok(Some((bytes, _))) => EchoRequest::decode(bytes),
        Ok(None) => {
            let status = Status::new(Code::UNIMPLEMENTED, "unary call without a request");
            let _ = call.finish(status, Metadata::new());
            return;
        }
        Err(_) => return,
    };
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            let status = Status::new(Code::INTERNAL, format!("bad EchoRequest: {e}"));
            let _ = call.finish(status, Metadata::new());
            return;
        }
    };
    // A unary call has exactly one request: wait for the half-close.
    match call.recv() {
        Ok(None) => {}
        Ok(Some(_)) => {
            let status = Status::new(Code::UNIMPLEMENTED, "more than one request message");
            let _ = call.finish(status, Metadata::new());
            return;
        }
        Err(_) => return,
    }
    let response = EchoResponse {
        message: request.message,
    };
    if call.send(response.encode_to_vec().into()).is_ok() {
        let _ = call.finish(Status::ok(), Metadata::new());
    }
}

fn usage() -> ! {
    eprintln!("usage: grpc_echo_server [--addr HOST:PORT] [--runtime blocking|tokio]");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:50051");
    let mut runtime = String::from("blocking");
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(a)) => addr = a,
            ("--runtime", Some(r)) => runtime = r,
            _ => usage(),
        }
    }
    match runtime.as_str() {
        "blocking" => {}
        "tokio" => {
            eprintln!("tokio runtime not built yet");
            std::process::exit(2);
        }
        _ => usage(),
    }
    let server = match Server::bind(&addr).and_then(|s| s.spawn(handle)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("grpc_echo_server: cannot serve on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "grpc_echo_server: listening on http://{} (h2c, {runtime})",
        server.local_addr()
    );
    server.wait();
}
