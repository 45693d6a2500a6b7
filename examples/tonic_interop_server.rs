//! grpc's interop test server as a tonic generated `grpc.testing.TestService`
//! served by h2proto's tokio server (`Server::serve_service`, feature
//! `tower`) instead of tonic's own transport.
//!
//! ```sh
//! cargo run --example tonic_interop_server -- --port 10000
//! cargo run --example tonic_interop_server -- --port 10443 --use_tls \
//!     --tls_cert_file cert.pem --tls_key_file key.pem
//! ```
//!
//! The service is in `tonic_interop/service.rs`, the generated code in
//! `tonic_interop/grpc_testing.rs`, and the per-message layer (compressed
//! flags, trailers on unary responses) in `tonic_interop/wire.rs`.

#[path = "tonic_interop/grpc_testing.rs"]
mod grpc_testing;
#[path = "tonic_interop/service.rs"]
mod service;
// The client half of the layer is the client's.
#[allow(dead_code)]
#[path = "tonic_interop/wire.rs"]
mod wire;

use h2proto::io::tokio::Server;

#[tokio::main]
async fn main() {
    let mut port = 10000u16;
    let (mut use_tls, mut cert, mut key) = (false, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            // A bare boolean flag means true.
            None if arg == "--use_tls" => (arg.clone(), Some("true".to_owned())),
            None => (arg.clone(), None),
        };
        let value = value.or_else(|| args.next()).unwrap_or_default();
        match name.as_str() {
            "--port" => port = value.parse().unwrap_or(port),
            "--use_tls" => use_tls = value == "true",
            "--tls_cert_file" => cert = Some(value),
            "--tls_key_file" => key = Some(value),
            other => eprintln!("ignoring flag {other}"),
        }
    }
    let server = match Server::bind(("0.0.0.0", port)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot serve on port {port}: {e}");
            std::process::exit(1);
        }
    };
    let server = match (use_tls, cert, key) {
        (false, ..) => server,
        (true, Some(cert), Some(key)) => {
            match h2proto::io::tls::server_config_from_pem_files(cert, key) {
                Ok(config) => server.with_tls(config),
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
        }
        (true, ..) => {
            eprintln!("--use_tls needs --tls_cert_file and --tls_key_file (PEM)");
            std::process::exit(2);
        }
    };
    let server = server.serve_service(service::server());
    println!(
        "tonic interop server (h2proto) listening on {}",
        server.local_addr()
    );
    std::future::pending::<()>().await;
}
