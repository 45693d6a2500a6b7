//! grpc's interop cases against Python `grpcio` (PyPI) over loopback, both
//! ways: our interop client (`examples/interop/cases.rs`) against the
//! grpcio server of `tests/peers/grpc/interop_server.py`, and the grpcio
//! client of `tests/peers/grpc/interop_client.py` against our interop server
//! (`examples/interop/service.rs`). One `#[test]` per case and direction.
//!
//! Without python3 + grpcio + grpcio-tools: `SKIPPED: python grpcio not
//! installed` and pass (with `CI=true`, a failure).

#[path = "../examples/interop/cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "../examples/interop/messages.rs"]
mod messages;
mod peers;
#[path = "../examples/interop/service.rs"]
mod service;

use std::io::{BufRead, BufReader};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use h2proto::io::blocking::grpc::{Client, Server, ServerHandle};
use peers::{available, run};

fn grpcio() -> bool {
    available(
        "python grpcio",
        &["python3", "-c", "import grpc, grpc_tools"],
    )
}

fn script(name: &str) -> String {
    format!("{}/tests/peers/grpc/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Our interop server, shared by every test of this binary.
fn our_server() -> u16 {
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

/// The grpcio interop server, shared by every test of this binary. It
/// serves until its stdin closes: when this test process exits.
fn python_server() -> u16 {
    static SERVER: OnceLock<(u16, Mutex<ChildStdin>)> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let mut child = Command::new("python3")
                .arg(script("interop_server.py"))
                .args(["--port", "0"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the grpcio server");
            let stdin = child.stdin.take().expect("piped stdin");
            let stdout = child.stdout.take().expect("piped stdout");
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send(line);
            });
            let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
            let port = line
                .trim()
                .strip_prefix("READY ")
                .and_then(|p| p.parse().ok());
            let Some(port) = port else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the grpcio server did not start: {line:?}");
            };
            // Reap it when it exits; it exits when our end of stdin closes.
            thread::spawn(move || child.wait());
            (port, Mutex::new(stdin))
        })
        .0
}

/// Our client runs `case` against the grpcio server.
fn ours_against_python(case: &str) {
    if !grpcio() {
        return;
    }
    let port = python_server();
    // grpcio servicers cannot see whether a request arrived compressed.
    cases::PROBE.store(false, std::sync::atomic::Ordering::Relaxed);
    let (_, run_case) = cases::CASES
        .iter()
        .find(|(name, _)| *name == case)
        .expect("known case");
    let client = Client::connect(("127.0.0.1", port)).expect("connect to the grpcio server");
    let result = run_case(&client);
    client.shutdown();
    if let Err(e) = result {
        panic!("{case}, our client against grpcio: {e}");
    }
}

/// The grpcio client runs `case` against our server.
fn python_against_ours(case: &str) {
    if !grpcio() {
        return;
    }
    let port = our_server().to_string();
    let out = run(Command::new("python3")
        .arg(script("interop_client.py"))
        .args(["--server_host", "127.0.0.1", "--server_port", &port])
        .args(["--test_case", case]));
    let text = out.stdout_text();
    assert!(
        out.status.success() && text.contains(&format!("PASS {case}")),
        "{case}, grpcio client against our server: {text}{}",
        out.stderr
    );
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        /// Our client against the grpcio server.
        mod ours_vs_grpcio {
            $(#[test]
            fn $case() {
                super::ours_against_python(stringify!($case));
            })*
        }
        /// The grpcio client against our server.
        mod grpcio_vs_ours {
            $(#[test]
            fn $case() {
                super::python_against_ours(stringify!($case));
            })*
        }
        #[test]
        fn every_case_is_listed() {
            let listed = [$(stringify!($case)),*];
            let known: Vec<_> = cases::CASES.iter().map(|c| c.0).collect();
            assert_eq!(listed.to_vec(), known);
        }
    };
}

cases!(
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
