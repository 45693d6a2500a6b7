//! RST_STREAM frames (RFC 9113 §6.4).

use bytes::{BufMut, BytesMut};
use core::fmt;

use super::head::{Head, put_head};
use super::{EncodeError, FrameError, FrameType, Reason, StreamId, Violation, limit};

const LEN: usize = 4;

/// An RST_STREAM frame: immediate termination of a stream (RFC 9113 §6.4).
/// It defines no flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstStream {
    /// The stream to terminate; never 0.
    pub stream_id: StreamId,
    /// Why the stream is terminated; unknown codes are kept as they are.
    pub error_code: Reason,
}

impl RstStream {
    /// An RST_STREAM frame.
    pub fn new(stream_id: StreamId, error_code: Reason) -> RstStream {
        RstStream {
            stream_id,
            error_code,
        }
    }

    pub(crate) fn decode(head: &Head, payload: &[u8]) -> Result<RstStream, FrameError> {
        // §6.4: "An RST_STREAM frame with a length other than 4 octets MUST be
        // treated as a connection error (Section 5.4.1) of type
        // FRAME_SIZE_ERROR."
        let code: [u8; LEN] = payload.try_into().map_err(|_| {
            FrameError::connection(
                Reason::FRAME_SIZE_ERROR,
                Violation::WrongLength {
                    frame_type: FrameType::RstStream,
                    length: head.length,
                    expected: LEN as u32,
                },
            )
        })?;
        Ok(RstStream {
            stream_id: head.stream_id,
            error_code: Reason::new(u32::from_be_bytes(code)),
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        if self.stream_id.is_zero() {
            return Err(EncodeError::StreamIdZero(FrameType::RstStream));
        }
        if LEN > limit(max_frame_size) {
            return Err(EncodeError::FrameTooLarge {
                frame_type: FrameType::RstStream,
                length: LEN,
                max: max_frame_size,
            });
        }
        dst.reserve(super::HEADER_LEN + LEN);
        put_head(dst, LEN, FrameType::RstStream, 0, self.stream_id);
        dst.put_u32(self.error_code.code());
        Ok(())
    }
}

impl fmt::Display for RstStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RST_STREAM stream={} error_code={}",
            self.stream_id, self.error_code
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        let mut buf = BytesMut::new();
        RstStream::new(StreamId::new(3), Reason::CANCEL)
            .encode(&mut buf, 16_384)
            .unwrap();
        assert_eq!(
            &buf[..],
            b"\x00\x00\x04\x03\x00\x00\x00\x00\x03\x00\x00\x00\x08"
        );
    }
}
