//! The tokio [`Client`] as a `tower_service::Service`: what a tonic
//! generated client (or any tower stack) runs on.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tower_service::Service;

use super::BoxError;
use super::body::{DeadlineReport, deadline_exceeded, push_fields, send_body, to_header_map};
use crate::io::Error;
use crate::io::tokio::{Client, RecvBody, RequestHead};

/// The future of a [`Client`] called as a tower service.
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<RecvBody>, Error>> + Send + 'static>>;

/// Sends an `http::Request<B>` on the client's connection and gives the
/// `http::Response` once its head arrives, the body streaming in as a
/// [`RecvBody`] (data frames, then the trailers).
///
/// The request goes out as [`Client::send_request`] sends it: `:method`,
/// `:scheme` (the URI's, `http` by default, `https` over TLS), `:authority`
/// (the URI's, else the `host` field, else the address connected to),
/// `:path` (with the query; `/` if none), the header fields less the
/// connection-specific ones HTTP/2 forbids. The body is polled frame by
/// frame as the server takes it, trailers included; a body that fails
/// resets the stream. Dropping the future or the response body before the
/// end cancels the stream (RST_STREAM CANCEL).
///
/// **Deadlines.** A request carrying `grpc-timeout` (tonic sends it for
/// `Request::set_timeout`) must be over within it: past it the stream is
/// reset with CANCEL. A gRPC call (`content-type: application/grpc…`) then
/// ends with the status DEADLINE_EXCEEDED, as tonic expects it: a
/// trailers-only response (`grpc-status: 4`) if its head had not arrived,
/// else the body's trailers; other requests fail with [`Error::Timeout`].
/// The client's
/// [`ClientConfig::request_timeout`](crate::io::tokio::ClientConfig::request_timeout)
/// (30 s by default) bounds plain HTTP requests only: a gRPC call without
/// `grpc-timeout` has no deadline, as in every gRPC stack, so a long-lived
/// stream is not cut.
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
        let (parts, body) = req.into_parts();
        let uri = &parts.uri;
        let authority = match uri.authority() {
            Some(a) => Some(a.as_str().to_owned()),
            None => parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned),
        };
        let grpc = is_grpc(&parts.headers);
        let mut headers = Vec::with_capacity(parts.headers.len());
        push_fields(&parts.headers, &mut headers);
        let head = RequestHead {
            method: parts.method.as_str().to_owned(),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            scheme: uri.scheme_str().unwrap_or("http").to_owned(),
            authority,
            headers,
            timeout: request_timeout(&parts.headers, grpc),
        };
        // No task context here: a body not ready at once is polled again,
        // with the pump's own context, once the request is out.
        let body = send_body(body, &mut Context::from_waker(Waker::noop()));
        let mut response = self.send_request(head, body);
        Box::pin(async move {
            let res = match (&mut response).await {
                Ok(res) => res,
                // A gRPC call past its deadline before the response head:
                // answered as the trailers-only DEADLINE_EXCEEDED a server
                // would send.
                Err(Error::Timeout) if grpc => {
                    let mut body = response.into_failed_body().ok_or(Error::Timeout)?;
                    body.deadline = DeadlineReport::Reported;
                    let mut out = http::Response::new(body);
                    *out.version_mut() = http::Version::HTTP_2;
                    let headers = out.headers_mut();
                    *headers = deadline_exceeded();
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/grpc"),
                    );
                    return Ok(out);
                }
                Err(e) => return Err(e),
            };
            let mut body = res.body;
            if grpc {
                body.deadline = DeadlineReport::AsStatus;
            }
            let mut out = http::Response::new(body);
            *out.status_mut() =
                http::StatusCode::from_u16(res.status).map_err(|_| Error::Closed)?;
            *out.version_mut() = http::Version::HTTP_2;
            *out.headers_mut() = to_header_map(res.headers);
            Ok(out)
        })
    }
}

/// Whether a request is a gRPC call: `content-type: application/grpc`,
/// alone or with a `+format` or `;params` suffix.
fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.as_bytes().strip_prefix(b"application/grpc"))
        .is_some_and(|rest| rest.is_empty() || rest[0] == b'+' || rest[0] == b';')
}

/// The request's own timeout: its `grpc-timeout` if it carries a valid one;
/// for any other gRPC call none (`Duration::MAX`: the client's
/// `request_timeout` is for plain HTTP exchanges, and a gRPC stream may
/// rightly live for hours); otherwise the client's default (`None`).
fn request_timeout(headers: &http::HeaderMap, grpc: bool) -> Option<Duration> {
    let timeout = headers
        .get("grpc-timeout")
        .and_then(|v| crate::grpc::timeout::parse_timeout(v.as_bytes()));
    match timeout {
        Some(t) => Some(t),
        None if grpc => Some(Duration::MAX),
        None => None,
    }
}
