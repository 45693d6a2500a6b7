//! Flow-control rules checked over a real socket against both adapters'
//! servers, with the frames written by hand (as the outside conformance
//! suite of issue #12 does). Each case runs many times on fresh connections,
//! with the frames in one write and split over several: the failure it
//! guards against depended on how the bytes were cut into reads.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2proto::frame::{self, Frame, Priority, PrioritySpec, Settings, StreamId, WindowUpdate};
use h2proto::hpack::{Encoder, HeaderField};

mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

/// How many fresh connections each case runs.
const ITERATIONS: usize = 200;

/// The body `examples/h2_server` answers `GET /` with.
const HELLO: &str = "hello from h2proto: GET /\n";

/// Bounds every read, so a server that stays silent fails the test instead
/// of hanging it (not a timing assertion: a correct server answers at once).
const READ_DEADLINE: Duration = Duration::from_secs(10);

fn encode(frame: impl Into<Frame>, out: &mut BytesMut) {
    frame
        .into()
        .encode(out, frame::DEFAULT_MAX_FRAME_SIZE)
        .expect("valid frame");
}

/// The client's side of issue #12 item 1, as writes: preface and
/// SETTINGS_INITIAL_WINDOW_SIZE = 0 (and an ACK of the server's SETTINGS),
/// `GET /` with END_STREAM, PRIORITY, WINDOW_UPDATE(1, +1). `split` puts
/// each frame in its own write.
fn zero_window_get(split: bool) -> Vec<BytesMut> {
    let mut frames = Vec::new();
    let mut out = BytesMut::new();
    out.extend_from_slice(frame::PREFACE);
    encode(
        Settings::builder().initial_window_size(0).build().unwrap(),
        &mut out,
    );
    encode(Settings::ack(), &mut out);
    frames.push(out);
    let fields = [
        HeaderField::new(":method", "GET"),
        HeaderField::new(":scheme", "http"),
        HeaderField::new(":authority", "localhost"),
        HeaderField::new(":path", "/"),
    ];
    let mut block = BytesMut::new();
    Encoder::new(4096).encode(&fields, &mut block);
    let id = StreamId::new(1);
    let mut out = BytesMut::new();
    encode(
        frame::Headers::new(id, block.freeze(), true, true),
        &mut out,
    );
    frames.push(out);
    let mut out = BytesMut::new();
    let spec = PrioritySpec {
        exclusive: false,
        stream_dependency: StreamId::ZERO,
        weight: 15,
    };
    encode(
        Priority {
            stream_id: id,
            spec,
        },
        &mut out,
    );
    frames.push(out);
    let mut out = BytesMut::new();
    encode(WindowUpdate::new(id, 1), &mut out);
    frames.push(out);
    if split {
        frames
    } else {
        let mut all = BytesMut::new();
        for f in frames {
            all.extend_from_slice(&f);
        }
        vec![all]
    }
}

/// Connects, writes the frames, and returns the first DATA frame the server
/// sends on stream 1 (payload, END_STREAM), or what went wrong.
fn first_data(addr: SocketAddr, writes: &[BytesMut]) -> Result<(Bytes, bool), String> {
    let mut socket = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    socket.set_nodelay(true).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(READ_DEADLINE))
        .map_err(|e| e.to_string())?;
    for w in writes {
        socket.write_all(w).map_err(|e| e.to_string())?;
    }
    let mut decoder = frame::Decoder::with_max_frame_size(frame::MAX_MAX_FRAME_SIZE);
    let mut input = BytesMut::new();
    let mut seen = Vec::new();
    loop {
        while let Some(f) = decoder.decode(&mut input).map_err(|e| e.to_string())? {
            match f {
                Frame::Data(d) if d.stream_id.value() == 1 => return Ok((d.data, d.end_stream)),
                Frame::GoAway(_) | Frame::RstStream(_) => return Err(format!("got {f:?}")),
                f => seen.push(format!("{f}")),
            }
        }
        let mut buf = [0u8; 4096];
        match socket.read(&mut buf) {
            Ok(0) => return Err(format!("EOF after {seen:?}")),
            Ok(n) => input.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("{e} after {seen:?} (no DATA)")),
        }
    }
}

/// Every iteration, either cut of the writes: exactly the one byte the
/// window allows, without END_STREAM.
fn check_one_byte_arrives(addr: SocketAddr) {
    for i in 0..ITERATIONS {
        let split = i % 2 == 1;
        let got = first_data(addr, &zero_window_get(split));
        assert_eq!(
            got,
            Ok((Bytes::from_static(&HELLO.as_bytes()[..1]), false)),
            "iteration {i} (split: {split})"
        );
    }
}

#[test]
fn s6_9_2_blocking_server_sends_the_byte_a_window_update_allows_at_initial_window_zero() {
    let handle = h2proto::io::blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .spawn(|_req| with_header(response(200, HELLO), "content-length", HELLO.len()))
        .unwrap();
    check_one_byte_arrives(handle.local_addr());
    handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_9_2_tokio_server_sends_the_byte_a_window_update_allows_at_initial_window_zero() {
    let handle = h2proto::io::tokio::Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(|_req| async { with_header(response(200, HELLO), "content-length", HELLO.len()) });
    let addr = handle.local_addr();
    tokio::task::spawn_blocking(move || check_one_byte_arrives(addr))
        .await
        .unwrap();
    handle.shutdown(Duration::from_secs(1)).await;
}

/// Issue #12 item 2 over a socket: `GET path` without END_STREAM, then two
/// WINDOW_UPDATE(1, 2^31-1), sent at once (`after_response` false: the
/// server is still waiting for the request's end, as `examples/h2_server`
/// does) or once the whole response was read (half-closed (local) at the
/// server). Either way the answer is RST_STREAM(1, FLOW_CONTROL_ERROR).
fn overflow_is_reset(addr: SocketAddr, path: &'static str, after_response: bool) {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(READ_DEADLINE)).unwrap();
    let id = StreamId::new(1);
    let mut updates = BytesMut::new();
    encode(WindowUpdate::new(id, (1 << 31) - 1), &mut updates);
    encode(WindowUpdate::new(id, (1 << 31) - 1), &mut updates);
    let mut out = BytesMut::new();
    out.extend_from_slice(frame::PREFACE);
    encode(Settings::builder().build().unwrap(), &mut out);
    encode(Settings::ack(), &mut out);
    let fields = [
        HeaderField::new(":method", "GET"),
        HeaderField::new(":scheme", "http"),
        HeaderField::new(":authority", "localhost"),
        HeaderField::new(":path", path),
    ];
    let mut block = BytesMut::new();
    Encoder::new(4096).encode(&fields, &mut block);
    encode(
        frame::Headers::new(id, block.freeze(), false, true),
        &mut out,
    );
    if !after_response {
        out.extend_from_slice(&updates);
    }
    socket.write_all(&out).unwrap();
    let mut updates_sent = !after_response;
    let mut decoder = frame::Decoder::with_max_frame_size(frame::MAX_MAX_FRAME_SIZE);
    let mut input = BytesMut::new();
    loop {
        while let Some(f) = decoder.decode(&mut input).unwrap() {
            match f {
                Frame::Data(d) if d.stream_id == id && d.end_stream && !updates_sent => {
                    socket.write_all(&updates).unwrap();
                    updates_sent = true;
                }
                Frame::RstStream(r) => {
                    assert!(updates_sent, "reset before the updates: {r}");
                    assert_eq!(
                        (r.stream_id, r.error_code),
                        (id, frame::Reason::FLOW_CONTROL_ERROR),
                        "{path}"
                    );
                    return;
                }
                Frame::GoAway(g) => panic!("{path}: {g}"),
                _ => {}
            }
        }
        let mut buf = [0u8; 4096];
        match socket.read(&mut buf) {
            Ok(0) => panic!("{path}: EOF before RST_STREAM"),
            Ok(n) => input.extend_from_slice(&buf[..n]),
            Err(e) => panic!("{path}: {e}: no RST_STREAM"),
        }
    }
}

#[test]
fn s6_9_1_blocking_server_resets_a_stream_whose_window_overflows_before_the_request_ends() {
    let handle = h2proto::io::blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .spawn(|_req| response(200, HELLO))
        .unwrap();
    // The blocking server calls its handler once the request ended.
    overflow_is_reset(handle.local_addr(), "/", false);
    handle.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_9_1_tokio_server_resets_a_stream_whose_window_overflows_open_or_half_closed_local() {
    let handle = h2proto::io::tokio::Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(
            |req: http::Request<h2proto::io::tokio::RecvBody>| async move {
                if req.uri().path() == "/wait" {
                    // What `examples/h2_server` does: the whole request first.
                    let _ = h2proto::io::tokio::collect_request(req, 1 << 20).await;
                    return response(200, HELLO);
                }
                // Answer at once; keep reading the body so the stream is not
                // reset with NO_ERROR once the response is out (RFC 9113 §8.1).
                let mut body = req.into_body();
                tokio::spawn(async move { while let Some(Ok(_)) = body.chunk().await {} });
                response(200, HELLO)
            },
        );
    let addr = handle.local_addr();
    tokio::task::spawn_blocking(move || {
        overflow_is_reset(addr, "/wait", false);
        overflow_is_reset(addr, "/", true);
    })
    .await
    .unwrap();
    handle.shutdown(Duration::from_secs(1)).await;
}
