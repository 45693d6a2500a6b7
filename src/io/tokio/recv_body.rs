//! The bodies we receive: [`RecvBody`] (chunk by chunk, or collected
//! whole) and the stream guard (`RecvSide`) that resets the stream (client)
//! or discards the rest of it (server) when the body is dropped before its
//! end.

use std::fmt;
use std::future::poll_fn;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};

use super::driver::Handle;
use super::engine::{End, HttpEngine, register};
use crate::frame::StreamId;
use crate::hpack::HeaderField;
use crate::io::Error;
use crate::message;
use http::HeaderMap;

/// The receiving side of one stream: resets it with CANCEL (client) or
/// discards the rest (server) when dropped before the end.
pub(crate) struct RecvSide {
    pub handle: Handle<HttpEngine>,
    pub id: StreamId,
    /// Read to its end and released already: the last chunk's poll did what
    /// the drop would (one engine lock a body less, two for a one-chunk
    /// request).
    released: bool,
}

impl RecvSide {
    pub(crate) fn new(handle: Handle<HttpEngine>, id: StreamId) -> Self {
        RecvSide {
            handle,
            id,
            released: false,
        }
    }
}

impl Drop for RecvSide {
    fn drop(&mut self) {
        if !self.released {
            let id = self.id;
            self.handle.with(|e| e.drop_recv(id));
        }
    }
}

/// A body being received, chunk by chunk.
///
/// Each chunk's flow-control credit goes back to the peer when
/// [`chunk`](Self::chunk) hands it over, so a reader that stops reading
/// stops the peer once its window is used up: what waits here is bounded by
/// the stream's receive window (`Config::initial_window_size`). Dropping it
/// before the end cancels the stream (client) or discards the rest of the
/// request (server).
///
/// `RecvBody::default()` is an empty body on no stream: what tower layers
/// that answer without calling the service (tonic's client interceptors)
/// need of a response body type.
pub struct RecvBody {
    /// `None` for the empty default body.
    side: Option<RecvSide>,
    /// What the declared `content-length` says is still to come, if it was
    /// declared: a collection reserves it once it is the one being read,
    /// and the `http_body` face reports it as the exact size hint (the core
    /// resets a stream whose DATA disagrees with it).
    expected: Option<usize>,
    /// How the tower face reports a passed deadline (gRPC calls: as a
    /// DEADLINE_EXCEEDED status).
    #[cfg(feature = "tower")]
    pub(crate) deadline: super::tower::DeadlineReport,
}

impl fmt::Debug for RecvBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBody")
            .field("stream", &self.side.as_ref().map(|s| s.id))
            .finish()
    }
}

/// A received body's next chunk, or (`Err`) its trailers once the data
/// has ended.
type ChunkOrTrailers = Result<Bytes, Option<Vec<HeaderField>>>;

impl RecvBody {
    pub(crate) fn new(side: RecvSide) -> Self {
        RecvBody {
            side: Some(side),
            ..RecvBody::default()
        }
    }

    /// Whether nothing more can come: the default body, or a body whose
    /// last chunk was handed out with no trailers to follow.
    #[cfg(feature = "tower")]
    pub(crate) fn has_ended(&self) -> bool {
        self.side.as_ref().is_none_or(|s| s.released)
    }

    /// The next chunk; `None` at the end of the body.
    ///
    /// The chunk keeps its flow-control credit until it is dropped (every
    /// clone and slice of it): an application that holds what it read
    /// holds the peer, and a chunk sent back out (an echo) returns its
    /// credit once the connection has written it.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// [`chunk`](Self::chunk), polled.
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Error>>> {
        self.poll_next(cx, false).map(|next| match next {
            Some(Ok(Ok(chunk))) => Some(Ok(chunk)),
            Some(Err(e)) => Some(Err(e)),
            Some(Ok(Err(_))) | None => None,
        })
    }

    /// [`poll_chunk`](Self::poll_chunk), but once the data has ended the
    /// trailers (`Ok(Err(trailers))`), taken in the same lock: what the
    /// `http_body` face polls (a unary request's second poll is its end).
    #[cfg(feature = "tower")]
    pub(crate) fn poll_chunk_or_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<ChunkOrTrailers, Error>>> {
        self.poll_next(cx, true)
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        trailers: bool,
    ) -> Poll<Option<Result<ChunkOrTrailers, Error>>> {
        let side = match &mut self.side {
            Some(side) if !side.released => side,
            // Ended without trailers: the empty body, or as the slot said
            // when it was released.
            _ => return Poll::Ready(trailers.then_some(Ok(Err(None)))),
        };
        let (handle, id) = (&side.handle, side.id);
        {
            let mut shared = handle.lock();
            let e = &mut shared.engine;
            let Some(slot) = e.slots.get_mut(&id) else {
                return Poll::Ready(None);
            };
            if let Some(chunk) = slot.chunks.pop_front() {
                let n = chunk.len();
                if let Some(left) = &mut self.expected {
                    *left = left.saturating_sub(n);
                }
                if slot.recv_end && slot.chunks.is_empty() && slot.trailers.is_none() {
                    // The last chunk and no trailers: what the next poll and
                    // the drop would do, done in this lock.
                    e.drop_recv(id);
                    side.released = true;
                }
                return Poll::Ready(Some(Ok(Ok(e.budget.hold(chunk, id, n, 0)))));
            }
            if slot.recv_end {
                return Poll::Ready(match trailers {
                    true => Some(Ok(Err(slot.trailers.take()))),
                    false => None,
                });
            }
            if let Some(end) = &slot.end {
                return Poll::Ready(Some(Err(end.to_error())));
            }
            register(&mut slot.recv_waker, cx.waker());
            let expects = slot.expect_continue;
            if !slot.window_opened || expects {
                // A reader is here: the stream gets its full window, and a
                // client waiting for `100 Continue` gets it.
                e.open_window(id);
                e.continue_if_expected(id);
                let waker = shared.touch();
                drop(shared);
                if let Some(w) = waker {
                    w.wake();
                }
            }
            Poll::Pending
        }
    }

    /// The trailers, once the body has ended (`None`: there were none).
    /// Body chunks not read yet are discarded.
    pub async fn trailers(&mut self) -> Result<Option<HeaderMap>, Error> {
        let fields = poll_fn(|cx| self.poll_trailers(cx)).await?;
        Ok(fields.map(message::header_map))
    }

    /// [`trailers`](Self::trailers), polled.
    pub(crate) fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Vec<HeaderField>>, Error>> {
        let Some(side) = &self.side else {
            return Poll::Ready(Ok(None));
        };
        let (handle, id) = (&side.handle, side.id);
        {
            let mut shared = handle.lock();
            let e = &mut shared.engine;
            let Some(slot) = e.slots.get_mut(&id) else {
                return Poll::Ready(Ok(None));
            };
            let unread = slot.chunks.discard();
            let result = if slot.recv_end {
                Poll::Ready(Ok(slot.trailers.take()))
            } else if let Some(end) = &slot.end {
                Poll::Ready(Err(end.to_error()))
            } else {
                register(&mut slot.recv_waker, cx.waker());
                Poll::Pending
            };
            if unread > 0 {
                let _ = e.conn.release_capacity(id, unread);
                let waker = shared.touch();
                drop(shared);
                if let Some(w) = waker {
                    w.wake();
                }
            }
            result
        }
    }

    /// Reads the whole body, failing with [`Error::BodyTooLarge`] past
    /// `limit` bytes (dropping the body then cancels the stream). Trailers stay available
    /// through [`trailers`](Self::trailers).
    ///
    /// The body counts against the connection's [`MemoryBudget`]. Bodies
    /// are collected one at a time per connection, oldest first: the oldest
    /// gets its stream's full window and its credit back early (so a body
    /// larger than the window keeps flowing) while the budget has room for
    /// it; the others wait with a small window. Whatever credit did not go
    /// back early goes back when the returned `Bytes` (every clone) is
    /// dropped.
    ///
    /// [`MemoryBudget`]: crate::proto::MemoryBudget
    pub async fn collect(&mut self, limit: usize) -> Result<Bytes, Error> {
        let Some(side) = &self.side else {
            return Ok(Bytes::new());
        };
        let (handle, id) = (&side.handle, side.id);
        let mut acc = Collecting {
            handle,
            id,
            first: None,
            all: BytesMut::new(),
            expected: self.expected.filter(|&n| n <= limit),
            len: 0,
            unreleased: 0,
            charged: 0,
            started: false,
        };
        poll_fn(|cx| acc.poll(cx, limit)).await?;
        Ok(acc.finish())
    }

    /// Notes the declared length (`content-length`).
    pub(crate) fn set_expected(&mut self, n: Option<usize>) {
        self.expected = n;
    }

    /// How many bytes are still to come, when that is known: none once the
    /// body has ended, else what the declared length leaves.
    #[cfg(feature = "tower")]
    pub(crate) fn remaining(&self) -> Option<usize> {
        match self.has_ended() {
            true => Some(0),
            false => self.expected,
        }
    }

    /// The stream this body arrives on (stream 0, the connection's own
    /// id, for the empty default body).
    pub fn stream_id(&self) -> StreamId {
        self.side.as_ref().map_or(StreamId::ZERO, |s| s.id)
    }
}

impl Default for RecvBody {
    /// An empty body on no stream: no data, no trailers.
    fn default() -> Self {
        RecvBody {
            side: None,
            expected: None,
            #[cfg(feature = "tower")]
            deadline: Default::default(),
        }
    }
}

/// Fails with the connection's end, if it ended.
pub(crate) fn check_open(e: &HttpEngine) -> Result<(), Error> {
    match &e.end {
        Some(end) => Err(end.to_error()),
        None if e.conn.is_closed() => Err(End::Closed(None).to_error()),
        None => Ok(()),
    }
}

/// A body being collected: the parts so far and what they hold.
struct Collecting<'a> {
    handle: &'a Handle<HttpEngine>,
    id: StreamId,
    /// The first chunk, kept as is while it is the only one (no copy).
    first: Option<Bytes>,
    /// The body once it has more than one chunk: a copy, so that the
    /// connection's read buffers the chunks were cut from are not pinned.
    all: BytesMut,
    /// The declared length, reserved once this is the oldest collection.
    expected: Option<usize>,
    len: usize,
    /// Bytes whose credit is still withheld.
    unreleased: usize,
    /// Bytes whose credit went back early, counted in the budget.
    charged: usize,
    /// Registered in the engine's collecting order.
    started: bool,
}

impl Collecting<'_> {
    /// Takes what arrived; `Ready(Ok)` at the end of the body.
    fn poll(&mut self, cx: &mut std::task::Context<'_>, limit: usize) -> Poll<Result<(), Error>> {
        let id = self.id;
        let mut shared = self.handle.lock();
        let e = &mut shared.engine;
        if !self.started {
            self.started = true;
            e.collecting.push(id);
        }
        let Some(slot) = e.slots.get_mut(&id) else {
            return Poll::Ready(Ok(()));
        };
        while let Some(chunk) = slot.chunks.pop_front() {
            self.len += chunk.len();
            self.unreleased += chunk.len();
            if self.len > limit {
                return Poll::Ready(Err(Error::BodyTooLarge));
            }
            if self.len == chunk.len() {
                self.first = Some(chunk);
            } else {
                if let Some(first) = self.first.take() {
                    self.all.extend_from_slice(&first);
                }
                self.all.extend_from_slice(&chunk);
            }
        }
        if slot.recv_end {
            return Poll::Ready(Ok(()));
        }
        if let Some(end) = &slot.end {
            return Poll::Ready(Err(end.to_error()));
        }
        register(&mut slot.recv_waker, cx.waker());
        let opened = slot.window_opened;
        let mut touched = slot.expect_continue && e.continue_if_expected(id);
        if e.collecting.first() == Some(&id) && !opened {
            // The oldest collection: its full window, whatever else waits,
            // and room for the whole body at once (no doubling copies).
            e.open_window(id);
            touched = true;
            if let Some(n) = self.expected.take() {
                if let Some(first) = self.first.take() {
                    self.all.extend_from_slice(&first);
                }
                self.all.reserve(n.saturating_sub(self.all.len()));
            }
        }
        // Early credit, so a body larger than the window keeps coming.
        if self.unreleased > 0 && e.may_take_credit(id) {
            let n = std::mem::take(&mut self.unreleased);
            let _ = e.conn.release_capacity(id, n);
            e.budget.charge(n);
            e.collecting_charged += n;
            self.charged += n;
            touched = true;
        }
        if touched {
            let waker = shared.touch();
            drop(shared);
            if let Some(w) = waker {
                w.wake();
            }
        }
        Poll::Pending
    }

    /// The collected body, holding its credit and budget until dropped.
    fn finish(mut self) -> Bytes {
        let data = match self.first.take() {
            Some(only) => only,
            None => std::mem::take(&mut self.all).freeze(),
        };
        let (mut unreleased, mut charged) = (self.unreleased, self.charged);
        self.unreleased = 0;
        self.charged = 0;
        let id = self.id;
        let mut shared = self.handle.lock();
        let e = &mut shared.engine;
        e.collecting_charged -= charged;
        // `hold` counts the charged bytes again, for as long as the body lives.
        e.budget.uncharge(charged);
        if e.is_client() && unreleased > 0 {
            // A response the application asked for: its credit goes back
            // now (an application awaiting several must not stall the
            // connection on itself); it still counts in the budget.
            let _ = e.conn.release_capacity(id, unreleased);
            charged += std::mem::take(&mut unreleased);
        }
        let data = e.budget.hold(data, id, unreleased, charged);
        let waker = shared.touch();
        drop(shared);
        if let Some(w) = waker {
            w.wake();
        }
        data
    }
}

impl Drop for Collecting<'_> {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        let id = self.id;
        let (unreleased, charged) = (self.unreleased, self.charged);
        self.first = None;
        self.all = BytesMut::new();
        self.handle.with(|e| {
            e.budget.uncharge(charged);
            e.collecting_charged -= charged;
            if unreleased > 0 {
                let _ = e.conn.release_capacity(id, unreleased);
            }
            e.stop_collecting(id);
        });
    }
}
