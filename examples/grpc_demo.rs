//! A tour of h2proto's gRPC: a server on loopback and a client running a
//! unary, a server-streaming, a client-streaming and a bidi call against it,
//! then a call that runs past its deadline and one that is cancelled.
//!
//! ```sh
//! cargo run --example grpc_demo
//! ```
//!
//! Messages are plain UTF-8 here: gRPC carries bytes, and protobuf (see the
//! interop examples) is the application's business.

use std::time::{Duration, Instant};

use bytes::Bytes;
use h2proto::grpc::{CallOptions, Code, Metadata, Status};
use h2proto::io::blocking::grpc::{Client, Error, Server, ServerCall};

/// A status as `CODE "message"`.
fn name(status: &Status) -> String {
    let code = status.code().name().unwrap_or("UNKNOWN CODE");
    match status.message() {
        "" => code.to_owned(),
        m => format!("{code} {m:?}"),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The demo service, `/demo.Demo/*`.
fn handle(mut call: ServerCall) {
    let path = call.path().to_owned();
    let ok = |call: ServerCall| {
        let _ = call.finish(Status::ok(), Metadata::new());
    };
    match path.as_str() {
        // Unary: the request, shouted back.
        "/demo.Demo/Shout" => {
            if let Ok(Some((m, _))) = call.recv() {
                let _ = call.send(text(&m).to_uppercase().into());
                ok(call);
            }
        }
        // Server streaming: N messages for a request "N".
        "/demo.Demo/Count" => {
            if let Ok(Some((m, _))) = call.recv() {
                let n: u32 = text(&m).parse().unwrap_or(0);
                for i in 1..=n.min(100) {
                    if call.send(format!("{i}").into()).is_err() {
                        return;
                    }
                }
                ok(call);
            }
        }
        // Client streaming: one summary once the client half-closes.
        "/demo.Demo/Sum" => {
            let (mut count, mut bytes) = (0, 0);
            while let Ok(Some((m, _))) = call.recv() {
                count += 1;
                bytes += m.len();
            }
            let _ = call.send(format!("{count} messages, {bytes} bytes").into());
            ok(call);
        }
        // Bidi: every message echoed as it comes.
        "/demo.Demo/Chat" => loop {
            match call.recv() {
                Ok(Some((m, _))) => {
                    let _ = call.send(format!("echo: {}", text(&m)).into());
                }
                Ok(None) => return ok(call),
                Err(Error::Ended(status)) => {
                    println!("  [server] Chat ended by the client: {}", name(&status));
                    return;
                }
                Err(e) => {
                    println!("  [server] Chat: {e}");
                    return;
                }
            }
        },
        // Sleeps past any short deadline.
        "/demo.Demo/Slow" => {
            let waited = call.wait_cancelled(Duration::from_secs(5));
            println!("  [server] Slow: the call was over before we answered: {waited}");
        }
        _ => {
            let _ = call.unimplemented();
        }
    }
}

fn options() -> CallOptions {
    CallOptions::new().timeout(Duration::from_secs(5))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::bind("127.0.0.1:0")?.spawn(handle)?;
    println!("gRPC server on {}", server.local_addr());
    let client = Client::connect(server.local_addr())?;

    println!("\nunary /demo.Demo/Shout \"hello\"");
    let mut call = client.call("/demo.Demo/Shout", Metadata::new(), options())?;
    call.send(Bytes::from_static(b"hello"))?;
    call.close_send()?;
    while let Some(m) = call.recv()? {
        println!("  <- {}", text(&m));
    }
    println!("  status {}", name(&call.status()?));

    println!("\nserver streaming /demo.Demo/Count \"3\"");
    let mut call = client.call("/demo.Demo/Count", Metadata::new(), options())?;
    call.send(Bytes::from_static(b"3"))?;
    call.close_send()?;
    while let Some(m) = call.recv()? {
        println!("  <- {}", text(&m));
    }
    println!("  status {}", name(&call.status()?));

    println!("\nclient streaming /demo.Demo/Sum");
    let mut call = client.call("/demo.Demo/Sum", Metadata::new(), options())?;
    for word in ["one", "two", "three"] {
        println!("  -> {word}");
        call.send(Bytes::from(word))?;
    }
    call.close_send()?;
    while let Some(m) = call.recv()? {
        println!("  <- {}", text(&m));
    }
    println!("  status {}", name(&call.status()?));

    println!("\nbidi /demo.Demo/Chat");
    let mut call = client.call("/demo.Demo/Chat", Metadata::new(), options())?;
    for word in ["ping", "pong"] {
        println!("  -> {word}");
        call.send(Bytes::from(word))?;
        if let Some(m) = call.recv()? {
            println!("  <- {}", text(&m));
        }
    }
    call.close_send()?;
    println!("  status {}", name(&call.status()?));

    println!("\ndeadline: /demo.Demo/Slow with a 200 ms timeout");
    let started = Instant::now();
    let timeout = CallOptions::new().timeout(Duration::from_millis(200));
    let mut call = client.call("/demo.Demo/Slow", Metadata::new(), timeout)?;
    call.close_send()?;
    let status = call.status()?;
    let ms = started.elapsed().as_millis();
    println!("  status {} after {ms} ms", name(&status));
    assert_eq!(status.code(), Code::DEADLINE_EXCEEDED);

    println!("\ncancellation: /demo.Demo/Chat cancelled after one reply");
    let mut call = client.call("/demo.Demo/Chat", Metadata::new(), options())?;
    call.send(Bytes::from_static(b"bye"))?;
    if let Some(m) = call.recv()? {
        println!("  <- {}", text(&m));
    }
    call.cancel();
    let status = call.status()?;
    println!("  status {}", name(&status));
    assert_eq!(status.code(), Code::CANCELLED);

    // Let the server print how its side of the calls ended.
    std::thread::sleep(Duration::from_millis(100));
    client.shutdown();
    server.shutdown();
    println!("\ndone");
    Ok(())
}
