//! The services a tonic project already runs, unchanged, on h2proto's tokio
//! transport (feature `tower`): the standard health service
//! (`tonic-health`: unary Check, server-streaming Watch), server reflection
//! (`tonic-reflection`: one bidirectional stream), and interceptors on both
//! sides, all behind one `tonic::service::Routes`. The clients are the
//! generated ones of those crates over h2proto's `Client` and `Channel`; the
//! last test uses python grpcio's own health and reflection clients
//! (`grpcio-health-checking`, `grpcio-reflection`) against the same server.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use h2proto::io::tokio::channel::{Channel, ChannelConfig};
use h2proto::io::tokio::{Client, Server, ServerHandle};
use tokio::sync::Notify;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::HealthReporter;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

#[path = "tower_support/echo.rs"]
mod echo;
mod peers;

use echo::echo_client::EchoClient;
use echo::echo_server::{Echo, EchoServer};
use echo::{EchoRequest, EchoResponse};

/// A hang guard for awaits that must complete (not a timing assertion).
async fn guard<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("hung")
}

/// Echoes; "hang" waits for ever, saying when it starts and when its
/// future is dropped.
#[derive(Default)]
struct Echoer {
    hanging: Arc<Notify>,
    dropped: Arc<Notify>,
}

/// Notifies when dropped.
struct DropSignal(Arc<Notify>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

#[tonic::async_trait]
impl Echo for Echoer {
    async fn unary_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoResponse>, Status> {
        let message = request.into_inner().message;
        if message == "hang" {
            let _signal = DropSignal(self.dropped.clone());
            self.hanging.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(Response::new(EchoResponse { message }))
    }
}

/// The server-side interceptor: calls without the token are refused before
/// the service sees them.
fn require_token(req: Request<()>) -> Result<Request<()>, Status> {
    match req.metadata().get("authorization") {
        Some(v) if v == "Bearer t0ken" => Ok(req),
        _ => Err(Status::unauthenticated("no token")),
    }
}

/// The client-side interceptor: adds the token to every call.
fn add_token(mut req: Request<()>) -> Result<Request<()>, Status> {
    req.metadata_mut()
        .insert("authorization", "Bearer t0ken".parse().unwrap());
    Ok(req)
}

/// Health (`echo.Echo` starts NOT_SERVING), reflection v1 and v1alpha
/// (describing the health service), and the echo service behind the token
/// interceptor, on one h2proto server.
async fn serve() -> (ServerHandle, HealthReporter) {
    serve_echo(Echoer::default()).await
}

async fn serve_echo(echoer: Echoer) -> (ServerHandle, HealthReporter) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_not_serving::<EchoServer<Echoer>>().await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let routes = Routes::new(health)
        .add_service(reflection().build_v1().unwrap())
        .add_service(reflection().build_v1alpha().unwrap())
        .add_service(EchoServer::with_interceptor(echoer, require_token))
        .prepare();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve_service(routes);
    (server, reporter)
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
    }
}

/// Waits until no stream is left in the server's connections: a call the
/// client dropped was reset and freed on the server too.
async fn no_stream_left(server: &ServerHandle) {
    let drained = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let stats = server.stats();
            if stats.live_streams == 0 && stats.tracked_streams == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    if drained.await.is_err() {
        panic!("streams left on the server: {:?}", server.stats());
    }
}

#[tokio::test]
async fn tonic_health_check_and_watch_run_on_h2proto() {
    let (server, reporter) = serve().await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let mut health = HealthClient::new(client);

    let status = |r: Response<HealthCheckResponse>| r.into_inner().status;
    let overall = guard(health.check(check(""))).await.unwrap();
    assert_eq!(status(overall), ServingStatus::Serving as i32);
    let echo = guard(health.check(check("echo.Echo"))).await.unwrap();
    assert_eq!(status(echo), ServingStatus::NotServing as i32);
    let unknown = guard(health.check(check("no.Such"))).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // Watch streams the current status, then every change.
    let mut watch = guard(health.watch(check("echo.Echo")))
        .await
        .unwrap()
        .into_inner();
    let first = guard(watch.next()).await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::NotServing as i32);
    reporter.set_serving::<EchoServer<Echoer>>().await;
    let second = guard(watch.next()).await.unwrap().unwrap();
    assert_eq!(second.status, ServingStatus::Serving as i32);

    // Dropping the stream cancels the call: nothing is left behind on the
    // server's side (the watch never ends on its own).
    drop(watch);
    no_stream_left(&server).await;
    server.shutdown(Duration::from_secs(1)).await;
}

/// One request on the open reflection stream, and its answer.
async fn ask(
    tx: &tokio::sync::mpsc::Sender<ServerReflectionRequest>,
    responses: &mut tonic::Streaming<ServerReflectionResponse>,
    request: MessageRequest,
) -> MessageResponse {
    tx.send(ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    })
    .await
    .unwrap();
    let answer = guard(responses.next()).await.unwrap().unwrap();
    answer.message_response.expect("a reflection answer")
}

#[tokio::test]
async fn tonic_reflection_answers_on_one_bidirectional_stream() {
    let (server, _reporter) = serve().await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let mut reflection = ServerReflectionClient::new(client);

    // Each request goes out only after the previous answer came back: the
    // stream is open both ways at once.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut responses = guard(reflection.server_reflection_info(ReceiverStream::new(rx)))
        .await
        .unwrap()
        .into_inner();

    let listed = ask(
        &tx,
        &mut responses,
        MessageRequest::ListServices(String::new()),
    )
    .await;
    let MessageResponse::ListServicesResponse(listed) = listed else {
        panic!("not a service list: {listed:?}");
    };
    let names: Vec<_> = listed.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    let symbol = MessageRequest::FileContainingSymbol("grpc.health.v1.Health".into());
    let MessageResponse::FileDescriptorResponse(files) = ask(&tx, &mut responses, symbol).await
    else {
        panic!("not a file descriptor answer");
    };
    assert!(!files.file_descriptor_proto.is_empty());

    // Half-closing our side ends the call with OK.
    drop(tx);
    assert!(guard(responses.next()).await.is_none());
    no_stream_left(&server).await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn tonic_interceptors_run_on_both_sides() {
    let (server, _reporter) = serve().await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let hello = || EchoRequest {
        message: "hi".into(),
    };

    let refused = guard(EchoClient::new(client.clone()).unary_echo(hello()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "no token");

    let mut with_token = EchoClient::with_interceptor(client, add_token);
    let res = guard(with_token.unary_echo(hello())).await.unwrap();
    assert_eq!(res.into_inner().message, "hi");
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_tonic_handler_is_dropped_when_its_client_cancels() {
    let echoer = Echoer::default();
    let (hanging, dropped) = (echoer.hanging.clone(), echoer.dropped.clone());
    let (server, _reporter) = serve_echo(echoer).await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let mut echo = EchoClient::with_interceptor(client, add_token);
    let call = tokio::spawn(async move {
        echo.unary_echo(EchoRequest {
            message: "hang".into(),
        })
        .await
    });
    guard(hanging.notified()).await;
    // Dropping the call resets its stream: the handler's future goes, as
    // on tonic's own transport (tonic handlers see cancellation so).
    call.abort();
    guard(dropped.notified()).await;
    no_stream_left(&server).await;
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn tonic_health_runs_on_the_grpc_channel() {
    let (server, reporter) = serve().await;
    reporter.set_serving::<EchoServer<Echoer>>().await;
    let target = format!("dns:///{}", server.local_addr());
    let channel = Channel::new_http(&target, ChannelConfig::round_robin()).unwrap();
    let mut health = HealthClient::new(channel.clone());
    let res = guard(health.check(check("echo.Echo"))).await.unwrap();
    assert_eq!(res.into_inner().status, ServingStatus::Serving as i32);

    let mut echo = EchoClient::with_interceptor(channel, add_token);
    let res = guard(echo.unary_echo(EchoRequest {
        message: "via channel".into(),
    }))
    .await
    .unwrap();
    assert_eq!(res.into_inner().message, "via channel");
    server.shutdown(Duration::from_secs(1)).await;
}

/// python grpcio's health client (Check, then Watch across a change) and
/// its reflection client (grpcio-reflection's descriptor database, over the
/// v1alpha service) against the tonic services on h2proto.
#[test]
fn grpcio_health_and_reflection_clients_against_tonic_services_on_h2proto() {
    if !peers::available(
        "python grpcio-health-checking and grpcio-reflection",
        &[
            "python3",
            "-c",
            "import grpc_health.v1.health_pb2, grpc_reflection.v1alpha.proto_reflection_descriptor_database",
        ],
    ) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, reporter) = rt.block_on(serve());
    let port = server.local_addr().port().to_string();
    // The status flips once the script's Watch has seen NOT_SERVING (it
    // prints WATCHING); the script then expects SERVING.
    let mut child = Command::new("python3")
        .arg(peers::grpc_script("health_reflection_client.py"))
        .args(["--port", &port])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start python3");
    let stdout = child.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap_or_default();
            if line == "WATCHING" {
                rt.block_on(reporter.set_serving::<EchoServer<Echoer>>());
            }
            seen.push(line);
        }
        (seen, rt, server)
    });
    let status = peers::wait_deadline(&mut child, peers::DEADLINE).expect("the script hung");
    let mut stderr = String::new();
    use std::io::Read;
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    let (seen, rt, server) = lines.join().unwrap();
    assert!(
        status.success() && seen.last().map(String::as_str) == Some("PASS"),
        "python health/reflection client: {seen:?}\n{stderr}"
    );
    rt.block_on(server.shutdown(Duration::from_secs(1)));
}
