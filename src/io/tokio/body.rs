//! Message bodies: [`Body`] (what we send, whole or written piece by piece
//! through a [`BodySender`]) and [`RecvBody`] (what we receive, chunk by
//! chunk), plus the stream guards that reset a stream whose handle is
//! dropped before the end.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::sync::mpsc;

use super::driver::Handle;
use super::engine::{End, HttpEngine, register};
use crate::frame::StreamId;
use crate::hpack::HeaderField;
use crate::io::Error;
use crate::message;
use http::HeaderMap;

/// A body to send: empty, whole (with optional trailers), or written piece by
/// piece through the [`BodySender`] of [`Body::channel`].
///
/// ```
/// use h2proto::io::tokio::Body;
/// let whole = Body::from("hello").with_trailers(http::HeaderMap::new());
/// assert_eq!(whole.len(), Some(5));
/// let (_sender, streaming) = Body::channel();
/// assert_eq!(streaming.len(), None);
/// ```
pub struct Body {
    kind: Kind,
}

pub(crate) enum Kind {
    Full {
        data: Bytes,
        trailers: Vec<HeaderField>,
    },
    Channel(mpsc::Receiver<Piece>),
    /// A received body sent on as it arrives (a proxy, an echo).
    Recv(Box<RecvBody>),
    /// Pieces polled from a source (an `http_body::Body`, feature `tower`):
    /// the next is polled only once the previous one is taken.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    Source(Pin<Box<dyn PieceSource>>),
}

/// A body the pump polls piece by piece; `None` ends it like [`Piece::End`],
/// an error resets the stream.
pub(crate) trait PieceSource: Send {
    fn poll_piece(self: Pin<&mut Self>, cx: &mut Context<'_>)
    -> Poll<Option<Result<Piece, Error>>>;
}

/// What a [`BodySender`] hands the stream's pump.
pub(crate) enum Piece {
    Data(Bytes),
    Trailers(Vec<HeaderField>),
    End,
}

impl Body {
    /// No body: the headers end the message.
    pub fn empty() -> Self {
        Body::full(Bytes::new())
    }

    /// A whole body.
    pub fn full(data: impl Into<Bytes>) -> Self {
        Body {
            kind: Kind::Full {
                data: data.into(),
                trailers: Vec::new(),
            },
        }
    }

    /// A body written piece by piece with the returned [`BodySender`].
    ///
    /// The sender's [`send`](BodySender::send) waits while the stream's
    /// send buffer is full, so a peer that reads slowly slows the writer;
    /// at most one piece waits between the sender and the connection.
    pub fn channel() -> (BodySender, Body) {
        let (tx, rx) = mpsc::channel(1);
        (
            BodySender { tx },
            Body {
                kind: Kind::Channel(rx),
            },
        )
    }

    /// Adds trailers after a whole body (ignored on a channel body, whose
    /// sender sends its own). Connection-specific fields are dropped.
    pub fn with_trailers(mut self, fields: HeaderMap) -> Self {
        if let Kind::Full { trailers, .. } = &mut self.kind {
            *trailers = message::trailer_fields(&fields);
        }
        self
    }

    /// The length of a whole body; `None` for a channel or received body.
    pub fn len(&self) -> Option<usize> {
        match &self.kind {
            Kind::Full { data, .. } => Some(data.len()),
            Kind::Channel(_) | Kind::Recv(_) | Kind::Source(_) => None,
        }
    }

    /// Whether this is a whole, empty body without trailers: the headers
    /// carry END_STREAM.
    pub fn is_empty(&self) -> bool {
        matches!(&self.kind, Kind::Full { data, trailers } if data.is_empty() && trailers.is_empty())
    }

    /// A whole body with trailer fields already converted.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn with_trailer_fields(mut self, fields: Vec<HeaderField>) -> Self {
        if let Kind::Full { trailers, .. } = &mut self.kind {
            *trailers = fields;
        }
        self
    }

    pub(crate) fn into_kind(self) -> Kind {
        self.kind
    }

    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn from_kind(kind: Kind) -> Self {
        Body { kind }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full { data, trailers } => f
                .debug_struct("Body")
                .field("len", &data.len())
                .field("trailers", &trailers.len())
                .finish(),
            Kind::Channel(_) => f.write_str("Body(channel)"),
            Kind::Recv(body) => write!(f, "Body(from stream {:?})", body.stream_id()),
            Kind::Source(_) => f.write_str("Body(source)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}

/// Sends a received body on as it arrives, trailers included: a streaming
/// echo is `http::Response::new(Body::from(req.into_body()))`. Each chunk keeps its
/// flow-control credit until the connection has written it, so the sender
/// of the received body goes exactly as fast as the receiver of this one
/// reads, and nothing piles up in between.
impl From<RecvBody> for Body {
    fn from(body: RecvBody) -> Self {
        Body {
            kind: Kind::Recv(Box::new(body)),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::full(b)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(s)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(s)
    }
}

/// Writes a [`Body::channel`] body. Dropping it before
/// [`finish`](Self::finish) or [`send_trailers`](Self::send_trailers)
/// resets the stream with CANCEL: the message would be truncated.
#[derive(Debug)]
pub struct BodySender {
    tx: mpsc::Sender<Piece>,
}

impl BodySender {
    /// Sends a piece of the body. Waits while the previous piece is not yet
    /// all taken by the connection (whose per-stream send buffer is capped
    /// by `Config::max_send_buffer_per_stream`). Fails with
    /// [`Error::Closed`] once the stream has ended (reset, or the connection
    /// closed): the response or request handle says why.
    pub async fn send(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.tx
            .send(Piece::Data(data.into()))
            .await
            .map_err(|_| Error::Closed)
    }

    /// Ends the body with trailers.
    pub async fn send_trailers(self, trailers: HeaderMap) -> Result<(), Error> {
        self.tx
            .send(Piece::Trailers(message::trailer_fields(&trailers)))
            .await
            .map_err(|_| Error::Closed)
    }

    /// Ends the body.
    pub async fn finish(self) -> Result<(), Error> {
        self.tx.send(Piece::End).await.map_err(|_| Error::Closed)
    }
}

/// The sending side of one stream: resets it with CANCEL when dropped before
/// its message was completely queued.
pub(crate) struct SendSide {
    pub handle: Handle<HttpEngine>,
    pub id: StreamId,
    pub finished: bool,
    /// `drop_send` was already done.
    pub released: bool,
    /// Bytes of a `send_data` waiting for room, counted in the budget.
    pub charged: usize,
}

impl SendSide {
    /// The sending side of stream `id`, nothing of its message queued yet.
    pub(super) fn new(handle: Handle<HttpEngine>, id: StreamId) -> SendSide {
        SendSide {
            handle,
            id,
            finished: false,
            released: false,
            charged: 0,
        }
    }

    /// Queues `data` (and END_STREAM with its last byte when `end`), waiting
    /// for room in the stream's send buffer as often as needed.
    pub(super) async fn send_data(&mut self, mut data: Bytes, end: bool) -> Result<(), Error> {
        let (handle, id) = (&self.handle, self.id);
        let charged = &mut self.charged;
        let result = poll_fn(|cx| {
            let mut shared = handle.lock();
            let e = &mut shared.engine;
            if let Some(end) = e.slots.get(&id).and_then(|s| s.end.as_ref()) {
                return Poll::Ready(Err(end.to_error()));
            }
            let result = match e.conn.send_data(id, data.clone(), end) {
                Ok(taken) => {
                    data.advance(taken.min(data.len()));
                    if data.is_empty() {
                        if end && let Some(slot) = e.slots.get_mut(&id) {
                            slot.send_done = true;
                        }
                        Poll::Ready(Ok(()))
                    } else {
                        if let Some(slot) = e.slots.get_mut(&id) {
                            register(&mut slot.send_waker, cx.waker());
                        }
                        // What waits here for the peer counts in the
                        // connection's budget: over it, no early credit.
                        e.budget.uncharge(*charged);
                        *charged = data.len();
                        e.budget.charge(*charged);
                        Poll::Pending
                    }
                }
                Err(err) => Poll::Ready(Err(Error::User(err))),
            };
            if result.is_ready() {
                e.budget.uncharge(std::mem::take(charged));
            }
            let waker = shared.touch();
            drop(shared);
            if let Some(w) = waker {
                w.wake();
            }
            result
        })
        .await;
        result?;
        if end {
            self.finished = true;
        }
        Ok(())
    }

    /// Queues trailers: the end of the message.
    pub(super) fn send_trailers(&mut self, trailers: Vec<HeaderField>) -> Result<(), Error> {
        let id = self.id;
        self.handle.with(|e| {
            if let Some(end) = e.slots.get(&id).and_then(|s| s.end.as_ref()) {
                return Err(end.to_error());
            }
            e.conn.send_trailers(id, trailers)?;
            if let Some(slot) = e.slots.get_mut(&id) {
                slot.send_done = true;
            }
            Ok(())
        })?;
        self.finished = true;
        Ok(())
    }

    /// Sends a body after headers that did not end the stream.
    pub(super) async fn send_body(&mut self, kind: Kind) -> Result<(), Error> {
        match kind {
            Kind::Full { data, trailers } => {
                let end = trailers.is_empty();
                self.send_data(data, end).await?;
                if !end {
                    self.send_trailers(trailers)?;
                }
            }
            Kind::Channel(mut rx) => loop {
                match self.next_or_end(|cx| rx.poll_recv(cx)).await? {
                    Some(Piece::Data(data)) if !data.is_empty() => {
                        self.send_data(data, false).await?
                    }
                    Some(Piece::Data(_)) => {}
                    Some(Piece::Trailers(t)) => return self.send_trailers(t),
                    Some(Piece::End) => return self.send_data(Bytes::new(), true).await,
                    // The sender was dropped: the message is cut short and
                    // `Drop` resets the stream.
                    None => {
                        return Err(Error::LocalReset {
                            reason: crate::frame::Reason::CANCEL,
                            why: crate::proto::ResetCause::Cancelled,
                        });
                    }
                }
            },
            Kind::Recv(mut body) => {
                while let Some(chunk) = self.next_or_end(|cx| body.poll_chunk(cx)).await? {
                    let chunk = chunk?;
                    if !chunk.is_empty() {
                        self.send_data(chunk, false).await?;
                    }
                }
                match self.next_or_end(|cx| body.poll_trailers(cx)).await?? {
                    Some(t) if !t.is_empty() => return self.send_trailers(t),
                    _ => return self.send_data(Bytes::new(), true).await,
                }
            }
            Kind::Source(mut source) => loop {
                match self
                    .next_or_end(|cx| source.as_mut().poll_piece(cx))
                    .await?
                {
                    Some(Ok(Piece::Data(data))) if !data.is_empty() => {
                        self.send_data(data, false).await?
                    }
                    Some(Ok(Piece::Data(_))) => {}
                    Some(Ok(Piece::Trailers(t))) if !t.is_empty() => {
                        return self.send_trailers(t);
                    }
                    Some(Ok(Piece::Trailers(_) | Piece::End)) | None => {
                        return self.send_data(Bytes::new(), true).await;
                    }
                    // The body failed: the message is cut short and `Drop`
                    // resets the stream.
                    Some(Err(error)) => return Err(error),
                }
            },
        }
        Ok(())
    }
}

impl SendSide {
    /// What `next` gives once it is ready, or the stream's early end (the
    /// peer reset it, the connection closed), whichever comes first.
    ///
    /// A body's source may wait for a long time, or for ever (a watch that
    /// streams changes, a proxied body whose peer went quiet): the stream's
    /// end must still drop it, with whatever it holds.
    async fn next_or_end<T>(
        &self,
        mut next: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Result<T, Error> {
        poll_fn(|cx| match next(cx) {
            Poll::Ready(v) => Poll::Ready(Ok(v)),
            Poll::Pending => self.poll_ended(cx).map(Err),
        })
        .await
    }

    /// Ready with the stream's early end; otherwise `cx` hears of it (the
    /// engine wakes the send waker when the stream or connection ends).
    pub(super) fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<Error> {
        let id = self.id;
        self.handle.with(|e| match e.slots.get_mut(&id) {
            Some(slot) => match &slot.end {
                Some(end) => Poll::Ready(end.to_error()),
                None => {
                    register(&mut slot.send_waker, cx.waker());
                    Poll::Pending
                }
            },
            None => Poll::Ready(Error::Closed),
        })
    }

    /// The engine was already told this side is gone: `Drop` does nothing.
    pub(super) fn forget(&mut self) {
        self.released = true;
    }
}

impl Drop for SendSide {
    fn drop(&mut self) {
        let charged = std::mem::take(&mut self.charged);
        if self.released {
            if charged > 0 {
                self.handle.with(|e| e.budget.uncharge(charged));
            }
            return;
        }
        let (id, finished) = (self.id, self.finished);
        self.handle.with(|e| {
            e.budget.uncharge(charged);
            e.drop_send(id, finished)
        });
    }
}

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
