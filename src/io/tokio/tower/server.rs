//! Serving a `tower_service::Service` (an axum `Router`, a tonic server)
//! on the tokio [`Server`].

use std::future::poll_fn;
use std::task::Poll;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use tower_service::Service;

use super::BoxError;
use super::body::{push_fields, send_body, to_header_map};
use super::deadline::{Deadline, exceeded_response, grpc_deadline};
use crate::io::tokio::{RecvBody, Request, Response, Server, ServerHandle};

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
    /// resets the stream (CANCEL). As tonic's own server does, a gRPC
    /// request's `grpc-timeout` is enforced: a service that has not
    /// answered by then is answered DEADLINE_EXCEEDED (trailers-only), and
    /// a response body still going then ends with DEADLINE_EXCEEDED
    /// trailers (the service's stream is dropped). The request's URI is absolute
    /// (`:scheme`, `:authority` or else the `host` field, `:path`), its
    /// version `HTTP/2.0`.
    ///
    /// ```
    /// use h2proto::io::tokio::{Client, Server};
    /// use axum::{Router, routing::get};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let app = Router::new().route("/", get(|| async { "hello from axum" }));
    /// let server = Server::bind("127.0.0.1:0").await?.serve_service(app);
    /// let client = Client::connect(server.local_addr()).await?;
    /// assert_eq!(&client.get("/").await?.body[..], b"hello from axum");
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
                let Some(req) = into_http_request(req) else {
                    return Response::new(400);
                };
                let deadline = grpc_deadline(&req);
                let answer = async {
                    poll_fn(|cx| service.poll_ready(cx)).await.ok()?;
                    service.call(req).await.ok()
                };
                let answer = match deadline {
                    None => answer.await,
                    Some(at) => match tokio::time::timeout_at(at, answer).await {
                        Ok(answer) => answer,
                        Err(_) => return exceeded_response(),
                    },
                };
                let Some(res) = answer else {
                    return Response::new(500);
                };
                let (parts, body) = res.into_parts();
                let mut headers = Vec::with_capacity(parts.headers.len());
                push_fields(&parts.headers, &mut headers);
                let mut body = Some(body);
                let body = poll_fn(|cx| {
                    Poll::Ready(body.take().map(|b| match deadline {
                        None => send_body(b, cx),
                        Some(at) => send_body(Deadline::new(b, at), cx),
                    }))
                })
                .await
                .unwrap_or_default();
                Response {
                    status: parts.status.as_u16(),
                    headers,
                    body,
                }
            }
        })
    }
}

/// The adapter's request as an `http::Request`; `None` if its method or
/// URI parts are not valid for `http`.
fn into_http_request(req: Request) -> Option<http::Request<RecvBody>> {
    let method = http::Method::from_bytes(req.method.as_bytes()).ok()?;
    let mut parts = http::uri::Parts::default();
    let authority = match req.authority {
        Some(a) => Some(a),
        None => req
            .headers
            .iter()
            .find(|f| f.name == "host")
            .and_then(|f| String::from_utf8(f.value.to_vec()).ok()),
    };
    if let Some(a) = authority {
        parts.authority = Some(Authority::from_maybe_shared(Bytes::from(a)).ok()?);
        // CONNECT has no `:scheme`: its URI is the authority alone.
        parts.scheme = match req.scheme.as_str() {
            "" => None,
            "http" => Some(Scheme::HTTP),
            "https" => Some(Scheme::HTTPS),
            other => Some(other.parse().ok()?),
        };
    }
    if !req.path.is_empty() {
        parts.path_and_query = Some(PathAndQuery::from_maybe_shared(Bytes::from(req.path)).ok()?);
    }
    let uri = http::Uri::from_parts(parts).ok()?;
    let mut out = http::Request::new(req.body);
    *out.method_mut() = method;
    *out.uri_mut() = uri;
    *out.version_mut() = http::Version::HTTP_2;
    *out.headers_mut() = to_header_map(req.headers);
    Some(out)
}
