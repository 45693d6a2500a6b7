//! Short forms for building `http` messages in tests (the adapters speak
//! `http::Request` / `http::Response`).
#![allow(dead_code)]

use h2proto::message::{self, Trailers};
use http::{HeaderMap, HeaderName, HeaderValue};

/// `method uri` with this body.
pub fn request<B>(method: &str, uri: &str, body: impl Into<B>) -> http::Request<B> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .body(body.into())
        .expect("a valid request")
}

/// A response with this status and body.
pub fn response<B>(status: u16, body: impl Into<B>) -> http::Response<B> {
    http::Response::builder()
        .status(status)
        .body(body.into())
        .expect("a valid status")
}

/// The message with one more header field.
pub fn with_header<M: Headers>(mut msg: M, name: &str, value: impl ToString) -> M {
    msg.headers_mut().append(
        HeaderName::from_bytes(name.as_bytes()).expect("a valid name"),
        HeaderValue::from_str(&value.to_string()).expect("a valid value"),
    );
    msg
}

/// The message with these trailers (in its extensions, as whole messages
/// carry them).
pub fn with_trailers<M: Headers>(mut msg: M, fields: &[(&str, &str)]) -> M {
    msg.extensions_mut().insert(Trailers(header_map(fields)));
    msg
}

/// A header map from (name, value) pairs.
pub fn header_map(fields: &[(&str, &str)]) -> HeaderMap {
    fields
        .iter()
        .map(|(n, v)| {
            (
                HeaderName::from_bytes(n.as_bytes()).expect("a valid name"),
                HeaderValue::from_str(v).expect("a valid value"),
            )
        })
        .collect()
}

/// A header field's value as bytes.
pub fn header<'a, M: Headers>(msg: &'a M, name: &str) -> Option<&'a [u8]> {
    msg.headers().get(name).map(|v| v.as_bytes())
}

/// A trailer field's value as bytes, from a whole message.
pub fn trailer<'a, M: Headers>(msg: &'a M, name: &str) -> Option<&'a [u8]> {
    message::trailers(msg.extensions())
        .and_then(|t| t.get(name))
        .map(|v| v.as_bytes())
}

/// What requests and responses share.
pub trait Headers {
    fn headers(&self) -> &HeaderMap;
    fn headers_mut(&mut self) -> &mut HeaderMap;
    fn extensions(&self) -> &http::Extensions;
    fn extensions_mut(&mut self) -> &mut http::Extensions;
}

impl<B> Headers for http::Request<B> {
    fn headers(&self) -> &HeaderMap {
        http::Request::headers(self)
    }
    fn headers_mut(&mut self) -> &mut HeaderMap {
        http::Request::headers_mut(self)
    }
    fn extensions(&self) -> &http::Extensions {
        http::Request::extensions(self)
    }
    fn extensions_mut(&mut self) -> &mut http::Extensions {
        http::Request::extensions_mut(self)
    }
}

impl<B> Headers for http::Response<B> {
    fn headers(&self) -> &HeaderMap {
        http::Response::headers(self)
    }
    fn headers_mut(&mut self) -> &mut HeaderMap {
        http::Response::headers_mut(self)
    }
    fn extensions(&self) -> &http::Extensions {
        http::Response::extensions(self)
    }
    fn extensions_mut(&mut self) -> &mut http::Extensions {
        http::Response::extensions_mut(self)
    }
}
