//! Bodies and heads between `http`/`http-body` and the adapter: the
//! `http_body::Body` face of [`RecvBody`], an `http_body::Body` sent as a
//! [`Body`], and header conversions.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::Frame;

use crate::hpack::HeaderField;
use crate::io::Error;
use crate::io::tokio::body::{Kind, Piece, PieceSource};
use crate::io::tokio::{Body, RecvBody};

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
        match this.poll_chunk(cx) {
            Poll::Ready(Some(Ok(data))) => return Poll::Ready(Some(Ok(Frame::data(data)))),
            Poll::Ready(Some(Err(Error::Timeout))) if this.deadline == DeadlineReport::AsStatus => {
                this.deadline = DeadlineReport::Reported;
                return Poll::Ready(Some(Ok(Frame::trailers(deadline_exceeded()))));
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => {}
            Poll::Pending => return Poll::Pending,
        }
        // The data has ended: the trailers, once (then `None`).
        match this.poll_trailers(cx) {
            Poll::Ready(Ok(Some(fields))) if !fields.is_empty() => {
                Poll::Ready(Some(Ok(Frame::trailers(to_header_map(fields)))))
            }
            Poll::Ready(Ok(_)) => Poll::Ready(None),
            Poll::Ready(Err(Error::Timeout)) if this.deadline == DeadlineReport::AsStatus => {
                this.deadline = DeadlineReport::Reported;
                Poll::Ready(Some(Ok(Frame::trailers(deadline_exceeded()))))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
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

/// Header fields (names lowercase, as HTTP/2 has them) into a `HeaderMap`;
/// a field `http` rejects is skipped (the core already validated them).
pub(crate) fn to_header_map(fields: Vec<HeaderField>) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(fields.len());
    for f in fields {
        let name = match grpc_name(&f.name) {
            Some(name) => Ok(HeaderName::from_static(name)),
            None => HeaderName::from_bytes(&f.name),
        };
        let (Ok(name), Ok(value)) = (name, HeaderValue::from_maybe_shared(f.value)) else {
            continue;
        };
        map.append(name, value);
    }
    map
}

/// Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2): dropped
/// when converting a head from `http`, as hyper does.
fn connection_specific(name: &HeaderName) -> bool {
    use http::header::{CONNECTION, TRANSFER_ENCODING, UPGRADE};
    name == CONNECTION
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Appends a `HeaderMap`'s fields (less connection-specific ones, and `te`
/// other than `trailers`) to `out`.
pub(crate) fn push_fields(map: &HeaderMap, out: &mut Vec<HeaderField>) {
    out.reserve(map.len());
    for (name, value) in map {
        if connection_specific(name) || (name == http::header::TE && value != "trailers") {
            continue;
        }
        out.push(
            HeaderField::new(shared(name.as_str()), shared_value(value.as_bytes()))
                .with_sensitive(value.is_sensitive()),
        );
    }
}

/// gRPC's field names, which `http` does not know: `HeaderName::from_bytes`
/// would copy them for every request.
fn grpc_name(name: &[u8]) -> Option<&'static str> {
    Some(match name {
        b"grpc-status" => "grpc-status",
        b"grpc-message" => "grpc-message",
        b"grpc-timeout" => "grpc-timeout",
        b"grpc-encoding" => "grpc-encoding",
        b"grpc-accept-encoding" => "grpc-accept-encoding",
        b"grpc-status-details-bin" => "grpc-status-details-bin",
        _ => return None,
    })
}

/// A field name as `Bytes`: the names every response carries without a
/// copy, the others copied (`http` gives no access to its own bytes).
fn shared(name: &str) -> Bytes {
    match name {
        "content-type" => Bytes::from_static(b"content-type"),
        "content-length" => Bytes::from_static(b"content-length"),
        "date" => Bytes::from_static(b"date"),
        "te" => Bytes::from_static(b"te"),
        other => match grpc_name(other.as_bytes()) {
            Some(name) => Bytes::from_static(name.as_bytes()),
            None => Bytes::copy_from_slice(other.as_bytes()),
        },
    }
}

/// A field value as `Bytes`: gRPC's usual ones without a copy.
fn shared_value(value: &[u8]) -> Bytes {
    match value {
        b"application/grpc" => Bytes::from_static(b"application/grpc"),
        b"0" => Bytes::from_static(b"0"),
        b"trailers" => Bytes::from_static(b"trailers"),
        b"text/plain; charset=utf-8" => Bytes::from_static(b"text/plain; charset=utf-8"),
        other => Bytes::copy_from_slice(other),
    }
}

/// A `HeaderMap` as trailer fields.
fn trailer_fields(map: &HeaderMap) -> Vec<HeaderField> {
    let mut out = Vec::with_capacity(map.len());
    push_fields(map, &mut out);
    out
}

/// An `http_body::Body` as a [`Body`] to send. A body that is already at
/// its end, or whose first frame is all of it, becomes a whole body (the
/// headers carry END_STREAM, or the data goes out with them); any other
/// is polled frame by frame by the stream's pump, one frame at a time as the
/// peer takes them, so a slow reader slows the body. `cx` is the task's
/// context, for that first poll (a `Pending` only registers a wake-up).
pub(crate) fn send_body<B>(body: B, cx: &mut Context<'_>) -> Body
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if body.is_end_stream() {
        return Body::empty();
    }
    let mut body = Box::pin(body);
    let first = match body.as_mut().poll_frame(cx) {
        Poll::Ready(None) => return Body::empty(),
        Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
            Ok(mut data) => {
                let data = data.copy_to_bytes(data.remaining());
                if body.is_end_stream() {
                    return Body::full(data);
                }
                Some(Ok(Piece::Data(data)))
            }
            Err(frame) => frame
                .into_trailers()
                .ok()
                .map(|t| Ok(Piece::Trailers(trailer_fields(&t)))),
        },
        Poll::Ready(Some(Err(_))) => Some(Err(body_failed())),
        Poll::Pending => None,
    };
    Body::from_kind(Kind::Source(Box::pin(Source { body, first })))
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
    /// What the first poll got, not yet handed over.
    first: Option<Result<Piece, Error>>,
}

impl<B> PieceSource for Source<B>
where
    B: http_body::Body + Send + 'static,
{
    fn poll_piece(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Piece, Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        loop {
            let piece = match self.body.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => Piece::End,
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Some(Err(body_failed()))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(mut data) => Piece::Data(data.copy_to_bytes(data.remaining())),
                    Err(frame) => match frame.into_trailers() {
                        Ok(t) => Piece::Trailers(trailer_fields(&t)),
                        // A frame of a kind we do not know: skip it.
                        Err(_) => continue,
                    },
                },
            };
            return Poll::Ready(Some(Ok(piece)));
        }
    }
}
