//! nghttp2's tools over loopback: `nghttp` and `h2load` against our blocking
//! server, our blocking client against `nghttpd`.

mod peers;

use std::process::Command;
use std::sync::Arc;
use std::thread;

use h2proto::io::blocking::Client;
use peers::{Background, available, free_port, run, start_server, temp_file, wait_listening};

mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

fn nghttp() -> bool {
    available("nghttp", &["nghttp", "--version"])
}

#[test]
fn nghttp_get() {
    if !nghttp() {
        return;
    }
    let server = start_server();
    let url = format!("http://{}/bytes/70000", server.local_addr());
    let out = run(Command::new("nghttp").arg(&url));
    assert!(out.status.success(), "nghttp failed: {}", out.stderr);
    assert_eq!(out.stdout, vec![b'x'; 70_000]);
    server.shutdown();
}

#[test]
fn nghttp_post_1mib_echo() {
    if !nghttp() {
        return;
    }
    let server = start_server();
    let (file, data) = temp_file(1 << 20);
    let url = format!("http://{}/echo", server.local_addr());
    let out = run(Command::new("nghttp").arg("-d").arg(&file).arg(&url));
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "nghttp failed: {}", out.stderr);
    assert!(
        out.stdout == data,
        "echo differs: {} bytes back",
        out.stdout.len()
    );
    server.shutdown();
}

/// 100 concurrent streams on one connection (our default limit is 100).
#[test]
fn nghttp_100_concurrent_streams() {
    if !nghttp() {
        return;
    }
    let server = start_server();
    let url = format!("http://{}/bytes/1000", server.local_addr());
    let out = run(Command::new("nghttp").args(["-ns", "-m", "100", &url]));
    assert!(out.status.success(), "nghttp failed: {}", out.stderr);
    // `-s` prints one line per stream: id, response end, ..., status, size, path.
    let text = out.stdout_text();
    let ok = text
        .lines()
        .filter(|l| l.split_whitespace().rev().nth(2) == Some("200"))
        .count();
    assert_eq!(ok, 100, "{text}");
    server.shutdown();
}

#[test]
fn h2load_5000_requests() {
    if !available("h2load", &["h2load", "--version"]) {
        return;
    }
    let server = start_server();
    let url = format!("http://{}/", server.local_addr());
    let out = run(Command::new("h2load").args(["-n", "5000", "-c", "4", "-m", "10", &url]));
    let text = out.stdout_text();
    assert!(out.status.success(), "h2load failed: {text}{}", out.stderr);
    for line in text.lines().filter(|l| {
        l.starts_with("finished in") || l.starts_with("requests:") || l.starts_with("status codes:")
    }) {
        eprintln!("h2load: {line}");
    }
    assert!(
        text.contains(
            "requests: 5000 total, 5000 started, 5000 done, 5000 succeeded, 0 failed, 0 errored, 0 timeout"
        ),
        "{text}"
    );
    assert!(
        text.contains("status codes: 5000 2xx, 0 3xx, 0 4xx, 0 5xx"),
        "{text}"
    );
    server.shutdown();
}

/// A graceful stop while h2load hammers the server: the stop returns, h2load
/// ends on its own, and every request answered was answered 2xx.
#[test]
fn h2load_during_graceful_shutdown() {
    if !available("h2load", &["h2load", "--version"]) {
        return;
    }
    let server = start_server();
    let url = format!("http://{}/bytes/3000", server.local_addr());
    let child = Command::new("h2load")
        .args(["-n", "1000000", "-c", "4", "-m", "10", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start h2load");
    let mut h2load = Background(child);
    let stdout = h2load.0.stdout.take().expect("piped stdout");
    let reader = thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut { stdout }, &mut text);
        text
    });
    thread::sleep(std::time::Duration::from_millis(300));
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        server.shutdown();
        let _ = tx.send(());
    });
    rx.recv_timeout(peers::DEADLINE)
        .expect("graceful shutdown did not finish");
    let status = peers::wait_deadline(&mut h2load.0, peers::DEADLINE)
        .expect("h2load did not end after the shutdown");
    let text = reader.join().unwrap_or_default();
    for line in text
        .lines()
        .filter(|l| l.starts_with("requests:") || l.starts_with("status codes:"))
    {
        eprintln!("h2load (shutdown): {line}");
    }
    assert!(status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("status codes:"))
        .unwrap_or_else(|| panic!("no summary: {text}"));
    assert!(line.ends_with(" 0 3xx, 0 4xx, 0 5xx"), "{line}");
    assert!(!line.starts_with("status codes: 0 2xx"), "{line}");
    assert!(text.contains(" 0 timeout"), "{text}");
}

/// Our client against nghttpd limited to 10 concurrent streams: a 1 MiB
/// download, then 90 requests from 30 threads on one connection (requests
/// wait for a slot; any refused before nghttpd's SETTINGS arrive are retried).
#[test]
fn our_client_against_nghttpd() {
    if !available("nghttpd", &["nghttpd", "--version"]) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("h2proto-nghttpd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("docroot");
    let (file, data) = temp_file(1 << 20);
    std::fs::rename(&file, dir.join("big.bin")).expect("docroot file");
    std::fs::write(dir.join("small.txt"), "small\n").expect("docroot file");
    let port = free_port();
    let child = Command::new("nghttpd")
        .args(["--no-tls", "--max-concurrent-streams=10", "-d"])
        .arg(&dir)
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nghttpd");
    let _guard = Background(child);
    wait_listening(port);

    let client = Arc::new(Client::connect(("127.0.0.1", port)).expect("connect"));
    let res = client.get("/big.bin").expect("GET /big.bin");
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        *res.body() == data,
        "download differs: {} bytes",
        res.body().len()
    );
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            thread::spawn(move || {
                for _ in 0..5 {
                    let res = client.get("/small.txt").expect("GET /small.txt");
                    assert_eq!(
                        (res.status().as_u16(), &res.body()[..]),
                        (200, &b"small\n"[..])
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("request thread");
    }
    let res = client.get("/big.bin").expect("GET /big.bin");
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        *res.body() == data,
        "download differs: {} bytes",
        res.body().len()
    );
    let missing = client.get("/nope").expect("GET /nope");
    assert_eq!(missing.status(), 404);
    drop(client);
    let _ = std::fs::remove_dir_all(&dir);
}
