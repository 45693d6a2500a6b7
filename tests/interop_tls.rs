//! HTTP/2 over TLS against independent peers, with certificates generated
//! at test time (rcgen): curl (`--http2`, OpenSSL + nghttp2), nghttp and
//! h2load (nghttp2's clients, OpenSSL) and Python's `h2` over `ssl` against
//! our servers (tokio and blocking); Chromium (its own HTTP/2, driven by
//! `tests/peers/node/browser_h2.js`) against our servers; our clients
//! against nghttpd. Each
//! checks that ALPN selected `h2` where the peer can say so. A peer that
//! is missing prints `SKIPPED: <peer> not installed` (under `CI=true`, a
//! failure).

mod peers;
mod tls_support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use h2proto::io::blocking::{Client, ClientConfig, Server, ServerHandle};
use peers::{
    Background, available, free_port, handler, node_script, run, temp_file, wait_listening,
};
use tls_support::TestPki;

use bytes::Bytes;
use h2proto::io::tokio::Body;
mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

fn blocking_server(pki: &TestPki) -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .unwrap()
        .with_tls(pki.server_config())
        .spawn(handler)
        .expect("start our TLS server")
}

/// Our tokio server with the same routes, on its own runtime.
struct TokioServer {
    rt: tokio::runtime::Runtime,
    handle: Option<h2proto::io::tokio::ServerHandle>,
}

impl TokioServer {
    fn start(pki: &TestPki) -> TokioServer {
        Self::start_with(pki, h2proto::io::tokio::ServerConfig::default())
    }

    fn start_with(pki: &TestPki, server_config: h2proto::io::tokio::ServerConfig) -> TokioServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let config = pki.server_config();
        let handle = rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            h2proto::io::tokio::Server::from_listener(listener, server_config)
                .with_tls(config)
                .serve(|req| async move {
                    match h2proto::io::tokio::collect_request(req, 16 << 20).await {
                        Ok(req) => handler(req).map(Body::from),
                        Err(_) => response(400, Body::empty()),
                    }
                })
        });
        TokioServer {
            rt,
            handle: Some(handle),
        }
    }

    fn port(&self) -> u16 {
        self.handle.as_ref().unwrap().local_addr().port()
    }
}

impl Drop for TokioServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown(Duration::from_secs(1)));
        }
    }
}

fn curl() -> bool {
    available("curl", &["curl", "--version"])
}

fn curl_get_and_post(pki: &TestPki, port: u16) {
    let url = format!("https://localhost:{port}/hello");
    let ca = pki.ca_pem.to_str().unwrap();
    let out = run(Command::new("curl").args([
        "-sS",
        "--http2",
        "--cacert",
        ca,
        "-w",
        "\n%{http_code} %{http_version} %{scheme}",
        &url,
    ]));
    assert!(out.status.success(), "curl failed: {}", out.stderr);
    assert_eq!(out.stdout_text(), "hello GET /hello\n\n200 2 HTTPS");
    // 1 MiB up and back.
    let (file, data) = temp_file(1 << 20);
    let echo = format!("https://localhost:{port}/echo");
    let body = format!("@{}", file.display());
    let out = run(Command::new("curl").args([
        "-sS",
        "--http2",
        "--cacert",
        ca,
        "--data-binary",
        &body,
        &echo,
    ]));
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "curl failed: {}", out.stderr);
    assert!(
        out.stdout == data,
        "echo differs ({} bytes)",
        out.stdout.len()
    );
}

#[test]
fn curl_https_against_our_blocking_server() {
    if !curl() {
        return;
    }
    let pki = TestPki::new("curl-blocking");
    let server = blocking_server(&pki);
    curl_get_and_post(&pki, server.local_addr().port());
    // TLS 1.2 (an ECDHE AEAD suite, §9.2.2) works as well as 1.3.
    let url = format!("https://localhost:{}/", server.local_addr().port());
    let ca = pki.ca_pem.to_str().unwrap();
    let out = run(Command::new("curl").args([
        "-sS",
        "-v",
        "--http2",
        "--tls-max",
        "1.2",
        "--cacert",
        ca,
        &url,
    ]));
    assert!(out.status.success(), "curl failed: {}", out.stderr);
    assert!(out.stderr.contains("TLSv1.2"), "{}", out.stderr);
    assert!(
        out.stderr.contains("ALPN: server accepted h2"),
        "{}",
        out.stderr
    );
    server.shutdown();
}

#[test]
fn curl_https_against_our_tokio_server() {
    if !curl() {
        return;
    }
    let pki = TestPki::new("curl-tokio");
    let server = TokioServer::start(&pki);
    curl_get_and_post(&pki, server.port());
}

#[test]
fn curl_with_the_wrong_ca_is_refused() {
    if !curl() {
        return;
    }
    let pki = TestPki::new("curl-wrong-ca");
    let other = TestPki::new("curl-wrong-ca-other");
    let server = blocking_server(&pki);
    let url = format!("https://localhost:{}/", server.local_addr().port());
    let out = run(Command::new("curl").args([
        "-sS",
        "--http2",
        "--cacert",
        other.ca_pem.to_str().unwrap(),
        &url,
    ]));
    assert!(!out.status.success());
    assert!(out.stderr.contains("certificate"), "{}", out.stderr);
    // The server goes on serving.
    curl_get_and_post(&pki, server.local_addr().port());
    server.shutdown();
}

#[test]
fn curl_http11_only_gets_no_h2() {
    if !curl() {
        return;
    }
    let pki = TestPki::new("curl-h1");
    let server = blocking_server(&pki);
    let url = format!("https://localhost:{}/", server.local_addr().port());
    // curl offers ALPN http/1.1 only: our server refuses in the handshake
    // (no_application_protocol alert), since HTTP/2 over TLS needs "h2".
    let out = run(Command::new("curl").args([
        "-sS",
        "--http1.1",
        "--cacert",
        pki.ca_pem.to_str().unwrap(),
        &url,
    ]));
    assert!(!out.status.success(), "{}", out.stdout_text());
    assert!(
        out.stderr.contains("no application protocol") || out.stderr.contains("alert"),
        "{}",
        out.stderr
    );
    server.shutdown();
}

fn nghttp() -> bool {
    available("nghttp", &["nghttp", "--version"])
}

#[test]
fn nghttp_over_tls_against_our_servers() {
    if !nghttp() {
        return;
    }
    let pki = TestPki::new("nghttp");
    let blocking = blocking_server(&pki);
    let tokio = TokioServer::start(&pki);
    for port in [blocking.local_addr().port(), tokio.port()] {
        // nghttp does not verify certificates; -v shows the ALPN outcome.
        let url = format!("https://localhost:{port}/bytes/100000");
        let out = run(Command::new("nghttp").args(["-v", "-n", "-m", "5", &url]));
        let text = out.stdout_text();
        assert!(out.status.success(), "nghttp: {text}{}", out.stderr);
        assert!(text.contains("The negotiated protocol: h2"), "{text}");
        assert_eq!(text.matches(":status: 200").count(), 5, "{text}");
    }
    blocking.shutdown();
}

#[test]
fn h2load_over_tls_against_our_servers() {
    if !available("h2load", &["h2load", "--version"]) {
        return;
    }
    let pki = TestPki::new("h2load");
    let blocking = blocking_server(&pki);
    let tokio = TokioServer::start(&pki);
    for port in [blocking.local_addr().port(), tokio.port()] {
        let url = format!("https://localhost:{port}/");
        let out = run(Command::new("h2load").args(["-n", "2000", "-c", "4", "-m", "10", &url]));
        let text = out.stdout_text();
        assert!(out.status.success(), "h2load: {text}{}", out.stderr);
        assert!(text.contains("Application protocol: h2"), "{text}");
        assert!(text.contains("2000 succeeded"), "{text}");
    }
    blocking.shutdown();
}

#[test]
fn python_h2_over_ssl_against_our_servers() {
    if !available("python h2", &["python3", "-c", "import h2, ssl"]) {
        return;
    }
    let pki = TestPki::new("python");
    let blocking = blocking_server(&pki);
    let tokio = TokioServer::start(&pki);
    let script = format!("{}/tests/peers/h2_client.py", env!("CARGO_MANIFEST_DIR"));
    for port in [blocking.local_addr().port(), tokio.port()] {
        let out = run(Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(&pki.ca_pem));
        let text = out.stdout_text();
        assert!(out.status.success(), "python client: {text}{}", out.stderr);
        assert!(
            text.starts_with("OK 22 streams, echo 1048576 bytes"),
            "{text}"
        );
    }
    blocking.shutdown();
}

#[test]
fn our_clients_against_nghttpd_over_tls() {
    if !available("nghttpd", &["nghttpd", "--version"]) {
        return;
    }
    let pki = TestPki::new("nghttpd");
    let port = free_port();
    std::fs::write(pki.dir.join("index.html"), "hello from nghttpd\n").unwrap();
    let child = Command::new("nghttpd")
        .arg("-d")
        .arg(&pki.dir)
        .args(["-a", "127.0.0.1", &port.to_string()])
        .arg(&pki.key_pem)
        .arg(&pki.cert_pem)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nghttpd");
    let _guard = Background(child);
    wait_listening(port);
    let client = Client::connect_tls(
        ("127.0.0.1", port),
        "localhost",
        pki.client_config(),
        ClientConfig::default(),
    )
    .expect("blocking client over TLS");
    let res = client
        .send(request("GET", "/index.html", Bytes::new()))
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(&res.body()[..], b"hello from nghttpd\n");
    client.shutdown();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let roots: Arc<_> = pki.client_config();
    rt.block_on(async {
        let client = h2proto::io::tokio::Client::connect_tls(
            ("127.0.0.1", port),
            "localhost",
            roots,
            h2proto::io::tokio::ClientConfig::default(),
        )
        .await
        .expect("tokio client over TLS");
        let res = client.get("/index.html").await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(&res.body()[..], b"hello from nghttpd\n");
        client.shutdown().await;
    });
}

/// Whether Debian's chromium and puppeteer-core (under `tests/peers/node`)
/// are here.
fn chromium() -> bool {
    available(
        "chromium + puppeteer-core",
        &[
            "node",
            "-e",
            "require.resolve('puppeteer-core', { paths: [process.argv[1]] }); \
             require('fs').accessSync('/usr/bin/chromium')",
            &node_script(""),
        ],
    )
}

/// What a browser does on one connection: a page, 120 downloads at once,
/// uploads (one echoed, 20 at once, one streamed from the page), 30
/// downloads cancelled after their first chunk, HEAD, and one download left
/// unread for 5 s, past the servers' 2 s send-stall timer, then read to its
/// end beside a new request. Chromium reports what it negotiated (`h2`).
///
/// Firefox (`--browser firefox`, Debian's firefox-esr) is not run here: by
/// hand it passes every step, except that about one run in four loses one
/// 1–3 MiB download of the 20 at once, or one of the 20 uploads, with an
/// AbortError. Its log (`MOZ_LOG=timestamp,nsHttp:5`) shows the cause on
/// its side: Necko marks a stream's request side complete only on a second
/// pass of its write loop (one stream per socket-writable callback), and
/// `Http2StreamBase::ReadSegments` returns NS_ERROR_ABORT for a stream that
/// has already received END_STREAM; the session then cleans the stream up
/// with that error, discarding the response it holds for a page that has
/// not read it yet. In the log a 1 MiB response arrived whole (64 DATA
/// frames and END_STREAM in 10 ms) between the two passes while Firefox's
/// socket thread was busy reading. Nothing on the wire is wrong (no
/// RST_STREAM, no GOAWAY, every frame in order); a server that delivers a
/// whole response faster than Firefox gets back to its write loop provokes
/// it, which is why it was not seen against nghttpd, Caddy (Go) or h2o (0
/// runs of 8 each, against 2 of 8 for ours). A 64 KiB initial stream window
/// (3 of 12) or 250 concurrent streams (5 of 12) did not change it.
#[test]
fn chromium_against_our_servers() {
    if !chromium() {
        return;
    }
    let pki = TestPki::new("chromium");
    let mut h2 = h2proto::proto::Config::server();
    h2.send_stall_timeout = Some(Duration::from_secs(2));
    let mut blocking_config = h2proto::io::blocking::ServerConfig::default();
    blocking_config.h2 = h2.clone();
    let blocking = Server::bind_with("127.0.0.1:0", blocking_config)
        .unwrap()
        .with_tls(pki.server_config())
        .spawn(handler)
        .expect("start our TLS server");
    let mut tokio_config = h2proto::io::tokio::ServerConfig::default();
    tokio_config.h2 = h2;
    let tokio = TokioServer::start_with(&pki, tokio_config);
    for (name, port) in [
        ("blocking", blocking.local_addr().port()),
        ("tokio", tokio.port()),
    ] {
        let url = format!("https://localhost:{port}/");
        let out = run(Command::new("node")
            .arg(node_script("browser_h2.js"))
            .args(["--browser", "chromium"])
            .args([url.as_str(), "--pause-seconds", "5"]));
        let text = out.stdout_text();
        assert!(
            out.status.success(),
            "chromium against our {name} server: {text}{}",
            out.stderr
        );
    }
    blocking.shutdown();
}
