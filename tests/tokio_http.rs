//! The tokio HTTP/2 adapter over loopback: our client against our server.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2proto::frame::Reason;
use h2proto::io::Error;
use h2proto::io::tokio::{
    Body, Client, ClientConfig, RecvBody, Server, ServerConfig, ServerHandle,
};
use http::{Request, Response};

mod http_support;
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};
use tokio::sync::{Notify, mpsc};

/// The routes every test here uses.
async fn routes(mut req: Request<RecvBody>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/echo" {
        // Streams the body back as it arrives, then the request's trailers.
        let (mut tx, body) = Body::channel();
        tokio::spawn(async move {
            while let Some(chunk) = req.body_mut().chunk().await {
                let Ok(chunk) = chunk else { return };
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
            match req.body_mut().trailers().await {
                Ok(Some(t)) => drop(tx.send_trailers(t).await),
                _ => drop(tx.finish().await),
            }
        });
        return response(200, body);
    }
    if let Some(n) = path
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        return with_header(response(200, vec![b'x'; n]), "content-length", n);
    }
    if let Some(n) = path
        .strip_prefix("/stream/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let (mut tx, body) = Body::channel();
        tokio::spawn(async move {
            let piece = Bytes::from(vec![b'y'; 16 * 1024]);
            let mut left = n;
            while left > 0 {
                let k = left.min(piece.len());
                if tx.send(piece.slice(..k)).await.is_err() {
                    return;
                }
                left -= k;
            }
            let _ = tx
                .send_trailers(header_map(&[("x-sent", &n.to_string())]))
                .await;
        });
        return response(200, body);
    }
    let body = format!("hello {} {}", req.method(), req.uri().path());
    response(200, body)
}

/// Waits (bounded) until `done` holds: a dropped body gives its credit
/// back through the connection's driver, on its next turn.
async fn settle(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("never settled");
}

async fn server() -> ServerHandle {
    Server::bind("127.0.0.1:0").await.unwrap().serve(routes)
}

#[tokio::test]
async fn get_and_post_round_trips() {
    let server = server().await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let res = client.get("/hi").await.unwrap();
    assert_eq!(
        (res.status().as_u16(), &res.body()[..]),
        (200, &b"hello GET /hi"[..])
    );
    drop(res);
    let res = client.send(request("POST", "/echo", "ping")).await.unwrap();
    assert_eq!(&res.body()[..], b"ping");
    drop(res);
    let res = client.get("/bytes/100000").await.unwrap();
    assert_eq!(res.body().len(), 100_000);
    assert_eq!(header(&res, "content-length"), Some(&b"100000"[..]));
    // Many at once on one connection.
    let mut all = Vec::new();
    for i in 0..200 {
        let client = client.clone();
        all.push(tokio::spawn(async move {
            client.get(&format!("/n/{i}")).await.map(|r| r.into_body())
        }));
    }
    for (i, t) in all.into_iter().enumerate() {
        let body = t.await.unwrap().unwrap();
        assert_eq!(body, format!("hello GET /n/{i}"));
    }
    // A collected body counts in the client's budget until dropped (its
    // credit went back when it was complete).
    assert!(client.memory().held >= 100_000, "{:?}", client.memory());
    drop(res);
    settle(|| client.live_streams() == 0).await;
    assert_eq!(client.memory().unreleased, 0);
    server.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn streaming_bodies_and_trailers_both_ways() {
    let server = server().await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let (mut up, body) = Body::channel();
    let response = client.send_request(request("POST", "/echo", body));
    let writer = tokio::spawn(async move {
        for i in 0..100u8 {
            up.send(vec![i; 10_000]).await.unwrap();
        }
        up.send_trailers(header_map(&[("x-checksum", "abc")]))
            .await
            .unwrap();
    });
    let mut res = response.await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let mut got = Vec::new();
    while let Some(chunk) = res.body_mut().chunk().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    writer.await.unwrap();
    let want: Vec<u8> = (0..100u8).flat_map(|i| vec![i; 10_000]).collect();
    assert!(got == want, "echo differs: {} bytes", got.len());
    let trailers = res.body_mut().trailers().await.unwrap().unwrap();
    assert_eq!(trailers, header_map(&[("x-checksum", "abc")]));
    // The handle still tracks its stream; the core is done with it once
    // the chunks read (and dropped) gave their credit back.
    settle(|| client.live_streams() == 0).await;
    assert_eq!(client.tracked_streams(), 1, "{:?}", client.stats());
    drop(res);

    // A streamed response with trailers, through the whole-message helper.
    let res = client.get("/stream/300000").await.unwrap();
    assert_eq!(res.body().len(), 300_000);
    assert_eq!(trailer(&res, "x-sent"), Some(&b"300000"[..]));
    drop(res);
    // Whole request with trailers.
    let res = client
        .send(with_trailers(
            request("POST", "/echo", "abc"),
            &[("x-t", "1")],
        ))
        .await
        .unwrap();
    assert_eq!(
        (&res.body()[..], trailer(&res, "x-t")),
        (&b"abc"[..], Some(&b"1"[..]))
    );
    drop(res);
    settle(|| client.live_streams() == 0).await;
    assert_eq!(client.tracked_streams(), 0);
    server.shutdown(Duration::from_secs(5)).await;
}

/// 64 MiB streamed through echo: nothing holds more than the windows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_64mib_streams_both_ways() {
    let server = server().await;
    let client = Client::connect(server.local_addr()).await.unwrap();
    let (mut up, body) = Body::channel();
    let response = client.send_request(request("POST", "/echo", body));
    const TOTAL: usize = 64 << 20;
    let writer = tokio::spawn(async move {
        let piece = Bytes::from(vec![7u8; 64 * 1024]);
        for _ in 0..TOTAL / piece.len() {
            up.send(piece.clone()).await.unwrap();
        }
        up.finish().await.unwrap();
    });
    let mut res = response.await.unwrap();
    let mut n = 0;
    let mut peak_queued = 0;
    while let Some(chunk) = res.body_mut().chunk().await {
        let chunk = chunk.unwrap();
        assert!(chunk.iter().all(|&b| b == 7));
        n += chunk.len();
        let stats = server.stats();
        peak_queued = peak_queued.max(stats.queued_data);
    }
    writer.await.unwrap();
    assert_eq!(n, TOTAL);
    // The server never queued more than its connection send buffer.
    assert!(peak_queued <= 1 << 20, "{peak_queued}");
    server.shutdown(Duration::from_secs(5)).await;
}

/// The server writes a large body to a client that does not read: its
/// writer blocks and the core's queue stays within the configured cap; when
/// the client reads, it completes.
#[tokio::test]
async fn slow_reader_blocks_the_writer() {
    let (progress_tx, mut progress) = mpsc::unbounded_channel::<usize>();
    let progress_tx = Arc::new(progress_tx);
    let mut config = ServerConfig::default();
    config.h2.max_send_buffer_per_stream = 32 * 1024;
    let server = Server::bind_with("127.0.0.1:0", config)
        .await
        .unwrap()
        .serve(move |_req| {
            let progress_tx = progress_tx.clone();
            async move {
                let (mut tx, body) = Body::channel();
                tokio::spawn(async move {
                    let mut sent = 0;
                    while sent < 8 << 20 {
                        if tx.send(vec![1u8; 16 * 1024]).await.is_err() {
                            return;
                        }
                        sent += 16 * 1024;
                        let _ = progress_tx.send(sent);
                    }
                    let _ = tx.finish().await;
                });
                response(200, body)
            }
        });
    let client = Client::connect(server.local_addr()).await.unwrap();
    let mut res = client
        .send_request(request("GET", "/big", Body::empty()))
        .await
        .unwrap();
    // Wait until the writer stops making progress: it is blocked on the
    // client's windows (256 KiB stream, 1 MiB connection) plus our buffers.
    let mut last = 0;
    loop {
        match tokio::time::timeout(Duration::from_millis(300), progress.recv()).await {
            Ok(Some(n)) => last = n,
            Ok(None) => panic!("writer ended"),
            Err(_) => break, // quiet: blocked
        }
    }
    assert!(last < 8 << 20, "the writer was not blocked: {last}");
    // Window + send buffer + one piece in the channel + one in the pump.
    assert!(last <= (256 + 32 + 16 + 16 + 64) * 1024, "{last}");
    assert!(server.stats().queued_data <= 32 * 1024);
    let mut n = 0;
    while let Some(chunk) = res.body_mut().chunk().await {
        n += chunk.unwrap().len();
    }
    assert_eq!(n, 8 << 20);
    server.shutdown(Duration::from_secs(5)).await;
}

/// A handler that never reads a large request body: the client's sender
/// blocks on the window and the server holds at most that window.
#[tokio::test]
async fn unread_request_body_is_bounded_by_the_window() {
    let release = Arc::new(Notify::new());
    let r2 = release.clone();
    let server =
        Server::bind("127.0.0.1:0")
            .await
            .unwrap()
            .serve(move |mut req: Request<RecvBody>| {
                let release = r2.clone();
                async move {
                    release.notified().await;
                    let n = req.body_mut().collect(usize::MAX).await.map(|b| b.len());
                    response(200, format!("{n:?}"))
                }
            });
    let client = Client::connect(server.local_addr()).await.unwrap();
    let (sent_tx, mut sent) = mpsc::unbounded_channel::<usize>();
    let (mut up, body) = Body::channel();
    let response = client.send_request(request("POST", "/sink", body));
    let writer = tokio::spawn(async move {
        let mut n = 0;
        while n < 4 << 20 {
            up.send(vec![2u8; 16 * 1024]).await.unwrap();
            n += 16 * 1024;
            let _ = sent_tx.send(n);
        }
        up.finish().await.unwrap();
    });
    let mut last = 0;
    loop {
        match tokio::time::timeout(Duration::from_millis(300), sent.recv()).await {
            Ok(Some(n)) => last = n,
            Ok(None) => panic!("writer ended"),
            Err(_) => break,
        }
    }
    assert!(last < 4 << 20, "not blocked: {last}");
    let stats = server.stats();
    assert_eq!(stats.live_streams, 1);
    // What the client got out: the server's stream window (256 KiB) plus the
    // client's send buffer and the pieces in flight.
    assert!(last <= (256 + 64 + 32) * 1024, "{last}");
    release.notify_one();
    let res = response.await.unwrap();
    let mut body = res.into_body();
    let text = body.collect(1024).await.unwrap();
    assert_eq!(&text[..], format!("Ok({})", 4 << 20).as_bytes());
    writer.await.unwrap();
    server.shutdown(Duration::from_secs(5)).await;
}

/// Graceful shutdown: the request in flight completes; new connections are
/// refused; then everything is closed.
#[tokio::test]
async fn graceful_shutdown_lets_in_flight_finish() {
    let gate = Arc::new(Notify::new());
    let g2 = gate.clone();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(move |_req| {
            let gate = g2.clone();
            async move {
                gate.notified().await;
                response(200, "late")
            }
        });
    let addr = server.local_addr();
    let client = Client::connect(addr).await.unwrap();
    let response = client.send_request(request("GET", "/slow", Body::empty()));
    // The request must reach the handler before shutting down.
    while server.stats().live_streams == 0 {
        tokio::task::yield_now().await;
    }
    let shutdown = tokio::spawn(server.shutdown(Duration::from_secs(30)));
    // GOAWAY arrives: no new requests on this connection.
    while client.goaway_received().is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!client.can_take_new_request());
    // The listener is gone.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    gate.notify_one();
    let mut res = response.await.unwrap();
    assert_eq!(&res.body_mut().collect(100).await.unwrap()[..], b"late");
    drop(res);
    shutdown.await.unwrap();
    while !client.is_closed() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Past the grace period a stuck handler's connection is closed anyway.
#[tokio::test]
async fn shutdown_deadline_closes_stuck_connections() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .serve(|_req| async {
            std::future::pending::<()>().await;
            response(200, Body::empty())
        });
    let client = Client::connect(server.local_addr()).await.unwrap();
    let response = client.send_request(request("GET", "/stuck", Body::empty()));
    while server.stats().live_streams == 0 {
        tokio::task::yield_now().await;
    }
    server.shutdown(Duration::from_millis(200)).await;
    match response.await {
        Err(Error::Connection(_) | Error::Closed | Error::PeerReset(_) | Error::Io(_)) => {}
        other => panic!("{other:?}"),
    }
    assert!(client.is_closed());
}

/// Dropping handles early resets streams and frees everything, both sides.
#[tokio::test]
async fn dropped_handles_free_their_streams() {
    let mut config = ServerConfig::default();
    config.spawn_handlers = true;
    let server = Server::bind_with("127.0.0.1:0", config)
        .await
        .unwrap()
        .serve(routes);
    let client = Client::connect_with(server.local_addr(), ClientConfig::default())
        .await
        .unwrap();
    // Response future dropped before headers.
    drop(client.send_request(request("GET", "/stream/1000000", Body::empty())));
    // Body dropped mid-way.
    let mut res = client
        .send_request(request("GET", "/stream/1000000", Body::empty()))
        .await
        .unwrap();
    let _ = res.body_mut().chunk().await;
    drop(res);
    // Upload writer dropped before finishing: the stream is cancelled.
    let (mut up, body) = Body::channel();
    let response = client.send_request(request("POST", "/echo", body));
    up.send("part").await.unwrap();
    drop(up);
    match response.await {
        Ok(mut res) => assert!(matches!(
            res.body_mut().collect(1 << 20).await,
            Err(Error::LocalReset {
                reason: Reason::CANCEL,
                ..
            })
        )),
        Err(e) => assert!(
            matches!(
                e,
                Error::LocalReset {
                    reason: Reason::CANCEL,
                    ..
                }
            ),
            "{e:?}"
        ),
    }
    // A round trip after the resets: everything before it is processed.
    client.get("/").await.unwrap();
    let mut spins = 0;
    while server.stats().live_streams + server.stats().tracked_streams > 0 {
        spins += 1;
        assert!(spins < 10_000, "{:?}", server.stats());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    settle(|| client.live_streams() == 0).await;
    assert_eq!(client.tracked_streams(), 0);
    server.shutdown(Duration::from_secs(5)).await;
}

/// A panicking handler answers 500; the connection goes on.
#[tokio::test]
async fn handler_panic_is_a_500() {
    let server =
        Server::bind("127.0.0.1:0")
            .await
            .unwrap()
            .serve(|req: Request<RecvBody>| async move {
                if req.uri().path() == "/panic" {
                    panic!("handler bug");
                }
                response(204, Body::empty())
            });
    let client = Client::connect(server.local_addr()).await.unwrap();
    assert_eq!(client.get("/panic").await.unwrap().status(), 500);
    assert_eq!(client.get("/ok").await.unwrap().status(), 204);
    server.shutdown(Duration::from_secs(5)).await;
}

/// A body writer that waits between pieces (for an event that may never
/// come) does not keep its stream alive once the peer has reset it: the
/// connection drops its end of the body, and the writer's next send fails.
#[tokio::test]
async fn a_waiting_body_sender_learns_the_peer_reset_the_stream() {
    let go = Arc::new(Notify::new());
    let (result_tx, mut result_rx) = mpsc::unbounded_channel();
    let handler = {
        let go = go.clone();
        move |_req: Request<RecvBody>| {
            let (go, result_tx) = (go.clone(), result_tx.clone());
            async move {
                let (mut tx, body) = Body::channel();
                tokio::spawn(async move {
                    tx.send("first").await.unwrap();
                    go.notified().await;
                    let _ = result_tx.send(tx.send("second").await);
                });
                response(200, body)
            }
        }
    };
    let server = Server::bind("127.0.0.1:0").await.unwrap().serve(handler);
    let client = Client::connect(server.local_addr()).await.unwrap();
    let mut res = client
        .send_request(request("GET", "/wait", Body::empty()))
        .await
        .unwrap();
    assert_eq!(
        &res.body_mut().chunk().await.unwrap().unwrap()[..],
        b"first"
    );
    drop(res);
    settle(|| server.stats().tracked_streams + server.stats().live_streams == 0).await;
    go.notify_one();
    let second = result_rx.recv().await.unwrap();
    assert!(matches!(second, Err(Error::Closed)), "{second:?}");
    server.shutdown(Duration::from_secs(1)).await;
}
