//! `grpc.testing.TestService` as a tonic generated server: grpc's interop
//! server behaviours (interop-test-descriptions), served on h2proto by
//! `examples/tonic_interop_server.rs` and `tests/interop_tonic.rs`.
//!
//! `x-grpc-test-echo-initial` is echoed in the response headers and
//! `x-grpc-test-echo-trailing-bin` in the trailers, `response_status` ends
//! the call with that status, `expect_compressed` is checked
//! (INVALID_ARGUMENT when a message that should be compressed was not),
//! `response_compressed` / `ResponseParameters.compressed` say which
//! responses go compressed, and response sizes and intervals are those asked
//! for. The per-message parts go through the call's [`Wire`] (see
//! `wire.rs`): serve [`server`], which has the layer.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::grpc_testing::test_service_server::{TestService, TestServiceServer};
use crate::grpc_testing::*;
use crate::wire::{Wire, WireLayer};

const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// Largest response payload served (the default max message size): a
/// request cannot make the server allocate more.
const MAX_RESPONSE_SIZE: i32 = 4 << 20;

/// The longest `interval_us` honoured (a request cannot park a response
/// stream for longer).
const MAX_INTERVAL: Duration = Duration::from_secs(10);

/// The interop service, in the wire layer, ready for
/// `h2proto::io::tokio::Server::serve_service`: gzip accepted, and sent
/// where a request asks for it (to clients that accept it).
pub fn server() -> WireLayer<TestServiceServer<Interop>> {
    WireLayer::server(
        TestServiceServer::new(Interop)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip),
    )
}

/// The service (stateless).
pub struct Interop;

type ResponseStream =
    Pin<Box<dyn Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send + 'static>>;

/// The call's wire record (the layer always puts one).
fn wire<T>(req: &Request<T>) -> Wire {
    req.extensions().get::<Wire>().cloned().unwrap_or_default()
}

/// Echoes the interop metadata: the initial into `headers`, the trailing
/// into the wire's extra trailers.
fn echo_metadata(request: &MetadataMap, headers: &mut MetadataMap, wire: &Wire) {
    if let Some(v) = request.get(ECHO_INITIAL) {
        headers.insert(ECHO_INITIAL, v.clone());
    }
    let Some(v) = request.get_bin(ECHO_TRAILING) else {
        return;
    };
    let name = http::HeaderName::from_static(ECHO_TRAILING);
    if let Ok(value) = http::HeaderValue::from_bytes(v.as_encoded_bytes()) {
        wire.add_trailer(name, value);
    }
}

/// The headers a response starts with: the echoed initial metadata.
fn respond<T>(metadata: &MetadataMap, wire: &Wire, message: T) -> Response<T> {
    let mut res = Response::new(message);
    echo_metadata(metadata, res.metadata_mut(), wire);
    res
}

fn flag(b: &Option<BoolValue>) -> bool {
    b.as_ref().is_some_and(|b| b.value)
}

fn echo_status(s: &Option<EchoStatus>) -> Option<Status> {
    let s = s.as_ref().filter(|s| s.code != 0)?;
    Some(Status::new(Code::from_i32(s.code), s.message.clone()))
}

fn too_large(size: i32) -> Option<Status> {
    (size > MAX_RESPONSE_SIZE)
        .then(|| Status::invalid_argument(format!("response size {size} over {MAX_RESPONSE_SIZE}")))
}

/// INVALID_ARGUMENT unless message `index` of the call arrived compressed
/// when the request said it would.
fn check_compressed(expect: &Option<BoolValue>, wire: &Wire, index: usize) -> Result<(), Status> {
    let compressed = wire.received().get(index).copied().unwrap_or(false);
    if flag(expect) && !compressed {
        return Err(Status::invalid_argument("expected a compressed message"));
    }
    Ok(())
}

fn payload(size: i32) -> Payload {
    Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; usize::try_from(size).unwrap_or(0)],
    }
}

#[tonic::async_trait]
impl TestService for Interop {
    async fn empty_call(&self, req: Request<Empty>) -> Result<Response<Empty>, Status> {
        let mut res = respond(req.metadata(), &wire(&req), Empty {});
        res.disable_compression();
        Ok(res)
    }

    async fn unary_call(
        &self,
        req: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let wire = wire(&req);
        let (metadata, _, r) = req.into_parts();
        check_compressed(&r.expect_compressed, &wire, 0)?;
        if let Some(status) = echo_status(&r.response_status) {
            return Err(status);
        }
        if let Some(status) = too_large(r.response_size) {
            return Err(status);
        }
        let message = SimpleResponse {
            payload: Some(payload(r.response_size)),
            ..SimpleResponse::default()
        };
        let mut res = respond(&metadata, &wire, message);
        if !flag(&r.response_compressed) {
            res.disable_compression();
        }
        Ok(res)
    }

    type StreamingOutputCallStream = ResponseStream;

    async fn streaming_output_call(
        &self,
        req: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<ResponseStream>, Status> {
        let wire = wire(&req);
        let (metadata, _, r) = req.into_parts();
        let mut responses = Responses::new(None, wire.clone());
        responses.push(r)?;
        Ok(respond(&metadata, &wire, responses.into_stream()))
    }

    async fn streaming_input_call(
        &self,
        req: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let wire = wire(&req);
        let (metadata, _, mut requests) = req.into_parts();
        let (mut total, mut index) = (0i32, 0);
        while let Some(r) = requests.message().await? {
            check_compressed(&r.expect_compressed, &wire, index)?;
            index += 1;
            let len = r.payload.map_or(0, |p| p.body.len());
            total = total.saturating_add(i32::try_from(len).unwrap_or(i32::MAX));
        }
        let message = StreamingInputCallResponse {
            aggregated_payload_size: total,
        };
        let mut res = respond(&metadata, &wire, message);
        res.disable_compression();
        Ok(res)
    }

    type FullDuplexCallStream = ResponseStream;

    async fn full_duplex_call(
        &self,
        req: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let wire = wire(&req);
        let (metadata, _, requests) = req.into_parts();
        let responses = Responses::new(Some(requests), wire.clone());
        Ok(respond(&metadata, &wire, responses.into_stream()))
    }

    type HalfDuplexCallStream = ResponseStream;

    async fn half_duplex_call(
        &self,
        req: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let wire = wire(&req);
        let (metadata, _, mut requests) = req.into_parts();
        let mut responses = Responses::new(None, wire.clone());
        while let Some(r) = requests.message().await? {
            responses.push(r)?;
        }
        Ok(respond(&metadata, &wire, responses.into_stream()))
    }

    async fn unimplemented_call(&self, _: Request<Empty>) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "UnimplementedCall is not implemented",
        ))
    }
}

/// A response stream: the responses asked for so far, then those the
/// requests still to come ask for (full duplex), or the status a request
/// asked to end with. Pulled by tonic as the client takes responses, so a
/// client that goes away drops it, requests included.
struct Responses {
    requests: Option<Streaming<StreamingOutputCallRequest>>,
    queue: VecDeque<ResponseParameters>,
    end: Option<Status>,
    wire: Wire,
}

impl Responses {
    fn new(requests: Option<Streaming<StreamingOutputCallRequest>>, wire: Wire) -> Responses {
        Responses {
            requests,
            queue: VecDeque::new(),
            end: None,
            wire,
        }
    }

    /// Queues what one request asks for; `Err` is the status it asked to
    /// end with (or a refusal), before any of its responses.
    fn push(&mut self, r: StreamingOutputCallRequest) -> Result<(), Status> {
        if let Some(status) = echo_status(&r.response_status) {
            return Err(status);
        }
        if let Some(status) = r.response_parameters.iter().find_map(|p| too_large(p.size)) {
            return Err(status);
        }
        self.queue.extend(r.response_parameters);
        Ok(())
    }

    /// The next response, `None` at the end.
    async fn next(&mut self) -> Option<Result<StreamingOutputCallResponse, Status>> {
        loop {
            if let Some(p) = self.queue.pop_front() {
                if p.interval_us > 0 {
                    let us = u64::try_from(p.interval_us).unwrap_or(0);
                    tokio::time::sleep(Duration::from_micros(us).min(MAX_INTERVAL)).await;
                }
                self.wire.plan_send(flag(&p.compressed));
                let payload = Some(payload(p.size));
                return Some(Ok(StreamingOutputCallResponse { payload }));
            }
            if let Some(status) = self.end.take() {
                return Some(Err(status));
            }
            let requests = self.requests.as_mut()?;
            match requests.message().await {
                Ok(Some(r)) => {
                    if let Err(status) = self.push(r) {
                        self.requests = None;
                        self.end = Some(status);
                    }
                }
                Ok(None) => self.requests = None,
                Err(status) => {
                    self.requests = None;
                    return Some(Err(status));
                }
            }
        }
    }

    fn into_stream(self) -> ResponseStream {
        Box::pin(futures_util::stream::unfold(self, |mut r| async move {
            let item = r.next().await?;
            Some((item, r))
        }))
    }
}
