//! grpc's interop cases over TLS (ALPN `h2`, certificates from rcgen at test
//! time, server name `foo.test.google.fr` as in grpc's interop setup):
//! Python `grpcio` secure channels against our servers (tokio and
//! blocking), our clients (tokio and blocking) against a grpcio secure
//! server, and our adapters crossed. Each test runs all 18 cases on one
//! connection and names the ones that failed.
//!
//! Without python3 + grpcio + grpcio-tools the grpcio directions print
//! `SKIPPED: python grpcio not installed` and pass (with `CI=true`, a
//! failure); the directions between our adapters always run.

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
mod tls_support;

use std::process::{ChildStdin, Command};
use std::sync::{Mutex, OnceLock};

use cases::{Conn, TokioConn};
use h2proto::io::blocking::grpc as bgrpc;
use h2proto::io::tokio::grpc as tgrpc;
use peers::{grpc_script, grpcio, run, start_grpcio_server};
use tls_support::TestPki;

/// The name every server certificate here is valid for.
const NAME: &str = "foo.test.google.fr";

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::new("grpc-interop"))
}

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

#[derive(Clone, Copy, Debug)]
enum Ours {
    Blocking,
    Tokio,
}

fn our_server(kind: Ours) -> u16 {
    static BLOCKING: OnceLock<bgrpc::ServerHandle> = OnceLock::new();
    static TOKIO: OnceLock<tgrpc::ServerHandle> = OnceLock::new();
    match kind {
        Ours::Blocking => BLOCKING
            .get_or_init(|| {
                bgrpc::Server::bind("127.0.0.1:0")
                    .map(|s| s.with_tls(pki().server_config()))
                    .and_then(|s| s.spawn(service::handle))
                    .expect("start our blocking TLS interop server")
            })
            .local_addr()
            .port(),
        Ours::Tokio => TOKIO
            .get_or_init(|| {
                runtime()
                    .block_on(
                        tgrpc::Server::builder()
                            .fallback(service_tokio::handle)
                            .tls(pki().server_config())
                            .bind("127.0.0.1:0"),
                    )
                    .expect("start our tokio TLS interop server")
            })
            .local_addr()
            .port(),
    }
}

/// Runs every case with our client of kind `client` against `port`;
/// returns the failures.
/// Runs every case; `probe`: send the compression probe ([`Conn::probe`]).
fn run_ours(client: Ours, port: u16, probe: bool) -> Vec<String> {
    let conn: Box<dyn Conn> = match client {
        Ours::Blocking => Box::new(
            bgrpc::Client::connect_tls(
                ("127.0.0.1", port),
                NAME,
                pki().client_config(),
                bgrpc::Config::client(),
            )
            .expect("blocking client over TLS"),
        ),
        Ours::Tokio => {
            let client = runtime()
                .block_on(tgrpc::Client::connect_tls(
                    ("127.0.0.1", port),
                    NAME,
                    pki().client_config(),
                    tgrpc::Config::client(),
                ))
                .expect("tokio client over TLS");
            Box::new(TokioConn {
                client,
                rt: runtime().handle().clone(),
            })
        }
    };
    let conn: Box<dyn Conn> = match probe {
        true => conn,
        false => Box::new(cases::NoProbe(conn)),
    };
    let mut failures = Vec::new();
    for (name, run_case) in cases::CASES {
        if let Err(e) = run_case(conn.as_ref()) {
            failures.push(format!("{name}: {e}"));
        }
    }
    conn.close();
    failures
}

fn ours_against_ours(client: Ours, server: Ours) {
    let failures = run_ours(client, our_server(server), true);
    assert!(
        failures.is_empty(),
        "{client:?} vs {server:?}: {failures:#?}"
    );
}

#[test]
fn tokio_vs_tokio_over_tls() {
    ours_against_ours(Ours::Tokio, Ours::Tokio);
}

#[test]
fn tokio_vs_blocking_over_tls() {
    ours_against_ours(Ours::Tokio, Ours::Blocking);
}

#[test]
fn blocking_vs_tokio_over_tls() {
    ours_against_ours(Ours::Blocking, Ours::Tokio);
}

/// The grpcio interop server on a secure port, shared by the tests of this
/// binary; it serves until its stdin closes (when this process exits).
fn python_server() -> u16 {
    static SERVER: OnceLock<(u16, Mutex<ChildStdin>)> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let (port, stdin) = start_grpcio_server(&[
                "--use_tls".as_ref(),
                "--tls_cert_file".as_ref(),
                pki().cert_pem.as_ref(),
                "--tls_key_file".as_ref(),
                pki().key_pem.as_ref(),
            ]);
            (port, Mutex::new(stdin))
        })
        .0
}

fn ours_against_grpcio(client: Ours) {
    if !grpcio() {
        return;
    }
    let port = python_server();
    // grpcio servicers cannot see whether a request arrived compressed.
    let failures = run_ours(client, port, false);
    assert!(
        failures.is_empty(),
        "{client:?} vs grpcio over TLS: {failures:#?}"
    );
}

#[test]
fn tokio_client_vs_grpcio_server_over_tls() {
    ours_against_grpcio(Ours::Tokio);
}

#[test]
fn blocking_client_vs_grpcio_server_over_tls() {
    ours_against_grpcio(Ours::Blocking);
}

fn grpcio_against_ours(server: Ours) {
    if !grpcio() {
        return;
    }
    let port = our_server(server).to_string();
    let out = run(Command::new("python3")
        .arg(grpc_script("interop_client.py"))
        .args(["--server_host", "127.0.0.1", "--server_port", &port])
        .args([
            "--test_case",
            "all",
            "--use_tls",
            "--server_host_override",
            NAME,
        ])
        .arg("--ca_file")
        .arg(&pki().ca_pem));
    let text = out.stdout_text();
    let missing: Vec<_> = cases::CASES
        .iter()
        .filter(|(name, _)| !text.contains(&format!("PASS {name}\n")))
        .map(|(name, _)| *name)
        .collect();
    assert!(
        out.status.success() && missing.is_empty(),
        "grpcio client against our {server:?} server over TLS: not passed: {missing:?}\n{text}{}",
        out.stderr
    );
}

#[test]
fn grpcio_client_vs_tokio_server_over_tls() {
    grpcio_against_ours(Ours::Tokio);
}

#[test]
fn grpcio_client_vs_blocking_server_over_tls() {
    grpcio_against_ours(Ours::Blocking);
}
