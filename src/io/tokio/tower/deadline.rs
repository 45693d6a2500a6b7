//! gRPC deadlines for served tower services: a tonic generated server
//! leaves `grpc-timeout` to its transport (tonic's own server runs a
//! timeout layer), and here h2proto is the transport. The deadline covers
//! the whole call, the response body included (a stream that outlives it
//! is cut), as grpc's servers do; tonic's layer only bounds the wait for
//! the response head.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::Frame;
use tokio::time::{Instant, Sleep};

use crate::grpc::timeout::parse_timeout;
use crate::io::tokio::Body;

/// The status a call past its deadline ends with.
const DEADLINE_EXCEEDED: &str = "4";
const MESSAGE: &str = "Deadline Exceeded";
/// Made once: looking a `&str` up parses it as a name on every call.
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// When a gRPC request (`content-type: application/grpc…`) with a
/// `grpc-timeout` must be over, counted from now. `None` for other
/// requests, and for a malformed or unrepresentably far timeout (ignored,
/// as tonic's transport does).
pub(crate) fn grpc_deadline<B>(req: &http::Request<B>) -> Option<Instant> {
    let headers = req.headers();
    let grpc = headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !grpc {
        return None;
    }
    let timeout: Duration = parse_timeout(headers.get(&GRPC_TIMEOUT)?.as_bytes())?;
    Instant::now().checked_add(timeout)
}

/// The answer when the service has not answered by the deadline: a
/// trailers-only gRPC response, DEADLINE_EXCEEDED.
pub(crate) fn exceeded_response() -> http::Response<Body> {
    let mut res = http::Response::new(Body::empty());
    let headers = res.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", HeaderValue::from_static(DEADLINE_EXCEEDED));
    headers.insert("grpc-message", HeaderValue::from_static(MESSAGE));
    res
}

/// A response body cut at the deadline: if it has not ended by then, it
/// ends with DEADLINE_EXCEEDED trailers, and what produced it is dropped.
pub(crate) struct Deadline<B> {
    /// `None` once the body has ended, or been cut.
    inner: Option<Pin<Box<B>>>,
    sleep: Pin<Box<Sleep>>,
}

impl<B> Deadline<B> {
    pub(crate) fn new(inner: B, at: Instant) -> Self {
        Deadline {
            inner: Some(Box::pin(inner)),
            sleep: Box::pin(tokio::time::sleep_until(at)),
        }
    }
}

impl<B: http_body::Body> http_body::Body for Deadline<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.inner = None;
            let mut trailers = HeaderMap::with_capacity(2);
            trailers.insert("grpc-status", HeaderValue::from_static(DEADLINE_EXCEEDED));
            trailers.insert("grpc-message", HeaderValue::from_static(MESSAGE));
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        let frame = inner.as_mut().poll_frame(cx);
        match &frame {
            // The trailers are the end: nothing may follow them.
            Poll::Ready(Some(Ok(f))) if f.is_trailers() => this.inner = None,
            Poll::Ready(None) => this.inner = None,
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }
}
