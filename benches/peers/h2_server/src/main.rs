//! A raw `h2` crate HTTP/2 server with prior knowledge (h2c), a baseline
//! peer of `scripts/bench-peers.sh`: a multi-thread tokio runtime (default
//! workers), `h2::server::handshake`, a task per connection and a task per
//! request, as in the h2 crate's examples.
//!
//! Routes: `/echo` streams the request body back, giving its credit back as
//! each chunk is sent on; `/bytes/N` answers N bytes of `x`; anything else a 26-byte text
//! body, the length of h2proto's `examples/h2_server.rs` answer to `GET /`.
//! Both answers carry the same headers as ours (content-type, content-length).

use bytes::Bytes;
use h2::server::{self, SendResponse};
use http::{Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};

/// Same length as `hello from h2proto: GET /\n`.
const HELLO: &[u8] = b"hello from h2-crate: GET/\n";
const _: () = assert!(HELLO.len() == 26);

async fn serve(stream: TcpStream) -> Result<(), h2::Error> {
    let mut conn = server::handshake(stream).await?;
    while let Some(req) = conn.accept().await {
        let (req, respond) = req?;
        tokio::spawn(async move {
            let _ = answer(req, respond).await;
        });
    }
    Ok(())
}

async fn echo(
    req: Request<h2::RecvStream>,
    mut respond: SendResponse<Bytes>,
) -> Result<(), h2::Error> {
    let mut response = Response::builder().header("content-type", "application/octet-stream");
    if let Some(len) = req.headers().get("content-length") {
        response = response.header("content-length", len.clone());
    }
    let mut send = respond.send_response(response.body(()).expect("valid response"), false)?;
    let mut body = req.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let n = chunk.len();
        // Wait for the peer's window before taking more: what waits here
        // stays bounded by one chunk.
        send.reserve_capacity(n);
        while send.capacity() < n {
            match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                Some(c) => {
                    c?;
                }
                None => return Ok(()),
            }
        }
        send.send_data(chunk, false)?;
        let _ = body.flow_control().release_capacity(n);
    }
    send.send_data(Bytes::new(), true)
}

async fn answer(
    req: Request<h2::RecvStream>,
    mut respond: SendResponse<Bytes>,
) -> Result<(), h2::Error> {
    if req.uri().path() == "/echo" {
        return echo(req, respond).await;
    }
    let (status, body, ctype) = match req.uri().path().strip_prefix("/bytes/") {
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n <= 64 << 20 => (
                StatusCode::OK,
                Bytes::from(vec![b'x'; n]),
                "application/octet-stream",
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                Bytes::from_static(b"bad N\n"),
                "text/plain",
            ),
        },
        None => (
            StatusCode::OK,
            Bytes::from_static(HELLO),
            "text/plain; charset=utf-8",
        ),
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", ctype)
        .header("content-length", body.len())
        .body(())
        .expect("valid response");
    let mut send = respond.send_response(response, false)?;
    send.send_data(body, true)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8082");
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(a)) => addr = a,
            _ => {
                eprintln!("usage: h2_server [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(&addr).await.unwrap_or_else(|e| {
        eprintln!("h2_server: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    eprintln!("h2_server: listening on http://{addr} (h2c, prior knowledge)");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = serve(stream).await;
        });
    }
}
