//! Deadlines on the tokio client's tower face (feature `tower`), on tokio's
//! paused clock: a request's `grpc-timeout` is its deadline and a tonic call
//! past it ends DEADLINE_EXCEEDED (before or after the response head); a
//! gRPC stream without `grpc-timeout` outlives the client's 30 s
//! `request_timeout`, which still bounds plain HTTP requests.
//!
//! The servers here ignore `grpc-timeout`, so what ends the calls is the
//! client's own deadline.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use h2proto::io::tokio::{
    Body, Client, ClientConfig, RecvBody, Server, ServerConfig, ServerHandle,
};
use http_body_util::BodyExt;
use tokio::time::Instant;
use tonic::{Code, Request, Status};
use tower_service::Service;

#[path = "tower_support/echo.rs"]
mod echo;

use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};
use echo::{EchoRequest, EchoResponse};

/// A tonic service that never answers.
struct Silent;

#[tonic::async_trait]
impl Echo for Silent {
    async fn unary_echo(
        &self,
        _: Request<EchoRequest>,
    ) -> Result<tonic::Response<EchoResponse>, Status> {
        std::future::pending().await
    }
}

fn server_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    // Only the timers under test may fire on virtual time.
    config.h2.settings_timeout = Duration::from_secs(86_400);
    config
}

/// The client's defaults (a 30 s `request_timeout`), but for the SETTINGS
/// timer, which virtual time would otherwise fire.
async fn client(server: &ServerHandle) -> Client {
    let mut config = ClientConfig::default();
    config.h2.settings_timeout = Duration::from_secs(86_400);
    assert_eq!(config.request_timeout, Some(Duration::from_secs(30)));
    Client::connect_with(server.local_addr(), config)
        .await
        .unwrap()
}

/// Waits (on virtual time) until the client has forgotten every stream.
async fn streams_freed(client: &Client) {
    for _ in 0..1000 {
        if client.live_streams() == 0 && client.tracked_streams() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "streams left: {} live, {} tracked",
        client.live_streams(),
        client.tracked_streams()
    );
}

#[tokio::test(start_paused = true)]
async fn a_tonic_call_past_its_timeout_before_the_head_is_deadline_exceeded() {
    let server = Server::bind_with("127.0.0.1:0", server_config())
        .await
        .unwrap()
        .serve_service(EchoServer::new(Silent));
    let client = client(&server).await;
    let mut echo = EchoClient::new(client.clone());
    let mut req = Request::new(EchoRequest {
        message: "hello?".into(),
    });
    req.set_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let status = echo.unary_echo(req).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    streams_freed(&client).await;
    // The server saw the reset: its core keeps no stream of the call.
    let mut left = server.stats();
    for _ in 0..1000 {
        if left.live_streams == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        left = server.stats();
    }
    assert_eq!(left.live_streams, 0, "{left:?}");
}

/// One gRPC message frame (uncompressed) of an `EchoResponse`.
fn grpc_message(text: &str) -> Bytes {
    use prost::Message;
    let message = EchoResponse {
        message: text.to_owned(),
    }
    .encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(message.len() as u32);
    frame.put_slice(&message);
    frame.freeze()
}

/// A plain HTTP server (it knows nothing of `grpc-timeout`):
/// - `/echo.Echo/Stalls`: a gRPC response with one message, then nothing;
/// - `/echo.Echo/Slow`: a gRPC response with a message every 10 s, ten in
///   all, then grpc-status 0;
/// - any other path: a plain body with a byte every 10 s, forever.
async fn plain_server() -> ServerHandle {
    Server::bind_with("127.0.0.1:0", server_config())
        .await
        .unwrap()
        .serve(|req| async move {
            let (mut tx, body) = Body::channel();
            let path = req.uri().path().to_owned();
            tokio::spawn(async move {
                match path.as_str() {
                    "/echo.Echo/Stalls" => {
                        let _ = tx.send(grpc_message("only one")).await;
                        // Held, never finished.
                        std::future::pending::<()>().await;
                    }
                    "/echo.Echo/Slow" => {
                        for i in 0..10 {
                            tokio::time::sleep(Duration::from_secs(10)).await;
                            if tx.send(grpc_message(&format!("tick {i}"))).await.is_err() {
                                return;
                            }
                        }
                        let _ = tx.send_trailers(grpc_ok()).await;
                    }
                    _ => {
                        while tx.send("x").await.is_ok() {
                            tokio::time::sleep(Duration::from_secs(10)).await;
                        }
                    }
                }
            });
            let mut response = http::Response::new(body);
            if req.uri().path().starts_with("/echo.Echo/") {
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/grpc"),
                );
            }
            response
        })
}

fn grpc_ok() -> http::HeaderMap {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    trailers
}

fn codec() -> tonic_prost::ProstCodec<EchoRequest, EchoResponse> {
    tonic_prost::ProstCodec::default()
}

#[tokio::test(start_paused = true)]
async fn a_tonic_stream_past_its_timeout_after_the_head_is_deadline_exceeded() {
    let server = plain_server().await;
    let client = client(&server).await;
    let mut grpc = tonic::client::Grpc::new(client.clone());
    grpc.ready().await.unwrap();
    let mut req = Request::new(EchoRequest {
        message: "go".into(),
    });
    req.set_timeout(Duration::from_secs(5));
    let started = Instant::now();
    let path = http::uri::PathAndQuery::from_static("/echo.Echo/Stalls");
    let mut stream = grpc
        .server_streaming(req, path, codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().message, "only one");
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(started.elapsed() >= Duration::from_secs(5));
    // Once reported, the stream is over.
    assert!(stream.message().await.unwrap().is_none());
    drop(stream);
    streams_freed(&client).await;
}

#[tokio::test(start_paused = true)]
async fn a_grpc_stream_without_grpc_timeout_outlives_the_request_timeout() {
    let server = plain_server().await;
    let client = client(&server).await;
    let mut grpc = tonic::client::Grpc::new(client.clone());
    grpc.ready().await.unwrap();
    let started = Instant::now();
    let path = http::uri::PathAndQuery::from_static("/echo.Echo/Slow");
    let req = Request::new(EchoRequest {
        message: "go".into(),
    });
    let mut stream = grpc
        .server_streaming(req, path, codec())
        .await
        .unwrap()
        .into_inner();
    for i in 0..10 {
        let m = stream.message().await.unwrap().unwrap();
        assert_eq!(m.message, format!("tick {i}"));
    }
    assert!(stream.message().await.unwrap().is_none());
    // 100 s: well past the client's 30 s request timeout.
    assert!(started.elapsed() >= Duration::from_secs(100));
    drop(stream);
    streams_freed(&client).await;
}

#[tokio::test(start_paused = true)]
async fn plain_http_through_the_tower_face_keeps_the_request_timeout() {
    let server = plain_server().await;
    let mut client = client(&server).await;
    let started = Instant::now();
    let req = http::Request::get("/trickle")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let res: http::Response<RecvBody> = client.call(req).await.unwrap();
    let err = res.into_body().collect().await.unwrap_err();
    assert!(matches!(err, h2proto::io::Error::Timeout), "{err:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(30) && elapsed < Duration::from_secs(31),
        "{elapsed:?}"
    );
    streams_freed(&client).await;
}

#[tokio::test(start_paused = true)]
async fn grpc_timeout_bounds_a_plain_request_too_as_a_transport_error() {
    let server = plain_server().await;
    let mut client = client(&server).await;
    let started = Instant::now();
    let req = http::Request::get("/trickle")
        .header("grpc-timeout", "3S")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let res: http::Response<RecvBody> = client.call(req).await.unwrap();
    let err = res.into_body().collect().await.unwrap_err();
    assert!(matches!(err, h2proto::io::Error::Timeout), "{err:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
}
