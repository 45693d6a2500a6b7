//! Error codes (RFC 9113 §7).

use core::fmt;

/// An HTTP/2 error code, as carried by RST_STREAM and GOAWAY (RFC 9113 §7).
///
/// A plain `u32` newtype rather than an enum: RFC 9113 §7 says "unknown or
/// unsupported error codes MUST NOT trigger any special behavior", so codes
/// this crate does not know must survive decoding and re-encoding untouched.
/// The codes the RFC defines are associated constants.
///
/// `Display` prints the RFC name, or the code in hex for unknown codes:
///
/// ```
/// use h2proto::frame::Reason;
/// assert_eq!(Reason::PROTOCOL_ERROR.to_string(), "PROTOCOL_ERROR");
/// assert_eq!(Reason::from(0xdead_beef).to_string(), "0xdeadbeef");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reason(u32);

impl Reason {
    /// 0x0: graceful shutdown, or no error.
    pub const NO_ERROR: Reason = Reason(0x0);
    /// 0x1: an unspecific protocol error was detected.
    pub const PROTOCOL_ERROR: Reason = Reason(0x1);
    /// 0x2: the endpoint encountered an unexpected internal error.
    pub const INTERNAL_ERROR: Reason = Reason(0x2);
    /// 0x3: the peer violated the flow-control protocol.
    pub const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    /// 0x4: a SETTINGS frame was not acknowledged in time.
    pub const SETTINGS_TIMEOUT: Reason = Reason(0x4);
    /// 0x5: a frame was received after the stream was half-closed.
    pub const STREAM_CLOSED: Reason = Reason(0x5);
    /// 0x6: a frame had an invalid size.
    pub const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    /// 0x7: the stream was refused before any application processing.
    pub const REFUSED_STREAM: Reason = Reason(0x7);
    /// 0x8: the stream is no longer needed.
    pub const CANCEL: Reason = Reason(0x8);
    /// 0x9: the field-compression context could not be maintained.
    pub const COMPRESSION_ERROR: Reason = Reason(0x9);
    /// 0xa: the connection for a CONNECT request was reset or closed.
    pub const CONNECT_ERROR: Reason = Reason(0xa);
    /// 0xb: the peer is generating excessive load.
    pub const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
    /// 0xc: the transport does not meet minimum security requirements.
    pub const INADEQUATE_SECURITY: Reason = Reason(0xc);
    /// 0xd: the endpoint requires HTTP/1.1 instead of HTTP/2.
    pub const HTTP_1_1_REQUIRED: Reason = Reason(0xd);

    /// Makes a reason from its wire value; any `u32` is valid.
    pub const fn new(code: u32) -> Reason {
        Reason(code)
    }

    /// The wire value.
    pub const fn code(self) -> u32 {
        self.0
    }

    /// The RFC 9113 §7 name, or `None` for a code the RFC does not define.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => return None,
        })
    }
}

impl From<u32> for Reason {
    fn from(code: u32) -> Reason {
        Reason(code)
    }
}

impl From<Reason> for u32 {
    fn from(reason: Reason) -> u32 {
        reason.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "Reason::{name}"),
            None => write!(f, "Reason({:#x})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_all_rfc_codes() {
        for code in 0..=0xd {
            assert!(Reason::new(code).name().is_some(), "code {code}");
        }
        assert_eq!(Reason::new(0xe).name(), None);
        assert_eq!(Reason::HTTP_1_1_REQUIRED.to_string(), "HTTP_1_1_REQUIRED");
        assert_eq!(Reason::NO_ERROR.code(), 0);
    }

    #[test]
    fn unknown_codes_print_in_hex() {
        assert_eq!(Reason::from(0xdead_beef).to_string(), "0xdeadbeef");
        assert_eq!(format!("{:?}", Reason::new(0x42)), "Reason(0x42)");
        assert_eq!(format!("{:?}", Reason::CANCEL), "Reason::CANCEL");
        assert_eq!(u32::from(Reason::from(0xdead_beef)), 0xdead_beef);
    }
}
