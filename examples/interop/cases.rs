//! grpc's interop test cases (interop-test-descriptions) as a client on the
//! blocking gRPC driver: used by `examples/grpc_interop_client.rs` and
//! `tests/interop_grpc.rs`.

use std::time::Duration;

use bytes::Bytes;
use h2proto::grpc::{CallOptions, Code, Encoding, Metadata};
use h2proto::io::blocking::grpc::{Client, ClientCall, Error};
use prost::Message;

use crate::messages::*;

const REQ_SIZES: [i32; 4] = [27182, 8, 1828, 45904];
const RESP_SIZES: [i32; 4] = [31415, 9, 2653, 58979];
const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";
/// Every call is bounded.
const DEADLINE: Duration = Duration::from_secs(10);

/// Whether to send the client_compressed_* feature probe (off for servers
/// that cannot see whether a request was compressed, like grpcio's Python
/// servicers). Set before running the cases.
pub static PROBE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// One case: runs its calls on the client; `Err` says what did not hold.
pub type Case = fn(&Client) -> Result<(), String>;

/// Every case, by its interop name.
pub const CASES: &[(&str, Case)] = &[
    ("empty_unary", empty_unary),
    ("large_unary", large_unary),
    ("client_streaming", client_streaming),
    ("server_streaming", server_streaming),
    ("ping_pong", ping_pong),
    ("empty_stream", empty_stream),
    ("custom_metadata", custom_metadata),
    ("status_code_and_message", status_code_and_message),
    ("special_status_message", special_status_message),
    ("unimplemented_method", unimplemented_method),
    ("unimplemented_service", unimplemented_service),
    ("cancel_after_begin", cancel_after_begin),
    ("cancel_after_first_response", cancel_after_first_response),
    ("timeout_on_sleeping_server", timeout_on_sleeping_server),
    ("client_compressed_unary", client_compressed_unary),
    ("server_compressed_unary", server_compressed_unary),
    ("client_compressed_streaming", client_compressed_streaming),
    ("server_compressed_streaming", server_compressed_streaming),
];

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

fn decode<M: Message + Default>(call: &mut ClientCall) -> Result<M, String> {
    let msg = call.recv().map_err(e)?;
    let msg = msg.ok_or_else(|| format!("no message; status {:?}", call.status()))?;
    M::decode(msg).map_err(e)
}

fn expect_status(call: &mut ClientCall, code: Code, message: Option<&str>) -> Result<(), String> {
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
fn unary(
    client: &Client,
    path: &str,
    md: Metadata,
    options: CallOptions,
    req: &impl Message,
    compress: bool,
) -> Result<ClientCall, String> {
    let mut call = client.call(path, md, options).map_err(e)?;
    // A server may answer (UNIMPLEMENTED, say) before it reads the request:
    // then the call's status tells.
    match call.send_with(Bytes::from(req.encode_to_vec()), compress) {
        Ok(()) | Err(Error::Ended(_)) => {}
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

fn empty_unary(client: &Client) -> Result<(), String> {
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

fn large_unary(client: &Client) -> Result<(), String> {
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

fn client_streaming(client: &Client) -> Result<(), String> {
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

fn response_sizes(call: &mut ClientCall) -> Result<Vec<i32>, String> {
    let mut sizes = Vec::new();
    while let Some(msg) = call.recv().map_err(e)? {
        let resp = StreamingOutputCallResponse::decode(msg).map_err(e)?;
        let len = resp.payload.map_or(0, |p| p.body.len());
        sizes.push(i32::try_from(len).map_err(e)?);
    }
    Ok(sizes)
}

fn server_streaming(client: &Client) -> Result<(), String> {
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

fn ping_pong(client: &Client) -> Result<(), String> {
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

fn empty_stream(client: &Client) -> Result<(), String> {
    let mut call = client
        .call(path::FULL_DUPLEX_CALL, Metadata::new(), opts())
        .map_err(e)?;
    call.close_send().map_err(e)?;
    check(call.recv().map_err(e)?.is_none(), || "a response".into())?;
    expect_status(&mut call, Code::OK, None)
}

fn custom_metadata(client: &Client) -> Result<(), String> {
    let mut md = Metadata::new();
    md.insert(ECHO_INITIAL, "test_initial_metadata_value")
        .map_err(e)?;
    md.insert_bin(ECHO_TRAILING, b"\xab\xab\xab").map_err(e)?;
    let check_md = |call: &mut ClientCall| -> Result<(), String> {
        let initial = call.headers().map_err(e)?.and_then(|h| h.get(ECHO_INITIAL));
        let initial = initial.map(str::to_owned);
        check(
            initial.as_deref() == Some("test_initial_metadata_value"),
            || format!("initial metadata {initial:?}"),
        )?;
        expect_status(call, Code::OK, None)?;
        let trailing = call.trailers().and_then(|t| t.get_bin(ECHO_TRAILING));
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

fn status_with(client: &Client, message: &str) -> Result<(), String> {
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

fn status_code_and_message(client: &Client) -> Result<(), String> {
    status_with(client, "test status message")
}

fn special_status_message(client: &Client) -> Result<(), String> {
    status_with(
        client,
        "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n",
    )
}

fn unimplemented_method(client: &Client) -> Result<(), String> {
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

fn unimplemented_service(client: &Client) -> Result<(), String> {
    let p = path::UNIMPLEMENTED_SERVICE;
    let mut call = unary(client, p, Metadata::new(), opts(), &Empty {}, false)?;
    expect_status(&mut call, Code::UNIMPLEMENTED, None)
}

fn cancel_after_begin(client: &Client) -> Result<(), String> {
    let mut call = client
        .call(path::STREAMING_INPUT_CALL, Metadata::new(), opts())
        .map_err(e)?;
    call.cancel();
    expect_status(&mut call, Code::CANCELLED, None)
}

fn cancel_after_first_response(client: &Client) -> Result<(), String> {
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

fn timeout_on_sleeping_server(client: &Client) -> Result<(), String> {
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

fn probe() -> bool {
    PROBE.load(std::sync::atomic::Ordering::Relaxed)
}

fn gzip() -> CallOptions {
    opts().encoding(Encoding::Gzip)
}

fn client_compressed_unary(client: &Client) -> Result<(), String> {
    // The probe: an uncompressed message that says it is compressed.
    let mut req = large_request();
    req.expect_compressed = expect_compressed(true);
    if probe() {
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

fn server_compressed_unary(client: &Client) -> Result<(), String> {
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

fn client_compressed_streaming(client: &Client) -> Result<(), String> {
    let probe = StreamingInputCallRequest {
        payload: Some(payload(27182)),
        expect_compressed: expect_compressed(true),
    };
    let p = path::STREAMING_INPUT_CALL;
    if self::probe() {
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

fn server_compressed_streaming(client: &Client) -> Result<(), String> {
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
