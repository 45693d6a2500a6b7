//! grpc's interop test cases (interop-test-descriptions) as a client, on
//! either adapter (the [`Conn`] and [`Call`] traits: the blocking client as
//! is, the tokio client through a runtime handle): used by
//! `examples/grpc_interop_client.rs` and `tests/interop_grpc.rs`.

use std::time::Duration;

use bytes::Bytes;
use h2proto::grpc::{CallOptions, Code, Encoding, Metadata, Status};
use h2proto::io::{blocking, tokio as tk};
use prost::Message;

use crate::messages::*;

const REQ_SIZES: [i32; 4] = [27182, 8, 1828, 45904];
const RESP_SIZES: [i32; 4] = [31415, 9, 2653, 58979];
const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";
/// Every call is bounded.
const DEADLINE: Duration = Duration::from_secs(10);

/// One case: runs its calls on the client; `Err` says what did not hold.
pub type Case = fn(&dyn Conn) -> Result<(), String>;

/// Calls `$then!` with every case's name, in order: the one list behind
/// [`CASES`] and the test suites that make a test per case
/// (`#[macro_use] mod cases;`, then `interop_cases!(their_macro);`).
macro_rules! interop_cases {
    ($then:ident) => {
        $then!(
            empty_unary,
            large_unary,
            client_streaming,
            server_streaming,
            ping_pong,
            empty_stream,
            custom_metadata,
            status_code_and_message,
            special_status_message,
            unimplemented_method,
            unimplemented_service,
            cancel_after_begin,
            cancel_after_first_response,
            timeout_on_sleeping_server,
            client_compressed_unary,
            server_compressed_unary,
            client_compressed_streaming,
            server_compressed_streaming,
        );
    };
}

macro_rules! case_table {
    ($($case:ident),* $(,)?) => {
        /// Every case, by its interop name.
        pub const CASES: &[(&str, Case)] = &[$((stringify!($case), $case)),*];
    };
}
interop_cases!(case_table);

/// The case names, comma-separated.
pub fn names() -> String {
    CASES.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
}

fn opts() -> CallOptions {
    CallOptions::new().timeout(DEADLINE)
}

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what()) }
}

fn decode<M: Message + Default>(call: &mut dyn Call) -> Result<M, String> {
    let msg = call.recv().map_err(e)?;
    let msg = msg.ok_or_else(|| format!("no message; status {:?}", call.status()))?;
    M::decode(msg).map_err(e)
}

fn expect_status(call: &mut dyn Call, code: Code, message: Option<&str>) -> Result<(), String> {
    let status = call.status().map_err(e)?;
    check(status.code() == code, || {
        format!("expected {code:?}, got {status:?}")
    })?;
    if let Some(m) = message {
        check(status.message() == m, || {
            format!("expected message {m:?}, got {:?}", status.message())
        })?;
    }
    Ok(())
}

/// A unary call: request in, the call (to read the response from) out.
fn unary<'a>(
    client: &'a dyn Conn,
    path: &str,
    md: Metadata,
    options: CallOptions,
    req: &impl Message,
    compress: bool,
) -> Result<Box<dyn Call + 'a>, String> {
    let mut call = client.call(path, md, options).map_err(e)?;
    // A server may answer (UNIMPLEMENTED, say) before it reads the request:
    // then the call's status tells.
    match call.send_with(Bytes::from(req.encode_to_vec()), compress) {
        Ok(()) | Err(SendError::Ended) => {}
        Err(err) => return Err(e(err)),
    }
    call.close_send().map_err(e)?;
    Ok(call)
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

fn empty_unary(client: &dyn Conn) -> Result<(), String> {
    let mut call = unary(
        client,
        path::EMPTY_CALL,
        Metadata::new(),
        opts(),
        &Empty {},
        false,
    )?;
    let resp: Empty = decode(&mut call)?;
    check(resp == Empty {}, || "non-empty response".into())?;
    expect_status(&mut call, Code::OK, None)
}

fn large_unary(client: &dyn Conn) -> Result<(), String> {
    let mut call = unary(
        client,
        path::UNARY_CALL,
        Metadata::new(),
        opts(),
        &large_request(),
        false,
    )?;
    check_large(&decode(&mut call)?)?;
    expect_status(&mut call, Code::OK, None)
}

fn client_streaming(client: &dyn Conn) -> Result<(), String> {
    let mut call = client
        .call(path::STREAMING_INPUT_CALL, Metadata::new(), opts())
        .map_err(e)?;
    for n in REQ_SIZES {
        let req = StreamingInputCallRequest {
            payload: Some(payload(n)),
            ..Default::default()
        };
        call.send(req.encode_to_vec().into()).map_err(e)?;
    }
    call.close_send().map_err(e)?;
    let resp: StreamingInputCallResponse = decode(&mut call)?;
    check(resp.aggregated_payload_size == 74922, || {
        format!("aggregated {}", resp.aggregated_payload_size)
    })?;
    expect_status(&mut call, Code::OK, None)
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

fn response_sizes(call: &mut dyn Call) -> Result<Vec<i32>, String> {
    let mut sizes = Vec::new();
    while let Some(msg) = call.recv().map_err(e)? {
        let resp = StreamingOutputCallResponse::decode(msg).map_err(e)?;
        let len = resp.payload.map_or(0, |p| p.body.len());
        sizes.push(i32::try_from(len).map_err(e)?);
    }
    Ok(sizes)
}

fn server_streaming(client: &dyn Conn) -> Result<(), String> {
    let req = output_request(&RESP_SIZES, None);
    let mut call = unary(
        client,
        path::STREAMING_OUTPUT_CALL,
        Metadata::new(),
        opts(),
        &req,
        false,
    )?;
    let sizes = response_sizes(&mut call)?;
    check(sizes == RESP_SIZES, || format!("sizes {sizes:?}"))?;
    expect_status(&mut call, Code::OK, None)
}

fn ping_pong(client: &dyn Conn) -> Result<(), String> {
    let mut call = client
        .call(path::FULL_DUPLEX_CALL, Metadata::new(), opts())
        .map_err(e)?;
    for (req, resp) in REQ_SIZES.into_iter().zip(RESP_SIZES) {
        let msg = output_request(&[resp], Some(req)).encode_to_vec();
        call.send(msg.into()).map_err(e)?;
        let got: StreamingOutputCallResponse = decode(&mut call)?;
        let len = got.payload.map_or(0, |p| p.body.len());
        check(len == resp as usize, || {
            format!("response of {len}, not {resp}")
        })?;
    }
    call.close_send().map_err(e)?;
    check(call.recv().map_err(e)?.is_none(), || {
        "extra response".into()
    })?;
    expect_status(&mut call, Code::OK, None)
}

fn empty_stream(client: &dyn Conn) -> Result<(), String> {
    let mut call = client
        .call(path::FULL_DUPLEX_CALL, Metadata::new(), opts())
        .map_err(e)?;
    call.close_send().map_err(e)?;
    check(call.recv().map_err(e)?.is_none(), || "a response".into())?;
    expect_status(&mut call, Code::OK, None)
}

fn custom_metadata(client: &dyn Conn) -> Result<(), String> {
    let mut md = Metadata::new();
    md.insert(ECHO_INITIAL, "test_initial_metadata_value")
        .map_err(e)?;
    md.insert_bin(ECHO_TRAILING, b"\xab\xab\xab").map_err(e)?;
    let check_md = |call: &mut dyn Call| -> Result<(), String> {
        let headers = call.headers().map_err(e)?;
        let initial = headers.as_ref().and_then(|h| h.get(ECHO_INITIAL));
        let initial = initial.map(str::to_owned);
        check(
            initial.as_deref() == Some("test_initial_metadata_value"),
            || format!("initial metadata {initial:?}"),
        )?;
        expect_status(call, Code::OK, None)?;
        let trailers = call.trailers();
        let trailing = trailers.as_ref().and_then(|t| t.get_bin(ECHO_TRAILING));
        check(
            trailing.map(|b| &b[..]) == Some(&b"\xab\xab\xab"[..]),
            || format!("trailing metadata {trailing:?}"),
        )
    };
    let mut call = unary(
        client,
        path::UNARY_CALL,
        md.clone(),
        opts(),
        &large_request(),
        false,
    )?;
    check_md(&mut call)?;
    let mut call = client.call(path::FULL_DUPLEX_CALL, md, opts()).map_err(e)?;
    let req = output_request(&[314159], Some(271828));
    call.send(req.encode_to_vec().into()).map_err(e)?;
    call.close_send().map_err(e)?;
    let got: StreamingOutputCallResponse = decode(&mut call)?;
    let len = got.payload.map_or(0, |p| p.body.len());
    check(len == 314159, || format!("duplex response of {len}"))?;
    check_md(&mut call)
}

fn status_with(client: &dyn Conn, message: &str) -> Result<(), String> {
    let echo = Some(EchoStatus {
        code: 2,
        message: message.to_owned(),
    });
    let req = SimpleRequest {
        response_status: echo.clone(),
        ..Default::default()
    };
    let mut call = unary(
        client,
        path::UNARY_CALL,
        Metadata::new(),
        opts(),
        &req,
        false,
    )?;
    expect_status(&mut call, Code::UNKNOWN, Some(message))?;
    let req = StreamingOutputCallRequest {
        response_status: echo,
        ..Default::default()
    };
    let mut call = unary(
        client,
        path::FULL_DUPLEX_CALL,
        Metadata::new(),
        opts(),
        &req,
        false,
    )?;
    expect_status(&mut call, Code::UNKNOWN, Some(message))
}

fn status_code_and_message(client: &dyn Conn) -> Result<(), String> {
    status_with(client, "test status message")
}

fn special_status_message(client: &dyn Conn) -> Result<(), String> {
    status_with(
        client,
        "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n",
    )
}

fn unimplemented_method(client: &dyn Conn) -> Result<(), String> {
    let mut call = unary(
        client,
        path::UNIMPLEMENTED_CALL,
        Metadata::new(),
        opts(),
        &Empty {},
        false,
    )?;
    expect_status(&mut call, Code::UNIMPLEMENTED, None)
}

fn unimplemented_service(client: &dyn Conn) -> Result<(), String> {
    let p = path::UNIMPLEMENTED_SERVICE;
    let mut call = unary(client, p, Metadata::new(), opts(), &Empty {}, false)?;
    expect_status(&mut call, Code::UNIMPLEMENTED, None)
}

fn cancel_after_begin(client: &dyn Conn) -> Result<(), String> {
    let mut call = client
        .call(path::STREAMING_INPUT_CALL, Metadata::new(), opts())
        .map_err(e)?;
    call.cancel();
    expect_status(&mut call, Code::CANCELLED, None)
}

fn cancel_after_first_response(client: &dyn Conn) -> Result<(), String> {
    let mut call = client
        .call(path::FULL_DUPLEX_CALL, Metadata::new(), opts())
        .map_err(e)?;
    let req = output_request(&[31415], Some(27182));
    call.send(req.encode_to_vec().into()).map_err(e)?;
    let got: StreamingOutputCallResponse = decode(&mut call)?;
    let len = got.payload.map_or(0, |p| p.body.len());
    check(len == 31415, || format!("response of {len}"))?;
    call.cancel();
    expect_status(&mut call, Code::CANCELLED, None)
}

fn timeout_on_sleeping_server(client: &dyn Conn) -> Result<(), String> {
    let options = CallOptions::new().timeout(Duration::from_millis(1));
    let mut call = client
        .call(path::FULL_DUPLEX_CALL, Metadata::new(), options)
        .map_err(e)?;
    // The deadline may already have passed: a failed send is fine.
    let req = StreamingOutputCallRequest {
        payload: Some(payload(27182)),
        ..Default::default()
    };
    let _ = call.send(req.encode_to_vec().into());
    expect_status(&mut call, Code::DEADLINE_EXCEEDED, None)
}

fn expect_compressed(value: bool) -> Option<BoolValue> {
    Some(BoolValue { value })
}

fn gzip() -> CallOptions {
    opts().encoding(Encoding::Gzip)
}

fn client_compressed_unary(client: &dyn Conn) -> Result<(), String> {
    // The probe: an uncompressed message that says it is compressed.
    let mut req = large_request();
    req.expect_compressed = expect_compressed(true);
    if client.probe() {
        let mut call = unary(
            client,
            path::UNARY_CALL,
            Metadata::new(),
            opts(),
            &req,
            false,
        )?;
        expect_status(&mut call, Code::INVALID_ARGUMENT, None)
            .map_err(|err| format!("probe: {err}"))?;
    }
    for compressed in [true, false] {
        req.expect_compressed = expect_compressed(compressed);
        let mut call = unary(
            client,
            path::UNARY_CALL,
            Metadata::new(),
            gzip(),
            &req,
            compressed,
        )?;
        check_large(&decode(&mut call)?)?;
        expect_status(&mut call, Code::OK, None)?;
    }
    Ok(())
}

fn server_compressed_unary(client: &dyn Conn) -> Result<(), String> {
    for compressed in [true, false] {
        let mut req = large_request();
        req.response_compressed = Some(BoolValue { value: compressed });
        let mut call = unary(
            client,
            path::UNARY_CALL,
            Metadata::new(),
            opts(),
            &req,
            false,
        )?;
        check_large(&decode(&mut call)?)?;
        check(call.last_compressed() == compressed, || {
            format!(
                "response compressed: {}, asked {compressed}",
                call.last_compressed()
            )
        })?;
        expect_status(&mut call, Code::OK, None)?;
    }
    Ok(())
}

fn client_compressed_streaming(client: &dyn Conn) -> Result<(), String> {
    let probe = StreamingInputCallRequest {
        payload: Some(payload(27182)),
        expect_compressed: expect_compressed(true),
    };
    let p = path::STREAMING_INPUT_CALL;
    if client.probe() {
        let mut call = unary(client, p, Metadata::new(), opts(), &probe, false)?;
        expect_status(&mut call, Code::INVALID_ARGUMENT, None)
            .map_err(|err| format!("probe: {err}"))?;
    }
    let mut call = client.call(p, Metadata::new(), gzip()).map_err(e)?;
    call.send_with(probe.encode_to_vec().into(), true)
        .map_err(e)?;
    let second = StreamingInputCallRequest {
        payload: Some(payload(45904)),
        expect_compressed: expect_compressed(false),
    };
    call.send_with(second.encode_to_vec().into(), false)
        .map_err(e)?;
    call.close_send().map_err(e)?;
    let resp: StreamingInputCallResponse = decode(&mut call)?;
    check(resp.aggregated_payload_size == 73086, || {
        format!("aggregated {}", resp.aggregated_payload_size)
    })?;
    expect_status(&mut call, Code::OK, None)
}

fn server_compressed_streaming(client: &dyn Conn) -> Result<(), String> {
    let mut req = output_request(&[31415, 92653], None);
    req.response_parameters[0].compressed = Some(BoolValue { value: true });
    req.response_parameters[1].compressed = Some(BoolValue { value: false });
    let p = path::STREAMING_OUTPUT_CALL;
    let mut call = unary(client, p, Metadata::new(), opts(), &req, false)?;
    for (size, compressed) in [(31415, true), (92653, false)] {
        let got: StreamingOutputCallResponse = decode(&mut call)?;
        let len = got.payload.map_or(0, |p| p.body.len());
        check(len == size, || format!("response of {len}, not {size}"))?;
        check(call.last_compressed() == compressed, || {
            format!("response {size} compressed: {}", call.last_compressed())
        })?;
    }
    expect_status(&mut call, Code::OK, None)
}

/// Why a send failed.
#[derive(Debug)]
pub enum SendError {
    /// The call is already over (its status tells how).
    Ended,
    /// Anything else.
    Other(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Ended => f.write_str("call ended"),
            SendError::Other(e) => f.write_str(e),
        }
    }
}

/// A client connection the cases run on.
pub trait Conn {
    /// Starts a call.
    fn call(
        &self,
        path: &str,
        md: Metadata,
        options: CallOptions,
    ) -> Result<Box<dyn Call + '_>, String>;

    /// Whether the client_compressed_* cases send grpc's feature probe (an
    /// uncompressed message that says it is compressed). Off, through
    /// [`NoProbe`], for servers that cannot see whether a request was
    /// compressed, like grpcio's Python servicers and grpc-js.
    fn probe(&self) -> bool {
        true
    }

    /// Closes the connection gracefully, within a short deadline, so its
    /// last frames (GOAWAY) leave before the process exits. Default: drop
    /// it (the blocking client's drop already waits for the close).
    fn close(self: Box<Self>) {}
}

/// A connection whose cases skip the compression probe ([`Conn::probe`]).
pub struct NoProbe(pub Box<dyn Conn>);

impl Conn for NoProbe {
    fn call(
        &self,
        path: &str,
        md: Metadata,
        options: CallOptions,
    ) -> Result<Box<dyn Call + '_>, String> {
        self.0.call(path, md, options)
    }

    fn probe(&self) -> bool {
        false
    }

    fn close(self: Box<Self>) {
        self.0.close()
    }
}

/// One call, as the cases use it.
pub trait Call {
    /// Sends a message (`compress`: with the call's encoding).
    fn send_with(&mut self, m: Bytes, compress: bool) -> Result<(), SendError>;
    /// Sends a message with the call's encoding.
    fn send(&mut self, m: Bytes) -> Result<(), SendError> {
        self.send_with(m, true)
    }
    /// Half-closes.
    fn close_send(&mut self) -> Result<(), String>;
    /// Cancels.
    fn cancel(&mut self);
    /// The response headers (`None`: trailers-only).
    fn headers(&mut self) -> Result<Option<Metadata>, String>;
    /// The next message, `None` at the end.
    fn recv(&mut self) -> Result<Option<Bytes>, String>;
    /// Whether the last message arrived compressed.
    fn last_compressed(&self) -> bool;
    /// The status, once the call is over.
    fn status(&mut self) -> Result<Status, String>;
    /// The trailers, once the call is over.
    fn trailers(&self) -> Option<Metadata>;
}

impl<C: Call + ?Sized> Call for Box<C> {
    fn send_with(&mut self, m: Bytes, compress: bool) -> Result<(), SendError> {
        (**self).send_with(m, compress)
    }
    fn close_send(&mut self) -> Result<(), String> {
        (**self).close_send()
    }
    fn cancel(&mut self) {
        (**self).cancel()
    }
    fn headers(&mut self) -> Result<Option<Metadata>, String> {
        (**self).headers()
    }
    fn recv(&mut self) -> Result<Option<Bytes>, String> {
        (**self).recv()
    }
    fn last_compressed(&self) -> bool {
        (**self).last_compressed()
    }
    fn status(&mut self) -> Result<Status, String> {
        (**self).status()
    }
    fn trailers(&self) -> Option<Metadata> {
        (**self).trailers()
    }
}

impl Conn for blocking::grpc::Client {
    fn call(
        &self,
        path: &str,
        md: Metadata,
        options: CallOptions,
    ) -> Result<Box<dyn Call + '_>, String> {
        Ok(Box::new(
            blocking::grpc::Client::call(self, path, options.metadata(md)).map_err(e)?,
        ))
    }
}

impl Call for blocking::grpc::ClientCall {
    fn send_with(&mut self, m: Bytes, compress: bool) -> Result<(), SendError> {
        match blocking::grpc::ClientCall::send_with(self, m, compress) {
            Ok(()) => Ok(()),
            Err(blocking::grpc::Error::Ended(_)) => Err(SendError::Ended),
            Err(err) => Err(SendError::Other(err.to_string())),
        }
    }
    fn close_send(&mut self) -> Result<(), String> {
        blocking::grpc::ClientCall::close_send(self).map_err(e)
    }
    fn cancel(&mut self) {
        blocking::grpc::ClientCall::cancel(self)
    }
    fn headers(&mut self) -> Result<Option<Metadata>, String> {
        Ok(blocking::grpc::ClientCall::headers(self)
            .map_err(e)?
            .cloned())
    }
    fn recv(&mut self) -> Result<Option<Bytes>, String> {
        blocking::grpc::ClientCall::recv(self).map_err(e)
    }
    fn last_compressed(&self) -> bool {
        blocking::grpc::ClientCall::last_compressed(self)
    }
    fn status(&mut self) -> Result<Status, String> {
        blocking::grpc::ClientCall::status(self).map_err(e)
    }
    fn trailers(&self) -> Option<Metadata> {
        blocking::grpc::ClientCall::trailers(self).cloned()
    }
}

/// The tokio client, driven from a thread outside its runtime: each call
/// runs its futures with the runtime's `block_on`, while the connection's
/// driver runs on the runtime's workers.
pub struct TokioConn {
    /// The client.
    pub client: tk::grpc::Client,
    /// A multi-threaded runtime the client's connection runs on.
    pub rt: tokio::runtime::Handle,
}

impl TokioConn {
    /// Connects to `addr` on `rt`.
    pub fn connect(rt: tokio::runtime::Handle, addr: &str) -> Result<TokioConn, String> {
        let client = rt
            .block_on(tk::grpc::Client::connect(addr.to_owned()))
            .map_err(e)?;
        Ok(TokioConn { client, rt })
    }

    /// Closes the connection gracefully.
    #[allow(dead_code)] // for tests/interop_grpc.rs
    pub fn shutdown(self) {
        self.rt.block_on(self.client.shutdown());
    }
}

impl Conn for TokioConn {
    fn call(
        &self,
        path: &str,
        md: Metadata,
        options: CallOptions,
    ) -> Result<Box<dyn Call + '_>, String> {
        let call = self.client.call(path, options.metadata(md)).map_err(e)?;
        Ok(Box::new(TokioCall {
            call,
            rt: &self.rt,
            trailers: None,
        }))
    }

    fn close(self: Box<Self>) {
        let TokioConn { client, rt } = *self;
        rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(2), client.shutdown()).await;
        });
    }
}

struct TokioCall<'a> {
    call: tk::grpc::ClientCall,
    rt: &'a tokio::runtime::Handle,
    trailers: Option<Metadata>,
}

impl Call for TokioCall<'_> {
    fn send_with(&mut self, m: Bytes, compress: bool) -> Result<(), SendError> {
        match self.rt.block_on(self.call.send_with(m, compress)) {
            Ok(()) => Ok(()),
            Err(tk::grpc::Error::Ended(_)) => Err(SendError::Ended),
            Err(err) => Err(SendError::Other(err.to_string())),
        }
    }
    fn close_send(&mut self) -> Result<(), String> {
        self.call.close_send().map_err(e)
    }
    fn cancel(&mut self) {
        self.call.cancel()
    }
    fn headers(&mut self) -> Result<Option<Metadata>, String> {
        let h = self.rt.block_on(self.call.headers()).map_err(e)?;
        Ok(h.cloned())
    }
    fn recv(&mut self) -> Result<Option<Bytes>, String> {
        self.rt.block_on(self.call.recv()).map_err(e)
    }
    fn last_compressed(&self) -> bool {
        self.call.last_compressed()
    }
    fn status(&mut self) -> Result<Status, String> {
        let status = self.rt.block_on(self.call.status());
        self.trailers = self.call.trailers().cloned();
        Ok(status)
    }
    fn trailers(&self) -> Option<Metadata> {
        self.call
            .trailers()
            .cloned()
            .or_else(|| self.trailers.clone())
    }
}
