//! Stream identifiers (RFC 9113 §5.1.1).

use core::fmt;

/// A 31-bit HTTP/2 stream identifier.
///
/// On the wire a stream identifier is preceded by one reserved bit (RFC 9113
/// §4.1), which "MUST remain unset (0x0) when sending and MUST be ignored when
/// receiving". [`StreamId::new`] masks it off, so a `StreamId` never has it set
/// and the encoder always writes it as zero.
///
/// Stream 0 identifies the connection as a whole; odd identifiers are opened
/// by clients and even ones by servers.
///
/// ```
/// use h2proto::frame::StreamId;
/// let id = StreamId::new(0x8000_0005); // the reserved bit is ignored
/// assert_eq!(id.value(), 5);
/// assert!(id.is_client_initiated());
/// assert!(StreamId::ZERO.is_zero());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(u32);

impl StreamId {
    /// The connection-level pseudo stream (identifier 0).
    pub const ZERO: StreamId = StreamId(0);

    /// The largest stream identifier, 2^31 - 1.
    pub const MAX: StreamId = StreamId(Self::MASK);

    /// The bits of a 32-bit word that carry the identifier (all but the reserved bit).
    pub(crate) const MASK: u32 = 0x7fff_ffff;

    /// Makes a stream identifier from a 32-bit word, ignoring the reserved high bit.
    pub const fn new(id: u32) -> StreamId {
        StreamId(id & Self::MASK)
    }

    /// The identifier as a number in `0..=2^31-1`.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// True for stream 0, the connection itself.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True for odd identifiers, which only clients open (RFC 9113 §5.1.1).
    pub const fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }

    /// True for non-zero even identifiers, which only servers open (RFC 9113 §5.1.1).
    pub const fn is_server_initiated(self) -> bool {
        self.0 != 0 && self.0.is_multiple_of(2)
    }
}

impl From<u32> for StreamId {
    /// Same as [`StreamId::new`]: the reserved bit is dropped.
    fn from(id: u32) -> StreamId {
        StreamId::new(id)
    }
}

impl From<StreamId> for u32 {
    fn from(id: StreamId) -> u32 {
        id.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_bit_is_masked() {
        assert_eq!(StreamId::new(u32::MAX), StreamId::MAX);
        assert_eq!(StreamId::from(0x8000_0000), StreamId::ZERO);
        assert_eq!(u32::from(StreamId::new(7)), 7);
    }

    #[test]
    fn initiator_by_parity() {
        assert!(!StreamId::ZERO.is_client_initiated());
        assert!(!StreamId::ZERO.is_server_initiated());
        assert!(StreamId::new(1).is_client_initiated());
        assert!(StreamId::new(2).is_server_initiated());
        assert_eq!(StreamId::new(42).to_string(), "42");
    }
}
