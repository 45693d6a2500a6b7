//! HTTP/2 message validation (RFC 9113 §8.1–§8.3).
//!
//! A header block is checked field by field as it is decoded: names and values
//! against §8.2.1, connection-specific fields against §8.2.2, pseudo-header
//! fields against §8.3 (only the ones allowed for this kind of block, each at
//! most once, all before the regular fields, the required ones present).
//!
//! The checker does not own the fields. It records *positions* in the caller's
//! list, so the caller keeps its zero-copy field storage and reads the
//! pseudo-header values from where they already are. The same checks run on
//! what the local application asks to send, so we never put a malformed
//! message on the wire (as Go's `checkConnHeaders` does for its client).

/// What a header block opens or closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// The first block of a request (a server receives it, a client sends it).
    Request,
    /// A response block, informational (1xx) or final.
    Response,
    /// Trailers: the last block of a message, no pseudo-header fields.
    Trailers,
}

/// Why a message is malformed (RFC 9113 §8.1.1): the stream is reset with
/// PROTOCOL_ERROR, the connection lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// A field name is empty.
    #[error("empty field name")]
    EmptyName,
    /// A field name has an uppercase letter (§8.2.1).
    #[error("uppercase character in field name")]
    UppercaseName,
    /// A field name has a control, space, non-ASCII or (outside the leading
    /// pseudo-header colon) colon byte (§8.2.1).
    #[error("invalid character in field name")]
    InvalidName,
    /// A field value has NUL, CR or LF (§8.2.1).
    #[error("NUL, CR or LF in field value")]
    InvalidValue,
    /// A field value starts or ends with a space or tab (§8.2.1).
    #[error("field value starts or ends with whitespace")]
    ValueWhitespace,
    /// connection, keep-alive, proxy-connection, transfer-encoding or upgrade (§8.2.2).
    #[error("connection-specific field")]
    ConnectionSpecific,
    /// A TE field with a value other than "trailers" (§8.2.2).
    #[error("te field other than \"trailers\"")]
    InvalidTe,
    /// A pseudo-header field after a regular field (§8.3).
    #[error("pseudo-header field after a regular field")]
    PseudoAfterRegular,
    /// A pseudo-header field not defined for this kind of block (§8.3).
    #[error("pseudo-header field not allowed here")]
    UnexpectedPseudo,
    /// The same pseudo-header field twice (§8.3.1, §8.3.2).
    #[error("duplicate pseudo-header field")]
    DuplicatePseudo,
    /// A required pseudo-header field is missing (§8.3.1, §8.3.2).
    #[error("missing pseudo-header field {0}")]
    MissingPseudo(&'static str),
    /// `:path` is empty for an http or https request (§8.3.1).
    #[error("empty :path")]
    EmptyPath,
    /// CONNECT with `:scheme` or `:path` (§8.5).
    #[error("CONNECT request with :scheme or :path")]
    ConnectWithPath,
    /// CONNECT whose `:authority` is empty: it names no host to connect
    /// to (§8.5).
    #[error("CONNECT request with an empty :authority")]
    ConnectWithoutHost,
    /// `:status` is not three digits (§8.3.2).
    #[error("invalid :status")]
    InvalidStatus,
    /// content-length is not a number, or two of them disagree.
    #[error("invalid content-length")]
    InvalidContentLength,
    /// The DATA received does not add up to content-length (§8.1.1).
    #[error("DATA length does not match content-length")]
    ContentLengthMismatch,
    /// More HEADERS after the final ones without END_STREAM, or an
    /// informational response with END_STREAM (§8.1).
    #[error("header block out of place in the message")]
    UnexpectedHeaders,
    /// A `host` field naming another authority than `:authority` (§8.3.1),
    /// or, without one, than the first `host` field; compared after
    /// scheme-based normalization (host case, default port).
    #[error("host field differs from :authority")]
    HostMismatch,
    /// A `host` field with an `@`: userinfo, which `host` cannot carry
    /// (RFC 9110 §7.2), so it names no authority that could be checked.
    #[error("host field with userinfo")]
    HostWithUserinfo,
}

/// A pseudo-header field of a request or response (§8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pseudo {
    Method = 0,
    Scheme = 1,
    Authority = 2,
    Path = 3,
    Status = 4,
}

/// Where the pseudo-header fields of a block are, as indexes into the
/// caller's field list: a byte each (0xff when absent), packed in one word so
/// that the checker's state stays in registers. Pseudo-header fields come
/// first and each at most once, so every index is below 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PseudoFields(u64);

impl Default for PseudoFields {
    fn default() -> Self {
        PseudoFields(u64::MAX)
    }
}

impl PseudoFields {
    /// The position of `field`, if the block has it.
    #[inline]
    pub(crate) fn get(self, field: Pseudo) -> Option<u8> {
        let at = (self.0 >> (8 * field as u32)) as u8;
        (at != u8::MAX).then_some(at)
    }

    /// Whether the block has `field`.
    #[inline]
    fn has(self, field: Pseudo) -> bool {
        self.get(field).is_some()
    }

    /// Records `field` at `index`; false if it was there already.
    #[inline]
    fn set(&mut self, field: Pseudo, index: u8) -> bool {
        if self.has(field) {
            return false;
        }
        let shift = 8 * field as u32;
        self.0 = (self.0 & !(0xff << shift)) | (u64::from(index) << shift);
        true
    }
}

/// The result of a valid block: where its pseudo fields are and the parsed
/// bits the connection needs. Kept small: it travels in every header event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckedBlock {
    /// Positions of the pseudo-header fields.
    pub pseudo: PseudoFields,
    /// Index of the first regular field (all before it are pseudo fields).
    pub first_regular: u8,
    /// Whether the request method is CONNECT (§8.5).
    pub is_connect: bool,
    /// Whether the request method is HEAD (its response has no body).
    pub is_head: bool,
    /// The `:status` code of a response.
    pub status: Option<u16>,
    /// The content-length value, if one was given.
    pub content_length: Option<u64>,
}

/// Validates one header block, field by field; for a request it also keeps
/// `:scheme` and `:authority` to compare `host` fields with.
#[derive(Debug, Clone)]
struct BlockChecker<'a> {
    kind: BlockKind,
    index: usize,
    seen_regular: bool,
    pseudo: PseudoFields,
    pseudo_count: u8,
    content_length: Option<u64>,
    status: Option<u16>,
    is_connect: bool,
    is_head: bool,
    path_empty: bool,
    scheme: Option<&'a [u8]>,
    authority: Option<&'a [u8]>,
    /// A request's first `host` field, when it has no `:authority`.
    host: Option<&'a [u8]>,
}

/// Bytes that may appear in a field name (§8.2.1): visible ASCII but
/// uppercase letters; the colon is handled apart.
const fn name_byte_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0x21;
    while b < 0x7f {
        t[b] = !(b >= 0x41 && b <= 0x5a) && b != b':' as usize;
        b += 1;
    }
    t
}
static NAME_BYTE: [bool; 256] = name_byte_table();

/// Bytes that may appear in a field value (§8.2.1): all but NUL, CR and LF.
const fn value_byte_table() -> [bool; 256] {
    let mut t = [true; 256];
    t[0] = false;
    t[b'\r' as usize] = false;
    t[b'\n' as usize] = false;
    t
}
static VALUE_BYTE: [bool; 256] = value_byte_table();

impl<'a> BlockChecker<'a> {
    /// A checker for a block of the given kind.
    fn new(kind: BlockKind) -> Self {
        BlockChecker {
            kind,
            index: 0,
            seen_regular: false,
            pseudo: PseudoFields::default(),
            pseudo_count: 0,
            content_length: None,
            status: None,
            is_connect: false,
            is_head: false,
            path_empty: false,
            scheme: None,
            authority: None,
            host: None,
        }
    }

    /// Checks the next field of the block (inlined into the block's loop:
    /// the call itself was a tenth of a field's cost).
    /// `bytes_valid`: the caller already knows the name and value pass
    /// [`field_bytes_valid`], so only the block-level rules are left.
    #[inline(always)]
    fn field(
        &mut self,
        name: &'a [u8],
        value: &'a [u8],
        bytes_valid: bool,
    ) -> Result<(), Malformed> {
        let index = self.index;
        self.index += 1;
        if !bytes_valid {
            check_value(value)?;
        }
        match name.split_first() {
            None => Err(Malformed::EmptyName),
            Some((b':', pseudo)) => self.pseudo_field(index, pseudo, value),
            Some(_) => {
                if !bytes_valid {
                    check_name(name)?;
                }
                self.seen_regular = true;
                self.regular_field(name, value)
            }
        }
    }

    fn pseudo_field(
        &mut self,
        index: usize,
        name: &[u8],
        value: &'a [u8],
    ) -> Result<(), Malformed> {
        if self.seen_regular {
            return Err(Malformed::PseudoAfterRegular);
        }
        let field = match (self.kind, name) {
            (BlockKind::Request, b"method") => {
                self.is_connect = value == b"CONNECT";
                self.is_head = value == b"HEAD";
                Pseudo::Method
            }
            (BlockKind::Request, b"scheme") => {
                self.scheme = Some(value);
                Pseudo::Scheme
            }
            (BlockKind::Request, b"authority") => {
                self.authority = Some(value);
                Pseudo::Authority
            }
            (BlockKind::Request, b"path") => {
                self.path_empty = value.is_empty();
                Pseudo::Path
            }
            (BlockKind::Response, b"status") => {
                self.status = Some(parse_status(value)?);
                Pseudo::Status
            }
            _ => return Err(Malformed::UnexpectedPseudo),
        };
        // Only the first five fields can get here (pseudo fields lead and a
        // sixth would be a duplicate), so the index fits.
        let Ok(index) = u8::try_from(index) else {
            return Err(Malformed::DuplicatePseudo);
        };
        if !self.pseudo.set(field, index) {
            return Err(Malformed::DuplicatePseudo);
        }
        self.pseudo_count += 1;
        Ok(())
    }

    fn regular_field(&mut self, name: &[u8], value: &'a [u8]) -> Result<(), Malformed> {
        match name {
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding"
            | b"upgrade" => Err(Malformed::ConnectionSpecific),
            b"te" if !value.eq_ignore_ascii_case(b"trailers") => Err(Malformed::InvalidTe),
            b"content-length" => {
                let n = parse_content_length(value)?;
                match self.content_length.replace(n) {
                    Some(previous) if previous != n => Err(Malformed::InvalidContentLength),
                    _ => Ok(()),
                }
            }
            // §8.3.1; the pseudo fields are all in, since they come first.
            // Without an :authority, every `host` must name what the first
            // does (two that differ are a smuggling attempt: RFC 9110 §7.2
            // wants a 400 for more than one).
            b"host" if self.kind == BlockKind::Request && value.contains(&b'@') => {
                Err(Malformed::HostWithUserinfo)
            }
            b"host" if self.kind == BlockKind::Request => match self.authority.or(self.host) {
                Some(a) if !super::authority::same_authority(self.scheme, a, value) => {
                    Err(Malformed::HostMismatch)
                }
                Some(_) => Ok(()),
                None => {
                    self.host = Some(value);
                    Ok(())
                }
            },
            _ => Ok(()),
        }
    }

    /// Ends the block: checks the required pseudo-header fields.
    fn finish(self) -> Result<CheckedBlock, Malformed> {
        let p = self.pseudo;
        match self.kind {
            BlockKind::Request if self.is_connect => {
                // §8.5: CONNECT carries :authority only.
                if p.has(Pseudo::Scheme) || p.has(Pseudo::Path) {
                    return Err(Malformed::ConnectWithPath);
                }
                match self.authority {
                    None => return Err(Malformed::MissingPseudo(":authority")),
                    Some([]) => return Err(Malformed::ConnectWithoutHost),
                    Some(_) => {}
                }
            }
            BlockKind::Request => {
                if !p.has(Pseudo::Method) {
                    return Err(Malformed::MissingPseudo(":method"));
                }
                if !p.has(Pseudo::Scheme) {
                    return Err(Malformed::MissingPseudo(":scheme"));
                }
                if !p.has(Pseudo::Path) {
                    return Err(Malformed::MissingPseudo(":path"));
                }
                if self.path_empty {
                    return Err(Malformed::EmptyPath);
                }
            }
            BlockKind::Response if !p.has(Pseudo::Status) => {
                return Err(Malformed::MissingPseudo(":status"));
            }
            BlockKind::Response | BlockKind::Trailers => {}
        }
        Ok(CheckedBlock {
            pseudo: self.pseudo,
            first_regular: self.pseudo_count,
            content_length: self.content_length,
            status: self.status,
            is_connect: self.is_connect,
            is_head: self.is_head,
        })
    }
}

/// Eight bytes with `fill` in each.
const fn splat(fill: u8) -> u64 {
    0x0101_0101_0101_0101 * fill as u64
}

/// The high bit of every byte.
const HIGH_BITS: u64 = splat(0x80);

/// Eight bytes as one word.
#[inline]
fn word(bytes: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*bytes)
}

/// Whether `bad` flags no word of `bytes`, eight bytes at a time; the last
/// word overlaps the one before when the length is not a multiple of eight
/// (checking a byte twice is harmless). Shorter inputs go byte by byte
/// through `ok`.
#[inline]
fn all_pass(bytes: &[u8], ok: &[bool; 256], bad: impl Fn(u64) -> u64) -> bool {
    if bytes.len() < 8 {
        return bytes.iter().fold(true, |all, &b| all & ok[usize::from(b)]);
    }
    let mut chunks = bytes.as_chunks::<8>().0.iter();
    let mut flagged = 0;
    for chunk in &mut chunks {
        flagged |= bad(word(chunk));
    }
    if let Some(last) = bytes.last_chunk::<8>() {
        flagged |= bad(word(last));
    }
    flagged == 0
}

/// Nonzero when some byte of `w` is zero (exact as to whether one is).
#[inline]
fn zero_byte(w: u64) -> u64 {
    w.wrapping_sub(splat(1)) & !w & HIGH_BITS
}

/// Nonzero when some byte of `w` is NUL, CR or LF.
#[inline]
fn bad_value_bytes(w: u64) -> u64 {
    zero_byte(w) | zero_byte(w ^ splat(b'\r')) | zero_byte(w ^ splat(b'\n'))
}

/// Nonzero when some byte of `w` may not be in a field name: outside
/// 0x21..=0x7e, uppercase, or a colon. Once no byte has its high bit set, no
/// sum below carries into the next byte, so each test is exact per byte.
#[inline]
fn bad_name_bytes(w: u64) -> u64 {
    let non_ascii = w & HIGH_BITS;
    // x + 0x5f reaches 0x80 exactly when x >= 0x21.
    let control_or_space = !w.wrapping_add(splat(0x5f)) & HIGH_BITS;
    // x + 1 reaches 0x80 exactly when x >= 0x7f (DEL, for ASCII x).
    let del = w.wrapping_add(splat(1)) & HIGH_BITS;
    // 0x41 <= x < 0x5b: A to Z.
    let upper = w.wrapping_add(splat(0x3f)) & !w.wrapping_add(splat(0x25)) & HIGH_BITS;
    let colon = !(w ^ splat(b':')).wrapping_add(splat(0x7f)) & HIGH_BITS;
    non_ascii | control_or_space | del | upper | colon
}

#[inline]
fn check_name(name: &[u8]) -> Result<(), Malformed> {
    if all_pass(name, &NAME_BYTE, bad_name_bytes) {
        return Ok(());
    }
    name_error(name)
}

/// Which rule a name that failed the fast check breaks.
#[cold]
fn name_error(name: &[u8]) -> Result<(), Malformed> {
    if name.iter().all(|&b| NAME_BYTE[usize::from(b)]) {
        return Ok(());
    }
    if name.iter().any(u8::is_ascii_uppercase) {
        Err(Malformed::UppercaseName)
    } else {
        Err(Malformed::InvalidName)
    }
}

#[inline]
fn check_value(value: &[u8]) -> Result<(), Malformed> {
    if !all_pass(value, &VALUE_BYTE, bad_value_bytes) {
        return Err(Malformed::InvalidValue);
    }
    let edge = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if edge(value.first()) || edge(value.last()) {
        return Err(Malformed::ValueWhitespace);
    }
    Ok(())
}

fn parse_status(value: &[u8]) -> Result<u16, Malformed> {
    match value {
        [a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(Malformed::InvalidStatus),
    }
}

fn parse_content_length(value: &[u8]) -> Result<u64, Malformed> {
    if value.is_empty() || value.len() > 19 {
        return Err(Malformed::InvalidContentLength);
    }
    value.iter().try_fold(0u64, |n, &b| match b {
        b'0'..=b'9' => Ok(n * 10 + u64::from(b - b'0')),
        _ => Err(Malformed::InvalidContentLength),
    })
}

/// Checks a whole block given as (name, value) pairs, field by field: names
/// and values (§8.2.1), connection-specific fields (§8.2.2), pseudo-header
/// fields (§8.3: allowed for this kind of block, each at most once, all
/// first, the required ones present), and for a request that each `host`
/// field names the same authority as `:authority` (§8.3.1), or without one
/// as the first `host` field.
#[cfg(test)]
pub(crate) fn check_block<'a>(
    kind: BlockKind,
    fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<CheckedBlock, Malformed> {
    check_fields(kind, fields.into_iter().map(|(n, v)| (n, v, false)))
}

/// Where the fields of a block we send were built, which says how much of
/// their bytes the check must read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldOrigin {
    /// Any caller's bytes: all of them are read.
    Any,
    /// Regular fields from `http`'s `HeaderName` and `HeaderValue`, fields
    /// we make ourselves, or a block the peer sent that passed our receive
    /// check: names are lowercase tokens and values hold no NUL, CR or LF
    /// by construction, so only a value's ends (which `http` lets be
    /// whitespace) are read. Pseudo-header fields are read whole (an
    /// `:authority` may come from a configured string), and the block rules
    /// all still apply.
    Built,
}

/// [`check_block`] for a block we are about to send.
pub(crate) fn check_outgoing(
    kind: BlockKind,
    fields: &[crate::hpack::HeaderField],
    origin: FieldOrigin,
) -> Result<CheckedBlock, Malformed> {
    let built = origin == FieldOrigin::Built;
    let edge = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    check_fields(
        kind,
        fields.iter().map(|f| {
            let known = built
                && f.name.first() != Some(&b':')
                && !edge(f.value.first())
                && !edge(f.value.last());
            (&f.name[..], &f.value[..], known)
        }),
    )
}

/// [`check_block`] for a decoded block whose field `i` (for `i < 64`) is
/// known to pass [`field_bytes_valid`] when bit `i` of `bytes_valid` is set:
/// HPACK marks the fields it took from its tables, whose bytes were checked
/// once when the entry went in, so a block of indexed fields (what clients
/// send after their first request) is checked without reading its bytes.
pub(crate) fn check_decoded_block(
    kind: BlockKind,
    fields: &[crate::hpack::HeaderField],
    bytes_valid: u64,
) -> Result<CheckedBlock, Malformed> {
    let known = |i: usize| i < 64 && (bytes_valid >> i) & 1 == 1;
    let fields = fields.iter().enumerate();
    check_fields(
        kind,
        fields.map(|(i, f)| (&f.name[..], &f.value[..], known(i))),
    )
}

/// The block check over (name, value, bytes known valid) triples.
#[inline(always)]
fn check_fields<'a>(
    kind: BlockKind,
    fields: impl Iterator<Item = (&'a [u8], &'a [u8], bool)>,
) -> Result<CheckedBlock, Malformed> {
    let mut checker = BlockChecker::new(kind);
    for (name, value, bytes_valid) in fields {
        checker.field(name, value, bytes_valid)?;
    }
    checker.finish()
}

/// Whether a name and value pass the byte rules of §8.2.1 on their own: a
/// name non-empty, and (unless it is a pseudo-header name, which the block
/// check matches whole) lowercase token characters; a value without NUL, CR
/// or LF and without whitespace at either end. What [`check_block`] reads
/// a field's bytes for; the block-level rules are separate.
pub(crate) fn field_bytes_valid(name: &[u8], value: &[u8]) -> bool {
    let name_valid = match name.first() {
        None => false,
        Some(b':') => true,
        Some(_) => check_name(name).is_ok(),
    };
    name_valid && check_value(value).is_ok()
}

/// Tracks the body of a message against its content-length (§8.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BodyLength {
    expected: Option<u64>,
    received: u64,
}

impl BodyLength {
    /// Expects `expected` bytes of DATA, or any amount when `None` (no
    /// content-length, or a response to HEAD / a 204 / a 304, whose
    /// content-length describes a body that is not sent).
    pub(crate) fn new(expected: Option<u64>) -> Self {
        BodyLength {
            expected,
            received: 0,
        }
    }

    /// Counts a DATA payload (without padding); fails as soon as it overshoots.
    pub(crate) fn data(&mut self, n: usize) -> Result<(), Malformed> {
        self.received = self.received.saturating_add(n as u64);
        match self.expected {
            Some(expected) if self.received > expected => Err(Malformed::ContentLengthMismatch),
            _ => Ok(()),
        }
    }

    /// The message ended: fails if less than content-length arrived.
    pub(crate) fn end(&self) -> Result<(), Malformed> {
        match self.expected {
            Some(expected) if self.received != expected => Err(Malformed::ContentLengthMismatch),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
