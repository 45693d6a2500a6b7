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
//! The same cases both ways against a second gRPC implementation that shares
//! no code with grpcio's C core: `@grpc/grpc-js` on Node's own HTTP/2
//! (`tests/peers/node/grpc_interop_{client,server}.js`). Its server never
//! compresses a response, so our clients skip the two `server_compressed_*`
//! cases against it.
//!
//! Without python3 + grpcio + grpcio-tools the grpcio directions print
//! `SKIPPED: python grpcio not installed` and pass, and without node and
//! `npm ci --prefix tests/peers/node` the grpc-js ones print `SKIPPED` (with
//! `CI=true`, a failure); the directions between our adapters always run.

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

use std::process::ChildStdin;
use std::sync::{Mutex, OnceLock};

use cases::{Conn, NoProbe, TokioConn};
use h2proto::io::blocking::grpc::{Client, Server, ServerHandle};
use peers::{
    InteropClient, grpc_js, grpc_js_server, grpcio, interop_client_passes, start_grpcio_server,
};

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

/// Runs `case` with our client of kind `client` against `port`; `probe`:
/// send the compression probe ([`Conn::probe`]).
fn run_ours(case: &str, client: Ours, port: u16, probe: bool) -> Result<(), String> {
    let (_, run_case) = cases::CASES
        .iter()
        .find(|(name, _)| *name == case)
        .expect("known case");
    let conn: Box<dyn Conn> = match client {
        Ours::Blocking => {
            Box::new(Client::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?)
        }
        Ours::Tokio => Box::new(TokioConn::connect(
            runtime().handle().clone(),
            &format!("127.0.0.1:{port}"),
        )?),
    };
    let conn: Box<dyn Conn> = match probe {
        true => conn,
        false => Box::new(NoProbe(conn)),
    };
    let result = run_case(conn.as_ref());
    conn.close();
    result
}

/// Our `client` against our `server`, probes included.
fn ours_against_ours(case: &str, client: Ours, server: Ours) {
    let port = match server {
        Ours::Blocking => our_server(),
        Ours::Tokio => our_tokio_server(),
    };
    if let Err(e) = run_ours(case, client, port, true) {
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
    if let Err(e) = run_ours(case, client, port, false) {
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
    };
    interop_client_passes(InteropClient::Grpcio, case, port, "our server");
}

/// Cases the grpc-js server cannot take part in: it never compresses a
/// response (grpc-js 1.14's server has no response compression).
const GRPC_JS_SERVER_LACKS: [&str; 2] = ["server_compressed_unary", "server_compressed_streaming"];

/// Our client runs `case` against the grpc-js server.
fn ours_against_grpc_js(case: &str, client: Ours) {
    if !grpc_js() || GRPC_JS_SERVER_LACKS.contains(&case) {
        return;
    }
    let port = grpc_js_server();
    // grpc-js handlers cannot see whether a request arrived compressed.
    if let Err(e) = run_ours(case, client, port, false) {
        panic!("{case}, our client against grpc-js: {e}");
    }
}

/// The grpc-js client runs `case` against our server.
fn grpc_js_against_ours(case: &str, server: Ours) {
    if !grpc_js() {
        return;
    }
    let port = match server {
        Ours::Blocking => our_server(),
        Ours::Tokio => our_tokio_server(),
    };
    interop_client_passes(InteropClient::GrpcJs, case, port, "our server");
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
        /// Our blocking client against the grpc-js server.
        mod ours_vs_grpc_js {
            $(#[test]
            fn $case() {
                super::ours_against_grpc_js(stringify!($case), super::Ours::Blocking);
            })*
        }
        /// Our tokio client against the grpc-js server.
        mod tokio_vs_grpc_js {
            $(#[test]
            fn $case() {
                super::ours_against_grpc_js(stringify!($case), super::Ours::Tokio);
            })*
        }
        /// The grpc-js client against our blocking server.
        mod grpc_js_vs_ours {
            $(#[test]
            fn $case() {
                super::grpc_js_against_ours(stringify!($case), super::Ours::Blocking);
            })*
        }
        /// The grpc-js client against our tokio server.
        mod grpc_js_vs_tokio {
            $(#[test]
            fn $case() {
                super::grpc_js_against_ours(stringify!($case), super::Ours::Tokio);
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
