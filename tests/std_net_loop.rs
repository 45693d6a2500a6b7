//! `examples/std_net_loop.rs` (a `proto::Connection` driven by hand over a
//! `TcpStream`) against our blocking client, and curl when installed.

mod http_support;
mod peers;

#[allow(dead_code)]
#[path = "../examples/std_net_loop.rs"]
mod std_net_loop;

use std::net::TcpListener;

use bytes::Bytes;
use std::process::Command;
use std::thread::JoinHandle;

use h2proto::io::blocking::Client;
use http_support::request;
use peers::{available, run};

/// Serves `connections` connections with the example's loop, one after the
/// other; the handle returns each connection's result.
fn serve(connections: usize) -> (String, JoinHandle<Vec<std::io::Result<()>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        (0..connections)
            .map(|_| {
                let (socket, _) = listener.accept()?;
                std_net_loop::serve_connection(socket)
            })
            .collect()
    });
    (addr, server)
}

#[test]
fn the_loop_answers_get_head_and_other_methods() {
    let (addr, server) = serve(1);
    let client = Client::connect(&addr).unwrap();
    for _ in 0..3 {
        let res = client.get("/anything").unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            &res.body()[..],
            b"hello from h2proto, driven by a std::net loop\n"
        );
    }
    let head = client.send(request("HEAD", "/", Bytes::new())).unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    // A body is read (and released) before the answer.
    let post = client
        .send(request("POST", "/", vec![1u8; 300_000]))
        .unwrap();
    assert_eq!(post.status(), 405);
    drop(client);
    // The client's close ends the loop without an error.
    let results = server.join().unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

#[test]
fn curl_against_the_loop() {
    if !available("curl", &["curl", "--version"]) {
        return;
    }
    let (addr, server) = serve(1);
    let out = run(Command::new("curl").args([
        "-sS",
        "--http2-prior-knowledge",
        "-w",
        "%{http_code} %{http_version}",
        &format!("http://{addr}/"),
    ]));
    assert!(out.status.success(), "curl failed: {}", out.stderr);
    assert_eq!(
        out.stdout_text(),
        "hello from h2proto, driven by a std::net loop\n200 2"
    );
    let results = server.join().unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}
