//! What grpc's interop cases need per message and tonic's API does not
//! offer: whether each received message was compressed (the compressed-flag
//! byte of its gRPC frame), sending one message of a compressed call
//! uncompressed, and trailers on a successful unary response. A tower layer
//! over the transport (under the client, or around the generated server)
//! re-frames the bodies into whole gRPC messages and does those three
//! things; the call's [`Wire`] (in the request's extensions) says what.
//!
//! tonic compresses every message of a call or none, and its decoder hides
//! the flag; grpc's cases ask for "response 1 compressed, response 2 not"
//! and check it on the wire.

use std::collections::VecDeque;
use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;
use http_body::Frame;
use tower_service::Service;

/// The boxed error of tower stacks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The largest message re-framed (tonic's default limit): what one call
/// can make the layer buffer.
const MAX_MESSAGE: usize = 4 << 20;

/// One call's per-message record and plan, shared by the code making or
/// serving the call and the layer. Cheap to clone (one `Arc`).
#[derive(Clone, Default)]
pub struct Wire(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    /// The compressed flag of each message received so far, in order.
    received: Vec<bool>,
    /// The trailers received, once they have come.
    trailers: Option<HeaderMap>,
    /// For each message to send, in order: `false` sends it uncompressed
    /// even though the call compresses; missing entries leave messages as
    /// tonic framed them.
    send_compressed: VecDeque<bool>,
    /// Trailers to add to those of the response sent.
    extra_trailers: HeaderMap,
}

impl Wire {
    /// A fresh record.
    pub fn new() -> Wire {
        Wire::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain data: the record is still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The compressed flag of each message received so far.
    pub fn received(&self) -> Vec<bool> {
        self.state().received.clone()
    }

    /// The trailers received, once the body has ended with them.
    pub fn trailers(&self) -> Option<HeaderMap> {
        self.state().trailers.clone()
    }

    /// Whether the next message to send goes compressed (as tonic framed
    /// it) or not (the layer undoes tonic's gzip and clears the flag).
    pub fn plan_send(&self, compressed: bool) {
        self.state().send_compressed.push_back(compressed);
    }

    /// Adds a field to the trailers of the response sent.
    pub fn add_trailer(&self, name: http::HeaderName, value: http::HeaderValue) {
        self.state().extra_trailers.append(name, value);
    }
}

/// The layer: wraps the request body (re-framed, read as received on a
/// server, sent on a client) and the response body (the other way round).
/// The call's [`Wire`] is the request's extension if it has one, else a
/// fresh one, inserted for the service to find.
#[derive(Clone)]
pub struct WireLayer<S> {
    inner: S,
    /// Serving (requests are received) or calling (responses are).
    serving: bool,
}

impl<S> WireLayer<S> {
    /// Around a server (a tonic generated one).
    pub fn server(inner: S) -> WireLayer<S> {
        WireLayer {
            inner,
            serving: true,
        }
    }

    /// Over a client transport (what a tonic generated client runs on).
    pub fn client(inner: S) -> WireLayer<S> {
        WireLayer {
            inner,
            serving: false,
        }
    }
}

impl<S, B, RB> Service<http::Request<B>> for WireLayer<S>
where
    S: Service<http::Request<Framed<B>>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    B: http_body::Body,
    RB: http_body::Body,
{
    type Response = http::Response<Framed<RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let wire = parts.extensions.get::<Wire>().cloned().unwrap_or_default();
        parts.extensions.insert(wire.clone());
        let serving = self.serving;
        let body = Framed::new(body, wire.clone(), serving);
        let response = self.inner.call(http::Request::from_parts(parts, body));
        Box::pin(async move {
            let res = response.await?;
            Ok(res.map(|body| Framed::new(body, wire, !serving)))
        })
    }
}

/// A body re-framed into whole gRPC messages (one data frame each), which
/// it records (`receiving`) or adjusts to the plan (sending). It buffers
/// at most one message (of up to [`MAX_MESSAGE`] bytes) and one frame, as a
/// copy: the received frames' flow-control credit goes back as they are
/// copied.
pub struct Framed<B> {
    inner: Pin<Box<B>>,
    wire: Wire,
    receiving: bool,
    buf: BytesMut,
    /// Trailers that came while part of a message was still buffered.
    trailers: Option<HeaderMap>,
    /// The inner body has ended (no more frames from it).
    ended: bool,
}

impl<B> Framed<B> {
    fn new(inner: B, wire: Wire, receiving: bool) -> Framed<B> {
        Framed {
            inner: Box::pin(inner),
            wire,
            receiving,
            buf: BytesMut::new(),
            trailers: None,
            ended: false,
        }
    }

    /// The next whole message in the buffer, recorded or adjusted.
    fn next_message(&mut self) -> Result<Option<Bytes>, BoxError> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        let len = usize::try_from(len)?;
        if len > MAX_MESSAGE {
            return Err(format!("a message of {len} bytes, over {MAX_MESSAGE}").into());
        }
        let total = 5 + len;
        if self.buf.len() < total {
            return Ok(None);
        }
        let message = self.buf.split_to(total).freeze();
        let compressed = message[0] == 1;
        let mut wire = self.wire.state();
        if self.receiving {
            wire.received.push(compressed);
            return Ok(Some(message));
        }
        match wire.send_compressed.pop_front() {
            Some(false) if compressed => Ok(Some(uncompressed(&message[5..])?)),
            _ => Ok(Some(message)),
        }
    }

    /// The trailers to end with: the inner body's, recorded, plus the
    /// extra ones when sending.
    fn end_with(&mut self, trailers: Option<HeaderMap>) -> Option<HeaderMap> {
        let mut wire = self.wire.state();
        if self.receiving {
            wire.trailers.clone_from(&trailers);
            return trailers;
        }
        let extra = std::mem::take(&mut wire.extra_trailers);
        match trailers {
            Some(mut t) => {
                for (name, value) in &extra {
                    t.append(name, value.clone());
                }
                Some(t)
            }
            // A body without trailers stays so (a request body; a response
            // that was trailers-only has no body to end).
            None => None,
        }
    }
}

/// A gzip-compressed message payload as an uncompressed gRPC frame.
fn uncompressed(gz: &[u8]) -> Result<Bytes, BoxError> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(gz).read_to_end(&mut plain)?;
    let mut out = BytesMut::with_capacity(5 + plain.len());
    out.put_u8(0);
    out.put_u32(u32::try_from(plain.len())?);
    out.put_slice(&plain);
    Ok(out.freeze())
}

impl<B> http_body::Body for Framed<B>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            match this.next_message() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(Frame::data(message)))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            if this.ended {
                // Whatever is left is not a whole message: as it came.
                if !this.buf.is_empty() {
                    let rest = this.buf.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(rest))));
                }
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(None) => {
                    this.ended = true;
                    this.trailers = this.end_with(None);
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(mut data) => {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            this.buf.extend_from_slice(chunk);
                            let n = chunk.len();
                            data.advance(n);
                        }
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            this.ended = true;
                            this.trailers = this.end_with(Some(t));
                        }
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.buf.is_empty() && self.trailers.is_none()
    }
}
