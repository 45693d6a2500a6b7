//! The tokio `Channel` as a tower service (feature `tower`): a tonic
//! generated client on a channel over two backends with round_robin, one
//! killed mid-test; refused requests replayed, their bodies included.

use std::time::Duration;

use bytes::Bytes;
use h2proto::channel::{ConnectParams, ConnectivityState};
use h2proto::io::tokio::channel::{Channel, ChannelConfig};
use h2proto::io::tokio::{Server, ServerHandle};
use http_body_util::BodyExt;
use tonic::{Request, Response, Status};
use tower_service::Service;

#[path = "tower_support/echo.rs"]
mod echo;
#[path = "channel_support/refuser.rs"]
mod refuser;

use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};
use echo::{EchoRequest, EchoResponse};

/// A hang guard for awaits that must complete (not a timing assertion).
async fn guard<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("hung")
}

/// Answers with its name.
struct Named(&'static str);

#[tonic::async_trait]
impl Echo for Named {
    async fn unary_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoResponse>, Status> {
        let message = request.into_inner().message;
        Ok(Response::new(EchoResponse {
            message: format!("{}:{message}", self.0),
        }))
    }
}

async fn serve(name: &'static str) -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(EchoServer::new(Named(name)))
}

fn config() -> ChannelConfig {
    let mut c = ChannelConfig::round_robin();
    c.channel.connect = ConnectParams {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..ConnectParams::default()
    };
    c
}

async fn all_ready(ch: &Channel) {
    ch.connect();
    guard(async {
        while ch
            .subchannels()
            .iter()
            .any(|s| s.state != ConnectivityState::Ready)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_client_on_a_channel_spreads_and_survives_a_backend() {
    let a = serve("a").await;
    let b = serve("b").await;
    let target = format!("ipv4:{},{}", a.local_addr(), b.local_addr());
    let ch = Channel::new_http(&target, config()).unwrap();
    all_ready(&ch).await;
    let mut echo = EchoClient::new(ch.clone());
    let mut by = std::collections::BTreeMap::new();
    for i in 0..20 {
        let res = guard(echo.unary_echo(EchoRequest {
            message: format!("m{i}"),
        }))
        .await
        .unwrap();
        let m = res.into_inner().message;
        assert!(m.ends_with(&format!(":m{i}")), "{m}");
        *by.entry(m[..1].to_owned()).or_insert(0) += 1;
    }
    assert_eq!(by.values().copied().collect::<Vec<_>>(), [10, 10], "{by:?}");

    // a goes away while calls run: none fails, and after it is gone all
    // go to b.
    let mut busy = EchoClient::new(ch.clone());
    let calls = tokio::spawn(async move {
        let mut seen = Vec::new();
        for i in 0..200 {
            let res = busy
                .unary_echo(EchoRequest {
                    message: format!("k{i}"),
                })
                .await?;
            seen.push(res.into_inner().message);
        }
        Ok::<_, Status>(seen)
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.shutdown(Duration::from_secs(1)).await;
    let seen = guard(calls)
        .await
        .unwrap()
        .expect("no call fails while a goes");
    assert_eq!(seen.len(), 200);
    for i in 0..20 {
        let res = guard(echo.unary_echo(EchoRequest {
            message: format!("n{i}"),
        }))
        .await
        .expect("no call fails with a backend gone");
        assert_eq!(res.into_inner().message, format!("b:n{i}"));
    }
    // The gRPC call API is not this channel's.
    let e = ch
        .unary("/echo.Echo/UnaryEcho", Bytes::new(), Default::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_status().code(),
        h2proto::grpc::Code::FAILED_PRECONDITION
    );
    b.shutdown(Duration::from_secs(1)).await;
}

/// Requests refused after their body started are sent again on the other
/// backend with the whole body (tonic's, and a streamed one of several
/// frames); a body past the replay cap is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tower_requests_are_replayed_with_their_body() {
    use std::sync::atomic::Ordering::SeqCst;
    let (bad, refused) = refuser::refuser_on(true);
    let a = serve("a").await;
    let ch = Channel::new_http(&format!("ipv4:{bad},{}", a.local_addr()), config()).unwrap();
    all_ready(&ch).await;
    let mut echo = EchoClient::new(ch.clone());
    for i in 0..8 {
        let res = guard(echo.unary_echo(EchoRequest {
            message: format!("m{i}"),
        }))
        .await
        .unwrap();
        assert_eq!(res.into_inner().message, format!("a:m{i}"));
    }
    assert!(refused.load(SeqCst) >= 3, "the refuser got its turns");

    // An HTTP echo behind the same channel kind: a body of three frames
    // refused after its first frame, arrives whole.
    let app = axum::Router::new().route(
        "/echo",
        axum::routing::post(|body: axum::body::Body| async move { body }),
    );
    let e = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(app);
    let (bad2, refused2) = refuser::refuser_on(true);
    let mut ch2 = Channel::new_http(&format!("ipv4:{bad2},{}", e.local_addr()), config()).unwrap();
    all_ready(&ch2).await;
    for _ in 0..4 {
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, std::io::Error>>(4);
        let body = http_body_util::StreamBody::new(tokio_stream(rx));
        let req = http::Request::post("/echo").body(body).unwrap();
        ready(&mut ch2, &req).await;
        let res = Service::call(&mut ch2, req);
        for part in ["one ", "two ", "three"] {
            tx.send(Ok(http_body::Frame::data(Bytes::from(part))))
                .await
                .unwrap();
        }
        drop(tx);
        let res = guard(res).await.unwrap();
        assert_eq!(res.status(), 200);
        let got = guard(res.into_body().collect()).await.unwrap().to_bytes();
        assert_eq!(&got[..], b"one two three");
    }
    assert!(
        refused2.load(SeqCst) >= 1,
        "a refusal after the first frame"
    );

    // Past the cap (4 bytes per call): not replayed, the refusal is the error.
    let mut small = config();
    small.channel.replay_per_call = 4;
    let (bad3, refused3) = refuser::refuser_on(true);
    let mut only = Channel::new_http(&format!("ipv4:{bad3}"), small).unwrap();
    let req = http::Request::post("/echo")
        .body(http_body_util::Full::new(Bytes::from("too long")))
        .unwrap();
    let err = guard(Service::call(&mut only, req)).await.unwrap_err();
    assert!(err.is_unprocessed(), "{err}");
    assert_eq!(refused3.load(SeqCst), 1, "not sent again");
    let req = http::Request::post("/echo")
        .body(http_body_util::Full::new(Bytes::from("ok")))
        .unwrap();
    guard(Service::call(&mut only, req)).await.unwrap_err();
    assert_eq!(refused3.load(SeqCst), 3, "under the cap: sent again once");
    a.shutdown(Duration::from_secs(1)).await;
    e.shutdown(Duration::from_secs(1)).await;
}

/// `poll_ready` for this request type.
async fn ready<B>(ch: &mut Channel, _: &http::Request<B>)
where
    Channel: Service<http::Request<B>, Error = h2proto::io::Error>,
{
    std::future::poll_fn(|cx| Service::<http::Request<B>>::poll_ready(ch, cx))
        .await
        .unwrap();
}

/// An mpsc receiver as a stream of body frames.
fn tokio_stream<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::stream::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Fail-fast and wait-for-ready through the tower face: with no backend, a
/// call fails at once (UNAVAILABLE in the message: tonic reports a
/// transport error as UNKNOWN); with `WaitForReady` it waits, bounded by
/// its `grpc-timeout`, and succeeds once the backend comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_calls_fail_fast_or_wait_for_ready() {
    use h2proto::io::tokio::channel::WaitForReady;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = l.local_addr().unwrap();
    drop(l);
    let ch = Channel::new_http(&format!("ipv4:{dead}"), config()).unwrap();
    let mut echo = EchoClient::new(ch.clone());
    let req = || EchoRequest {
        message: "x".into(),
    };
    let e = guard(echo.unary_echo(req())).await.unwrap_err();
    assert!(e.message().contains("UNAVAILABLE"), "{e:?}");

    let mut waiting = Request::new(req());
    waiting.extensions_mut().insert(WaitForReady);
    waiting.set_timeout(Duration::from_millis(300));
    let e = guard(echo.unary_echo(waiting)).await.unwrap_err();
    assert!(e.message().contains("DEADLINE_EXCEEDED"), "{e:?}");

    let mut late = EchoClient::new(ch.clone());
    let call = tokio::spawn(async move {
        let mut waiting = Request::new(EchoRequest {
            message: "late".into(),
        });
        waiting.extensions_mut().insert(WaitForReady);
        late.unary_echo(waiting).await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let s = Server::bind(dead)
        .await
        .unwrap()
        .serve_service(EchoServer::new(Named("late")));
    let res = guard(call).await.unwrap().unwrap();
    assert_eq!(res.into_inner().message, "late:late");
    s.shutdown(Duration::from_secs(1)).await;
}
