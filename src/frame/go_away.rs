//! GOAWAY frames (RFC 9113 §6.8).

use bytes::{BufMut, Bytes, BytesMut};
use core::fmt;

use super::head::{Head, put_head};
use super::{EncodeError, FrameError, FrameType, Reason, StreamId, Violation, limit};

const FIXED_LEN: usize = 8;

/// A GOAWAY frame: the sender is shutting the connection down (RFC 9113 §6.8).
/// Always on stream 0; it defines no flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoAway {
    /// The highest peer-initiated stream the sender might have processed.
    pub last_stream_id: StreamId,
    /// Why the connection is closing.
    pub error_code: Reason,
    /// Opaque diagnostic data, a zero-copy view of the input.
    pub additional_debug_data: Bytes,
}

impl GoAway {
    /// A GOAWAY frame without debug data.
    pub fn new(last_stream_id: StreamId, error_code: Reason) -> GoAway {
        GoAway {
            last_stream_id,
            error_code,
            additional_debug_data: Bytes::new(),
        }
    }

    pub(crate) fn decode(head: &Head, mut payload: Bytes) -> Result<GoAway, FrameError> {
        // Last-Stream-ID and Error Code are mandatory: a shorter payload is
        // "too small to contain mandatory frame data" (§4.2), and GOAWAY is on
        // stream 0, so it is a connection error.
        let fixed: [u8; FIXED_LEN] = payload
            .get(..FIXED_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                FrameError::connection(
                    Reason::FRAME_SIZE_ERROR,
                    Violation::TooShort {
                        frame_type: FrameType::GoAway,
                        length: head.length,
                        min: FIXED_LEN as u32,
                    },
                )
            })?;
        let _ = payload.split_to(FIXED_LEN);
        let [a, b, c, d, e, f, g, h] = fixed;
        Ok(GoAway {
            last_stream_id: StreamId::new(u32::from_be_bytes([a, b, c, d])),
            error_code: Reason::new(u32::from_be_bytes([e, f, g, h])),
            additional_debug_data: payload,
        })
    }

    /// Appends the frame to `dst`. Debug data that does not fit the maximum
    /// frame size is an error (GOAWAY cannot be split).
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        let length = FIXED_LEN + self.additional_debug_data.len();
        if length > limit(max_frame_size) {
            return Err(EncodeError::FrameTooLarge {
                frame_type: FrameType::GoAway,
                length,
                max: max_frame_size,
            });
        }
        dst.reserve(super::HEADER_LEN + length);
        put_head(dst, length, FrameType::GoAway, 0, StreamId::ZERO);
        dst.put_u32(self.last_stream_id.value());
        dst.put_u32(self.error_code.code());
        dst.put_slice(&self.additional_debug_data);
        Ok(())
    }
}

impl fmt::Display for GoAway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GOAWAY last_stream_id={} error_code={}",
            self.last_stream_id, self.error_code
        )?;
        if !self.additional_debug_data.is_empty() {
            write!(f, " debug={:?}", self.additional_debug_data)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_masks_reserved_bit() {
        let frame = GoAway {
            additional_debug_data: Bytes::from_static(b"bye"),
            ..GoAway::new(StreamId::new(7), Reason::ENHANCE_YOUR_CALM)
        };
        let mut buf = BytesMut::new();
        frame.encode(&mut buf, 16_384).unwrap();
        assert_eq!(
            &buf[..],
            b"\x00\x00\x0b\x07\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x0bbye"
        );
        buf[9] |= 0x80; // reserved bit of Last-Stream-ID
        let got = crate::frame::Decoder::new().decode(&mut buf).unwrap();
        assert_eq!(got, Some(frame.into()));
    }
}
