//! grpc's interop cases against Python `grpcio` (PyPI) over loopback, both
//! ways and on both of our adapters: our interop client
//! (`examples/interop/cases.rs`, blocking or tokio) against the grpcio server
//! of `tests/peers/grpc/interop_server.py`, and the grpcio client of
//! `tests/peers/grpc/interop_client.py` against our interop server
//! (`examples/interop/service.rs`, or `service_tokio.rs`). Then our adapters
//! against each other: the tokio client against the blocking server, the
//! blocking client against the tokio server, tokio against tokio. One
//! `#[test]` per case and direction.
//!
//! Without python3 + grpcio + grpcio-tools the grpcio directions print
//! `SKIPPED: python grpcio not installed` and pass (with `CI=true`, a
//! failure); the directions between our adapters always run.

#[macro_use]
#[path = "../examples/interop/cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "../examples/interop/messages.rs"]
mod messages;
mod peers;
#[path = "../examples/interop/service.rs"]
mod service;
#[path = "../examples/interop/service_tokio.rs"]
mod service_tokio;

use std::process::{ChildStdin, Command};
use std::sync::{Mutex, OnceLock};

use cases::{Conn, TokioConn};
use h2proto::io::blocking::grpc::{Client, Server, ServerHandle};
use peers::{grpc_script, grpcio, run, start_grpcio_server};

/// The runtime of our tokio server and clients, shared by every test.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Our tokio interop server, shared by every test of this binary.
fn our_tokio_server() -> u16 {
    static SERVER: OnceLock<h2proto::io::tokio::grpc::ServerHandle> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            runtime()
                .block_on(
                    h2proto::io::tokio::grpc::Server::builder()
                        .fallback(service_tokio::handle)
                        .bind("127.0.0.1:0"),
                )
                .expect("start our tokio interop server")
        })
        .local_addr()
        .port()
}

/// Which of our adapters.
#[derive(Clone, Copy)]
enum Ours {
    Blocking,
    Tokio,
}

/// Runs `case` with our client of kind `client` against `port`.
fn run_ours(case: &str, client: Ours, port: u16) -> Result<(), String> {
    let (_, run_case) = cases::CASES
        .iter()
        .find(|(name, _)| *name == case)
        .expect("known case");
    match client {
        Ours::Blocking => {
            let c = Client::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            let result = run_case(&c);
            c.shutdown();
            result
        }
        Ours::Tokio => {
            let c = TokioConn::connect(runtime().handle().clone(), &format!("127.0.0.1:{port}"))?;
            let result = run_case(&c as &dyn Conn);
            c.shutdown();
            result
        }
    }
}

/// Our `client` against our `server`, probes included.
fn ours_against_ours(case: &str, client: Ours, server: Ours) {
    let port = match server {
        Ours::Blocking => our_server(),
        Ours::Tokio => our_tokio_server(),
    };
    if let Err(e) = run_ours(case, client, port) {
        panic!("{case}: {e}");
    }
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
            let (port, stdin) = start_grpcio_server(&[]);
            (port, Mutex::new(stdin))
        })
        .0
}

/// Our client runs `case` against the grpcio server.
fn ours_against_python(case: &str, client: Ours) {
    if !grpcio() {
        return;
    }
    let port = python_server();
    // grpcio servicers cannot see whether a request arrived compressed.
    cases::PROBE.store(false, std::sync::atomic::Ordering::Relaxed);
    if let Err(e) = run_ours(case, client, port) {
        panic!("{case}, our client against grpcio: {e}");
    }
}

/// The grpcio client runs `case` against our server.
fn python_against_ours(case: &str, server: Ours) {
    if !grpcio() {
        return;
    }
    let port = match server {
        Ours::Blocking => our_server(),
        Ours::Tokio => our_tokio_server(),
    }
    .to_string();
    let out = run(Command::new("python3")
        .arg(grpc_script("interop_client.py"))
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
        /// Our blocking client against the grpcio server.
        mod ours_vs_grpcio {
            $(#[test]
            fn $case() {
                super::ours_against_python(stringify!($case), super::Ours::Blocking);
            })*
        }
        /// Our tokio client against the grpcio server.
        mod tokio_vs_grpcio {
            $(#[test]
            fn $case() {
                super::ours_against_python(stringify!($case), super::Ours::Tokio);
            })*
        }
        /// The grpcio client against our blocking server.
        mod grpcio_vs_ours {
            $(#[test]
            fn $case() {
                super::python_against_ours(stringify!($case), super::Ours::Blocking);
            })*
        }
        /// The grpcio client against our tokio server.
        mod grpcio_vs_tokio {
            $(#[test]
            fn $case() {
                super::python_against_ours(stringify!($case), super::Ours::Tokio);
            })*
        }
        /// Our tokio client against our blocking server.
        mod tokio_vs_blocking {
            $(#[test]
            fn $case() {
                super::ours_against_ours(stringify!($case), super::Ours::Tokio, super::Ours::Blocking);
            })*
        }
        /// Our blocking client against our tokio server.
        mod blocking_vs_tokio {
            $(#[test]
            fn $case() {
                super::ours_against_ours(stringify!($case), super::Ours::Blocking, super::Ours::Tokio);
            })*
        }
        /// Our tokio client against our tokio server.
        mod tokio_vs_tokio {
            $(#[test]
            fn $case() {
                super::ours_against_ours(stringify!($case), super::Ours::Tokio, super::Ours::Tokio);
            })*
        }
    };
}

interop_cases!(cases);
