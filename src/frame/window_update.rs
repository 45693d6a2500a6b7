//! WINDOW_UPDATE frames (RFC 9113 §6.9).

use bytes::{BufMut, BytesMut};
use core::fmt;

use super::head::{Head, put_head};
use super::{EncodeError, FrameError, FrameType, Reason, StreamId, Violation, limit};

const LEN: usize = 4;

/// A WINDOW_UPDATE frame: flow-control credit for a stream, or for the whole
/// connection on stream 0 (RFC 9113 §6.9). It defines no flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowUpdate {
    /// The stream, or 0 for the connection window.
    pub stream_id: StreamId,
    /// The credit in octets, 1..=2^31-1 (the reserved high bit is dropped).
    pub window_size_increment: u32,
}

impl WindowUpdate {
    /// A WINDOW_UPDATE frame.
    pub fn new(stream_id: StreamId, window_size_increment: u32) -> WindowUpdate {
        WindowUpdate {
            stream_id,
            window_size_increment,
        }
    }

    pub(crate) fn decode(head: &Head, payload: &[u8]) -> Result<WindowUpdate, FrameError> {
        // §6.9: "A WINDOW_UPDATE frame with a length other than 4 octets MUST
        // be treated as a connection error of type FRAME_SIZE_ERROR."
        let octets: [u8; LEN] = payload.try_into().map_err(|_| {
            FrameError::connection(
                Reason::FRAME_SIZE_ERROR,
                Violation::WrongLength {
                    frame_type: FrameType::WindowUpdate,
                    length: head.length,
                    expected: LEN as u32,
                },
            )
        })?;
        let window_size_increment = u32::from_be_bytes(octets) & 0x7fff_ffff;
        if window_size_increment == 0 {
            // §6.9: a stream error on a stream; "errors on the connection
            // flow-control window MUST be treated as a connection error".
            let v = Violation::ZeroWindowIncrement;
            return Err(if head.stream_id.is_zero() {
                FrameError::connection(Reason::PROTOCOL_ERROR, v)
            } else {
                FrameError::stream(head.stream_id, Reason::PROTOCOL_ERROR, v)
            });
        }
        Ok(WindowUpdate {
            stream_id: head.stream_id,
            window_size_increment,
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        if self.window_size_increment == 0 || self.window_size_increment > StreamId::MAX.value() {
            return Err(EncodeError::InvalidWindowIncrement(
                self.window_size_increment,
            ));
        }
        if LEN > limit(max_frame_size) {
            return Err(EncodeError::FrameTooLarge {
                frame_type: FrameType::WindowUpdate,
                length: LEN,
                max: max_frame_size,
            });
        }
        dst.reserve(super::HEADER_LEN + LEN);
        put_head(dst, LEN, FrameType::WindowUpdate, 0, self.stream_id);
        dst.put_u32(self.window_size_increment);
        Ok(())
    }
}

impl fmt::Display for WindowUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WINDOW_UPDATE stream={} increment={}",
            self.stream_id, self.window_size_increment
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increment_range_is_checked_on_encode() {
        let mut buf = BytesMut::new();
        for bad in [0, 1 << 31] {
            assert_eq!(
                WindowUpdate::new(StreamId::ZERO, bad).encode(&mut buf, 16_384),
                Err(EncodeError::InvalidWindowIncrement(bad))
            );
        }
        WindowUpdate::new(StreamId::new(1), (1 << 31) - 1)
            .encode(&mut buf, 16_384)
            .unwrap();
        assert_eq!(
            &buf[..],
            b"\x00\x00\x04\x08\x00\x00\x00\x00\x01\x7f\xff\xff\xff"
        );
    }
}
