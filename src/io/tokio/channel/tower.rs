//! The channel as a `tower_service::Service` (feature `tower`): what a
//! tonic generated client runs on, its calls spread over the backends.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::Frame;
use tower_service::Service;

use super::{Channel, ChannelConfig, ChannelError, Kind, Link, after, now};
use crate::channel::{ConnectivityState, Outcome};
use crate::grpc::timeout::{format_timeout, parse_timeout};
use crate::io::Error;
use crate::io::tokio::grpc::CallOptions;
use crate::io::tokio::tower::BoxError;
use crate::io::tokio::{Client, RecvBody};
use crate::proto::UserError;

/// A request extension: the call waits for a READY backend (until its
/// `grpc-timeout`) instead of failing at once while the channel is
/// TRANSIENT_FAILURE. With tonic: `request.extensions_mut().insert(WaitForReady)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitForReady;

/// The future of a [`Channel`] called as a tower service.
pub type ChannelFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<RecvBody>, Error>> + Send + 'static>>;

impl Channel {
    /// A channel for tower calls: its subchannels are HTTP/2 connections of
    /// the tokio [`Client`] (settings from [`ChannelConfig::http`]), and the
    /// channel implements `tower_service::Service<http::Request<B>>`, so a
    /// tonic generated client runs on it unchanged. Its gRPC call API
    /// (`unary`, ...) answers FAILED_PRECONDITION: use [`Channel::new`] for
    /// that.
    ///
    /// ```
    /// use h2proto::io::tokio::channel::{Channel, ChannelConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let channel = Channel::new_http("ipv4:127.0.0.1:50051,127.0.0.1:50052", ChannelConfig::round_robin())?;
    /// // let mut echo = EchoClient::new(channel); // tonic generated
    /// # Ok(()) }
    /// ```
    pub fn new_http(target: &str, config: ChannelConfig) -> Result<Channel, ChannelError> {
        Channel::build(target, config, Kind::Http)
    }
}

/// Sends an `http::Request<B>` on a subchannel picked by the policy, as the
/// tokio [`Client`] sends it (see its `Service` implementation), and gives
/// the response once its head arrives.
///
/// - The call waits for a subchannel while the channel is IDLE or
///   CONNECTING; it fails at once while it is TRANSIENT_FAILURE unless the
///   request carries [`WaitForReady`]. A `grpc-timeout` header bounds the
///   wait, and what is left of it goes out in the header. Such a failure is an [`Error::Io`] whose message starts with
///   the gRPC status (`UNAVAILABLE: ...`, `DEADLINE_EXCEEDED: ...`); tonic
///   shows any transport error as UNKNOWN with that message.
/// - A request the server refused (REFUSED_STREAM, above its GOAWAY) is
///   sent again once, on another READY subchannel if there is one, its body
///   replayed: the body's data frames are kept as they are polled, within
///   the channel's replay caps ([`crate::channel::Config::replay_per_call`]
///   and `replay_per_channel`). A body that outgrows them is not kept any
///   more and its request is not retried: an `http_body::Body` cannot be
///   polled again, so what was not kept cannot be sent twice.
/// - The call leaves the channel's count (stream limits, idleness) when the
///   response head arrives; the response body streams on its connection.
/// - Without an authority in the URI (tonic sends the path alone), a
///   `dns:` or passthrough target's name is the `:authority`.
impl<B> Service<http::Request<B>> for Channel
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<RecvBody>;
    type Error = Error;
    type Future = ChannelFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.state() {
            ConnectivityState::Shutdown => Poll::Ready(Err(Error::Closed)),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: http::Request<B>) -> ChannelFuture {
        let ch = self.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let mut options =
                CallOptions::new().wait_for_ready(parts.extensions.get::<WaitForReady>().is_some());
            let timeout = parts
                .headers
                .get("grpc-timeout")
                .and_then(|v| parse_timeout(v.as_bytes()));
            if let Some(t) = timeout {
                options = options.timeout(t);
            }
            let start = now();
            let shared = ch.shared().clone();
            let mut guard = ch
                .pick(&options, start, None)
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e.to_status().to_string())))?;
            let tee = Arc::new(Mutex::new(Tee::new(body, {
                let (shared, id) = (shared.clone(), guard.id);
                move |step| match step {
                    Some(n) => shared.with(|core, _| core.ch.keep_for_replay(id, n)),
                    None => {
                        shared.with(|core, _| core.ch.commit(id));
                        true
                    }
                }
            })));
            let uri = with_authority(&parts.uri, shared.authority.as_deref());
            loop {
                let Some(Link::Http(client)) = guard.client.clone() else {
                    return Err(Error::Io(std::io::Error::other(
                        "this Channel dials gRPC connections: build it with Channel::new_http",
                    )));
                };
                let mut req = http::Request::new(ReplayBody::next_attempt(&tee));
                *req.method_mut() = parts.method.clone();
                *req.uri_mut() = uri.clone();
                *req.version_mut() = parts.version;
                *req.headers_mut() = parts.headers.clone();
                if let Some(t) = timeout {
                    // What is left of it after the wait for a backend (and
                    // a refused attempt): the server counts from now.
                    let left = t.saturating_sub(now().saturating_duration_since(start));
                    let left = format_timeout(left.max(Duration::from_millis(1)));
                    if let Ok(v) = http::HeaderValue::from_str(&left) {
                        req.headers_mut().insert("grpc-timeout", v);
                    }
                }
                *req.extensions_mut() = parts.extensions.clone();
                let result = Service::call(&mut Client::clone(&client), req).await;
                let outcome = match &result {
                    Err(e) if e.is_unprocessed() => Outcome::Unprocessed,
                    // The stream never opened (GOAWAY arrived between the
                    // pick and the call): picked again, like the gRPC API.
                    Err(Error::User(UserError::NotAccepting | UserError::StreamIdsExhausted)) => {
                        Outcome::NotSent
                    }
                    _ => Outcome::Done,
                };
                // What was polled of the body must have been kept.
                if outcome == Outcome::Done || lock(&tee).committed {
                    lock(&tee).commit();
                    return result;
                }
                match after(&shared, guard, outcome).await {
                    Some(Ok(next)) => guard = next,
                    _ => return result,
                }
            }
        })
    }
}

/// `uri` with `authority` (and `http`) when it has none.
fn with_authority(uri: &http::Uri, authority: Option<&str>) -> http::Uri {
    let (None, Some(a)) = (uri.authority(), authority) else {
        return uri.clone();
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("http://{a}{path}")
        .parse()
        .unwrap_or_else(|_| uri.clone())
}

fn lock<B>(tee: &Mutex<Tee<B>>) -> std::sync::MutexGuard<'_, Tee<B>> {
    tee.lock().unwrap_or_else(|e| e.into_inner())
}

/// The channel's replay accounting for one call: `Some(n)` asks to keep
/// `n` more bytes (false: past a cap, the call is committed), `None` says
/// the call committed (the answer is ignored).
type Budget = Box<dyn FnMut(Option<usize>) -> bool + Send>;

/// The request body, polled once, and what of it is kept for a replay.
///
/// Only the latest attempt reads it: a refused attempt's stream may still
/// be pumped for a while, and what it pulled from the source then would
/// be missing from the attempt that replaces it (and its waker would
/// replace the live attempt's in the source).
struct Tee<B> {
    source: Pin<Box<B>>,
    /// The frames kept for a replay; once committed, those the current
    /// attempt has not sent yet (it sends them, then they are dropped).
    kept: Vec<Bytes>,
    /// How many of `kept` the current attempt has sent.
    read: usize,
    /// The attempt that reads the body (counted from 1).
    current: usize,
    trailers: Option<http::HeaderMap>,
    ended: bool,
    committed: bool,
    budget: Budget,
}

impl<B> Tee<B> {
    fn new(body: B, budget: impl FnMut(Option<usize>) -> bool + Send + 'static) -> Self {
        Tee {
            source: Box::pin(body),
            kept: Vec::new(),
            read: 0,
            current: 0,
            trailers: None,
            ended: false,
            committed: false,
            budget: Box::new(budget),
        }
    }

    /// No more replays: nothing more is kept, and what the current attempt
    /// has sent is dropped. What it has not sent yet stays until it has:
    /// the answer (and the commit) can come before the request's end.
    fn commit(&mut self) {
        if !self.committed {
            self.committed = true;
            self.kept.drain(..self.read);
            self.read = 0;
            (self.budget)(None);
        }
    }
}

/// One attempt's view of the request body: what was kept, then the rest
/// of the source.
struct ReplayBody<B> {
    tee: Arc<Mutex<Tee<B>>>,
    /// Which attempt this is: once another one starts, this one is stale.
    attempt: usize,
    trailers_sent: bool,
}

impl<B> ReplayBody<B> {
    /// The body of a new attempt, which reads the kept frames from the
    /// start; the one before it (if any) reads nothing more.
    fn next_attempt(tee: &Arc<Mutex<Tee<B>>>) -> Self {
        let mut t = lock(tee);
        t.current += 1;
        t.read = 0;
        ReplayBody {
            tee: tee.clone(),
            attempt: t.current,
            trailers_sent: false,
        }
    }
}

impl<B> http_body::Body for ReplayBody<B>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let mut t = lock(&this.tee);
        if t.current != this.attempt {
            // Refused and replaced: its stream is gone.
            return Poll::Ready(Some(Err("the request was sent again".into())));
        }
        let (read, committed) = (t.read, t.committed);
        if let Some(slot) = t.kept.get_mut(read) {
            // Once committed, a kept frame is sent once more at most.
            let b = if committed {
                std::mem::take(slot)
            } else {
                slot.clone()
            };
            t.read += 1;
            if t.committed && t.read == t.kept.len() {
                t.kept = Vec::new();
                t.read = 0;
            }
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        loop {
            if t.ended {
                if !this.trailers_sent
                    && let Some(tr) = t.trailers.clone()
                {
                    this.trailers_sent = true;
                    return Poll::Ready(Some(Ok(Frame::trailers(tr))));
                }
                return Poll::Ready(None);
            }
            let frame = match t.source.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    t.ended = true;
                    continue;
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(f))) => f,
            };
            match frame.into_data() {
                Ok(mut d) => {
                    let data = d.copy_to_bytes(d.remaining());
                    if !t.committed {
                        if (t.budget)(Some(data.len())) {
                            t.kept.push(data.clone());
                            t.read += 1;
                        } else {
                            // Past a cap: the channel committed the call.
                            t.committed = true;
                            t.kept = Vec::new();
                            t.read = 0;
                        }
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Err(frame) => {
                    if let Ok(tr) = frame.into_trailers() {
                        t.trailers = Some(tr.clone());
                        t.ended = true;
                        this.trailers_sent = true;
                        return Poll::Ready(Some(Ok(Frame::trailers(tr))));
                    }
                    // A frame of a kind we do not know: skip it.
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let t = lock(&self.tee);
        t.current == self.attempt
            && t.ended
            && t.read >= t.kept.len()
            && (self.trailers_sent || t.trailers.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::StreamBody;
    use std::convert::Infallible;

    /// A body handing out prepared frames, each ready at once.
    type Frames = StreamBody<
        futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>,
    >;

    fn tee(parts: &[&'static str]) -> Arc<Mutex<Tee<Frames>>> {
        let frames: Vec<_> = parts
            .iter()
            .map(|s| Ok(Frame::data(Bytes::from(*s))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(frames));
        Arc::new(Mutex::new(Tee::new(body, |_| true)))
    }

    /// The next frame's data (`None` at the end, `Err` for an error).
    fn next(body: &mut ReplayBody<Frames>) -> Result<Option<String>, String> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(f))) => {
                let d = f.into_data().map_err(|_| "not data".to_string())?;
                Ok(Some(String::from_utf8_lossy(&d).into_owned()))
            }
            Poll::Ready(Some(Err(e))) => Err(e.to_string()),
            Poll::Ready(None) => Ok(None),
            Poll::Pending => Err("pending".into()),
        }
    }

    fn rest(body: &mut ReplayBody<Frames>) -> Vec<String> {
        let mut got = Vec::new();
        while let Ok(Some(d)) = next(body) {
            got.push(d);
        }
        got
    }

    /// The answer (and the commit) arrived while the replay had sent only
    /// part of what was kept: the rest still goes out (an echo server
    /// answers before it has read the request).
    #[test]
    fn a_commit_mid_replay_keeps_what_the_replay_has_not_sent() {
        let tee = tee(&["one ", "two ", "three"]);
        let mut first = ReplayBody::next_attempt(&tee);
        assert_eq!(rest(&mut first), ["one ", "two ", "three"]);
        let mut second = ReplayBody::next_attempt(&tee);
        assert_eq!(next(&mut second), Ok(Some("one ".into())));
        assert_eq!(next(&mut second), Ok(Some("two ".into())));
        lock(&tee).commit();
        assert!(!second.is_end_stream(), "\"three\" is still to send");
        assert_eq!(rest(&mut second), ["three"]);
        assert!(second.is_end_stream());
        assert!(lock(&tee).kept.is_empty(), "dropped once sent");
    }

    /// A refused attempt whose stream is still pumped takes nothing from
    /// the attempt that replaced it.
    #[test]
    fn a_replaced_attempt_reads_nothing_more() {
        let tee = tee(&["one ", "two ", "three"]);
        let mut first = ReplayBody::next_attempt(&tee);
        assert_eq!(next(&mut first), Ok(Some("one ".into())));
        let mut second = ReplayBody::next_attempt(&tee);
        assert_eq!(next(&mut second), Ok(Some("one ".into())));
        lock(&tee).commit();
        assert!(next(&mut first).is_err(), "the stale attempt read on");
        assert!(!first.is_end_stream());
        assert_eq!(rest(&mut second), ["two ", "three"]);
    }
}
