//! A tonic + prost gRPC server of `echo.Echo/UnaryEcho` (proto/echo.proto),
//! a baseline peer of `scripts/bench-peers.sh`: a multi-thread tokio runtime
//! (default workers), cleartext HTTP/2, the response echoes the request's
//! message.

use tonic::{Request, Response, Status, transport::Server};

mod pb {
    tonic::include_proto!("echo");
}

use pb::echo_server::{Echo, EchoServer};
use pb::{EchoRequest, EchoResponse};

struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            message: request.into_inner().message,
        }))
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:50051");
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(a)) => addr = a,
            _ => {
                eprintln!("usage: tonic_echo [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let sock = addr.parse().unwrap_or_else(|e| {
        eprintln!("tonic_echo: bad address {addr}: {e}");
        std::process::exit(2);
    });
    eprintln!("tonic_echo: listening on http://{addr} (h2c)");
    if let Err(e) = Server::builder()
        .add_service(EchoServer::new(EchoService))
        .serve(sock)
        .await
    {
        eprintln!("tonic_echo: {e}");
        std::process::exit(1);
    }
}
