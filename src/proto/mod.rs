//! The HTTP/2 connection state machine (RFC 9113 §5–§8).
pub mod flow;
pub mod headers;
pub mod limits;
pub mod stream;
pub mod timer;
