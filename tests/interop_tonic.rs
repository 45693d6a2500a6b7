//! grpc's interop cases with tonic generated code on h2proto (feature
//! `tower`): the `grpc.testing.TestService` client of
//! `examples/tonic_interop/cases.rs` on our tokio `Client`, and the server
//! of `examples/tonic_interop/service.rs` on our tokio `Server`
//! (`serve_service`). One `#[test]` per case and direction:
//!
//! - `tonic_vs_grpcio`: the tonic client against Python grpcio's server
//!   (`tests/peers/grpc/interop_server.py`);
//! - `grpcio_vs_tonic`: grpcio's client (`interop_client.py`) against the
//!   tonic server;
//! - `tonic_vs_grpc_js`, `grpc_js_vs_tonic`: the same against
//!   `@grpc/grpc-js` (`tests/peers/node/`), whose server never compresses a
//!   response (the two `server_compressed_*` cases are skipped against it);
//! - `tonic_vs_ours`: the tonic client against our own tokio interop
//!   server (`examples/interop/service_tokio.rs`);
//! - `ours_vs_tonic`: our own tokio interop client
//!   (`examples/interop/cases.rs`) against the tonic server.
//!
//! Each server starts once per test binary, and each client direction
//! shares one connection. Without python3 + grpcio + grpcio-tools the
//! grpcio directions print `SKIPPED: python grpcio not installed` and pass
//! (with `CI=true`, a failure).

#[macro_use]
#[path = "../examples/interop/cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "../examples/tonic_interop/grpc_testing.rs"]
mod grpc_testing;
#[path = "../examples/interop/messages.rs"]
mod messages;
mod peers;
#[path = "../examples/interop/service.rs"]
#[allow(dead_code)]
mod service;
#[path = "../examples/interop/service_tokio.rs"]
mod service_tokio;
#[path = "../examples/tonic_interop/cases.rs"]
mod tonic_cases;
#[path = "../examples/tonic_interop/service.rs"]
mod tonic_service;
#[path = "../examples/tonic_interop/wire.rs"]
mod wire;

use std::process::ChildStdin;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use h2proto::io::tokio::{Client, Server, ServerHandle};
use peers::{
    InteropClient, grpc_js, grpc_js_server, grpcio, interop_client_passes, start_grpcio_server,
};
use tonic_cases::Clients;

/// A hang guard per case run by the tonic client (its calls' deadlines are
/// enforced by the servers).
const CASE_GUARD: Duration = Duration::from_secs(60);

/// The runtime of our servers and clients, shared by every test.
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

/// The tonic interop server on h2proto.
fn tonic_server() -> u16 {
    static SERVER: OnceLock<ServerHandle> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            runtime().block_on(async {
                let server = Server::bind("127.0.0.1:0").await.expect("bind");
                server.serve_service(tonic_service::server())
            })
        })
        .local_addr()
        .port()
}

/// Our own tokio interop server.
fn our_server() -> u16 {
    static SERVER: OnceLock<h2proto::io::tokio::grpc::ServerHandle> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let server = h2proto::io::tokio::grpc::Server::builder()
                .fallback(service_tokio::handle)
                .bind("127.0.0.1:0");
            runtime()
                .block_on(server)
                .expect("start our interop server")
        })
        .local_addr()
        .port()
}

/// The grpcio interop server. It prints `READY <port>`, then serves until
/// its stdin closes: when this test process exits.
fn python_server() -> u16 {
    static SERVER: OnceLock<(u16, Mutex<ChildStdin>)> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let (port, stdin) = start_grpcio_server(&[]);
            (port, Mutex::new(stdin))
        })
        .0
}

/// The tonic clients on one connection to `port`, kept per port.
fn tonic_clients(port: u16, probe: bool) -> Clients {
    static CLIENTS: OnceLock<Mutex<Vec<(u16, Clients)>>> = OnceLock::new();
    let all = CLIENTS.get_or_init(Mutex::default);
    let mut all = all.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = all.iter().find(|(p, _)| *p == port) {
        return c.clone();
    }
    let client = runtime()
        .block_on(Client::connect(("127.0.0.1", port)))
        .expect("connect");
    let mut clients = Clients::new(client);
    clients.probe = probe;
    all.push((port, clients.clone()));
    clients
}

/// The tonic client runs `case` against the server on `port`.
fn tonic_against(case: &str, port: u16, probe: bool, server: &str) {
    let clients = tonic_clients(port, probe);
    let result = runtime().block_on(async {
        tokio::time::timeout(CASE_GUARD, tonic_cases::run(case, &clients)).await
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{case}, tonic client against {server}: {e}"),
        Err(_) => panic!("{case}, tonic client against {server}: no end"),
    }
}

fn tonic_vs_grpcio(case: &str) {
    if grpcio() {
        // grpcio servicers cannot see whether a request arrived compressed.
        tonic_against(case, python_server(), false, "grpcio");
    }
}

fn tonic_vs_ours(case: &str) {
    tonic_against(case, our_server(), true, "our interop server");
}

fn grpcio_vs_tonic(case: &str) {
    if !grpcio() {
        return;
    }
    interop_client_passes(
        InteropClient::Grpcio,
        case,
        tonic_server(),
        "the tonic server",
    );
}

fn tonic_vs_grpc_js(case: &str) {
    // grpc-js 1.14's server never compresses a response.
    let lacks = ["server_compressed_unary", "server_compressed_streaming"];
    if grpc_js() && !lacks.contains(&case) {
        // Its handlers cannot see whether a request arrived compressed.
        tonic_against(case, grpc_js_server(), false, "grpc-js");
    }
}

fn grpc_js_vs_tonic(case: &str) {
    if grpc_js() {
        interop_client_passes(
            InteropClient::GrpcJs,
            case,
            tonic_server(),
            "the tonic server",
        );
    }
}

/// Our own tokio interop client against the tonic server, on one shared
/// connection.
fn ours_vs_tonic(case: &str) {
    static CONN: OnceLock<cases::TokioConn> = OnceLock::new();
    let conn = CONN.get_or_init(|| {
        let addr = format!("127.0.0.1:{}", tonic_server());
        cases::TokioConn::connect(runtime().handle().clone(), &addr).expect("connect")
    });
    let (_, run_case) = cases::CASES
        .iter()
        .find(|(name, _)| *name == case)
        .expect("a known case");
    if let Err(e) = run_case(conn as &dyn cases::Conn) {
        panic!("{case}, our client against the tonic server: {e}");
    }
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        /// The tonic client on h2proto against grpcio's server.
        mod tonic_vs_grpcio {
            $(#[test]
            fn $case() {
                super::tonic_vs_grpcio(stringify!($case));
            })*
        }
        /// grpcio's client against the tonic server on h2proto.
        mod grpcio_vs_tonic {
            $(#[test]
            fn $case() {
                super::grpcio_vs_tonic(stringify!($case));
            })*
        }
        /// The tonic client on h2proto against grpc-js's server.
        mod tonic_vs_grpc_js {
            $(#[test]
            fn $case() {
                super::tonic_vs_grpc_js(stringify!($case));
            })*
        }
        /// grpc-js's client against the tonic server on h2proto.
        mod grpc_js_vs_tonic {
            $(#[test]
            fn $case() {
                super::grpc_js_vs_tonic(stringify!($case));
            })*
        }
        /// The tonic client on h2proto against our own interop server.
        mod tonic_vs_ours {
            $(#[test]
            fn $case() {
                super::tonic_vs_ours(stringify!($case));
            })*
        }
        /// Our own interop client against the tonic server on h2proto.
        mod ours_vs_tonic {
            $(#[test]
            fn $case() {
                super::ours_vs_tonic(stringify!($case));
            })*
        }
        /// The tonic client runs the same cases as ours.
        #[test]
        fn tonic_runs_every_case() {
            let listed = [$(stringify!($case)),*];
            assert_eq!(listed.to_vec(), tonic_cases::CASES.to_vec());
        }
    };
}

interop_cases!(cases);
