//! Custom metadata: ASCII and binary (`-bin`) headers and trailers.
//!
//! Names are `[0-9a-z_.-]+`; the `grpc-` prefix is reserved for the
//! protocol. ASCII values are printable ASCII (0x20–0x7E). Binary values
//! (names ending in `-bin`) travel base64-encoded: emitted unpadded,
//! accepted padded or not, and a received value may hold several values
//! separated by commas.
//!
//! ```
//! use h2proto::grpc::Metadata;
//! let mut md = Metadata::new();
//! md.insert("x-user", "alice")?;
//! md.insert_bin("trace-bin", &[0xde, 0xad, 0xbe, 0xef])?;
//! assert_eq!(md.get("x-user"), Some("alice"));
//! assert_eq!(md.get_bin("trace-bin").map(|b| &b[..]), Some(&[0xde, 0xad, 0xbe, 0xef][..]));
//! assert!(md.insert("grpc-status", "0").is_err()); // reserved
//! # Ok::<(), h2proto::grpc::MetadataError>(())
//! ```

use std::borrow::Cow;

use bytes::Bytes;

use crate::hpack::HeaderField;

/// Why metadata was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// A name outside `[0-9a-z_.-]+`.
    #[error("invalid metadata name {0:?}")]
    InvalidName(String),
    /// A `grpc-` name: reserved for the protocol.
    #[error("reserved metadata name {0:?}")]
    Reserved(String),
    /// An ASCII value with a byte outside 0x20–0x7E.
    #[error("invalid value for metadata {0:?}")]
    InvalidValue(String),
    /// `insert` with a `-bin` name, or `insert_bin` without one.
    #[error("binary metadata names end in -bin and only they: {0:?}")]
    WrongKind(String),
    /// A received `-bin` value that is not base64.
    #[error("invalid base64 in {0:?}")]
    BadBase64(String),
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataValue {
    /// An ASCII value.
    Ascii(Bytes),
    /// A binary value (already base64-decoded).
    Binary(Bytes),
}

/// An ordered multimap of metadata (repeated names allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: Vec<(Name, MetadataValue)>,
}

/// An entry's name: the ones most calls carry are static text (no copy
/// in, none out), any other is owned.
type Name = Cow<'static, str>;

/// Names nearly every call carries: received and sent without allocating.
const KNOWN_NAMES: [&str; 6] = [
    "user-agent",
    "content-length",
    "accept-encoding",
    "authorization",
    "x-request-id",
    "traceparent",
];

/// `name` (a valid metadata name) as an entry's name.
fn name_of(name: &[u8]) -> Name {
    match KNOWN_NAMES.iter().find(|k| k.as_bytes() == name) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(text(name)),
    }
}

/// Whether `name` is a valid metadata name (reserved or not).
pub fn is_valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'.' | b'-'))
}

fn check_name(name: &str, binary: bool) -> Result<(), MetadataError> {
    if !is_valid_name(name.as_bytes()) {
        return Err(MetadataError::InvalidName(name.to_owned()));
    }
    if name.starts_with("grpc-") {
        return Err(MetadataError::Reserved(name.to_owned()));
    }
    if name.ends_with("-bin") != binary {
        return Err(MetadataError::WrongKind(name.to_owned()));
    }
    Ok(())
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// Appends an ASCII entry.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), MetadataError> {
        check_name(name, false)?;
        if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(MetadataError::InvalidValue(name.to_owned()));
        }
        self.entries.push((
            name_of(name.as_bytes()),
            MetadataValue::Ascii(Bytes::copy_from_slice(value.as_bytes())),
        ));
        Ok(())
    }

    /// Appends a binary entry; `name` must end in `-bin`.
    pub fn insert_bin(&mut self, name: &str, value: &[u8]) -> Result<(), MetadataError> {
        check_name(name, true)?;
        self.entries.push((
            name_of(name.as_bytes()),
            MetadataValue::Binary(Bytes::copy_from_slice(value)),
        ));
        Ok(())
    }

    /// The first ASCII value under `name` (as text).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.iter().find_map(|(n, v)| match v {
            MetadataValue::Ascii(b) if n == name => std::str::from_utf8(b).ok(),
            _ => None,
        })
    }

    /// The first binary value under `name`.
    pub fn get_bin(&self, name: &str) -> Option<&Bytes> {
        self.entries.iter().find_map(|(n, v)| match v {
            MetadataValue::Binary(b) if n == name => Some(b),
            _ => None,
        })
    }

    /// Every value under `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a MetadataValue> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// All entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetadataValue)> {
        self.entries.iter().map(|(n, v)| (&**n, v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends the entries as header fields (binary values base64, unpadded).
    pub(crate) fn write_fields(&self, out: &mut Vec<HeaderField>) {
        for (name, value) in &self.entries {
            let v = match value {
                MetadataValue::Ascii(b) => b.clone(),
                MetadataValue::Binary(b) => Bytes::from(base64_encode(b)),
            };
            let name = match name {
                Cow::Borrowed(known) => Bytes::from_static(known.as_bytes()),
                Cow::Owned(other) => Bytes::copy_from_slice(other.as_bytes()),
            };
            out.push(HeaderField::new(name, v));
        }
    }

    /// Builds metadata from received header fields, skipping pseudo-header
    /// fields, `grpc-*` fields (the protocol's own), `content-type` and
    /// `te`. Binary values are base64-decoded (padded or not) and split at
    /// commas; a field whose name is not a valid metadata name is skipped.
    pub(crate) fn from_fields(fields: &[HeaderField]) -> Result<Metadata, MetadataError> {
        let mut md = Metadata::new();
        for (i, f) in fields.iter().enumerate() {
            let name = &f.name[..];
            if name.starts_with(b":")
                || name.starts_with(b"grpc-")
                || name == b"content-type"
                || name == b"te"
                || !is_valid_name(name)
            {
                continue;
            }
            if md.entries.capacity() == 0 {
                // Room for every field left at once, not grown push by push.
                md.entries.reserve_exact(fields.len() - i);
            }
            let name_s = name_of(name);
            if name.ends_with(b"-bin") {
                for part in f.value.split(|&b| b == b',') {
                    let part = part.trim_ascii();
                    let decoded = base64_decode(part)
                        .ok_or_else(|| MetadataError::BadBase64(name_s.to_string()))?;
                    md.entries
                        .push((name_s.clone(), MetadataValue::Binary(Bytes::from(decoded))));
                }
            } else {
                md.entries
                    .push((name_s, MetadataValue::Ascii(f.value.clone())));
            }
        }
        Ok(md)
    }
}

/// Received bytes as text: what is valid UTF-8 (nearly always ASCII: names,
/// paths, authorities) without `from_utf8_lossy`'s slower scan, anything
/// else with its invalid sequences replaced.
pub(crate) fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 without padding (what gRPC emits for `-bin` values).
pub fn base64_encode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let sextets = [n >> 18, n >> 12, n >> 6, n];
        for s in &sextets[..chunk.len() + 1] {
            out.push(ALPHABET[(*s & 63) as usize]);
        }
    }
    out
}

fn sextet(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Standard base64, padded or not. `None` for anything else (bad
/// characters, misplaced padding, an impossible length, non-zero trailing bits).
pub fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let data = match input {
        [rest @ .., b'=', b'='] if input.len().is_multiple_of(4) => rest,
        [rest @ .., b'='] if input.len().is_multiple_of(4) => rest,
        _ => input,
    };
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for chunk in data.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= sextet(c)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let keep = chunk.len() - 1;
        // Bits past the last whole byte must be zero (canonical encoding).
        if keep < 3 && bytes[keep] != 0 {
            return None;
        }
        out.extend_from_slice(&bytes[..keep]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        for (plain, enc) in [
            (&b""[..], &b""[..]),
            (b"f", b"Zg"),
            (b"fo", b"Zm8"),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg"),
        ] {
            assert_eq!(base64_encode(plain), enc);
            assert_eq!(base64_decode(enc).as_deref(), Some(plain));
        }
        assert_eq!(base64_decode(b"Zg==").as_deref(), Some(&b"f"[..]));
        assert_eq!(base64_decode(b"Zm8=").as_deref(), Some(&b"fo"[..]));
        for bad in [&b"Z"[..], b"Zh", b"Z=g=", b"Zg=", b"Zm9v!", b"===="] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn names() {
        let mut md = Metadata::new();
        assert!(md.insert("Upper", "x").is_err());
        assert!(md.insert("a b", "x").is_err());
        assert!(md.insert("x-bin", "x").is_err());
        assert!(md.insert_bin("x", b"x").is_err());
        assert!(md.insert("x", "\n").is_err());
        assert!(md.insert("ok_.-9", "v").is_ok());
    }

    #[test]
    fn known_and_other_names_round_trip_alike() {
        let received = [
            HeaderField::new("user-agent", "grpc-go/1.70"),
            HeaderField::new("x-tenant", "blue"),
            HeaderField::new("te", "trailers"),
        ];
        let md = Metadata::from_fields(&received).unwrap();
        assert_eq!(md.get("user-agent"), Some("grpc-go/1.70"));
        assert_eq!(md.get("x-tenant"), Some("blue"));
        let mut sent = Vec::new();
        md.write_fields(&mut sent);
        assert_eq!(sent, received[..2]);
        let mut built = Metadata::new();
        built.insert("user-agent", "grpc-go/1.70").unwrap();
        built.insert("x-tenant", "blue").unwrap();
        assert_eq!(built, md);
    }

    #[test]
    fn comma_split_binary() {
        let f = [HeaderField::new("k-bin", "AAEC, AwQ=")];
        let md = Metadata::from_fields(&f).unwrap();
        let all: Vec<_> = md.get_all("k-bin").collect();
        assert_eq!(
            all,
            [
                &MetadataValue::Binary(Bytes::from_static(&[0, 1, 2])),
                &MetadataValue::Binary(Bytes::from_static(&[3, 4]))
            ]
        );
    }
}
