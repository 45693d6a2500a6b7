//! The in-memory pair: a client and a server `Connection` wired together,
//! a virtual clock, stepping by hand, and hooks to tamper with the bytes.
#![allow(dead_code)]

pub mod raw;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use h2proto::frame::{Decoder, Frame};
use h2proto::hpack::HeaderField;
use h2proto::proto::{Config, Connection, Event};

/// Which endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// A client and a server with the wire between them.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub now: Instant,
    /// Bytes written by the client, not yet read by the server.
    pub to_server: BytesMut,
    /// Bytes written by the server, not yet read by the client.
    pub to_client: BytesMut,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Largest chunk moved per direction per step.
    pub chunk: usize,
}

impl Pair {
    pub fn new() -> Self {
        Self::with_configs(Config::client(), Config::server())
    }

    pub fn with_configs(client: Config, server: Config) -> Self {
        let now = Instant::now();
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

    /// Moves bytes once each way and collects events. Returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let now = self.now;
        let a = self
            .client
            .poll_transmit(&mut self.to_server, self.chunk, now);
        self.server.recv(&mut self.to_server, now);
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
        let b = self
            .server
            .poll_transmit(&mut self.to_client, self.chunk, now);
        self.client.recv(&mut self.to_client, now);
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        a + b > 0
    }

    /// Steps until nothing moves (bounded).
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle in 10,000 steps");
    }

    /// Completes the preface and SETTINGS exchange and clears the events.
    pub fn handshake(&mut self) {
        self.run();
        self.client_events.clear();
        self.server_events.clear();
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        self.client.handle_timeout(now);
        self.server.handle_timeout(now);
    }

    pub fn conn(&mut self, side: Side) -> &mut Connection {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    pub fn events(&mut self, side: Side) -> Vec<Event> {
        while let Some(e) = self.conn(side).poll_event() {
            match side {
                Side::Client => self.client_events.push(e),
                Side::Server => self.server_events.push(e),
            }
        }
        match side {
            Side::Client => std::mem::take(&mut self.client_events),
            Side::Server => std::mem::take(&mut self.server_events),
        }
    }

    /// Writes raw bytes toward a side, as if the other peer had sent them.
    pub fn inject(&mut self, to: Side, bytes: &[u8]) {
        match to {
            Side::Server => self.to_server.extend_from_slice(bytes),
            Side::Client => self.to_client.extend_from_slice(bytes),
        }
    }

    /// Delivers injected bytes to a side without letting it transmit first.
    pub fn deliver(&mut self, to: Side) {
        let now = self.now;
        match to {
            Side::Server => {
                self.server.recv(&mut self.to_server, now);
                while let Some(e) = self.server.poll_event() {
                    self.server_events.push(e);
                }
            }
            Side::Client => {
                self.client.recv(&mut self.to_client, now);
                while let Some(e) = self.client.poll_event() {
                    self.client_events.push(e);
                }
            }
        }
    }

    /// What a side would put on the wire now, decoded (and not delivered).
    pub fn sent_frames(&mut self, from: Side) -> Vec<Frame> {
        let now = self.now;
        let mut out = BytesMut::new();
        self.conn(from).poll_transmit(&mut out, usize::MAX, now);
        if from == Side::Client && out.starts_with(h2proto::frame::PREFACE) {
            let _ = h2proto::frame::strip_preface(&mut out);
        }
        decode_all(out)
    }
}

pub fn decode_all(mut bytes: BytesMut) -> Vec<Frame> {
    let mut d = Decoder::with_max_frame_size(16 * 1024 * 1024 - 1);
    let mut frames = Vec::new();
    while let Ok(Some(f)) = d.decode(&mut bytes) {
        frames.push(f);
    }
    frames
}

pub fn get(path: &str) -> Vec<HeaderField> {
    request("GET", path)
}

pub fn request(method: &str, path: &str) -> Vec<HeaderField> {
    vec![
        HeaderField::new(":method", method.to_owned()),
        HeaderField::new(":scheme", "https"),
        HeaderField::new(":authority", "example.com"),
        HeaderField::new(":path", path.to_owned()),
    ]
}

pub fn status(code: u16) -> Vec<HeaderField> {
    vec![HeaderField::new(":status", code.to_string())]
}
