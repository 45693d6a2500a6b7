//! grpc's interop test server (`grpc.testing.TestService`) on h2proto's
//! tokio gRPC adapter (the default) or its blocking one.
//!
//! ```sh
//! cargo run --example grpc_interop_server -- --port 10000 [--runtime blocking|tokio] [--server_id ID]
//! cargo run --example grpc_interop_server -- --port 10443 --use_tls \
//!     --tls_cert_file cert.pem --tls_key_file key.pem
//! ```
//!
//! `--server_id` is what `UnaryCall` puts in `SimpleResponse.server_id`
//! when the request sets `fill_server_id` (default: the listening address),
//! as `grpc_lb_client` counts it.
//!
//! The service itself is in `interop/service.rs` (blocking) and
//! `interop/service_tokio.rs` (tokio).

#[path = "interop/messages.rs"]
mod messages;
#[path = "interop/service.rs"]
mod service;
#[path = "interop/service_tokio.rs"]
mod service_tokio;

use h2proto::io::blocking::grpc::Server;
use service::handle;

fn main() {
    let mut port = 10000u16;
    let mut tokio = true;
    let mut server_id = None;
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
            "--server_id" => server_id = Some(value),
            "--runtime" => match value.as_str() {
                "tokio" => tokio = true,
                "blocking" => tokio = false,
                other => {
                    eprintln!("--runtime {other:?}: blocking or tokio");
                    std::process::exit(2);
                }
            },
            "--use_tls" => use_tls = value == "true",
            "--tls_cert_file" => cert = Some(value),
            "--tls_key_file" => key = Some(value),
            "--use_alts" => {
                if value == "true" {
                    eprintln!("ALTS is not supported");
                    std::process::exit(2);
                }
            }
            other => eprintln!("ignoring flag {other}"),
        }
    }
    if let Some(id) = server_id {
        let _ = service::SERVER_ID.set(id);
    }
    let tls = match (use_tls, cert, key) {
        (false, ..) => None,
        (true, Some(cert), Some(key)) => {
            match h2proto::io::tls::server_config_from_pem_files(cert, key) {
                Ok(config) => Some(config),
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
    if tokio {
        return serve_tokio(port, tls);
    }
    let server = Server::bind(("0.0.0.0", port)).and_then(|mut s| {
        if let Some(tls) = tls {
            s = s.with_tls(tls);
        }
        s.spawn(handle)
    });
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot serve on port {port}: {e}");
            std::process::exit(1);
        }
    };
    // Unless --server_id said otherwise, responses name the listening address.
    let _ = service::SERVER_ID.set(server.local_addr().to_string());
    println!("grpc interop server listening on {}", server.local_addr());
    server.wait();
}

fn serve_tokio(port: u16, tls: Option<std::sync::Arc<h2proto::io::tls::rustls::ServerConfig>>) {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(async {
        let mut server =
            h2proto::io::tokio::grpc::Server::builder().fallback(service_tokio::handle);
        if let Some(tls) = tls {
            server = server.tls(tls);
        }
        let server = server.bind(("0.0.0.0", port)).await;
        let server = match server {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot serve on port {port}: {e}");
                std::process::exit(1);
            }
        };
        let _ = service::SERVER_ID.set(server.local_addr().to_string());
        println!(
            "grpc interop server (tokio) listening on {}",
            server.local_addr()
        );
        std::future::pending::<()>().await;
    });
}
