//! The tower face (feature `tower`): an axum `Router` served by h2proto and
//! called by h2proto's own client (plain and as a tower service) and by
//! hyper; the same router served by hyper and called through h2proto's
//! tower client; trailers both ways, service errors, `poll_ready`, and
//! cancellation by dropping a response body.

use std::convert::Infallible;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::Path;
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::{get, post};
use bytes::Bytes;
use h2proto::io::tokio::{Body, Client, RecvBody, Server, ServerHandle};

mod http_support;
use http::{HeaderMap, HeaderValue, Uri};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, Full};
#[allow(unused_imports)]
use http_support::{header, request, response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tower_service::Service;

/// A hang guard for awaits that must complete (not a timing assertion).
const GUARD: Duration = Duration::from_secs(20);

async fn guard<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(GUARD, f).await.expect("hung")
}

/// Collects a request's body and answers with it and a trailer `x-echo`
/// holding the request's trailer `x-req` ("none" without one).
async fn trailers(body: AxumBody) -> AxumResponse {
    let collected = body.collect().await.expect("request body");
    let got = collected
        .trailers()
        .and_then(|t| t.get("x-req").cloned())
        .unwrap_or(HeaderValue::from_static("none"));
    let mut t = HeaderMap::new();
    t.insert("x-echo", got);
    let body = Full::new(collected.to_bytes()).with_trailers(async move { Some(Ok(t)) });
    AxumBody::new(body).into_response()
}

/// The routes: GET / text, POST /echo streams the body back, GET /bytes/N,
/// GET /uri the request's URI as the service saw it, POST /trailers.
fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/echo", post(|body: AxumBody| async move { body }))
        .route(
            "/bytes/{n}",
            get(|Path(n): Path<usize>| async move { vec![b'x'; n] }),
        )
        .route("/uri", get(|uri: Uri| async move { uri.to_string() }))
        .route("/trailers", post(trailers))
}

async fn serve(app: Router) -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .serve_service(app)
}

/// Calls a tower service once it is ready.
async fn call<S, R>(svc: &mut S, req: R) -> Result<S::Response, S::Error>
where
    S: Service<R>,
{
    poll_fn(|cx| svc.poll_ready(cx)).await?;
    svc.call(req).await
}

fn empty() -> Empty<Bytes> {
    Empty::new()
}

#[tokio::test]
async fn axum_on_h2proto_with_h2proto_client() {
    let server = serve(app()).await;
    let addr = server.local_addr();
    let client = Client::connect(addr).await.unwrap();

    let res = client.get("/").await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(&res.body()[..], b"hello");
    assert_eq!(
        header(&res, "content-type"),
        Some(&b"text/plain; charset=utf-8"[..])
    );

    // Larger than the stream windows: flow control and the pump at work.
    let res = client.get("/bytes/300000").await.unwrap();
    assert_eq!(res.body().len(), 300_000);
    assert!(res.body().iter().all(|&b| b == b'x'));

    let res = client.get("/uri?x=1").await.unwrap();
    assert_eq!(res.body(), format!("http://{addr}/uri?x=1").as_bytes());

    let res = client.get("/nowhere").await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn echo_streams_each_chunk_back_before_the_request_ends() {
    let server = serve(app()).await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let (mut tx, body) = Body::channel();
    let response = client.send_request(request("POST", "/echo", body));
    tx.send("first").await.unwrap();
    let mut res = guard(response).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    // The request is still open: the echo of the first chunk comes anyway.
    let mut got = Vec::new();
    while got.len() < 5 {
        got.extend_from_slice(&guard(res.body_mut().chunk()).await.unwrap().unwrap());
    }
    assert_eq!(got, b"first");
    tx.send("second").await.unwrap();
    tx.finish().await.unwrap();
    let rest = guard(RecvBody::collect(res.body_mut(), 1 << 20))
        .await
        .unwrap();
    assert_eq!(&rest[..], b"second");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn trailers_both_ways_through_the_tower_client() {
    let server = serve(app()).await;
    let mut client = Client::connect(server.local_addr()).await.unwrap();
    let mut t = HeaderMap::new();
    t.insert("x-req", HeaderValue::from_static("sent"));
    let body = Full::new(Bytes::from_static(b"payload")).with_trailers(async move { Some(Ok(t)) });
    let req = http::Request::post("/trailers").body(body).unwrap();
    let res = guard(call(&mut client, req)).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.version(), http::Version::HTTP_2);
    let collected = guard(res.into_body().collect()).await.unwrap();
    assert_eq!(collected.trailers().unwrap()["x-echo"], "sent");
    assert_eq!(&collected.to_bytes()[..], b"payload");

    // Without request trailers.
    let req = http::Request::post("/trailers")
        .body(Full::new(Bytes::from_static(b"plain")))
        .unwrap();
    let res = guard(call(&mut client, req)).await.unwrap();
    let collected = guard(res.into_body().collect()).await.unwrap();
    assert_eq!(collected.trailers().unwrap()["x-echo"], "none");
    assert_eq!(&collected.to_bytes()[..], b"plain");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn tower_client_streams_a_request_body_and_reads_frames() {
    let server = serve(app()).await;
    let mut client = Client::connect(server.local_addr()).await.unwrap();
    // A request body fed from a channel: not ready when the call is made.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let body = http_body_util::StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async {
        let data = rx.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(data)), rx))
    }));
    let req = http::Request::post("http://ignored.example/echo")
        .body(body)
        .unwrap();
    let res = call(&mut client, req);
    tx.send(Bytes::from_static(b"one")).await.unwrap();
    let res = guard(res).await.unwrap();
    let mut body = res.into_body();
    let frame = guard(body.frame()).await.unwrap().unwrap();
    assert_eq!(&frame.into_data().unwrap()[..], b"one");
    tx.send(Bytes::from_static(b"two")).await.unwrap();
    drop(tx);
    let rest = guard(body.collect()).await.unwrap();
    assert!(rest.trailers().is_none());
    assert_eq!(&rest.to_bytes()[..], b"two");
    server.shutdown(Duration::from_secs(1)).await;
}

async fn hyper_client(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http2::SendRequest<http_body_util::combinators::BoxBody<Bytes, Infallible>>
{
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

#[tokio::test]
async fn axum_on_h2proto_with_hyper_client() {
    let server = serve(app()).await;
    let addr = server.local_addr();
    let mut hyper = hyper_client(addr).await;
    let req = http::Request::get(format!("http://{addr}/"))
        .body(empty().boxed())
        .unwrap();
    let res = guard(hyper.send_request(req)).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body = guard(res.into_body().collect()).await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");

    let req = http::Request::get(format!("http://{addr}/bytes/200000"))
        .body(empty().boxed())
        .unwrap();
    let res = guard(hyper.send_request(req)).await.unwrap();
    let body = guard(res.into_body().collect()).await.unwrap().to_bytes();
    assert_eq!(body.len(), 200_000);

    let mut t = HeaderMap::new();
    t.insert("x-req", HeaderValue::from_static("from-hyper"));
    let body = Full::new(Bytes::from_static(b"abc")).with_trailers(async move { Some(Ok(t)) });
    let req = http::Request::post(format!("http://{addr}/trailers"))
        .body(body.boxed())
        .unwrap();
    let res = guard(hyper.send_request(req)).await.unwrap();
    let collected = guard(res.into_body().collect()).await.unwrap();
    assert_eq!(collected.trailers().unwrap()["x-echo"], "from-hyper");
    assert_eq!(&collected.to_bytes()[..], b"abc");

    let big = Bytes::from(vec![7u8; 150_000]);
    let req = http::Request::post(format!("http://{addr}/echo"))
        .body(Full::new(big.clone()).boxed())
        .unwrap();
    let res = guard(hyper.send_request(req)).await.unwrap();
    let echoed = guard(res.into_body().collect()).await.unwrap().to_bytes();
    assert_eq!(echoed, big);
    server.shutdown(Duration::from_secs(1)).await;
}

/// Serves `app` with hyper's HTTP/2 server on a loopback port.
async fn hyper_server(app: Router) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let app = app.clone();
            let svc =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    app.clone().call(req)
                });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc),
            );
        }
    });
    addr
}

#[tokio::test]
async fn h2proto_tower_client_against_axum_on_hyper() {
    let addr = hyper_server(app()).await;
    let mut client = Client::connect(addr).await.unwrap();
    let res = guard(call(
        &mut client,
        http::Request::get("/").body(empty()).unwrap(),
    ))
    .await
    .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body = guard(res.into_body().collect()).await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");

    let req = http::Request::get("/bytes/250000").body(empty()).unwrap();
    let res = guard(call(&mut client, req)).await.unwrap();
    let body = guard(res.into_body().collect()).await.unwrap().to_bytes();
    assert_eq!(body.len(), 250_000);

    let mut t = HeaderMap::new();
    t.insert("x-req", HeaderValue::from_static("to-hyper"));
    let body = Full::new(Bytes::from_static(b"xyz")).with_trailers(async move { Some(Ok(t)) });
    let req = http::Request::post("/trailers").body(body).unwrap();
    let res = guard(call(&mut client, req)).await.unwrap();
    let collected = guard(res.into_body().collect()).await.unwrap();
    assert_eq!(collected.trailers().unwrap()["x-echo"], "to-hyper");
    assert_eq!(&collected.to_bytes()[..], b"xyz");
}

/// A service that fails every call.
#[derive(Clone)]
struct Failing;

impl Service<http::Request<RecvBody>> for Failing {
    type Response = http::Response<Full<Bytes>>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<RecvBody>) -> Self::Future {
        std::future::ready(Err(std::io::Error::other("no")))
    }
}

#[tokio::test]
async fn a_service_error_answers_500_and_the_connection_goes_on() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(Failing);
    let client = Client::connect(server.local_addr()).await.unwrap();
    for _ in 0..2 {
        let res = guard(client.get("/")).await.unwrap();
        assert_eq!(res.status().as_u16(), 500);
        assert!(res.body().is_empty());
    }
    server.shutdown(Duration::from_secs(1)).await;
}

/// A response body that fails after its first frame.
struct FailsLater(bool);

impl http_body::Body for FailsLater {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(Some(Err(std::io::Error::other("broken"))))
        } else {
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"partial")))))
        }
    }
}

#[tokio::test]
async fn a_body_error_after_the_headers_resets_the_stream() {
    let app = Router::new().route(
        "/",
        get(|| async { AxumBody::new(FailsLater(false)).into_response() }),
    );
    let server = serve(app).await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    // The reset may overtake the head (a reset stream's queued frames are
    // dropped): either the head or the body fails, never a normal end.
    let err = match guard(client.send_request(request("GET", "/", Body::empty()))).await {
        Err(e) => e,
        Ok(mut res) => {
            assert_eq!(res.status().as_u16(), 200);
            loop {
                match guard(res.body_mut().chunk()).await {
                    Some(Ok(c)) => assert_eq!(&c[..], &b"partial"[..c.len()]),
                    Some(Err(e)) => break e,
                    None => panic!("the body ended normally"),
                }
            }
        }
    };
    assert!(
        matches!(
            err,
            h2proto::io::Error::PeerReset(h2proto::frame::Reason::CANCEL)
        ),
        "{err:?}"
    );
    // The connection goes on.
    assert_eq!(guard(client.get("/nowhere")).await.unwrap().status(), 404);
    server.shutdown(Duration::from_secs(1)).await;
}

/// A service that is ready only once its gate opens; counts calls.
#[derive(Clone)]
struct Gated {
    open: Arc<Mutex<(bool, Vec<Waker>)>>,
    polled: Arc<Notify>,
    calls: Arc<AtomicUsize>,
}

impl Service<http::Request<RecvBody>> for Gated {
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        let mut open = self.open.lock().unwrap();
        if open.0 {
            return Poll::Ready(Ok(()));
        }
        open.1.push(cx.waker().clone());
        self.polled.notify_one();
        Poll::Pending
    }

    fn call(&mut self, _: http::Request<RecvBody>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(http::Response::new(Full::new(Bytes::from_static(
            b"through",
        )))))
    }
}

#[tokio::test]
async fn poll_ready_holds_requests_until_the_service_is_ready() {
    let gated = Gated {
        open: Arc::default(),
        polled: Arc::default(),
        calls: Arc::default(),
    };
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(gated.clone());
    let client = Client::connect(server.local_addr()).await.unwrap();
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.get("/").await }
    });
    // The request reached the service, which said "not ready".
    guard(gated.polled.notified()).await;
    assert_eq!(gated.calls.load(Ordering::SeqCst), 0);
    assert!(!pending.is_finished());
    let wakers = {
        let mut open = gated.open.lock().unwrap();
        open.0 = true;
        std::mem::take(&mut open.1)
    };
    wakers.into_iter().for_each(Waker::wake);
    let res = guard(pending).await.unwrap().unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(&res.body()[..], b"through");
    assert_eq!(gated.calls.load(Ordering::SeqCst), 1);
    server.shutdown(Duration::from_secs(1)).await;
}

/// Notifies when dropped.
struct DropSignal(Arc<Notify>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// An endless response body that signals when it is dropped.
struct Endless {
    _dropped: DropSignal,
}

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'e'; 16 * 1024])))))
    }
}

#[tokio::test]
async fn dropping_the_response_body_cancels_the_stream() {
    let dropped = Arc::new(Notify::new());
    let app = Router::new().route(
        "/endless",
        get({
            let dropped = dropped.clone();
            move || async move {
                AxumBody::new(Endless {
                    _dropped: DropSignal(dropped),
                })
                .into_response()
            }
        }),
    );
    let server = serve(app).await;
    let mut client = Client::connect(server.local_addr()).await.unwrap();
    let req = http::Request::get("/endless").body(empty()).unwrap();
    let res = guard(call(&mut client, req)).await.unwrap();
    let mut body = res.into_body();
    let frame = guard(body.frame()).await.unwrap().unwrap();
    assert!(!frame.into_data().unwrap().is_empty());
    drop(body);
    // The server's pump saw the reset and dropped the service's body.
    guard(dropped.notified()).await;
    // The connection goes on.
    let res = guard(call(
        &mut client,
        http::Request::get("/endless").body(empty()).unwrap(),
    ))
    .await
    .unwrap();
    drop(res);
    assert_eq!(guard(client.get("/nowhere")).await.unwrap().status(), 404);
    server.shutdown(Duration::from_secs(1)).await;
}

/// Polls `done` until it holds (a stream freed on a driver's next turn):
/// wrapped in `guard`, so a leak fails instead of hanging.
async fn until(done: impl Fn() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One frame, then nothing for ever (a watch whose value never changes):
/// only the stream's end can free it.
struct Stalled {
    sent: bool,
    _dropped: DropSignal,
}

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if std::mem::replace(&mut this.sent, true) {
            return Poll::Pending;
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first")))))
    }
}

#[tokio::test]
async fn a_response_body_waiting_for_ever_is_dropped_when_the_peer_resets() {
    let dropped = Arc::new(Notify::new());
    let app = Router::new().route(
        "/stalled",
        get({
            let dropped = dropped.clone();
            move || async move {
                let body = Stalled {
                    sent: false,
                    _dropped: DropSignal(dropped),
                };
                AxumBody::new(body).into_response()
            }
        }),
    );
    let server = serve(app).await;
    let mut client = Client::connect(server.local_addr()).await.unwrap();
    let req = http::Request::get("/stalled").body(empty()).unwrap();
    let mut body = guard(call(&mut client, req)).await.unwrap().into_body();
    let frame = guard(body.frame()).await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "first");
    // The service's body is waiting, not sending: only the RST_STREAM that
    // dropping our end sends can end it.
    drop(body);
    guard(dropped.notified()).await;
    guard(until(|| server.stats().tracked_streams == 0)).await;
    assert_eq!(guard(client.get("/nowhere")).await.unwrap().status(), 404);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_request_body_waiting_for_ever_is_dropped_once_the_server_is_done() {
    // The server answers at once, without reading the request body: once
    // the response is complete it resets the stream with NO_ERROR (RFC 9113
    // §8.1), and the client's pump must let go of the body that waits.
    let server = serve(app()).await;
    let mut client = Client::connect(server.local_addr()).await.unwrap();
    let dropped = Arc::new(Notify::new());
    let body = Stalled {
        sent: false,
        _dropped: DropSignal(dropped.clone()),
    };
    let req = http::Request::post("http://ignored.example/bytes/3")
        .body(body)
        .unwrap();
    let res = guard(call(&mut client, req)).await;
    // axum's route is GET-only: a 405, complete, while our body waits.
    let res = res.unwrap();
    assert_eq!(res.status(), 405);
    let _ = guard(res.into_body().collect()).await.unwrap();
    guard(dropped.notified()).await;
    guard(until(|| client.tracked_streams() == 0)).await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_handler_still_working_is_dropped_when_the_client_cancels() {
    let dropped = Arc::new(Notify::new());
    let started = Arc::new(Notify::new());
    let app = Router::new().route(
        "/slow",
        get({
            let (dropped, started) = (dropped.clone(), started.clone());
            move || async move {
                let _signal = DropSignal(dropped);
                started.notify_one();
                std::future::pending::<()>().await;
                "never"
            }
        }),
    );
    let server = serve(app).await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let pending = tokio::spawn({
        let mut client = client.clone();
        async move {
            let req = http::Request::get("/slow").body(empty()).unwrap();
            call(&mut client, req).await
        }
    });
    guard(started.notified()).await;
    pending.abort();
    // The handler's future goes with its stream, as under hyper.
    guard(dropped.notified()).await;
    guard(until(|| server.stats().tracked_streams == 0)).await;
    // The connection goes on.
    assert_eq!(guard(client.get("/nowhere")).await.unwrap().status(), 404);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_declared_content_length_is_the_request_bodys_exact_size_hint() {
    use http_body::Body as _;
    let app = Router::new().route(
        "/hint",
        post(|body: AxumBody| async move { format!("{:?}", body.size_hint().exact()) }),
    );
    let server = serve(app).await;
    let mut client = Client::connect(server.local_addr()).await.unwrap();
    let req = http::Request::post("/hint")
        .header("content-length", "5")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let res = guard(call(&mut client, req)).await.unwrap();
    let text = guard(res.into_body().collect()).await.unwrap().to_bytes();
    assert_eq!(&text[..], b"Some(5)");
    // Streamed without a declared length: no hint.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let body = http_body_util::StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async {
        let data = rx.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(data)), rx))
    }));
    let req = http::Request::post("/hint").body(body).unwrap();
    let res = call(&mut client, req);
    tx.send(Bytes::from_static(b"x")).await.unwrap();
    drop(tx);
    let res = guard(res).await.unwrap();
    let text = guard(res.into_body().collect()).await.unwrap().to_bytes();
    assert_eq!(&text[..], b"None");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_204_or_304_goes_out_without_the_handlers_body() {
    let app = Router::new()
        .route(
            "/204",
            get(|| async { (http::StatusCode::NO_CONTENT, "dropped") }),
        )
        .route(
            "/304",
            get(|| async { (http::StatusCode::NOT_MODIFIED, "dropped") }),
        );
    let server = serve(app).await;
    let mut client = Client::connect(server.local_addr()).await.unwrap();
    for (path, status) in [("/204", 204), ("/304", 304)] {
        let req = http::Request::get(path).body(empty()).unwrap();
        let res = guard(call(&mut client, req)).await.unwrap();
        assert_eq!(res.status(), status);
        let body = guard(res.into_body().collect()).await.unwrap().to_bytes();
        assert!(body.is_empty(), "{path}: {body:?}");
    }
    server.shutdown(Duration::from_secs(1)).await;
}

/// A service that is `Send` but not `Sync` (a `Cell` inside, as in
/// `tower::util::BoxCloneService`'s box): served as hyper would serve it.
#[derive(Clone, Default)]
struct NotSync {
    calls: std::cell::Cell<u32>,
}

impl Service<http::Request<RecvBody>> for NotSync {
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: http::Request<RecvBody>) -> Self::Future {
        self.calls.set(self.calls.get() + 1);
        let body = Full::new(Bytes::from(format!("call {}", self.calls.get())));
        std::future::ready(Ok(http::Response::new(body)))
    }
}

#[tokio::test]
async fn a_service_that_is_not_sync_is_served() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(NotSync::default());
    let client = Client::connect(server.local_addr()).await.unwrap();
    for _ in 0..3 {
        let res = guard(client.get("/")).await.unwrap();
        // Each request has its own clone of the connection's copy.
        assert_eq!(&res.body()[..], b"call 1");
    }
    server.shutdown(Duration::from_secs(1)).await;
}
