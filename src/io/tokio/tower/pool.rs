//! The connection [`Pool`] of tokio [`Client`]s as a
//! `tower_service::Service`: each request goes to a connection to its URI's
//! origin, so one tonic generated client (or tower stack) can call several
//! servers and share their connections with other callers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use super::BoxError;
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
/// connection's limit on its own. A request the server refuses
/// (REFUSED_STREAM, e.g. beyond its limit on a connection whose SETTINGS had
/// not arrived when the connector returned it) fails; it is not sent again,
/// since its body has been consumed.
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
            let mut req = req;
            let key = origin_key(&req)?;
            // A gRPC deadline covers the wait for a connection too.
            let timeout = req
                .headers()
                .get("grpc-timeout")
                .and_then(|v| parse_timeout(v.as_bytes()));
            let slot = match timeout {
                Some(limit) => {
                    let started = ::tokio::time::Instant::now();
                    let slot = ::tokio::time::timeout(limit, pool.get(&key))
                        .await
                        .map_err(|_| deadline_passed(&key))??;
                    let left = limit.saturating_sub(started.elapsed());
                    if left < limit {
                        set_timeout(req.headers_mut(), left);
                    }
                    slot
                }
                None => pool.get(&key).await?,
            };
            let mut client = Client::clone(&slot);
            let response = Service::<http::Request<B>>::call(&mut client, req).await;
            // Until here the slot stood for a stream not counted yet.
            drop(slot);
            Ok(response?)
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
    let uri = req.uri();
    let authority = match uri.authority() {
        Some(a) => a.as_str(),
        None => req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{uri}: no authority to route by (a tonic client needs `with_origin`)"),
                )
            })?,
    };
    Ok(format!(
        "{}://{authority}",
        uri.scheme_str().unwrap_or("http")
    ))
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
