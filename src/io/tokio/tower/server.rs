//! Serving a `tower_service::Service` (an axum `Router`, a tonic server)
//! on the tokio [`Server`].

use std::future::poll_fn;
use std::task::Poll;

use tower_service::Service;

use super::BoxError;
use super::body::send_body;
use crate::io::tokio::{Body, RecvBody, Server, ServerHandle};

impl Server {
    /// Starts serving in the background with a tower service: each request
    /// is handed to a clone of `service` as an `http::Request<RecvBody>`
    /// once its `poll_ready` says so, and its `http::Response<B>` is sent
    /// back, the body (data and trailers) pumped into the stream as the
    /// peer takes it. Everything else is [`serve`](Self::serve)'s: h2c or
    /// TLS (`with_tls`, feature `tls`), graceful
    /// [`ServerHandle::shutdown`].
    ///
    /// As hyper does: a service error (from `poll_ready` or the call)
    /// answers 500; a response body that fails after the headers went out
    /// resets the stream (CANCEL). The request is the one
    /// [`serve`](Self::serve) hands a handler (absolute URI, `HTTP/2.0`).
    ///
    /// ```
    /// use h2proto::io::tokio::{Client, Server};
    /// use axum::{Router, routing::get};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let app = Router::new().route("/", get(|| async { "hello from axum" }));
    /// let server = Server::bind("127.0.0.1:0").await?.serve_service(app);
    /// let client = Client::connect(server.local_addr()).await?;
    /// assert_eq!(&client.get("/").await?.body()[..], b"hello from axum");
    /// server.shutdown(std::time::Duration::from_secs(1)).await;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn serve_service<S, B>(self, service: S) -> ServerHandle
    where
        S: Service<http::Request<RecvBody>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.serve(move |req| {
            let mut service = service.clone();
            async move {
                if poll_fn(|cx| service.poll_ready(cx)).await.is_err() {
                    return internal_error();
                }
                let Ok(res) = service.call(req).await else {
                    return internal_error();
                };
                let (parts, body) = res.into_parts();
                let mut body = Some(body);
                let body = poll_fn(|cx| Poll::Ready(body.take().map(|b| send_body(b, cx))))
                    .await
                    .unwrap_or_default();
                http::Response::from_parts(parts, body)
            }
        })
    }
}

/// A service that failed answers 500.
fn internal_error() -> http::Response<Body> {
    crate::message::internal_error().map(Body::from)
}
