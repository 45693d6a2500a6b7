//! Fetches a URL over HTTP/2 (h2c, prior knowledge) with the blocking
//! adapter and prints the status, the headers and the body.
//!
//! ```sh
//! cargo run --example h2_client -- http://127.0.0.1:8080/bytes/16
//! cargo run --example h2_client -- http://127.0.0.1:8080/echo --data hello
//! ```

use std::io::Write;

use h2proto::io::Request;
use h2proto::io::blocking::Client;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, data) = match args.as_slice() {
        [url] => (url, None),
        [url, flag, data] if flag == "--data" => (url, Some(data.clone())),
        _ => {
            eprintln!("usage: h2_client http://HOST:PORT/PATH [--data BODY]");
            std::process::exit(2);
        }
    };
    let Some(rest) = url.strip_prefix("http://") else {
        eprintln!("h2_client: only http:// URLs (cleartext HTTP/2) are supported");
        std::process::exit(2);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let client = match Client::connect(&addr) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("h2_client: cannot connect to {addr}: {e}");
            std::process::exit(1);
        }
    };
    let req = match data {
        Some(body) => Request::new("POST", path).with_body(body),
        None => Request::new("GET", path),
    }
    .with_authority(authority);
    match client.send(req) {
        Ok(res) => {
            println!("status: {}", res.status);
            for h in res.headers.iter().chain(&res.trailers) {
                println!(
                    "{}: {}",
                    String::from_utf8_lossy(&h.name),
                    String::from_utf8_lossy(&h.value)
                );
            }
            println!();
            let _ = std::io::stdout().write_all(&res.body);
        }
        Err(e) => {
            eprintln!("h2_client: {e}");
            std::process::exit(1);
        }
    }
    client.shutdown();
}
