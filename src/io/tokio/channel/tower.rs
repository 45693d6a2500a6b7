//! The channel as a `tower_service::Service` (feature `tower`): what a
//! tonic generated client runs on, its calls spread over the backends.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use super::{Channel, ChannelConfig, ChannelError, Kind, Link, after, now};
use crate::channel::{ConnectivityState, Outcome};
use crate::grpc::timeout::{format_timeout, parse_timeout};
use crate::io::Error;
use crate::io::tokio::grpc::CallOptions;
use crate::io::tokio::tower::BoxError;
use crate::io::tokio::tower::replay::{ReplayBody, Tee, lock};
use crate::io::tokio::{Client, RecvBody};

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
                    Err(e) if e.is_not_sent() => Outcome::NotSent,
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
