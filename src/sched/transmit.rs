//! Where `poll_transmit` writes: a plain `BytesMut`, into which every frame
//! is copied, or a [`Transmit`], which keeps large DATA payloads as the
//! application's own `Bytes` for a vectored write (no copy of the body).

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// DATA payload pieces at least this long go into a [`Transmit`] as their
/// own segment; shorter ones are cheaper to copy than to give a slot.
pub(crate) const ZERO_COPY_MIN: usize = 4096;

/// An output buffer for `poll_transmit`: `BytesMut` or [`Transmit`].
///
/// Sealed: the methods are the crate's own.
pub trait TransmitBuf: sealed::Sink {}

impl TransmitBuf for BytesMut {}
impl TransmitBuf for Transmit {}

pub(crate) mod sealed {
    use bytes::{Bytes, BytesMut};

    /// What the writer needs of an output buffer.
    pub trait Sink {
        /// Bytes held (a position: compared before and after a write).
        fn total(&self) -> usize;
        /// Where frame headers and small frames are encoded.
        fn scratch(&mut self) -> &mut BytesMut;
        /// Appends part of a DATA payload.
        fn put_payload(&mut self, payload: Bytes);
        /// Takes back whatever lies past `limit` (a `total` position), if
        /// the buffer keeps to its limit exactly.
        fn split_past(&mut self, limit: usize) -> Option<BytesMut>;
    }
}

impl sealed::Sink for BytesMut {
    fn total(&self) -> usize {
        self.len()
    }

    fn scratch(&mut self) -> &mut BytesMut {
        self
    }

    fn put_payload(&mut self, payload: Bytes) {
        self.extend_from_slice(&payload);
    }

    fn split_past(&mut self, limit: usize) -> Option<BytesMut> {
        (self.len() > limit).then(|| self.split_off(limit))
    }
}

/// Bytes to write as a list of segments: frame headers and small frames
/// copied into one buffer, large DATA payloads shared with the `Bytes` the
/// application queued. Fill it with `poll_transmit`, write it with
/// [`io_slices`](Transmit::io_slices) (`write_vectored`), then
/// [`advance`](Transmit::advance) by what was written.
///
/// Its `max` is a soft bound: a frame that starts before it is written whole
/// (no frame is split across calls), so a call may go past `max` by at most
/// one control frame or header block.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use h2proto::proto::{Config, Connection, Transmit};
/// use std::time::Instant;
///
/// let now = Instant::now();
/// let mut client = Connection::new(Config::client(), now);
/// let mut out = Transmit::new();
/// client.poll_transmit(&mut out, usize::MAX, now);
/// // The preface and SETTINGS, as one or more slices.
/// let mut slices = [std::io::IoSlice::new(&[]); 8];
/// let n = out.io_slices(&mut slices);
/// let written: usize = slices[..n].iter().map(|s| s.len()).sum();
/// assert_eq!(written, out.len());
/// out.advance(written);
/// assert!(out.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct Transmit {
    /// Complete segments, in order, before `scratch`.
    segments: VecDeque<Bytes>,
    /// Bytes in `segments`.
    segments_len: usize,
    /// The tail being appended to (encoders write into it directly).
    scratch: BytesMut,
}

impl Transmit {
    /// An empty buffer.
    pub fn new() -> Self {
        Transmit::default()
    }

    /// Bytes not yet written.
    pub fn len(&self) -> usize {
        self.segments_len + self.scratch.len()
    }

    /// Nothing left to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `dst` with slices of the bytes to write, in order; returns how
    /// many it filled (fewer than all segments if `dst` is short).
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let tail = (!self.scratch.is_empty()).then_some(&self.scratch[..]);
        let mut n = 0;
        for (slot, seg) in dst
            .iter_mut()
            .zip(self.segments.iter().map(|s| &s[..]).chain(tail))
        {
            *slot = IoSlice::new(seg);
            n += 1;
        }
        n
    }

    /// The segments, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        let tail = (!self.scratch.is_empty()).then_some(&self.scratch[..]);
        self.segments.iter().map(|s| &s[..]).chain(tail)
    }

    /// Drops the first `n` bytes (written).
    pub fn advance(&mut self, mut n: usize) {
        n = n.min(self.len());
        while n > 0 {
            let Some(front) = self.segments.front_mut() else {
                self.scratch.advance(n);
                return;
            };
            if front.len() <= n {
                n -= front.len();
                self.segments_len -= front.len();
                self.segments.pop_front();
            } else {
                front.advance(n);
                self.segments_len -= n;
                n = 0;
            }
        }
    }

    /// Bytes the scratch buffer can hold without reallocating.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // the tokio driver's
    pub(crate) fn capacity(&self) -> usize {
        self.scratch.capacity()
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.segments.clear();
        self.segments_len = 0;
        self.scratch.clear();
    }

    /// Appends everything to `dst` (copying): for tests and small writes.
    pub fn copy_to(&self, dst: &mut BytesMut) {
        for chunk in self.chunks() {
            dst.extend_from_slice(chunk);
        }
    }
}

impl sealed::Sink for Transmit {
    fn total(&self) -> usize {
        self.len()
    }

    fn scratch(&mut self) -> &mut BytesMut {
        &mut self.scratch
    }

    fn put_payload(&mut self, payload: Bytes) {
        if payload.len() >= ZERO_COPY_MIN {
            if !self.scratch.is_empty() {
                let head = self.scratch.split().freeze();
                self.segments_len += head.len();
                self.segments.push_back(head);
            }
            self.segments_len += payload.len();
            self.segments.push_back(payload);
        } else {
            self.scratch.extend_from_slice(&payload);
        }
    }

    fn split_past(&mut self, _limit: usize) -> Option<BytesMut> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::sealed::Sink;
    use super::*;

    #[test]
    fn large_payloads_are_shared_small_ones_copied() {
        let mut t = Transmit::new();
        t.scratch().extend_from_slice(b"head");
        let body = Bytes::from(vec![7u8; ZERO_COPY_MIN]);
        t.put_payload(body.clone());
        t.put_payload(Bytes::from_static(b"tiny"));
        assert_eq!(t.total(), 4 + ZERO_COPY_MIN + 4);
        let chunks: Vec<&[u8]> = t.chunks().collect();
        assert_eq!(chunks.len(), 3);
        // The same memory, not a copy.
        assert_eq!(chunks[1].as_ptr(), body.as_ptr());
        let mut flat = BytesMut::new();
        t.copy_to(&mut flat);
        assert_eq!(&flat[..4], b"head");
        assert_eq!(&flat[flat.len() - 4..], b"tiny");
    }

    #[test]
    fn advance_across_segments() {
        let mut t = Transmit::new();
        t.scratch().extend_from_slice(b"ab");
        t.put_payload(Bytes::from(vec![1u8; ZERO_COPY_MIN]));
        t.scratch().extend_from_slice(b"cd");
        assert_eq!(t.len(), ZERO_COPY_MIN + 4);
        t.advance(3);
        assert_eq!(t.len(), ZERO_COPY_MIN + 1);
        t.advance(ZERO_COPY_MIN);
        let rest: Vec<&[u8]> = t.chunks().collect();
        assert_eq!(rest, vec![&b"d"[..]]);
        t.advance(100);
        assert!(t.is_empty());
    }
}
