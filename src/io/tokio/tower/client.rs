//! The tokio [`Client`] as a `tower_service::Service`: what a tonic
//! generated client (or any tower stack) runs on.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tower_service::Service;

use super::BoxError;
use super::body::send_body;
use crate::io::Error;
use crate::io::tokio::{Client, RecvBody};

/// The future of a [`Client`] called as a tower service.
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<RecvBody>, Error>> + Send + 'static>>;

/// Sends an `http::Request<B>` on the client's connection and gives the
/// `http::Response` once its head arrives, the body streaming in as a
/// [`RecvBody`] (data frames, then the trailers).
///
/// The request goes out as [`Client::send_request`] sends it (its head
/// built by [`crate::message::request_fields`]). The body is polled frame by
/// frame as the server takes it, trailers included; a body that fails
/// resets the stream. Dropping the future or the response body before the
/// end cancels the stream (RST_STREAM CANCEL). The client's
/// [`ClientConfig::request_timeout`](crate::io::tokio::ClientConfig::request_timeout)
/// applies (30 s by default: set it to `None` for long-lived streams).
///
/// `poll_ready` is ready while the connection is open (requests beyond the
/// server's concurrency limit wait in order for a slot); it fails once the
/// connection has ended.
///
/// ```
/// use h2proto::io::tokio::{Client, Server};
/// use axum::{Router, routing::get};
/// use http_body_util::BodyExt;
/// use tower_service::Service;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let app = Router::new().route("/", get(|| async { "hi" }));
/// # let server = Server::bind("127.0.0.1:0").await?.serve_service(app);
/// let mut client = Client::connect(server.local_addr()).await?;
/// type Req = http::Request<http_body_util::Empty<bytes::Bytes>>;
/// std::future::poll_fn(|cx| Service::<Req>::poll_ready(&mut client, cx)).await?;
/// let req: Req = http::Request::get("/").body(http_body_util::Empty::new())?;
/// let res = client.call(req).await?;
/// assert_eq!(res.status(), 200);
/// assert_eq!(&res.into_body().collect().await?.to_bytes()[..], b"hi");
/// # Ok(())
/// # }
/// ```
impl<B> Service<http::Request<B>> for Client
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<RecvBody>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.is_closed() {
            true => Poll::Ready(Err(Error::Closed)),
            false => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: http::Request<B>) -> ResponseFuture {
        // No task context here: a body not ready at once is polled again,
        // with the pump's own context, once the request is out.
        let req = req.map(|body| send_body(body, &mut Context::from_waker(Waker::noop())));
        Box::pin(self.send_request(req))
    }
}
