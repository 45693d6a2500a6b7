//! A realistic HTTP/2 exchange, encoded with `h2proto::frame` and decoded back
//! from both directions in random-sized chunks, as a socket would deliver it.
//!
//! Run: `cargo run --example frames`
//!
//! The field blocks are literal HPACK bytes (the static-table request of
//! RFC 7541 §C.4.1, and a small response); this example only shows framing.

use bytes::{Bytes, BytesMut};
use h2proto::frame::{
    Data, Decoder, Frame, GoAway, Headers, PREFACE, Ping, Reason, RstStream, Settings, StreamId,
    WindowUpdate, strip_preface,
};

/// Peer SETTINGS_MAX_FRAME_SIZE both sides use (the RFC default).
const MAX_FRAME_SIZE: u32 = 16_384;

#[derive(Clone, Copy, PartialEq)]
enum Dir {
    ClientToServer,
    ServerToClient,
}

impl Dir {
    fn arrow(self) -> &'static str {
        match self {
            Dir::ClientToServer => "client → server",
            Dir::ServerToClient => "server → client",
        }
    }
}

/// xorshift64: a tiny deterministic PRNG, so every run chunks the same way.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn exchange() -> Result<Vec<(Dir, Frame)>, Box<dyn std::error::Error>> {
    use Dir::{ClientToServer as C, ServerToClient as S};
    let (s1, s3, s5) = (StreamId::new(1), StreamId::new(3), StreamId::new(5));
    // :method GET, :scheme http, :path /, :authority www.example.com (Huffman).
    let get = Bytes::from_static(&[
        0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90,
        0xf4, 0xff,
    ]);
    // :status 200, content-type: text/html (indexed name, literal value).
    let ok = Bytes::from_static(b"\x88\x5f\x09text/html");
    // A request with a 20 KiB cookie: larger than one frame, so the encoder
    // splits it into HEADERS + CONTINUATION.
    let mut big = vec![0x82, 0x87, 0x84, 0x60, 0x7f]; // ...cookie: literal, then length
    big.extend_from_slice(&[0xe1, 0x9f, 0x01]); // 20_000 - 127 as an HPACK integer
    big.extend(std::iter::repeat_n(b'c', 20_000));
    let body =
        Bytes::from_static(b"<!doctype html><title>h2proto</title><p>Hello over HTTP/2.</p>\n");

    Ok(vec![
        (
            C,
            Settings::builder()
                .enable_push(false)
                .max_concurrent_streams(100)
                .initial_window_size(1 << 20)
                .build()?
                .into(),
        ),
        (
            C,
            WindowUpdate::new(StreamId::ZERO, (1 << 24) - 65_535).into(),
        ),
        (C, Headers::new(s1, get, true, true).into()),
        (
            S,
            Settings::builder()
                .max_concurrent_streams(128)
                .max_frame_size(MAX_FRAME_SIZE)
                .build()?
                .into(),
        ),
        (S, Settings::ack().into()),
        (C, Settings::ack().into()),
        (S, Headers::new(s1, ok, false, true).into()),
        (
            S,
            Data {
                pad_length: Some(8),
                ..Data::new(s1, body.clone(), false)
            }
            .into(),
        ),
        (S, Data::new(s1, body, true).into()),
        (C, WindowUpdate::new(s1, 256).into()),
        (C, Ping::new(*b"rtt-0001").into()),
        (S, Ping::ack(*b"rtt-0001").into()),
        (C, Headers::new(s3, Bytes::from(big), true, true).into()),
        (C, RstStream::new(s3, Reason::CANCEL).into()),
        (
            C,
            Headers::new(s5, Bytes::from_static(b"\x82\x86\x84\xbe"), true, true).into(),
        ),
        (S, RstStream::new(s5, Reason::REFUSED_STREAM).into()),
        (
            S,
            GoAway {
                additional_debug_data: Bytes::from_static(b"shutting down"),
                ..GoAway::new(s3, Reason::NO_ERROR)
            }
            .into(),
        ),
    ])
}

/// One direction of the connection: the octets still to deliver, and the
/// receiver's buffer and decoder.
struct Side {
    dir: Dir,
    wire: Bytes,
    sent: usize,
    rx: BytesMut,
    decoder: Decoder,
    preface_pending: bool,
    /// Chunks delivered since the last complete frame.
    chunks: usize,
    reencoded: BytesMut,
}

impl Side {
    fn new(dir: Dir, wire: BytesMut) -> Side {
        Side {
            dir,
            wire: wire.freeze(),
            sent: 0,
            rx: BytesMut::new(),
            decoder: Decoder::new(),
            preface_pending: dir == Dir::ClientToServer,
            chunks: 0,
            reencoded: BytesMut::new(),
        }
    }

    fn done(&self) -> bool {
        self.sent == self.wire.len()
    }

    /// Delivers up to `n` more octets and decodes every complete frame.
    fn deliver(&mut self, n: usize) -> Result<(), Box<dyn std::error::Error>> {
        let end = (self.sent + n).min(self.wire.len());
        self.rx.extend_from_slice(&self.wire[self.sent..end]);
        self.sent = end;
        self.chunks += 1;
        if self.preface_pending {
            if !strip_preface(&mut self.rx)? {
                return Ok(());
            }
            self.preface_pending = false;
            self.reencoded.extend_from_slice(PREFACE);
            self.print(&format!(
                "connection preface {:?}",
                String::from_utf8_lossy(PREFACE)
            ));
        }
        while let Some(frame) = self.decoder.decode(&mut self.rx)? {
            self.print(&frame.to_string());
            frame.encode(&mut self.reencoded, MAX_FRAME_SIZE)?;
        }
        Ok(())
    }

    fn print(&mut self, what: &str) {
        let chunks = match std::mem::take(&mut self.chunks) {
            0 => "same chunk".to_string(),
            1 => "1 chunk".to_string(),
            n => format!("{n} chunks"),
        };
        println!("{}  [{chunks:>10}]  {what}", self.dir.arrow());
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frames = exchange()?;
    let mut c2s = BytesMut::from(&PREFACE[..]);
    let mut s2c = BytesMut::new();
    for (dir, frame) in &frames {
        let wire = if *dir == Dir::ClientToServer {
            &mut c2s
        } else {
            &mut s2c
        };
        frame.encode(wire, MAX_FRAME_SIZE)?;
    }
    println!(
        "encoded {} frames: {} octets client → server, {} octets server → client\n",
        frames.len(),
        c2s.len(),
        s2c.len()
    );

    let mut sides = [
        Side::new(Dir::ClientToServer, c2s),
        Side::new(Dir::ServerToClient, s2c),
    ];
    let mut rng = XorShift(0x0123_4567_89ab_cdef);
    let mut chunks = 0;
    while !sides.iter().all(Side::done) {
        // Pick a direction with octets left; deliver mostly small chunks
        // (1..=40 octets), now and then a large one (up to 4 KiB).
        let pick = rng.below(2) as usize;
        let i = if sides[pick].done() { 1 - pick } else { pick };
        let largest = if rng.below(8) == 0 { 4096 } else { 40 };
        let n = 1 + rng.below(largest) as usize;
        sides[i].deliver(n)?;
        chunks += 1;
    }

    for side in &sides {
        assert!(side.rx.is_empty(), "no partial frame left over");
        assert_eq!(
            side.reencoded, side.wire,
            "re-encoding reproduces the wire bytes"
        );
    }
    println!(
        "\ndecoded both directions from {chunks} random-sized chunks; re-encoding matched the wire exactly"
    );
    Ok(())
}
