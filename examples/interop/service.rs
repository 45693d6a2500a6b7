//! `grpc.testing.TestService` on the blocking gRPC driver: the handler of
//! `examples/grpc_interop_server.rs` (and of `tests/interop_grpc.rs`).
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
use h2proto::io::blocking::grpc::ServerCall;
use prost::Message;

use crate::messages::*;

/// The `server_id` this server puts in a `SimpleResponse` when asked
/// (`fill_server_id`); set once at start-up (`--server_id`).
pub static SERVER_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The `server_id` field of a response.
pub fn server_id(fill: bool) -> String {
    match SERVER_ID.get() {
        Some(id) if fill => id.clone(),
        _ => String::new(),
    }
}

/// The metadata the interop cases ask a server to echo: (initial, trailing).
pub fn echoed_metadata(request: &Metadata) -> (Metadata, Metadata) {
    let mut initial = Metadata::new();
    if let Some(v) = request.get("x-grpc-test-echo-initial") {
        let _ = initial.insert("x-grpc-test-echo-initial", v);
    }
    let mut trailers = Metadata::new();
    if let Some(v) = request.get_bin("x-grpc-test-echo-trailing-bin") {
        let _ = trailers.insert_bin("x-grpc-test-echo-trailing-bin", v);
    }
    (initial, trailers)
}

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

    fn send(&mut self, msg: &impl Message, compress: bool) -> bool {
        self.headers()
            && self
                .call
                .send_with(msg.encode_to_vec().into(), compress)
                .is_ok()
    }

    fn finish(mut self, status: Status) {
        if status.is_ok() {
            self.headers();
        }
        let _ = self.call.finish(status, self.trailers);
    }

    fn recv(&mut self) -> Result<Option<(Bytes, bool)>, ()> {
        self.call.recv().map_err(|_| ())
    }
}

/// Serves one call of `grpc.testing.TestService` (UNIMPLEMENTED for anything else).
pub fn handle(call: ServerCall) {
    let path = call.path().to_owned();
    let mut reply = Reply::new(call);
    match path.as_str() {
        path::EMPTY_CALL => {
            if reply.recv().is_ok() {
                reply.send(&Empty {}, false);
                reply.finish(Status::ok());
            }
        }
        path::UNARY_CALL => unary(reply),
        path::STREAMING_INPUT_CALL => streaming_input(reply),
        path::STREAMING_OUTPUT_CALL => {
            let Ok(Some((msg, _))) = reply.recv() else {
                return;
            };
            match StreamingOutputCallRequest::decode(msg) {
                Ok(req) => {
                    let status = respond(&mut reply, &req);
                    reply.finish(status);
                }
                Err(e) => reply.finish(invalid(e)),
            }
        }
        path::FULL_DUPLEX_CALL => loop {
            match reply.recv() {
                Ok(Some((msg, _))) => match StreamingOutputCallRequest::decode(msg) {
                    Ok(req) => {
                        let status = respond(&mut reply, &req);
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
                match reply.recv() {
                    Ok(Some((msg, _))) => match StreamingOutputCallRequest::decode(msg) {
                        Ok(req) => requests.push(req),
                        Err(e) => return reply.finish(invalid(e)),
                    },
                    Ok(None) => break,
                    Err(()) => return,
                }
            }
            for req in &requests {
                let status = respond(&mut reply, req);
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

pub fn invalid(e: prost::DecodeError) -> Status {
    Status::new(Code::INVALID_ARGUMENT, format!("bad request: {e}"))
}

pub fn echo_status(s: &Option<EchoStatus>) -> Option<Status> {
    let s = s.as_ref().filter(|s| s.code != 0)?;
    Some(Status::new(
        Code::from(u32::try_from(s.code).unwrap_or(2)),
        s.message.clone(),
    ))
}

/// Largest response payload served (the default max message size): a request
/// cannot make the server allocate more.
const MAX_RESPONSE_SIZE: i32 = 4 << 20;

/// INVALID_ARGUMENT for a response size over [`MAX_RESPONSE_SIZE`].
pub fn too_large(size: i32) -> Option<Status> {
    (size > MAX_RESPONSE_SIZE).then(|| {
        let m = format!("response size {size} over {MAX_RESPONSE_SIZE}");
        Status::new(Code::INVALID_ARGUMENT, m)
    })
}

pub fn flag(b: &Option<BoolValue>) -> bool {
    b.as_ref().is_some_and(|b| b.value)
}

fn unary(mut reply: Reply) {
    let Ok(Some((msg, compressed))) = reply.recv() else {
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
    if reply.send(&response, compress) {
        reply.finish(Status::ok());
    }
}

fn streaming_input(mut reply: Reply) {
    let mut total = 0i32;
    loop {
        match reply.recv() {
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
    if reply.send(&response, false) {
        reply.finish(Status::ok());
    }
}

/// Sends the responses one streaming request asks for; the status to end
/// with if it asked for one.
fn respond(reply: &mut Reply, req: &StreamingOutputCallRequest) -> Status {
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
            std::thread::sleep(Duration::from_micros(us));
        }
        let response = StreamingOutputCallResponse {
            payload: Some(payload(p.size)),
        };
        if !reply.send(&response, flag(&p.compressed)) {
            return Status::new(Code::CANCELLED, "the client went away");
        }
    }
    Status::ok()
}
