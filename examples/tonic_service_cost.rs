//! What the tonic generated `echo.Echo` service costs by itself, per unary
//! call, with no transport: the part of `tonic_echo_server`'s CPU per
//! request that is the same on h2proto and on tonic's transport
//! (docs/benchmarks.md, "axum and tonic on both transports").
//!
//! ```text
//! cargo run --release --example tonic_service_cost
//! ```
//!
//! Each call is what a transport does with the service: an
//! `http::Request` with the 12-byte gRPC body of `scripts/bench-peers.sh`,
//! `call`, then the response body read to its trailers. One thread.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tonic::{Request, Response, Status};
use tower_service::Service;

#[path = "../tests/tower_support/echo.rs"]
mod echo;

use echo::echo_server::{Echo, EchoServer};
use echo::{EchoRequest, EchoResponse};

/// The same service as `tonic_echo_server`'s.
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

const CALLS: u32 = 500_000;

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        let service = EchoServer::new(Echoer);
        let body = Bytes::from_static(b"\x00\x00\x00\x00\x07\x0a\x05hello");
        for round in 1..=3 {
            let started = std::time::Instant::now();
            for _ in 0..CALLS {
                let req = http::Request::post("http://127.0.0.1/echo.Echo/UnaryEcho")
                    .header("content-type", "application/grpc")
                    .header("te", "trailers")
                    .body(Full::new(body.clone()))?;
                let res = service.clone().call(req).await?;
                let all = res.into_body().collect().await?;
                if all.trailers().is_none() {
                    return Err("no trailers".into());
                }
            }
            let per_call = started.elapsed().as_secs_f64() * 1e6 / f64::from(CALLS);
            println!("round {round}: {per_call:.2} µs per call");
        }
        Ok(())
    })
}
