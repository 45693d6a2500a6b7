//! The tokio gRPC adapter (`io::tokio::grpc`) end to end over loopback: the
//! four call kinds, metadata both ways, deadlines, cancellation seen by the
//! handler, UNIMPLEMENTED, back-pressure with a reader that stops, and
//! dropped handles freeing every call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use h2proto::grpc::{Code, Metadata, Status};
use h2proto::io::tokio::grpc::{CallOptions, Client, Config, Error, Server, ServerHandle};
use tokio::sync::mpsc;

/// Upper bound of every wait, so a bug fails instead of hanging.
const BOUND: Duration = Duration::from_secs(20);

fn echo_server(config: Config) -> Server {
    Server::builder()
        .config(config)
        .unary("/t.T/Echo", |ctx, m: Bytes| async move {
            // Metadata in, out in the headers and the trailers.
            if let Some(v) = ctx.metadata().get("x-in") {
                let mut h = Metadata::new();
                h.insert("x-head", &format!("head-{v}")).unwrap();
                ctx.send_headers(h).map_err(|e| e.to_status())?;
                let mut t = Metadata::new();
                t.insert("x-tail", &format!("tail-{v}")).unwrap();
                ctx.set_trailers(t);
            }
            Ok(m)
        })
        .client_streaming("/t.T/Sum", |_ctx, mut reqs| async move {
            let mut total = 0u64;
            while let Some(m) = reqs.recv().await.map_err(|e| e.to_status())? {
                total += m.len() as u64;
            }
            Ok(Bytes::from(total.to_string()))
        })
        .server_streaming("/t.T/Count", |_ctx, m, mut out| async move {
            let n: usize = std::str::from_utf8(&m).unwrap_or("0").parse().unwrap_or(0);
            for i in 0..n {
                out.send(Bytes::from(i.to_string()))
                    .await
                    .map_err(|e| e.to_status())?;
            }
            Ok(())
        })
        .bidi_streaming("/t.T/Chat", |_ctx, mut reqs, mut out| async move {
            while let Some(m) = reqs.recv().await.map_err(|e| e.to_status())? {
                out.send(m).await.map_err(|e| e.to_status())?;
            }
            Ok(())
        })
        .unary("/t.T/Fail", |_ctx, _m| async move {
            Err(Status::new(Code::NOT_FOUND, "no such thing"))
        })
}

async fn start(config: Config) -> (ServerHandle, Client) {
    let server = echo_server(config).bind("127.0.0.1:0").await.unwrap();
    let client = Client::connect(server.local_addr()).await.unwrap();
    (server, client)
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("bounded wait")
}

/// Waits until `cond` holds (polling; a bug fails at [`BOUND`]).
async fn eventually(mut cond: impl FnMut() -> bool) {
    bounded(async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

async fn four_kinds(config: Config) {
    let (server, client) = start(config).await;
    // Unary with metadata both ways.
    let mut md = Metadata::new();
    md.insert("x-in", "7").unwrap();
    let r = client
        .unary(
            "/t.T/Echo",
            Bytes::from_static(b"hi"),
            CallOptions::new().metadata(md),
        )
        .await
        .unwrap();
    assert_eq!(r.message, "hi");
    assert_eq!(r.headers.get("x-head"), Some("head-7"));
    assert_eq!(r.trailers.get("x-tail"), Some("tail-7"));

    // Client streaming.
    let mut call = client
        .client_streaming("/t.T/Sum", CallOptions::new())
        .await
        .unwrap();
    for n in [1, 10, 100] {
        call.send(Bytes::from(vec![0; n])).await.unwrap();
    }
    assert_eq!(call.response().await.unwrap().message, "111");

    // Server streaming.
    let mut stream = client
        .server_streaming("/t.T/Count", Bytes::from_static(b"5"), CallOptions::new())
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(m) = stream.recv().await.unwrap() {
        got.push(String::from_utf8(m.to_vec()).unwrap());
    }
    assert_eq!(got, ["0", "1", "2", "3", "4"]);
    assert!(stream.status().await.is_ok());

    // Bidi, the halves in two tasks.
    let (mut tx, mut rx) = client
        .bidi_streaming("/t.T/Chat", CallOptions::new())
        .await
        .unwrap();
    let sender = tokio::spawn(async move {
        for i in 0..50u32 {
            tx.send(Bytes::from(i.to_be_bytes().to_vec()))
                .await
                .unwrap();
        }
        tx.close_send().unwrap();
    });
    let mut n = 0u32;
    while let Some(m) = rx.recv().await.unwrap() {
        assert_eq!(m[..], n.to_be_bytes());
        n += 1;
    }
    assert_eq!(n, 50);
    assert!(rx.status().await.is_ok());
    sender.await.unwrap();

    // A handler's error status.
    let err = client
        .unary("/t.T/Fail", Bytes::new(), CallOptions::new())
        .await;
    match err {
        Err(Error::Ended(s)) => {
            assert_eq!(s.code(), Code::NOT_FOUND);
            assert_eq!(s.message(), "no such thing");
        }
        other => panic!("{other:?}"),
    }
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_call_kinds_and_metadata() {
    bounded(four_kinds(Config::server())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_call_kinds_with_spawned_handlers() {
    let mut config = Config::server();
    config.spawn_handlers = true;
    bounded(four_kinds(config)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn unknown_method_is_unimplemented() {
    let (server, client) = start(Config::server()).await;
    let err = bounded(client.unary("/t.T/Nope", Bytes::new(), CallOptions::new())).await;
    assert!(
        matches!(&err, Err(Error::Ended(s)) if s.code() == Code::UNIMPLEMENTED),
        "{err:?}"
    );
    client.shutdown().await;
    server.shutdown().await;
}

/// A server whose `/t.T/Slow` waits for the call's end and reports the
/// status its handler saw.
async fn slow_server() -> (ServerHandle, mpsc::UnboundedReceiver<Code>) {
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let server = Server::builder()
        .unary("/t.T/Slow", move |ctx, _m| {
            let seen_tx = seen_tx.clone();
            async move {
                // Slower than any deadline: only the call's end ends it.
                let status = ctx.cancelled().await;
                let _ = seen_tx.send(status.code());
                Err(status)
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    (server, seen)
}

/// The client's deadline ends the call DEADLINE_EXCEEDED on the client, and
/// the handler sees the call end. Both sides run a 50 ms timer (the server's
/// from `grpc-timeout`, started a loopback hop later), so the handler sees
/// whichever comes first, both allowed by the gRPC spec: its own deadline
/// (DEADLINE_EXCEEDED) or the client's RST_STREAM(CANCEL) (CANCELLED). Under
/// load either wins (asserting one of them failed ~15% of runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_exceeded_is_seen_by_both_sides() {
    let (server, mut seen) = slow_server().await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let options = CallOptions::new().timeout(Duration::from_millis(50));
    let err = bounded(client.unary("/t.T/Slow", Bytes::new(), options)).await;
    assert!(
        matches!(&err, Err(Error::Ended(s)) if s.code() == Code::DEADLINE_EXCEEDED),
        "{err:?}"
    );
    let handler_saw = bounded(seen.recv()).await;
    assert!(
        matches!(
            handler_saw,
            Some(Code::DEADLINE_EXCEEDED) | Some(Code::CANCELLED)
        ),
        "{handler_saw:?}"
    );
    eventually(|| server.active_calls() == 0 && client.active_calls() == 0).await;
    client.shutdown().await;
    server.shutdown().await;
}

/// The server's own deadline, with no client timer racing it: an HTTP/2
/// client that never cancels sends `grpc-timeout: 50m`; the handler sees
/// DEADLINE_EXCEEDED and the server answers it (trailers-only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_deadline_is_seen_by_the_handler_and_answered() {
    let (server, mut seen) = slow_server().await;
    let http = h2proto::io::tokio::Client::connect(server.local_addr())
        .await
        .unwrap();
    let req = http::Request::post("http://localhost/t.T/Slow")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "50m")
        // One empty message: flag 0, length 0.
        .body(Bytes::from_static(&[0, 0, 0, 0, 0]))
        .unwrap();
    let res = bounded(http.send(req)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get("grpc-status").map(|v| v.as_bytes()),
        Some(&b"4"[..]),
        "{res:?}"
    );
    assert_eq!(bounded(seen.recv()).await, Some(Code::DEADLINE_EXCEEDED));
    eventually(|| server.active_calls() == 0).await;
    http.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cancellation_is_seen_by_the_handler() {
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = Server::builder()
        .bidi_streaming("/t.T/Hold", move |ctx, mut reqs, mut out| {
            let seen_tx = seen_tx.clone();
            async move {
                let first = reqs.recv().await.map_err(|e| e.to_status())?;
                out.send(first.unwrap_or_default())
                    .await
                    .map_err(|e| e.to_status())?;
                let status = ctx.cancelled().await;
                // Reads fail too, with the same status.
                let read = reqs.recv().await;
                let _ = seen_tx.send((status.code(), read.is_err()));
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client = Client::connect(server.local_addr()).await.unwrap();
    let mut call = client.call("/t.T/Hold", CallOptions::new()).unwrap();
    call.send(Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(
        bounded(call.recv()).await.unwrap().as_deref(),
        Some(&b"x"[..])
    );
    drop(call); // before the end: CANCEL
    assert_eq!(bounded(seen.recv()).await, Some((Code::CANCELLED, true)));
    eventually(|| server.active_calls() == 0 && client.active_calls() == 0).await;
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_bounds_a_fast_producer() {
    const SIZE: usize = 64 * 1024;
    const COUNT: usize = 200;
    const WINDOW: u32 = 256 * 1024;
    let produced = Arc::new(AtomicUsize::new(0));
    let p = produced.clone();
    let server = Server::builder()
        .server_streaming("/t.T/Flood", move |_ctx, _m, mut out| {
            let p = p.clone();
            async move {
                for _ in 0..COUNT {
                    out.send(Bytes::from(vec![1u8; SIZE]))
                        .await
                        .map_err(|e| e.to_status())?;
                    p.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut config = Config::client();
    config.grpc = config.grpc.fixed_windows(WINDOW, WINDOW);
    let client = Client::connect_with(server.local_addr(), config)
        .await
        .unwrap();
    let mut stream = client
        .server_streaming("/t.T/Flood", Bytes::new(), CallOptions::new())
        .await
        .unwrap();
    // Read nothing until the producer has been stuck for a while.
    let mut last = usize::MAX;
    let mut still = 0;
    bounded(async {
        while still < 20 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = produced.load(Ordering::SeqCst);
            still = if now == last { still + 1 } else { 0 };
            last = now;
        }
    })
    .await;
    let sent = produced.load(Ordering::SeqCst) * SIZE;
    assert!(sent < COUNT * SIZE, "the producer was never stopped");
    // The window on our side, the send queue and buffer on the server's.
    assert!(
        sent <= 4 << 20,
        "{sent} bytes produced for a reader that reads nothing"
    );
    let queued: usize = server
        .connection_stats()
        .iter()
        .map(|s| s.queued_data)
        .sum();
    assert!(
        queued <= 1 << 20,
        "{queued} bytes queued in the server's core"
    );
    let unreleased = client.connection_stats().recv_unreleased;
    assert!(unreleased <= 2 * WINDOW, "{unreleased} unreleased");
    // Reading gives the credit back: everything arrives.
    let mut n = 0;
    while let Some(m) = bounded(stream.recv()).await.unwrap() {
        assert_eq!(m.len(), SIZE);
        n += 1;
    }
    assert_eq!(n, COUNT);
    assert!(stream.status().await.is_ok());
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_handles_leave_no_live_calls() {
    let (server, client) = start(Config::server()).await;
    for i in 0..100 {
        // A bidi call dropped after one exchange.
        let mut call = client.call("/t.T/Chat", CallOptions::new()).unwrap();
        call.send(Bytes::from_static(b"x")).await.unwrap();
        assert!(bounded(call.recv()).await.unwrap().is_some());
        drop(call);
        // A response stream dropped after its first message.
        let mut stream = client
            .server_streaming(
                "/t.T/Count",
                Bytes::from_static(b"1000"),
                CallOptions::new(),
            )
            .await
            .unwrap();
        assert!(bounded(stream.recv()).await.unwrap().is_some());
        drop(stream);
        // A client-streaming call dropped before it sent anything.
        drop(
            client
                .client_streaming("/t.T/Sum", CallOptions::new())
                .await
                .unwrap(),
        );
        // A unary future dropped before its answer (sometimes after).
        let unary = client.unary("/t.T/Echo", Bytes::from_static(b"y"), CallOptions::new());
        if i % 2 == 0 {
            drop(unary);
        } else {
            let _ = tokio::time::timeout(Duration::from_micros(1), unary).await;
        }
    }
    eventually(|| {
        let c = client.connection_stats();
        let s = server.connection_stats();
        client.active_calls() == 0
            && server.active_calls() == 0
            && c.streams.total() == 0
            && c.recv_unreleased == 0
            && s.iter()
                .all(|s| s.streams.total() == 0 && s.recv_unreleased == 0)
    })
    .await;
    // The connection still works.
    let r = client.unary("/t.T/Echo", Bytes::from_static(b"ok"), CallOptions::new());
    assert_eq!(bounded(r).await.unwrap().message, "ok");
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_a_call_finish() {
    let (server, client) = start(Config::server()).await;
    let mut call = client.call("/t.T/Chat", CallOptions::new()).unwrap();
    call.send(Bytes::from_static(b"a")).await.unwrap();
    assert!(bounded(call.recv()).await.unwrap().is_some());
    let shutdown = tokio::spawn(server.shutdown());
    // The call in progress still works, then ends OK.
    call.send(Bytes::from_static(b"b")).await.unwrap();
    assert_eq!(
        bounded(call.recv()).await.unwrap().as_deref(),
        Some(&b"b"[..])
    );
    call.close_send().unwrap();
    assert!(bounded(call.status()).await.is_ok());
    bounded(shutdown).await.unwrap();
    // And the connection is gone.
    let err = bounded(client.unary("/t.T/Echo", Bytes::new(), CallOptions::new())).await;
    assert!(err.is_err());
}

/// The single-message method kinds' edge cases (one code path serves
/// unary and server-streaming): a call half-closed without its request
/// message ends INTERNAL without running the handler; a unary answer that
/// cannot be sent (over the server's max send size) is not followed by an
/// OK status: the call is cancelled instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_message_methods_without_a_message_or_an_unsendable_answer() {
    let mut config = Config::server();
    config.grpc.max_send_message_size = 4;
    let (server, client) = start(config).await;
    for path in ["/t.T/Echo", "/t.T/Count"] {
        let mut call = client.call(path, CallOptions::new()).unwrap();
        call.close_send().unwrap();
        let status = bounded(call.status()).await;
        assert_eq!(status.code(), Code::INTERNAL, "{path}: {status:?}");
        assert!(
            status.message().contains("no request message"),
            "{status:?}"
        );
    }
    let err = bounded(client.unary(
        "/t.T/Echo",
        Bytes::from_static(b"longer than four"),
        CallOptions::new(),
    ))
    .await;
    assert!(
        matches!(&err, Err(Error::Ended(s)) if s.code() == Code::CANCELLED),
        "{err:?}"
    );
    client.shutdown().await;
    server.shutdown().await;
}
