//! grpc's interop test client on h2proto's tokio gRPC adapter (the
//! default) or its blocking one.
//!
//! ```sh
//! cargo run --example grpc_interop_client -- --server_host 127.0.0.1 \
//!     --server_port 10000 --test_case large_unary [--runtime blocking|tokio]
//! ```
//!
//! Runs one case of grpc's interop-test-descriptions (or `all`), with their
//! sizes and checks. Exit status 0 when it passed. `--skip_compression_probe`
//! leaves out the client_compressed_* feature probe, for servers that cannot
//! tell a compressed request from an uncompressed one.

#[path = "interop/cases.rs"]
mod cases;
#[path = "interop/messages.rs"]
mod messages;

use cases::{CASES, Conn, PROBE, TokioConn, names};
use h2proto::io::blocking::grpc::Client;

fn main() {
    let (mut host, mut port, mut case) = ("127.0.0.1".to_owned(), 10000u16, String::new());
    let mut tokio = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--skip_compression_probe" {
            PROBE.store(false, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let value = value.or_else(|| args.next()).unwrap_or_default();
        match name.as_str() {
            "--server_host" => host = value,
            "--server_port" => port = value.parse().unwrap_or(port),
            "--test_case" => case = value,
            "--runtime" => match value.as_str() {
                "tokio" => tokio = true,
                "blocking" => tokio = false,
                other => {
                    eprintln!("--runtime {other:?}: blocking or tokio");
                    std::process::exit(2);
                }
            },
            other => eprintln!("ignoring flag {other}"),
        }
    }
    let selected: Vec<_> = CASES
        .iter()
        .filter(|(name, _)| case == "all" || *name == case)
        .collect();
    if selected.is_empty() {
        eprintln!("unknown --test_case {case:?}; one of: all, {}", names());
        std::process::exit(2);
    }
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let client: Result<Box<dyn Conn>, String> = if tokio {
        TokioConn::connect(rt.handle().clone(), &format!("{host}:{port}"))
            .map(|c| Box::new(c) as Box<dyn Conn>)
    } else {
        Client::connect((host.as_str(), port))
            .map(|c| Box::new(c) as Box<dyn Conn>)
            .map_err(|e| e.to_string())
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot connect to {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    let mut failed = 0;
    for (name, run) in selected {
        match run(client.as_ref()) {
            Ok(()) => println!("PASS {name}"),
            Err(e) => {
                println!("FAIL {name}: {e}");
                failed += 1;
            }
        }
    }
    // Closed before exiting, or its GOAWAY may never leave.
    client.close();
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
