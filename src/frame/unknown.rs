//! Frames of unknown or extension types (RFC 9113 §4.1, §5.5).

use bytes::{BufMut, Bytes, BytesMut};
use core::fmt;

use super::head::{Head, put_head};
use super::{EncodeError, FrameType, StreamId, limit};

/// A frame whose type RFC 9113 does not define.
///
/// §5.5: "Implementations MUST ignore unknown or unsupported values in all
/// extensible protocol elements", so the codec hands such frames up intact
/// (the connection layer drops them, or an extension interprets them). Unlike
/// the known types, the raw flags octet is kept: its meaning is the
/// extension's business, and re-encoding must reproduce it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    /// The type octet; never one of 0x0..=0x9.
    pub frame_type: u8,
    /// The raw flags octet.
    pub flags: u8,
    /// The stream identifier, reserved bit removed.
    pub stream_id: StreamId,
    /// The payload, a zero-copy view of the input.
    pub payload: Bytes,
}

impl Unknown {
    pub(crate) fn decode(head: &Head, payload: Bytes) -> Unknown {
        Unknown {
            frame_type: head.frame_type.to_u8(),
            flags: head.flags,
            stream_id: head.stream_id,
            payload,
        }
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        let frame_type = FrameType::from_u8(self.frame_type);
        if frame_type.is_known() {
            return Err(EncodeError::KnownType(self.frame_type));
        }
        if self.payload.len() > limit(max_frame_size) {
            return Err(EncodeError::FrameTooLarge {
                frame_type,
                length: self.payload.len(),
                max: max_frame_size,
            });
        }
        dst.reserve(super::HEADER_LEN + self.payload.len());
        put_head(
            dst,
            self.payload.len(),
            frame_type,
            self.flags,
            self.stream_id,
        );
        dst.put_slice(&self.payload);
        Ok(())
    }
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UNKNOWN type={:#04x} flags={:#04x} stream={} len={}",
            self.frame_type,
            self.flags,
            self.stream_id,
            self.payload.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_are_refused() {
        let mut buf = BytesMut::new();
        let frame = Unknown {
            frame_type: 0x9,
            flags: 0,
            stream_id: StreamId::ZERO,
            payload: Bytes::new(),
        };
        assert_eq!(
            frame.encode(&mut buf, 16_384),
            Err(EncodeError::KnownType(9))
        );
        let frame = Unknown {
            frame_type: 0xf0,
            flags: 0xff,
            ..frame
        };
        frame.encode(&mut buf, 16_384).unwrap();
        assert_eq!(&buf[..], b"\x00\x00\x00\xf0\xff\x00\x00\x00\x00");
    }
}
