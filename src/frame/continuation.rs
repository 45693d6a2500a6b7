//! CONTINUATION frames (RFC 9113 §6.10) and the field-block splitter that
//! HEADERS and PUSH_PROMISE share.

use bytes::{BufMut, Bytes, BytesMut};
use core::fmt;

use super::head::{Head, flags, put_head};
use super::{EncodeError, FrameType, StreamId, limit};

/// A CONTINUATION frame: the next fragment of a field block (RFC 9113 §6.10).
///
/// The decoder checks the §6.10 sequencing rule: a CONTINUATION must follow a
/// HEADERS, PUSH_PROMISE or CONTINUATION on the same stream without
/// END_HEADERS, and nothing else may come in between. Reassembling the block
/// is the connection layer's job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continuation {
    /// The stream of the field block being continued; never 0.
    pub stream_id: StreamId,
    /// This fragment of the field block, a zero-copy view of the input.
    pub field_block_fragment: Bytes,
    /// END_HEADERS flag: this fragment ends the field block.
    pub end_headers: bool,
}

impl Continuation {
    pub(crate) fn decode(head: &Head, payload: Bytes) -> Continuation {
        Continuation {
            stream_id: head.stream_id,
            field_block_fragment: payload,
            end_headers: head.has(flags::END_HEADERS),
        }
    }

    /// Appends the frame to `dst`. A fragment larger than `max_frame_size` is
    /// itself split into several CONTINUATION frames; only the last carries
    /// END_HEADERS, and only if `end_headers` is set.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        if self.stream_id.is_zero() {
            return Err(EncodeError::StreamIdZero(FrameType::Continuation));
        }
        FieldBlock {
            frame_type: FrameType::Continuation,
            flags: 0,
            stream_id: self.stream_id,
            prefix: &[],
            fragment: &self.field_block_fragment,
            padding: 0,
            end_headers: self.end_headers,
        }
        .encode(dst, max_frame_size)
    }
}

impl fmt::Display for Continuation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CONTINUATION stream={} fragment={}B",
            self.stream_id,
            self.field_block_fragment.len()
        )?;
        if self.end_headers {
            f.write_str(" END_HEADERS")?;
        }
        Ok(())
    }
}

/// A field-block-carrying frame laid out for encoding, split into the first
/// frame plus as many CONTINUATION frames as the maximum frame size requires.
pub(crate) struct FieldBlock<'a> {
    /// HEADERS, PUSH_PROMISE or CONTINUATION.
    pub frame_type: FrameType,
    /// Flags of the first frame, without END_HEADERS (added here when due).
    pub flags: u8,
    pub stream_id: StreamId,
    /// Octets between the frame header and the fragment: Pad Length, priority
    /// fields, Promised Stream ID.
    pub prefix: &'a [u8],
    pub fragment: &'a [u8],
    /// Padding octets after the fragment in the first frame.
    pub padding: usize,
    /// Whether the field block ends with this frame sequence.
    pub end_headers: bool,
}

impl FieldBlock<'_> {
    pub(super) fn encode(
        &self,
        dst: &mut BytesMut,
        max_frame_size: u32,
    ) -> Result<(), EncodeError> {
        let max = limit(max_frame_size);
        let overhead = self.prefix.len() + self.padding;
        // The first frame must at least hold its fixed fields and padding.
        let Some(room) = max.checked_sub(overhead) else {
            return Err(EncodeError::FrameTooLarge {
                frame_type: self.frame_type,
                length: overhead + self.fragment.len(),
                max: max_frame_size,
            });
        };
        let (first, mut rest) = self.fragment.split_at(self.fragment.len().min(room));
        let continuations = rest.len().div_ceil(max);
        dst.reserve(super::HEADER_LEN * (1 + continuations) + overhead + self.fragment.len());

        let mut first_flags = self.flags;
        if rest.is_empty() && self.end_headers {
            first_flags |= flags::END_HEADERS;
        }
        put_head(
            dst,
            overhead + first.len(),
            self.frame_type,
            first_flags,
            self.stream_id,
        );
        dst.put_slice(self.prefix);
        dst.put_slice(first);
        dst.put_bytes(0, self.padding);

        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(max));
            rest = tail;
            let f = if rest.is_empty() && self.end_headers {
                flags::END_HEADERS
            } else {
                0
            };
            put_head(dst, chunk.len(), FrameType::Continuation, f, self.stream_id);
            dst.put_slice(chunk);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Decoder, Frame};

    #[test]
    fn oversize_continuation_splits_into_continuations() {
        let frame = Continuation {
            stream_id: StreamId::new(1),
            field_block_fragment: Bytes::from_static(b"0123456789"),
            end_headers: true,
        };
        let mut buf = BytesMut::new();
        frame.encode(&mut buf, 4).unwrap();
        assert_eq!(buf.len(), 3 * 9 + 10);
        // A decoder must see a field block open before CONTINUATION frames.
        let mut dec = Decoder::new();
        let mut open = BytesMut::new();
        crate::frame::Headers::new(StreamId::new(1), Bytes::new(), false, false)
            .encode(&mut open, 16_384)
            .unwrap();
        assert!(matches!(dec.decode(&mut open), Ok(Some(Frame::Headers(_)))));
        let mut got = Vec::new();
        let mut ends = Vec::new();
        while let Some(Frame::Continuation(c)) = dec.decode(&mut buf).unwrap() {
            got.extend_from_slice(&c.field_block_fragment);
            ends.push(c.end_headers);
        }
        assert_eq!(got, b"0123456789");
        assert_eq!(ends, [false, false, true]);
        assert_eq!(dec.expecting_continuation(), None);
    }
}
