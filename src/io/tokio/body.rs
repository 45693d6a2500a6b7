//! The bodies we send: [`Body`] (whole, or written piece by piece through a
//! [`BodySender`]) and the pump that queues it (`SendSide`, which resets a
//! stream whose message is dropped before its end). What we receive is in
//! `recv_body`.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;

use super::driver::Handle;
use super::engine::{HttpEngine, register};
use super::recv_body::RecvBody;
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
            e.conn.send_built_trailers(id, trailers)?;
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
