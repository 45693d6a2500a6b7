//! The last few literals a peer sent without indexing them.
//!
//! RFC 7541 §7.1.3 lets an encoder keep a value out of the dynamic table,
//! and nghttp2 (so curl, nghttp and h2load) never indexes `:path` or
//! `content-length`: a client calling one method sends the same Huffman
//! string on every request. Remembering the last few such strings, keyed by
//! their bytes on the wire, spares decoding them and checking their bytes
//! again. Only fields whose name is a static table entry are remembered (a
//! dynamic index names different entries over time), never a never-indexed
//! one (§6.2.3: a value the peer asked us not to keep), and only short
//! strings. Each remembered value is a copy of its own, so it never holds a
//! received buffer or the decoder's Huffman chunk alive: the memory is at
//! most `SLOTS × (MAX_WIRE + decoded length)` bytes per connection.

use bytes::Bytes;

/// How many literals are remembered.
const SLOTS: usize = 4;

/// Longest string representation (after its length prefix) remembered.
pub(super) const MAX_WIRE: usize = 128;

/// Remembered literals, replaced in turn.
#[derive(Debug, Default)]
pub(super) struct LiteralMemo {
    slots: [Slot; SLOTS],
    next: usize,
}

#[derive(Debug, Default)]
struct Slot {
    /// The static table index of the name; 0 for an empty slot.
    name_index: u32,
    huffman: bool,
    /// The string's bytes as they came on the wire.
    wire: Vec<u8>,
    value: Bytes,
    /// Whether the field passed the decoder's entry check.
    bytes_valid: bool,
}

impl LiteralMemo {
    /// The value and its validity if this exact string was remembered for
    /// the same name.
    #[inline]
    pub(super) fn get(&self, name_index: u32, huffman: bool, wire: &[u8]) -> Option<(Bytes, bool)> {
        self.slots
            .iter()
            .find(|s| s.name_index == name_index && s.huffman == huffman && s.wire == wire)
            .map(|s| (s.value.clone(), s.bytes_valid))
    }

    /// Remembers a decoded literal in place of the oldest one.
    pub(super) fn put(
        &mut self,
        name_index: u32,
        huffman: bool,
        wire: &[u8],
        value: &[u8],
        bytes_valid: bool,
    ) {
        debug_assert!(name_index != 0 && wire.len() <= MAX_WIRE);
        let slot = &mut self.slots[self.next];
        self.next = (self.next + 1) % SLOTS;
        slot.name_index = name_index;
        slot.huffman = huffman;
        slot.wire.clear();
        slot.wire.extend_from_slice(wire);
        slot.value = Bytes::copy_from_slice(value);
        slot.bytes_valid = bytes_valid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_needs_the_same_name_coding_and_bytes() {
        let mut memo = LiteralMemo::default();
        memo.put(4, true, b"\x61\x62", b"/ab", true);
        assert_eq!(
            memo.get(4, true, b"\x61\x62"),
            Some((Bytes::from_static(b"/ab"), true))
        );
        assert_eq!(memo.get(5, true, b"\x61\x62"), None);
        assert_eq!(memo.get(4, false, b"\x61\x62"), None);
        assert_eq!(memo.get(4, true, b"\x61\x63"), None);
    }

    #[test]
    fn the_oldest_goes_first() {
        let mut memo = LiteralMemo::default();
        for i in 1..=SLOTS as u32 + 1 {
            memo.put(i, false, &[i as u8], &[i as u8], false);
        }
        assert_eq!(memo.get(1, false, &[1]), None);
        for i in 2..=SLOTS as u32 + 1 {
            assert!(memo.get(i, false, &[i as u8]).is_some());
        }
    }
}
