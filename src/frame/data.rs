//! DATA frames (RFC 9113 §6.1).

use bytes::{BufMut, Bytes, BytesMut};
use core::fmt;

use super::head::{Head, flags, put_head};
use super::{EncodeError, FrameError, FrameType, StreamId, limit, strip_padding};

/// A DATA frame: a chunk of a stream's content (RFC 9113 §6.1).
///
/// `data` is a zero-copy view into the buffer the frame was decoded from.
/// Padding octets are dropped on decode (their content carries no meaning);
/// only their count survives in `pad_length`, because the whole frame payload
/// counts against flow control (see [`Data::flow_controlled_len`]). The
/// encoder writes padding as zeros, as §6.1 requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data {
    /// The stream the data belongs to; never 0.
    pub stream_id: StreamId,
    /// The application data.
    pub data: Bytes,
    /// END_STREAM flag: this is the last frame the sender sends on the stream.
    pub end_stream: bool,
    /// `Some(n)` when the PADDED flag is set, with `n` octets of padding.
    pub pad_length: Option<u8>,
}

impl Data {
    /// An unpadded DATA frame.
    pub fn new(stream_id: StreamId, data: impl Into<Bytes>, end_stream: bool) -> Data {
        Data {
            stream_id,
            data: data.into(),
            end_stream,
            pad_length: None,
        }
    }

    /// The frame payload length on the wire: data, padding and the Pad
    /// Length field. This is what counts against the flow-control windows
    /// (RFC 9113 §6.1, §6.9.1).
    pub fn flow_controlled_len(&self) -> usize {
        self.data.len() + self.pad_overhead()
    }

    fn pad_overhead(&self) -> usize {
        self.pad_length.map_or(0, |p| 1 + usize::from(p))
    }

    fn flags(&self) -> u8 {
        super::end_stream_padded_flags(self.end_stream, self.pad_length.is_some())
    }

    pub(crate) fn decode(head: &Head, mut payload: Bytes) -> Result<Data, FrameError> {
        let pad_length = strip_padding(FrameType::Data, head, &mut payload, 0)?;
        Ok(Data {
            stream_id: head.stream_id,
            data: payload,
            end_stream: head.has(flags::END_STREAM),
            pad_length,
        })
    }

    fn check(&self, max_frame_size: u32) -> Result<(), EncodeError> {
        if self.stream_id.is_zero() {
            return Err(EncodeError::StreamIdZero(FrameType::Data));
        }
        let length = self.flow_controlled_len();
        if length > limit(max_frame_size) {
            return Err(EncodeError::FrameTooLarge {
                frame_type: FrameType::Data,
                length,
                max: max_frame_size,
            });
        }
        Ok(())
    }

    /// Appends the whole frame (header, data, padding) to `dst`.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        self.check(max_frame_size)?;
        dst.reserve(super::HEADER_LEN + self.flow_controlled_len());
        self.put_head(dst);
        dst.put_slice(&self.data);
        self.encode_padding(dst);
        Ok(())
    }

    /// Appends only what precedes the data: the 9-octet frame header and, if
    /// padded, the Pad Length octet.
    ///
    /// For vectored writes: write these octets, then `self.data` itself (no
    /// copy), then [`encode_padding`](Self::encode_padding). The three parts
    /// together are exactly what [`encode`](Self::encode) writes.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use h2proto::frame::{Data, StreamId};
    /// let frame = Data { pad_length: Some(2), ..Data::new(StreamId::new(1), "hi", true) };
    /// let (mut head, mut tail) = (BytesMut::new(), BytesMut::new());
    /// frame.encode_head(&mut head, 16_384).unwrap();
    /// frame.encode_padding(&mut tail);
    /// assert_eq!(head.len(), 10);
    /// assert_eq!(tail.len(), 2);
    /// let mut whole = BytesMut::new();
    /// frame.encode(&mut whole, 16_384).unwrap();
    /// assert_eq!(whole, [&head[..], &frame.data[..], &tail[..]].concat());
    /// ```
    pub fn encode_head(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        self.check(max_frame_size)?;
        self.put_head(dst);
        Ok(())
    }

    /// Appends the padding octets (zeros) that follow the data, if any.
    pub fn encode_padding(&self, dst: &mut BytesMut) {
        if let Some(p) = self.pad_length {
            dst.put_bytes(0, usize::from(p));
        }
    }

    fn put_head(&self, dst: &mut BytesMut) {
        let length = self.flow_controlled_len();
        put_head(dst, length, FrameType::Data, self.flags(), self.stream_id);
        if let Some(p) = self.pad_length {
            dst.put_u8(p);
        }
    }
}

impl fmt::Display for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DATA stream={} len={}", self.stream_id, self.data.len())?;
        if let Some(p) = self.pad_length {
            write!(f, " pad={p}")?;
        }
        if self.end_stream {
            f.write_str(" END_STREAM")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Decoder, Frame, Reason, Violation};

    #[test]
    fn padded_data_round_trip() {
        let frame = Data {
            pad_length: Some(3),
            ..Data::new(StreamId::new(5), "abc", false)
        };
        let mut buf = BytesMut::new();
        frame.encode(&mut buf, 16_384).unwrap();
        assert_eq!(
            &buf[..],
            b"\x00\x00\x07\x00\x08\x00\x00\x00\x05\x03abc\x00\x00\x00"
        );
        assert_eq!(frame.flow_controlled_len(), 7);
        let got = Decoder::new().decode(&mut buf).unwrap();
        assert_eq!(got, Some(Frame::Data(frame)));
        assert!(buf.is_empty());
    }

    #[test]
    fn padding_may_fill_everything_but_the_pad_length_octet() {
        // length 4, pad length 3: zero data octets, which is valid.
        let mut buf = BytesMut::from(&b"\x00\x00\x04\x00\x08\x00\x00\x00\x01\x03\x00\x00\x00"[..]);
        let Some(Frame::Data(d)) = Decoder::new().decode(&mut buf).unwrap() else {
            panic!("expected DATA");
        };
        assert!(d.data.is_empty());
        assert_eq!(d.pad_length, Some(3));
        // pad length 4 in a 4-octet payload is too much.
        let mut buf = BytesMut::from(&b"\x00\x00\x04\x00\x08\x00\x00\x00\x01\x04\x00\x00\x00"[..]);
        let err = Decoder::new().decode(&mut buf).unwrap_err();
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(matches!(err.violation(), Violation::PaddingTooLong { .. }));
    }

    #[test]
    fn encoder_rejects_oversize_and_stream_zero() {
        let big = Data::new(StreamId::new(1), vec![0; 100], false);
        let mut buf = BytesMut::new();
        assert!(matches!(
            big.encode(&mut buf, 99),
            Err(EncodeError::FrameTooLarge { .. })
        ));
        let zero = Data::new(StreamId::ZERO, "x", false);
        assert_eq!(
            zero.encode(&mut buf, 16_384),
            Err(EncodeError::StreamIdZero(FrameType::Data))
        );
        assert!(buf.is_empty(), "nothing written on error");
    }
}
