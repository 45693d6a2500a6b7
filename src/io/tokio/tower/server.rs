//! Serving a `tower_service::Service` (an axum `Router`, a tonic server)
//! on the tokio [`Server`].

use std::future::{Future, poll_fn};
use std::pin::pin;

use tower_service::Service;

use super::BoxError;
use super::body::send_body;
use super::deadline::{Deadline, exceeded_response, grpc_deadline};
use crate::io::tokio::{Body, RecvBody, Server, ServerHandle};

impl Server {
    /// Starts serving in the background with a tower service: each
    /// connection works on its own clone of `service` (so it needs `Clone +
    /// Send`, not `Sync`: a `tower::util::BoxCloneService` serves as it
    /// is), and each request is handed to a clone of that as an
    /// `http::Request<RecvBody>`
    /// once its `poll_ready` says so, and its `http::Response<B>` is sent
    /// back, the body (data and trailers) pumped into the stream as the
    /// peer takes it. Everything else is [`serve`](Self::serve)'s: h2c or
    /// TLS (`with_tls`, feature `tls`), graceful
    /// [`ServerHandle::shutdown`].
    ///
    /// As hyper does: a service error (from `poll_ready` or the call)
    /// answers 500; a response body that fails after the headers went out
    /// resets the stream (CANCEL). As tonic's own server does, a gRPC
    /// request's `grpc-timeout` is enforced: a service that has not
    /// answered by then is answered DEADLINE_EXCEEDED (trailers-only), and
    /// a response body still going then ends with DEADLINE_EXCEEDED
    /// trailers (the service's stream is dropped). When the client cancels
    /// (resets the stream) or the connection closes, the service's future
    /// or its response body is dropped at once, as under hyper and tonic's
    /// transport: a tonic handler waiting on anything sees cancellation as
    /// its drop. The request is the one [`serve`](Self::serve) hands a
    /// handler (absolute URI, `HTTP/2.0`).
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
        S: Service<http::Request<RecvBody>, Response = http::Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.serve_cloned(service, |service| {
            let service = service.clone();
            move |req| call(service, req)
        })
    }
}

/// One call of the service: readiness, the call (under the request's gRPC
/// deadline, if any), the response's body made a [`Body`].
///
/// Written so that its future stays small (it is part of a future boxed
/// for every request, and past 1 KiB malloc costs much more): without a
/// deadline, the request and the call's future are all it holds (an
/// `async fn` would hold its arguments twice); the deadline's timer is
/// boxed on its own. The response is taken apart in the poll that
/// produced it (its body's first frames are polled with that poll's
/// context), so none of it is held across an await.
fn call<S, B>(
    mut service: S,
    req: http::Request<RecvBody>,
) -> impl Future<Output = http::Response<Body>>
where
    S: Service<http::Request<RecvBody>, Response = http::Response<B>>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let deadline = grpc_deadline(&req);
    async move {
        match deadline {
            None => {
                if poll_fn(|cx| service.poll_ready(cx)).await.is_err() {
                    return internal_error();
                }
                let mut answer = pin!(service.call(req));
                poll_fn(|cx| {
                    answer.as_mut().poll(cx).map(|res| match res {
                        Ok(res) => with_body(res, |b| send_body(b, cx)),
                        Err(_) => internal_error(),
                    })
                })
                .await
            }
            Some(at) => {
                let answer = async move {
                    poll_fn(|cx| service.poll_ready(cx)).await.ok()?;
                    service.call(req).await.ok()
                };
                let mut answer = Box::pin(tokio::time::timeout_at(at, answer));
                poll_fn(|cx| {
                    answer.as_mut().poll(cx).map(|res| match res {
                        Ok(Some(res)) => with_body(res, |b| send_body(Deadline::new(b, at), cx)),
                        Ok(None) => internal_error(),
                        Err(_) => exceeded_response(),
                    })
                })
                .await
            }
        }
    }
}

/// The service's response with its body made a [`Body`] by `make`.
fn with_body<B>(res: http::Response<B>, make: impl FnOnce(B) -> Body) -> http::Response<Body> {
    let (parts, body) = res.into_parts();
    http::Response::from_parts(parts, make(body))
}

/// A service that failed answers 500.
fn internal_error() -> http::Response<Body> {
    crate::message::internal_error().map(Body::from)
}
