//! PUSH_PROMISE frames (RFC 9113 §6.6).

use bytes::{Bytes, BytesMut};
use core::fmt;

use super::continuation::FieldBlock;
use super::head::{Head, flags};
use super::{EncodeError, FrameError, FrameType, Reason, StreamId, Violation, strip_padding};

const PROMISED_LEN: usize = 4;

/// A PUSH_PROMISE frame: the server announces a stream it will open (RFC 9113
/// §6.6), with the first fragment of the promised request's field block.
///
/// Like [`Headers`](super::Headers), a fragment larger than the peer's
/// maximum frame size is split into CONTINUATION frames by the encoder.
/// Whether the promised identifier is valid for the connection's state (§5.1.1,
/// §6.6) is the connection layer's call; the codec only rejects 0, which is
/// never valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPromise {
    /// The stream the promise is associated with; never 0.
    pub stream_id: StreamId,
    /// The stream the sender reserves.
    pub promised_stream_id: StreamId,
    /// The (first) fragment of the field block of the promised request.
    pub field_block_fragment: Bytes,
    /// END_HEADERS flag: the field block is complete in this frame.
    pub end_headers: bool,
    /// `Some(n)` when the PADDED flag is set, with `n` octets of padding.
    pub pad_length: Option<u8>,
}

impl PushPromise {
    pub(crate) fn decode(head: &Head, mut payload: Bytes) -> Result<PushPromise, FrameError> {
        let pad_length = strip_padding(FrameType::PushPromise, head, &mut payload, PROMISED_LEN)?;
        let promised: [u8; PROMISED_LEN] = payload
            .get(..PROMISED_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                // strip_padding already checked the length; kept for safety.
                FrameError::connection(
                    Reason::FRAME_SIZE_ERROR,
                    Violation::TooShort {
                        frame_type: FrameType::PushPromise,
                        length: head.length,
                        min: PROMISED_LEN as u32,
                    },
                )
            })?;
        let _ = payload.split_to(PROMISED_LEN);
        let promised_stream_id = StreamId::new(u32::from_be_bytes(promised));
        if promised_stream_id.is_zero() {
            return Err(FrameError::connection(
                Reason::PROTOCOL_ERROR,
                Violation::PromisedStreamIdZero,
            ));
        }
        Ok(PushPromise {
            stream_id: head.stream_id,
            promised_stream_id,
            field_block_fragment: payload,
            end_headers: head.has(flags::END_HEADERS),
            pad_length,
        })
    }

    /// Appends the frame to `dst`, followed by CONTINUATION frames if the
    /// fragment does not fit in `max_frame_size`.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        if self.stream_id.is_zero() {
            return Err(EncodeError::StreamIdZero(FrameType::PushPromise));
        }
        if self.promised_stream_id.is_zero() {
            return Err(EncodeError::PromisedStreamIdZero);
        }
        let id = self.promised_stream_id.value().to_be_bytes();
        let mut prefix = [0, id[0], id[1], id[2], id[3]];
        let (prefix, flags) = match self.pad_length {
            Some(p) => {
                prefix[0] = p;
                (&prefix[..], flags::PADDED)
            }
            None => (prefix.get(1..).unwrap_or_default(), 0),
        };
        FieldBlock {
            frame_type: FrameType::PushPromise,
            flags,
            stream_id: self.stream_id,
            prefix,
            fragment: &self.field_block_fragment,
            padding: self.pad_length.map_or(0, usize::from),
            end_headers: self.end_headers,
        }
        .encode(dst, max_frame_size)
    }
}

impl fmt::Display for PushPromise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PUSH_PROMISE stream={} promised={} fragment={}B",
            self.stream_id,
            self.promised_stream_id,
            self.field_block_fragment.len()
        )?;
        if let Some(p) = self.pad_length {
            write!(f, " pad={p}")?;
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
    use bytes::BytesMut;

    #[test]
    fn padded_push_promise_wire_format() {
        let frame = PushPromise {
            stream_id: StreamId::new(1),
            promised_stream_id: StreamId::new(2),
            field_block_fragment: Bytes::from_static(b"\x82"),
            end_headers: true,
            pad_length: Some(1),
        };
        let mut buf = BytesMut::new();
        frame.encode(&mut buf, 16_384).unwrap();
        assert_eq!(
            &buf[..],
            b"\x00\x00\x07\x05\x0c\x00\x00\x00\x01\x01\x00\x00\x00\x02\x82\x00"
        );
        assert_eq!(
            Decoder::new().decode(&mut buf).unwrap(),
            Some(Frame::PushPromise(frame))
        );
    }
}
