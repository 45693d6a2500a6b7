//! The static table (RFC 7541 Appendix A) and the dynamic table (§2.3.2, §4).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Per-entry overhead counted in the table size (RFC 7541 §4.1).
pub const ENTRY_OVERHEAD: usize = 32;

/// The static table, RFC 7541 Appendix A; `STATIC_TABLE[i - 1]` is index `i`.
pub(crate) static STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// Number of static table entries; dynamic indices start after it.
pub(crate) const STATIC_LEN: usize = 61;

/// Result of looking a field up in the static table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StaticMatch {
    /// No entry has this name.
    None,
    /// The entry at this index has the name (the lowest such index).
    Name(usize),
    /// The entry at this index has the name and the value.
    Full(usize),
}

/// Finds `(name, value)` in the static table without scanning it: the
/// compiler turns the `match` into length and byte comparisons.
#[inline]
pub(crate) fn static_find(name: &[u8], value: &[u8]) -> StaticMatch {
    use StaticMatch::{Full, Name};
    let by_value = |first: usize, values: &[&[u8]]| -> StaticMatch {
        match values.iter().position(|v| *v == value) {
            Some(i) => Full(first + i),
            None => Name(first),
        }
    };
    match name {
        b":authority" => Name(1),
        b":method" => by_value(2, &[b"GET", b"POST"]),
        b":path" => by_value(4, &[b"/", b"/index.html"]),
        b":scheme" => by_value(6, &[b"http", b"https"]),
        b":status" => by_value(8, &[b"200", b"204", b"206", b"304", b"400", b"404", b"500"]),
        b"accept-charset" => Name(15),
        b"accept-encoding" => by_value(16, &[b"gzip, deflate"]),
        b"accept-language" => Name(17),
        b"accept-ranges" => Name(18),
        b"accept" => Name(19),
        b"access-control-allow-origin" => Name(20),
        b"age" => Name(21),
        b"allow" => Name(22),
        b"authorization" => Name(23),
        b"cache-control" => Name(24),
        b"content-disposition" => Name(25),
        b"content-encoding" => Name(26),
        b"content-language" => Name(27),
        b"content-length" => Name(28),
        b"content-location" => Name(29),
        b"content-range" => Name(30),
        b"content-type" => Name(31),
        b"cookie" => Name(32),
        b"date" => Name(33),
        b"etag" => Name(34),
        b"expect" => Name(35),
        b"expires" => Name(36),
        b"from" => Name(37),
        b"host" => Name(38),
        b"if-match" => Name(39),
        b"if-modified-since" => Name(40),
        b"if-none-match" => Name(41),
        b"if-range" => Name(42),
        b"if-unmodified-since" => Name(43),
        b"last-modified" => Name(44),
        b"link" => Name(45),
        b"location" => Name(46),
        b"max-forwards" => Name(47),
        b"proxy-authenticate" => Name(48),
        b"proxy-authorization" => Name(49),
        b"range" => Name(50),
        b"referer" => Name(51),
        b"refresh" => Name(52),
        b"retry-after" => Name(53),
        b"server" => Name(54),
        b"set-cookie" => Name(55),
        b"strict-transport-security" => Name(56),
        b"transfer-encoding" => Name(57),
        b"user-agent" => Name(58),
        b"vary" => Name(59),
        b"via" => Name(60),
        b"www-authenticate" => Name(61),
        _ => StaticMatch::None,
    }
}

/// One dynamic table entry. Name and value are copies owned by the table
/// (see [`DynamicTable::insert`]), so entries never pin a caller's buffer.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: Bytes,
    pub(crate) value: Bytes,
    /// The decoder's note that name and value pass RFC 9113 §8.2.1's byte
    /// rules, made once at insertion so fields taken from the entry need not
    /// be read again (always false in the encoder's table, which never asks).
    pub(crate) bytes_valid: bool,
}

impl Entry {
    /// RFC 7541 §4.1 size.
    #[inline]
    pub(crate) fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD
    }
}

/// Copies go into chunks of this size (or one string's size if larger), so
/// most inserts cost a `memcpy` and a reference count, not an allocation.
const ARENA_CHUNK: usize = 4096;

/// The dynamic table: newest entry first, FIFO eviction by RFC size.
///
/// Entries carry a sequence number (insertion count) so the encoder can keep
/// an index of them that survives eviction.
#[derive(Debug)]
pub(crate) struct DynamicTable {
    /// Oldest at the front, newest at the back.
    entries: VecDeque<Entry>,
    /// Sum of entry sizes.
    size: usize,
    /// Current maximum size (the last size update, or the initial value).
    max_size: usize,
    /// Number of entries ever inserted: the newest has sequence `inserted - 1`.
    inserted: u64,
    /// Where copies of names and values are stored.
    arena: BytesMut,
}

impl DynamicTable {
    pub(crate) fn new(max_size: usize) -> Self {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
            inserted: 0,
            arena: BytesMut::new(),
        }
    }

    /// Number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Sum of RFC sizes of the entries.
    #[inline]
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Current maximum size.
    #[inline]
    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    /// Entry by position, 0 = newest (dynamic index 62 on the wire).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&Entry> {
        let len = self.entries.len();
        if i < len {
            self.entries.get(len - 1 - i)
        } else {
            None
        }
    }

    /// Position (0 = newest) of the entry with sequence number `seq`, if it is
    /// still in the table.
    #[inline]
    pub(crate) fn position_of(&self, seq: u64) -> Option<usize> {
        let back = self.inserted.checked_sub(1)?.checked_sub(seq)?;
        let back = usize::try_from(back).ok()?;
        (back < self.entries.len()).then_some(back)
    }

    /// Sequence number of the entry at position `i` (0 = newest).
    #[inline]
    pub(crate) fn seq_of(&self, i: usize) -> u64 {
        self.inserted - 1 - i as u64
    }

    /// Sets the maximum size, evicting oldest entries until it fits.
    pub(crate) fn set_max_size(&mut self, max_size: usize, on_evict: &mut impl FnMut(u64, &Entry)) {
        self.max_size = max_size;
        self.evict_to(max_size, on_evict);
    }

    fn evict_to(&mut self, target: usize, on_evict: &mut impl FnMut(u64, &Entry)) {
        while self.size > target {
            let seq = self.inserted - self.entries.len() as u64;
            match self.entries.pop_front() {
                Some(e) => {
                    self.size -= e.size();
                    on_evict(seq, &e);
                }
                // Unreachable: size > 0 implies an entry; stop rather than loop.
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }

    /// Copies `s` into the arena.
    fn store(&mut self, s: &[u8]) -> Bytes {
        if s.is_empty() {
            return Bytes::new();
        }
        if self.arena.capacity() < s.len() {
            self.arena = BytesMut::with_capacity(ARENA_CHUNK.max(s.len()));
        }
        self.arena.extend_from_slice(s);
        self.arena.split().freeze()
    }

    /// Inserts a field (RFC 7541 §4.4): evicts until it fits, then adds it as
    /// the newest entry and returns it. An entry larger than the maximum
    /// size empties the table and is not added (returns `None`).
    ///
    /// The value is always copied; the name too unless `owned_name` gives it
    /// as a `Bytes` that is static or already owned by this table.
    /// `bytes_valid` is kept with the entry (see [`Entry::bytes_valid`]).
    pub(crate) fn insert(
        &mut self,
        owned_name: Option<&Bytes>,
        name: &[u8],
        value: &[u8],
        bytes_valid: bool,
        on_evict: &mut impl FnMut(u64, &Entry),
    ) -> Option<&Entry> {
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if size > self.max_size {
            self.evict_to(0, on_evict);
            return None;
        }
        self.evict_to(self.max_size - size, on_evict);
        let name = match owned_name {
            Some(n) => n.clone(),
            None => self.store(name),
        };
        let value = self.store(value);
        self.entries.push_back(Entry {
            name,
            value,
            bytes_valid,
        });
        self.size += size;
        self.inserted += 1;
        self.entries.back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_find_agrees_with_the_table() {
        for (i, (name, value)) in STATIC_TABLE.iter().enumerate() {
            let idx = i + 1;
            match static_find(name, value) {
                StaticMatch::Full(j) => assert_eq!(j, idx),
                StaticMatch::Name(j) => {
                    assert!(value.is_empty(), "{idx}");
                    assert_eq!(STATIC_TABLE[j - 1].0, *name);
                    assert!(j <= idx);
                }
                StaticMatch::None => panic!("{idx} not found"),
            }
        }
        assert_eq!(static_find(b"x-custom", b""), StaticMatch::None);
        assert_eq!(static_find(b":method", b"PUT"), StaticMatch::Name(2));
    }

    #[test]
    fn eviction_follows_rfc_sizes() {
        let mut t = DynamicTable::new(100);
        let evicted = std::cell::RefCell::new(Vec::new());
        let mut ev = |seq: u64, _: &Entry| evicted.borrow_mut().push(seq);
        let n = Bytes::from_static(b"abcd");
        // 4 + 4 + 32 = 40 bytes each: two fit in 100, the third evicts the first.
        t.insert(None, &n, b"1234", false, &mut ev);
        t.insert(None, &n, b"5678", false, &mut ev);
        assert_eq!(t.size(), 80);
        t.insert(None, &n, b"9abc", false, &mut ev);
        assert_eq!((t.len(), t.size()), (2, 80));
        assert_eq!(&t.get(0).unwrap().value[..], b"9abc");
        assert_eq!(t.position_of(0), None);
        assert_eq!(t.position_of(2), Some(0));
        // Too large: empties the table.
        assert!(t.insert(None, &n, &[0; 70], false, &mut ev).is_none());
        assert_eq!((t.len(), t.size()), (0, 0));
        assert_eq!(*evicted.borrow(), [0, 1, 2]);
    }
}
