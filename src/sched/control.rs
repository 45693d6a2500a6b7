//! The control queue: frames that go out before any DATA (grpc-go's controlBuffer).
//!
//! Unlike grpc-go's, this queue is bounded by construction and counts its items
//! by kind. Items we owe the peer in *response* to something it sent (SETTINGS
//! ACK, PING ACK, RST_STREAM caused by its errors) are counted apart: a peer
//! that floods PINGs or SETTINGS but does not read our answers makes that count
//! grow, and the connection stops reading input (back-pressure) and finally
//! closes with ENHANCE_YOUR_CALM instead of growing memory without limit.

use std::collections::VecDeque;

use crate::frame::{GoAway, Ping, RstStream, Settings, StreamId, WindowUpdate};
use crate::hpack::HeaderField;

/// Capacity kept once the queue drained; past it the drained queue frees its
/// memory. Ordinary traffic never reallocates; a burst does not pin its
/// memory for the connection's life.
const KEEP_CAPACITY: usize = 64;

/// One frame waiting in the control queue.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ControlItem {
    /// The client connection preface magic (RFC 9113 §3.4).
    Preface,
    /// Our SETTINGS.
    Settings(Settings),
    /// An acknowledgement of the peer's SETTINGS.
    SettingsAck,
    /// A PING or a PING ACK.
    Ping(Ping),
    /// RST_STREAM.
    Reset(RstStream),
    /// WINDOW_UPDATE for a stream or the connection.
    WindowUpdate(WindowUpdate),
    /// GOAWAY.
    GoAway(GoAway),
    /// A HEADERS block that opens a stream or carries response headers; it is
    /// HPACK-encoded when written, so the compression state follows wire order.
    Headers {
        /// The stream.
        stream_id: StreamId,
        /// The fields, pseudo-header fields first.
        fields: Vec<HeaderField>,
        /// END_STREAM flag.
        end_stream: bool,
    },
}

/// Kinds of control items, for counting and introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ControlKind {
    /// [`ControlItem::Preface`]
    Preface,
    /// [`ControlItem::Settings`]
    Settings,
    /// [`ControlItem::SettingsAck`]
    SettingsAck,
    /// [`ControlItem::Ping`] that is not an ACK.
    Ping,
    /// [`ControlItem::Ping`] that is an ACK.
    PingAck,
    /// [`ControlItem::Reset`]
    Reset,
    /// [`ControlItem::WindowUpdate`]
    WindowUpdate,
    /// [`ControlItem::GoAway`]
    GoAway,
    /// [`ControlItem::Headers`]
    Headers,
}

impl ControlKind {
    /// Every kind, in counting order.
    pub(crate) const ALL: [ControlKind; 9] = [
        ControlKind::Preface,
        ControlKind::Settings,
        ControlKind::SettingsAck,
        ControlKind::Ping,
        ControlKind::PingAck,
        ControlKind::Reset,
        ControlKind::WindowUpdate,
        ControlKind::GoAway,
        ControlKind::Headers,
    ];
}

impl ControlItem {
    /// The kind of this item.
    pub(crate) fn kind(&self) -> ControlKind {
        match self {
            ControlItem::Preface => ControlKind::Preface,
            ControlItem::Settings(_) => ControlKind::Settings,
            ControlItem::SettingsAck => ControlKind::SettingsAck,
            ControlItem::Ping(p) if p.ack => ControlKind::PingAck,
            ControlItem::Ping(_) => ControlKind::Ping,
            ControlItem::Reset(_) => ControlKind::Reset,
            ControlItem::WindowUpdate(_) => ControlKind::WindowUpdate,
            ControlItem::GoAway(_) => ControlKind::GoAway,
            ControlItem::Headers { .. } => ControlKind::Headers,
        }
    }
}

/// A queued item and whether the peer's own behaviour made us owe it.
#[derive(Debug)]
struct Entry {
    item: ControlItem,
    response: bool,
}

/// The control queue.
#[derive(Debug, Default)]
pub(crate) struct ControlQueue {
    items: VecDeque<Entry>,
    counts: [usize; ControlKind::ALL.len()],
    responses: usize,
    high_water: usize,
}

impl ControlQueue {
    /// An empty queue.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Queues an item the local side chose to send (our SETTINGS, PING,
    /// HEADERS, WINDOW_UPDATE, GOAWAY, an application's RST_STREAM). Their
    /// number is bounded by what the application does, which it can see.
    pub(crate) fn push(&mut self, item: ControlItem) {
        self.push_entry(Entry {
            item,
            response: false,
        });
    }

    /// Queues an item owed to the peer because of what it sent (SETTINGS ACK,
    /// PING ACK, RST_STREAM for its errors). These count toward
    /// [`responses`](ControlQueue::responses), which the connection bounds.
    pub(crate) fn push_response(&mut self, item: ControlItem) {
        self.responses += 1;
        self.push_entry(Entry {
            item,
            response: true,
        });
    }

    fn push_entry(&mut self, entry: Entry) {
        self.counts[slot(entry.item.kind())] += 1;
        self.items.push_back(entry);
        self.high_water = self.high_water.max(self.items.len());
    }

    /// Takes the oldest item.
    pub(crate) fn pop(&mut self) -> Option<ControlItem> {
        let Some(entry) = self.items.pop_front() else {
            if self.items.capacity() > KEEP_CAPACITY {
                // A burst grew the queue: give the memory back once it drained.
                self.items = VecDeque::new();
            }
            return None;
        };
        self.counts[slot(entry.item.kind())] -= 1;
        if entry.response {
            self.responses -= 1;
        }
        Some(entry.item)
    }

    /// Drops every queued item that `keep` rejects (for example the HEADERS and
    /// WINDOW_UPDATEs of a stream that was reset before they went out).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&ControlItem) -> bool) {
        let counts = &mut self.counts;
        let responses = &mut self.responses;
        self.items.retain(|entry| {
            let kept = keep(&entry.item);
            if !kept {
                counts[slot(entry.item.kind())] -= 1;
                if entry.response {
                    *responses -= 1;
                }
            }
            kept
        });
    }

    /// Items queued.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items queued because of what the peer sent.
    pub(crate) fn responses(&self) -> usize {
        self.responses
    }

    /// Items of one kind queued.
    pub(crate) fn count(&self, kind: ControlKind) -> usize {
        self.counts[slot(kind)]
    }

    /// The most items ever queued at once.
    pub(crate) fn high_water(&self) -> usize {
        self.high_water
    }
}

fn slot(kind: ControlKind) -> usize {
    kind as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Reason;

    #[test]
    fn counts_follow_pushes_pops_and_retain() {
        let mut q = ControlQueue::new();
        q.push(ControlItem::Preface);
        q.push_response(ControlItem::Ping(Ping::ack([1; 8])));
        q.push_response(ControlItem::SettingsAck);
        q.push_response(ControlItem::Reset(RstStream::new(
            StreamId::new(3),
            Reason::CANCEL,
        )));
        q.push(ControlItem::Ping(Ping::new([2; 8])));
        assert_eq!(q.len(), 5);
        assert_eq!(q.responses(), 3);
        assert_eq!(q.count(ControlKind::PingAck), 1);
        assert_eq!(q.count(ControlKind::Ping), 1);
        assert_eq!(q.pop(), Some(ControlItem::Preface));
        assert_eq!(q.pop(), Some(ControlItem::Ping(Ping::ack([1; 8]))));
        assert_eq!(q.responses(), 2);
        q.retain(|item| !matches!(item, ControlItem::Reset(_)));
        assert_eq!(q.responses(), 1);
        assert_eq!(q.count(ControlKind::Reset), 0);
        assert_eq!(q.len(), 2);
        assert_eq!(q.high_water(), 5);
        let total: usize = ControlKind::ALL.iter().map(|k| q.count(*k)).sum();
        assert_eq!(total, q.len());
    }

    #[test]
    fn kinds_and_slots_agree() {
        for (i, k) in ControlKind::ALL.iter().enumerate() {
            assert_eq!(slot(*k), i);
        }
    }
}
