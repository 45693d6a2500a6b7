//! The 9-octet frame header (RFC 9113 §4.1), frame types and flags.

use bytes::BufMut;
use core::fmt;

use super::StreamId;

/// Length of the fixed frame header that precedes every frame payload.
pub const HEADER_LEN: usize = 9;

/// The largest payload length the 24-bit Length field can express, 2^24 - 1.
/// It is also the upper bound of SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// The initial and smallest allowed SETTINGS_MAX_FRAME_SIZE, 2^14 (RFC 9113 §4.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 1 << 14;

/// Frame flags defined by RFC 9113 §6. Which flags are defined depends on the
/// frame type; flags a frame type does not define are ignored on receipt and
/// never sent (RFC 9113 §4.1).
pub mod flags {
    /// END_STREAM (0x01) on DATA and HEADERS.
    pub const END_STREAM: u8 = 0x01;
    /// ACK (0x01) on SETTINGS and PING.
    pub const ACK: u8 = 0x01;
    /// END_HEADERS (0x04) on HEADERS, PUSH_PROMISE and CONTINUATION.
    pub const END_HEADERS: u8 = 0x04;
    /// PADDED (0x08) on DATA, HEADERS and PUSH_PROMISE.
    pub const PADDED: u8 = 0x08;
    /// PRIORITY (0x20) on HEADERS.
    pub const PRIORITY: u8 = 0x20;
}

/// A frame type (RFC 9113 §6, §11.2), including types this crate does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// DATA (0x0).
    Data,
    /// HEADERS (0x1).
    Headers,
    /// PRIORITY (0x2).
    Priority,
    /// RST_STREAM (0x3).
    RstStream,
    /// SETTINGS (0x4).
    Settings,
    /// PUSH_PROMISE (0x5).
    PushPromise,
    /// PING (0x6).
    Ping,
    /// GOAWAY (0x7).
    GoAway,
    /// WINDOW_UPDATE (0x8).
    WindowUpdate,
    /// CONTINUATION (0x9).
    Continuation,
    /// Any other type; kept so the connection can ignore it (RFC 9113 §5.5).
    Unknown(u8),
}

impl FrameType {
    /// Maps a wire type octet to a `FrameType`.
    pub const fn from_u8(ty: u8) -> FrameType {
        match ty {
            0x0 => FrameType::Data,
            0x1 => FrameType::Headers,
            0x2 => FrameType::Priority,
            0x3 => FrameType::RstStream,
            0x4 => FrameType::Settings,
            0x5 => FrameType::PushPromise,
            0x6 => FrameType::Ping,
            0x7 => FrameType::GoAway,
            0x8 => FrameType::WindowUpdate,
            0x9 => FrameType::Continuation,
            other => FrameType::Unknown(other),
        }
    }

    /// The wire type octet.
    pub const fn to_u8(self) -> u8 {
        match self {
            FrameType::Data => 0x0,
            FrameType::Headers => 0x1,
            FrameType::Priority => 0x2,
            FrameType::RstStream => 0x3,
            FrameType::Settings => 0x4,
            FrameType::PushPromise => 0x5,
            FrameType::Ping => 0x6,
            FrameType::GoAway => 0x7,
            FrameType::WindowUpdate => 0x8,
            FrameType::Continuation => 0x9,
            FrameType::Unknown(other) => other,
        }
    }

    /// True for types that RFC 9113 defines (0x0..=0x9).
    pub const fn is_known(self) -> bool {
        !matches!(self, FrameType::Unknown(_))
    }
}

impl From<u8> for FrameType {
    fn from(ty: u8) -> FrameType {
        FrameType::from_u8(ty)
    }
}

impl From<FrameType> for u8 {
    fn from(ty: FrameType) -> u8 {
        ty.to_u8()
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameType::Data => "DATA",
            FrameType::Headers => "HEADERS",
            FrameType::Priority => "PRIORITY",
            FrameType::RstStream => "RST_STREAM",
            FrameType::Settings => "SETTINGS",
            FrameType::PushPromise => "PUSH_PROMISE",
            FrameType::Ping => "PING",
            FrameType::GoAway => "GOAWAY",
            FrameType::WindowUpdate => "WINDOW_UPDATE",
            FrameType::Continuation => "CONTINUATION",
            FrameType::Unknown(ty) => return write!(f, "UNKNOWN({ty:#04x})"),
        })
    }
}

/// A parsed frame header: Length, Type, Flags and Stream Identifier (RFC 9113 §4.1).
///
/// `flags` holds the raw octet as received, undefined bits included; the
/// per-type decoders read only the bits their type defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Length of the frame payload in octets (24 bits), header excluded.
    pub length: u32,
    /// The frame type.
    pub frame_type: FrameType,
    /// The raw flags octet.
    pub flags: u8,
    /// The stream identifier, reserved bit removed.
    pub stream_id: StreamId,
}

impl Head {
    /// Parses a frame header from the first [`HEADER_LEN`] octets of `src`, or
    /// returns `None` if fewer are available. Never reads past `src`.
    pub fn parse(src: &[u8]) -> Option<Head> {
        let h: &[u8; HEADER_LEN] = src.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Head {
            length: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            frame_type: FrameType::from_u8(h[3]),
            flags: h[4],
            stream_id: StreamId::new(u32::from_be_bytes([h[5], h[6], h[7], h[8]])),
        })
    }

    /// Returns true if `flag` is set in the raw flags octet.
    pub const fn has(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }

    /// Appends the 9-octet header to `dst`. Only the low 24 bits of `length`
    /// are written, and the reserved bit is always written as zero.
    pub fn encode(&self, dst: &mut impl BufMut) {
        let len = self.length.to_be_bytes();
        dst.put_slice(&[len[1], len[2], len[3], self.frame_type.to_u8(), self.flags]);
        dst.put_u32(self.stream_id.value());
    }
}

/// Writes a frame header; the per-type encoders' shorthand for [`Head::encode`].
pub(crate) fn put_head(
    dst: &mut impl BufMut,
    length: usize,
    frame_type: FrameType,
    flags: u8,
    stream_id: StreamId,
) {
    // Callers have already checked `length` against the maximum frame size,
    // which never exceeds 2^24 - 1, so the conversion cannot saturate.
    let length = u32::try_from(length).unwrap_or(u32::MAX);
    Head {
        length,
        frame_type,
        flags,
        stream_id,
    }
    .encode(dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_needs_nine_octets() {
        assert_eq!(Head::parse(&[0; 8]), None);
        let h = Head::parse(&[0x01, 0x02, 0x03, 0x0a, 0xff, 0x80, 0, 0, 1, 0xee]).unwrap();
        assert_eq!(h.length, 0x010203);
        assert_eq!(h.frame_type, FrameType::Unknown(0x0a));
        assert_eq!(h.flags, 0xff);
        assert_eq!(h.stream_id, StreamId::new(1));
        assert!(h.has(flags::PADDED | flags::END_STREAM));
    }

    #[test]
    fn encode_parse_round_trip() {
        let h = Head {
            length: MAX_MAX_FRAME_SIZE,
            frame_type: FrameType::Continuation,
            flags: flags::END_HEADERS,
            stream_id: StreamId::MAX,
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out.len(), HEADER_LEN);
        assert_eq!(Head::parse(&out), Some(h));
    }

    #[test]
    fn type_octets_round_trip() {
        for ty in 0..=u8::MAX {
            let t = FrameType::from(ty);
            assert_eq!(u8::from(t), ty);
            assert_eq!(t.is_known(), ty <= 9);
        }
        assert_eq!(FrameType::GoAway.to_string(), "GOAWAY");
        assert_eq!(FrameType::Unknown(0xb).to_string(), "UNKNOWN(0x0b)");
    }
}
