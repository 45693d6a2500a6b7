//! The servers' `date` field value: the system clock's current second as an
//! HTTP-date (`message::http_date`), formatted once a second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

thread_local! {
    /// The second last formatted, and its text.
    static LAST: RefCell<(u64, Bytes)> = const { RefCell::new((u64::MAX, Bytes::new())) };
}

/// The current second as an HTTP-date, shared (a clone of one `Bytes`)
/// by every response of that second on this thread.
pub(crate) fn now() -> Bytes {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != secs {
            *last = (secs, Bytes::from(crate::message::http_date(secs)));
        }
        last.1.clone()
    })
}
