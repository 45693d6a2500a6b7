//! The blocking gRPC adapter (`io::blocking::grpc`) end to end over loopback:
//! grpc's interop cases, our client (`examples/interop/cases.rs`) against our
//! server (`examples/interop/service.rs`), feature probes included. Needs no
//! external peer; `tests/interop_grpc.rs` runs the same cases against grpcio.

#[macro_use]
#[path = "../examples/interop/cases.rs"]
#[allow(dead_code)] // names() is for the example's usage line
mod cases;
#[path = "../examples/interop/messages.rs"]
mod messages;
#[path = "../examples/interop/service.rs"]
mod service;

use std::sync::OnceLock;

use h2proto::io::blocking::grpc::{Client, Server, ServerHandle};

/// Our interop server, shared by every test of this binary.
fn server() -> u16 {
    static SERVER: OnceLock<ServerHandle> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            Server::bind("127.0.0.1:0")
                .and_then(|s| s.spawn(service::handle))
                .expect("start our interop server")
        })
        .local_addr()
        .port()
}

fn run(case: &str) {
    let (_, run_case) = cases::CASES
        .iter()
        .find(|(name, _)| *name == case)
        .expect("known case");
    let client = Client::connect(("127.0.0.1", server())).expect("connect");
    let result = run_case(&client);
    client.shutdown();
    if let Err(e) = result {
        panic!("{case}: {e}");
    }
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        $(#[test]
        fn $case() {
            run(stringify!($case));
        })*
    };
}

interop_cases!(cases);

/// Many calls at once on one connection: each gets its own answer.
#[test]
fn concurrent_calls_share_one_connection() {
    let client = std::sync::Arc::new(Client::connect(("127.0.0.1", server())).expect("connect"));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                let ping_pong = cases::CASES.iter().find(|c| c.0 == "ping_pong");
                ping_pong.expect("ping_pong case").1(&*client)
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread").expect("ping_pong");
    }
}

/// A graceful client shutdown waits for calls at most `max_wait`, then
/// closes the connection: the call left running ends UNAVAILABLE.
#[test]
fn shutdown_is_bounded_when_a_call_never_ends() {
    use std::time::{Duration, Instant};

    use h2proto::grpc::{CallOptions, Code};
    use h2proto::io::blocking::grpc::Config;

    let mut config = Config::client();
    config.max_wait = Duration::from_millis(300);
    let client = Client::connect_with(("127.0.0.1", server()), config).expect("connect");
    // A bidi call that neither side ends.
    let path = messages::path::FULL_DUPLEX_CALL;
    let mut call = client.call(path, CallOptions::new()).expect("call");
    let started = Instant::now();
    client.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(call.status().expect("status").code(), Code::UNAVAILABLE);
}
