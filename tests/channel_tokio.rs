//! The tokio `Channel` over real listeners (the crate's own tokio gRPC
//! server) that come and go: round_robin spreading and failing over,
//! pick_first moving on, fail-fast and wait-for-ready, states, the four call
//! kinds through the channel, and a `dns:` target.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use h2proto::channel::{ConnectParams, ConnectivityState};
use h2proto::grpc::{Code, Metadata};
use h2proto::io::tokio::channel::{Channel, ChannelConfig};
use h2proto::io::tokio::grpc::{CallOptions, Server, ServerHandle};

#[path = "channel_support/refuser.rs"]
mod refuser;
use refuser::{refuser, refuser_on};

/// Upper bound of every wait, so a bug fails instead of hanging.
const BOUND: Duration = Duration::from_secs(20);

async fn backend(name: &str, addr: SocketAddr) -> ServerHandle {
    let id = name.to_owned();
    let id2 = id.clone();
    Server::builder()
        .unary("/t.T/Who", move |_ctx, _m: Bytes| {
            let id = id.clone();
            async move { Ok(Bytes::from(id)) }
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
        .client_streaming("/t.T/Sum", |_ctx, mut reqs| async move {
            let mut total = 0usize;
            while let Some(m) = reqs.recv().await.map_err(|e| e.to_status())? {
                total += m.len();
            }
            Ok(Bytes::from(total.to_string()))
        })
        .bidi_streaming("/t.T/Chat", move |ctx, mut reqs, mut out| {
            let id = id2.clone();
            async move {
                let tag = ctx.metadata().get("x-tag").unwrap_or("").to_owned();
                while let Some(m) = reqs.recv().await.map_err(|e| e.to_status())? {
                    let reply = format!("{id}:{tag}:{}", String::from_utf8_lossy(&m));
                    out.send(Bytes::from(reply))
                        .await
                        .map_err(|e| e.to_status())?;
                }
                Ok(())
            }
        })
        .bind(addr)
        .await
        .expect("bind")
}

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn fast(lb: &str) -> ChannelConfig {
    let mut c = if lb == "round_robin" {
        ChannelConfig::round_robin()
    } else {
        ChannelConfig::default()
    };
    c.channel.connect = ConnectParams {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..ConnectParams::default()
    };
    c
}

async fn who(ch: &Channel, options: CallOptions) -> Result<String, h2proto::grpc::Status> {
    let r = tokio::time::timeout(BOUND, ch.unary("/t.T/Who", Bytes::new(), options))
        .await
        .expect("bounded");
    r.map(|r| String::from_utf8(r.message.to_vec()).unwrap())
        .map_err(|e| e.to_status())
}

fn target(servers: &[&ServerHandle]) -> String {
    let list: Vec<String> = servers.iter().map(|s| s.local_addr().to_string()).collect();
    format!("ipv4:{}", list.join(","))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_even_then_fails_over_and_back() {
    let a = backend("a", any()).await;
    let b = backend("b", any()).await;
    let c = backend("c", any()).await;
    let b_addr = b.local_addr();
    let ch = Channel::new(&target(&[&a, &b, &c]), fast("round_robin")).unwrap();
    ch.connect();
    while ch
        .subchannels()
        .iter()
        .any(|s| s.state != ConnectivityState::Ready)
    {
        assert!(
            ch.wait_for_state_change(ch.state(), BOUND).await
                || ch.state() == ConnectivityState::Ready
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut count = std::collections::BTreeMap::new();
    for _ in 0..30 {
        *count
            .entry(who(&ch, CallOptions::new()).await.unwrap())
            .or_insert(0) += 1;
    }
    assert_eq!(count.values().copied().collect::<Vec<_>>(), [10, 10, 10]);

    // b goes away: no call fails, and b gets none.
    b.shutdown().await;
    let mut after = Vec::new();
    for _ in 0..30 {
        after.push(who(&ch, CallOptions::new()).await.expect("no call fails"));
    }
    let b_calls = after.iter().filter(|w| *w == "b").count();
    assert!(b_calls <= 1, "{after:?}");
    assert!(after[10..].iter().all(|w| w != "b"));

    // b comes back on its port: it gets calls again.
    let b = backend("b", b_addr).await;
    let mut back = false;
    for _ in 0..200 {
        if who(&ch, CallOptions::new()).await.unwrap() == "b" {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(back, "b rejoined the rotation");
    drop(ch);
    for s in [a, b, c] {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pick_first_stays_then_moves() {
    let a = backend("a", any()).await;
    let b = backend("b", any()).await;
    let ch = Channel::new(&target(&[&a, &b]), fast("pick_first")).unwrap();
    for _ in 0..10 {
        assert_eq!(who(&ch, CallOptions::new()).await.unwrap(), "a");
    }
    a.shutdown().await;
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(
            who(&ch, CallOptions::new().wait_for_ready(true))
                .await
                .unwrap(),
        );
    }
    assert!(seen.iter().all(|w| w == "b"), "{seen:?}");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_and_wait_for_ready() {
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = l.local_addr().unwrap();
    drop(l);
    let ch = Channel::new(&format!("ipv4:{dead}"), fast("round_robin")).unwrap();
    let e = who(&ch, CallOptions::new()).await.unwrap_err();
    assert_eq!(e.code(), Code::UNAVAILABLE, "{e}");
    assert_eq!(ch.state(), ConnectivityState::TransientFailure);
    let options = CallOptions::new()
        .wait_for_ready(true)
        .timeout(Duration::from_millis(300));
    let e = who(&ch, options).await.unwrap_err();
    assert_eq!(e.code(), Code::DEADLINE_EXCEEDED, "{e}");

    // A wait-for-ready call started now succeeds once the backend appears.
    let ch2 = ch.clone();
    let waiting =
        tokio::spawn(async move { who(&ch2, CallOptions::new().wait_for_ready(true)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = backend("late", dead).await;

    assert_eq!(waiting.await.unwrap().unwrap(), "late");
    assert_eq!(ch.state(), ConnectivityState::Ready);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_and_wait_for_state_change() {
    let a = backend("a", any()).await;
    let ch = Channel::new(&a.local_addr().to_string(), fast("pick_first")).unwrap();
    assert_eq!(ch.state(), ConnectivityState::Idle);
    assert!(
        !ch.wait_for_state_change(ConnectivityState::Idle, Duration::from_millis(50))
            .await
    );
    ch.connect();
    let mut rx = ch.watch_state();
    tokio::time::timeout(BOUND, rx.wait_for(|s| *s == ConnectivityState::Ready))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ch.lb_policy(), "pick_first");
    ch.shutdown();
    assert_eq!(ch.state(), ConnectivityState::Shutdown);
    assert_eq!(
        who(&ch, CallOptions::new()).await.unwrap_err().code(),
        Code::UNAVAILABLE
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_kind_through_the_channel() {
    let a = backend("a", any()).await;
    let port = a.local_addr().port();
    // dns: resolved with tokio's lookup_host.
    let ch = Channel::new(&format!("dns:///localhost:{port}"), fast("round_robin")).unwrap();
    let opts = || CallOptions::new().wait_for_ready(true).timeout(BOUND);

    let mut rx = ch
        .server_streaming("/t.T/Count", Bytes::from("3"), opts())
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(m) = rx.recv().await.unwrap() {
        got.push(String::from_utf8(m.to_vec()).unwrap());
    }
    assert_eq!(got, ["0", "1", "2"]);
    assert!(rx.status().await.is_ok());

    let mut up = ch.client_streaming("/t.T/Sum", opts()).await.unwrap();
    for m in ["ab", "cde"] {
        up.send(Bytes::from(m)).await.unwrap();
    }
    assert_eq!(up.response().await.unwrap().message, "5");

    let mut md = Metadata::new();
    md.insert("x-tag", "t1").unwrap();
    let (mut tx, mut rx) = ch
        .bidi_streaming("/t.T/Chat", opts().metadata(md))
        .await
        .unwrap();
    tx.send(Bytes::from("hi")).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().unwrap(), "a:t1:hi");
    tx.close_send().unwrap();
    assert_eq!(rx.recv().await.unwrap(), None);
    assert!(rx.status().await.is_ok());

    // Cancellation.
    let mut call = ch.call("/t.T/Chat", opts()).await.unwrap();
    call.send(Bytes::from("x")).await.unwrap();
    call.cancel();
    assert_eq!(call.status().await.code(), Code::CANCELLED);
    drop(call);

    let e = ch
        .unary("/t.T/Nope", Bytes::new(), opts())
        .await
        .unwrap_err();
    assert_eq!(e.to_status().code(), Code::UNIMPLEMENTED);
    a.shutdown().await;
}

/// REFUSED_STREAM from the server: the call is sent again once, on the
/// other backend; with only the refusing one, twice and then it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_are_retried_once_elsewhere() {
    use std::sync::atomic::Ordering::SeqCst;
    let (bad, refused) = refuser();
    let a = backend("a", any()).await;
    let target = format!("ipv4:{bad},{}", a.local_addr());
    let ch = Channel::new(&target, fast("round_robin")).unwrap();
    let options = || CallOptions::new().wait_for_ready(true).timeout(BOUND);
    ch.connect();
    let mut rx = ch.watch_state();
    rx.wait_for(|s| *s == ConnectivityState::Ready)
        .await
        .unwrap();
    while ch
        .subchannels()
        .iter()
        .any(|s| s.state != ConnectivityState::Ready)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..10 {
        assert_eq!(who(&ch, options()).await.unwrap(), "a");
    }
    assert!(refused.load(SeqCst) >= 4, "the refuser got its turns");
    let streamed = ch
        .server_streaming("/t.T/Count", Bytes::from("2"), options())
        .await
        .unwrap();
    drop(streamed);

    let (bad2, refused2) = refuser();
    let only = Channel::new(&format!("ipv4:{bad2}"), fast("pick_first")).unwrap();
    let e = who(&only, options()).await.unwrap_err();
    assert_eq!(e.code(), Code::UNAVAILABLE, "{e}");
    assert_eq!(refused2.load(SeqCst), 2, "sent once, retried once");
    a.shutdown().await;
}

/// After `idle_timeout` without calls the channel drops its connections
/// and is IDLE; the next call reconnects. (Real time, waiting for the state
/// change: a paused clock advanced past the tokio adapters' connection
/// setup makes new connections time their SETTINGS out, since they are
/// created on the system clock but driven on tokio's.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_then_reconnects() {
    let a = backend("a", any()).await;
    let mut config = fast("round_robin");
    config.channel.idle_timeout = Some(Duration::from_millis(200));
    let ch = Channel::new(&format!("ipv4:{}", a.local_addr()), config).unwrap();
    assert_eq!(who(&ch, CallOptions::new()).await.unwrap(), "a");
    let mut rx = ch.watch_state();
    tokio::time::timeout(BOUND, rx.wait_for(|s| *s == ConnectivityState::Idle))
        .await
        .unwrap()
        .unwrap();
    assert!(
        ch.subchannels()
            .iter()
            .all(|s| s.state == ConnectivityState::Idle)
    );
    assert_eq!(who(&ch, CallOptions::new()).await.unwrap(), "a");
    a.shutdown().await;
}

/// gRFC A6 on the tokio channel: a method's retry policy resends a unary
/// call that failed UNAVAILABLE; other methods are not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_policy_resends_failed_unary_calls() {
    use h2proto::channel::{CodeSet, RetryPolicy};
    use h2proto::grpc::Status;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let flaky = move |_ctx, _m: Bytes| {
        let n = count.fetch_add(1, SeqCst);
        async move {
            if n % 3 < 2 {
                Err(Status::new(Code::UNAVAILABLE, "try again"))
            } else {
                Ok(Bytes::from("done"))
            }
        }
    };
    let server = Server::builder()
        .unary("/t.T/Flaky", flaky.clone())
        .unary("/t.U/Flaky", flaky)
        .bind(any())
        .await
        .unwrap();
    let mut config = fast("pick_first");
    let policy = RetryPolicy::new(3, CodeSet::of(&[Code::UNAVAILABLE])).with_backoff(
        Duration::from_millis(1),
        Duration::from_millis(5),
        2.0,
    );
    config
        .retry_policies
        .insert("/t.T/Flaky".to_owned(), policy);
    let ch = Channel::new(&server.local_addr().to_string(), config).unwrap();
    let r = ch
        .unary(
            "/t.T/Flaky",
            Bytes::new(),
            CallOptions::new().timeout(BOUND),
        )
        .await
        .unwrap();
    assert_eq!(r.message, "done");
    assert_eq!(seen.load(SeqCst), 3);
    let e = ch
        .unary(
            "/t.U/Flaky",
            Bytes::new(),
            CallOptions::new().timeout(BOUND),
        )
        .await
        .unwrap_err();
    assert_eq!(e.to_status().code(), Code::UNAVAILABLE);
    assert_eq!(seen.load(SeqCst), 4);
    server.shutdown().await;
}

/// GOAWAY reaches the channel when it arrives: the subchannel leaves READY
/// (and the channel's state changes, seen by `wait_for_state_change`) while
/// a call on that connection is still open; new calls go to the other
/// backend; the open call finishes normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_takes_the_subchannel_out_at_once() {
    let a = backend("a", any()).await;
    let a_addr = a.local_addr();
    let ch = Channel::new(&format!("ipv4:{a_addr}"), fast("pick_first")).unwrap();
    let opts = || CallOptions::new().wait_for_ready(true).timeout(BOUND);
    let (mut tx, mut rx) = ch.bidi_streaming("/t.T/Chat", opts()).await.unwrap();
    tx.send(Bytes::from("1")).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().unwrap(), "a::1");
    assert_eq!(ch.state(), ConnectivityState::Ready);

    // The server drains: GOAWAY now, its connection stays for our call.
    let draining = tokio::spawn(a.shutdown());
    assert!(
        ch.wait_for_state_change(ConnectivityState::Ready, BOUND)
            .await,
        "the channel left READY on GOAWAY, with a call still open"
    );
    assert!(!draining.is_finished());
    tx.send(Bytes::from("2")).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().unwrap(), "a::2");
    tx.close_send().unwrap();
    assert_eq!(rx.recv().await.unwrap(), None);
    assert!(rx.status().await.is_ok());
    drop((tx, rx));
    tokio::time::timeout(BOUND, draining)
        .await
        .unwrap()
        .unwrap();

    // round_robin over two: after b's GOAWAY every new call goes to c,
    // while b's open call finishes.
    let b = backend("b", any()).await;
    let c = backend("c", any()).await;
    let ch = Channel::new(&target(&[&b, &c]), fast("round_robin")).unwrap();
    ch.connect();
    while ch
        .subchannels()
        .iter()
        .any(|s| s.state != ConnectivityState::Ready)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut on_b = None;
    for _ in 0..4 {
        let (mut tx, mut rx) = ch.bidi_streaming("/t.T/Chat", opts()).await.unwrap();
        tx.send(Bytes::from("x")).await.unwrap();
        let reply = rx.recv().await.unwrap().unwrap();
        if reply.starts_with(b"b") {
            on_b = Some((tx, rx));
            break;
        }
    }
    let (mut tx, mut rx) = on_b.expect("round_robin gave b a call");
    let b_addr = b.local_addr().to_string();
    let draining = tokio::spawn(b.shutdown());
    let mut states = ch.watch_state();
    tokio::time::timeout(BOUND, async {
        while ch
            .subchannels()
            .iter()
            .any(|s| s.address.0 == b_addr && s.state == ConnectivityState::Ready)
        {
            let _ = tokio::time::timeout(Duration::from_millis(20), states.changed()).await;
        }
    })
    .await
    .expect("b left READY while its call is open");
    for _ in 0..6 {
        assert_eq!(who(&ch, CallOptions::new()).await.unwrap(), "c");
    }
    tx.send(Bytes::from("y")).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().unwrap(), "b::y");
    tx.close_send().unwrap();
    assert!(rx.status().await.is_ok());
    drop((tx, rx));
    tokio::time::timeout(BOUND, draining)
        .await
        .unwrap()
        .unwrap();
    c.shutdown().await;
}

/// A client-streaming or bidi call refused after it sent messages is sent
/// again on the other backend with those messages; with messages past the
/// replay cap it is not, and the refusal ends it UNAVAILABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_streaming_calls_replay_their_messages() {
    use std::sync::atomic::Ordering::SeqCst;
    let (bad, refused) = refuser_on(true);
    let a = backend("a", any()).await;
    let ch = Channel::new(
        &format!("ipv4:{bad},{}", a.local_addr()),
        fast("round_robin"),
    )
    .unwrap();
    let opts = || CallOptions::new().wait_for_ready(true).timeout(BOUND);
    ch.connect();
    while ch
        .subchannels()
        .iter()
        .any(|s| s.state != ConnectivityState::Ready)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..6 {
        let mut up = ch.client_streaming("/t.T/Sum", opts()).await.unwrap();
        for m in ["ab", "cde", "f"] {
            up.send(Bytes::from(m)).await.unwrap();
        }
        assert_eq!(up.response().await.unwrap().message, "6");
    }
    for i in 0..6 {
        let (mut tx, mut rx) = ch.bidi_streaming("/t.T/Chat", opts()).await.unwrap();
        tx.send(Bytes::from(format!("m{i}"))).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().unwrap(), format!("a::m{i}"));
        tx.send(Bytes::from("z")).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().unwrap(), "a::z");
        tx.close_send().unwrap();
        assert!(rx.status().await.is_ok());
    }
    assert!(
        refused.load(SeqCst) >= 4,
        "the refuser got its turns after messages"
    );

    // Alone behind a refuser: under the cap, sent twice (then UNAVAILABLE);
    // past it (4 bytes per call here), sent once.
    let (bad2, refused2) = refuser_on(true);
    let mut config = fast("pick_first");
    config.channel.replay_per_call = 4;
    let only = Channel::new(&format!("ipv4:{bad2}"), config).unwrap();
    let mut up = only.client_streaming("/t.T/Sum", opts()).await.unwrap();
    up.send(Bytes::from("abc")).await.unwrap();
    let e = up.response().await.unwrap_err();
    assert_eq!(e.to_status().code(), Code::UNAVAILABLE, "{e}");
    assert_eq!(refused2.load(SeqCst), 2, "sent once, replayed once");
    let mut up = only.client_streaming("/t.T/Sum", opts()).await.unwrap();
    up.send(Bytes::from("abcdef")).await.unwrap_or(());
    let e = up.response().await.unwrap_err();
    assert_eq!(e.to_status().code(), Code::UNAVAILABLE, "{e}");
    assert_eq!(refused2.load(SeqCst), 3, "committed: not sent again");
    a.shutdown().await;
}

/// gRFC A105 (opt-in) on tokio: a backend that allows 2 streams per
/// connection gets a second and a third connection from the channel when
/// six calls are open at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a105_opens_more_connections_to_a_full_backend() {
    let mut config = h2proto::io::tokio::grpc::Config::server();
    config.grpc.http2.max_concurrent_streams = 2;
    let server = Server::builder()
        .config(config)
        .bidi_streaming("/t.T/Chat", |_ctx, mut reqs, mut out| async move {
            while let Some(m) = reqs.recv().await.map_err(|e| e.to_status())? {
                out.send(m).await.map_err(|e| e.to_status())?;
            }
            Ok(())
        })
        .bind(any())
        .await
        .unwrap();
    let mut cfg = fast("pick_first");
    cfg.channel.max_connections_per_backend = 3;
    let ch = Channel::new(&server.local_addr().to_string(), cfg).unwrap();
    let opts = || CallOptions::new().wait_for_ready(true).timeout(BOUND);
    let mut open = Vec::new();
    for i in 0..6 {
        let (mut tx, mut rx) = ch.bidi_streaming("/t.T/Chat", opts()).await.unwrap();
        let m = Bytes::from(format!("m{i}"));
        tx.send(m.clone()).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().unwrap(), m);
        open.push((tx, rx));
    }
    assert_eq!(server.connection_stats().len(), 3, "two more connections");
    for (mut tx, mut rx) in open {
        tx.close_send().unwrap();
        assert!(rx.status().await.is_ok());
    }
    server.shutdown().await;
}

/// Backends drain (GOAWAY) and come back on their ports while four tasks
/// make wait-for-ready calls: every call succeeds, and the backends
/// processed exactly as many calls as were made (none twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_backends_lose_no_call_and_run_none_twice() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let served = Arc::new(AtomicUsize::new(0));
    // A backend comes back on its old port: the old listener goes with its
    // aborted accept task, which a loaded runtime may not have dropped yet
    // (AddrInUse seen once in 600 runs): try again, bounded.
    let start = |addr: SocketAddr, served: Arc<AtomicUsize>| async move {
        let mut tries = 0;
        loop {
            let served = served.clone();
            let bound = Server::builder()
                .unary("/t.T/Count", move |_ctx, _m: Bytes| {
                    served.fetch_add(1, SeqCst);
                    async { Ok(Bytes::new()) }
                })
                .bind(addr)
                .await;
            match bound {
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 500 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => break other.expect("bind"),
            }
        }
    };
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(Some(start(any(), served.clone()).await));
    }
    let addrs: Vec<SocketAddr> = servers.iter().flatten().map(|s| s.local_addr()).collect();
    let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let ch = Channel::new(&format!("ipv4:{}", list.join(",")), fast("round_robin")).unwrap();
    // Calls run until the flapping is over (so they overlap it). Each call
    // is answered once (its future returns once); it may fail only if it
    // was refused (REFUSED_STREAM, or above a draining backend's GOAWAY),
    // sent again once, and refused again by the next draining backend: the
    // one transparent retry is spent, UNAVAILABLE is its answer (seen about
    // once in 250 runs under load). Or it was sent on a connection whose
    // server closed it (shutdown: its final GOAWAY and the close crossed our
    // new stream; the write fails EPIPE before the GOAWAY is read): the
    // call may have reached the server, so it is not sent again and fails
    // UNAVAILABLE "connection lost" (seen once in 984 runs under a CPU hog).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (ch, stop) = (ch.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut answered, mut ok, mut failed) = (0usize, 0usize, Vec::new());
                while !stop.load(SeqCst) || answered < 50 {
                    let options = CallOptions::new().wait_for_ready(true).timeout(BOUND);
                    match ch.unary("/t.T/Count", Bytes::new(), options).await {
                        Ok(_) => ok += 1,
                        Err(e) => failed.push(e.to_status()),
                    }
                    answered += 1;
                }
                (answered, ok, failed)
            })
        })
        .collect();
    for round in 0..6 {
        let i = round % 3;
        if let Some(s) = servers[i].take() {
            s.shutdown().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        servers[i] = Some(start(addrs[i], served.clone()).await);
    }
    stop.store(true, SeqCst);
    let (mut answered, mut ok, mut lost) = (0, 0, 0);
    for t in tasks {
        let (a, o, failed) = tokio::time::timeout(BOUND, t)
            .await
            .expect("every call answered")
            .unwrap();
        for s in &failed {
            let refused = s.reset_reason() == Some(h2proto::frame::Reason::REFUSED_STREAM)
                && s.reset_initiator() == Some(h2proto::proto::Initiator::Remote);
            let conn_lost = s.reset_reason().is_none() && s.message().contains("connection lost");
            assert!(
                s.code() == Code::UNAVAILABLE && (refused || conn_lost),
                "a call failed other than refused after its retry or caught on a lost connection: {s:?}"
            );
            lost += usize::from(conn_lost);
        }
        if !failed.is_empty() {
            eprintln!("answered UNAVAILABLE: {failed:?}");
        }
        answered += a;
        ok += o;
    }
    assert!(answered >= 200, "{answered}");
    // A refused call never reached a handler; one caught on a lost
    // connection may have. Each successful call ran exactly once, and no
    // other call ran, except perhaps one that lost its connection.
    let served = served.load(SeqCst);
    assert!(
        ok <= served && served <= ok + lost,
        "each call processed once: {served} served, {ok} ok, {lost} on a lost connection"
    );
    for s in servers.into_iter().flatten() {
        s.shutdown().await;
    }
}
