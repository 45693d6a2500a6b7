//! The send side: grpc-go's controlBuffer + loopyWriter, without goroutines.
//!
//! [`control::ControlQueue`] holds frames that go before any DATA;
//! [`loopy::Loopy`] owns each stream's send queue and send window and writes
//! control frames first, then DATA round-robin within flow control. The
//! connection (`proto`) decides *what* to send; this layer decides *when* and
//! in what order, and reports back what it wrote.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::frame::StreamId;

pub(crate) mod control;
pub(crate) mod loopy;
pub(crate) mod transmit;
pub(crate) mod window;

/// Why the writer refused to queue something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SendError {
    /// The writer holds no send state for that stream (never opened, ended or reset).
    #[error("no send state for this stream")]
    UnknownStream,
    /// END_STREAM or trailers were already queued.
    #[error("the stream's send side already ended")]
    AlreadyEnded,
}

/// A map keyed by stream id with a cheap hash. The peer picks its stream ids
/// (increasing, with any gaps), so the hash mixes every bit into the low
/// bits the table indexes by; and every such map is bounded (concurrent
/// streams, remembered closed streams), which caps what crafted collisions
/// could cost. Much cheaper than SipHash on the per-frame lookup path.
pub(crate) type IdMap<V> = IdKeyMap<StreamId, V>;

/// [`IdMap`]'s cheap hash for other id keys: a gRPC `CallId` (a stream id
/// underneath, bounded the same way), or ids we number ourselves.
pub(crate) type IdKeyMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// The hasher behind [`IdMap`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = mix(self.0 ^ u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = mix(self.0 ^ n);
    }
}

/// A bijective 64-bit finalizer (the one of MurmurHash3): every input bit
/// reaches every output bit.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}
