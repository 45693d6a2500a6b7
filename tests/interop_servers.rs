//! Our clients against HTTP/2 servers nobody here wrote, each with its own
//! HTTP/2 stack: nginx (its own), Caddy (Go's `net/http`) and h2o (its
//! own), all from Debian's packages, over h2c with prior knowledge; and
//! Caddy over TLS, whose TLS is Go's `crypto/tls` (nghttpd and nginx use
//! OpenSSL, our own servers rustls).
//!
//! nginx closes a connection after `keepalive_requests` requests: it sends
//! GOAWAY with the last stream it took, skips the streams above it, and
//! closes once the others are answered. Requests caught by that are not
//! processed, and the pools send them again on a fresh connection
//! ([`Pool::send`], the pool's tower service); a single client reports each
//! one as such (`Error::is_unprocessed` or `Error::is_not_sent`), never as
//! a failure that might have reached the server.
//!
//! A server that is missing prints `SKIPPED: <server> not installed` (with
//! `CI=true`, a failure).

mod peers;
mod tls_support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use h2proto::io::tokio::pool::{Pool, PoolConfig};
use h2proto::io::tokio::{Body, Client, ClientConfig};
use peers::{Background, available, free_port, wait_listening};
use tower_service::Service;

/// nginx's requests per connection here (its default is 1000).
const KEEPALIVE_REQUESTS: usize = 50;
/// Concurrent callers, and requests each.
const CALLERS: usize = 16;
const PER_CALLER: usize = 40;
/// The big file each server serves.
const BIG: usize = 10 << 20;

/// A server's document root: `index.html` and `big` (pseudo-random bytes).
fn docroot() -> (PathBuf, Vec<u8>) {
    let (file, data) = peers::temp_file(BIG);
    let dir = file.with_extension("d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::rename(&file, dir.join("big")).unwrap();
    std::fs::write(dir.join("index.html"), "hello\n").unwrap();
    (dir, data)
}

/// A running server, and what it serves.
struct Running {
    _process: Background,
    origin: String,
    big: Vec<u8>,
}

fn nginx() -> Option<Running> {
    if !available("nginx", &["nginx", "-v"]) {
        return None;
    }
    let (root, big) = docroot();
    let port = free_port();
    let conf = root.with_extension("nginx.conf");
    let dir = root.display();
    std::fs::write(
        &conf,
        format!(
            "master_process off;\n\
             daemon off;\n\
             pid {dir}.nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
               access_log off;\n\
               keepalive_requests {KEEPALIVE_REQUESTS};\n\
               client_body_temp_path {dir}.body;\n\
               server {{ listen 127.0.0.1:{port} http2; root {dir}; }}\n\
             }}\n"
        ),
    )
    .unwrap();
    let error_log = root.with_extension("nginx.log");
    let process = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(&error_log)
        .spawn()
        .expect("start nginx");
    Some(started(process, port, big))
}

fn caddy() -> Option<Running> {
    caddy_serving(|port, root| {
        format!("http://127.0.0.1:{port} {{\n\troot * {root}\n\tfile_server\n}}\n")
    })
}

/// Caddy serving `site(port, docroot)`, a Caddyfile site block; h2c, h2
/// over TLS and HTTP/1.1 on.
fn caddy_serving(site: impl FnOnce(u16, &str) -> String) -> Option<Running> {
    if !available("caddy", &["caddy", "version"]) {
        return None;
    }
    let (root, big) = docroot();
    let port = free_port();
    let conf = root.with_extension("Caddyfile");
    let global = "{\n\tauto_https off\n\tadmin off\n\tservers {\n\t\tprotocols h1 h2 h2c\n\t}\n}\n";
    let site = site(port, &root.display().to_string());
    std::fs::write(&conf, format!("{global}{site}")).unwrap();
    let process = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf)
        .env("XDG_DATA_HOME", root.with_extension("caddy-data"))
        .env("XDG_CONFIG_HOME", root.with_extension("caddy-config"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start caddy");
    Some(started(process, port, big))
}

fn h2o() -> Option<Running> {
    if !available("h2o", &["h2o", "--version"]) {
        return None;
    }
    let (root, big) = docroot();
    let port = free_port();
    let conf = root.with_extension("h2o.conf");
    std::fs::write(
        &conf,
        format!(
            "listen:\n  port: {port}\n  host: 127.0.0.1\n\
             error-log: {log}\n\
             hosts:\n  default:\n    paths:\n      /:\n        file.dir: {dir}\n",
            log = root.with_extension("h2o.log").display(),
            dir = root.display()
        ),
    )
    .unwrap();
    let process = Command::new("h2o")
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start h2o");
    Some(started(process, port, big))
}

fn started(process: std::process::Child, port: u16, big: Vec<u8>) -> Running {
    let process = Background(process);
    wait_listening(port);
    Running {
        _process: process,
        origin: format!("http://127.0.0.1:{port}"),
        big,
    }
}

/// A pool of tokio clients whose connector counts its dials.
fn pool(dials: &Arc<AtomicUsize>) -> Pool<Client, std::io::Error> {
    let dials = Arc::clone(dials);
    Pool::new(PoolConfig::default(), move |origin: String| {
        dials.fetch_add(1, Ordering::Relaxed);
        async move { Client::connect_url(&origin, None, ClientConfig::default()).await }
    })
}

/// `CALLERS` tasks each run `PER_CALLER` calls of `call`; the failures.
async fn hammer<F, Fut>(call: F) -> Vec<String>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for i in 0..PER_CALLER {
                if let Err(e) = call(caller * PER_CALLER + i).await {
                    failures.push(e);
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap());
    }
    failures
}

/// Every request of 16 callers succeeds through `Pool::send`, although
/// nginx closes each connection after 50 requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_send_again_what_nginx_did_not_process() {
    let Some(server) = nginx() else { return };
    let dials = Arc::new(AtomicUsize::new(0));
    let pool = pool(&dials);
    let origin = server.origin.clone();
    let failures = hammer(move |i| {
        let (pool, origin) = (pool.clone(), origin.clone());
        async move {
            let path = if i % 2 == 0 {
                "/index.html"
            } else {
                "/missing"
            };
            let req = http::Request::get(format!("{origin}{path}")).body(Bytes::new());
            let res = pool.send(req.unwrap()).await.map_err(|e| e.to_string())?;
            let want = if i % 2 == 0 { 200 } else { 404 };
            match res.status().as_u16() == want {
                true => Ok(()),
                false => Err(format!("{path}: {}", res.status())),
            }
        }
    })
    .await;
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    let dials = dials.load(Ordering::Relaxed);
    assert!(
        dials >= CALLERS * PER_CALLER / KEEPALIVE_REQUESTS,
        "nginx rotated the connections: {dials} dials"
    );
}

/// The same through the pool's tower service (what a tonic client or a
/// tower stack calls): bodiless requests, replayed as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_pool_sends_again_what_nginx_did_not_process() {
    let Some(server) = nginx() else { return };
    let dials = Arc::new(AtomicUsize::new(0));
    let pool = pool(&dials);
    let watcher = pool.clone();
    let origin = server.origin.clone();
    let failures = hammer(move |_| {
        let (mut pool, origin) = (pool.clone(), origin.clone());
        async move {
            let req = http::Request::get(format!("{origin}/index.html"))
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            let res = pool.call(req).await.map_err(|e| e.to_string())?;
            let body = http_body_util::BodyExt::collect(res.into_body())
                .await
                .map_err(|e| e.to_string())?;
            match &body.to_bytes()[..] == b"hello\n" {
                true => Ok(()),
                false => Err("wrong body".to_owned()),
            }
        }
    })
    .await;
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert!(dials.load(Ordering::Relaxed) >= CALLERS * PER_CALLER / KEEPALIVE_REQUESTS);
    // Nothing is kept for a replay once the requests are answered.
    assert_eq!(watcher.replay_buffered(), 0);
}

/// One client on one connection: nginx answers its first 50 requests; every
/// other one fails as never processed or never sent, which is what makes it
/// safe to send elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_learns_which_requests_nginx_did_not_process() {
    let Some(server) = nginx() else { return };
    let client = Client::connect_url(&server.origin, None, ClientConfig::default())
        .await
        .unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    let origin = server.origin.clone();
    let counter = Arc::clone(&answered);
    let failures = hammer(move |_| {
        let (client, origin, answered) = (client.clone(), origin.clone(), counter.clone());
        async move {
            let req = http::Request::get(format!("{origin}/index.html")).body(Body::empty());
            match client.send_request(req.unwrap()).await {
                Ok(mut res) => {
                    let body = res.body_mut().collect(1 << 20).await;
                    body.map_err(|e| format!("a body cut short: {e:?}"))?;
                    answered.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(e) if e.is_unprocessed() || e.is_not_sent() => Ok(()),
                Err(e) => Err(format!("{e:?}")),
            }
        }
    })
    .await;
    assert!(failures.is_empty(), "ambiguous failures: {failures:?}");
    assert_eq!(answered.load(Ordering::Relaxed), KEEPALIVE_REQUESTS);
}

/// The same with the blocking client, from 16 threads.
#[test]
fn blocking_client_learns_which_requests_nginx_did_not_process() {
    let Some(server) = nginx() else { return };
    let addr = server.origin.trim_start_matches("http://").to_owned();
    let client = Arc::new(h2proto::io::blocking::Client::connect(addr.as_str()).unwrap());
    let answered = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (client, answered) = (Arc::clone(&client), Arc::clone(&answered));
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for _ in 0..PER_CALLER {
                    match client.get("/index.html") {
                        Ok(_) => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.is_unprocessed() || e.is_not_sent() => {}
                        Err(e) => failures.push(format!("{e:?}")),
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(failures.is_empty(), "ambiguous failures: {failures:?}");
    assert_eq!(answered.load(Ordering::Relaxed), KEEPALIVE_REQUESTS);
}

/// Both clients over TLS (rustls) against Caddy's TLS (Go's `crypto/tls`):
/// ALPN `h2`, the chain to the test CA, a 10 MiB download byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_clients_against_go_crypto_tls_in_caddy() {
    let pki = tls_support::TestPki::new("caddy");
    let (cert, key) = (pki.cert_pem.display(), pki.key_pem.display());
    let Some(server) = caddy_serving(|port, root| {
        format!(
            "https://localhost:{port} {{\n\ttls {cert} {key}\n\troot * {root}\n\tfile_server\n}}\n"
        )
    }) else {
        return;
    };
    let port: u16 = server.origin.rsplit(':').next().unwrap().parse().unwrap();
    let big = server.big.clone();
    let origin = format!("https://localhost:{port}");
    let mut config = ClientConfig::default();
    config.max_response_body = BIG;
    let client = Client::connect_url(&origin, Some(pki.client_config()), config)
        .await
        .unwrap();
    let res = client.get(&format!("{origin}/big")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.body()[..] == big[..], "the bytes differ");
    client.shutdown().await;
    let blocking = tokio::task::spawn_blocking(move || {
        let mut config = h2proto::io::blocking::ClientConfig::default();
        config.max_response_body = BIG;
        let client = h2proto::io::blocking::Client::connect_tls(
            ("127.0.0.1", port),
            "localhost",
            pki.client_config(),
            config,
        )
        .unwrap();
        client.get("/big").unwrap()
    })
    .await
    .unwrap();
    assert_eq!(blocking.status(), 200);
    assert!(
        blocking.body()[..] == big[..],
        "the bytes differ (blocking)"
    );
}

/// Eight 10 MiB downloads at once on one connection, byte for byte, from
/// each server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_downloads_from_nginx_caddy_and_h2o() {
    for server in [nginx(), caddy(), h2o()].into_iter().flatten() {
        let mut config = ClientConfig::default();
        config.max_response_body = BIG;
        let client = Client::connect_url(&server.origin, None, config)
            .await
            .unwrap();
        let big = Arc::new(server.big.clone());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (client, origin, big) = (client.clone(), server.origin.clone(), big.clone());
            tasks.push(tokio::spawn(async move {
                let res = client.get(&format!("{origin}/big")).await.unwrap();
                assert_eq!(res.status(), 200, "{origin}");
                assert!(res.body()[..] == big[..], "{origin}: the bytes differ");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        client.shutdown().await;
    }
}
