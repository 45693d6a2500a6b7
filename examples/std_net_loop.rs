//! `proto::Connection` driven by hand over a `std::net::TcpStream`: no
//! adapter, one thread per connection, the whole event loop in
//! [`serve_connection`]. A tiny h2c (prior knowledge) server that answers
//! GET and HEAD on any path.
//!
//! ```sh
//! cargo run --example std_net_loop -- --addr 127.0.0.1:8080
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! ```
//!
//! The loop follows the order `h2proto::proto`'s docs give: input verbs
//! (`recv`, `recv_eof`, `handle_timeout`), then `poll_event` and the
//! commands events call for, then `poll_transmit` (even when nothing seems
//! queued), then `poll_timeout` to know how long to wait.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2proto::proto::{Config, Connection, Event, HeaderField, HeaderList, StreamId};

const BODY: &[u8] = b"hello from h2proto, driven by a std::net loop\n";

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:8080".to_owned();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: std_net_loop [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind(&addr)?;
    println!("listening on http://{}", listener.local_addr()?);
    for socket in listener.incoming() {
        let socket = socket?;
        std::thread::spawn(move || {
            if let Err(e) = serve_connection(socket) {
                eprintln!("connection ended: {e}");
            }
        });
    }
    Ok(())
}

/// Serves one connection until it closes.
pub fn serve_connection(mut socket: TcpStream) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let mut conn = Connection::new(Config::server(), Instant::now());
    let mut server = Server::default();
    let mut input = BytesMut::new();
    let mut output = BytesMut::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let now = Instant::now();
        // Events, the commands they call for, and the bytes they produce,
        // until both are quiet: `poll_transmit` can itself produce events
        // (`Writable`, `Closed`), and is what opens waiting streams and
        // completes a close, so it is called even with nothing queued.
        loop {
            let mut busy = false;
            while let Some(event) = conn.poll_event() {
                server.on_event(&mut conn, event);
                busy = true;
            }
            output.clear();
            if conn.poll_transmit(&mut output, 64 * 1024, now) > 0 {
                socket.write_all(&output)?;
                busy = true;
            }
            if !busy {
                break;
            }
        }
        if conn.is_closed() {
            return Ok(());
        }
        // Wait for input, no longer than the next timer. The core asks for
        // input only while it is not owed too much by the peer; it always
        // is here, since everything it queued was just written.
        let timeout = conn.poll_timeout().map(|at| {
            at.saturating_duration_since(now)
                .max(Duration::from_millis(1))
        });
        socket.set_read_timeout(timeout)?;
        match socket.read(&mut chunk) {
            Ok(0) => conn.recv_eof(),
            Ok(n) => {
                input.extend_from_slice(&chunk[..n]);
                // Whole frames are taken; a partial one stays for next time.
                conn.recv(&mut input, Instant::now());
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if conn.poll_timeout().is_some_and(|at| at <= now) {
            conn.handle_timeout(now);
        }
    }
}

/// What the server remembers per stream: the request's method until the
/// request ends, then the body bytes `send_data` did not take yet.
#[derive(Default)]
struct Server {
    requests: HashMap<StreamId, String>,
    unsent: HashMap<StreamId, Bytes>,
}

impl Server {
    fn on_event(&mut self, conn: &mut Connection, event: Event) {
        match event {
            Event::Headers {
                stream_id,
                headers,
                end_stream,
            } => {
                let method = method_of(&headers);
                if end_stream {
                    self.respond(conn, stream_id, &method);
                } else {
                    self.requests.insert(stream_id, method);
                }
            }
            Event::Data {
                stream_id,
                data,
                end_stream,
            } => {
                // The body is not used: consumed at once, so its credit goes
                // back to the peer (and the stream can be freed once done).
                let _ = conn.release_capacity(stream_id, data.len());
                if end_stream && let Some(method) = self.requests.remove(&stream_id) {
                    self.respond(conn, stream_id, &method);
                }
            }
            Event::Trailers { stream_id, .. } => {
                if let Some(method) = self.requests.remove(&stream_id) {
                    self.respond(conn, stream_id, &method);
                }
            }
            Event::Writable { stream_id } => self.send_body(conn, stream_id),
            Event::Reset { stream_id, .. } => {
                self.requests.remove(&stream_id);
                self.unsent.remove(&stream_id);
            }
            Event::Closed { error: Some(e) } => eprintln!("connection error: {e}"),
            _ => {}
        }
    }

    fn respond(&mut self, conn: &mut Connection, id: StreamId, method: &str) {
        let (status, body) = match method {
            "GET" => ("200", BODY),
            "HEAD" => ("200", &b""[..]),
            _ => ("405", &b""[..]),
        };
        let mut fields = vec![HeaderField::new(":status", status)];
        if status == "200" {
            fields.push(HeaderField::new("content-type", "text/plain"));
            fields.push(HeaderField::copy_from(
                "content-length",
                BODY.len().to_string(),
            ));
        } else {
            fields.push(HeaderField::new("allow", "GET, HEAD"));
        }
        let end_stream = body.is_empty();
        if conn.send_response(id, fields, end_stream).is_ok() && !end_stream {
            self.unsent.insert(id, Bytes::from_static(body));
            self.send_body(conn, id);
        }
    }

    /// Offers the rest of a body; what is not taken waits for `Writable`.
    fn send_body(&mut self, conn: &mut Connection, id: StreamId) {
        let Some(mut body) = self.unsent.remove(&id) else {
            return;
        };
        match conn.send_data(id, body.clone(), true) {
            Ok(taken) if taken < body.len() => {
                let _ = body.split_to(taken);
                self.unsent.insert(id, body);
            }
            // All taken, or the stream is gone (reset meanwhile).
            _ => {}
        }
    }
}

fn method_of(headers: &HeaderList) -> String {
    String::from_utf8_lossy(headers.method().unwrap_or_default()).into_owned()
}
