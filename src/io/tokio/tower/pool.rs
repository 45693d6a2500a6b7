//! The connection [`Pool`] of tokio [`Client`]s as a
//! `tower_service::Service`: each request goes to a connection to its URI's
//! origin, so one tonic generated client (or tower stack) can call several
//! servers and share their connections with other callers.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use super::BoxError;
use super::replay::{ReplayBody, ReplayQuota, Tee, lock};
use crate::grpc::timeout::{format_timeout, parse_timeout};
use crate::io::tokio::pool::Pool;
use crate::io::tokio::{Client, RecvBody};

/// The future of a [`Pool`] called as a tower service.
pub type PoolResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<RecvBody>, BoxError>> + Send + 'static>>;

/// Sends an `http::Request<B>` on a pooled connection to the request's
/// origin, keyed `scheme://authority` (`http://host:port`; the scheme is
/// `http` when the URI has none, the authority the `host` field when the URI
/// has none), and answers as [`Client`] does as a service: the response head,
/// then the body streaming in as a [`RecvBody`], with `grpc-timeout`
/// deadlines and cancellation by drop (RST_STREAM CANCEL).
///
/// The pool's connector gets that key: dial it with
/// `Client::connect_url` (feature `tls`), which speaks h2c to `http://` and TLS to `https://` origins. A
/// tonic generated client needs the origin in its URIs:
/// `EchoClient::with_origin(pool, "http://host:port".parse()?)` (tonic's
/// `new` sends bare paths, which the pool cannot route).
///
/// **Readiness.** `poll_ready` is always ready: which origin the next
/// request goes to is unknown until `call`, so the pool cannot reserve
/// anything for it. The request waits, if it must, in its future: for its
/// origin's dial, or in the origin's bounded line when every connection is
/// at the server's concurrency limit and the origin has
/// [`max_connections_per_authority`](crate::io::tokio::pool::PoolConfig::max_connections_per_authority)
/// connections. A full line fails the call at once with
/// [`PoolError::Saturated`](crate::io::tokio::pool::PoolError::Saturated),
/// a wait past
/// [`get_timeout`](crate::io::tokio::pool::PoolConfig::get_timeout) with
/// `PoolError::Timeout`, and a failed dial with `PoolError::Connect`; these
/// and the [`Error`](crate::io::Error)s of the request itself come as a
/// [`BoxError`] to downcast.
///
/// A request's `grpc-timeout` also bounds its wait for a connection: what
/// is left of it goes out in the header; a call whose deadline passes while
/// it waits fails with an [`std::io::Error`] of kind `TimedOut` (tonic
/// reports UNKNOWN then: there is no stream yet to answer
/// DEADLINE_EXCEEDED on).
///
/// The call holds one request slot of its connection until the response
/// head arrives; from then on the open stream counts against the
/// connection's limit on its own.
///
/// **Sent again only when the server did not process it.** A request the
/// server refused (REFUSED_STREAM, or a stream above its GOAWAY: nginx
/// closes a connection that way after `keepalive_requests`, Go and Envoy on
/// shutdown) or that never left (its connection stopped taking streams
/// first) goes out again on the connection [`Pool::get`] gives next, up to
/// [`PoolConfig::unprocessed_retries`](crate::io::tokio::pool::PoolConfig::unprocessed_retries)
/// times. Its body is replayed: the data frames are kept as they are polled,
/// up to [`PoolConfig::replay_per_request`](crate::io::tokio::pool::PoolConfig::replay_per_request)
/// bytes a request and `replay_per_pool` for the pool
/// ([`Pool::replay_buffered`]); a body that outgrows them is not kept and
/// its request is not sent again. What was kept is dropped once the
/// response head arrives.
///
/// ```
/// use h2proto::io::tokio::pool::{Pool, PoolConfig};
/// use h2proto::io::tokio::{Client, ClientConfig, Server};
/// use axum::{Router, routing::get};
/// use http_body_util::BodyExt;
/// use tower_service::Service;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let app = Router::new().route("/", get(|| async { "hi" }));
/// # let server = Server::bind("127.0.0.1:0").await?.serve_service(app);
/// let mut pool = Pool::new(PoolConfig::default(), |origin: String| async move {
///     Client::connect_url(&origin, None, ClientConfig::default()).await
/// });
/// let uri = format!("http://{}/", server.local_addr());
/// let req = http::Request::get(uri).body(http_body_util::Empty::<bytes::Bytes>::new())?;
/// let res = pool.call(req).await?;
/// assert_eq!(&res.into_body().collect().await?.to_bytes()[..], b"hi");
/// assert_eq!(pool.stats().len(), 1); // keyed "http://127.0.0.1:<port>"
/// # Ok(())
/// # }
/// ```
impl<B, E> Service<http::Request<B>> for Pool<Client, E>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
    E: std::error::Error + Send + Sync + 'static,
{
    type Response = http::Response<RecvBody>;
    type Error = BoxError;
    type Future = PoolResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> PoolResponseFuture {
        let pool = self.clone();
        Box::pin(async move {
            let key = origin_key(&req)?;
            // A gRPC deadline covers the wait for a connection too.
            let timeout = req
                .headers()
                .get("grpc-timeout")
                .and_then(|v| parse_timeout(v.as_bytes()));
            let started = ::tokio::time::Instant::now();
            let (parts, body) = req.into_parts();
            let config = pool.config();
            let mut quota = ReplayQuota::new(
                pool.replay_counter(),
                config.replay_per_request,
                config.replay_per_pool,
            );
            let tee = Arc::new(Mutex::new(Tee::new(body, move |step| quota.step(step))));
            let mut retries = config.unprocessed_retries;
            loop {
                let slot = match timeout {
                    Some(limit) => {
                        let left = limit.saturating_sub(started.elapsed());
                        ::tokio::time::timeout(left, pool.get(&key))
                            .await
                            .map_err(|_| deadline_passed(&key))??
                    }
                    None => pool.get(&key).await?,
                };
                let mut req = http::Request::new(ReplayBody::next_attempt(&tee));
                *req.method_mut() = parts.method.clone();
                *req.uri_mut() = parts.uri.clone();
                *req.version_mut() = parts.version;
                *req.headers_mut() = parts.headers.clone();
                *req.extensions_mut() = parts.extensions.clone();
                if let Some(limit) = timeout {
                    let left = limit.saturating_sub(started.elapsed());
                    if left < limit {
                        set_timeout(req.headers_mut(), left);
                    }
                }
                let mut client = Client::clone(&slot);
                let response = Service::<http::Request<_>>::call(&mut client, req).await;
                // Until here the slot stood for a stream not counted yet.
                drop(slot);
                let again = match &response {
                    Err(e) => e.is_unprocessed() || e.is_not_sent(),
                    Ok(_) => false,
                };
                // What was polled of the body must have been kept.
                if !again || retries == 0 || lock(&tee).committed {
                    lock(&tee).commit();
                    return Ok(response?);
                }
                retries -= 1;
            }
        })
    }
}

/// The error of a call whose `grpc-timeout` passed while it waited for a
/// connection (no stream exists to answer DEADLINE_EXCEEDED on).
fn deadline_passed(origin: &str) -> BoxError {
    Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{origin}: grpc-timeout passed while waiting for a connection"),
    ))
}

/// Rewrites `grpc-timeout` to what is left of it: the server and the
/// client's own timer count from when the request goes out.
fn set_timeout(headers: &mut http::HeaderMap, left: Duration) {
    if let Ok(value) = http::HeaderValue::from_str(&format_timeout(left)) {
        headers.insert("grpc-timeout", value);
    }
}

/// `scheme://authority` of a request: the pool's key.
fn origin_key<B>(req: &http::Request<B>) -> Result<String, BoxError> {
    crate::io::tokio::pool_send::origin_key(req).ok_or_else(|| {
        let uri = req.uri();
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{uri}: no authority to route by (a tonic client needs `with_origin`)"),
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_uris_origin() {
        let req = |uri: &str| http::Request::get(uri).body(()).unwrap();
        assert_eq!(
            origin_key(&req("https://a.test:8443/x?y")).unwrap(),
            "https://a.test:8443"
        );
        assert_eq!(origin_key(&req("http://a.test/")).unwrap(), "http://a.test");
        let mut bare = req("/echo.Echo/UnaryEcho");
        assert!(origin_key(&bare).is_err());
        bare.headers_mut()
            .insert(http::header::HOST, "b.test:50051".parse().unwrap());
        assert_eq!(origin_key(&bare).unwrap(), "http://b.test:50051");
    }

    #[test]
    fn the_timeout_left_replaces_grpc_timeout() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", "2S".parse().unwrap());
        set_timeout(&mut headers, Duration::from_millis(1500));
        let value = headers.get("grpc-timeout").unwrap().as_bytes();
        assert_eq!(parse_timeout(value), Some(Duration::from_millis(1500)));
        assert_eq!(headers.get_all("grpc-timeout").iter().count(), 1);
    }
}
