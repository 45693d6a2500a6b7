//! HTTP messages over the core, sans-IO: the counterpart of [`grpc`](crate::grpc)
//! for plain HTTP/2.
//!
//! The core speaks header fields ([`HeaderField`](crate::hpack::HeaderField)s,
//! zero-copy views of the decoded block); applications speak the `http` crate's types
//! ([`http::Request`], [`http::Response`], [`http::HeaderMap`], ...), the
//! ones every h2, hyper, axum and tonic user already holds. This layer is
//! the one place where the two meet, and where the HTTP rules both
//! adapters follow are written down:
//!
//! - **Heads ⇄ header fields** ([`request_fields`], [`response_fields`],
//!   [`request_head`], [`response_head`], [`header_map`],
//!   [`trailer_fields`]): pseudo-header fields built and read, names
//!   lowercase, connection-specific fields HTTP/2 forbids dropped on the way
//!   out (RFC 9113 §8.2.2). Received values become `HeaderValue`s on the
//!   same memory (no copy).
//! - **Server rules**: every response carries `date` ([`push_date`],
//!   [`http_date`]; RFC 9110 §6.6.1); a response to `HEAD` has no body ([`sends_body`]); a
//!   request body over the server's limit is answered
//!   [`payload_too_large`] (413); a handler that panics or fails,
//!   [`internal_error`] (500).
//! - **Client rule**: a request the peer refused with REFUSED_STREAM (it did
//!   no work on it, RFC 9113 §8.7) is sent again, up to [`REFUSED_RETRIES`]
//!   times ([`RefusedRetries`]).
//!
//! Whole messages (bodies collected in memory) are `http::Request<Bytes>` /
//! `http::Response<Bytes>`; their trailers, if any, ride in the message's
//! extensions as [`Trailers`].
//!
//! ```
//! use h2proto::message;
//!
//! let req = http::Request::post("/echo")
//!     .header("content-type", "text/plain")
//!     .body(())?;
//! let (parts, ()) = req.into_parts();
//! let fields = message::request_fields(&parts, "example.com", false);
//! let names: Vec<&[u8]> = fields.iter().map(|f| &f.name[..]).collect();
//! assert_eq!(names, [&b":method"[..], b":scheme", b":authority", b":path", b"content-type"]);
//! assert_eq!(&fields[2].value[..], b"example.com");
//! # Ok::<(), http::Error>(())
//! ```

mod date;
pub(crate) mod head;
mod rules;

pub use date::{http_date, push_date};
#[cfg(feature = "tokio")]
pub(crate) use head::{HeadCache, request_head_cached};
pub use head::{
    InvalidHead, header_map, request_fields, request_head, response_fields, response_head,
    trailer_fields,
};
pub use rules::{
    REFUSED_RETRIES, RefusedRetries, continue_fields, expects_continue, internal_error,
    payload_too_large, sends_body, status_has_content,
};

/// The `http` crate this layer speaks (re-exported: no version to match).
pub use http;

/// Trailer fields of a whole message (`http::Request<Bytes>`,
/// `http::Response<Bytes>`), kept in its extensions.
///
/// ```
/// use h2proto::message::Trailers;
/// let mut trailers = http::HeaderMap::new();
/// trailers.insert("x-checksum", "abc".parse()?);
/// let res = http::Response::builder().extension(Trailers(trailers)).body(())?;
/// let got = res.extensions().get::<Trailers>().and_then(|t| t.get("x-checksum"));
/// assert_eq!(got.map(|v| v.as_bytes()), Some(&b"abc"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers(pub http::HeaderMap);

impl std::ops::Deref for Trailers {
    type Target = http::HeaderMap;

    fn deref(&self) -> &http::HeaderMap {
        &self.0
    }
}

/// The trailers of a whole message, if it has any (see [`Trailers`]).
pub fn trailers(extensions: &http::Extensions) -> Option<&http::HeaderMap> {
    extensions
        .get::<Trailers>()
        .map(|t| &t.0)
        .filter(|t| !t.is_empty())
}
