//! A scripted peer: writes exactly the frames a test wants at a real
//! `Connection` and decodes what comes back.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use h2proto::frame::{self, Frame, GoAway, Reason, RstStream, Settings, StreamId};
use h2proto::hpack::{self, HeaderField};
use h2proto::proto::{Config, Connection, Event, Role};

pub struct Raw {
    pub conn: Connection,
    pub now: Instant,
    pub events: Vec<Event>,
    encoder: hpack::Encoder,
    inbox: BytesMut,
}

impl Raw {
    /// A real server; the test plays the client (preface and SETTINGS sent).
    pub fn server(config: Config) -> Self {
        let mut raw = Self::new(config);
        raw.send_bytes(frame::PREFACE);
        raw.send(Settings::builder().build().unwrap());
        raw.handshake();
        raw
    }

    /// A real client; the test plays the server (SETTINGS sent).
    pub fn client(config: Config) -> Self {
        let mut raw = Self::new(config);
        raw.send(Settings::builder().build().unwrap());
        raw.handshake();
        raw
    }

    /// A connection with nothing sent to it yet.
    pub fn new(config: Config) -> Self {
        let now = Instant::now();
        Raw {
            conn: Connection::new(config, now),
            now,
            events: Vec::new(),
            encoder: hpack::Encoder::new(4096),
            inbox: BytesMut::new(),
        }
    }

    /// Reads the connection's SETTINGS and acknowledges them.
    fn handshake(&mut self) {
        let frames = self.read();
        assert!(
            frames
                .iter()
                .any(|f| matches!(f, Frame::Settings(s) if !s.is_ack()))
        );
        self.send(Settings::ack());
        self.read();
        self.events.clear();
    }

    pub fn role(&self) -> Role {
        self.conn.role()
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.inbox.extend_from_slice(bytes);
        self.conn.recv(&mut self.inbox, self.now);
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }

    pub fn send(&mut self, frame: impl Into<Frame>) {
        let mut out = BytesMut::new();
        frame
            .into()
            .encode(&mut out, 16_777_215)
            .expect("test frame encodes");
        self.send_bytes(&out);
    }

    /// HPACK-encodes `fields` and sends them as one HEADERS frame.
    pub fn headers(&mut self, id: u32, fields: &[HeaderField], end_stream: bool) {
        let block = self.block(fields);
        self.send(frame::Headers::new(
            StreamId::new(id),
            block,
            end_stream,
            true,
        ));
    }

    /// HPACK-encodes a header block (keeping this peer's encoder in sync).
    pub fn block(&mut self, fields: &[HeaderField]) -> bytes::Bytes {
        let mut block = BytesMut::new();
        self.encoder.encode(fields, &mut block);
        block.freeze()
    }

    pub fn data(&mut self, id: u32, data: &'static [u8], end_stream: bool) {
        self.send(frame::Data::new(StreamId::new(id), data, end_stream));
    }

    pub fn rst(&mut self, id: u32, reason: Reason) {
        self.send(RstStream::new(StreamId::new(id), reason));
    }

    /// Everything the connection wants to send now, decoded.
    pub fn read(&mut self) -> Vec<Frame> {
        let mut out = BytesMut::new();
        self.conn.poll_transmit(&mut out, usize::MAX, self.now);
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
        if out.starts_with(frame::PREFACE) {
            let _ = frame::strip_preface(&mut out);
        }
        super::decode_all(out)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.conn.handle_timeout(self.now);
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }

    /// The GOAWAY the connection sends now, if any.
    pub fn goaway(&mut self) -> Option<GoAway> {
        self.read().into_iter().find_map(|f| match f {
            Frame::GoAway(g) => Some(g),
            _ => None,
        })
    }

    /// The RST_STREAMs the connection sends now, as (stream, code).
    pub fn resets(&mut self) -> Vec<(u32, Reason)> {
        self.read()
            .into_iter()
            .filter_map(|f| match f {
                Frame::RstStream(r) => Some((r.stream_id.value(), r.error_code)),
                _ => None,
            })
            .collect()
    }
}
