//! HEADERS frames (RFC 9113 §6.2).

use bytes::{Bytes, BytesMut};
use core::fmt;

use super::continuation::FieldBlock;
use super::head::{Head, flags};
use super::priority::{PrioritySpec, SPEC_LEN};
use super::{EncodeError, FrameError, FrameType, Reason, StreamId, Violation, strip_padding};

/// A HEADERS frame: opens a stream and carries the first fragment of a field
/// block (RFC 9113 §6.2).
///
/// `field_block_fragment` is a zero-copy view of the input. When the encoder
/// is given a fragment larger than the peer's maximum frame size it writes
/// this HEADERS frame with the first part and CONTINUATION frames with the
/// rest; END_HEADERS goes on the last of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    /// The stream; never 0.
    pub stream_id: StreamId,
    /// The priority fields, present when the PRIORITY flag is set.
    pub priority: Option<PrioritySpec>,
    /// The (first) fragment of the HPACK-encoded field block.
    pub field_block_fragment: Bytes,
    /// END_STREAM flag: the field block is the last thing sent on the stream.
    pub end_stream: bool,
    /// END_HEADERS flag: the field block is complete in this frame.
    pub end_headers: bool,
    /// `Some(n)` when the PADDED flag is set, with `n` octets of padding.
    pub pad_length: Option<u8>,
}

impl Headers {
    /// A HEADERS frame without priority or padding.
    pub fn new(
        stream_id: StreamId,
        field_block_fragment: impl Into<Bytes>,
        end_stream: bool,
        end_headers: bool,
    ) -> Headers {
        Headers {
            stream_id,
            priority: None,
            field_block_fragment: field_block_fragment.into(),
            end_stream,
            end_headers,
            pad_length: None,
        }
    }

    pub(crate) fn decode(head: &Head, mut payload: Bytes) -> Result<Headers, FrameError> {
        let has_priority = head.has(flags::PRIORITY);
        let fixed = if has_priority { SPEC_LEN } else { 0 };
        let pad_length = strip_padding(FrameType::Headers, head, &mut payload, fixed)?;
        let priority = if has_priority {
            // strip_padding checked that `fixed` octets are there.
            Some(PrioritySpec::take(&mut payload).ok_or_else(|| too_short(head, fixed))?)
        } else {
            None
        };
        let frame = Headers {
            stream_id: head.stream_id,
            priority,
            field_block_fragment: payload,
            end_stream: head.has(flags::END_STREAM),
            end_headers: head.has(flags::END_HEADERS),
            pad_length,
        };
        if priority.is_some_and(|p| p.stream_dependency == head.stream_id) {
            // §5.3.1: a stream error. The frame travels with the error because
            // its field block must still reach HPACK (§4.3).
            return Err(FrameError::stream(
                head.stream_id,
                Reason::PROTOCOL_ERROR,
                Violation::SelfDependency(FrameType::Headers),
            )
            .with_frame(frame.into()));
        }
        Ok(frame)
    }

    fn flags(&self) -> u8 {
        let mut f = super::end_stream_padded_flags(self.end_stream, self.pad_length.is_some());
        if self.priority.is_some() {
            f |= flags::PRIORITY;
        }
        f
    }

    /// Appends the frame to `dst`, followed by CONTINUATION frames if the
    /// fragment does not fit in `max_frame_size` (the peer's
    /// SETTINGS_MAX_FRAME_SIZE). Padding and priority go in the HEADERS frame.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        if self.stream_id.is_zero() {
            return Err(EncodeError::StreamIdZero(FrameType::Headers));
        }
        if self
            .priority
            .is_some_and(|p| p.stream_dependency == self.stream_id)
        {
            return Err(EncodeError::SelfDependency(FrameType::Headers));
        }
        // Pad Length, then the priority fields: at most 1 + 5 octets.
        let mut prefix = [0u8; 1 + SPEC_LEN];
        let mut n = 0;
        let spec = self.priority.map(PrioritySpec::to_bytes);
        for octet in self
            .pad_length
            .into_iter()
            .chain(spec.into_iter().flatten())
        {
            if let Some(slot) = prefix.get_mut(n) {
                *slot = octet;
                n += 1;
            }
        }
        FieldBlock {
            frame_type: FrameType::Headers,
            flags: self.flags(),
            stream_id: self.stream_id,
            prefix: prefix.get(..n).unwrap_or_default(),
            fragment: &self.field_block_fragment,
            padding: self.pad_length.map_or(0, usize::from),
            end_headers: self.end_headers,
        }
        .encode(dst, max_frame_size)
    }
}

fn too_short(head: &Head, fixed: usize) -> FrameError {
    FrameError::connection(
        Reason::FRAME_SIZE_ERROR,
        Violation::TooShort {
            frame_type: head.frame_type,
            length: head.length,
            min: fixed as u32,
        },
    )
}

impl fmt::Display for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HEADERS stream={} fragment={}B",
            self.stream_id,
            self.field_block_fragment.len()
        )?;
        if let Some(p) = self.priority {
            write!(f, " {p}")?;
        }
        if let Some(p) = self.pad_length {
            write!(f, " pad={p}")?;
        }
        if self.end_stream {
            f.write_str(" END_STREAM")?;
        }
        if self.end_headers {
            f.write_str(" END_HEADERS")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Decoder, Frame};

    fn sample() -> Headers {
        Headers {
            priority: Some(PrioritySpec {
                exclusive: true,
                stream_dependency: StreamId::new(1),
                weight: 15,
            }),
            pad_length: Some(2),
            ..Headers::new(StreamId::new(3), &b"\x82\x86\x84"[..], true, true)
        }
    }

    #[test]
    fn padded_priority_headers_wire_format() {
        let mut buf = BytesMut::new();
        sample().encode(&mut buf, 16_384).unwrap();
        assert_eq!(
            &buf[..],
            b"\x00\x00\x0b\x01\x2d\x00\x00\x00\x03\x02\x80\x00\x00\x01\x0f\x82\x86\x84\x00\x00"
        );
        assert_eq!(
            Decoder::new().decode(&mut buf).unwrap(),
            Some(Frame::Headers(sample()))
        );
    }

    #[test]
    fn split_keeps_padding_and_priority_in_first_frame() {
        let frame = Headers {
            field_block_fragment: Bytes::from(vec![7u8; 20]),
            ..sample()
        };
        let mut buf = BytesMut::new();
        // first frame: 1 + 5 + 2 padding = 8 fixed octets + 2 fragment octets
        frame.encode(&mut buf, 10).unwrap();
        let mut dec = Decoder::new();
        let Some(Frame::Headers(h)) = dec.decode(&mut buf).unwrap() else {
            panic!()
        };
        assert_eq!(h.field_block_fragment.len(), 2);
        assert!(!h.end_headers && h.end_stream);
        assert_eq!(
            (h.priority, h.pad_length),
            (frame.priority, frame.pad_length)
        );
        let mut rest = Vec::new();
        while let Some(Frame::Continuation(c)) = dec.decode(&mut buf).unwrap() {
            assert!(c.field_block_fragment.len() <= 10);
            rest.extend_from_slice(&c.field_block_fragment);
        }
        assert_eq!(rest.len(), 18);
        assert!(buf.is_empty());
    }

    #[test]
    fn fixed_fields_larger_than_max_are_an_encode_error() {
        let mut buf = BytesMut::new();
        let err = sample().encode(&mut buf, 7).unwrap_err();
        assert!(matches!(
            err,
            EncodeError::FrameTooLarge {
                frame_type: FrameType::Headers,
                ..
            }
        ));
        assert!(buf.is_empty());
    }
}
