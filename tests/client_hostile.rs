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
use h2proto::frame::{
    self, Frame, GoAway, PREFACE, Reason, RstStream, Settings, StreamId, WindowUpdate,
};
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
    /// The first connection answers its first request with GOAWAY (last
    /// stream 0: nothing processed) and closes, as nginx does past its
    /// `keepalive_requests`; later connections answer each request, once
    /// its body has ended, with 200 and the body's length in decimal.
    GoAwayOnFirstConnection,
    /// 200 and the request body's length, once the body has ended.
    BodyLength,
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
        for (nth, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { return };
            let count = Arc::clone(&count);
            let answer = match answer {
                Answer::GoAwayOnFirstConnection if nth > 0 => Answer::BodyLength,
                other => other,
            };
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
    // (stream, body bytes so far) of the requests in progress.
    let mut lengths: Vec<(StreamId, usize)> = Vec::new();
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
        let mut close = false;
        while let Ok(Some(frame)) = decoder.decode(&mut input) {
            match (answer, frame) {
                (_, Frame::Settings(s)) if !s.is_ack() => encode(Settings::ack(), &mut out),
                (Answer::GoAwayOnFirstConnection, Frame::Headers(_)) => {
                    requests.fetch_add(1, SeqCst);
                    encode(GoAway::new(StreamId::ZERO, Reason::NO_ERROR), &mut out);
                    close = true;
                }
                (Answer::BodyLength, Frame::Headers(h)) => {
                    requests.fetch_add(1, SeqCst);
                    lengths.push((h.stream_id, 0));
                    if h.end_stream {
                        answer_length(h.stream_id, 0, &mut hpack, &mut out);
                    }
                }
                (Answer::BodyLength, Frame::Data(d)) => {
                    let Some(entry) = lengths.iter_mut().find(|(id, _)| *id == d.stream_id) else {
                        continue;
                    };
                    entry.1 += d.data.len();
                    // Credit back at once, for the stream and the connection.
                    let n = u32::try_from(d.data.len()).unwrap_or(0);
                    if n > 0 {
                        encode(WindowUpdate::new(d.stream_id, n), &mut out);
                        encode(WindowUpdate::new(StreamId::ZERO, n), &mut out);
                    }
                    if d.end_stream {
                        answer_length(d.stream_id, entry.1, &mut hpack, &mut out);
                    }
                }
                (_, Frame::Headers(h)) => {
                    let nth = requests.fetch_add(1, SeqCst) + 1;
                    respond(answer, nth, h.stream_id, &mut hpack, &mut out);
                }
                _ => {}
            }
        }
        if stream.write_all(&out).is_err() || close {
            return;
        }
    }
}

/// 200 with `len` in decimal as the body.
fn answer_length(id: StreamId, len: usize, hpack: &mut Encoder, out: &mut BytesMut) {
    let mut block = BytesMut::new();
    hpack.encode(&[HeaderField::new(":status", "200")], &mut block);
    encode(frame::Headers::new(id, block.freeze(), false, true), out);
    encode(
        frame::Data::new(id, Bytes::from(len.to_string()), true),
        out,
    );
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
        Answer::GoAwayOnFirstConnection | Answer::BodyLength => unreachable!("answered in serve"),
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

/// The pools send a request the server did not process (its GOAWAY said
/// nothing was) to a fresh connection, its 10,000-byte body with it: once
/// through `Pool::send`, once through the pool's tower service, whose body
/// is replayed from what it kept.
#[tokio::test]
async fn the_pools_send_a_request_the_server_did_not_process_again_with_its_body() {
    use h2proto::io::tokio::pool::{Pool, PoolConfig};
    use tower_service::Service;
    for tower in [false, true] {
        let server = hostile(Answer::GoAwayOnFirstConnection);
        let dials = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&dials);
        let pool = Pool::new(PoolConfig::default(), move |origin: String| {
            counted.fetch_add(1, SeqCst);
            async move { Client::connect_url(&origin, None, ClientConfig::default()).await }
        });
        let uri = format!("http://{}/upload", server.addr);
        let body = if tower {
            let req = http::Request::post(&uri)
                .body(http_body_util::Full::new(Bytes::from(vec![b'u'; 10_000])));
            let res = pool.clone().call(req.unwrap()).await.unwrap();
            assert_eq!(pool.replay_buffered(), 0, "released once answered");
            http_body_util::BodyExt::collect(res.into_body())
                .await
                .unwrap()
                .to_bytes()
        } else {
            let req = http::Request::post(&uri).body(Bytes::from(vec![b'u'; 10_000]));
            pool.send(req.unwrap()).await.unwrap().into_body()
        };
        assert_eq!(
            &body[..],
            b"10000",
            "the whole body, sent again (tower: {tower})"
        );
        assert_eq!((dials.load(SeqCst), server.requests.load(SeqCst)), (2, 2));
    }
}

/// A body larger than `replay_per_request` is not kept, so its request is
/// not sent again: it fails as unprocessed, and nothing stays counted.
#[tokio::test]
async fn the_tower_pool_does_not_resend_a_body_past_its_replay_cap() {
    use h2proto::io::tokio::pool::{Pool, PoolConfig};
    use tower_service::Service;
    let server = hostile(Answer::GoAwayOnFirstConnection);
    let config = PoolConfig {
        replay_per_request: 4096,
        ..PoolConfig::default()
    };
    let pool = Pool::new(config, |origin: String| async move {
        Client::connect_url(&origin, None, ClientConfig::default()).await
    });
    let uri = format!("http://{}/upload", server.addr);
    let req =
        http::Request::post(uri).body(http_body_util::Full::new(Bytes::from(vec![b'u'; 10_000])));
    let err = pool.clone().call(req.unwrap()).await.unwrap_err();
    let err = err.downcast::<Error>().expect("the request's own error");
    assert!(err.is_unprocessed() || err.is_not_sent(), "{err:?}");
    assert_eq!(server.requests.load(SeqCst), 1, "sent once");
    assert_eq!(pool.replay_buffered(), 0);
}
