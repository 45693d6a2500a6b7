//! The HTTP rules both adapters follow, written once.

use bytes::Bytes;
use http::{Method, StatusCode};

/// Whether a response to a request with this method carries a body: not
/// for `HEAD` (RFC 9110 §9.3.2). A server sends the handler's headers and
/// drops its body (and trailers).
pub fn sends_body(method: &Method) -> bool {
    method != Method::HEAD
}

/// Whether a response with this status may carry content: not a 204 or a
/// 304 (RFC 9110 §6.4.1; 1xx are interim). A server sends such a handler's
/// headers, `content-length` included, and drops its body and trailers, as
/// for `HEAD` ([`sends_body`]).
///
/// ```
/// use http::StatusCode;
/// assert!(h2proto::message::status_has_content(StatusCode::OK));
/// assert!(!h2proto::message::status_has_content(StatusCode::NO_CONTENT));
/// assert!(!h2proto::message::status_has_content(StatusCode::NOT_MODIFIED));
/// ```
pub fn status_has_content(status: StatusCode) -> bool {
    !matches!(status.as_u16(), 204 | 304)
}

/// Whether a request asks for `100 Continue` before it sends its body
/// (`expect: 100-continue`, RFC 9110 §10.1.1). A server must then answer
/// at once, with its final response or with `100 Continue`: a client
/// that waits for it (curl waits a second) sends nothing until then.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// assert!(!h2proto::message::expects_continue(&headers));
/// headers.insert("expect", "100-Continue".parse().unwrap());
/// assert!(h2proto::message::expects_continue(&headers));
/// ```
pub fn expects_continue(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// The fields of an interim `100 Continue` response.
pub fn continue_fields() -> Vec<crate::hpack::HeaderField> {
    super::response_fields(StatusCode::CONTINUE, &http::HeaderMap::new())
}

/// The answer to a request whose body is over the server's limit: `413
/// Content Too Large` (RFC 9110 §15.5.14), sent without calling the handler;
/// the rest of the body is discarded as it arrives.
pub fn payload_too_large() -> http::Response<Bytes> {
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        Bytes::from_static(b"request body too large\n"),
    )
}

/// The answer when the handler panicked (or a service failed) before
/// answering: `500 Internal Server Error`, no body. A handler that had
/// already started its response gets its stream reset instead.
pub fn internal_error() -> http::Response<Bytes> {
    plain(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new())
}

fn plain(status: StatusCode, body: Bytes) -> http::Response<Bytes> {
    let mut res = http::Response::new(body);
    *res.status_mut() = status;
    res
}

/// How many times a client sends a request again after the server refused
/// it unprocessed (REFUSED_STREAM from the peer, or a stream above its
/// GOAWAY's last stream id: RFC 9113 §8.7).
pub const REFUSED_RETRIES: usize = 3;

/// Counts the retries of one request (see [`REFUSED_RETRIES`]): only the
/// peer's word that it did no work counts; a reset of our own never does,
/// whatever its code.
///
/// ```
/// use h2proto::message::{REFUSED_RETRIES, RefusedRetries};
/// let mut retries = RefusedRetries::new();
/// let tries = std::iter::from_fn(|| retries.retry(true).then_some(())).count();
/// assert_eq!(tries, REFUSED_RETRIES);
/// assert!(!RefusedRetries::new().retry(false));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RefusedRetries {
    done: usize,
}

impl RefusedRetries {
    /// No retry yet.
    pub fn new() -> Self {
        RefusedRetries::default()
    }

    /// Whether to send the request again after a failure; `unprocessed`:
    /// the peer said it did no work on it (`io::Error::is_unprocessed`).
    pub fn retry(&mut self, unprocessed: bool) -> bool {
        if !unprocessed || self.done >= REFUSED_RETRIES {
            return false;
        }
        self.done += 1;
        true
    }
}
