//! Clients facing hostile servers (issue #13): both adapters' clients against
//! a raw server scripted frame by frame, which counts the requests it gets,
//! and the tokio client's timeouts on tokio's paused clock.
//!
//! A request is sent again only on the server's word that it did no work
//! (its REFUSED_STREAM); a reset of the client's own, REFUSED_STREAM
//! included, never repeats it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use h2proto::frame::{self, Frame, PREFACE, Reason, RstStream, Settings, StreamId};
use h2proto::hpack::{DecoderError, Encoder, HeaderField};
use h2proto::io::tokio::{Body, Client, ClientConfig, Server, ServerConfig};
use h2proto::io::{Error, blocking};
use h2proto::proto::ResetCause;

use bytes::Bytes;
mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

/// How the raw server answers each request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// 200 with ~200 KiB of header fields: over the client's 64 KiB limit.
    HugeHeaders,
    /// RST_STREAM(REFUSED_STREAM) for the first `n` requests, then 200 "ok".
    RefuseFirst(usize),
    /// A malformed response (a connection-specific field, RFC 9113 §8.2.2):
    /// the client resets the stream itself with PROTOCOL_ERROR.
    Malformed,
}

/// A raw HTTP/2 server on loopback; `requests` counts the request HEADERS
/// it received, on every connection.
struct Hostile {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

fn hostile(answer: Answer) -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&requests);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let count = Arc::clone(&count);
            thread::spawn(move || serve(stream, answer, &count));
        }
    });
    Hostile { addr, requests }
}

fn encode(frame: impl Into<Frame>, out: &mut BytesMut) {
    frame
        .into()
        .encode(out, frame::DEFAULT_MAX_FRAME_SIZE)
        .expect("encode");
}

fn serve(mut stream: TcpStream, answer: Answer, requests: &AtomicUsize) {
    let mut hpack = Encoder::new(4096);
    let mut out = BytesMut::new();
    encode(Settings::default(), &mut out);
    if stream.write_all(&out).is_err() {
        return;
    }
    let mut input = BytesMut::new();
    let mut preface = false;
    let mut decoder = frame::Decoder::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        input.extend_from_slice(&chunk[..n]);
        if !preface {
            if input.len() < PREFACE.len() {
                continue;
            }
            let _ = input.split_to(PREFACE.len());
            preface = true;
        }
        let mut out = BytesMut::new();
        while let Ok(Some(frame)) = decoder.decode(&mut input) {
            match frame {
                Frame::Settings(s) if !s.is_ack() => encode(Settings::ack(), &mut out),
                Frame::Headers(h) => {
                    let nth = requests.fetch_add(1, SeqCst) + 1;
                    respond(answer, nth, h.stream_id, &mut hpack, &mut out);
                }
                _ => {}
            }
        }
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

fn respond(answer: Answer, nth: usize, id: StreamId, hpack: &mut Encoder, out: &mut BytesMut) {
    let mut fields = vec![HeaderField::new(":status", "200")];
    match answer {
        Answer::HugeHeaders => {
            for i in 0..50 {
                fields.push(HeaderField::new(format!("x-big-{i}"), vec![b'v'; 4000]));
            }
        }
        Answer::RefuseFirst(n) if nth <= n => {
            encode(RstStream::new(id, Reason::REFUSED_STREAM), out);
            return;
        }
        Answer::RefuseFirst(_) => {}
        Answer::Malformed => fields.push(HeaderField::new("connection", "close")),
    }
    let mut block = BytesMut::new();
    hpack.encode(&fields, &mut block);
    let end = !matches!(answer, Answer::RefuseFirst(_));
    encode(frame::Headers::new(id, block.freeze(), end, true), out);
    if !end {
        encode(frame::Data::new(id, &b"ok"[..], true), out);
    }
}

fn upload() -> http::Request<Bytes> {
    request("POST", "/upload", vec![b'u'; 10_000])
}

/// The client's own REFUSED_STREAM, with the header list's size and limit.
fn assert_refused_locally(result: Result<http::Response<Bytes>, Error>) {
    match result {
        Err(Error::LocalReset {
            reason: Reason::REFUSED_STREAM,
            why: ResetCause::HeaderListLimit(DecoderError::HeaderListTooLarge { size, limit }),
        }) => {
            assert!(size > 200_000, "{size}");
            assert_eq!(limit, 65_536);
        }
        other => panic!("{other:?}"),
    }
}

fn assert_malformed_locally(result: Result<http::Response<Bytes>, Error>) {
    assert!(
        matches!(
            result,
            Err(Error::LocalReset {
                reason: Reason::PROTOCOL_ERROR,
                why: ResetCause::Malformed(_),
            })
        ),
        "{result:?}"
    );
}

#[test]
fn only_the_peers_refusal_means_unprocessed() {
    assert!(Error::PeerReset(Reason::REFUSED_STREAM).is_unprocessed());
    assert!(!Error::PeerReset(Reason::CANCEL).is_unprocessed());
    let ours = Error::LocalReset {
        reason: Reason::REFUSED_STREAM,
        why: ResetCause::HeaderListLimit(DecoderError::HeaderListTooLarge {
            size: 200_000,
            limit: 65_536,
        }),
    };
    assert!(!ours.is_unprocessed());
    assert!(ours.to_string().contains("200000"), "{ours}");
}

#[test]
fn blocking_post_is_sent_once_when_the_response_headers_are_refused() {
    let server = hostile(Answer::HugeHeaders);
    let client = blocking::Client::connect(server.addr).unwrap();
    assert_refused_locally(client.send(upload()));
    // Each try waits for its answer, so a retry would already be counted.
    assert_eq!(server.requests.load(SeqCst), 1);
}

#[test]
fn blocking_local_reset_never_retries() {
    let server = hostile(Answer::Malformed);
    let client = blocking::Client::connect(server.addr).unwrap();
    assert_malformed_locally(client.send(upload()));
    assert_eq!(server.requests.load(SeqCst), 1);
}

#[test]
fn blocking_peer_refused_stream_is_retried() {
    let server = hostile(Answer::RefuseFirst(2));
    let client = blocking::Client::connect(server.addr).unwrap();
    let res = client.send(upload()).unwrap();
    assert_eq!((res.status().as_u16(), &res.body()[..]), (200, &b"ok"[..]));
    assert_eq!(server.requests.load(SeqCst), 3);
}

#[tokio::test]
async fn tokio_post_is_sent_once_when_the_response_headers_are_refused() {
    let server = hostile(Answer::HugeHeaders);
    let client = Client::connect(server.addr).await.unwrap();
    assert_refused_locally(client.send(upload()).await);
    assert_eq!(server.requests.load(SeqCst), 1);
}

#[tokio::test]
async fn tokio_local_reset_never_retries() {
    let server = hostile(Answer::Malformed);
    let client = Client::connect(server.addr).await.unwrap();
    assert_malformed_locally(client.send(upload()).await);
    assert_eq!(server.requests.load(SeqCst), 1);
}

#[tokio::test]
async fn tokio_peer_refused_stream_is_retried() {
    let server = hostile(Answer::RefuseFirst(2));
    let client = Client::connect(server.addr).await.unwrap();
    let res = client.send(upload()).await.unwrap();
    assert_eq!((res.status().as_u16(), &res.body()[..]), (200, &b"ok"[..]));
    assert_eq!(server.requests.load(SeqCst), 3);
}

/// A server (ours, on the same paused clock) that sends the response head at
/// once and then one byte of body per second, forever.
async fn trickle_server() -> h2proto::io::tokio::ServerHandle {
    let mut config = ServerConfig::default();
    // Only the timers under test may fire on virtual time.
    config.h2.settings_timeout = Duration::from_secs(86_400);
    Server::bind_with("127.0.0.1:0", config)
        .await
        .unwrap()
        .serve(|_req| async {
            let (mut tx, body) = Body::channel();
            tokio::spawn(async move {
                while tx.send("x").await.is_ok() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
            response(200, body)
        })
}

fn client_config(timeout: Option<Duration>) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.h2.settings_timeout = Duration::from_secs(86_400);
    config.request_timeout = timeout;
    config
}

/// Waits (on virtual time) until both ends have forgotten every stream.
async fn all_streams_freed(client: &Client, server: &h2proto::io::tokio::ServerHandle) {
    for _ in 0..1000 {
        let s = server.stats();
        if client.live_streams() == 0
            && client.tracked_streams() == 0
            && s.live_streams == 0
            && s.tracked_streams == 0
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "streams left: client {} / {}, server {:?}",
        client.live_streams(),
        client.tracked_streams(),
        server.stats()
    );
}

#[tokio::test(start_paused = true)]
async fn tokio_trickling_body_times_out_on_virtual_time_and_the_stream_is_reset() {
    let server = trickle_server().await;
    let client = Client::connect_with(
        server.local_addr(),
        client_config(Some(Duration::from_secs(5))),
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    let mut res = client
        .send_request(request("GET", "/", Body::empty()))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let mut received = 0;
    let error = loop {
        match res.body_mut().chunk().await {
            Some(Ok(chunk)) => received += chunk.len(),
            Some(Err(e)) => break e,
            None => panic!("the body never ends"),
        }
    };
    assert!(matches!(error, Error::Timeout), "{error:?}");
    assert!(received >= 1);
    assert!(started.elapsed() >= Duration::from_secs(5), "virtual time");
    drop(res);
    all_streams_freed(&client, &server).await;
}

#[tokio::test(start_paused = true)]
async fn tokio_send_times_out_on_the_clients_default_timeout() {
    let server = trickle_server().await;
    let client = Client::connect_with(
        server.local_addr(),
        client_config(Some(Duration::from_secs(30))),
    )
    .await
    .unwrap();
    let started = tokio::time::Instant::now();
    let result = client.get("/").await;
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    assert!(started.elapsed() >= Duration::from_secs(30), "virtual time");
    all_streams_freed(&client, &server).await;
}

#[tokio::test(start_paused = true)]
async fn tokio_per_request_timeout_overrides_the_default() {
    let server = trickle_server().await;
    let client = Client::connect_with(server.local_addr(), client_config(None))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let head =
        http::Request::get("/").extension(h2proto::io::tokio::Timeout(Duration::from_secs(2)));
    let mut res = client
        .send_request(head.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let result = res.body_mut().collect(1 << 20).await;
    assert!(matches!(result, Err(Error::Timeout)), "{result:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    drop(res);
    all_streams_freed(&client, &server).await;
}

/// An endless response body: collecting stops at the 4 MiB default with
/// `BodyTooLarge`, and the stream is cancelled (tokio client).
#[tokio::test]
async fn tokio_collected_body_stops_at_the_4_mib_default() {
    assert_eq!(ClientConfig::default().max_response_body, 4 << 20);
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(|_req| async {
            let (mut tx, body) = Body::channel();
            tokio::spawn(async move {
                let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
                while tx.send(chunk.clone()).await.is_ok() {}
            });
            response(200, body)
        });
    let client = Client::connect(server.local_addr()).await.unwrap();
    let result = client.get("/endless").await;
    assert!(matches!(result, Err(Error::BodyTooLarge)), "{result:?}");
    all_streams_freed(&client, &server).await;
}

/// The same limit on the blocking client, against a 5 MiB response.
#[test]
fn blocking_collected_body_stops_at_the_4_mib_default() {
    assert_eq!(blocking::ClientConfig::default().max_response_body, 4 << 20);
    let server = blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .spawn(|_req| response(200, vec![b'x'; 5 << 20]))
        .unwrap();
    let client = blocking::Client::connect(server.local_addr()).unwrap();
    let result = client.get("/big");
    assert!(matches!(result, Err(Error::BodyTooLarge)), "{result:?}");
    // The connection lives on.
    assert!(matches!(client.get("/big"), Err(Error::BodyTooLarge)));
}
