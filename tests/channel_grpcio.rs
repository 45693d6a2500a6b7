//! The tokio `Channel` with round_robin over three Python `grpcio` interop
//! servers (`tests/peers/grpc/interop_server.py --server_id`): calls are
//! spread evenly by the `server_id` each response carries, and when one
//! server is killed its share moves to the others with no call failing.
//!
//! Without python3 + grpcio + grpcio-tools it prints
//! `SKIPPED: python grpcio not installed` and passes (with `CI=true`, fails).

#[path = "../examples/interop/messages.rs"]
mod messages;
mod peers;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use h2proto::channel::ConnectParams;
use h2proto::io::tokio::channel::{Channel, ChannelConfig};
use h2proto::io::tokio::grpc::CallOptions;
use messages::{SimpleRequest, SimpleResponse};
use prost::Message;

/// A grpcio server; killed when dropped.
struct Python {
    child: Child,
    port: u16,
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python(id: &str) -> Python {
    let script = format!(
        "{}/tests/peers/grpc/interop_server.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--port", "0", "--server_id", id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a grpcio server");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("READY line");
    let port = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the grpcio server did not start: {line:?}"));
    Python { child, port }
}

async fn who(ch: &Channel) -> Result<String, String> {
    let request = SimpleRequest {
        fill_server_id: true,
        ..SimpleRequest::default()
    };
    let options = CallOptions::new().timeout(Duration::from_secs(20));
    let path = "/grpc.testing.TestService/UnaryCall";
    let r = ch
        .unary(path, request.encode_to_vec().into(), options)
        .await
        .map_err(|e| e.to_string())?;
    let r = SimpleResponse::decode(r.message).map_err(|e| e.to_string())?;
    Ok(r.server_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_over_three_grpcio_servers() {
    if !peers::available(
        "python grpcio",
        &["python3", "-c", "import grpc, grpc_tools"],
    ) {
        return;
    }
    let mut servers: Vec<Python> = ["p1", "p2", "p3"].into_iter().map(python).collect();
    let list: Vec<String> = servers
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let mut config = ChannelConfig::round_robin();
    config.channel.connect = ConnectParams {
        initial_backoff: Duration::from_millis(100),
        ..ConnectParams::default()
    };
    let ch = Channel::new(&format!("ipv4:{}", list.join(",")), config).unwrap();
    ch.connect();
    for _ in 0..400 {
        if ch
            .subchannels()
            .iter()
            .all(|s| s.state == h2proto::channel::ConnectivityState::Ready)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..30 {
        *count.entry(who(&ch).await.unwrap()).or_default() += 1;
    }
    assert_eq!(
        count.into_iter().collect::<Vec<_>>(),
        [("p1".into(), 10), ("p2".into(), 10), ("p3".into(), 10)]
    );

    // p2 dies between calls: once the channel has seen its connection go
    // (a call in flight then would fail: it may have been processed),
    // nothing fails and p1 and p3 share the load.
    let p2 = format!("127.0.0.1:{}", servers[1].port);
    drop(servers.remove(1));
    for _ in 0..400 {
        let subs = ch.subchannels();
        if subs
            .iter()
            .any(|s| s.address.0 == p2 && s.state != h2proto::channel::ConnectivityState::Ready)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut after: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..30 {
        *after
            .entry(who(&ch).await.expect("no call fails"))
            .or_default() += 1;
    }
    assert_eq!(after.get("p2"), None, "{after:?}");
    assert_eq!(after.values().sum::<usize>(), 30);
    drop(ch);
}
