//! PRIORITY frames (RFC 9113 §6.3) and the priority fields HEADERS shares.
//!
//! RFC 9113 deprecates the RFC 7540 priority scheme, but a receiver must still
//! parse these fields and check their framing rules.

use bytes::{BufMut, Bytes, BytesMut};
use core::fmt;

use super::head::{Head, put_head};
use super::{EncodeError, FrameError, FrameType, Reason, StreamId, Violation, limit};

/// Length of the priority fields (Exclusive, Stream Dependency, Weight).
pub(crate) const SPEC_LEN: usize = 5;

/// The priority fields of a PRIORITY frame or of a HEADERS frame with the
/// PRIORITY flag: Exclusive, Stream Dependency and Weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PrioritySpec {
    /// Exclusive flag: the stream becomes the only child of its dependency.
    pub exclusive: bool,
    /// The stream this one depends on.
    pub stream_dependency: StreamId,
    /// The Weight field as sent; the weight is this value plus one (1..=256).
    pub weight: u8,
}

impl PrioritySpec {
    /// Parses the 5 priority octets. The caller has checked the length.
    pub(crate) fn parse(src: [u8; SPEC_LEN]) -> PrioritySpec {
        let word = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        PrioritySpec {
            exclusive: word & 0x8000_0000 != 0,
            stream_dependency: StreamId::new(word),
            weight: src[4],
        }
    }

    /// Reads the 5 priority octets from the front of `payload`, if present.
    pub(crate) fn take(payload: &mut Bytes) -> Option<PrioritySpec> {
        let octets: [u8; SPEC_LEN] = payload.get(..SPEC_LEN)?.try_into().ok()?;
        let _ = payload.split_to(SPEC_LEN);
        Some(PrioritySpec::parse(octets))
    }

    /// The 5 octets on the wire.
    pub(crate) fn to_bytes(self) -> [u8; SPEC_LEN] {
        let mut word = self.stream_dependency.value();
        if self.exclusive {
            word |= 0x8000_0000;
        }
        let w = word.to_be_bytes();
        [w[0], w[1], w[2], w[3], self.weight]
    }
}

impl fmt::Display for PrioritySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "depends_on={}{} weight={}",
            self.stream_dependency,
            if self.exclusive { " exclusive" } else { "" },
            u16::from(self.weight) + 1
        )
    }
}

/// A PRIORITY frame (RFC 9113 §6.3). It defines no flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The stream whose priority is given; never 0.
    pub stream_id: StreamId,
    /// The priority fields.
    pub spec: PrioritySpec,
}

impl Priority {
    pub(crate) fn decode(head: &Head, payload: &[u8]) -> Result<Priority, FrameError> {
        // §6.3: "A PRIORITY frame with a length other than 5 octets MUST be
        // treated as a stream error (Section 5.4.2) of type FRAME_SIZE_ERROR."
        let spec = match <[u8; SPEC_LEN]>::try_from(payload) {
            Ok(octets) => PrioritySpec::parse(octets),
            Err(_) => {
                return Err(FrameError::stream(
                    head.stream_id,
                    Reason::FRAME_SIZE_ERROR,
                    Violation::WrongLength {
                        frame_type: FrameType::Priority,
                        length: head.length,
                        expected: SPEC_LEN as u32,
                    },
                ));
            }
        };
        // §5.3.1: "A stream cannot depend on itself. An endpoint MUST treat
        // this as a stream error of type PROTOCOL_ERROR."
        if spec.stream_dependency == head.stream_id {
            return Err(FrameError::stream(
                head.stream_id,
                Reason::PROTOCOL_ERROR,
                Violation::SelfDependency(FrameType::Priority),
            ));
        }
        Ok(Priority {
            stream_id: head.stream_id,
            spec,
        })
    }

    /// Appends the frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        if self.stream_id.is_zero() {
            return Err(EncodeError::StreamIdZero(FrameType::Priority));
        }
        if self.spec.stream_dependency == self.stream_id {
            return Err(EncodeError::SelfDependency(FrameType::Priority));
        }
        if SPEC_LEN > limit(max_frame_size) {
            return Err(EncodeError::FrameTooLarge {
                frame_type: FrameType::Priority,
                length: SPEC_LEN,
                max: max_frame_size,
            });
        }
        dst.reserve(super::HEADER_LEN + SPEC_LEN);
        put_head(dst, SPEC_LEN, FrameType::Priority, 0, self.stream_id);
        dst.put_slice(&self.spec.to_bytes());
        Ok(())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PRIORITY stream={} {}", self.stream_id, self.spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_octets_round_trip() {
        let spec = PrioritySpec {
            exclusive: true,
            stream_dependency: StreamId::MAX,
            weight: 255,
        };
        assert_eq!(spec.to_bytes(), [0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(PrioritySpec::parse(spec.to_bytes()), spec);
        assert_eq!(
            spec.to_string(),
            "depends_on=2147483647 exclusive weight=256"
        );
    }

    #[test]
    fn take_needs_five_octets() {
        let mut short = Bytes::from_static(&[0, 0, 0, 1]);
        assert_eq!(PrioritySpec::take(&mut short), None);
        assert_eq!(short.len(), 4, "nothing consumed");
    }
}
