//! The HPACK encoder (RFC 7541 §6) and its indexing policy.

use bytes::{Bytes, BytesMut};

use super::HeaderField;
use super::primitives::{encode_int, encode_string};
use super::table::{
    DynamicTable, ENTRY_OVERHEAD, STATIC_LEN, STATIC_TABLE, StaticMatch, static_find,
};

/// The SETTINGS_HEADER_TABLE_SIZE every HTTP/2 endpoint starts with.
const DEFAULT_TABLE_SIZE: usize = 4096;

/// Cookies shorter than this are never indexed (RFC 7541 §7.1.3: short
/// secrets are the ones an attacker can guess through compression).
const SHORT_COOKIE: usize = 20;

/// An HPACK encoder: one per connection (per direction).
///
/// Indexing policy, field by field:
///
/// - a field equal to a static or dynamic table entry is sent as an index;
/// - fields marked [`HeaderField::sensitive`], `authorization`,
///   `proxy-authorization` and cookies shorter than 20 bytes are sent as
///   *never indexed* literals (RFC 7541 §6.2.3, §7.1.3): never in the table,
///   and intermediaries must keep them that way;
/// - a field whose entry would take more than 3/4 of the table is sent without
///   indexing (it would only flush everything else);
/// - every other field is added to the table, so what repeats (`:authority`,
///   `:path`, `user-agent`, `content-type`, cookies…) costs one byte the next
///   time.
///
/// Names are sent as an index whenever one of the tables has them. Strings
/// are Huffman-coded only when that is strictly shorter.
///
/// # Example
///
/// ```
/// use bytes::BytesMut;
/// use h2proto::hpack::{Decoder, Encoder, HeaderField};
///
/// let mut encoder = Encoder::new(4096);
/// let mut decoder = Decoder::new(4096);
/// let fields = vec![
///     HeaderField::new(":method", "GET"),
///     HeaderField::new(":path", "/search?q=hpack"),
///     HeaderField::new("authorization", "Bearer secret").with_sensitive(true),
/// ];
/// let mut buf = BytesMut::new();
/// encoder.encode(&fields, &mut buf);
/// let mut decoded = Vec::new();
/// decoder.decode(&buf.split().freeze(), &mut decoded)?;
/// assert_eq!(decoded, fields);
/// assert!(decoded[2].sensitive);
///
/// // The same request again: the path is now a one-byte index.
/// encoder.encode(&fields[..2], &mut buf);
/// assert_eq!(buf.len(), 2);
/// # Ok::<(), h2proto::hpack::DecoderError>(())
/// ```
#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable,
    /// Our own cap on the table size.
    own_max: usize,
    /// Size updates owed at the start of the next block: (smallest, final).
    pending: Option<(usize, usize)>,
    /// Hash of (name, value) → sequence number of the newest such entry.
    by_field: HashIndex,
    /// Hash of name → sequence number of the newest entry with that name.
    by_name: HashIndex,
    /// Where a block is encoded before it is appended to the caller's
    /// buffer in one copy: pushing a byte to a `Vec` is a store, to a
    /// `BytesMut` a call. Emptied after each block; dropped if a large block
    /// grew it past [`KEEP_SCRATCH`].
    scratch: Vec<u8>,
}

/// Largest scratch capacity kept between blocks.
const KEEP_SCRATCH: usize = 4096;

impl Encoder {
    /// An encoder whose dynamic table never exceeds `max_table_size` bytes,
    /// nor the peer's SETTINGS_HEADER_TABLE_SIZE (4,096 until
    /// [`set_peer_max_table_size`](Encoder::set_peer_max_table_size) says
    /// otherwise). If `max_table_size` is below 4,096 the first block starts
    /// with a size update.
    pub fn new(max_table_size: usize) -> Self {
        let mut encoder = Encoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            own_max: max_table_size,
            pending: None,
            by_field: HashIndex::new(DEFAULT_TABLE_SIZE),
            by_name: HashIndex::new(DEFAULT_TABLE_SIZE),
            scratch: Vec::new(),
        };
        encoder.set_peer_max_table_size(DEFAULT_TABLE_SIZE);
        encoder
    }

    /// Records the peer's SETTINGS_HEADER_TABLE_SIZE (call it when the peer's
    /// SETTINGS arrive). The table then uses the smaller of it and our own
    /// cap; the change is signalled by size updates at the start of the next
    /// block: the smallest size since the last block, then the final one, if
    /// they differ (RFC 7541 §4.2).
    pub fn set_peer_max_table_size(&mut self, peer_max: usize) {
        let size = peer_max.min(self.own_max);
        self.pending = match self.pending {
            Some((min, _)) => Some((min.min(size), size)),
            None if size == self.table.max_size() => None,
            None => Some((size, size)),
        };
    }

    /// Current size of the dynamic table (RFC 7541 §4.1).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Current maximum size of the dynamic table, as last signalled (or about
    /// to be signalled at the start of the next block).
    pub fn max_table_size(&self) -> usize {
        self.pending.map_or(self.table.max_size(), |(_, size)| size)
    }

    /// Number of entries in the dynamic table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Encodes one header block, appending it to `dst` (reserving as needed;
    /// reuse the buffer across blocks to avoid allocating).
    pub fn encode<'a, I>(&mut self, fields: I, dst: &mut BytesMut)
    where
        I: IntoIterator<Item = &'a HeaderField>,
    {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        if let Some((min, size)) = self.pending.take() {
            if min < size && min < self.table.max_size() {
                self.update_size(min, &mut out);
            }
            self.update_size(size, &mut out);
        }
        for field in fields {
            self.encode_field(field, &mut out);
        }
        dst.extend_from_slice(&out);
        if out.capacity() <= KEEP_SCRATCH {
            self.scratch = out;
        }
    }

    fn update_size(&mut self, size: usize, dst: &mut Vec<u8>) {
        encode_int(dst, 0x20, 5, size);
        // Evicted entries need no unindexing: lookups check that the entry
        // they find is still in the table.
        self.table.set_max_size(size, &mut |_, _| {});
        if HashIndex::slots_for(size) > self.by_field.capacity {
            self.by_field = HashIndex::new(size);
            self.by_name = HashIndex::new(size);
            for pos in (0..self.table.len()).rev() {
                if let Some(e) = self.table.get(pos) {
                    let name_hash = hash_bytes(0, &e.name);
                    let field_hash = hash_bytes(name_hash ^ 0xff, &e.value);
                    let seq = self.table.seq_of(pos);
                    self.by_name.put(name_hash, seq);
                    self.by_field.put(field_hash, seq);
                }
            }
        }
    }

    fn encode_field(&mut self, field: &HeaderField, dst: &mut Vec<u8>) {
        let name: &[u8] = &field.name;
        let value: &[u8] = &field.value;
        let never = field.sensitive || never_indexed(name, value);
        let found = static_find(name, value);
        if let StaticMatch::Full(index) = found
            && !never
        {
            encode_int(dst, 0x80, 7, index);
            return;
        }
        let name_hash = hash_bytes(0, name);
        let field_hash = hash_bytes(name_hash ^ 0xff, value);
        if !never && let Some(pos) = self.dynamic_find(field_hash, name, value, true) {
            encode_int(dst, 0x80, 7, STATIC_LEN + 1 + pos);
            return;
        }
        let name_index = match found {
            StaticMatch::Name(i) | StaticMatch::Full(i) => Some(i),
            StaticMatch::None => self
                .dynamic_find(name_hash, name, value, false)
                .map(|pos| STATIC_LEN + 1 + pos),
        };
        let size = name.len() + value.len() + ENTRY_OVERHEAD;
        if never {
            write_literal(dst, 0x10, 4, name_index, name, value);
        } else if size <= self.table.max_size() / 4 * 3 {
            write_literal(dst, 0x40, 6, name_index, name, value);
            self.insert(name_index, name, value, name_hash, field_hash);
        } else {
            write_literal(dst, 0x00, 4, name_index, name, value);
        }
    }

    /// Position (0 = newest) of the newest entry with this name (and value,
    /// if `with_value`), through the hash index, verified byte for byte.
    #[inline]
    fn dynamic_find(
        &self,
        hash: u64,
        name: &[u8],
        value: &[u8],
        with_value: bool,
    ) -> Option<usize> {
        let map = if with_value {
            &self.by_field
        } else {
            &self.by_name
        };
        let pos = self.table.position_of(map.get(hash)?)?;
        let e = self.table.get(pos)?;
        (e.name == name && (!with_value || e.value == value)).then_some(pos)
    }

    fn insert(
        &mut self,
        name_index: Option<usize>,
        name: &[u8],
        value: &[u8],
        name_hash: u64,
        field_hash: u64,
    ) {
        // Reuse a name the tables already own instead of copying it again.
        let owned = match name_index {
            Some(i) if i <= STATIC_LEN => Some(Bytes::from_static(STATIC_TABLE[i - 1].0)),
            Some(i) => self.table.get(i - STATIC_LEN - 1).map(|e| e.name.clone()),
            None => None,
        };
        if self
            .table
            .insert(owned.as_ref(), name, value, false, &mut |_, _| {})
            .is_some()
        {
            let seq = self.table.seq_of(0);
            self.by_field.put(field_hash, seq);
            self.by_name.put(name_hash, seq);
        }
    }
}

/// A 4-way set-associative hash index from a 64-bit hash to an entry's
/// sequence number: no removal on eviction and no unbounded probing. A new
/// key replaces the way with the smallest sequence number, that is an empty
/// slot or an evicted entry first (eviction is FIFO, so evicted entries are
/// older than every live one), else the oldest live one. A stale or colliding
/// slot only costs a miss, since every hit is checked against the table (the
/// entry must still be there and equal byte for byte).
#[derive(Debug)]
struct HashIndex {
    /// Buckets of `WAYS` slots of (hash, sequence + 1); 0 marks an empty slot.
    /// Allocated on the first insert: a connection that never sends a header
    /// block (an idle one) holds none of it.
    slots: Vec<(u64, u64)>,
    /// The slot count once allocated.
    capacity: usize,
}

/// Slots per bucket.
const WAYS: usize = 4;

impl HashIndex {
    /// Slots for a table of `max_size` bytes: 4 per possible entry (each is
    /// at least 32 bytes), a power of two, capped at 2^16.
    fn slots_for(max_size: usize) -> usize {
        (max_size / ENTRY_OVERHEAD * 4)
            .clamp(16, 1 << 16)
            .next_power_of_two()
    }

    fn new(max_size: usize) -> Self {
        HashIndex {
            slots: Vec::new(),
            capacity: Self::slots_for(max_size),
        }
    }

    #[inline]
    fn bucket(&self, hash: u64) -> usize {
        let buckets = self.capacity / WAYS;
        (hash as usize & (buckets - 1)) * WAYS
    }

    #[inline]
    fn get(&self, hash: u64) -> Option<u64> {
        let start = self.bucket(hash);
        let bucket = self.slots.get(start..start + WAYS)?;
        bucket
            .iter()
            .find(|&&(h, seq)| h == hash && seq != 0)
            .map(|&(_, seq)| seq - 1)
    }

    #[inline]
    fn put(&mut self, hash: u64, seq: u64) {
        if self.slots.is_empty() {
            self.slots = vec![(0, 0); self.capacity];
        }
        let start = self.bucket(hash);
        let Some(bucket) = self.slots.get_mut(start..start + WAYS) else {
            return;
        };
        let way = match bucket.iter().position(|&(h, _)| h == hash) {
            Some(way) => way,
            None => {
                let mut way = 0;
                for (i, slot) in bucket.iter().enumerate() {
                    if slot.1 < bucket[way].1 {
                        way = i;
                    }
                }
                way
            }
        };
        bucket[way] = (hash, seq + 1);
    }
}

/// Fields that must never enter any table: credentials, and cookies short
/// enough to brute-force through compression (RFC 7541 §7.1.3).
#[inline]
fn never_indexed(name: &[u8], value: &[u8]) -> bool {
    match name {
        b"authorization" | b"proxy-authorization" => true,
        b"cookie" => value.len() < SHORT_COOKIE,
        _ => false,
    }
}

/// Writes a literal representation: `flags` and a `prefix`-bit name index,
/// or 0 and a literal name, then the value.
#[inline]
fn write_literal(
    dst: &mut Vec<u8>,
    flags: u8,
    prefix: u32,
    name_index: Option<usize>,
    name: &[u8],
    value: &[u8],
) {
    match name_index {
        Some(i) => encode_int(dst, flags, prefix, i),
        None => {
            encode_int(dst, flags, prefix, 0);
            encode_string(dst, name);
        }
    }
    encode_string(dst, value);
}

/// A fast 64-bit hash of `s`, continuing from `seed`. Not collision-resistant
/// and not meant to be: every hit is verified and the index never probes, so
/// adversarial collisions cost compression, not time.
#[inline]
fn hash_bytes(seed: u64, s: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = seed ^ (s.len() as u64).wrapping_mul(K);
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    // Final mix so both the low bits (bucket) and high bits (tag) vary.
    h = (h ^ (h >> 32)).wrapping_mul(K);
    h ^ (h >> 29)
}
