//! curl (`--http2-prior-knowledge`, libcurl + nghttp2) against our blocking
//! server over loopback.

mod peers;

use std::process::Command;

use peers::{available, run, start_server, temp_file};

fn curl() -> bool {
    available("curl", &["curl", "--version"])
}

#[test]
fn curl_get() {
    if !curl() {
        return;
    }
    let server = start_server();
    let url = format!("http://{}/hello", server.local_addr());
    let out = run(Command::new("curl").args([
        "-sS",
        "--http2-prior-knowledge",
        "-w",
        "\n%{http_code} %{http_version}",
        &url,
    ]));
    assert!(out.status.success(), "curl failed: {}", out.stderr);
    assert_eq!(out.stdout_text(), "hello GET /hello\n\n200 2");
    server.shutdown();
}

#[test]
fn curl_head_and_bytes() {
    if !curl() {
        return;
    }
    let server = start_server();
    let addr = server.local_addr();
    let out = run(Command::new("curl").args([
        "-sS",
        "--http2-prior-knowledge",
        "-I",
        &format!("http://{addr}/bytes/5"),
    ]));
    assert!(out.status.success(), "curl -I failed: {}", out.stderr);
    let text = out.stdout_text();
    assert!(text.starts_with("HTTP/2 200"), "{text}");
    assert!(text.contains("content-length: 5"), "{text}");
    let out = run(Command::new("curl").args([
        "-sS",
        "--http2-prior-knowledge",
        &format!("http://{addr}/bytes/100000"),
    ]));
    assert!(out.status.success(), "curl failed: {}", out.stderr);
    assert_eq!(out.stdout, vec![b'x'; 100_000]);
    server.shutdown();
}

/// curl posts 1 MiB to our `/echo` with `extra` flags; the echo must
/// match.
fn curl_echo_1mib(extra: &[&str]) {
    if !curl() {
        return;
    }
    let server = start_server();
    let (file, data) = temp_file(1 << 20);
    let url = format!("http://{}/echo", server.local_addr());
    let data_arg = format!("@{}", file.display());
    let mut args = vec!["-sS", "--http2-prior-knowledge"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--data-binary", &data_arg, &url]);
    let out = run(Command::new("curl").args(&args));
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "curl failed: {}", out.stderr);
    assert!(
        out.stdout == data,
        "echo differs: {} bytes back",
        out.stdout.len()
    );
    server.shutdown();
}

#[test]
fn curl_post_1mib_echo() {
    curl_echo_1mib(&[]);
}

/// curl's `Expect: 100-continue` upload: it sends its body only after `100
/// Continue`. Its wait is set past the test's deadline, so a server that
/// never sends 100 fails the test instead of passing a minute late.
#[test]
fn curl_upload_expecting_100_continue() {
    curl_echo_1mib(&["--expect100-timeout", "600", "-H", "Expect: 100-continue"]);
}
