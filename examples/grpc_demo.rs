//! A tour of h2proto's gRPC: a server on loopback and a client running a
//! unary, a server-streaming, a client-streaming and a bidi call against it,
//! then a call that runs past its deadline and one that is cancelled.
//!
//! ```sh
//! cargo run --example grpc_demo [-- --runtime tokio|blocking]
//! ```
//!
//! `tokio` (the default) uses `io::tokio::grpc` (routed async handlers);
//! `blocking` the same tour on `io::blocking::grpc` (handlers on a thread pool).
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
    let mut args = std::env::args().skip(1);
    let runtime = match (args.next().as_deref(), args.next()) {
        (None, _) => "tokio".to_owned(),
        (Some("--runtime"), Some(r)) if r == "tokio" || r == "blocking" => r,
        _ => {
            eprintln!("usage: grpc_demo [--runtime tokio|blocking]");
            std::process::exit(2);
        }
    };
    if runtime == "tokio" {
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(tokio_demo::run());
    }
    let server = Server::bind("127.0.0.1:0")?.spawn(handle)?;
    println!("gRPC server on {} (blocking adapter)", server.local_addr());
    let client = Client::connect(server.local_addr())?;

    println!("\nunary /demo.Demo/Shout \"hello\"");
    let mut call = client.call("/demo.Demo/Shout", options())?;
    call.send(Bytes::from_static(b"hello"))?;
    call.close_send()?;
    while let Some(m) = call.recv()? {
        println!("  <- {}", text(&m));
    }
    println!("  status {}", name(&call.status()?));

    println!("\nserver streaming /demo.Demo/Count \"3\"");
    let mut call = client.call("/demo.Demo/Count", options())?;
    call.send(Bytes::from_static(b"3"))?;
    call.close_send()?;
    while let Some(m) = call.recv()? {
        println!("  <- {}", text(&m));
    }
    println!("  status {}", name(&call.status()?));

    println!("\nclient streaming /demo.Demo/Sum");
    let mut call = client.call("/demo.Demo/Sum", options())?;
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
    let mut call = client.call("/demo.Demo/Chat", options())?;
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
    let mut call = client.call("/demo.Demo/Slow", timeout)?;
    call.close_send()?;
    let status = call.status()?;
    let ms = started.elapsed().as_millis();
    println!("  status {} after {ms} ms", name(&status));
    assert_eq!(status.code(), Code::DEADLINE_EXCEEDED);

    println!("\ncancellation: /demo.Demo/Chat cancelled after one reply");
    let mut call = client.call("/demo.Demo/Chat", options())?;
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

/// The same tour on the tokio adapter: the service as typed, routed
/// handlers, the calls as futures.
mod tokio_demo {
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use h2proto::grpc::{Code, Status};
    use h2proto::io::tokio::grpc::{CallOptions, Client, Server};

    use super::{name, text};

    fn options() -> CallOptions {
        CallOptions::new().timeout(Duration::from_secs(5))
    }

    pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
        let server = Server::builder()
            // Unary: the request, shouted back.
            .unary("/demo.Demo/Shout", |_ctx, m: Bytes| async move {
                Ok(text(&m).to_uppercase().into())
            })
            // Server streaming: N messages for a request "N".
            .server_streaming("/demo.Demo/Count", |_ctx, m, mut out| async move {
                let n: u32 = text(&m).parse().unwrap_or(0);
                for i in 1..=n.min(100) {
                    out.send(format!("{i}").into())
                        .await
                        .map_err(|e| e.to_status())?;
                }
                Ok(())
            })
            // Client streaming: one summary once the client half-closes.
            .client_streaming("/demo.Demo/Sum", |_ctx, mut reqs| async move {
                let (mut count, mut bytes) = (0, 0);
                while let Some(m) = reqs.recv().await.map_err(|e| e.to_status())? {
                    count += 1;
                    bytes += m.len();
                }
                Ok(format!("{count} messages, {bytes} bytes").into())
            })
            // Bidi: every message echoed as it comes.
            .bidi_streaming("/demo.Demo/Chat", |_ctx, mut reqs, mut out| async move {
                loop {
                    match reqs.recv().await {
                        Ok(Some(m)) => {
                            let reply = format!("echo: {}", text(&m));
                            out.send(reply.into()).await.map_err(|e| e.to_status())?;
                        }
                        Ok(None) => return Ok(()),
                        Err(e) => {
                            let status = e.to_status();
                            println!("  [server] Chat ended by the client: {}", name(&status));
                            return Err(status);
                        }
                    }
                }
            })
            // Slower than any short deadline: waits for the cancellation.
            .unary("/demo.Demo/Slow", |ctx, _m| async move {
                let status = ctx.cancelled().await;
                println!(
                    "  [server] Slow: the call was over before we answered: {}",
                    name(&status)
                );
                Err::<Bytes, Status>(status)
            })
            .bind("127.0.0.1:0")
            .await?;
        println!("gRPC server on {} (tokio adapter)", server.local_addr());
        let client = Client::connect(server.local_addr()).await?;

        println!("\nunary /demo.Demo/Shout \"hello\"");
        let r = client
            .unary("/demo.Demo/Shout", Bytes::from_static(b"hello"), options())
            .await?;
        println!("  <- {}", text(&r.message));

        println!("\nserver streaming /demo.Demo/Count \"3\"");
        let mut stream = client
            .server_streaming("/demo.Demo/Count", Bytes::from_static(b"3"), options())
            .await?;
        while let Some(m) = stream.recv().await? {
            println!("  <- {}", text(&m));
        }
        println!("  status {}", name(&stream.status().await));

        println!("\nclient streaming /demo.Demo/Sum");
        let mut call = client.client_streaming("/demo.Demo/Sum", options()).await?;
        for word in ["one", "two", "three"] {
            println!("  -> {word}");
            call.send(Bytes::from(word)).await?;
        }
        println!("  <- {}", text(&call.response().await?.message));

        println!("\nbidi /demo.Demo/Chat");
        let (mut tx, mut rx) = client.bidi_streaming("/demo.Demo/Chat", options()).await?;
        for word in ["ping", "pong"] {
            println!("  -> {word}");
            tx.send(Bytes::from(word)).await?;
            if let Some(m) = rx.recv().await? {
                println!("  <- {}", text(&m));
            }
        }
        tx.close_send()?;
        println!("  status {}", name(&rx.status().await));

        println!("\ndeadline: /demo.Demo/Slow with a 200 ms timeout");
        let started = Instant::now();
        let timeout = CallOptions::new().timeout(Duration::from_millis(200));
        let status = match client.unary("/demo.Demo/Slow", Bytes::new(), timeout).await {
            Ok(_) => Status::ok(),
            Err(e) => e.to_status(),
        };
        let ms = started.elapsed().as_millis();
        println!("  status {} after {ms} ms", name(&status));
        assert_eq!(status.code(), Code::DEADLINE_EXCEEDED);

        println!("\ncancellation: /demo.Demo/Chat cancelled after one reply");
        let mut call = client.call("/demo.Demo/Chat", options())?;
        call.send(Bytes::from_static(b"bye")).await?;
        if let Some(m) = call.recv().await? {
            println!("  <- {}", text(&m));
        }
        call.cancel();
        let status = call.status().await;
        println!("  status {}", name(&status));
        assert_eq!(status.code(), Code::CANCELLED);

        // Let the server print how its side of the calls ended.
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.shutdown().await;
        server.shutdown().await;
        println!("\ndone");
        Ok(())
    }
}
