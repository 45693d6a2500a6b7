//! A scripted peer: writes exactly the frames a test wants at a real
//! `Connection` and decodes what comes back.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::frame::{self, Frame, GoAway, Reason, RstStream, Settings, StreamId};
use crate::hpack::{self, HeaderField};
use crate::proto::{Config, Connection, Event, Role};

/// One real [`Connection`] and a peer the test scripts frame by frame.
///
/// ```
/// use std::time::Instant;
/// use h2proto::frame::Reason;
/// use h2proto::proto::Config;
/// use h2proto::testing::{ScriptedPeer, request};
///
/// // Play a client that sends DATA on a stream it never opened.
/// let mut peer = ScriptedPeer::server(Config::server(), Instant::now());
/// peer.data(5, b"x", false);
/// assert_eq!(peer.goaway().map(|g| g.error_code), Some(Reason::PROTOCOL_ERROR));
/// # let _ = request;
/// ```
#[derive(Debug)]
pub struct ScriptedPeer {
    /// The connection under test.
    pub conn: Connection,
    /// The virtual clock.
    pub now: Instant,
    /// Events the connection produced, oldest first.
    pub events: Vec<Event>,
    encoder: hpack::Encoder,
    inbox: BytesMut,
}

impl ScriptedPeer {
    /// A real server; the test plays the client (preface and SETTINGS sent).
    pub fn server(config: Config, now: Instant) -> Self {
        let mut raw = Self::new(config, now);
        raw.send_bytes(frame::PREFACE);
        raw.send(empty_settings());
        raw.handshake();
        raw
    }

    /// A real client; the test plays the server (SETTINGS sent).
    pub fn client(config: Config, now: Instant) -> Self {
        let mut raw = Self::new(config, now);
        raw.send(empty_settings());
        raw.handshake();
        raw
    }

    /// A connection with nothing sent to it yet: the test sends the preface itself.
    pub fn new(config: Config, now: Instant) -> Self {
        ScriptedPeer {
            conn: Connection::new(config, now),
            now,
            events: Vec::new(),
            encoder: hpack::Encoder::new(4096),
            inbox: BytesMut::new(),
        }
    }

    /// Reads the connection's SETTINGS and acknowledges them.
    fn handshake(&mut self) {
        self.read();
        self.send(Settings::ack());
        self.read();
        self.events.clear();
    }

    /// The role of the connection under test.
    pub fn role(&self) -> Role {
        self.conn.role()
    }

    /// Delivers raw bytes to the connection and collects its events.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.inbox.extend_from_slice(bytes);
        self.conn.recv(&mut self.inbox, self.now);
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }

    /// Encodes and delivers one frame (any size up to 2^24-1). A frame the
    /// encoder refuses (one the RFC forbids outright, such as DATA on stream
    /// 0) is not sent: write such bytes by hand with
    /// [`send_bytes`](ScriptedPeer::send_bytes).
    pub fn send(&mut self, frame: impl Into<Frame>) {
        let mut out = BytesMut::new();
        if frame
            .into()
            .encode(&mut out, frame::MAX_MAX_FRAME_SIZE)
            .is_ok()
        {
            self.send_bytes(&out);
        }
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

    /// Sends a DATA frame.
    pub fn data(&mut self, id: u32, data: &'static [u8], end_stream: bool) {
        self.send(frame::Data::new(StreamId::new(id), data, end_stream));
    }

    /// Sends RST_STREAM.
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

    /// Takes the events collected so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Moves the virtual clock and runs the connection's due timers.
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

fn empty_settings() -> Settings {
    // An empty SETTINGS frame always builds.
    Settings::builder()
        .build()
        .unwrap_or_else(|_| Settings::ack())
}
