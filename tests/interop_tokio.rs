//! Real peers against the tokio server over loopback: curl
//! (`--http2-prior-knowledge`), nghttp and h2load. Each skips with
//! `SKIPPED: <peer> not installed` (fails under `CI=true`).

mod peers;

use std::process::Command;
use std::time::Duration;

use h2proto::io::tokio::{Server, ServerHandle};
use peers::{available, run, temp_file};

use h2proto::io::tokio::Body;
mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

/// Our tokio server with the demo routes, on its own runtime.
struct Running {
    rt: tokio::runtime::Runtime,
    server: Option<ServerHandle>,
}

impl Running {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(async {
            Server::bind("127.0.0.1:0")
                .await
                .expect("bind")
                .serve(|req| async move {
                    match h2proto::io::tokio::collect_request(req, 16 << 20).await {
                        Ok(req) => peers::handler(req).map(Body::from),
                        Err(_) => response(400, Body::empty()),
                    }
                })
        });
        Running {
            rt,
            server: Some(server),
        }
    }

    fn url(&self, path: &str) -> String {
        let addr = self
            .server
            .as_ref()
            .map(|s| s.local_addr())
            .expect("running");
        format!("http://{addr}{path}")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown(Duration::from_secs(5)));
        }
    }
}

#[test]
fn curl_get_and_post_echo() {
    if !available("curl", &["curl", "--version"]) {
        return;
    }
    let server = Running::start();
    let out = run(Command::new("curl").args([
        "-sS",
        "--http2-prior-knowledge",
        "-w",
        "\n%{http_code} %{http_version}",
        &server.url("/hello"),
    ]));
    assert!(out.status.success(), "curl failed: {}", out.stderr);
    assert_eq!(out.stdout_text(), "hello GET /hello\n\n200 2");
    curl_echo_1mib(&server, &[]);
}

/// curl posts 1 MiB to the server's `/echo` with `extra` flags; the echo
/// must match.
fn curl_echo_1mib(server: &Running, extra: &[&str]) {
    let (file, data) = temp_file(1 << 20);
    let (data_arg, url) = (format!("@{}", file.display()), server.url("/echo"));
    let mut args = vec!["-sS", "--http2-prior-knowledge"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--data-binary", &data_arg, &url]);
    let out = run(Command::new("curl").args(&args));
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "curl failed: {}", out.stderr);
    assert!(
        out.stdout == data,
        "echo differs: {} bytes",
        out.stdout.len()
    );
}

#[test]
fn nghttp_get_and_concurrent_streams() {
    if !available("nghttp", &["nghttp", "--version"]) {
        return;
    }
    let server = Running::start();
    let out = run(Command::new("nghttp").arg(server.url("/bytes/70000")));
    assert!(out.status.success(), "nghttp failed: {}", out.stderr);
    assert_eq!(out.stdout, vec![b'x'; 70_000]);
    let out = run(Command::new("nghttp").args(["-ns", "-m", "100", &server.url("/bytes/1000")]));
    assert!(out.status.success(), "nghttp failed: {}", out.stderr);
    // `-s` prints one line per stream: ..., status, size, path.
    let text = out.stdout_text();
    let ok = text
        .lines()
        .filter(|l| l.split_whitespace().rev().nth(2) == Some("200"))
        .count();
    assert_eq!(ok, 100, "{text}");
}

#[test]
fn h2load_20000_requests() {
    if !available("h2load", &["h2load", "--version"]) {
        return;
    }
    let server = Running::start();
    let out =
        run(Command::new("h2load").args(["-n", "20000", "-c", "4", "-m", "10", &server.url("/")]));
    let text = out.stdout_text();
    assert!(out.status.success(), "h2load failed: {text}{}", out.stderr);
    assert!(
        text.contains(
            "requests: 20000 total, 20000 started, 20000 done, 20000 succeeded, 0 failed, 0 errored, 0 timeout"
        ),
        "{text}"
    );
    assert!(
        text.contains("status codes: 20000 2xx, 0 3xx, 0 4xx, 0 5xx"),
        "{text}"
    );
}

/// curl's `Expect: 100-continue` upload: it sends its body only after `100
/// Continue`. Its wait is set past the test's deadline, so a server that
/// never sends 100 fails the test instead of passing a minute late.
#[test]
fn curl_upload_expecting_100_continue() {
    if !available("curl", &["curl", "--version"]) {
        return;
    }
    let server = Running::start();
    let expect = ["--expect100-timeout", "600", "-H", "Expect: 100-continue"];
    curl_echo_1mib(&server, &expect);
}
