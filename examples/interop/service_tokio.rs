//! `grpc.testing.TestService` on the tokio gRPC adapter: the async twin of
//! `service.rs` (same behaviours, line for line), served by
//! `examples/grpc_interop_server.rs --runtime tokio` and `tests/interop_grpc.rs`.
//!
//! Honours the interop behaviours: `x-grpc-test-echo-initial` is echoed in
//! the response headers and `x-grpc-test-echo-trailing-bin` in the trailers,
//! `response_status` ends the call with that status, `expect_compressed`
//! is checked (INVALID_ARGUMENT when a message that should be compressed was
//! not), `response_compressed` / `ResponseParameters.compressed` gzip the
//! responses, and response sizes and intervals are those asked for.

use std::time::Duration;

use bytes::Bytes;
use h2proto::grpc::{Code, Encoding, Metadata, Status};
use h2proto::io::tokio::grpc::ServerCall;
use prost::Message;

use crate::messages::*;
use crate::service::{echo_status, echoed_metadata, flag, invalid, server_id, too_large};

/// One call's response side: headers (with echoed metadata) go once, before
/// the first message or the status.
struct Reply {
    call: ServerCall,
    initial: Option<Metadata>,
    trailers: Metadata,
    gzip: bool,
}

impl Reply {
    fn new(call: ServerCall) -> Reply {
        let (initial, trailers) = echoed_metadata(call.metadata());
        Reply {
            call,
            initial: Some(initial),
            trailers,
            gzip: false,
        }
    }

    /// Asks for gzip on the responses; only possible before the headers.
    fn want_gzip(&mut self) {
        if !self.gzip && self.initial.is_some() {
            self.gzip = self.call.set_send_encoding(Encoding::Gzip).is_ok();
        }
    }

    fn headers(&mut self) -> bool {
        match self.initial.take() {
            Some(md) => self.call.send_headers(md).is_ok(),
            None => true,
        }
    }

    async fn send(&mut self, msg: &impl Message, compress: bool) -> bool {
        self.headers()
            && self
                .call
                .send_with(msg.encode_to_vec().into(), compress)
                .await
                .is_ok()
    }

    fn finish(mut self, status: Status) {
        if status.is_ok() {
            self.headers();
        }
        let _ = self.call.finish(status, self.trailers);
    }

    async fn recv(&mut self) -> Result<Option<(Bytes, bool)>, ()> {
        self.call.recv().await.map_err(|_| ())
    }
}

/// Serves one call of `grpc.testing.TestService` (UNIMPLEMENTED for anything else).
pub async fn handle(call: ServerCall) {
    let path = call.path().to_owned();
    let mut reply = Reply::new(call);
    match path.as_str() {
        path::EMPTY_CALL => {
            if reply.recv().await.is_ok() {
                reply.send(&Empty {}, false).await;
                reply.finish(Status::ok());
            }
        }
        path::UNARY_CALL => unary(reply).await,
        path::STREAMING_INPUT_CALL => streaming_input(reply).await,
        path::STREAMING_OUTPUT_CALL => {
            let Ok(Some((msg, _))) = reply.recv().await else {
                return;
            };
            match StreamingOutputCallRequest::decode(msg) {
                Ok(req) => {
                    let status = respond(&mut reply, &req).await;
                    reply.finish(status);
                }
                Err(e) => reply.finish(invalid(e)),
            }
        }
        path::FULL_DUPLEX_CALL => loop {
            match reply.recv().await {
                Ok(Some((msg, _))) => match StreamingOutputCallRequest::decode(msg) {
                    Ok(req) => {
                        let status = respond(&mut reply, &req).await;
                        if !status.is_ok() {
                            return reply.finish(status);
                        }
                    }
                    Err(e) => return reply.finish(invalid(e)),
                },
                Ok(None) => return reply.finish(Status::ok()),
                Err(()) => return,
            }
        },
        path::HALF_DUPLEX_CALL => {
            let mut requests = Vec::new();
            loop {
                match reply.recv().await {
                    Ok(Some((msg, _))) => match StreamingOutputCallRequest::decode(msg) {
                        Ok(req) => requests.push(req),
                        Err(e) => return reply.finish(invalid(e)),
                    },
                    Ok(None) => break,
                    Err(()) => return,
                }
            }
            for req in &requests {
                let status = respond(&mut reply, req).await;
                if !status.is_ok() {
                    return reply.finish(status);
                }
            }
            reply.finish(Status::ok());
        }
        _ => {
            // UnimplementedCall, and anything else.
            let _ = reply.call.unimplemented();
        }
    }
}

async fn unary(mut reply: Reply) {
    let Ok(Some((msg, compressed))) = reply.recv().await else {
        return;
    };
    let req = match SimpleRequest::decode(msg) {
        Ok(r) => r,
        Err(e) => return reply.finish(invalid(e)),
    };
    if flag(&req.expect_compressed) && !compressed {
        let status = Status::new(Code::INVALID_ARGUMENT, "expected a compressed message");
        return reply.finish(status);
    }
    if let Some(status) = echo_status(&req.response_status) {
        return reply.finish(status);
    }
    if let Some(status) = too_large(req.response_size) {
        return reply.finish(status);
    }
    let compress = flag(&req.response_compressed);
    if compress {
        reply.want_gzip();
    }
    let response = SimpleResponse {
        payload: Some(payload(req.response_size)),
        server_id: server_id(req.fill_server_id),
        ..SimpleResponse::default()
    };
    if reply.send(&response, compress).await {
        reply.finish(Status::ok());
    }
}

async fn streaming_input(mut reply: Reply) {
    let mut total = 0i32;
    loop {
        match reply.recv().await {
            Ok(Some((msg, compressed))) => match StreamingInputCallRequest::decode(msg) {
                Ok(req) => {
                    if flag(&req.expect_compressed) && !compressed {
                        let status =
                            Status::new(Code::INVALID_ARGUMENT, "expected a compressed message");
                        return reply.finish(status);
                    }
                    let len = req.payload.map_or(0, |p| p.body.len());
                    total = total.saturating_add(i32::try_from(len).unwrap_or(i32::MAX));
                }
                Err(e) => return reply.finish(invalid(e)),
            },
            Ok(None) => break,
            Err(()) => return,
        }
    }
    let response = StreamingInputCallResponse {
        aggregated_payload_size: total,
    };
    if reply.send(&response, false).await {
        reply.finish(Status::ok());
    }
}

/// Sends the responses one streaming request asks for; the status to end
/// with if it asked for one.
async fn respond(reply: &mut Reply, req: &StreamingOutputCallRequest) -> Status {
    if let Some(status) = echo_status(&req.response_status) {
        return status;
    }
    if let Some(status) = req
        .response_parameters
        .iter()
        .find_map(|p| too_large(p.size))
    {
        return status;
    }
    if req.response_parameters.iter().any(|p| flag(&p.compressed)) {
        reply.want_gzip();
    }
    for p in &req.response_parameters {
        if p.interval_us > 0 {
            let us = u64::try_from(p.interval_us).unwrap_or(0).min(10_000_000);
            tokio::time::sleep(Duration::from_micros(us)).await;
        }
        let response = StreamingOutputCallResponse {
            payload: Some(payload(p.size)),
        };
        if !reply.send(&response, flag(&p.compressed)).await {
            return Status::new(Code::CANCELLED, "the client went away");
        }
    }
    Status::ok()
}
