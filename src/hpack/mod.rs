//! HPACK header compression (RFC 7541).
//!
//! [`Decoder`] turns header blocks into [`HeaderField`]s and [`Encoder`]
//! turns fields into header blocks. Each keeps the dynamic table of one
//! direction of one connection, so blocks must go through them in wire order.
//!
//! This module knows nothing of frames: the connection layer concatenates
//! HEADERS/PUSH_PROMISE and CONTINUATION payloads into one block, and maps
//! every [`DecoderError`] to a `COMPRESSION_ERROR` connection error, except
//! the limit errors ([`DecoderError::keeps_table_in_sync`]) which it may
//! answer per stream.

mod decoder;
mod encoder;
mod error;
mod huffman;
mod literal_memo;
mod primitives;
mod table;

use bytes::Bytes;

pub use decoder::{Decoder, DecoderLimits};
pub use encoder::Encoder;
pub use error::DecoderError;
pub use table::ENTRY_OVERHEAD;

/// One header field: a name, a value and whether it is sensitive.
///
/// Names and values are bytes: HPACK does not restrict them, the HTTP/2
/// layer above validates them (RFC 9113 §8.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct HeaderField {
    /// The field name.
    pub name: Bytes,
    /// The field value.
    pub value: Bytes,
    /// Never index this field (RFC 7541 §6.2.3). Set by the decoder when the
    /// field arrived as a *never indexed* literal, so a proxy can forward it
    /// the same way; honoured by the encoder, which then keeps it out of every
    /// table.
    pub sensitive: bool,
}

impl HeaderField {
    /// A non-sensitive field.
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        HeaderField {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

    /// A non-sensitive field copied from borrowed text (a `&str` built at
    /// run time, a `&[u8]` slice): [`new`](Self::new) wants owned or
    /// `'static` data, this copies.
    ///
    /// ```
    /// use h2proto::hpack::HeaderField;
    /// let len = 42.to_string();
    /// let field = HeaderField::copy_from("content-length", &len);
    /// assert_eq!(field, HeaderField::new("content-length", "42"));
    /// ```
    pub fn copy_from(name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        HeaderField::new(
            Bytes::copy_from_slice(name.as_ref()),
            Bytes::copy_from_slice(value.as_ref()),
        )
    }

    /// The same field with `sensitive` set as given.
    pub fn with_sensitive(mut self, sensitive: bool) -> Self {
        self.sensitive = sensitive;
        self
    }

    /// Size of the field as HPACK and SETTINGS_MAX_HEADER_LIST_SIZE count it:
    /// name length + value length + 32 (RFC 7541 §4.1, RFC 9113 §6.5.2).
    pub fn size(&self) -> usize {
        self.name.len() + self.value.len() + ENTRY_OVERHEAD
    }
}
