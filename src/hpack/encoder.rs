//! The HPACK encoder (RFC 7541 §6) and its indexing policy.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use bytes::{Bytes, BytesMut};

use super::HeaderField;
use super::primitives::{encode_int, encode_string};
use super::table::{
    DynamicTable, ENTRY_OVERHEAD, Entry, STATIC_LEN, STATIC_TABLE, StaticMatch, static_find,
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
    by_field: HashMap<u64, u64, BuildHasherDefault<PreHashed>>,
    /// Hash of name → sequence number of the newest entry with that name.
    by_name: HashMap<u64, u64, BuildHasherDefault<PreHashed>>,
}

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
            by_field: HashMap::default(),
            by_name: HashMap::default(),
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
        if let Some((min, size)) = self.pending.take() {
            if min < size && min < self.table.max_size() {
                self.update_size(min, dst);
            }
            self.update_size(size, dst);
        }
        for field in fields {
            self.encode_field(field, dst);
        }
    }

    fn update_size(&mut self, size: usize, dst: &mut BytesMut) {
        encode_int(dst, 0x20, 5, size);
        let (by_field, by_name) = (&mut self.by_field, &mut self.by_name);
        self.table
            .set_max_size(size, &mut |seq, e| forget(by_field, by_name, seq, e));
    }

    fn encode_field(&mut self, field: &HeaderField, dst: &mut BytesMut) {
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
        let pos = self.table.position_of(*map.get(&hash)?)?;
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
        let (by_field, by_name) = (&mut self.by_field, &mut self.by_name);
        let mut on_evict = |seq, e: &Entry| forget(by_field, by_name, seq, e);
        let inserted = self
            .table
            .insert(owned.as_ref(), name, value, &mut on_evict);
        if inserted.is_some() {
            let seq = self.table.seq_of(0);
            self.by_field.insert(field_hash, seq);
            self.by_name.insert(name_hash, seq);
        }
    }
}

/// Drops the index entries that point at an evicted entry (unless a newer
/// entry with the same hash replaced them).
fn forget(
    by_field: &mut HashMap<u64, u64, BuildHasherDefault<PreHashed>>,
    by_name: &mut HashMap<u64, u64, BuildHasherDefault<PreHashed>>,
    seq: u64,
    e: &Entry,
) {
    let name_hash = hash_bytes(0, &e.name);
    if by_name.get(&name_hash) == Some(&seq) {
        by_name.remove(&name_hash);
    }
    let field_hash = hash_bytes(name_hash ^ 0xff, &e.value);
    if by_field.get(&field_hash) == Some(&seq) {
        by_field.remove(&field_hash);
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
    dst: &mut BytesMut,
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
/// and not meant to be: every hit is verified, and the maps hold at most one
/// key per table entry, so adversarial collisions cost misses, not time.
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

/// `Hasher` for keys that already are hashes.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (keys are u64); fold anything else in.
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
