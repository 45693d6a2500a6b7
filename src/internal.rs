//! Not API: items the crate's own fuzz targets, benches and tests reach
//! for and embedders do not need.
//!
//! Hidden from the docs, exempt from semver: anything here may change or
//! vanish in any release. If something in this module is useful to you, open
//! an issue so it can get a proper home in the public API.

/// The largest legal flow-control window, 2^31-1 (RFC 9113 §6.9.1).
pub const MAX_WINDOW: u32 = crate::sched::window::MAX_WINDOW;

/// [`message::request_head`](crate::message::request_head) as the tokio
/// server runs it: with one connection's cache of parsed authorities and
/// paths, kept across calls. The fuzz target `http_message` checks it
/// against the uncached conversion.
#[derive(Debug)]
pub struct CachedRequestHeads(crate::message::head::HeadCache);

impl CachedRequestHeads {
    /// An empty cache.
    pub fn new() -> Self {
        CachedRequestHeads(crate::message::head::HeadCache::new())
    }

    /// Converts one received request head, through the cache.
    pub fn request_head(
        &mut self,
        headers: crate::proto::HeaderList,
    ) -> Result<http::Request<()>, crate::message::InvalidHead> {
        crate::message::head::request_head_cached(headers, &mut self.0)
    }
}

impl Default for CachedRequestHeads {
    fn default() -> Self {
        Self::new()
    }
}
