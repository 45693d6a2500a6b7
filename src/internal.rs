//! Not API: items the crate's own fuzz targets, benches and tests reach
//! for and embedders do not need.
//!
//! Hidden from the docs, exempt from semver: anything here may change or
//! vanish in any release. If something in this module is useful to you, open
//! an issue so it can get a proper home in the public API.

/// The largest legal flow-control window, 2^31-1 (RFC 9113 §6.9.1).
pub const MAX_WINDOW: u32 = crate::sched::window::MAX_WINDOW;
