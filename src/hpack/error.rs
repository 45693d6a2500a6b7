//! HPACK decoding errors.

/// Why a header block could not be decoded.
///
/// At the HTTP/2 connection layer every variant maps to `COMPRESSION_ERROR`
/// (RFC 9113 §4.3) *unless* [`DecoderError::keeps_table_in_sync`] is true:
/// those are the decoder's own limits ([`DecoderLimits`](super::DecoderLimits)).
/// When a limit fires, the decoder stops handing out fields but still decodes
/// the rest of the block, so its dynamic table stays identical to the peer
/// encoder's. The connection can then refuse just that stream (for example
/// with HTTP 431 or `RST_STREAM`) and keep going.
///
/// For every other variant the block was malformed: the dynamic table may be
/// partly updated and no longer matches the peer's, so the connection must be
/// closed with `COMPRESSION_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecoderError {
    /// The block ended inside a prefixed integer (RFC 7541 §5.1).
    #[error("hpack: block ends inside an integer")]
    TruncatedInteger,
    /// A prefixed integer does not fit in 32 bits (RFC 7541 §5.1 lets the
    /// decoder set this limit).
    #[error("hpack: integer does not fit in 32 bits")]
    IntegerOverflow,
    /// A string literal's length runs past the end of the block.
    #[error("hpack: string of {len} bytes but only {available} left in the block")]
    TruncatedString {
        /// Declared length of the string.
        len: usize,
        /// Bytes left in the block after the length.
        available: usize,
    },
    /// Index 0 is not a valid table index (RFC 7541 §6.1).
    #[error("hpack: index 0")]
    IndexZero,
    /// The index is past the end of the static plus dynamic table (RFC 7541 §2.3.3).
    #[error("hpack: index {index} past the table ({dynamic_len} dynamic entries)")]
    IndexOutOfRange {
        /// The index received.
        index: u32,
        /// Number of entries in the dynamic table at the time.
        dynamic_len: usize,
    },
    /// A Huffman string contains the EOS symbol (RFC 7541 §5.2).
    #[error("hpack: Huffman string contains EOS")]
    HuffmanEos,
    /// A Huffman string ends with more than 7 bits of padding (RFC 7541 §5.2).
    #[error("hpack: Huffman padding longer than 7 bits")]
    HuffmanPaddingTooLong,
    /// A Huffman string's padding is not a prefix of EOS, i.e. not all ones
    /// (RFC 7541 §5.2).
    #[error("hpack: Huffman padding is not all ones")]
    HuffmanPaddingNotOnes,
    /// A dynamic table size update came after a header field representation
    /// (RFC 7541 §4.2: it must be at the start of a block).
    #[error("hpack: dynamic table size update not at the start of the block")]
    SizeUpdateNotAtStart,
    /// A dynamic table size update exceeds the SETTINGS_HEADER_TABLE_SIZE we
    /// advertised (RFC 7541 §6.3).
    #[error("hpack: dynamic table size update to {requested} above the limit {limit}")]
    SizeUpdateAboveLimit {
        /// The size asked for.
        requested: u32,
        /// The limit in force ([`Decoder::set_max_table_size`](super::Decoder::set_max_table_size)).
        limit: usize,
    },
    /// We lowered the table size limit below the peer's current table size
    /// and the next block did not start with a size update at or below the
    /// smallest limit since (RFC 7541 §4.2).
    #[error(
        "hpack: expected a dynamic table size update to at most {limit} at the start of the block"
    )]
    MissingSizeUpdate {
        /// The size the update must not exceed.
        limit: usize,
    },
    /// The decoded header list (name + value + 32 per field, RFC 9113 §6.5.2)
    /// exceeds [`DecoderLimits::max_header_list_size`](super::DecoderLimits::max_header_list_size).
    /// The table is kept in sync.
    #[error("hpack: header list of {size} bytes larger than {limit} bytes")]
    HeaderListTooLarge {
        /// The size of the whole list (name + value + 32 per field), counted
        /// to the end of the block.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The block has more fields than
    /// [`DecoderLimits::max_fields`](super::DecoderLimits::max_fields).
    /// The table is kept in sync.
    #[error("hpack: more than {limit} header fields")]
    TooManyFields {
        /// The limit in force.
        limit: usize,
    },
    /// A string (its wire length or, for Huffman strings, its decoded length)
    /// is longer than [`DecoderLimits::max_string_len`](super::DecoderLimits::max_string_len).
    /// The table is kept in sync.
    #[error("hpack: string of {len} bytes longer than the limit {limit}")]
    StringTooLong {
        /// Length of the string.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
}

impl DecoderError {
    /// True if the decoder processed the whole block anyway and its dynamic
    /// table still matches the peer's: only a limit of ours fired. The
    /// connection may refuse the stream and continue.
    ///
    /// False means the block was malformed; the connection must be closed
    /// with `COMPRESSION_ERROR` and the decoder must not be used again.
    pub fn keeps_table_in_sync(&self) -> bool {
        matches!(
            self,
            DecoderError::HeaderListTooLarge { .. }
                | DecoderError::TooManyFields { .. }
                | DecoderError::StringTooLong { .. }
        )
    }
}
