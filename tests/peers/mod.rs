//! Helpers for the interop tests: find an external peer (or skip), run it
//! with a deadline, and start our server in-process with the demo routes.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2proto::io::blocking::{Server, ServerHandle};
use http::{Request, Response};

/// Every external program gets this long before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Whether `peer` can run here (`probe` succeeds). When it cannot, prints
/// `SKIPPED: <peer> not installed` once per test binary (straight to stderr,
/// past libtest's capture) and returns false; under `CI=true` it panics
/// instead, since CI installs every peer.
pub fn available(peer: &str, probe: &[&str]) -> bool {
    static SEEN: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    let seen = SEEN.get_or_init(Mutex::default);
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    let ok = match seen.get(peer) {
        Some(&ok) => ok,
        None => {
            let ok = Command::new(probe[0])
                .args(&probe[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            seen.insert(peer.to_owned(), ok);
            if !ok && !ci {
                let _ = writeln!(std::io::stderr(), "SKIPPED: {peer} not installed");
            }
            ok
        }
    };
    drop(seen);
    if !ok && ci {
        panic!("{peer} not installed, and CI=true requires every interop peer");
    }
    ok
}

/// What a finished program printed.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `cmd` to completion; kills it and panics past [`DEADLINE`].
pub fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_deadline(&mut child, DEADLINE)
        .unwrap_or_else(|| panic!("{cmd:?} did not finish within {DEADLINE:?}"));
    let stdout = out.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    Output {
        status,
        stdout,
        stderr,
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits for `child` up to `limit`; kills it and returns `None` past it.
pub fn wait_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Kills a background peer when dropped, so a failing test never leaks it.
pub struct Background(pub Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The routes of `examples/h2_server.rs`: `/echo`, `/bytes/N`, anything else.
pub fn handler(req: Request<Bytes>) -> Response<Bytes> {
    let path = req.uri().path();
    let ok = http::Response::builder().status(200);
    if path == "/echo" {
        let body = req.into_body();
        return ok.header("content-length", body.len()).body(body).unwrap();
    }
    if let Some(n) = path
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        return ok
            .header("content-length", n)
            .body(vec![b'x'; n].into())
            .unwrap();
    }
    let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
    ok.body(format!("hello {} {}\n", req.method(), path_and_query).into())
        .unwrap()
}

/// Our server on a free loopback port, in-process.
pub fn start_server() -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .and_then(|s| s.spawn(handler))
        .expect("start our server")
}

/// A file of `len` pseudo-random bytes under the temp dir, and its content.
pub fn temp_file(len: usize) -> (PathBuf, Vec<u8>) {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ len as u64;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let path = std::env::temp_dir().join(format!(
        "h2proto-interop-{}-{}.bin",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, &data).expect("write temp file");
    (path, data)
}

/// A free loopback port (for peers that cannot bind port 0 and tell us).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until something accepts connections on `port`.
pub fn wait_listening(port: u16) {
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < end,
            "nothing listening on {port} after 10 s"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Whether python grpcio (and grpc_tools, for the interop scripts) can run
/// here (see [`available`]).
pub fn grpcio() -> bool {
    available(
        "python grpcio",
        &["python3", "-c", "import grpc, grpc_tools"],
    )
}

/// The path of a script in `tests/peers/grpc`.
pub fn grpc_script(name: &str) -> String {
    format!("{}/tests/peers/grpc/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Starts the grpcio interop server (`interop_server.py --port 0` and
/// `extra`) and waits for its `READY <port>`. It serves until the returned
/// stdin is dropped (kept in a test binary's static: until the process
/// exits); the child is reaped when it exits.
pub fn start_grpcio_server(extra: &[&std::ffi::OsStr]) -> (u16, std::process::ChildStdin) {
    let mut cmd = Command::new("python3");
    cmd.arg(grpc_script("interop_server.py"))
        .args(["--port", "0"])
        .args(extra);
    start_ready_server(cmd, "the grpcio server")
}

/// A script of `tests/peers/node/` (run with `node`; its packages are
/// installed there by `npm ci --prefix tests/peers/node`).
pub fn node_script(name: &str) -> String {
    format!("{}/tests/peers/node/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Whether node and `@grpc/grpc-js` (installed under `tests/peers/node`)
/// can run here (see [`available`]).
pub fn grpc_js() -> bool {
    available(
        "node @grpc/grpc-js",
        &[
            "node",
            "-e",
            "require.resolve('@grpc/grpc-js', { paths: [process.argv[1]] })",
            &node_script(""),
        ],
    )
}

/// The grpc-js interop server (`grpc_interop_server.js --port 0`), started
/// once per test binary; it serves until its stdin closes, when the test
/// process exits.
pub fn grpc_js_server() -> u16 {
    static SERVER: OnceLock<(u16, Mutex<std::process::ChildStdin>)> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let mut cmd = Command::new("node");
            cmd.arg(node_script("grpc_interop_server.js"))
                .args(["--port", "0"]);
            let (port, stdin) = start_ready_server(cmd, "the grpc-js server");
            (port, Mutex::new(stdin))
        })
        .0
}

/// An interop client (`interop_client.py` with `python3`, or
/// `grpc_interop_client.js` with `node`) runs `case` against our server on
/// `port` (`ours` names it); panics with what it printed unless the case
/// passed.
pub fn interop_client_passes(client: InteropClient, case: &str, port: u16, ours: &str) {
    let port = port.to_string();
    let (program, script, name) = match client {
        InteropClient::Grpcio => ("python3", grpc_script("interop_client.py"), "grpcio"),
        InteropClient::GrpcJs => ("node", node_script("grpc_interop_client.js"), "grpc-js"),
    };
    let out = run(Command::new(program)
        .arg(script)
        .args(["--server_host", "127.0.0.1", "--server_port", &port])
        .args(["--test_case", case]));
    let text = out.stdout_text();
    assert!(
        out.status.success() && text.contains(&format!("PASS {case}")),
        "{case}, {name} client against {ours}: {text}{}",
        out.stderr
    );
}

/// The interop clients of other gRPC implementations.
#[derive(Debug, Clone, Copy)]
pub enum InteropClient {
    /// Python grpcio (`tests/peers/grpc/interop_client.py`).
    Grpcio,
    /// Node's @grpc/grpc-js (`tests/peers/node/grpc_interop_client.js`).
    GrpcJs,
}

/// Starts `cmd`, a server that prints `READY <port>` once serving and
/// serves until its stdin closes; returns the port and that stdin.
fn start_ready_server(mut cmd: Command, what: &str) -> (u16, std::process::ChildStdin) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(DEADLINE).unwrap_or_default();
    let port = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|p| p.parse().ok());
    let Some(port) = port else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not start: {line:?}");
    };
    thread::spawn(move || child.wait());
    (port, stdin)
}
