//! PING frames (RFC 9113 §6.7).

use bytes::{BufMut, BytesMut};
use core::fmt;

use super::head::{Head, flags, put_head};
use super::{EncodeError, FrameError, FrameType, Reason, Violation, limit};

const LEN: usize = 8;

/// A PING frame: round-trip measurement and liveness check (RFC 9113 §6.7).
/// Always on stream 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ping {
    /// ACK flag: this PING is a response and echoes the request's data.
    pub ack: bool,
    /// Eight octets of opaque data, echoed back in the ACK.
    pub opaque_data: [u8; 8],
}

impl Ping {
    /// A PING request.
    pub fn new(opaque_data: [u8; 8]) -> Ping {
        Ping {
            ack: false,
            opaque_data,
        }
    }

    /// A PING response that echoes `opaque_data`.
    pub fn ack(opaque_data: [u8; 8]) -> Ping {
        Ping {
            ack: true,
            opaque_data,
        }
    }

    pub(crate) fn decode(head: &Head, payload: &[u8]) -> Result<Ping, FrameError> {
        // §6.7: "Receipt of a PING frame with a length field value other than
        // 8 MUST be treated as a connection error of type FRAME_SIZE_ERROR."
        let opaque_data: [u8; LEN] = payload.try_into().map_err(|_| {
            FrameError::connection(
                Reason::FRAME_SIZE_ERROR,
                Violation::WrongLength {
                    frame_type: FrameType::Ping,
                    length: head.length,
                    expected: LEN as u32,
                },
            )
        })?;
        Ok(Ping {
            ack: head.has(flags::ACK),
            opaque_data,
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        if LEN > limit(max_frame_size) {
            return Err(EncodeError::FrameTooLarge {
                frame_type: FrameType::Ping,
                length: LEN,
                max: max_frame_size,
            });
        }
        let f = if self.ack { flags::ACK } else { 0 };
        dst.reserve(super::HEADER_LEN + LEN);
        put_head(dst, LEN, FrameType::Ping, f, super::StreamId::ZERO);
        dst.put_slice(&self.opaque_data);
        Ok(())
    }
}

impl fmt::Display for Ping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PING opaque_data={:#018x}",
            u64::from_be_bytes(self.opaque_data)
        )?;
        if self.ack {
            f.write_str(" ACK")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_wire_format() {
        let mut buf = BytesMut::new();
        Ping::ack(*b"12345678").encode(&mut buf, 16_384).unwrap();
        assert_eq!(&buf[..], b"\x00\x00\x08\x06\x01\x00\x00\x00\x0012345678");
    }
}
