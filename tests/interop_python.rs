//! The python `h2` package (PyPI) over loopback: its client against our
//! blocking server, our blocking client against its server. The peer scripts
//! are in `tests/peers/`.

mod peers;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use h2proto::io::blocking::Client;
use peers::{Background, available, run, start_server, temp_file};

mod http_support;
#[allow(unused_imports)]
use http_support::{header, header_map, request, response, trailer, with_header, with_trailers};

fn python_h2() -> bool {
    available("python h2", &["python3", "-c", "import h2"])
}

fn script(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// GET, POST 1 MiB to /echo and 20 concurrent GETs on one connection.
#[test]
fn python_client_against_our_server() {
    if !python_h2() {
        return;
    }
    let server = start_server();
    let port = server.local_addr().port().to_string();
    let out = run(Command::new("python3")
        .arg(script("h2_client.py"))
        .arg(port));
    let text = out.stdout_text();
    assert!(out.status.success(), "python client: {text}{}", out.stderr);
    assert!(
        text.starts_with("OK 22 streams, echo 1048576 bytes"),
        "{text}"
    );
    server.shutdown();
}

#[test]
fn our_client_against_python_server() {
    if !python_h2() {
        return;
    }
    let mut child = Command::new("python3")
        .arg(script("h2_server.py"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python server");
    let stdout = child.stdout.take().expect("piped stdout");
    let _guard = Background(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("python server did not print its port in 10 s");
    let port: u16 = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));

    let client = Arc::new(Client::connect(("127.0.0.1", port)).expect("connect"));
    let res = client.get("/").expect("GET /");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(&res.body()[..], b"hello from python h2\n");
    assert_eq!(header(&res, "server"), Some(&b"python-h2"[..]));

    let (file, data) = temp_file(1 << 20);
    let _ = std::fs::remove_file(file);
    let res = client
        .send(request("POST", "/echo", data.clone()))
        .expect("POST /echo");
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        *res.body() == data,
        "echo differs: {} bytes back",
        res.body().len()
    );
    assert_eq!(trailer(&res, "x-echo-len"), Some(&b"1048576"[..]));

    let threads: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            thread::spawn(move || {
                let res = client.get("/bytes/100000").expect("GET /bytes/100000");
                assert_eq!(res.status().as_u16(), 200);
                assert_eq!(res.body().len(), 100_000);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("request thread");
    }
}
