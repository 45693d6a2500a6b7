//! grpc's interop test cases (interop-test-descriptions) run by the tonic
//! generated `TestServiceClient` on h2proto's tokio `Client` (its tower
//! face), through the wire layer (`wire.rs`) for what tonic does not show
//! per message. Used by `examples/tonic_interop_client.rs` and
//! `tests/interop_tonic.rs`.
//!
//! Cancellation is tonic's: dropping the call (its future or its response
//! stream), which resets the stream; the cancel cases then check that the
//! connection still serves a call.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use h2proto::io::tokio::Client;
use tokio::sync::mpsc;
use tonic::codec::CompressionEncoding;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Status, Streaming};

use crate::grpc_testing::test_service_client::TestServiceClient;
use crate::grpc_testing::unimplemented_service_client::UnimplementedServiceClient;
use crate::grpc_testing::*;
use crate::wire::{Wire, WireLayer};

const REQ_SIZES: [i32; 4] = [27182, 8, 1828, 45904];
const RESP_SIZES: [i32; 4] = [31415, 9, 2653, 58979];
const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";
/// Every call is bounded (sent as `grpc-timeout`).
const DEADLINE: Duration = Duration::from_secs(10);

/// Every case, by its interop name.
pub const CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_compressed_streaming",
    "server_compressed_streaming",
];

/// What the tonic clients run on: h2proto's client under the wire layer.
pub type Transport = WireLayer<Client>;

/// The generated clients on one h2proto connection.
#[derive(Clone)]
pub struct Clients {
    test: TestServiceClient<Transport>,
    unimplemented: UnimplementedServiceClient<Transport>,
    /// Whether to send the client_compressed_* feature probe (off for
    /// servers that cannot see whether a request was compressed, like
    /// grpcio's Python servicers).
    pub probe: bool,
}

impl Clients {
    /// The clients on `client`'s connection (accepting gzip responses).
    pub fn new(client: Client) -> Clients {
        let transport = WireLayer::client(client);
        Clients {
            test: TestServiceClient::new(transport.clone())
                .accept_compressed(CompressionEncoding::Gzip),
            unimplemented: UnimplementedServiceClient::new(transport),
            probe: true,
        }
    }

    /// The test client, sending every message gzip-compressed.
    fn gzip(&self) -> TestServiceClient<Transport> {
        self.test.clone().send_compressed(CompressionEncoding::Gzip)
    }
}

/// Runs the case called `name`; `Err` says what did not hold.
pub async fn run(name: &str, c: &Clients) -> Result<(), String> {
    match name {
        "empty_unary" => empty_unary(c).await,
        "large_unary" => large_unary(c).await,
        "client_streaming" => client_streaming(c).await,
        "server_streaming" => server_streaming(c).await,
        "ping_pong" => ping_pong(c).await,
        "empty_stream" => empty_stream(c).await,
        "custom_metadata" => custom_metadata(c).await,
        "status_code_and_message" => status_with(c, "test status message").await,
        "special_status_message" => {
            let m =
                "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n";
            status_with(c, m).await
        }
        "unimplemented_method" => unimplemented_method(c).await,
        "unimplemented_service" => unimplemented_service(c).await,
        "cancel_after_begin" => cancel_after_begin(c).await,
        "cancel_after_first_response" => cancel_after_first_response(c).await,
        "timeout_on_sleeping_server" => timeout_on_sleeping_server(c).await,
        "client_compressed_unary" => client_compressed_unary(c).await,
        "server_compressed_unary" => server_compressed_unary(c).await,
        "client_compressed_streaming" => client_compressed_streaming(c).await,
        "server_compressed_streaming" => server_compressed_streaming(c).await,
        other => Err(format!("unknown case {other:?}")),
    }
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

fn e(status: Status) -> String {
    format!("{:?}: {:?}", status.code(), status.message())
}

/// A request with the usual deadline, its wire record attached.
fn request<T>(message: T, wire: &Wire) -> Request<T> {
    let mut req = Request::new(message);
    req.set_timeout(DEADLINE);
    req.extensions_mut().insert(wire.clone());
    req
}

fn payload(size: i32) -> Payload {
    Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; usize::try_from(size).unwrap_or(0)],
    }
}

fn payload_len(p: &Option<Payload>) -> usize {
    p.as_ref().map_or(0, |p| p.body.len())
}

fn large_request() -> SimpleRequest {
    SimpleRequest {
        response_size: 314159,
        payload: Some(payload(271828)),
        ..SimpleRequest::default()
    }
}

fn check_large(resp: &SimpleResponse) -> Result<(), String> {
    let body = resp.payload.as_ref().map(|p| &p.body[..]).unwrap_or(&[]);
    check(body.len() == 314159 && body.iter().all(|b| *b == 0), || {
        format!("payload of {} bytes", body.len())
    })
}

fn expect_code<T>(got: Result<T, Status>, code: Code, message: Option<&str>) -> Result<(), String> {
    let Err(status) = got else {
        return Err(format!("expected {code:?}, the call succeeded"));
    };
    check(status.code() == code, || {
        format!("expected {code:?}, got {}", e(status.clone()))
    })?;
    if let Some(m) = message {
        check(status.message() == m, || {
            format!("expected message {m:?}, got {:?}", status.message())
        })?;
    }
    Ok(())
}

fn output_request(sizes: &[i32], payload_size: Option<i32>) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: sizes
            .iter()
            .map(|&size| ResponseParameters {
                size,
                ..Default::default()
            })
            .collect(),
        payload: payload_size.map(payload),
        ..Default::default()
    }
}

/// Reads a response stream to its end: the payload sizes, `Err` with the
/// status if it did not end OK.
async fn sizes(stream: &mut Streaming<StreamingOutputCallResponse>) -> Result<Vec<usize>, Status> {
    let mut sizes = Vec::new();
    while let Some(resp) = stream.message().await? {
        sizes.push(payload_len(&resp.payload));
    }
    Ok(sizes)
}

async fn empty_unary(c: &Clients) -> Result<(), String> {
    let resp = c
        .test
        .clone()
        .empty_call(request(Empty {}, &Wire::new()))
        .await;
    check(resp.map_err(e)?.into_inner() == Empty {}, || {
        "non-empty response".into()
    })
}

async fn large_unary(c: &Clients) -> Result<(), String> {
    let mut client = c.test.clone();
    let resp = client
        .unary_call(request(large_request(), &Wire::new()))
        .await;
    check_large(&resp.map_err(e)?.into_inner())
}

async fn client_streaming(c: &Clients) -> Result<(), String> {
    let reqs = REQ_SIZES.map(|n| StreamingInputCallRequest {
        payload: Some(payload(n)),
        ..Default::default()
    });
    let reqs = futures_util::stream::iter(reqs);
    let mut client = c.test.clone();
    let resp = client
        .streaming_input_call(request(reqs, &Wire::new()))
        .await;
    let total = resp.map_err(e)?.into_inner().aggregated_payload_size;
    check(total == 74922, || format!("aggregated {total}"))
}

async fn server_streaming(c: &Clients) -> Result<(), String> {
    let req = request(output_request(&RESP_SIZES, None), &Wire::new());
    let mut stream = c.test.clone().streaming_output_call(req).await.map_err(e)?;
    let got = sizes(stream.get_mut()).await.map_err(e)?;
    check(got == RESP_SIZES.map(|n| n as usize), || {
        format!("sizes {got:?}")
    })
}

/// The request side of a full-duplex call.
type Sender = mpsc::Sender<StreamingOutputCallRequest>;

/// A full-duplex call's response: its headers, then its stream.
type DuplexResponse = tonic::Response<Streaming<StreamingOutputCallResponse>>;

/// A full-duplex call whose requests the case feeds one by one.
struct Duplex {
    tx: Option<Sender>,
    call: Pin<Box<dyn Future<Output = Result<DuplexResponse, Status>> + Send>>,
}

impl Duplex {
    fn start(client: TestServiceClient<Transport>, wire: &Wire, md: MetadataMap) -> Duplex {
        Duplex::start_with(client, wire, md, DEADLINE)
    }

    fn start_with(
        mut client: TestServiceClient<Transport>,
        wire: &Wire,
        md: MetadataMap,
        timeout: Duration,
    ) -> Duplex {
        let (tx, rx) = mpsc::channel(4);
        let mut req = request(ReceiverStream::new(rx), wire);
        // The metadata first: it replaces the map `grpc-timeout` is in.
        *req.metadata_mut() = md;
        req.set_timeout(timeout);
        let call = Box::pin(async move { client.full_duplex_call(req).await });
        Duplex { tx: Some(tx), call }
    }

    async fn send(&mut self, req: StreamingOutputCallRequest) -> Result<(), String> {
        let tx = self.tx.as_ref().ok_or("sending after the half-close")?;
        tx.send(req)
            .await
            .map_err(|_| "the call dropped its requests".to_owned())
    }

    fn close_send(&mut self) {
        self.tx = None;
    }

    /// The response (headers, then the stream), once its headers come.
    /// The response, once its headers come, and the request side if still
    /// open.
    async fn response(self) -> Result<(DuplexResponse, Option<Sender>), Status> {
        let tx = self.tx;
        Ok((self.call.await?, tx))
    }
}

async fn ping_pong(c: &Clients) -> Result<(), String> {
    let mut call = Duplex::start(c.test.clone(), &Wire::new(), MetadataMap::new());
    // The first request goes before the response's headers are awaited:
    // a server may hold its headers until it has a response.
    call.send(output_request(&[RESP_SIZES[0]], Some(REQ_SIZES[0])))
        .await?;
    let (resp, tx) = call.response().await.map_err(e)?;
    let tx = tx.ok_or("no request sender")?;
    let mut stream = resp.into_inner();
    for (i, (req, size)) in REQ_SIZES.into_iter().zip(RESP_SIZES).enumerate() {
        if i > 0 {
            tx.send(output_request(&[size], Some(req)))
                .await
                .map_err(|_| "the call dropped its requests".to_owned())?;
        }
        let got = stream.message().await.map_err(e)?.ok_or("no response")?;
        let len = payload_len(&got.payload);
        check(len == size as usize, || {
            format!("response of {len}, not {size}")
        })?;
    }
    drop(tx);
    let rest = stream.message().await.map_err(e)?;
    check(rest.is_none(), || "extra response".into())
}

async fn empty_stream(c: &Clients) -> Result<(), String> {
    let mut call = Duplex::start(c.test.clone(), &Wire::new(), MetadataMap::new());
    call.close_send();
    let (resp, _) = call.response().await.map_err(e)?;
    let rest = resp.into_inner().message().await.map_err(e)?;
    check(rest.is_none(), || "a response".into())
}

fn echo_metadata() -> MetadataMap {
    let mut md = MetadataMap::new();
    md.insert(
        ECHO_INITIAL,
        MetadataValue::from_static("test_initial_metadata_value"),
    );
    md.insert_bin(ECHO_TRAILING, MetadataValue::from_bytes(b"\xab\xab\xab"));
    md
}

/// The echoed metadata: the initial in `headers`, the trailing in
/// `trailers` (the wire's, as they came).
fn check_echoed(headers: &MetadataMap, trailers: Option<http::HeaderMap>) -> Result<(), String> {
    let initial = headers
        .get(ECHO_INITIAL)
        .map(|v| v.as_encoded_bytes().to_vec());
    check(
        initial.as_deref() == Some(b"test_initial_metadata_value"),
        || format!("initial metadata {initial:?}"),
    )?;
    let trailers = MetadataMap::from_headers(trailers.ok_or("no trailers")?);
    let trailing = trailers.get_bin(ECHO_TRAILING).map(|v| v.to_bytes());
    let trailing = trailing.and_then(Result::ok);
    check(trailing.as_deref() == Some(&b"\xab\xab\xab"[..]), || {
        format!("trailing metadata {trailing:?}")
    })?;
    check(trailers.get(ECHO_INITIAL).is_none(), || {
        "initial metadata in the trailers".into()
    })
}

async fn custom_metadata(c: &Clients) -> Result<(), String> {
    let wire = Wire::new();
    let mut req = request(large_request(), &wire);
    *req.metadata_mut() = echo_metadata();
    req.set_timeout(DEADLINE);
    let resp = c.test.clone().unary_call(req).await.map_err(e)?;
    check_large(resp.get_ref())?;
    check_echoed(resp.metadata(), wire.trailers())?;

    let wire = Wire::new();
    let mut call = Duplex::start(c.test.clone(), &wire, echo_metadata());
    call.send(output_request(&[314159], Some(271828))).await?;
    call.close_send();
    let (resp, _) = call.response().await.map_err(e)?;
    let (headers, mut stream, _) = resp.into_parts();
    let got = sizes(&mut stream).await.map_err(e)?;
    check(got == [314159], || format!("duplex responses {got:?}"))?;
    check_echoed(&headers, wire.trailers())
}

async fn status_with(c: &Clients, message: &str) -> Result<(), String> {
    let status = Some(EchoStatus {
        code: 2,
        message: message.to_owned(),
    });
    let req = SimpleRequest {
        response_status: status.clone(),
        ..Default::default()
    };
    let got = c.test.clone().unary_call(request(req, &Wire::new())).await;
    expect_code(got, Code::Unknown, Some(message)).map_err(|m| format!("unary: {m}"))?;

    let mut call = Duplex::start(c.test.clone(), &Wire::new(), MetadataMap::new());
    call.send(StreamingOutputCallRequest {
        response_status: status,
        ..Default::default()
    })
    .await?;
    call.close_send();
    expect_code(duplex_end(call).await, Code::Unknown, Some(message))
        .map_err(|m| format!("full duplex: {m}"))
}

/// How a duplex call ends: its status (from the headers, if the response
/// was trailers-only, or from the trailers).
async fn duplex_end(call: Duplex) -> Result<Vec<usize>, Status> {
    let (resp, _tx) = call.response().await?;
    sizes(&mut resp.into_inner()).await
}

async fn unimplemented_method(c: &Clients) -> Result<(), String> {
    let got = c
        .test
        .clone()
        .unimplemented_call(request(Empty {}, &Wire::new()))
        .await;
    expect_code(got, Code::Unimplemented, None)
}

async fn unimplemented_service(c: &Clients) -> Result<(), String> {
    let req = request(Empty {}, &Wire::new());
    let got = c.unimplemented.clone().unimplemented_call(req).await;
    expect_code(got, Code::Unimplemented, None)
}

/// Polls `fut` once (the request is then on its way), then drops it: how
/// a tonic call is cancelled.
async fn start_then_drop<F: Future>(fut: F) {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

/// After a cancellation, the connection still serves calls.
async fn still_serving(c: &Clients) -> Result<(), String> {
    empty_unary(c)
        .await
        .map_err(|m| format!("after the cancellation: {m}"))
}

async fn cancel_after_begin(c: &Clients) -> Result<(), String> {
    // A request stream that never yields: the call is open, nothing sent.
    let (_tx, rx) = mpsc::channel::<StreamingInputCallRequest>(1);
    let mut client = c.test.clone();
    let call = client.streaming_input_call(request(ReceiverStream::new(rx), &Wire::new()));
    start_then_drop(call).await;
    still_serving(c).await
}

async fn cancel_after_first_response(c: &Clients) -> Result<(), String> {
    let mut call = Duplex::start(c.test.clone(), &Wire::new(), MetadataMap::new());
    call.send(output_request(&[31415], Some(27182))).await?;
    let (resp, tx) = call.response().await.map_err(e)?;
    let mut stream = resp.into_inner();
    let got = stream.message().await.map_err(e)?.ok_or("no response")?;
    let len = payload_len(&got.payload);
    check(len == 31415, || format!("response of {len}"))?;
    // Cancel: drop the response stream with the request side still open.
    drop(stream);
    drop(tx);
    still_serving(c).await
}

async fn timeout_on_sleeping_server(c: &Clients) -> Result<(), String> {
    let timeout = Duration::from_millis(1);
    let mut call = Duplex::start_with(c.test.clone(), &Wire::new(), MetadataMap::new(), timeout);
    // The deadline may already have passed: a failed send is fine.
    let _ = call
        .send(StreamingOutputCallRequest {
            payload: Some(payload(27182)),
            ..Default::default()
        })
        .await;
    expect_code(duplex_end(call).await, Code::DeadlineExceeded, None)
}

async fn client_compressed_unary(c: &Clients) -> Result<(), String> {
    let mut req = large_request();
    if c.probe {
        // The probe: an uncompressed message that says it is compressed.
        req.expect_compressed = Some(BoolValue { value: true });
        let got = c
            .test
            .clone()
            .unary_call(request(req.clone(), &Wire::new()))
            .await;
        expect_code(got, Code::InvalidArgument, None).map_err(|m| format!("probe: {m}"))?;
    }
    for compressed in [true, false] {
        req.expect_compressed = Some(BoolValue { value: compressed });
        let mut client = if compressed { c.gzip() } else { c.test.clone() };
        let resp = client.unary_call(request(req.clone(), &Wire::new())).await;
        check_large(&resp.map_err(e)?.into_inner())
            .map_err(|m| format!("compressed {compressed}: {m}"))?;
    }
    Ok(())
}

async fn server_compressed_unary(c: &Clients) -> Result<(), String> {
    for compressed in [true, false] {
        let wire = Wire::new();
        let mut req = large_request();
        req.response_compressed = Some(BoolValue { value: compressed });
        let resp = c.test.clone().unary_call(request(req, &wire)).await;
        check_large(&resp.map_err(e)?.into_inner())?;
        let flags = wire.received();
        check(flags == [compressed], || {
            format!("asked compressed {compressed}: response flags {flags:?}")
        })?;
    }
    Ok(())
}

async fn client_compressed_streaming(c: &Clients) -> Result<(), String> {
    let first = StreamingInputCallRequest {
        payload: Some(payload(27182)),
        expect_compressed: Some(BoolValue { value: true }),
    };
    if c.probe {
        let reqs = futures_util::stream::iter([first.clone()]);
        let got = c
            .test
            .clone()
            .streaming_input_call(request(reqs, &Wire::new()))
            .await;
        expect_code(got, Code::InvalidArgument, None).map_err(|m| format!("probe: {m}"))?;
    }
    let second = StreamingInputCallRequest {
        payload: Some(payload(45904)),
        expect_compressed: Some(BoolValue { value: false }),
    };
    // tonic compresses both; the wire layer sends the second one plain.
    let wire = Wire::new();
    wire.plan_send(true);
    wire.plan_send(false);
    let reqs = futures_util::stream::iter([first, second]);
    let resp = c.gzip().streaming_input_call(request(reqs, &wire)).await;
    let total = resp.map_err(e)?.into_inner().aggregated_payload_size;
    check(total == 73086, || format!("aggregated {total}"))
}

async fn server_compressed_streaming(c: &Clients) -> Result<(), String> {
    let mut req = output_request(&[31415, 92653], None);
    req.response_parameters[0].compressed = Some(BoolValue { value: true });
    req.response_parameters[1].compressed = Some(BoolValue { value: false });
    let wire = Wire::new();
    let mut stream = c
        .test
        .clone()
        .streaming_output_call(request(req, &wire))
        .await
        .map_err(e)?;
    let got = sizes(stream.get_mut()).await.map_err(e)?;
    check(got == [31415, 92653], || format!("sizes {got:?}"))?;
    let flags = wire.received();
    check(flags == [true, false], || {
        format!("response flags {flags:?}")
    })
}
