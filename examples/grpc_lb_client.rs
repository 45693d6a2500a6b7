//! A load-balancing gRPC client: `grpc.testing.TestService/UnaryCall` with
//! `fill_server_id` over a channel to several backends, counting which
//! server answered.
//!
//! ```sh
//! for p in 50051 50052 50053; do
//!   cargo run --example grpc_interop_server -- --port $p --server_id s$p &
//! done
//! cargo run --example grpc_lb_client -- \
//!   --target ipv4:127.0.0.1:50051,127.0.0.1:50052,127.0.0.1:50053 \
//!   --lb round_robin --calls 300 --interval_ms 20 --print_states
//! ```
//!
//! Flags (grpc interop style, `--flag value` or `--flag=value`):
//! `--target` (`ipv4:a:p,b:p`, `ipv6:...`, `dns:///host:port`, `host:port`),
//! `--lb pick_first|round_robin`, `--calls N`, `--interval_ms M`,
//! `--wait_for_ready`, `--print_states`, `--timeout_ms T` (per call,
//! default 5000). The last line printed is
//! `lb-client: N calls, K ok, F failed; by server: ID=COUNT ...`.

#[path = "interop/messages.rs"]
mod messages;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use h2proto::channel::ConnectParams;
use h2proto::io::tokio::channel::{Channel, ChannelConfig};
use h2proto::io::tokio::grpc::CallOptions;
use messages::{SimpleRequest, SimpleResponse};
use prost::Message;

struct Flags {
    target: String,
    lb: String,
    calls: usize,
    interval: Duration,
    wait_for_ready: bool,
    print_states: bool,
    timeout: Duration,
    initial_backoff: Option<Duration>,
}

fn flags() -> Flags {
    let mut f = Flags {
        target: "localhost:10000".to_owned(),
        lb: "pick_first".to_owned(),
        calls: 10,
        interval: Duration::from_millis(100),
        wait_for_ready: false,
        print_states: false,
        timeout: Duration::from_secs(5),
        initial_backoff: None,
    };
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let boolean = matches!(name.as_str(), "--wait_for_ready" | "--print_states");
        let value = match inline {
            Some(v) => v,
            None if boolean => match args.peek().map(String::as_str) {
                Some("true") | Some("false") => args.next().unwrap_or_default(),
                _ => "true".to_owned(),
            },
            None => args.next().unwrap_or_default(),
        };
        let ms = |v: &str| v.parse().map(Duration::from_millis).ok();
        match name.as_str() {
            "--target" => f.target = value,
            "--lb" => f.lb = value,
            "--calls" => f.calls = value.parse().unwrap_or(f.calls),
            "--interval_ms" => f.interval = ms(&value).unwrap_or(f.interval),
            "--timeout_ms" => f.timeout = ms(&value).unwrap_or(f.timeout),
            "--initial_backoff_ms" => f.initial_backoff = ms(&value),
            "--wait_for_ready" => f.wait_for_ready = value == "true",
            "--print_states" => f.print_states = value == "true",
            other => eprintln!("ignoring flag {other}"),
        }
    }
    f
}

fn main() {
    let f = flags();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(run(f));
}

async fn run(f: Flags) {
    let mut config = ChannelConfig::default();
    config.lb_policy = f.lb.clone();
    if let Some(b) = f.initial_backoff {
        config.channel.connect = ConnectParams {
            initial_backoff: b,
            ..ConnectParams::default()
        };
    }
    let channel = match Channel::new(&f.target, config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lb-client: {e}");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    if f.print_states {
        let mut rx = channel.watch_state();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let s = *rx.borrow_and_update();
                println!("[{:>7.3}s] channel {s}", start.elapsed().as_secs_f64());
            }
        });
    }
    let request = SimpleRequest {
        fill_server_id: true,
        ..SimpleRequest::default()
    }
    .encode_to_vec();
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut by_server: BTreeMap<String, usize> = BTreeMap::new();
    let mut last_subs = String::new();
    for i in 0..f.calls {
        if i > 0 {
            tokio::time::sleep(f.interval).await;
        }
        let options = CallOptions::new()
            .timeout(f.timeout)
            .wait_for_ready(f.wait_for_ready);
        let path = "/grpc.testing.TestService/UnaryCall";
        match channel.unary(path, request.clone().into(), options).await {
            Ok(r) => {
                ok += 1;
                let id = SimpleResponse::decode(r.message)
                    .map(|m| m.server_id)
                    .unwrap_or_else(|_| "<undecodable>".to_owned());
                *by_server.entry(id).or_default() += 1;
            }
            Err(e) => {
                failed += 1;
                let s = e.to_status();
                eprintln!(
                    "[{:>7.3}s] call {i} failed: {s}",
                    start.elapsed().as_secs_f64()
                );
            }
        }
        if f.print_states {
            let subs: Vec<String> = channel
                .subchannels()
                .iter()
                .map(|s| format!("{}={}", s.address, s.state))
                .collect();
            let subs = subs.join(" ");
            if subs != last_subs {
                println!(
                    "[{:>7.3}s] subchannels {subs}",
                    start.elapsed().as_secs_f64()
                );
                last_subs = subs;
            }
        }
    }
    let counts: Vec<String> = by_server.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "lb-client: {} calls, {ok} ok, {failed} failed; by server: {}",
        f.calls,
        counts.join(" ")
    );
    channel.shutdown();
}
