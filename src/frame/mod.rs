//! HTTP/2 frame codec (RFC 9113 §4, §6).
//!
//! [`Decoder::decode`] turns the front of the caller's [`BytesMut`] into one
//! [`Frame`] at a time and checks every framing rule of RFC 9113 §4 and §6 on
//! the way; [`Frame::encode`] writes frames back. Neither does any I/O.
//!
//! - **Zero copy.** DATA payloads, field-block fragments, GOAWAY debug data and
//!   unknown payloads are [`Bytes`] views split off the input buffer. On the
//!   send side [`Data::encode_head`] writes only the 9-octet header (and Pad
//!   Length), so a scheduler can hand the payload to a vectored write.
//! - **Partial input.** `decode` returns `Ok(None)` and consumes nothing until
//!   a whole frame is buffered. A frame longer than the local
//!   SETTINGS_MAX_FRAME_SIZE is rejected as soon as its 9-octet header is in;
//!   its payload is never waited for. [`Decoder::next_frame_len`] tells the
//!   caller how much to reserve.
//! - **Typed errors.** Each violation is a [`FrameError`] with its [`Scope`]
//!   (connection, or stream with id), [`Reason`] and [`Violation`]. After a
//!   stream error the offending frame has been consumed and decoding can go on.
//! - **Lenient where the RFC says so.** Reserved bits are dropped. Flags a
//!   frame type does not define are ignored and never re-sent (§4.1): the
//!   typed frames keep only the flags their type defines, as `bool`s. Frames
//!   of unknown type ([`Unknown`]) keep their raw flags, since re-encoding
//!   one must reproduce them. Unknown SETTINGS identifiers are kept as
//!   [`Setting::Unknown`].
//!
//! ```
//! use bytes::BytesMut;
//! use h2proto::frame::{Data, Decoder, Frame, Ping, StreamId, DEFAULT_MAX_FRAME_SIZE};
//!
//! let mut wire = BytesMut::new();
//! Frame::from(Ping::new(*b"h2proto!")).encode(&mut wire, DEFAULT_MAX_FRAME_SIZE)?;
//! Data::new(StreamId::new(1), "hello", true).encode(&mut wire, DEFAULT_MAX_FRAME_SIZE)?;
//!
//! // Feed the bytes in two pieces, as a socket might deliver them.
//! let mut rx = BytesMut::from(&wire[..20]);
//! let mut decoder = Decoder::new();
//! assert!(matches!(decoder.decode(&mut rx)?, Some(Frame::Ping(p)) if !p.ack));
//! assert_eq!(decoder.decode(&mut rx)?, None); // DATA not complete yet
//! rx.extend_from_slice(&wire[20..]);
//! let Some(Frame::Data(data)) = decoder.decode(&mut rx)? else { unreachable!() };
//! assert_eq!(&data.data[..], b"hello");
//! assert!(data.end_stream && rx.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::{Buf, Bytes, BytesMut};
use core::fmt;

mod continuation;
mod data;
mod error;
mod go_away;
mod head;
mod headers;
mod ping;
mod priority;
mod push_promise;
mod reason;
mod rst_stream;
mod settings;
mod stream_id;
mod unknown;
mod window_update;

pub use continuation::Continuation;
pub use data::Data;
pub use error::{EncodeError, FrameError, Scope, Violation};
pub use go_away::GoAway;
pub use head::{DEFAULT_MAX_FRAME_SIZE, FrameType, HEADER_LEN, Head, MAX_MAX_FRAME_SIZE, flags};
pub use headers::Headers;
pub use ping::Ping;
pub use priority::{Priority, PrioritySpec};
pub use push_promise::PushPromise;
pub use reason::Reason;
pub use rst_stream::RstStream;
pub use settings::{ENTRY_LEN, Setting, Settings, SettingsBuilder, SettingsIter};
pub use stream_id::StreamId;
pub use unknown::Unknown;
pub use window_update::WindowUpdate;

/// The client connection preface (RFC 9113 §3.4), sent by the client before
/// its first SETTINGS frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Consumes the client connection preface from the front of `buf` (server
/// side).
///
/// Returns `Ok(true)` once the 24 octets were there and consumed, `Ok(false)`
/// while what has arrived is a correct but incomplete prefix (nothing
/// consumed), and a connection PROTOCOL_ERROR as soon as an octet differs
/// (§3.4).
pub fn strip_preface(buf: &mut BytesMut) -> Result<bool, FrameError> {
    let n = buf.len().min(PREFACE.len());
    if buf.get(..n) != PREFACE.get(..n) {
        return Err(FrameError::connection(
            Reason::PROTOCOL_ERROR,
            Violation::InvalidPreface,
        ));
    }
    if n < PREFACE.len() {
        return Ok(false);
    }
    buf.advance(PREFACE.len());
    Ok(true)
}

/// A decoded HTTP/2 frame of any type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// DATA (§6.1).
    Data(Data),
    /// HEADERS (§6.2).
    Headers(Headers),
    /// PRIORITY (§6.3).
    Priority(Priority),
    /// RST_STREAM (§6.4).
    RstStream(RstStream),
    /// SETTINGS (§6.5).
    Settings(Settings),
    /// PUSH_PROMISE (§6.6).
    PushPromise(PushPromise),
    /// PING (§6.7).
    Ping(Ping),
    /// GOAWAY (§6.8).
    GoAway(GoAway),
    /// WINDOW_UPDATE (§6.9).
    WindowUpdate(WindowUpdate),
    /// CONTINUATION (§6.10).
    Continuation(Continuation),
    /// A type RFC 9113 does not define (§5.5).
    Unknown(Unknown),
}

impl Frame {
    /// The frame's type.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Data(_) => FrameType::Data,
            Frame::Headers(_) => FrameType::Headers,
            Frame::Priority(_) => FrameType::Priority,
            Frame::RstStream(_) => FrameType::RstStream,
            Frame::Settings(_) => FrameType::Settings,
            Frame::PushPromise(_) => FrameType::PushPromise,
            Frame::Ping(_) => FrameType::Ping,
            Frame::GoAway(_) => FrameType::GoAway,
            Frame::WindowUpdate(_) => FrameType::WindowUpdate,
            Frame::Continuation(_) => FrameType::Continuation,
            Frame::Unknown(u) => FrameType::from_u8(u.frame_type),
        }
    }

    /// The stream the frame is on (0 for connection-level frames).
    pub fn stream_id(&self) -> StreamId {
        match self {
            Frame::Data(f) => f.stream_id,
            Frame::Headers(f) => f.stream_id,
            Frame::Priority(f) => f.stream_id,
            Frame::RstStream(f) => f.stream_id,
            Frame::PushPromise(f) => f.stream_id,
            Frame::WindowUpdate(f) => f.stream_id,
            Frame::Continuation(f) => f.stream_id,
            Frame::Unknown(f) => f.stream_id,
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => StreamId::ZERO,
        }
    }

    /// Appends the frame to `dst`, for a peer whose SETTINGS_MAX_FRAME_SIZE
    /// is `max_frame_size`.
    ///
    /// HEADERS, PUSH_PROMISE and CONTINUATION whose field block does not fit
    /// are split into CONTINUATION frames. Other frames that do not fit are an
    /// [`EncodeError::FrameTooLarge`], as is anything the decoder would reject
    /// (see [`EncodeError`]); nothing is written then. A `max_frame_size`
    /// below 1 is treated as 1 and above 2^24-1 as 2^24-1; a real peer never
    /// advertises less than 2^14.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        match self {
            Frame::Data(f) => f.encode(dst, max_frame_size),
            Frame::Headers(f) => f.encode(dst, max_frame_size),
            Frame::Priority(f) => f.encode(dst, max_frame_size),
            Frame::RstStream(f) => f.encode(dst, max_frame_size),
            Frame::Settings(f) => f.encode(dst, max_frame_size),
            Frame::PushPromise(f) => f.encode(dst, max_frame_size),
            Frame::Ping(f) => f.encode(dst, max_frame_size),
            Frame::GoAway(f) => f.encode(dst, max_frame_size),
            Frame::WindowUpdate(f) => f.encode(dst, max_frame_size),
            Frame::Continuation(f) => f.encode(dst, max_frame_size),
            Frame::Unknown(f) => f.encode(dst, max_frame_size),
        }
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Data(x) => x.fmt(f),
            Frame::Headers(x) => x.fmt(f),
            Frame::Priority(x) => x.fmt(f),
            Frame::RstStream(x) => x.fmt(f),
            Frame::Settings(x) => x.fmt(f),
            Frame::PushPromise(x) => x.fmt(f),
            Frame::Ping(x) => x.fmt(f),
            Frame::GoAway(x) => x.fmt(f),
            Frame::WindowUpdate(x) => x.fmt(f),
            Frame::Continuation(x) => x.fmt(f),
            Frame::Unknown(x) => x.fmt(f),
        }
    }
}

macro_rules! from_frame {
    ($($ty:ident),*) => {$(
        impl From<$ty> for Frame {
            fn from(f: $ty) -> Frame {
                Frame::$ty(f)
            }
        }
    )*};
}
from_frame!(
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    Unknown
);

/// Decodes frames from the front of a byte buffer.
///
/// It holds the local SETTINGS_MAX_FRAME_SIZE and whether a field block is
/// open (a HEADERS or PUSH_PROMISE without END_HEADERS was decoded and its
/// CONTINUATION frames are due, §6.10). It allocates nothing; returned frames
/// share the input buffer's memory.
///
/// ```
/// use bytes::BytesMut;
/// use h2proto::frame::{Decoder, Frame, Reason, Scope, StreamId, Violation};
///
/// let mut decoder = Decoder::new();
/// // WINDOW_UPDATE on stream 3 with increment 1000, then one with increment 0.
/// let mut buf = BytesMut::from(
///     &b"\0\0\x04\x08\0\0\0\0\x03\0\0\x03\xe8\
///        \0\0\x04\x08\0\0\0\0\x03\0\0\0\0"[..],
/// );
/// assert_eq!(decoder.next_frame_len(&buf), 13);
/// let Some(Frame::WindowUpdate(wu)) = decoder.decode(&mut buf)? else { unreachable!() };
/// assert_eq!(wu.window_size_increment, 1000);
///
/// // An increment of 0 is a stream error: reset stream 3, keep the connection.
/// let err = decoder.decode(&mut buf).unwrap_err();
/// assert_eq!(err.scope(), Scope::Stream(StreamId::new(3)));
/// assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
/// assert_eq!(err.violation(), Violation::ZeroWindowIncrement);
/// assert!(buf.is_empty()); // the bad frame was consumed
/// assert_eq!(decoder.decode(&mut buf)?, None);
/// # Ok::<(), h2proto::frame::FrameError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Decoder {
    max_frame_size: u32,
    open_field_block: Option<StreamId>,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with the initial SETTINGS_MAX_FRAME_SIZE, 2^14.
    pub fn new() -> Decoder {
        Decoder::with_max_frame_size(DEFAULT_MAX_FRAME_SIZE)
    }

    /// A decoder accepting frames up to `max_frame_size` octets of payload,
    /// clamped to the legal range 2^14..=2^24-1.
    pub fn with_max_frame_size(max_frame_size: u32) -> Decoder {
        let mut d = Decoder {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            open_field_block: None,
        };
        d.set_max_frame_size(max_frame_size);
        d
    }

    /// The largest payload accepted (the local SETTINGS_MAX_FRAME_SIZE).
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Changes the largest payload accepted, clamped to 2^14..=2^24-1. The
    /// connection calls this when the peer acknowledges a new local
    /// SETTINGS_MAX_FRAME_SIZE.
    pub fn set_max_frame_size(&mut self, max_frame_size: u32) {
        self.max_frame_size = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
    }

    /// The stream whose field block is open, if a HEADERS or PUSH_PROMISE
    /// without END_HEADERS was decoded and the CONTINUATION frames finishing
    /// it have not all arrived.
    pub fn expecting_continuation(&self) -> Option<StreamId> {
        self.open_field_block
    }

    /// The total size (header included) of the next frame in `buf`, once its
    /// 9-octet header is there; [`HEADER_LEN`] before that, or if the header
    /// declares an oversize frame (which `decode` rejects at once).
    /// `next_frame_len(buf).saturating_sub(buf.len())` is how many more
    /// octets must arrive before `decode` can make progress.
    pub fn next_frame_len(&self, buf: &[u8]) -> usize {
        match Head::parse(buf) {
            Some(head) if head.length <= self.max_frame_size => payload_end(&head),
            _ => HEADER_LEN,
        }
    }

    /// Decodes the next frame from the front of `buf`.
    ///
    /// - `Ok(None)`: no complete frame yet; nothing was consumed.
    /// - `Ok(Some(frame))`: the frame's octets were split off `buf`.
    /// - `Err(e)` with [`Scope::Stream`]: the frame was consumed; reset that
    ///   stream and keep decoding.
    /// - `Err(e)` with [`Scope::Connection`]: the connection must close with
    ///   GOAWAY; don't decode further.
    ///
    /// Checks that need only the 9-octet header (frame size, stream 0 rules,
    /// CONTINUATION sequencing) fail before the payload has arrived.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(head) = Head::parse(buf) else {
            return Ok(None);
        };
        self.check_head(&head)?;
        let end = payload_end(&head);
        if buf.len() < end {
            return Ok(None);
        }
        let result = match head.frame_type {
            // Fixed-size frames keep no payload: parse in place and skip the
            // octets, sparing a shared-buffer reference count per frame.
            FrameType::Priority
            | FrameType::RstStream
            | FrameType::Ping
            | FrameType::WindowUpdate => {
                // `buf.len() >= end` was checked above.
                let payload = buf.get(HEADER_LEN..end).unwrap_or_default();
                let result = match head.frame_type {
                    FrameType::Priority => Priority::decode(&head, payload).map(Frame::Priority),
                    FrameType::RstStream => RstStream::decode(&head, payload).map(Frame::RstStream),
                    FrameType::Ping => Ping::decode(&head, payload).map(Frame::Ping),
                    _ => WindowUpdate::decode(&head, payload).map(Frame::WindowUpdate),
                };
                buf.advance(end);
                result
            }
            _ => {
                buf.advance(HEADER_LEN);
                let payload = buf.split_to(end - HEADER_LEN).freeze();
                match head.frame_type {
                    FrameType::Data => Data::decode(&head, payload).map(Frame::Data),
                    FrameType::Headers => Headers::decode(&head, payload).map(Frame::Headers),
                    FrameType::Settings => Settings::decode(&head, payload).map(Frame::Settings),
                    FrameType::PushPromise => {
                        PushPromise::decode(&head, payload).map(Frame::PushPromise)
                    }
                    FrameType::GoAway => GoAway::decode(&head, payload).map(Frame::GoAway),
                    FrameType::Continuation => {
                        Ok(Frame::Continuation(Continuation::decode(&head, payload)))
                    }
                    _ => Ok(Frame::Unknown(Unknown::decode(&head, payload))),
                }
            }
        };
        // A stream error leaves the connection going, so the field-block state
        // must advance as if the frame had been accepted.
        if result
            .as_ref()
            .map_or_else(|e| !e.is_connection_error(), |_| true)
        {
            self.track_field_block(&head);
        }
        result.map(Some)
    }

    /// The checks that need only the frame header.
    fn check_head(&self, head: &Head) -> Result<(), FrameError> {
        // §4.2: "An endpoint MUST send an error code of FRAME_SIZE_ERROR if a
        // frame exceeds the size defined in SETTINGS_MAX_FRAME_SIZE". Always a
        // connection error here: see docs/conformance.md.
        if head.length > self.max_frame_size {
            return Err(FrameError::connection(
                Reason::FRAME_SIZE_ERROR,
                Violation::FrameTooLarge {
                    length: head.length,
                    max: self.max_frame_size,
                },
            ));
        }
        check_stream_id(head)?;
        // §6.2, §6.10: an open field block admits only CONTINUATION on its
        // stream, and CONTINUATION needs an open field block.
        match (self.open_field_block, head.frame_type) {
            (Some(open), FrameType::Continuation) if open == head.stream_id => Ok(()),
            (Some(open), frame_type) => Err(FrameError::connection(
                Reason::PROTOCOL_ERROR,
                Violation::ExpectedContinuation {
                    expected: open,
                    frame_type,
                    stream_id: head.stream_id,
                },
            )),
            (None, FrameType::Continuation) => Err(FrameError::connection(
                Reason::PROTOCOL_ERROR,
                Violation::UnexpectedContinuation(head.stream_id),
            )),
            (None, _) => Ok(()),
        }
    }

    fn track_field_block(&mut self, head: &Head) {
        let ends = head.has(flags::END_HEADERS);
        match head.frame_type {
            FrameType::Headers | FrameType::PushPromise | FrameType::Continuation => {
                self.open_field_block = if ends { None } else { Some(head.stream_id) };
            }
            _ => {}
        }
    }
}

/// Offset just past the frame's payload, header included. `length` is at most
/// 2^24-1, so this cannot overflow.
fn payload_end(head: &Head) -> usize {
    HEADER_LEN + head.length as usize
}

/// Stream identifier rules of §6: which frame types need stream 0 and which
/// must not be on it. All violations are connection PROTOCOL_ERRORs.
fn check_stream_id(head: &Head) -> Result<(), FrameError> {
    let on_zero = head.stream_id.is_zero();
    match head.frame_type {
        FrameType::Data
        | FrameType::Headers
        | FrameType::Priority
        | FrameType::RstStream
        | FrameType::PushPromise
        | FrameType::Continuation
            if on_zero =>
        {
            Err(FrameError::connection(
                Reason::PROTOCOL_ERROR,
                Violation::StreamIdZero(head.frame_type),
            ))
        }
        FrameType::Settings | FrameType::Ping | FrameType::GoAway if !on_zero => {
            Err(FrameError::connection(
                Reason::PROTOCOL_ERROR,
                Violation::StreamIdNonZero {
                    frame_type: head.frame_type,
                    stream_id: head.stream_id,
                },
            ))
        }
        _ => Ok(()),
    }
}

/// Clamps a peer's maximum frame size to what the 24-bit Length field can
/// carry, and to at least 1 so that splitting always makes progress.
pub(crate) fn limit(max_frame_size: u32) -> usize {
    max_frame_size.clamp(1, MAX_MAX_FRAME_SIZE) as usize
}

/// The flags DATA and HEADERS share (§6.1, §6.2): END_STREAM and PADDED.
pub(crate) fn end_stream_padded_flags(end_stream: bool, padded: bool) -> u8 {
    let mut f = 0;
    if end_stream {
        f |= flags::END_STREAM;
    }
    if padded {
        f |= flags::PADDED;
    }
    f
}

/// Removes the Pad Length octet and the padding from a padded payload, leaving
/// `fixed` octets of fixed fields plus the fragment or data.
///
/// Errors (both connection errors): a payload too short for the Pad Length
/// and fixed fields is a FRAME_SIZE_ERROR (§4.2, "too small to contain
/// mandatory frame data"); padding longer than what follows the fixed fields
/// is a PROTOCOL_ERROR (§6.1, §6.2, §6.6).
pub(crate) fn strip_padding(
    frame_type: FrameType,
    head: &Head,
    payload: &mut Bytes,
    fixed: usize,
) -> Result<Option<u8>, FrameError> {
    let padded = head.has(flags::PADDED);
    let min = usize::from(padded) + fixed;
    if payload.len() < min {
        return Err(FrameError::connection(
            Reason::FRAME_SIZE_ERROR,
            Violation::TooShort {
                frame_type,
                length: head.length,
                min: min as u32,
            },
        ));
    }
    if !padded {
        return Ok(None);
    }
    let Some(&pad_length) = payload.first() else {
        return Ok(None); // unreachable: payload.len() >= 1 was checked above
    };
    payload.advance(1);
    let available = payload.len() - fixed; // >= 0: checked above
    let pad = usize::from(pad_length);
    if pad > available {
        return Err(FrameError::connection(
            Reason::PROTOCOL_ERROR,
            Violation::PaddingTooLong {
                frame_type,
                pad_length,
                available: available as u32,
            },
        ));
    }
    payload.truncate(payload.len() - pad);
    Ok(Some(pad_length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preface_is_checked_incrementally() {
        let mut buf = BytesMut::from(&PREFACE[..10]);
        assert_eq!(strip_preface(&mut buf), Ok(false));
        assert_eq!(buf.len(), 10);
        buf.extend_from_slice(&PREFACE[10..]);
        buf.extend_from_slice(b"\0\0\0\x04");
        assert_eq!(strip_preface(&mut buf), Ok(true));
        assert_eq!(&buf[..], b"\0\0\0\x04");
        let mut bad = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        let err = strip_preface(&mut bad).unwrap_err();
        assert_eq!(err.violation(), Violation::InvalidPreface);
        assert!(err.is_connection_error());
    }

    #[test]
    fn oversize_header_fails_before_payload() {
        let mut d = Decoder::new();
        let mut buf = BytesMut::from(&b"\x00\x40\x01\x00\x00\x00\x00\x00\x01"[..]);
        assert_eq!(d.next_frame_len(&buf), HEADER_LEN);
        let err = d.decode(&mut buf).unwrap_err();
        assert_eq!(
            err.violation(),
            Violation::FrameTooLarge {
                length: 16_385,
                max: 16_384
            }
        );
        d.set_max_frame_size(1 << 20);
        assert_eq!(d.next_frame_len(&buf), HEADER_LEN + 16_385);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), HEADER_LEN, "nothing consumed while incomplete");
    }

    #[test]
    fn max_frame_size_is_clamped() {
        assert_eq!(Decoder::with_max_frame_size(0).max_frame_size(), 16_384);
        assert_eq!(
            Decoder::with_max_frame_size(u32::MAX).max_frame_size(),
            (1 << 24) - 1
        );
        assert_eq!(limit(0), 1);
        assert_eq!(limit(u32::MAX), (1 << 24) - 1);
    }

    #[test]
    fn frame_accessors() {
        let f = Frame::from(GoAway::new(StreamId::new(9), Reason::NO_ERROR));
        assert_eq!(
            (f.frame_type(), f.stream_id()),
            (FrameType::GoAway, StreamId::ZERO)
        );
        let u = Unknown {
            frame_type: 0x20,
            flags: 0,
            stream_id: StreamId::new(4),
            payload: Bytes::new(),
        };
        let f = Frame::from(u);
        assert_eq!(
            (f.frame_type(), f.stream_id()),
            (FrameType::Unknown(0x20), StreamId::new(4))
        );
        assert_eq!(f.to_string(), "UNKNOWN type=0x20 flags=0x00 stream=4 len=0");
    }
}
