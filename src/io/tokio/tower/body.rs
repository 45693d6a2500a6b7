//! Bodies and heads between `http`/`http-body` and the adapter: the
//! `http_body::Body` face of [`RecvBody`], an `http_body::Body` sent as a
//! [`Body`] (heads and trailers convert in [`crate::message`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderValue};
use http_body::Frame;

use crate::io::Error;
use crate::io::tokio::body::{Kind, Piece, PieceSource};
use crate::io::tokio::{Body, RecvBody};
use crate::message::{header_map, trailer_fields};

/// The body of a request a tower service receives from the server, and of a
/// response the tower client returns: frames as they arrive, then the
/// trailers as a trailers frame.
///
/// Each data frame's `Bytes` keeps its flow-control credit until dropped
/// (every clone and slice of it), as [`RecvBody::chunk`] hands them out: a
/// service that holds what it read holds the peer, one that streams it back
/// out returns the credit once the connection has written it.
///
/// With `http_body_util::BodyExt` in scope, `body.collect()` is BodyExt's
/// (it takes the body by value and has no limit); the adapter's own is
/// `RecvBody::collect(&mut body, limit)`.
impl http_body::Body for RecvBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if this.deadline == DeadlineReport::Reported {
            return Poll::Ready(None);
        }
        // The data, then (in the same poll once it has ended) the trailers,
        // once: then `None`.
        match this.poll_chunk_or_trailers(cx) {
            Poll::Ready(Some(Ok(Ok(data)))) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Poll::Ready(Some(Ok(Err(Some(fields))))) if !fields.is_empty() => {
                Poll::Ready(Some(Ok(Frame::trailers(header_map(fields)))))
            }
            Poll::Ready(Some(Ok(Err(_))) | None) => Poll::Ready(None),
            Poll::Ready(Some(Err(Error::Timeout))) if this.deadline == DeadlineReport::AsStatus => {
                this.deadline = DeadlineReport::Reported;
                Poll::Ready(Some(Ok(Frame::trailers(deadline_exceeded()))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.has_ended() || self.deadline == DeadlineReport::Reported
    }

    /// Exact when the request declared its `content-length`: axum's body
    /// limit (`DefaultBodyLimit`, through `http_body_util::Limited`) then
    /// refuses an oversized body before reading any of it.
    fn size_hint(&self) -> http_body::SizeHint {
        match self.remaining() {
            Some(n) => http_body::SizeHint::with_exact(n as u64),
            None => http_body::SizeHint::default(),
        }
    }
}

/// How a [`RecvBody`] read through `http_body` reports its request's
/// deadline passing.
///
/// A gRPC client expects DEADLINE_EXCEEDED as a status, not as a transport
/// error: tonic turns a body error into UNKNOWN (or CANCELLED for its own
/// timeout layer), but reads `grpc-status` in trailers as the call's status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeadlineReport {
    /// As [`Error::Timeout`] (plain HTTP).
    #[default]
    AsError,
    /// As trailers `grpc-status: 4` (a gRPC call), then the end.
    AsStatus,
    /// The trailers went out: the body has ended.
    Reported,
}

/// The fields of a DEADLINE_EXCEEDED status, as trailers (or as the head
/// of a trailers-only response).
pub(crate) fn deadline_exceeded() -> HeaderMap {
    let mut map = HeaderMap::with_capacity(3);
    map.insert("grpc-status", HeaderValue::from_static("4"));
    map.insert(
        "grpc-message",
        HeaderValue::from_static("Deadline%20Exceeded"),
    );
    map
}

/// An `http_body::Body` as a [`Body`] to send. A body that is already at
/// its end, or whose first frame is all of it, becomes a whole body (the
/// headers carry END_STREAM, or the data goes out with them); so does a
/// small first frame whose trailers are ready right behind it (a gRPC unary
/// answer: sent with the headers in one go). Any other is polled frame by
/// frame by the stream's pump, one frame at a time as the peer takes them,
/// so a slow reader slows the body. `cx` is the task's context, for those
/// first polls (a `Pending` only registers a wake-up).
pub(crate) fn send_body<B>(body: B, cx: &mut Context<'_>) -> Body
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if body.is_end_stream() {
        return Body::empty();
    }
    let mut body = Box::pin(body);
    let first = match poll_piece(body.as_mut(), cx) {
        Poll::Ready(None) => return Body::empty(),
        Poll::Ready(Some(piece)) => Some(piece),
        Poll::Pending => None,
    };
    let mut second = None;
    if let Some(Ok(Piece::Data(data))) = &first {
        if body.is_end_stream() {
            return Body::full(data.clone());
        }
        // Looked ahead only behind a small frame: what waits here for the
        // peer stays one frame plus at most this much.
        if data.len() <= LOOK_AHEAD_MAX {
            second = match poll_piece(body.as_mut(), cx) {
                Poll::Ready(None) | Poll::Ready(Some(Ok(Piece::End))) => {
                    return Body::full(data.clone());
                }
                Poll::Ready(Some(Ok(Piece::Trailers(t)))) => {
                    return Body::full(data.clone()).with_trailer_fields(t);
                }
                Poll::Ready(Some(piece)) => Some(piece),
                Poll::Pending => None,
            };
        }
    }
    Body::from_kind(Kind::Source(Box::pin(Source {
        body,
        first,
        second,
    })))
}

/// A first frame at most this long is sent with the frame behind it when
/// that one is ready at once (the trailers of a gRPC unary answer).
const LOOK_AHEAD_MAX: usize = 16 * 1024;

/// The body's next frame as a [`Piece`]: data, trailers, or `End` (a frame
/// of a kind we do not know is skipped).
fn poll_piece<B>(mut body: Pin<&mut B>, cx: &mut Context<'_>) -> Poll<Option<Result<Piece, Error>>>
where
    B: http_body::Body,
{
    loop {
        let piece = match body.as_mut().poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(_))) => return Poll::Ready(Some(Err(body_failed()))),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => Piece::Data(data.copy_to_bytes(data.remaining())),
                Err(frame) => match frame.into_trailers() {
                    Ok(t) => Piece::Trailers(trailer_fields(&t)),
                    Err(_) => continue,
                },
            },
        };
        return Poll::Ready(Some(Ok(piece)));
    }
}

/// What a failed body ends its stream with: a reset (CANCEL).
fn body_failed() -> Error {
    Error::LocalReset {
        reason: crate::frame::Reason::CANCEL,
        why: crate::proto::ResetCause::Cancelled,
    }
}

/// An `http_body::Body` the pump polls.
struct Source<B> {
    body: Pin<Box<B>>,
    /// What the first polls got, not yet handed over, in order.
    first: Option<Result<Piece, Error>>,
    second: Option<Result<Piece, Error>>,
}

impl<B> PieceSource for Source<B>
where
    B: http_body::Body + Send + 'static,
{
    fn poll_piece(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Piece, Error>>> {
        let this = &mut *self;
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(first));
        }
        if let Some(second) = this.second.take() {
            return Poll::Ready(Some(second));
        }
        match poll_piece(this.body.as_mut(), cx) {
            Poll::Ready(None) => Poll::Ready(Some(Ok(Piece::End))),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;
    use std::convert::Infallible;

    fn status_trailers() -> HeaderMap {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_static("0"));
        t
    }

    fn sent(frames: Vec<Frame<Bytes>>) -> Kind {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // Every frame ready at once.
        let frames = futures_util::stream::iter(frames.into_iter().map(Ok::<_, Infallible>));
        send_body(StreamBody::new(frames), &mut cx).into_kind()
    }

    #[test]
    fn a_small_message_then_trailers_is_sent_whole() {
        let kind = sent(vec![
            Frame::data(Bytes::from_static(b"msg")),
            Frame::trailers(status_trailers()),
        ]);
        let Kind::Full { data, trailers } = kind else {
            panic!("not a whole body");
        };
        assert_eq!(&data[..], b"msg");
        assert_eq!(&trailers[0].name[..], b"grpc-status");
    }

    #[test]
    fn more_data_behind_the_first_frame_keeps_both_in_order() {
        let kind = sent(vec![
            Frame::data(Bytes::from_static(b"a")),
            Frame::data(Bytes::from_static(b"b")),
            Frame::trailers(status_trailers()),
        ]);
        let Kind::Source(mut source) = kind else {
            panic!("not polled frame by frame");
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut got = Vec::new();
        while let Poll::Ready(Some(Ok(piece))) = source.as_mut().poll_piece(&mut cx) {
            got.push(match piece {
                Piece::Data(d) => String::from_utf8_lossy(&d).into_owned(),
                Piece::Trailers(t) => format!("trailers {}", t.len()),
                Piece::End => break,
            });
        }
        assert_eq!(got, ["a", "b", "trailers 1"]);
    }

    #[test]
    fn a_large_first_frame_is_not_looked_past() {
        let big = Bytes::from(vec![0u8; LOOK_AHEAD_MAX + 1]);
        let kind = sent(vec![Frame::data(big), Frame::trailers(status_trailers())]);
        assert!(matches!(kind, Kind::Source(_)), "the trailers waited");
    }
}
