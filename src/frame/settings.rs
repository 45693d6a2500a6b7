//! SETTINGS frames (RFC 9113 §6.5).
//!
//! A SETTINGS frame keeps its validated payload as [`Bytes`] and yields its
//! entries through an iterator, in the order they were sent: §6.5.3 requires
//! values to be processed in order, and a later value for the same identifier
//! overrides an earlier one. Decoding allocates nothing.

use bytes::{BufMut, Bytes, BytesMut};
use core::fmt;

use super::head::{Head, flags, put_head};
use super::{EncodeError, FrameError, FrameType, Reason, StreamId, Violation, limit};

/// Octets per setting entry: a 16-bit identifier and a 32-bit value.
pub const ENTRY_LEN: usize = 6;

/// One setting from a SETTINGS frame (RFC 9113 §6.5.2).
///
/// Values of the known settings are range-checked on decode and by the
/// builder; unknown identifiers are kept with their raw value (§6.5.2: an
/// endpoint "MUST ignore a setting with an unknown or unsupported identifier",
/// which the connection layer does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setting {
    /// SETTINGS_HEADER_TABLE_SIZE (0x1): the HPACK dynamic table size limit.
    HeaderTableSize(u32),
    /// SETTINGS_ENABLE_PUSH (0x2): whether server push is allowed (0 or 1).
    EnablePush(bool),
    /// SETTINGS_MAX_CONCURRENT_STREAMS (0x3).
    MaxConcurrentStreams(u32),
    /// SETTINGS_INITIAL_WINDOW_SIZE (0x4): at most 2^31-1.
    InitialWindowSize(u32),
    /// SETTINGS_MAX_FRAME_SIZE (0x5): 2^14..=2^24-1.
    MaxFrameSize(u32),
    /// SETTINGS_MAX_HEADER_LIST_SIZE (0x6): advisory field-section size limit.
    MaxHeaderListSize(u32),
    /// Any other identifier, kept as sent.
    Unknown {
        /// The identifier.
        id: u16,
        /// The value.
        value: u32,
    },
}

impl Setting {
    /// Identifier of SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// Identifier of SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// Identifier of SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// Identifier of SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// Identifier of SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// Identifier of SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;

    /// Interprets an identifier/value pair, checking the §6.5.2 ranges.
    ///
    /// On a bad value, returns the error code §6.5.2 prescribes (a connection
    /// error): PROTOCOL_ERROR for ENABLE_PUSH other than 0/1 and for
    /// MAX_FRAME_SIZE outside 2^14..=2^24-1, FLOW_CONTROL_ERROR for
    /// INITIAL_WINDOW_SIZE above 2^31-1.
    pub fn from_id(id: u16, value: u32) -> Result<Setting, Reason> {
        Ok(match id {
            Self::HEADER_TABLE_SIZE => Setting::HeaderTableSize(value),
            Self::ENABLE_PUSH => match value {
                0 => Setting::EnablePush(false),
                1 => Setting::EnablePush(true),
                _ => return Err(Reason::PROTOCOL_ERROR),
            },
            Self::MAX_CONCURRENT_STREAMS => Setting::MaxConcurrentStreams(value),
            Self::INITIAL_WINDOW_SIZE if value > StreamId::MAX.value() => {
                return Err(Reason::FLOW_CONTROL_ERROR);
            }
            Self::INITIAL_WINDOW_SIZE => Setting::InitialWindowSize(value),
            Self::MAX_FRAME_SIZE
                if !(super::DEFAULT_MAX_FRAME_SIZE..=super::MAX_MAX_FRAME_SIZE)
                    .contains(&value) =>
            {
                return Err(Reason::PROTOCOL_ERROR);
            }
            Self::MAX_FRAME_SIZE => Setting::MaxFrameSize(value),
            Self::MAX_HEADER_LIST_SIZE => Setting::MaxHeaderListSize(value),
            id => Setting::Unknown { id, value },
        })
    }

    /// The identifier.
    pub fn id(&self) -> u16 {
        match *self {
            Setting::HeaderTableSize(_) => Self::HEADER_TABLE_SIZE,
            Setting::EnablePush(_) => Self::ENABLE_PUSH,
            Setting::MaxConcurrentStreams(_) => Self::MAX_CONCURRENT_STREAMS,
            Setting::InitialWindowSize(_) => Self::INITIAL_WINDOW_SIZE,
            Setting::MaxFrameSize(_) => Self::MAX_FRAME_SIZE,
            Setting::MaxHeaderListSize(_) => Self::MAX_HEADER_LIST_SIZE,
            Setting::Unknown { id, .. } => id,
        }
    }

    /// The value as sent on the wire.
    pub fn value(&self) -> u32 {
        match *self {
            Setting::HeaderTableSize(v)
            | Setting::MaxConcurrentStreams(v)
            | Setting::InitialWindowSize(v)
            | Setting::MaxFrameSize(v)
            | Setting::MaxHeaderListSize(v)
            | Setting::Unknown { value: v, .. } => v,
            Setting::EnablePush(on) => u32::from(on),
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Setting::HeaderTableSize(_) => "HEADER_TABLE_SIZE",
            Setting::EnablePush(_) => "ENABLE_PUSH",
            Setting::MaxConcurrentStreams(_) => "MAX_CONCURRENT_STREAMS",
            Setting::InitialWindowSize(_) => "INITIAL_WINDOW_SIZE",
            Setting::MaxFrameSize(_) => "MAX_FRAME_SIZE",
            Setting::MaxHeaderListSize(_) => "MAX_HEADER_LIST_SIZE",
            Setting::Unknown { id, value } => return write!(f, "{id:#06x}={value}"),
        };
        write!(f, "{name}={}", self.value())
    }
}

/// A SETTINGS frame (RFC 9113 §6.5): either an acknowledgement (no entries) or
/// a list of settings, in the order sent. Always on stream 0.
///
/// ```
/// use h2proto::frame::{Setting, Settings};
/// let settings = Settings::builder()
///     .max_concurrent_streams(100)
///     .initial_window_size(1 << 20)
///     .build()
///     .unwrap();
/// assert_eq!(settings.len(), 2);
/// let entries: Vec<Setting> = settings.iter().collect();
/// assert_eq!(
///     entries,
///     [Setting::MaxConcurrentStreams(100), Setting::InitialWindowSize(1 << 20)]
/// );
/// assert!(Settings::ack().is_ack());
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Settings {
    ack: bool,
    /// Validated entries, `ENTRY_LEN` octets each; empty when `ack`.
    payload: Bytes,
}

impl Settings {
    /// A SETTINGS frame with the ACK flag and no payload.
    pub fn ack() -> Settings {
        Settings {
            ack: true,
            payload: Bytes::new(),
        }
    }

    /// A builder for a SETTINGS frame to send.
    pub fn builder() -> SettingsBuilder {
        SettingsBuilder::default()
    }

    /// True for an acknowledgement.
    pub fn is_ack(&self) -> bool {
        self.ack
    }

    /// The number of entries. A peer may repeat identifiers; each repetition
    /// counts.
    pub fn len(&self) -> usize {
        self.payload.len() / ENTRY_LEN
    }

    /// True when the frame has no entries (always so for an ACK).
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }

    /// The entries, in the order sent.
    pub fn iter(&self) -> SettingsIter<'_> {
        SettingsIter {
            rest: &self.payload,
        }
    }

    /// The validated payload as it appears on the wire.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    pub(crate) fn decode(head: &Head, payload: Bytes) -> Result<Settings, FrameError> {
        let ack = head.has(flags::ACK);
        // §6.5: "Receipt of a SETTINGS frame with the ACK flag set and a length
        // field value other than 0 MUST be treated as a connection error of
        // type FRAME_SIZE_ERROR."
        if ack && head.length != 0 {
            return Err(FrameError::connection(
                Reason::FRAME_SIZE_ERROR,
                Violation::SettingsAckWithPayload(head.length),
            ));
        }
        // §6.5: "A SETTINGS frame with a length other than a multiple of 6
        // octets MUST be treated as a connection error of type FRAME_SIZE_ERROR."
        if !payload.len().is_multiple_of(ENTRY_LEN) {
            return Err(FrameError::connection(
                Reason::FRAME_SIZE_ERROR,
                Violation::SettingsLength(head.length),
            ));
        }
        for (id, value) in raw_entries(&payload) {
            Setting::from_id(id, value).map_err(|reason| {
                FrameError::connection(reason, Violation::InvalidSettingValue { id, value })
            })?;
        }
        Ok(Settings { ack, payload })
    }

    /// Appends the frame to `dst`. A SETTINGS frame cannot be split, so more
    /// entries than fit in `max_frame_size` is an error.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_size: u32) -> Result<(), EncodeError> {
        if self.payload.len() > limit(max_frame_size) {
            return Err(EncodeError::FrameTooLarge {
                frame_type: FrameType::Settings,
                length: self.payload.len(),
                max: max_frame_size,
            });
        }
        let f = if self.ack { flags::ACK } else { 0 };
        dst.reserve(super::HEADER_LEN + self.payload.len());
        put_head(
            dst,
            self.payload.len(),
            FrameType::Settings,
            f,
            StreamId::ZERO,
        );
        dst.put_slice(&self.payload);
        Ok(())
    }
}

/// Raw (identifier, value) pairs of a payload; a trailing partial entry is
/// ignored (callers validate the length first).
fn raw_entries(payload: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    payload.chunks_exact(ENTRY_LEN).filter_map(parse_entry)
}

/// Splits one 6-octet entry into identifier and value; `None` if `entry` is
/// not exactly 6 octets.
fn parse_entry(entry: &[u8]) -> Option<(u16, u32)> {
    let [a, b, c, d, e, f] = <[u8; ENTRY_LEN]>::try_from(entry).ok()?;
    Some((u16::from_be_bytes([a, b]), u32::from_be_bytes([c, d, e, f])))
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("ack", &self.ack)
            .field("entries", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SETTINGS")?;
        if self.ack {
            return f.write_str(" ACK");
        }
        for s in self.iter() {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Settings {
    type Item = Setting;
    type IntoIter = SettingsIter<'a>;
    fn into_iter(self) -> SettingsIter<'a> {
        self.iter()
    }
}

/// Iterator over the entries of a [`Settings`] frame, in wire order.
#[derive(Clone, Debug)]
pub struct SettingsIter<'a> {
    rest: &'a [u8],
}

impl Iterator for SettingsIter<'_> {
    type Item = Setting;

    fn next(&mut self) -> Option<Setting> {
        let (entry, rest) = self.rest.split_at_checked(ENTRY_LEN)?;
        self.rest = rest;
        let (id, value) = parse_entry(entry)?;
        // Entries were validated when the frame was built or decoded, so
        // `from_id` cannot fail here; fall back to the raw pair regardless.
        Some(Setting::from_id(id, value).unwrap_or(Setting::Unknown { id, value }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / ENTRY_LEN;
        (n, Some(n))
    }
}

impl ExactSizeIterator for SettingsIter<'_> {}

/// Builds a [`Settings`] frame to send; entries keep the order they are added in.
#[derive(Clone, Debug, Default)]
pub struct SettingsBuilder {
    payload: BytesMut,
}

impl SettingsBuilder {
    /// Appends any setting.
    pub fn push(mut self, setting: Setting) -> SettingsBuilder {
        self.payload.reserve(ENTRY_LEN);
        self.payload.put_u16(setting.id());
        self.payload.put_u32(setting.value());
        self
    }

    /// Appends SETTINGS_HEADER_TABLE_SIZE.
    pub fn header_table_size(self, value: u32) -> SettingsBuilder {
        self.push(Setting::HeaderTableSize(value))
    }

    /// Appends SETTINGS_ENABLE_PUSH.
    pub fn enable_push(self, on: bool) -> SettingsBuilder {
        self.push(Setting::EnablePush(on))
    }

    /// Appends SETTINGS_MAX_CONCURRENT_STREAMS.
    pub fn max_concurrent_streams(self, value: u32) -> SettingsBuilder {
        self.push(Setting::MaxConcurrentStreams(value))
    }

    /// Appends SETTINGS_INITIAL_WINDOW_SIZE (must be at most 2^31-1).
    pub fn initial_window_size(self, value: u32) -> SettingsBuilder {
        self.push(Setting::InitialWindowSize(value))
    }

    /// Appends SETTINGS_MAX_FRAME_SIZE (must be in 2^14..=2^24-1).
    pub fn max_frame_size(self, value: u32) -> SettingsBuilder {
        self.push(Setting::MaxFrameSize(value))
    }

    /// Appends SETTINGS_MAX_HEADER_LIST_SIZE.
    pub fn max_header_list_size(self, value: u32) -> SettingsBuilder {
        self.push(Setting::MaxHeaderListSize(value))
    }

    /// Finishes the frame, checking every value against §6.5.2 so that a peer
    /// following the RFC will accept it.
    pub fn build(self) -> Result<Settings, EncodeError> {
        for (id, value) in raw_entries(&self.payload) {
            Setting::from_id(id, value)
                .map_err(|_| EncodeError::InvalidSettingValue { id, value })?;
        }
        Ok(Settings {
            ack: false,
            payload: self.payload.freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Decoder, Frame};

    #[test]
    fn order_and_repeats_are_kept() {
        let s = Settings::builder()
            .push(Setting::Unknown { id: 0x8, value: 1 })
            .max_frame_size(1 << 15)
            .max_frame_size(1 << 14)
            .enable_push(false)
            .build()
            .unwrap();
        let mut buf = BytesMut::new();
        s.encode(&mut buf, 16_384).unwrap();
        assert_eq!(buf.len(), 9 + 4 * 6);
        let Some(Frame::Settings(got)) = Decoder::new().decode(&mut buf).unwrap() else {
            panic!("expected SETTINGS")
        };
        assert_eq!(got.len(), 4);
        let v: Vec<_> = got.iter().collect();
        assert_eq!(
            v,
            [
                Setting::Unknown { id: 0x8, value: 1 },
                Setting::MaxFrameSize(1 << 15),
                Setting::MaxFrameSize(1 << 14),
                Setting::EnablePush(false)
            ]
        );
        assert_eq!(
            got.to_string(),
            "SETTINGS 0x0008=1 MAX_FRAME_SIZE=32768 MAX_FRAME_SIZE=16384 ENABLE_PUSH=0"
        );
    }

    #[test]
    fn builder_rejects_out_of_range_values() {
        assert_eq!(
            Settings::builder().initial_window_size(1 << 31).build(),
            Err(EncodeError::InvalidSettingValue {
                id: 4,
                value: 1 << 31
            })
        );
        assert!(
            Settings::builder()
                .max_frame_size((1 << 14) - 1)
                .build()
                .is_err()
        );
        assert!(
            Settings::builder()
                .push(Setting::Unknown { id: 2, value: 2 })
                .build()
                .is_err()
        );
        assert!(
            Settings::builder()
                .max_frame_size((1 << 24) - 1)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn setting_id_value_round_trip() {
        for id in 0..=8u16 {
            for value in [0, 1, 1 << 14, (1 << 24) - 1, (1 << 31) - 1] {
                if let Ok(s) = Setting::from_id(id, value) {
                    assert_eq!((s.id(), s.value()), (id, value));
                }
            }
        }
    }
}
