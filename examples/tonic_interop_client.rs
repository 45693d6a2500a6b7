//! grpc's interop test client as the tonic generated
//! `grpc.testing.TestServiceClient` running on h2proto's tokio `Client`
//! (its tower face, feature `tower`) instead of tonic's `Channel`.
//!
//! ```sh
//! cargo run --example tonic_interop_client -- --server_host 127.0.0.1 \
//!     --server_port 10000 --test_case all
//! cargo run --example tonic_interop_client -- --server_port 10443 --test_case all \
//!     --use_tls --ca_file ca.pem --server_host_override foo.test.google.fr
//! ```
//!
//! Runs one case of grpc's interop-test-descriptions (or `all`); exit
//! status 0 when every case run passed. `--skip_compression_probe` leaves
//! out the client_compressed_* feature probe, for servers that cannot tell
//! a compressed request from an uncompressed one. The cases are in
//! `tonic_interop/cases.rs`.

#[path = "tonic_interop/cases.rs"]
mod cases;
#[path = "tonic_interop/grpc_testing.rs"]
mod grpc_testing;
// The server half of the layer is the server's.
#[allow(dead_code)]
#[path = "tonic_interop/wire.rs"]
mod wire;

use std::time::Duration;

use h2proto::io::tokio::Client;

/// A hang guard per case: every call has a 10 s deadline, but only the
/// server enforces it.
const CASE_GUARD: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() {
    let (mut host, mut port, mut case) = ("127.0.0.1".to_owned(), 10000u16, String::new());
    let (mut use_tls, mut ca_file, mut host_override) = (false, None, None);
    let mut probe = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--skip_compression_probe" {
            probe = false;
            continue;
        }
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            // Bare boolean flags mean true.
            None if arg == "--use_tls" || arg == "--use_test_ca" => {
                (arg.clone(), Some("true".to_owned()))
            }
            None => (arg.clone(), None),
        };
        let value = value.or_else(|| args.next()).unwrap_or_default();
        match name.as_str() {
            "--server_host" => host = value,
            "--server_port" => port = value.parse().unwrap_or(port),
            "--test_case" => case = value,
            "--use_tls" => use_tls = value == "true",
            "--ca_file" => ca_file = Some(value),
            "--server_host_override" => host_override = Some(value),
            "--use_test_ca" => {} // the roots come from --ca_file
            other => eprintln!("ignoring flag {other}"),
        }
    }
    let selected: Vec<&str> = cases::CASES
        .iter()
        .copied()
        .filter(|name| case == "all" || *name == case)
        .collect();
    if selected.is_empty() {
        let names = cases::CASES.join(", ");
        eprintln!("unknown --test_case {case:?}; one of: all, {names}");
        std::process::exit(2);
    }
    let addr = (host.as_str(), port);
    let client = if use_tls {
        let tls = match ca_file {
            None => Ok(h2proto::io::tls::client_config_webpki_roots()),
            Some(ca) => h2proto::io::tls::client_config_from_ca_file(&ca),
        };
        let tls = match tls {
            Ok(config) => config,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let name = host_override.unwrap_or_else(|| host.clone());
        Client::connect_tls(addr, &name, tls, Default::default()).await
    } else {
        Client::connect(addr).await
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot connect to {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    let mut clients = cases::Clients::new(client.clone());
    clients.probe = probe;
    let mut failed = 0;
    for name in selected {
        match tokio::time::timeout(CASE_GUARD, cases::run(name, &clients)).await {
            Ok(Ok(())) => println!("PASS {name}"),
            Ok(Err(e)) => {
                println!("FAIL {name}: {e}");
                failed += 1;
            }
            Err(_) => {
                println!("FAIL {name}: no end after {CASE_GUARD:?}");
                failed += 1;
            }
        }
    }
    // Closed before exiting, or its GOAWAY may never leave.
    drop(clients);
    let _ = tokio::time::timeout(Duration::from_secs(2), client.shutdown()).await;
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
