//! Test harness for code built on [`Connection`] (feature `testing`).
//!
//! [`Pair`] wires a client and a server together in memory with a virtual
//! clock: step it by hand, cut the byte stream into chunks of any size,
//! inject or tamper with bytes. [`ScriptedPeer`] puts one real `Connection`
//! in front of a peer that the test scripts frame by frame, to send exactly
//! what an RFC section (or an attacker) describes.
//!
//! ```
//! use std::time::Instant;
//! use h2proto::proto::{Config, Event};
//! use h2proto::testing::{Pair, Side, request, status};
//!
//! let mut pair = Pair::new(Config::client(), Config::server(), Instant::now());
//! let id = pair.client.send_request(request("GET", "/"), true).unwrap();
//! pair.run();
//! let request_seen = pair
//!     .events(Side::Server)
//!     .iter()
//!     .any(|e| matches!(e, Event::Headers { stream_id, end_stream: true, .. } if *stream_id == id));
//! assert!(request_seen);
//! pair.server.send_response(id, status(204), true).unwrap();
//! pair.run();
//! assert_eq!(pair.client.live_streams(), 0);
//! ```

mod peer;

use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::frame::{self, Decoder, Frame};
use crate::hpack::HeaderField;
use crate::proto::{Config, Connection, Event};

pub use peer::ScriptedPeer;

/// Which endpoint of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client.
    Client,
    /// The server.
    Server,
}

/// A client and a server `Connection` with the wire between them.
#[derive(Debug)]
pub struct Pair {
    /// The client endpoint.
    pub client: Connection,
    /// The server endpoint.
    pub server: Connection,
    /// The virtual clock; [`advance`](Pair::advance) moves it.
    pub now: Instant,
    /// Bytes written by the client, not yet read by the server.
    pub to_server: BytesMut,
    /// Bytes written by the server, not yet read by the client.
    pub to_client: BytesMut,
    /// Events the client produced, oldest first.
    pub client_events: Vec<Event>,
    /// Events the server produced, oldest first.
    pub server_events: Vec<Event>,
    /// Most bytes moved per direction per step (`usize::MAX`: everything).
    pub chunk: usize,
}

impl Pair {
    /// Two fresh endpoints; nothing exchanged yet.
    pub fn new(client: Config, server: Config, now: Instant) -> Self {
        Pair {
            client: Connection::new(client, now),
            server: Connection::new(server, now),
            now,
            to_server: BytesMut::new(),
            to_client: BytesMut::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            chunk: usize::MAX,
        }
    }

    /// Moves bytes once each way (at most [`chunk`](Pair::chunk) per
    /// direction) and collects events. Returns whether any byte moved.
    pub fn step(&mut self) -> bool {
        let now = self.now;
        let a = self
            .client
            .poll_transmit(&mut self.to_server, self.chunk, now);
        self.server.recv(&mut self.to_server, now);
        self.collect(Side::Server);
        let b = self
            .server
            .poll_transmit(&mut self.to_client, self.chunk, now);
        self.client.recv(&mut self.to_client, now);
        self.collect(Side::Client);
        a + b > 0
    }

    /// Steps until nothing moves.
    ///
    /// # Panics
    ///
    /// If the pair is still busy after 100,000 steps (a livelock in the code under test).
    pub fn run(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle in 100,000 steps");
    }

    /// Completes the preface and SETTINGS exchange and forgets its events.
    pub fn handshake(&mut self) {
        self.run();
        self.client_events.clear();
        self.server_events.clear();
    }

    /// Moves the virtual clock and runs both endpoints' due timers.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        self.client.handle_timeout(now);
        self.server.handle_timeout(now);
        self.collect(Side::Client);
        self.collect(Side::Server);
    }

    /// One endpoint.
    pub fn conn(&mut self, side: Side) -> &mut Connection {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    fn collect(&mut self, side: Side) {
        let (conn, events) = match side {
            Side::Client => (&mut self.client, &mut self.client_events),
            Side::Server => (&mut self.server, &mut self.server_events),
        };
        while let Some(e) = conn.poll_event() {
            events.push(e);
        }
    }

    /// Takes the events one endpoint produced so far.
    pub fn events(&mut self, side: Side) -> Vec<Event> {
        self.collect(side);
        match side {
            Side::Client => std::mem::take(&mut self.client_events),
            Side::Server => std::mem::take(&mut self.server_events),
        }
    }

    /// Appends raw bytes toward `to`, as if the other endpoint had sent them.
    pub fn inject(&mut self, to: Side, bytes: &[u8]) {
        match to {
            Side::Server => self.to_server.extend_from_slice(bytes),
            Side::Client => self.to_client.extend_from_slice(bytes),
        }
    }

    /// Delivers the bytes waiting toward `to` without letting either side
    /// transmit first (to order events precisely, e.g. a frame arriving
    /// before our SETTINGS went out).
    pub fn deliver(&mut self, to: Side) {
        let now = self.now;
        match to {
            Side::Server => self.server.recv(&mut self.to_server, now),
            Side::Client => self.client.recv(&mut self.to_client, now),
        }
        self.collect(to);
    }

    /// What `from` would put on the wire now, decoded; the bytes are taken,
    /// not delivered.
    pub fn sent_frames(&mut self, from: Side) -> Vec<Frame> {
        let now = self.now;
        let mut out = BytesMut::new();
        self.conn(from).poll_transmit(&mut out, usize::MAX, now);
        if out.starts_with(frame::PREFACE) {
            let _ = frame::strip_preface(&mut out);
        }
        decode_all(out)
    }
}

/// Decodes every whole frame in `bytes` (any frame size), stopping at the
/// first error or partial frame.
pub fn decode_all(mut bytes: BytesMut) -> Vec<Frame> {
    let mut d = Decoder::with_max_frame_size(frame::MAX_MAX_FRAME_SIZE);
    let mut frames = Vec::new();
    while let Ok(Some(f)) = d.decode(&mut bytes) {
        frames.push(f);
    }
    frames
}

/// A request header list: `:method`, `:scheme https`, `:authority example.com`, `:path`.
pub fn request(method: &str, path: &str) -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", method.to_owned()),
        HeaderField::new(":scheme", "https"),
        HeaderField::new(":authority", "example.com"),
        HeaderField::new(":path", path.to_owned()),
    ]
}

/// A response header list with only `:status`.
pub fn status(code: u16) -> Vec<HeaderField> {
    vec![HeaderField::new(":status", code.to_string())]
}
