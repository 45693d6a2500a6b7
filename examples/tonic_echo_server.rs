//! The tonic generated `echo.Echo` service (the `echo.proto` of
//! `grpc_echo_server`) on either HTTP/2 transport: h2proto's tokio server
//! (`Server::serve_service`, feature `tower`) or tonic's own
//! (`tonic::transport::Server`, hyper and h2 underneath). Same service code,
//! same runtime layout: a current_thread runtime per core, every one
//! accepting from one listening socket (`support/per_core.rs`);
//! `ECHO_WORK_STEALING=1` runs either on tokio's multi-thread runtime instead.
//!
//! ```text
//! cargo run --release --example tonic_echo_server -- --addr 127.0.0.1:50051 --transport h2proto
//! cargo run --release --example tonic_echo_server -- --addr 127.0.0.1:50052 --transport tonic
//! ```
//!
//! Both serve cleartext HTTP/2 with prior knowledge (h2c), TCP_NODELAY on
//! accepted sockets. `scripts/bench-peers.sh` loads the two with h2load.

use tonic::{Request, Response, Status};

#[path = "../tests/tower_support/echo.rs"]
mod echo;
#[path = "support/per_core.rs"]
mod per_core;

use echo::echo_server::{Echo, EchoServer};
use echo::{EchoRequest, EchoResponse};

const USAGE: &str = "usage: tonic_echo_server [--addr HOST:PORT] [--transport h2proto|tonic]";

/// `UnaryEcho`: the request's message back.
struct Echoer;

#[tonic::async_trait]
impl Echo for Echoer {
    async fn unary_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            message: request.into_inner().message,
        }))
    }
}

#[derive(Clone, Copy)]
enum Transport {
    H2proto,
    Tonic,
}

/// Serves on `listener` until the process ends.
async fn serve(listener: tokio::net::TcpListener, transport: Transport) {
    match transport {
        Transport::H2proto => {
            use h2proto::io::tokio::{Server, ServerConfig};
            // Kept: dropping the handle would stop the server.
            let _server = Server::from_listener(listener, ServerConfig::default())
                .serve_service(EchoServer::new(Echoer));
            std::future::pending::<()>().await;
        }
        Transport::Tonic => {
            use tonic::transport::server::TcpIncoming;
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            let served = tonic::transport::Server::builder()
                .add_service(EchoServer::new(Echoer))
                .serve_with_incoming(incoming)
                .await;
            if let Err(e) = served {
                eprintln!("tonic: {e}");
                std::process::exit(1);
            }
        }
    }
}

fn main() {
    let (mut addr, mut transport) = ("127.0.0.1:50051".to_owned(), Transport::H2proto);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        let Some(value) = value.or_else(|| args.next()) else {
            eprintln!("{USAGE}");
            std::process::exit(2);
        };
        match (flag.as_str(), value.as_str()) {
            ("--addr", _) => addr = value,
            ("--transport", "h2proto") => transport = Transport::H2proto,
            ("--transport", "tonic") => transport = Transport::Tonic,
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2);
            }
        }
    }
    let name = match transport {
        Transport::H2proto => "h2proto",
        Transport::Tonic => "tonic",
    };
    let result = if std::env::var_os("ECHO_WORK_STEALING").is_some() {
        println!("{name} serving tonic echo.Echo on {addr} (multi-thread runtime)");
        work_stealing(&addr, transport)
    } else {
        println!("{name} serving tonic echo.Echo on {addr} (a runtime per core)");
        per_core::run(&addr, move |listener| serve(listener, transport))
    };
    if let Err(e) = result {
        eprintln!("cannot serve on {addr}: {e}");
        std::process::exit(1);
    }
}

/// tokio's multi-thread runtime, one listener.
fn work_stealing(addr: &str, transport: Transport) -> std::io::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        serve(listener, transport).await;
        Ok(())
    })
}
