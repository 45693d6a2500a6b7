//! gRPC status: [`Code`] (0–16), [`Status`], `grpc-message` percent-encoding,
//! and the mappings a client uses to synthesize a status from HTTP
//! (PROTOCOL-HTTP2.md, "HTTP to gRPC Status Code Mapping") and from
//! RST_STREAM codes.

use std::fmt;

use bytes::Bytes;

use crate::frame::Reason;
use crate::hpack::DecoderError;
use crate::proto::{Initiator, ResetCause, Role};

/// A gRPC status code. Known codes have constants; any other `u32` received
/// is kept as is (and displays as a number).
///
/// ```
/// use h2proto::grpc::Code;
/// assert_eq!(Code::from(5), Code::NOT_FOUND);
/// assert_eq!(Code::NOT_FOUND.name(), Some("NOT_FOUND"));
/// assert_eq!(Code::from_http_status(404), Code::UNIMPLEMENTED);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(u32);

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $v:expr;)*) => {
        impl Code {
            $($(#[$doc])* pub const $name: Code = Code($v);)*

            /// The spec's name (`"NOT_FOUND"`), or `None` for an unknown code.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// Not an error.
    OK = 0;
    /// The operation was cancelled, typically by the caller.
    CANCELLED = 1;
    /// Unknown error.
    UNKNOWN = 2;
    /// The client specified an invalid argument.
    INVALID_ARGUMENT = 3;
    /// The deadline expired before the operation could complete.
    DEADLINE_EXCEEDED = 4;
    /// Some requested entity was not found.
    NOT_FOUND = 5;
    /// The entity a client attempted to create already exists.
    ALREADY_EXISTS = 6;
    /// The caller may not execute the operation.
    PERMISSION_DENIED = 7;
    /// Some resource (a quota, a message size limit) has been exhausted.
    RESOURCE_EXHAUSTED = 8;
    /// The system is not in a state required for the operation.
    FAILED_PRECONDITION = 9;
    /// The operation was aborted (e.g. a concurrency conflict).
    ABORTED = 10;
    /// The operation was attempted past the valid range.
    OUT_OF_RANGE = 11;
    /// The operation is not implemented or supported.
    UNIMPLEMENTED = 12;
    /// An internal invariant was broken.
    INTERNAL = 13;
    /// The service is currently unavailable; retrying may help.
    UNAVAILABLE = 14;
    /// Unrecoverable data loss or corruption.
    DATA_LOSS = 15;
    /// The request lacks valid authentication credentials.
    UNAUTHENTICATED = 16;
}

impl Code {
    /// The numeric value sent in `grpc-status`.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// The code a client synthesizes for a non-200 HTTP `:status`
    /// (PROTOCOL-HTTP2.md): 400 INTERNAL, 401 UNAUTHENTICATED, 403
    /// PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE,
    /// anything else UNKNOWN.
    pub const fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::INTERNAL,
            401 => Code::UNAUTHENTICATED,
            403 => Code::PERMISSION_DENIED,
            404 => Code::UNIMPLEMENTED,
            429 | 502 | 503 | 504 => Code::UNAVAILABLE,
            _ => Code::UNKNOWN,
        }
    }

    /// The code for a stream reset with this RST_STREAM code
    /// (PROTOCOL-HTTP2.md, "Errors"): REFUSED_STREAM UNAVAILABLE, CANCEL
    /// CANCELLED, ENHANCE_YOUR_CALM RESOURCE_EXHAUSTED, INADEQUATE_SECURITY
    /// PERMISSION_DENIED, anything else INTERNAL.
    pub const fn from_reset(reason: Reason) -> Code {
        match reason.code() {
            0x7 => Code::UNAVAILABLE,
            0x8 => Code::CANCELLED,
            0xb => Code::RESOURCE_EXHAUSTED,
            0xc => Code::PERMISSION_DENIED,
            _ => Code::INTERNAL,
        }
    }

    /// Parses a `grpc-status` value: ASCII digits only, no sign or spaces.
    pub fn parse(value: &[u8]) -> Option<Code> {
        if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = value
            .iter()
            .try_fold(0u64, |n, d| Some(n * 10 + u64::from(d - b'0')))?;
        u32::try_from(n).ok().map(Code)
    }
}

impl From<u32> for Code {
    fn from(v: u32) -> Code {
        Code(v)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "CODE({})", self.0),
        }
    }
}

/// The outcome of a call: a [`Code`], a message, optional binary details
/// (`grpc-status-details-bin`), and — for a status synthesized from an
/// RST_STREAM — the HTTP/2 reason, which is kept rather than lost.
///
/// ```
/// use h2proto::grpc::{Code, Status};
/// let s = Status::new(Code::NOT_FOUND, "no such user: 🦀");
/// assert_eq!(s.code(), Code::NOT_FOUND);
/// assert_eq!(s.message(), "no such user: 🦀");
/// assert!(!s.is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    message: String,
    details: Option<Bytes>,
    reset: Option<(Reason, Initiator)>,
}

impl Status {
    /// A status with a code and a message.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            details: None,
            reset: None,
        }
    }

    /// `OK`, no message.
    pub fn ok() -> Status {
        Status::new(Code::OK, "")
    }

    /// The status for a stream the peer reset with `reason` (see
    /// [`Code::from_reset`]); the reason stays available in
    /// [`reset_reason`](Status::reset_reason).
    pub fn from_reset(reason: Reason) -> Status {
        let mut s = Status::new(
            Code::from_reset(reason),
            format!("stream reset by peer with {reason:?}"),
        );
        s.reset = Some((reason, Initiator::Remote));
        s
    }

    /// The status for a stream this endpoint reset itself with `reason`
    /// because of `why`, on the `role` side. It says what happened here, not
    /// what the peer did, with the code gRPC gives the local condition: a
    /// header list over our limit is RESOURCE_EXHAUSTED (as grpc C-core;
    /// grpc-go says INTERNAL "peer header list size exceeded limit"), a
    /// malformed message or another broken stream rule INTERNAL, a request
    /// never sent because we shut down UNAVAILABLE, a cancellation
    /// CANCELLED.
    pub fn from_local_reset(reason: Reason, why: &ResetCause, role: Role) -> Status {
        let what = match role {
            Role::Client => "response",
            Role::Server => "request",
        };
        let (code, message) = match why {
            ResetCause::HeaderListLimit(limit) => (
                Code::RESOURCE_EXHAUSTED,
                match limit {
                    DecoderError::HeaderListTooLarge { size, limit } => {
                        format!("{what} header list of {size} bytes exceeds the limit of {limit}")
                    }
                    DecoderError::TooManyFields { limit } => {
                        format!("{what} has more than {limit} header fields")
                    }
                    DecoderError::StringTooLong { len, limit } => {
                        format!("{what} header field of {len} bytes exceeds the limit of {limit}")
                    }
                    other => format!("{what} headers over our limits: {other}"),
                },
            ),
            ResetCause::Malformed(m) => (Code::INTERNAL, format!("malformed {what}: {m}")),
            ResetCause::ShuttingDown => (
                Code::UNAVAILABLE,
                "the connection is shutting down; the call was never sent".to_owned(),
            ),
            ResetCause::Cancelled => (Code::CANCELLED, "cancelled locally".to_owned()),
            _ => (
                Code::INTERNAL,
                format!("the peer broke a stream rule; stream reset locally with {reason:?}"),
            ),
        };
        let mut s = Status::new(code, message);
        s.reset = Some((reason, Initiator::Local));
        s
    }

    /// Adds binary details (sent as `grpc-status-details-bin`).
    pub fn with_details(mut self, details: Bytes) -> Status {
        self.details = Some(details);
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message (decoded from `grpc-message`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The binary details, if any.
    pub fn details(&self) -> Option<&Bytes> {
        self.details.as_ref()
    }

    /// The RST_STREAM code this status was synthesized from, if it was.
    pub fn reset_reason(&self) -> Option<Reason> {
        self.reset.map(|(reason, _)| reason)
    }

    /// Who reset the stream this status was synthesized from: `Remote` for
    /// the peer's RST_STREAM (or a stream above its GOAWAY), `Local` for
    /// our own.
    pub fn reset_initiator(&self) -> Option<Initiator> {
        self.reset.map(|(_, initiator)| initiator)
    }

    /// Whether the code is OK.
    pub fn is_ok(&self) -> bool {
        self.code == Code::OK
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Status {}

/// Percent-encodes a `grpc-message` value: bytes outside printable ASCII
/// (0x20–0x7E) and `%` itself become `%XX` over the UTF-8 encoding.
pub fn encode_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a `grpc-message` value. Never fails: a `%` not followed by two
/// hex digits is kept literally, and bytes that are not UTF-8 after decoding
/// become U+FFFD (as the spec asks: "decoding must not fail").
pub fn decode_message(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        if b == b'%'
            && let (Some(h), Some(l)) = (
                value.get(i + 1).copied().and_then(hex_val),
                value.get(i + 2).copied().and_then(hex_val),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our own resets say what happened here, never "reset by peer".
    #[test]
    fn local_resets_name_the_local_cause() {
        let s = Status::from_local_reset(
            Reason::FLOW_CONTROL_ERROR,
            &ResetCause::PeerError,
            Role::Client,
        );
        assert_eq!(s.code(), Code::INTERNAL);
        assert!(!s.message().contains("by peer"), "{}", s.message());
        assert!(s.message().contains("reset locally"), "{}", s.message());
        assert_eq!(s.reset_initiator(), Some(Initiator::Local));
        let s = Status::from_local_reset(
            Reason::REFUSED_STREAM,
            &ResetCause::HeaderListLimit(DecoderError::TooManyFields { limit: 256 }),
            Role::Server,
        );
        assert_eq!(s.code(), Code::RESOURCE_EXHAUSTED);
        assert_eq!(s.message(), "request has more than 256 header fields");
        let s = Status::from_local_reset(
            Reason::REFUSED_STREAM,
            &ResetCause::ShuttingDown,
            Role::Client,
        );
        assert_eq!(s.code(), Code::UNAVAILABLE);
        assert_eq!(
            Status::from_reset(Reason::CANCEL).reset_initiator(),
            Some(Initiator::Remote)
        );
    }

    #[test]
    fn codes_named() {
        for v in 0..=16 {
            assert!(Code::from(v).name().is_some());
        }
        assert_eq!(Code::from(17).name(), None);
        assert_eq!(Code::from(17).to_string(), "CODE(17)");
    }

    #[test]
    fn parse_status() {
        assert_eq!(Code::parse(b"0"), Some(Code::OK));
        assert_eq!(Code::parse(b"16"), Some(Code::UNAUTHENTICATED));
        assert_eq!(Code::parse(b""), None);
        assert_eq!(Code::parse(b"-1"), None);
        assert_eq!(Code::parse(b" 1"), None);
        assert_eq!(Code::parse(b"99999999999"), None);
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(encode_message("a b%c\n"), "a b%25c%0A");
        assert_eq!(encode_message("€"), "%E2%82%AC");
        assert_eq!(decode_message(b"%E2%82%AC"), "€");
        assert_eq!(decode_message(b"%zz%4"), "%zz%4");
        assert_eq!(decode_message(b"%FF"), "\u{fffd}");
        assert_eq!(decode_message(b"%e2%82%ac"), "€");
    }
}
