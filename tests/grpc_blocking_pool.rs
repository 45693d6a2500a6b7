//! The blocking gRPC server's handler threads: a call holds no thread until
//! it has something to handle, at most `handler_threads` handlers run at
//! once, a handler waiting on its client gives its place away (no
//! deadlock), and a server-first method still starts with its call.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2proto::grpc::{CallOptions, Metadata, Status};
use h2proto::io::blocking::grpc::{Client, Config, HandlerStats, Server, ServerCall, ServerHandle};

const ECHO: &str = "/test.Echo/Unary";
const HELLO: &str = "/test.Echo/Hello";
const GATED: &str = "/test.Echo/Gated";
const COLLECT: &str = "/test.Echo/Collect";

/// Echoes every message, then OK; `HELLO` first says hello (server-first);
/// `GATED` waits for the gate (a test-controlled wait, not the client's).
fn handler(gate: Arc<Mutex<mpsc::Receiver<()>>>) -> impl Fn(ServerCall) + Send + Sync {
    move |mut call: ServerCall| {
        if call.path() == HELLO && call.send(Bytes::from_static(b"hello")).is_err() {
            return;
        }
        let mut first = true;
        while let Ok(Some((m, _))) = call.recv() {
            if call.path() == GATED && first {
                let _ = gate.lock().map(|g| g.recv());
            }
            first = false;
            if call.path() != COLLECT && call.send(m).is_err() {
                return;
            }
        }
        let _ = call.finish(Status::ok(), Metadata::new());
    }
}

fn serve(threads: usize) -> (ServerHandle, mpsc::Sender<()>) {
    let (open, gate) = mpsc::channel();
    let mut config = Config::server();
    config.handler_threads = threads;
    let server = Server::bind("127.0.0.1:0")
        .expect("bind")
        .with_config(config)
        .server_first(HELLO)
        .spawn(handler(Arc::new(Mutex::new(gate))))
        .expect("serve");
    (server, open)
}

/// Polls the stats until `done` holds (a bounded wait, not a timing claim).
fn wait_for(server: &ServerHandle, done: impl Fn(HandlerStats) -> bool) -> HandlerStats {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let st = server.handler_stats();
        if done(st) || Instant::now() > until {
            return st;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn calls_waiting_for_their_message_hold_no_thread() {
    let (server, _gate) = serve(2);
    let client = Client::connect(server.local_addr()).expect("connect");
    let mut waiting: Vec<_> = (0..50)
        .map(|_| client.call(ECHO, CallOptions::new()).expect("call"))
        .collect();
    // A server-first call opened after them: its hello means the server
    // has seen the 50 calls' headers (one connection, in order).
    let mut hello = client.call(HELLO, CallOptions::new()).expect("call");
    assert_eq!(hello.recv().expect("hello").as_deref(), Some(&b"hello"[..]));
    let st = server.handler_stats();
    assert!(
        st.threads <= 2 && st.running + st.waiting <= 1,
        "50 calls without a message: {st:?}"
    );
    hello.close_send().expect("close");
    assert_eq!(hello.recv().expect("end"), None);
    assert!(hello.status().expect("status").is_ok());
    // Every waiting call completes once its message comes.
    for (i, call) in waiting.iter_mut().enumerate() {
        call.send(Bytes::from(format!("m{i}"))).expect("send");
        call.close_send().expect("close");
    }
    for (i, call) in waiting.iter_mut().enumerate() {
        assert_eq!(
            call.recv().expect("echo"),
            Some(Bytes::from(format!("m{i}")))
        );
        assert!(call.status().expect("status").is_ok());
    }
    client.shutdown();
    server.shutdown();
}

#[test]
fn at_most_handler_threads_run_and_the_rest_queue() {
    let (server, gate) = serve(2);
    let client = Client::connect(server.local_addr()).expect("connect");
    let mut calls: Vec<_> = (0..10)
        .map(|i| {
            let mut call = client.call(GATED, CallOptions::new()).expect("call");
            call.send(Bytes::from(format!("g{i}"))).expect("send");
            call.close_send().expect("close");
            call
        })
        .collect();
    let st = wait_for(&server, |s| s.running == 2 && s.queued == 8);
    assert_eq!((st.running, st.queued), (2, 8), "{st:?}");
    assert!(st.threads <= 2, "{st:?}");
    for _ in 0..10 {
        gate.send(()).expect("open the gate");
    }
    for call in &mut calls {
        assert!(call.recv().expect("echo").is_some());
        assert!(call.status().expect("status").is_ok());
    }
    let st = wait_for(&server, |s| s.running == 0 && s.queued == 0);
    assert_eq!((st.running, st.queued, st.waiting), (0, 0, 0));
    client.shutdown();
    server.shutdown();
}

#[test]
fn a_handler_waiting_on_its_client_does_not_block_the_queue() {
    // One place: the streaming call's handler waits in `recv` for a message
    // the client sends only after the unary call answered.
    let (server, _gate) = serve(1);
    let client = Client::connect(server.local_addr()).expect("connect");
    let mut stream = client.call(COLLECT, CallOptions::new()).expect("call");
    stream.send(Bytes::from_static(b"first")).expect("send");
    let mut unary = client.call(ECHO, CallOptions::new()).expect("call");
    unary.send(Bytes::from_static(b"ping")).expect("send");
    unary.close_send().expect("close");
    assert_eq!(unary.recv().expect("echo").as_deref(), Some(&b"ping"[..]));
    assert!(unary.status().expect("status").is_ok());
    stream.send(Bytes::from_static(b"second")).expect("send");
    stream.close_send().expect("close");
    assert_eq!(stream.recv().expect("end"), None);
    assert!(stream.status().expect("status").is_ok());
    client.shutdown();
    server.shutdown();
}

#[test]
fn a_server_first_bidi_call_starts_before_any_message() {
    let (server, _gate) = serve(1);
    let client = Client::connect(server.local_addr()).expect("connect");
    let mut call = client.call(HELLO, CallOptions::new()).expect("call");
    // Nothing sent yet: the handler's hello comes first.
    assert_eq!(call.recv().expect("hello").as_deref(), Some(&b"hello"[..]));
    call.send(Bytes::from_static(b"ping")).expect("send");
    assert_eq!(call.recv().expect("echo").as_deref(), Some(&b"ping"[..]));
    call.close_send().expect("close");
    assert_eq!(call.recv().expect("end"), None);
    assert!(call.status().expect("status").is_ok());
    client.shutdown();
    server.shutdown();
}

#[test]
fn a_call_cancelled_before_its_message_leaves_the_connection_serving() {
    let (server, _gate) = serve(1);
    let client = Client::connect(server.local_addr()).expect("connect");
    let mut call = client.call(ECHO, CallOptions::new()).expect("call");
    call.cancel();
    // The connection still serves, and no handler thread was used for
    // the cancelled call.
    let mut ok = client.call(ECHO, CallOptions::new()).expect("call");
    ok.send(Bytes::from_static(b"x")).expect("send");
    ok.close_send().expect("close");
    assert_eq!(ok.recv().expect("echo").as_deref(), Some(&b"x"[..]));
    assert!(ok.status().expect("status").is_ok());
    let st = wait_for(&server, |s| s.running == 0);
    assert!(st.threads <= 1, "{st:?}");
    client.shutdown();
    server.shutdown();
}
