//! grpc's interop test server (`grpc.testing.TestService`) on h2proto's
//! blocking gRPC driver.
//!
//! ```sh
//! cargo run --example grpc_interop_server -- --port 10000
//! ```
//!
//! The service itself is in `interop/service.rs`.

#[path = "interop/messages.rs"]
mod messages;
#[path = "interop/service.rs"]
mod service;

use h2proto::io::blocking::grpc::Server;
use service::handle;

fn main() {
    let mut port = 10000u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let value = value.or_else(|| args.next()).unwrap_or_default();
        match name.as_str() {
            "--port" => port = value.parse().unwrap_or(port),
            "--use_tls" | "--use_alts" => {
                if value == "true" {
                    eprintln!("TLS/ALTS are not supported; cleartext h2c only");
                    std::process::exit(2);
                }
            }
            other => eprintln!("ignoring flag {other}"),
        }
    }
    let server = match Server::bind(("0.0.0.0", port)).and_then(|s| s.spawn(handle)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot serve on port {port}: {e}");
            std::process::exit(1);
        }
    };
    println!("grpc interop server listening on {}", server.local_addr());
    server.wait();
}
