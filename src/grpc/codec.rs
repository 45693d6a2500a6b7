//! Length-prefixed messages: a 1-byte compressed flag, a 4-byte big-endian
//! length, then the message. The [`Deframer`] reassembles them across any
//! DATA frame boundaries and refuses a message over the size limit as soon
//! as its prefix arrives (before buffering it). Compression ([`Encoding`]):
//! identity always, gzip with the `gzip` feature; decompression is capped
//! at the same limit.
//!
//! ```
//! use bytes::Bytes;
//! use h2proto::grpc::codec::{Deframer, frame_message};
//!
//! let wire = frame_message(false, &Bytes::from_static(b"hello"));
//! let mut d = Deframer::new(1024);
//! d.push(&wire[..3]); // any chunking
//! assert!(d.next_message()?.is_none());
//! d.push(&wire[3..]);
//! let m = d.next_message()?.unwrap();
//! assert_eq!((m.compressed, &m.data[..]), (false, &b"hello"[..]));
//! d.finish()?; // nothing left over
//! # Ok::<(), h2proto::grpc::codec::DecodeError>(())
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::status::{Code, Status};

/// Bytes before each message: flag + length.
pub const PREFIX_LEN: usize = 5;
/// grpc's default max receive message size: 4 MiB.
pub const DEFAULT_MAX_RECV_MESSAGE_SIZE: usize = 4 << 20;
/// grpc-go's default max send message size: `i32::MAX`.
pub const DEFAULT_MAX_SEND_MESSAGE_SIZE: usize = i32::MAX as usize;

/// Frames one message: prefix then payload, in one buffer.
pub fn frame_message(compressed: bool, message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(PREFIX_LEN + message.len());
    out.put_u8(u8::from(compressed));
    // Callers check the send limit, which is below u32::MAX.
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(message);
    out.freeze()
}

/// A message as it came off the wire (still compressed if the flag says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The compressed flag.
    pub compressed: bool,
    /// The payload.
    pub data: Bytes,
}

/// A malformed or refused message stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The flag byte was neither 0 nor 1.
    #[error("invalid compressed flag {0}")]
    BadFlag(u8),
    /// A message longer than the receive limit.
    #[error("received message larger than max ({len} vs. {max})")]
    TooLarge {
        /// Its announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream ended inside a message.
    #[error("stream ended with {0} bytes of an incomplete message")]
    Truncated(usize),
}

impl DecodeError {
    /// The status a call ends with: RESOURCE_EXHAUSTED for an oversize
    /// message, INTERNAL otherwise.
    pub fn to_status(&self) -> Status {
        let code = match self {
            DecodeError::TooLarge { .. } => Code::RESOURCE_EXHAUSTED,
            _ => Code::INTERNAL,
        };
        Status::new(code, format!("grpc: {self}"))
    }
}

/// Messages at least this long that arrive within one pushed chunk are
/// handed out as slices of it (no copy); shorter ones are copied, so that a
/// small message kept by the application does not pin the larger buffer it
/// was read into.
pub const ZERO_COPY_MIN: usize = 4 * 1024;

/// A message spanning chunks up to this long gets its buffer at its exact
/// size when its first bytes arrive; a longer one only once more than this
/// has come (before, its buffer grows with what arrived).
const GATHER_AT_ONCE: usize = 64 * 1024;

/// Reassembles length-prefixed messages from DATA chunks.
///
/// A message contained in one chunk given to [`push_bytes`](Self::push_bytes)
/// is a slice of that chunk (from [`ZERO_COPY_MIN`] bytes up); a message that
/// spans chunks is gathered into a buffer of exactly its length, allocated
/// when its first bytes arrive (up to 64 KiB) or once more than 64 KiB of it
/// has come (larger ones: their first 64 KiB are copied a few times more).
/// Nothing else is copied or kept.
#[derive(Debug, Clone)]
pub struct Deframer {
    max: usize,
    /// Received bytes not looked at yet.
    pending: Bytes,
    /// The prefix being read, possibly across chunks.
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    /// The prefix of the message being gathered, once read.
    head: Option<(bool, usize)>,
    /// The body of a message that spans chunks.
    body: BytesMut,
    failed: bool,
}

impl Deframer {
    /// A deframer refusing messages over `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> Deframer {
        Deframer {
            max: max_message_size,
            pending: Bytes::new(),
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
            head: None,
            body: BytesMut::new(),
            failed: false,
        }
    }

    /// Appends received bytes (copied; see [`push_bytes`](Self::push_bytes)).
    pub fn push(&mut self, data: &[u8]) {
        self.push_bytes(Bytes::copy_from_slice(data));
    }

    /// Appends received bytes without copying them: messages wholly inside
    /// `data` are slices of it.
    pub fn push_bytes(&mut self, data: Bytes) {
        if self.failed || data.is_empty() {
            return;
        }
        if self.pending.is_empty() {
            self.pending = data;
        } else {
            // Pushed twice without taking the messages: join them.
            let mut joined = BytesMut::with_capacity(self.pending.len() + data.len());
            joined.extend_from_slice(&self.pending);
            joined.extend_from_slice(&data);
            self.pending = joined.freeze();
        }
    }

    /// The wire size (prefix included) of the message being read, once
    /// its prefix has arrived.
    pub fn expected(&self) -> Option<usize> {
        self.head.map(|(_, len)| PREFIX_LEN + len)
    }

    /// Bytes held (a partial message, or whole ones not yet taken).
    pub fn buffered(&self) -> usize {
        self.pending.len() + self.prefix_len + self.body.len() + self.head.map_or(0, |_| PREFIX_LEN)
    }

    /// The next whole message, `None` until one is complete. After an error
    /// the deframer stays failed and holds nothing.
    pub fn next_message(&mut self) -> Result<Option<RawMessage>, DecodeError> {
        let result = self.take_message();
        if self.pending.is_empty() {
            // An empty slice still keeps the buffer it was read into alive
            // (often a whole socket read): a stream parked with part of a
            // message must hold only that part.
            self.pending = Bytes::new();
        }
        result
    }

    fn take_message(&mut self) -> Result<Option<RawMessage>, DecodeError> {
        if self.failed {
            return Ok(None);
        }
        let (compressed, len) = match self.head {
            Some(h) => h,
            None => {
                let n = (PREFIX_LEN - self.prefix_len).min(self.pending.len());
                self.prefix[self.prefix_len..self.prefix_len + n]
                    .copy_from_slice(&self.pending[..n]);
                self.pending.advance(n);
                self.prefix_len += n;
                if self.prefix_len < PREFIX_LEN {
                    return Ok(None);
                }
                self.prefix_len = 0;
                let flag = self.prefix[0];
                let len = u32::from_be_bytes([
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ]) as usize;
                let compressed = match flag {
                    0 => false,
                    1 => true,
                    f => return Err(self.fail(DecodeError::BadFlag(f))),
                };
                if len > self.max {
                    return Err(self.fail(DecodeError::TooLarge { len, max: self.max }));
                }
                self.head = Some((compressed, len));
                (compressed, len)
            }
        };
        if self.body.is_empty() && self.pending.len() >= len {
            // Wholly inside one chunk.
            self.head = None;
            let data = if len >= ZERO_COPY_MIN {
                self.pending.split_to(len)
            } else {
                let d = Bytes::copy_from_slice(&self.pending[..len]);
                self.pending.advance(len);
                d
            };
            return Ok(Some(RawMessage { compressed, data }));
        }
        let n = (len - self.body.len()).min(self.pending.len());
        let need = self.body.len() + n;
        if need > self.body.capacity() {
            // A small message: once, at its exact size. A large one grows
            // with what arrived up to GATHER_AT_ONCE (a stream that parks a
            // few KiB of a 4 MiB message must not cost 4 MiB), then takes
            // its exact size: no slack, and past that size no regrowth.
            let cap = if len <= GATHER_AT_ONCE || need > GATHER_AT_ONCE {
                len
            } else {
                need.max(2 * self.body.capacity()).min(GATHER_AT_ONCE)
            };
            let mut body = BytesMut::with_capacity(cap);
            body.extend_from_slice(&self.body);
            self.body = body;
        }
        self.body.extend_from_slice(&self.pending[..n]);
        self.pending.advance(n);
        if self.body.len() < len {
            return Ok(None);
        }
        self.head = None;
        let data = std::mem::take(&mut self.body).freeze();
        Ok(Some(RawMessage { compressed, data }))
    }

    /// The stream ended: an error if part of a message is left.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buffered() {
            0 => Ok(()),
            n if !self.failed => Err(DecodeError::Truncated(n)),
            _ => Ok(()),
        }
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.failed = true;
        self.pending = Bytes::new();
        self.body = BytesMut::new();
        self.prefix_len = 0;
        self.head = None;
        e
    }
}

/// A message encoding (`grpc-encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Encoding {
    /// No compression.
    #[default]
    Identity,
    /// gzip (RFC 1952); supported with the `gzip` feature.
    Gzip,
}

impl Encoding {
    /// The `grpc-encoding` token.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
        }
    }

    /// The encoding named `name`, if this build supports it.
    pub fn parse(name: &[u8]) -> Option<Encoding> {
        match name {
            b"identity" => Some(Encoding::Identity),
            b"gzip" if cfg!(feature = "gzip") => Some(Encoding::Gzip),
            _ => None,
        }
    }

    /// What this build accepts, for `grpc-accept-encoding`.
    pub fn accept_header() -> &'static str {
        if cfg!(feature = "gzip") {
            "gzip,identity"
        } else {
            "identity"
        }
    }

    /// Compresses a message.
    pub fn compress(self, message: &[u8]) -> Result<Bytes, Status> {
        match self {
            Encoding::Identity => Ok(Bytes::copy_from_slice(message)),
            Encoding::Gzip => gzip::compress(message),
        }
    }

    /// Decompresses a message, refusing one that inflates past `max` bytes
    /// (RESOURCE_EXHAUSTED) or is corrupt (INTERNAL).
    pub fn decompress(self, message: &[u8], max: usize) -> Result<Bytes, Status> {
        match self {
            Encoding::Identity => Ok(Bytes::copy_from_slice(message)),
            Encoding::Gzip => gzip::decompress(message, max),
        }
    }
}

#[cfg(feature = "gzip")]
mod gzip {
    use std::io::{Read, Write};

    use bytes::Bytes;
    use flate2::{Compression, read::GzDecoder, write::GzEncoder};

    use crate::grpc::status::{Code, Status};

    pub(super) fn compress(message: &[u8]) -> Result<Bytes, Status> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(message)
            .and_then(|()| e.finish())
            .map(Bytes::from)
            .map_err(|err| Status::new(Code::INTERNAL, format!("gzip: {err}")))
    }

    pub(super) fn decompress(message: &[u8], max: usize) -> Result<Bytes, Status> {
        let mut out = Vec::new();
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        GzDecoder::new(message)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|err| Status::new(Code::INTERNAL, format!("gzip: {err}")))?;
        if out.len() > max {
            return Err(Status::new(
                Code::RESOURCE_EXHAUSTED,
                format!("grpc: decompressed message larger than max ({max})"),
            ));
        }
        Ok(Bytes::from(out))
    }
}

#[cfg(not(feature = "gzip"))]
mod gzip {
    use bytes::Bytes;

    use crate::grpc::status::{Code, Status};

    fn unsupported() -> Status {
        Status::new(
            Code::UNIMPLEMENTED,
            "gzip support not built (feature `gzip`)",
        )
    }

    pub(super) fn compress(_: &[u8]) -> Result<Bytes, Status> {
        Err(unsupported())
    }

    pub(super) fn decompress(_: &[u8], _: usize) -> Result<Bytes, Status> {
        Err(unsupported())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_flag_and_oversize() {
        let mut d = Deframer::new(4);
        d.push(&[2, 0, 0, 0, 0]);
        assert_eq!(d.next_message(), Err(DecodeError::BadFlag(2)));
        assert_eq!(d.finish(), Ok(()));
        let mut d = Deframer::new(4);
        d.push(&[0, 0, 0, 0, 5]);
        assert!(matches!(
            d.next_message(),
            Err(DecodeError::TooLarge { len: 5, max: 4 })
        ));
    }

    /// A stream that parks the first 16 KiB of a 1 MiB message costs
    /// 16 KiB, not 1 MiB; the rest is gathered at the exact size.
    #[test]
    fn a_large_message_takes_its_full_buffer_only_once_more_than_64_kib_came() {
        let len = 1 << 20;
        let wire = frame_message(false, &vec![9u8; len]);
        let mut d = Deframer::new(len);
        // The prefix alone, then the parked bytes in two pieces.
        for (from, to) in [(0, 5), (5, 8 * 1024), (8 * 1024, 16 * 1024)] {
            d.push_bytes(wire.slice(from..to));
            assert_eq!(d.next_message(), Ok(None));
            assert!(d.body.capacity() <= 16 * 1024, "{}", d.body.capacity());
        }
        assert_eq!(d.expected(), Some(PREFIX_LEN + len));
        d.push_bytes(wire.slice(16 * 1024..80 * 1024));
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(d.body.capacity(), len);
        d.push_bytes(wire.slice(80 * 1024..));
        let m = d.next_message().unwrap().unwrap();
        assert_eq!(m.data, wire.slice(PREFIX_LEN..));
        assert_eq!((d.buffered(), d.expected()), (0, None));
    }

    /// The chunk a partial message came in is let go once its bytes are
    /// gathered (the message's own buffer holds them).
    #[test]
    fn a_gathered_chunk_is_not_kept() {
        struct Flag(std::sync::Arc<std::sync::atomic::AtomicBool>, Vec<u8>);
        impl AsRef<[u8]> for Flag {
            fn as_ref(&self) -> &[u8] {
                &self.1
            }
        }
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let wire = frame_message(false, &[3u8; 100]);
        let first = Bytes::from_owner(Flag(dropped.clone(), wire[..50].to_vec()));
        let mut d = Deframer::new(1000);
        d.push_bytes(first);
        assert_eq!(d.next_message(), Ok(None));
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
        d.push_bytes(wire.slice(50..));
        assert_eq!(d.next_message().unwrap().unwrap().data.len(), 100);
    }

    #[test]
    fn truncated() {
        let mut d = Deframer::new(10);
        d.push(&[0, 0, 0, 0, 3, 1]);
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(d.finish(), Err(DecodeError::Truncated(6)));
    }

    #[test]
    fn a_message_inside_one_chunk_is_a_slice_of_it_and_one_across_chunks_is_gathered_once() {
        let big = vec![9u8; ZERO_COPY_MIN];
        let wire = frame_message(false, &big);
        let mut d = Deframer::new(1 << 20);
        d.push_bytes(wire.clone());
        let m = d.next_message().unwrap().unwrap();
        assert_eq!(m.data.as_ptr(), wire[PREFIX_LEN..].as_ptr(), "not copied");
        let mut d = Deframer::new(1 << 20);
        d.push_bytes(wire.slice(..100));
        assert!(d.next_message().unwrap().is_none());
        assert_eq!(d.buffered(), 100);
        d.push_bytes(wire.slice(100..));
        let m = d.next_message().unwrap().unwrap();
        assert_eq!(&m.data[..], &big[..]);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn empty_message() {
        let mut d = Deframer::new(0);
        d.push(&frame_message(false, b""));
        assert_eq!(d.next_message().unwrap().unwrap().data.len(), 0);
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_round_trip_and_cap() {
        let big = vec![7u8; 10_000];
        let z = Encoding::Gzip.compress(&big).unwrap();
        assert!(z.len() < 200);
        assert_eq!(
            &Encoding::Gzip.decompress(&z, 10_000).unwrap()[..],
            &big[..]
        );
        let e = Encoding::Gzip.decompress(&z, 9_999).unwrap_err();
        assert_eq!(e.code(), Code::RESOURCE_EXHAUSTED);
        let e = Encoding::Gzip.decompress(b"not gzip", 100).unwrap_err();
        assert_eq!(e.code(), Code::INTERNAL);
    }
}
