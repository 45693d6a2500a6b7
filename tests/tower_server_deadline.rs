//! The tower server enforces a gRPC request's `grpc-timeout` (feature
//! `tower`): tonic generated servers leave it to their transport. A
//! service that has not answered by then is answered DEADLINE_EXCEEDED; a
//! response body still streaming then is cut with DEADLINE_EXCEEDED
//! trailers. (grpc's interop case timeout_on_sleeping_server against the
//! tonic interop server on h2proto hung without it.)

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2proto::io::tokio::{Client, RecvBody, Server};
use http_body::Frame;
use http_body_util::BodyExt;
use tonic::{Code, Request, Response, Status};
use tower_service::Service;

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

/// Never answers.
struct Sleeper;

#[tonic::async_trait]
impl Echo for Sleeper {
    async fn unary_echo(&self, _: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn grpc_timeout_answers_deadline_exceeded_when_the_service_has_not_answered() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(EchoServer::new(Sleeper));
    let client = Client::connect(server.local_addr()).await.unwrap();
    let mut echo = EchoClient::new(client);
    let mut req = Request::new(EchoRequest {
        message: "hello".into(),
    });
    req.set_timeout(Duration::from_millis(50));
    let err = guard(echo.unary_echo(req)).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    server.shutdown(Duration::from_secs(1)).await;
}

/// Answers at once with one gRPC message, then a body that never ends.
#[derive(Clone)]
struct Streamer;

/// One data frame, then nothing, ever.
struct Endless(Option<Bytes>);

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.0.take() {
            Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            None => Poll::Pending,
        }
    }
}

impl Service<http::Request<RecvBody>> for Streamer {
    type Response = http::Response<Endless>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<http::Response<Endless>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<RecvBody>) -> Self::Future {
        let message = Bytes::from_static(b"\0\0\0\0\x02hi");
        let res = http::Response::builder()
            .header("content-type", "application/grpc")
            .body(Endless(Some(message)))
            .unwrap();
        std::future::ready(Ok(res))
    }
}

#[tokio::test]
async fn grpc_timeout_cuts_a_response_body_still_streaming() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(Streamer);
    let mut client = Client::connect(server.local_addr()).await.unwrap();
    // Long enough for the head and the first message to come first (the
    // server answers at once); the assertions are on what came, not when.
    let req = http::Request::post("/pkg.Svc/Stream")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "2S")
        .body(http_body_util::Full::new(Bytes::from_static(b"\0\0\0\0\0")))
        .unwrap();
    let res = guard(client.call(req)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().get("grpc-status").is_none(),
        "not trailers-only"
    );
    let mut body = res.into_body();
    let first = guard(body.frame()).await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), &b"\0\0\0\0\x02hi"[..]);
    let last = guard(body.frame()).await.unwrap().unwrap();
    let trailers = last.into_trailers().unwrap();
    assert_eq!(trailers.get("grpc-status").unwrap(), "4");
    assert!(guard(body.frame()).await.is_none());
    server.shutdown(Duration::from_secs(1)).await;
}
