//! A tonic generated service served by h2proto's tokio server, called by a
//! tonic generated client running on h2proto's tokio client (feature
//! `tower`): unary calls, status errors with metadata, calls in parallel.

use std::time::Duration;

use h2proto::io::tokio::{Client, Server, ServerHandle};
use tonic::{Code, Request, Response, Status};

#[path = "tower_support/echo.rs"]
mod echo;

use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};
use echo::{EchoRequest, EchoResponse};

/// A hang guard for awaits that must complete (not a timing assertion).
async fn guard<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("hung")
}

/// Echoes the message; "fail" answers INVALID_ARGUMENT with metadata.
struct Echoer;

#[tonic::async_trait]
impl Echo for Echoer {
    async fn unary_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoResponse>, Status> {
        let from = request
            .metadata()
            .get("x-from")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nobody")
            .to_owned();
        let message = request.into_inner().message;
        if message == "fail" {
            let mut status = Status::invalid_argument("no failing here");
            status
                .metadata_mut()
                .insert("x-why", "asked-to".parse().unwrap());
            return Err(status);
        }
        let mut res = Response::new(EchoResponse {
            message: format!("{message} (from {from})"),
        });
        res.metadata_mut()
            .insert("x-served-by", "h2proto".parse().unwrap());
        Ok(res)
    }
}

async fn serve() -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(EchoServer::new(Echoer))
}

#[tokio::test]
async fn tonic_client_on_h2proto_calls_tonic_service_on_h2proto() {
    let server = serve().await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let mut echo = EchoClient::new(client);

    let mut req = Request::new(EchoRequest {
        message: "hello".into(),
    });
    req.metadata_mut().insert("x-from", "test".parse().unwrap());
    let res = guard(echo.unary_echo(req)).await.unwrap();
    assert_eq!(res.metadata().get("x-served-by").unwrap(), "h2proto");
    assert_eq!(res.into_inner().message, "hello (from test)");

    let err = guard(echo.unary_echo(EchoRequest {
        message: "fail".into(),
    }))
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "no failing here");
    assert_eq!(err.metadata().get("x-why").unwrap(), "asked-to");

    // A larger message than one frame, in both directions.
    let big = "b".repeat(200_000);
    let res = guard(echo.unary_echo(EchoRequest {
        message: big.clone(),
    }))
    .await
    .unwrap();
    assert_eq!(res.into_inner().message, format!("{big} (from nobody)"));
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn many_tonic_calls_in_parallel_share_one_connection() {
    let server = serve().await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let calls = (0..64).map(|i| {
        let mut echo = EchoClient::new(client.clone());
        tokio::spawn(async move {
            let res = echo
                .unary_echo(EchoRequest {
                    message: format!("m{i}"),
                })
                .await?;
            Ok::<_, Status>(res.into_inner().message)
        })
    });
    let calls: Vec<_> = calls.collect();
    for (i, call) in calls.into_iter().enumerate() {
        let message = guard(call).await.unwrap().unwrap();
        assert_eq!(message, format!("m{i} (from nobody)"));
    }
    assert_eq!(server.stats().connections, 1);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_tonic_call_to_an_unknown_method_is_unimplemented() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(EchoServer::new(Echoer));
    let client = Client::connect(server.local_addr()).await.unwrap();
    // The generated client only knows the real method: call another path.
    let mut grpc = tonic::client::Grpc::new(client);
    guard(grpc.ready()).await.unwrap();
    let codec = tonic_prost::ProstCodec::<EchoRequest, EchoResponse>::default();
    let path = http::uri::PathAndQuery::from_static("/echo.Echo/Missing");
    let err = guard(grpc.unary(
        Request::new(EchoRequest {
            message: "x".into(),
        }),
        path,
        codec,
    ))
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    server.shutdown(Duration::from_secs(1)).await;
}
