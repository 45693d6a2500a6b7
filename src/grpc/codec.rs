//! Length-prefixed messages: a 1-byte compressed flag, a 4-byte big-endian
//! length, then the message. The [`Deframer`] reassembles them across any
//! DATA frame boundaries and refuses a message over the size limit as soon
//! as its prefix arrives (before buffering it); a large one is gathered in
//! a memory mapping of its own (see [`OWN_MAPPING_MIN`]). Compression ([`Encoding`]):
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
use memmap2::{MmapMut, MmapOptions};

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

/// A message at least this long that spans chunks is gathered in an
/// anonymous memory mapping of its own (once more than 64 KiB of it has
/// come), not on the heap: when the message is dropped its memory goes back
/// to the system at once, whatever the allocator would do with it.
///
/// Why: 128 KiB is glibc's default mmap threshold. malloc serves a buffer
/// that large with a mapping, and freeing it raises the threshold to its
/// size (up to 32 MiB) and the trim threshold to twice that; from then on
/// message-sized buffers come from the per-thread arenas, which keep up to
/// the trim threshold of freed memory resident, and more where a live
/// allocation sits above it. One 1 MiB message was enough for a server to
/// keep ~2 MiB resident after a client that parked 50 uploads had left.
/// Where mapping fails (a platform without `mmap`, the process's mapping
/// limit), the message is gathered on the heap as before.
pub const OWN_MAPPING_MIN: usize = 128 * 1024;

/// The body of a message that spans chunks, while it is gathered.
#[derive(Debug, Default)]
enum Body {
    /// On the heap: small messages, and the first 64 KiB of large ones.
    Heap(BytesMut),
    /// A large message's own mapping (its exact size), filled up to `len`.
    Mapped { map: MmapMut, len: usize },
    /// Nothing gathered.
    #[default]
    Empty,
}

impl Clone for Body {
    fn clone(&self) -> Body {
        match self {
            Body::Heap(b) => Body::Heap(b.clone()),
            // A copy on the heap (cloning a deframer mid-message is rare).
            Body::Mapped { map, len } => {
                let mut b = BytesMut::with_capacity(map.len());
                b.extend_from_slice(&map[..*len]);
                Body::Heap(b)
            }
            Body::Empty => Body::Empty,
        }
    }
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Heap(b) => b.len(),
            Body::Mapped { len, .. } => *len,
            Body::Empty => 0,
        }
    }

    fn capacity(&self) -> usize {
        match self {
            Body::Heap(b) => b.capacity(),
            Body::Mapped { map, .. } => map.len(),
            Body::Empty => 0,
        }
    }

    fn gathered(&self) -> &[u8] {
        match self {
            Body::Heap(b) => b,
            Body::Mapped { map, len } => &map[..*len],
            Body::Empty => &[],
        }
    }

    /// Room for `need` bytes of a message of `len`: a small message's
    /// buffer at its exact size at once; a large one's grows with what
    /// arrived up to [`GATHER_AT_ONCE`] (a stream that parks a few KiB of a
    /// 4 MiB message must not cost 4 MiB), then takes its exact size, in a
    /// mapping of its own from [`OWN_MAPPING_MIN`] up: no slack, and past
    /// that size no regrowth.
    fn make_room(&mut self, len: usize, need: usize) {
        if need <= self.capacity() {
            return;
        }
        let exact = len <= GATHER_AT_ONCE || need > GATHER_AT_ONCE;
        if exact
            && len >= OWN_MAPPING_MIN
            && let Ok(mut map) = MmapOptions::new().len(len).map_anon()
        {
            let have = self.len();
            map[..have].copy_from_slice(self.gathered());
            *self = Body::Mapped { map, len: have };
            return;
        }
        let cap = if exact {
            len
        } else {
            need.max(2 * self.capacity()).min(GATHER_AT_ONCE)
        };
        let mut body = BytesMut::with_capacity(cap);
        body.extend_from_slice(self.gathered());
        *self = Body::Heap(body);
    }

    /// Appends bytes [`make_room`](Self::make_room) made room for.
    fn extend(&mut self, data: &[u8]) {
        match self {
            Body::Heap(b) => b.extend_from_slice(data),
            Body::Mapped { map, len } => {
                // make_room sized the mapping to the whole message.
                if let Some(dst) = map.get_mut(*len..*len + data.len()) {
                    dst.copy_from_slice(data);
                    *len += data.len();
                }
            }
            Body::Empty if data.is_empty() => {}
            Body::Empty => *self = Body::Heap(BytesMut::from(data)),
        }
    }

    /// The gathered bytes as a message; the body is empty afterwards.
    fn take(&mut self) -> Bytes {
        match std::mem::take(self) {
            Body::Heap(b) => b.freeze(),
            // Unmapped when the last reference to the message is dropped.
            Body::Mapped { map, len } if len == map.len() => Bytes::from_owner(map),
            Body::Mapped { map, len } => Bytes::from_owner(map).slice(..len),
            Body::Empty => Bytes::new(),
        }
    }
}

/// Reassembles length-prefixed messages from DATA chunks.
///
/// A message contained in one chunk given to [`push_bytes`](Self::push_bytes)
/// is a slice of that chunk (from [`ZERO_COPY_MIN`] bytes up); a message that
/// spans chunks is gathered into a buffer of exactly its length, allocated
/// when its first bytes arrive (up to 64 KiB) or once more than 64 KiB of it
/// has come (larger ones: their first 64 KiB are copied a few times more;
/// from [`OWN_MAPPING_MIN`] up, a mapping of its own rather than the heap).
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
    body: Body,
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
            body: Body::Empty,
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
        if self.body.len() == 0 && self.pending.len() >= len {
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
        self.body.make_room(len, self.body.len() + n);
        self.body.extend(&self.pending[..n]);
        self.pending.advance(n);
        if self.body.len() < len {
            return Ok(None);
        }
        self.head = None;
        let data = self.body.take();
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
        self.body = Body::Empty;
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
        assert!(
            matches!(d.body, Body::Mapped { .. }),
            "not in its own mapping"
        );
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

    /// From OWN_MAPPING_MIN up a message is gathered in its own mapping
    /// (the heap never holds a buffer its size) and comes out whole,
    /// whatever the chunking; below, on the heap; a clone mid-message
    /// carries on with a heap copy.
    #[test]
    fn a_large_message_is_gathered_in_its_own_mapping() {
        for len in [
            OWN_MAPPING_MIN - 1,
            OWN_MAPPING_MIN,
            3 * OWN_MAPPING_MIN + 7,
        ] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let wire = frame_message(false, &payload);
            let mut d = Deframer::new(1 << 20);
            let mut copy = None;
            for (i, chunk) in wire.chunks(16_384 + 9).enumerate() {
                d.push(chunk);
                if let Some(m) = d.next_message().unwrap() {
                    assert_eq!(&m.data[..], &payload[..]);
                    assert!(matches!(d.body, Body::Empty));
                    continue;
                }
                let mapped = matches!(d.body, Body::Mapped { .. });
                assert_eq!(
                    mapped,
                    len >= OWN_MAPPING_MIN && d.body.len() > GATHER_AT_ONCE,
                    "len {len}, {} gathered",
                    d.body.len()
                );
                if i == 6 {
                    copy = Some(d.clone());
                }
            }
            let mut copy = copy.unwrap();
            copy.push(&wire[7 * (16_384 + 9)..]);
            assert_eq!(
                &copy.next_message().unwrap().unwrap().data[..],
                &payload[..]
            );
            assert_eq!((d.buffered(), copy.buffered()), (0, 0));
        }
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
