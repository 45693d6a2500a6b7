//! grpc's interop test client on h2proto's tokio gRPC adapter (the
//! default) or its blocking one.
//!
//! ```sh
//! cargo run --example grpc_interop_client -- --server_host 127.0.0.1 \
//!     --server_port 10000 --test_case large_unary [--runtime blocking|tokio]
//! cargo run --example grpc_interop_client -- --server_host 127.0.0.1 \
//!     --server_port 10443 --test_case all --use_tls --ca_file ca.pem \
//!     --server_host_override foo.test.google.fr
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

use cases::{CASES, Conn, NoProbe, TokioConn, names};
use h2proto::io::blocking::grpc::Client;

fn main() {
    let (mut host, mut port, mut case) = ("127.0.0.1".to_owned(), 10000u16, String::new());
    let mut tokio = true;
    let mut probe = true;
    let (mut use_tls, mut ca_file, mut host_override) = (false, None, None);
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
    let tls = match (use_tls, ca_file) {
        (false, _) => None,
        (true, None) => Some(h2proto::io::tls::client_config_webpki_roots()),
        (true, Some(ca)) => match h2proto::io::tls::client_config_from_ca_file(&ca) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        },
    };
    let name = host_override.unwrap_or_else(|| host.clone());
    let client: Result<Box<dyn Conn>, String> = if let Some(tls) = tls {
        connect_tls(&rt, tokio, (host.as_str(), port), &name, tls)
    } else if tokio {
        TokioConn::connect(rt.handle().clone(), &format!("{host}:{port}"))
            .map(|c| Box::new(c) as Box<dyn Conn>)
    } else {
        Client::connect((host.as_str(), port))
            .map(|c| Box::new(c) as Box<dyn Conn>)
            .map_err(|e| e.to_string())
    };
    let client = match client {
        Ok(c) if !probe => Box::new(NoProbe(c)),
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

/// Connects over TLS, verifying the server's certificate for `name`.
fn connect_tls(
    rt: &tokio::runtime::Runtime,
    tokio: bool,
    addr: (&str, u16),
    name: &str,
    tls: std::sync::Arc<h2proto::io::tls::rustls::ClientConfig>,
) -> Result<Box<dyn Conn>, String> {
    if tokio {
        let config = h2proto::io::tokio::grpc::Config::client();
        let client = rt
            .block_on(h2proto::io::tokio::grpc::Client::connect_tls(
                (addr.0.to_owned(), addr.1),
                name,
                tls,
                config,
            ))
            .map_err(|e| e.to_string())?;
        let rt = rt.handle().clone();
        Ok(Box::new(TokioConn { client, rt }))
    } else {
        let config = h2proto::io::blocking::grpc::Config::client();
        Client::connect_tls(addr, name, tls, config)
            .map(|c| Box::new(c) as Box<dyn Conn>)
            .map_err(|e| e.to_string())
    }
}
