//! The connection pool as a tower service (feature `tower`): tonic clients
//! on a `Pool` of tokio clients, routed by origin, calling unary, server-,
//! client- and bidi-streaming methods, and cancelling by drop.

use std::time::Duration;

use bytes::Bytes;
use h2proto::grpc::Code as H2Code;
use h2proto::io::tokio::pool::{Pool, PoolConfig};
use h2proto::io::tokio::{Client, ClientConfig, Server, ServerConfig, ServerHandle, grpc};
use tokio::sync::{mpsc, oneshot};
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

type ClientPool = Pool<Client, std::io::Error>;

fn pool() -> ClientPool {
    Pool::new(PoolConfig::default(), |origin: String| async move {
        Client::connect_url(&origin, None, ClientConfig::default()).await
    })
}

fn origin(server: std::net::SocketAddr) -> String {
    format!("http://{server}")
}

/// Echoes the message, saying which server answered.
struct Named(&'static str);

#[tonic::async_trait]
impl Echo for Named {
    async fn unary_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            message: format!("{} from {}", request.into_inner().message, self.0),
        }))
    }
}

async fn tonic_server(name: &'static str) -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(EchoServer::new(Named(name)))
}

#[tokio::test]
async fn tonic_clients_on_one_pool_reach_each_origin_on_its_own_connection() {
    let (a, b) = (tonic_server("a").await, tonic_server("b").await);
    let pool = pool();
    let mut to_a = EchoClient::with_origin(pool.clone(), origin(a.local_addr()).parse().unwrap());
    let mut to_b = EchoClient::with_origin(pool.clone(), origin(b.local_addr()).parse().unwrap());
    for i in 0..3 {
        let res = guard(to_a.unary_echo(EchoRequest {
            message: format!("m{i}"),
        }))
        .await
        .unwrap();
        assert_eq!(res.into_inner().message, format!("m{i} from a"));
        let res = guard(to_b.unary_echo(EchoRequest {
            message: format!("m{i}"),
        }))
        .await
        .unwrap();
        assert_eq!(res.into_inner().message, format!("m{i} from b"));
    }
    // Calls in parallel share the origin's connection.
    let calls: Vec<_> = (0..32)
        .map(|i| {
            let mut echo = to_a.clone();
            tokio::spawn(async move {
                echo.unary_echo(EchoRequest {
                    message: format!("p{i}"),
                })
                .await
                .map(|r| r.into_inner().message)
            })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(guard(call).await.unwrap().unwrap(), format!("p{i} from a"));
    }
    let stats = pool.stats();
    let keys: Vec<_> = stats.keys().cloned().collect();
    let mut expected = vec![origin(a.local_addr()), origin(b.local_addr())];
    expected.sort();
    assert_eq!(keys, expected);
    for s in stats.values() {
        assert_eq!(s.connections, 1);
        assert_eq!(s.requests, 0, "every slot was given back");
    }
    assert_eq!(a.stats().connections, 1);
    a.shutdown(Duration::from_secs(1)).await;
    b.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_tonic_client_without_an_origin_gets_an_error_not_a_guess() {
    let mut echo = EchoClient::new(pool());
    let err = guard(echo.unary_echo(EchoRequest {
        message: "x".into(),
    }))
    .await
    .unwrap_err();
    assert!(err.message().contains("no authority"), "{err:?}");
}

const SERVER_STREAMING: &str = "/echo.Echo/ServerStreamingEcho";
const CLIENT_STREAMING: &str = "/echo.Echo/ClientStreamingEcho";
const BIDI: &str = "/echo.Echo/BidirectionalStreamingEcho";
const HANGS: &str = "/echo.Echo/Hangs";

/// EchoRequest and EchoResponse encode alike (field 1, a string): the
/// streaming methods echo message bytes as they are.
///
/// - server streaming: the request's message `n` times, `n` from the message length;
/// - client streaming: the messages concatenated;
/// - bidi: each message back as it arrives;
/// - hangs: one message, then waits for the call to end and reports why.
async fn grpc_server(ended: mpsc::UnboundedSender<H2Code>) -> grpc::ServerHandle {
    grpc::Server::builder()
        .server_streaming(SERVER_STREAMING, |_ctx, message, mut out| async move {
            let n = EchoRequestCodec::decode(&message).len();
            for _ in 0..n {
                out.send(message.clone()).await.map_err(|e| e.to_status())?;
            }
            Ok(())
        })
        .client_streaming(CLIENT_STREAMING, |_ctx, mut requests| async move {
            let mut all = String::new();
            while let Some(m) = requests.recv().await.map_err(|e| e.to_status())? {
                all.push_str(&EchoRequestCodec::decode(&m));
            }
            Ok(EchoRequestCodec::encode(&all))
        })
        .bidi_streaming(BIDI, |_ctx, mut requests, mut out| async move {
            while let Some(m) = requests.recv().await.map_err(|e| e.to_status())? {
                out.send(m).await.map_err(|e| e.to_status())?;
            }
            Ok(())
        })
        .server_streaming(HANGS, move |ctx, message, mut out| {
            let ended = ended.clone();
            async move {
                out.send(message).await.map_err(|e| e.to_status())?;
                let why = ctx.cancelled().await;
                let _ = ended.send(why.code());
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Protobuf `EchoRequest`/`EchoResponse` by hand, for the raw handlers.
struct EchoRequestCodec;

impl EchoRequestCodec {
    fn decode(message: &Bytes) -> String {
        use prost::Message;
        EchoRequest::decode(message.clone()).unwrap().message
    }
    fn encode(message: &str) -> Bytes {
        use prost::Message;
        EchoResponse {
            message: message.to_owned(),
        }
        .encode_to_vec()
        .into()
    }
}

fn codec() -> tonic_prost::ProstCodec<EchoRequest, EchoResponse> {
    tonic_prost::ProstCodec::default()
}

fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
    }
}

async fn grpc_on_pool(
    pool: &ClientPool,
    server: &grpc::ServerHandle,
) -> tonic::client::Grpc<ClientPool> {
    let origin = origin(server.local_addr()).parse().unwrap();
    let mut grpc = tonic::client::Grpc::with_origin(pool.clone(), origin);
    guard(grpc.ready()).await.unwrap();
    grpc
}

#[tokio::test]
async fn tonic_streams_both_ways_run_on_the_pool() {
    let (ended, _) = mpsc::unbounded_channel();
    let server = grpc_server(ended).await;
    let pool = pool();
    let mut grpc = grpc_on_pool(&pool, &server).await;

    // Server streaming: "abcd" four times.
    let path = http::uri::PathAndQuery::from_static(SERVER_STREAMING);
    let res = guard(grpc.server_streaming(Request::new(req("abcd")), path, codec()))
        .await
        .unwrap();
    let mut stream = res.into_inner();
    let mut got = Vec::new();
    while let Some(m) = guard(stream.message()).await.unwrap() {
        got.push(m.message);
    }
    assert_eq!(got, ["abcd"; 4]);

    // Client streaming: three messages in, their concatenation out.
    let path = http::uri::PathAndQuery::from_static(CLIENT_STREAMING);
    let requests = futures_util::stream::iter(["x", "y", "z"].map(req));
    let res = guard(grpc.client_streaming(Request::new(requests), path, codec()))
        .await
        .unwrap();
    assert_eq!(res.into_inner().message, "xyz");

    // Bidi, in lock step: each answer arrives before the next request is sent.
    let (tx, rx) = mpsc::unbounded_channel::<EchoRequest>();
    let requests =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let path = http::uri::PathAndQuery::from_static(BIDI);
    tx.send(req("ping 0")).unwrap();
    let res = guard(grpc.streaming(Request::new(requests), path, codec()))
        .await
        .unwrap();
    let mut answers = res.into_inner();
    for i in 0..5 {
        let m = guard(answers.message()).await.unwrap().unwrap();
        assert_eq!(m.message, format!("ping {i}"));
        tx.send(req(&format!("ping {}", i + 1))).unwrap();
    }
    assert_eq!(
        guard(answers.message()).await.unwrap().unwrap().message,
        "ping 5"
    );
    drop(tx);
    assert!(guard(answers.message()).await.unwrap().is_none());

    // All on one connection, which holds no stream once the responses are dropped.
    drop((stream, answers));
    let stats = pool.stats();
    assert_eq!(stats[&origin(server.local_addr())].connections, 1);
    let conn = guard(pool.get(&origin(server.local_addr()))).await.unwrap();
    assert_eq!(conn.tracked_streams(), 0);
    drop(conn);
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_a_streaming_response_cancels_the_call_on_the_server() {
    let (ended, mut why) = mpsc::unbounded_channel();
    let server = grpc_server(ended).await;
    let pool = pool();
    let mut grpc = grpc_on_pool(&pool, &server).await;
    let path = http::uri::PathAndQuery::from_static(HANGS);
    let res = guard(grpc.server_streaming(Request::new(req("first")), path, codec()))
        .await
        .unwrap();
    let mut stream = res.into_inner();
    assert_eq!(
        guard(stream.message()).await.unwrap().unwrap().message,
        "first"
    );
    drop(stream);
    // The server saw RST_STREAM(CANCEL): its call ended CANCELLED.
    assert_eq!(guard(why.recv()).await.unwrap(), H2Code::CANCELLED);
    // Neither end keeps the stream.
    let conn = guard(pool.get(&origin(server.local_addr()))).await.unwrap();
    assert_eq!(conn.tracked_streams(), 0);
    assert_eq!(conn.live_streams(), 0);
    drop(conn);
    // The connection goes on.
    let path = http::uri::PathAndQuery::from_static(SERVER_STREAMING);
    let res = guard(grpc.server_streaming(Request::new(req("ok")), path, codec()))
        .await
        .unwrap();
    let mut stream = res.into_inner();
    assert_eq!(
        guard(stream.message()).await.unwrap().unwrap().message,
        "ok"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_the_call_before_the_response_head_cancels_it_too() {
    let (ended, mut why) = mpsc::unbounded_channel();
    // The head never comes: the handler waits for the end of the call.
    let (arrived_tx, arrived) = oneshot::channel::<()>();
    let arrived_tx = std::sync::Mutex::new(Some(arrived_tx));
    let server = grpc::Server::builder()
        .route(HANGS, move |call| {
            let ended = ended.clone();
            let arrived = arrived_tx.lock().unwrap().take();
            async move {
                let _ = arrived.map(|a| a.send(()));
                let why = call.context().cancelled().await;
                let _ = ended.send(why.code());
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let pool = pool();
    let mut grpc = grpc_on_pool(&pool, &server).await;
    let call = tokio::spawn(async move {
        let path = http::uri::PathAndQuery::from_static(HANGS);
        grpc.server_streaming(Request::new(req("x")), path, codec())
            .await
            .map(drop)
    });
    guard(arrived).await.unwrap();
    call.abort();
    assert!(guard(call).await.unwrap_err().is_cancelled());
    assert_eq!(guard(why.recv()).await.unwrap(), H2Code::CANCELLED);
    let key = origin(server.local_addr());
    assert_eq!(pool.stats()[&key].requests, 0, "the slot was given back");
    let conn = guard(pool.get(&key)).await.unwrap();
    assert_eq!(conn.tracked_streams(), 0);
    assert_eq!(conn.live_streams(), 0);
    drop(conn);
    server.shutdown().await;
}

#[tokio::test]
async fn a_failed_dial_is_a_tonic_error() {
    // A port with nothing listening: bind, note it, close.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut echo = EchoClient::with_origin(pool(), origin(addr).parse().unwrap());
    let err = guard(echo.unary_echo(req("x"))).await.unwrap_err();
    assert_ne!(err.code(), Code::Ok);
    assert!(err.message().contains("connecting failed"), "{err:?}");
}

/// A tonic service whose calls never end.
struct Stuck;

#[tonic::async_trait]
impl Echo for Stuck {
    async fn unary_echo(&self, _: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_grpc_timeout_bounds_the_wait_for_a_connection() {
    // One connection of one stream: a second call waits in the pool's line.
    let mut config = ServerConfig::default();
    config.h2.max_concurrent_streams = 1;
    // Only the timers under test may fire on virtual time.
    config.h2.settings_timeout = Duration::from_secs(86_400);
    let server = Server::bind_with("127.0.0.1:0", config)
        .await
        .unwrap()
        .serve_service(EchoServer::new(Stuck));
    let pool_config = PoolConfig {
        max_connections_per_authority: 1,
        ..PoolConfig::default()
    };
    let pool: ClientPool = Pool::new(pool_config, |origin: String| async move {
        let mut config = ClientConfig::default();
        config.h2.settings_timeout = Duration::from_secs(86_400);
        let client = Client::connect_url(&origin, None, config).await?;
        // Answered (UNIMPLEMENTED): the server's SETTINGS are in.
        client.get("/").await.map_err(std::io::Error::other)?;
        Ok(client)
    });
    let key = origin(server.local_addr());
    let mut echo = EchoClient::with_origin(pool.clone(), key.parse().unwrap());
    let first = tokio::spawn({
        let mut echo = echo.clone();
        async move { echo.unary_echo(req("first")).await }
    });
    while pool.stats().get(&key).is_none_or(|s| s.requests == 0) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let started = tokio::time::Instant::now();
    let mut second = Request::new(req("second"));
    second.set_timeout(Duration::from_secs(2));
    let err = echo.unary_echo(second).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        err.message().contains("grpc-timeout passed"),
        "{err:?} after {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_eq!(pool.stats()[&key].waiters, 0, "it left the line");
    first.abort();
    server.shutdown(Duration::from_secs(1)).await;
}
