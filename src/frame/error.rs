//! Decode and encode errors.
//!
//! A [`FrameError`] is what the decoder reports when the peer broke an RFC 9113
//! rule. It carries everything the connection layer needs to react: the
//! [`Scope`] (tear the connection down with GOAWAY, or reset one stream with
//! RST_STREAM), the [`Reason`] to send, and a [`Violation`] saying exactly what
//! was detected.
//!
//! An [`EncodeError`] is caller misuse on the send side: a frame this crate
//! would refuse to decode, or one that does not fit the peer's maximum frame
//! size. Nothing is written when encoding fails.

use core::fmt;

use super::{Frame, FrameType, Reason, StreamId};

/// Whether an error ends the connection or only one stream (RFC 9113 §5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A connection error (§5.4.1): send GOAWAY with the reason and close.
    Connection,
    /// A stream error (§5.4.2): send RST_STREAM on this stream and carry on.
    Stream(StreamId),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Connection => f.write_str("connection"),
            Scope::Stream(id) => write!(f, "stream {id}"),
        }
    }
}

/// The specific rule a received frame broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// The Length field exceeds the local SETTINGS_MAX_FRAME_SIZE (§4.2).
    #[error("frame length {length} exceeds the maximum frame size {max}")]
    FrameTooLarge {
        /// The declared payload length.
        length: u32,
        /// The local maximum frame size in force.
        max: u32,
    },
    /// A frame type that must be on a stream arrived on stream 0.
    #[error("{0} frame on stream 0")]
    StreamIdZero(FrameType),
    /// A frame type that must be on stream 0 arrived on another stream.
    #[error("{frame_type} frame on stream {stream_id}, must be on stream 0")]
    StreamIdNonZero {
        /// The offending frame's type.
        frame_type: FrameType,
        /// The stream it arrived on.
        stream_id: StreamId,
    },
    /// A fixed-length frame (PRIORITY 5, RST_STREAM 4, PING 8, WINDOW_UPDATE 4)
    /// has another length.
    #[error("{frame_type} frame length {length}, must be {expected}")]
    WrongLength {
        /// The offending frame's type.
        frame_type: FrameType,
        /// The declared payload length.
        length: u32,
        /// The only valid length for this type.
        expected: u32,
    },
    /// The payload is too short for the fields its type and flags require
    /// (Pad Length, priority fields, Promised Stream ID, GOAWAY fixed fields).
    #[error("{frame_type} frame length {length}, needs at least {min}")]
    TooShort {
        /// The offending frame's type.
        frame_type: FrameType,
        /// The declared payload length.
        length: u32,
        /// The smallest length the flags allow.
        min: u32,
    },
    /// The Pad Length is at least as long as what remains of the payload (§6.1,
    /// §6.2, §6.6).
    #[error("{frame_type} pad length {pad_length} exceeds the {available} octets left")]
    PaddingTooLong {
        /// The offending frame's type.
        frame_type: FrameType,
        /// The Pad Length field.
        pad_length: u8,
        /// Octets left after the Pad Length field and fixed fields.
        available: u32,
    },
    /// A SETTINGS payload length is not a multiple of 6 (§6.5).
    #[error("SETTINGS length {0} is not a multiple of 6")]
    SettingsLength(u32),
    /// A SETTINGS frame with the ACK flag has a payload (§6.5).
    #[error("SETTINGS ACK with a {0}-octet payload")]
    SettingsAckWithPayload(u32),
    /// A SETTINGS value is outside its §6.5.2 range.
    #[error("SETTINGS identifier {id:#x} has invalid value {value}")]
    InvalidSettingValue {
        /// The setting identifier.
        id: u16,
        /// The rejected value.
        value: u32,
    },
    /// A HEADERS or PRIORITY frame makes a stream depend on itself (§5.3.1).
    #[error("{0} frame makes the stream depend on itself")]
    SelfDependency(FrameType),
    /// A WINDOW_UPDATE has a Window Size Increment of 0 (§6.9).
    #[error("WINDOW_UPDATE increment of 0")]
    ZeroWindowIncrement,
    /// A PUSH_PROMISE promises stream 0, which can never be opened (§5.1.1).
    #[error("PUSH_PROMISE promises stream 0")]
    PromisedStreamIdZero,
    /// A field block was not finished: a HEADERS or PUSH_PROMISE without
    /// END_HEADERS must be followed by CONTINUATION on the same stream (§6.2,
    /// §6.10), but another frame arrived.
    #[error("expected CONTINUATION on stream {expected}, got {frame_type} on stream {stream_id}")]
    ExpectedContinuation {
        /// The stream whose field block is open.
        expected: StreamId,
        /// The type of the frame that arrived instead.
        frame_type: FrameType,
        /// The stream of the frame that arrived instead.
        stream_id: StreamId,
    },
    /// A CONTINUATION frame arrived with no field block open (§6.10).
    #[error("CONTINUATION on stream {0} without an open field block")]
    UnexpectedContinuation(StreamId),
    /// The connection did not start with the client connection preface (§3.4).
    #[error("invalid connection preface")]
    InvalidPreface,
}

/// A received frame broke an RFC 9113 rule.
///
/// On a [`Scope::Stream`] error the decoder has consumed the offending frame,
/// so the caller resets that stream and keeps decoding. On a
/// [`Scope::Connection`] error the connection is unusable: the caller sends
/// GOAWAY with [`reason`](Self::reason) and stops; what the decoder consumed
/// is then unspecified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{scope} error {reason}: {violation}")]
pub struct FrameError {
    scope: Scope,
    reason: Reason,
    violation: Violation,
    frame: Option<Box<Frame>>,
}

impl FrameError {
    /// A connection error.
    pub fn connection(reason: Reason, violation: Violation) -> FrameError {
        FrameError {
            scope: Scope::Connection,
            reason,
            violation,
            frame: None,
        }
    }

    /// A stream error on `stream_id`.
    pub fn stream(stream_id: StreamId, reason: Reason, violation: Violation) -> FrameError {
        FrameError {
            scope: Scope::Stream(stream_id),
            reason,
            violation,
            frame: None,
        }
    }

    pub(crate) fn with_frame(mut self, frame: Frame) -> FrameError {
        self.frame = Some(Box::new(frame));
        self
    }

    /// Connection or stream scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The error code to send in GOAWAY or RST_STREAM.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// What exactly was wrong.
    pub fn violation(&self) -> Violation {
        self.violation
    }

    /// True for connection errors.
    pub fn is_connection_error(&self) -> bool {
        self.scope == Scope::Connection
    }

    /// The stream to reset, for stream errors.
    pub fn stream_id(&self) -> Option<StreamId> {
        match self.scope {
            Scope::Stream(id) => Some(id),
            Scope::Connection => None,
        }
    }

    /// The offending frame, when the connection must still process part of it
    /// despite the stream error. Today that is a HEADERS frame with a
    /// self-dependency (§5.3.1): the stream is reset, but its field block must
    /// still go through HPACK or the compression context desynchronises
    /// (§4.3).
    pub fn frame(&self) -> Option<&Frame> {
        self.frame.as_deref()
    }

    /// Takes the offending frame out; see [`frame`](Self::frame).
    pub fn into_frame(self) -> Option<Frame> {
        self.frame.map(|f| *f)
    }
}

/// A frame could not be encoded. Nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The frame does not fit the peer's maximum frame size and its type
    /// cannot be split (only field blocks can continue in CONTINUATION).
    #[error("{frame_type} payload of {length} octets exceeds the maximum frame size {max}")]
    FrameTooLarge {
        /// The frame's type.
        frame_type: FrameType,
        /// The payload length it would need.
        length: usize,
        /// The maximum frame size given to the encoder.
        max: u32,
    },
    /// The frame type must be sent on a stream, not stream 0.
    #[error("{0} frame on stream 0")]
    StreamIdZero(FrameType),
    /// The frame type must be sent on stream 0.
    #[error("{0} frame must be on stream 0")]
    StreamIdNonZero(FrameType),
    /// A priority block names the frame's own stream as its dependency.
    #[error("{0} frame makes the stream depend on itself")]
    SelfDependency(FrameType),
    /// A WINDOW_UPDATE increment must be in 1..=2^31-1.
    #[error("WINDOW_UPDATE increment {0} outside 1..=2^31-1")]
    InvalidWindowIncrement(u32),
    /// PUSH_PROMISE must promise a non-zero stream.
    #[error("PUSH_PROMISE promises stream 0")]
    PromisedStreamIdZero,
    /// An [`Unknown`](super::Unknown) frame must not use a type RFC 9113 defines.
    #[error("unknown-frame type {0:#04x} is a defined frame type")]
    KnownType(u8),
    /// A settings value is outside its RFC 9113 §6.5.2 range.
    #[error("SETTINGS identifier {id:#x} has invalid value {value}")]
    InvalidSettingValue {
        /// The setting identifier.
        id: u16,
        /// The rejected value.
        value: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_scope_reason_and_violation() {
        let e = FrameError::stream(
            StreamId::new(3),
            Reason::PROTOCOL_ERROR,
            Violation::ZeroWindowIncrement,
        );
        assert_eq!(
            e.to_string(),
            "stream 3 error PROTOCOL_ERROR: WINDOW_UPDATE increment of 0"
        );
        assert_eq!(e.stream_id(), Some(StreamId::new(3)));
        assert!(!e.is_connection_error());
        assert!(e.frame().is_none());

        let e = FrameError::connection(
            Reason::FRAME_SIZE_ERROR,
            Violation::FrameTooLarge {
                length: 20000,
                max: 16384,
            },
        );
        assert_eq!(
            e.to_string(),
            "connection error FRAME_SIZE_ERROR: frame length 20000 exceeds the maximum frame size 16384"
        );
        assert_eq!(e.stream_id(), None);
    }
}
