//! The HPACK decoder (RFC 7541 §3, §6).

use bytes::{Bytes, BytesMut};

use super::HeaderField;
use super::error::DecoderError;
use super::huffman;
use super::literal_memo::{self, LiteralMemo};
use super::primitives::decode_int;
use super::table::{DynamicTable, ENTRY_OVERHEAD, STATIC_LEN, STATIC_TABLE};

/// Limits the decoder enforces on every header block, while decoding.
///
/// When one fires the decoder stops handing out fields, finishes the block to
/// keep its dynamic table in sync and returns the error
/// ([`DecoderError::keeps_table_in_sync`] is true for all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Largest header list, counted as RFC 9113 §6.5.2 does: the sum over all
    /// fields of name length + value length + 32. Default 65,536 (64 KiB);
    /// advertise it as SETTINGS_MAX_HEADER_LIST_SIZE.
    pub max_header_list_size: usize,
    /// Most fields in one block. Default 1,024. Bounds the work per block even
    /// for fields that cost one byte on the wire (an indexed `:method: GET`).
    pub max_fields: usize,
    /// Longest name or value, on the wire and after Huffman decoding.
    /// Default 32,768 (32 KiB).
    pub max_string_len: usize,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        DecoderLimits {
            max_header_list_size: 65_536,
            max_fields: 1_024,
            max_string_len: 32_768,
        }
    }
}

/// Huffman output goes into shared chunks of at least this size: one
/// allocation serves many strings (each handed out as a `Bytes` slice).
const SCRATCH_CHUNK: usize = 8192;

/// The SETTINGS_HEADER_TABLE_SIZE every HTTP/2 endpoint starts with.
const DEFAULT_TABLE_SIZE: usize = 4096;

/// An HPACK decoder: one per connection (per direction), fed the header
/// blocks in the order they arrive.
///
/// Fields come out as [`HeaderField`]s whose `Bytes` share memory rather than
/// being allocated one by one: plain literals are slices of the block, table
/// entries are reference-counted clones, static names are `'static`, and
/// Huffman strings are slices of a shared scratch chunk.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use h2proto::hpack::{Decoder, HeaderField};
///
/// let mut decoder = Decoder::new(4096);
/// // RFC 7541 C.3.1: GET http://www.example.com/
/// let block = Bytes::from_static(&[
///     0x82, 0x86, 0x84, 0x41, 0x0f, b'w', b'w', b'w', b'.', b'e', b'x', b'a', b'm', b'p',
///     b'l', b'e', b'.', b'c', b'o', b'm',
/// ]);
/// let mut fields = Vec::new();
/// decoder.decode(&block, &mut fields)?;
/// assert_eq!(fields[0], HeaderField::new(":method", "GET"));
/// assert_eq!(fields[3], HeaderField::new(":authority", "www.example.com"));
/// assert_eq!(decoder.table_size(), 57); // ":authority" entry, 10 + 15 + 32
/// # Ok::<(), h2proto::hpack::DecoderError>(())
/// ```
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// The SETTINGS_HEADER_TABLE_SIZE in force (advertised and acknowledged).
    limit: usize,
    /// Set when `limit` dropped below the table's current maximum: the next
    /// block must start with a size update at or below this value.
    pending_min: Option<usize>,
    limits: DecoderLimits,
    scratch: BytesMut,
    /// The layer above's rule for a field's bytes, noted per dynamic entry
    /// as it goes in (see [`note_valid_entries`](Self::note_valid_entries)).
    entry_check: Option<EntryCheck>,
    /// Literals the peer did not index, for when it sends them again.
    memo: LiteralMemo,
}

/// A rule about a field's name and value bytes that the decoder notes per
/// dynamic table entry (checked once, as the entry goes in), so fields taken
/// from the tables come marked.
pub(crate) type EntryCheck = fn(&[u8], &[u8]) -> bool;

/// Per-block bookkeeping of the limits.
struct BlockState {
    list_size: usize,
    fields: usize,
    /// First limit that fired; from then on no field is handed out.
    error: Option<DecoderError>,
}

impl Decoder {
    /// A decoder for a connection on which we advertise (and the peer has
    /// acknowledged) `max_table_size` as SETTINGS_HEADER_TABLE_SIZE, with the
    /// default [`DecoderLimits`].
    ///
    /// The peer's table starts at the protocol default of 4,096 bytes, so if
    /// `max_table_size` is smaller, its first block must start with a size
    /// update.
    pub fn new(max_table_size: usize) -> Self {
        Self::with_limits(max_table_size, DecoderLimits::default())
    }

    /// Like [`Decoder::new`], with explicit limits.
    pub fn with_limits(max_table_size: usize, limits: DecoderLimits) -> Self {
        let mut decoder = Decoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            limit: DEFAULT_TABLE_SIZE,
            pending_min: None,
            limits,
            scratch: BytesMut::new(),
            entry_check: None,
            memo: LiteralMemo::default(),
        };
        decoder.set_max_table_size(max_table_size);
        decoder
    }

    /// Sets the table size limit: call it when the peer acknowledges a
    /// SETTINGS_HEADER_TABLE_SIZE we sent. Size updates above it are
    /// [`DecoderError::SizeUpdateAboveLimit`]. If it is below the peer's
    /// current table size, the peer's next block must start with a size update
    /// at or below the smallest such limit (RFC 7541 §4.2), else
    /// [`DecoderError::MissingSizeUpdate`].
    pub fn set_max_table_size(&mut self, max_table_size: usize) {
        self.limit = max_table_size;
        if max_table_size < self.table.max_size() {
            self.pending_min = Some(
                self.pending_min
                    .map_or(max_table_size, |m| m.min(max_table_size)),
            );
        }
    }

    /// The table size limit in force.
    pub fn max_table_size(&self) -> usize {
        self.limit
    }

    /// Replaces the limits (they apply from the next block).
    pub fn set_limits(&mut self, limits: DecoderLimits) {
        self.limits = limits;
    }

    /// The limits in force.
    pub fn limits(&self) -> DecoderLimits {
        self.limits
    }

    /// Current size of the dynamic table (RFC 7541 §4.1: name + value + 32 per entry).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Number of entries in the dynamic table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Decodes one complete header block (HEADERS plus any CONTINUATION
    /// payloads, concatenated), appending its fields to `out`.
    ///
    /// On error `out` is truncated back to its length on entry. See
    /// [`DecoderError`] for which errors leave the decoder usable.
    pub fn decode(
        &mut self,
        block: &Bytes,
        out: &mut Vec<HeaderField>,
    ) -> Result<(), DecoderError> {
        let start = out.len();
        let result = self.decode_with(block, |field| out.push(field));
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Has the decoder note, for every dynamic table entry from now on,
    /// whether `check` holds for its name and value (called once, as the
    /// entry goes in). The connection passes RFC 9113 §8.2.1's byte rules;
    /// `check` must hold for every static table entry, which are taken as
    /// passing without a call. This module knows nothing of the rule itself.
    pub(crate) fn note_valid_entries(&mut self, check: EntryCheck) {
        self.entry_check = Some(check);
    }

    /// [`decode`](Self::decode), also setting bit `i` of `*bytes_valid` when
    /// the `i`th field of this block (`i < 64`) is known to pass the check
    /// given to [`note_valid_entries`](Self::note_valid_entries): a static
    /// table entry, a dynamic one checked when it went in, or a literal
    /// checked as it was indexed (nothing is marked without a check). The
    /// caller then reads the bytes of the other fields only.
    pub(crate) fn decode_marking_valid(
        &mut self,
        block: &Bytes,
        out: &mut Vec<HeaderField>,
        bytes_valid: &mut u64,
    ) -> Result<(), DecoderError> {
        let start = out.len();
        let result = self.decode_fields(block, |field, valid| {
            let i = out.len() - start;
            if valid && i < 64 {
                *bytes_valid |= 1 << i;
            }
            out.push(field);
        });
        if result.is_err() {
            out.truncate(start);
            *bytes_valid = 0;
        }
        result
    }

    /// Decodes one complete header block, calling `on_field` for each field
    /// in order.
    ///
    /// When a limit fires, `on_field` is not called again for this block, but
    /// earlier fields were already delivered: on `Err`, discard what the
    /// callback received for this block.
    pub fn decode_with<F: FnMut(HeaderField)>(
        &mut self,
        block: &Bytes,
        mut on_field: F,
    ) -> Result<(), DecoderError> {
        self.decode_fields(block, |field, _| on_field(field))
    }

    /// The decoding loop: `on_field` gets each field and whether its bytes
    /// are known valid (see [`decode_marking_valid`](Self::decode_marking_valid)).
    #[inline]
    fn decode_fields<F: FnMut(HeaderField, bool)>(
        &mut self,
        block: &Bytes,
        mut on_field: F,
    ) -> Result<(), DecoderError> {
        let buf: &[u8] = block;
        let mut pos = 0usize;

        // Dynamic table size updates: only here, at the start (RFC 7541 §4.2).
        while let Some(&b) = buf.get(pos) {
            if b & 0xe0 != 0x20 {
                break;
            }
            let size = decode_int(buf, &mut pos, 5)?;
            if size as usize > self.limit {
                return Err(DecoderError::SizeUpdateAboveLimit {
                    requested: size,
                    limit: self.limit,
                });
            }
            if self.pending_min.is_some_and(|min| size as usize <= min) {
                self.pending_min = None;
            }
            self.table.set_max_size(size as usize, &mut |_, _| {});
        }
        if pos < buf.len()
            && let Some(min) = self.pending_min
        {
            return Err(DecoderError::MissingSizeUpdate { limit: min });
        }

        let mut state = BlockState {
            list_size: 0,
            fields: 0,
            error: None,
        };
        while let Some(&b) = buf.get(pos) {
            let mut bytes_valid = false;
            let field = if b & 0x80 != 0 {
                // Indexed header field (§6.1).
                let index = decode_int(buf, &mut pos, 7)?;
                let (name, value, valid) = self.field_at(index)?;
                bytes_valid = valid;
                HeaderField {
                    name,
                    value,
                    sensitive: false,
                }
            } else if b & 0x40 != 0 {
                // Literal with incremental indexing (§6.2.1).
                let index = decode_int(buf, &mut pos, 6)?;
                let (name, name_owned) = if index == 0 {
                    (self.read_string(block, &mut pos, &mut state)?, false)
                } else {
                    (self.name_at(index)?, true)
                };
                let value = self.read_string(block, &mut pos, &mut state)?;
                let owned = if name_owned { Some(&name) } else { None };
                // Checked once here, for this field and every later
                // reference to the entry.
                bytes_valid = self.entry_check.is_some_and(|check| check(&name, &value));
                self.table
                    .insert(owned, &name, &value, bytes_valid, &mut |_, _| {});
                HeaderField {
                    name,
                    value,
                    sensitive: false,
                }
            } else if b & 0x20 != 0 {
                return Err(DecoderError::SizeUpdateNotAtStart);
            } else {
                // Literal without indexing (§6.2.2) or never indexed (§6.2.3).
                let index = decode_int(buf, &mut pos, 4)?;
                let sensitive = b & 0x10 != 0;
                let (name, value) = if index == 0 {
                    let name = self.read_string(block, &mut pos, &mut state)?;
                    (name, self.read_string(block, &mut pos, &mut state)?)
                } else if !sensitive && index as usize <= STATIC_LEN {
                    let name = Bytes::from_static(STATIC_TABLE[index as usize - 1].0);
                    let (value, valid) =
                        self.read_remembered(block, &mut pos, &mut state, index, &name)?;
                    bytes_valid = valid;
                    (name, value)
                } else {
                    let name = self.name_at(index)?;
                    (name, self.read_string(block, &mut pos, &mut state)?)
                };
                HeaderField {
                    name,
                    value,
                    sensitive,
                }
            };
            state.fields += 1;
            // Saturating: a block of many references to a large entry must
            // not wrap the sum on 32-bit targets.
            state.list_size = state
                .list_size
                .saturating_add(field.name.len() + field.value.len() + ENTRY_OVERHEAD);
            if state.error.is_none() {
                if state.fields > self.limits.max_fields {
                    state.error = Some(DecoderError::TooManyFields {
                        limit: self.limits.max_fields,
                    });
                } else if state.list_size > self.limits.max_header_list_size {
                    state.error = Some(DecoderError::HeaderListTooLarge {
                        size: state.list_size,
                        limit: self.limits.max_header_list_size,
                    });
                } else {
                    on_field(field, bytes_valid);
                }
            }
        }
        match state.error {
            // The whole list's size, not where it crossed the limit.
            Some(DecoderError::HeaderListTooLarge { limit, .. }) => {
                Err(DecoderError::HeaderListTooLarge {
                    size: state.list_size,
                    limit,
                })
            }
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Name and value of the entry at `index` (static or dynamic), and
    /// whether its bytes are known valid (every static entry is, once there
    /// is a check).
    #[inline]
    fn field_at(&self, index: u32) -> Result<(Bytes, Bytes, bool), DecoderError> {
        let i = index as usize;
        if i == 0 {
            Err(DecoderError::IndexZero)
        } else if i <= STATIC_LEN {
            let (name, value) = STATIC_TABLE[i - 1];
            let valid = self.entry_check.is_some();
            Ok((Bytes::from_static(name), Bytes::from_static(value), valid))
        } else {
            match self.table.get(i - STATIC_LEN - 1) {
                Some(e) => Ok((e.name.clone(), e.value.clone(), e.bytes_valid)),
                None => Err(DecoderError::IndexOutOfRange {
                    index,
                    dynamic_len: self.table.len(),
                }),
            }
        }
    }

    /// Name of the entry at `index` (static or dynamic).
    #[inline]
    fn name_at(&self, index: u32) -> Result<Bytes, DecoderError> {
        let i = index as usize;
        if i == 0 {
            Err(DecoderError::IndexZero)
        } else if i <= STATIC_LEN {
            Ok(Bytes::from_static(STATIC_TABLE[i - 1].0))
        } else {
            match self.table.get(i - STATIC_LEN - 1) {
                Some(e) => Ok(e.name.clone()),
                None => Err(DecoderError::IndexOutOfRange {
                    index,
                    dynamic_len: self.table.len(),
                }),
            }
        }
    }

    /// Reads a string literal (§5.2) at `*pos`.
    #[inline]
    fn read_string(
        &mut self,
        block: &Bytes,
        pos: &mut usize,
        state: &mut BlockState,
    ) -> Result<Bytes, DecoderError> {
        let (huffman, start, end) = self.string_span(block, pos, state)?;
        self.string_value(block, huffman, start, end, state)
    }

    /// Reads the value of a literal without indexing whose name is the
    /// static entry `index` (so `name`): the remembered value when the peer
    /// sent these same bytes recently, else decoded and remembered. Also
    /// says whether the field passed the entry check.
    fn read_remembered(
        &mut self,
        block: &Bytes,
        pos: &mut usize,
        state: &mut BlockState,
        index: u32,
        name: &[u8],
    ) -> Result<(Bytes, bool), DecoderError> {
        let (huffman, start, end) = self.string_span(block, pos, state)?;
        let wire = &block[start..end];
        if wire.len() > literal_memo::MAX_WIRE {
            let value = self.string_value(block, huffman, start, end, state)?;
            return Ok((value, false));
        }
        if let Some((value, valid)) = self.memo.get(index, huffman, wire) {
            self.check_decoded_len(value.len(), state);
            return Ok((value, valid));
        }
        let value = self.string_value(block, huffman, start, end, state)?;
        let valid = self.entry_check.is_some_and(|check| check(name, &value));
        self.memo.put(index, huffman, wire, &value, valid);
        Ok((value, valid))
    }

    /// Reads a string literal's prefix at `*pos`, moving past the string:
    /// whether it is Huffman-coded, and where its bytes start and end.
    #[inline]
    fn string_span(
        &self,
        buf: &[u8],
        pos: &mut usize,
        state: &mut BlockState,
    ) -> Result<(bool, usize, usize), DecoderError> {
        let huffman = buf.get(*pos).is_some_and(|b| b & 0x80 != 0);
        let len = decode_int(buf, pos, 7)? as usize;
        let start = *pos;
        let available = buf.len() - start;
        if len > available {
            return Err(DecoderError::TruncatedString { len, available });
        }
        *pos = start + len;
        let limit = self.limits.max_string_len;
        if len > limit && state.error.is_none() {
            state.error = Some(DecoderError::StringTooLong { len, limit });
        }
        Ok((huffman, start, start + len))
    }

    /// The string whose bytes are `block[start..end]`, decoded.
    #[inline]
    fn string_value(
        &mut self,
        block: &Bytes,
        huffman: bool,
        start: usize,
        end: usize,
        state: &mut BlockState,
    ) -> Result<Bytes, DecoderError> {
        if !huffman {
            return Ok(block.slice(start..end));
        }
        let bound = (end - start) * 8 / 5 + 2;
        if self.scratch.capacity() < bound {
            self.scratch = BytesMut::with_capacity(bound.max(SCRATCH_CHUNK));
        }
        huffman::decode(&block[start..end], &mut self.scratch)?;
        let s = self.scratch.split().freeze();
        self.check_decoded_len(s.len(), state);
        Ok(s)
    }

    /// Notes a decoded string over the length limit.
    #[inline]
    fn check_decoded_len(&self, len: usize, state: &mut BlockState) {
        let limit = self.limits.max_string_len;
        if len > limit && state.error.is_none() {
            state.error = Some(DecoderError::StringTooLong { len, limit });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which fields of a block come marked: none without a check; with one,
    /// static references, an indexed literal that passes, and later
    /// references to its entry; never a literal that is not indexed, nor an
    /// entry that failed.
    #[test]
    fn marks_follow_the_entry_check() {
        let block = |bytes: &[u8]| Bytes::copy_from_slice(bytes);
        // :method GET (static 2); "x-a: 1" indexed; "X-B: 1" indexed;
        // "x-c: 1" not indexed.
        let first = block(&[
            0x82, 0x40, 3, b'x', b'-', b'a', 1, b'1', 0x40, 3, b'X', b'-', b'B', 1, b'1', 0x00, 3,
            b'x', b'-', b'c', 1, b'1',
        ]);
        // Dynamic 63 ("x-a") and 62 ("X-B").
        let second = block(&[0xbf, 0xbe]);
        let decode = |decoder: &mut Decoder, b: &Bytes| {
            let (mut out, mut marks) = (Vec::new(), 0);
            decoder
                .decode_marking_valid(b, &mut out, &mut marks)
                .unwrap();
            marks
        };
        let mut plain = Decoder::new(4096);
        assert_eq!(
            (decode(&mut plain, &first), decode(&mut plain, &second)),
            (0, 0)
        );
        let mut noting = Decoder::new(4096);
        noting.note_valid_entries(|name, _| !name.iter().any(u8::is_ascii_uppercase));
        assert_eq!(decode(&mut noting, &first), 0b0011);
        assert_eq!(decode(&mut noting, &second), 0b01);
    }

    /// nghttp2 sends `:path` and `content-length` as literals without
    /// indexing: the same bytes again give the same field, marked valid
    /// from the check made the first time; other bytes, a never-indexed
    /// literal or a dynamic name are decoded afresh.
    #[test]
    fn repeated_unindexed_literals_are_remembered() {
        let path = |value: &[u8], huffman: bool, first: u8| {
            let mut b = vec![first];
            if huffman {
                let len = huffman::encoded_len(value);
                b.push(0x80 | len as u8);
                huffman::encode(value, len, &mut b);
            } else {
                b.push(value.len() as u8);
                b.extend_from_slice(value);
            }
            Bytes::from(b)
        };
        let decode = |decoder: &mut Decoder, b: &Bytes| {
            let (mut out, mut marks) = (Vec::new(), 0);
            decoder
                .decode_marking_valid(b, &mut out, &mut marks)
                .unwrap();
            (out, marks)
        };
        let mut d = Decoder::new(4096);
        d.note_valid_entries(|_, value| !value.contains(&b' '));
        for huffman in [true, false] {
            // 0x04: without indexing, name :path (static 4).
            for _ in 0..3 {
                let (out, marks) = decode(&mut d, &path(b"/echo.Echo/UnaryEcho", huffman, 0x04));
                assert_eq!(out[0].name, ":path");
                assert_eq!(out[0].value, "/echo.Echo/UnaryEcho");
                assert_eq!(marks, 1);
            }
            let (out, marks) = decode(&mut d, &path(b"/echo Echo", huffman, 0x04));
            assert_eq!((&out[0].value[..], marks), (&b"/echo Echo"[..], 0));
            let (out, _) = decode(&mut d, &path(b"/other", huffman, 0x04));
            assert_eq!(out[0].value, "/other");
            // Never indexed (0x14): sensitive, not marked.
            let (out, marks) = decode(&mut d, &path(b"/other", huffman, 0x14));
            assert_eq!(
                (out[0].value.clone(), out[0].sensitive, marks),
                ("/other".into(), true, 0)
            );
        }
        // A dynamic name: 0x40 indexes "x-a: 1" (entry 62), then 0x0f 0x2f
        // is a literal without indexing named by entry 62.
        let mut d = Decoder::new(4096);
        d.note_valid_entries(|_, _| true);
        let (_, marks) = decode(
            &mut d,
            &Bytes::from_static(b"\x40\x03x-a\x011\x0f\x2f\x011"),
        );
        assert_eq!(
            marks, 0b01,
            "a literal named by a dynamic entry is not remembered"
        );
    }
}
