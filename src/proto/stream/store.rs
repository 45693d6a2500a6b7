//! Live streams by id, and a bounded memory of closed ones.
//!
//! Every state change goes through [`Store::transition`], which keeps the
//! per-initiator active counts (for MAX_CONCURRENT_STREAMS) exact and moves a
//! stream to the closed memory once it is closed and holds no received data
//! the application has yet to release.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;

use super::state::{CloseCause, Direction, Fault, Input, StreamState, Verdict, transition};
use crate::frame::StreamId;
use crate::proto::flow::RecvWindow;
use crate::proto::validate::BodyLength;
use crate::sched::IdMap;

/// Where the receiving side of a stream is in its message (RFC 9113 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvPhase {
    /// Waiting for the request (server) or response (client) headers;
    /// a client may see informational responses first.
    Head,
    /// Final headers received: DATA and then trailers may follow.
    Body,
}

/// The receive side and bookkeeping of one stream (the send side lives in `sched`).
#[derive(Debug)]
pub(crate) struct Stream {
    /// Its id.
    pub id: StreamId,
    /// Its RFC 9113 §5.1 state, as the frames on the wire have it.
    pub state: StreamState,
    /// Receive window and release accounting.
    pub recv: RecvWindow,
    /// DATA received against content-length.
    pub body: BodyLength,
    /// What the next received header block must be.
    pub phase: RecvPhase,
    /// The application queued the stream's first HEADERS (request or final response).
    pub headers_queued: bool,
    /// The application queued END_STREAM or trailers.
    pub end_queued: bool,
    /// A request we sent was HEAD: the response has no body whatever content-length says.
    pub head_request: bool,
    /// Counted in the active streams of its initiator.
    counted: bool,
    /// One of ours whose HEADERS are queued, not yet on the wire.
    dispatched: bool,
}

impl Stream {
    /// A new idle stream.
    pub(crate) fn new(id: StreamId, recv_window: u32) -> Self {
        Stream {
            id,
            state: StreamState::Idle,
            recv: RecvWindow::new(recv_window),
            body: BodyLength::default(),
            phase: RecvPhase::Head,
            headers_queued: false,
            end_queued: false,
            head_request: false,
            counted: false,
            dispatched: false,
        }
    }
}

/// Streams of one connection.
#[derive(Debug)]
pub(crate) struct Store {
    streams: IdMap<Stream>,
    closed: IdMap<CloseCause>,
    closed_order: VecDeque<StreamId>,
    max_closed: usize,
    counts: Counts,
    is_server: bool,
}

/// Stream counts against the concurrency limits.
#[derive(Debug, Default)]
struct Counts {
    /// Active streams we opened / the peer opened (§5.1.2).
    active_local: usize,
    active_remote: usize,
    /// Our own streams whose HEADERS are queued but not yet on the wire: they
    /// count toward the peer's limit already.
    dispatched_local: usize,
}

impl Counts {
    /// Moves `stream` (ours if `local`) to `next`, keeping the counts exact.
    fn apply(&mut self, stream: &mut Stream, local: bool, next: StreamState) {
        stream.state = next;
        let active = next.is_active();
        if active == stream.counted {
            return;
        }
        stream.counted = active;
        let count = if local {
            &mut self.active_local
        } else {
            &mut self.active_remote
        };
        if active {
            *count += 1;
        } else {
            *count -= 1;
        }
        if active && stream.dispatched {
            // Its HEADERS went out: it moves from dispatched to active.
            stream.dispatched = false;
            self.dispatched_local -= 1;
        }
    }
}

impl Store {
    /// An empty store remembering up to `max_closed` closed streams.
    pub(crate) fn new(is_server: bool, max_closed: usize) -> Self {
        Store {
            streams: IdMap::default(),
            closed: IdMap::default(),
            closed_order: VecDeque::new(),
            max_closed,
            counts: Counts::default(),
            is_server,
        }
    }

    fn is_local(&self, id: StreamId) -> bool {
        id.is_server_initiated() == self.is_server
    }

    /// Adds a new idle stream.
    pub(crate) fn insert(&mut self, stream: Stream) {
        self.streams.insert(stream.id, stream);
    }

    /// A live stream.
    pub(crate) fn get(&self, id: StreamId) -> Option<&Stream> {
        self.streams.get(&id)
    }

    /// A live stream, mutably.
    pub(crate) fn get_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        self.streams.get_mut(&id)
    }

    /// How a remembered closed stream closed.
    pub(crate) fn closed_cause(&self, id: StreamId) -> Option<CloseCause> {
        self.closed.get(&id).copied()
    }

    /// Applies a frame to a live stream's state. `None` if the stream is not
    /// live. A stream that closes stays until the caller, done with the
    /// frame, calls [`free_if_done`](Store::free_if_done).
    pub(crate) fn transition(
        &mut self,
        id: StreamId,
        dir: Direction,
        input: Input,
    ) -> Option<Result<Verdict, Fault>> {
        let local = self.is_local(id);
        let stream = self.streams.get_mut(&id)?;
        let result = transition(stream.state, dir, input);
        if let Ok(Verdict::Apply(next)) = result {
            self.counts.apply(stream, local, next);
        }
        Some(result)
    }

    /// Sets a live stream's state, keeping the active counts exact (callers
    /// free it with [`free_if_done`](Store::free_if_done) when done).
    pub(crate) fn set_state(&mut self, id: StreamId, next: StreamState) {
        let local = self.is_local(id);
        if let Some(stream) = self.streams.get_mut(&id) {
            self.counts.apply(stream, local, next);
        }
    }

    /// Frees a closed stream once the application released all its data.
    pub(crate) fn free_if_done(&mut self, id: StreamId) {
        let Entry::Occupied(entry) = self.streams.entry(id) else {
            return;
        };
        let s = entry.get();
        if !(s.state.is_closed() && s.recv.unreleased() == 0) {
            return;
        }
        if let StreamState::Closed(cause) = entry.remove().state {
            self.remember(id, cause);
        }
    }

    /// Removes a stream whatever its state (its HEADERS never went out, or the
    /// connection is ending). Returns it.
    pub(crate) fn remove(&mut self, id: StreamId) -> Option<Stream> {
        let stream = self.streams.remove(&id)?;
        if stream.dispatched {
            self.counts.dispatched_local -= 1;
        }
        if stream.counted {
            if self.is_local(id) {
                self.counts.active_local -= 1;
            } else {
                self.counts.active_remote -= 1;
            }
        }
        Some(stream)
    }

    /// Remembers a closed stream (the oldest memory goes when full).
    pub(crate) fn remember(&mut self, id: StreamId, cause: CloseCause) {
        if self.max_closed == 0 {
            return;
        }
        if self.closed.insert(id, cause).is_none() {
            self.closed_order.push_back(id);
        }
        while self.closed_order.len() > self.max_closed {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
    }

    /// Counts one of our streams whose HEADERS were queued toward the peer's
    /// concurrency limit, until it goes active or is removed.
    pub(crate) fn dispatch(&mut self, id: StreamId) {
        if let Some(stream) = self.streams.get_mut(&id)
            && !stream.dispatched
        {
            stream.dispatched = true;
            self.counts.dispatched_local += 1;
        }
    }

    /// Our streams counting against the peer's MAX_CONCURRENT_STREAMS.
    pub(crate) fn local_in_use(&self) -> usize {
        self.counts.active_local + self.counts.dispatched_local
    }

    /// Active streams the peer opened (against our MAX_CONCURRENT_STREAMS).
    pub(crate) fn active_remote(&self) -> usize {
        self.counts.active_remote
    }

    /// Live streams.
    pub(crate) fn len(&self) -> usize {
        self.streams.len()
    }

    /// No live streams.
    pub(crate) fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Closed streams remembered.
    pub(crate) fn closed_len(&self) -> usize {
        self.closed.len()
    }

    /// Ids of live streams.
    pub(crate) fn ids(&self) -> Vec<StreamId> {
        self.streams.keys().copied().collect()
    }

    /// Iterates over live streams.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Stream> {
        self.streams.values()
    }

    /// Iterates over live streams, mutably.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.streams.values_mut()
    }
}
