//! A request body kept as it is sent, so that a request the server did not
//! process can be sent again: the tower faces of the [`Channel`] and the
//! [`Pool`] replay it on another connection.
//!
//! [`Channel`]: crate::io::tokio::channel::Channel
//! [`Pool`]: crate::io::tokio::pool::Pool

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::Frame;

use super::BoxError;

pub(crate) fn lock<B>(tee: &Mutex<Tee<B>>) -> std::sync::MutexGuard<'_, Tee<B>> {
    tee.lock().unwrap_or_else(|e| e.into_inner())
}

/// The channel's replay accounting for one call: `Some(n)` asks to keep
/// `n` more bytes (false: past a cap, the call is committed), `None` says
/// the call committed (the answer is ignored).
type Budget = Box<dyn FnMut(Option<usize>) -> bool + Send>;

/// The request body, polled once, and what of it is kept for a replay.
///
/// Only the latest attempt reads it: a refused attempt's stream may still
/// be pumped for a while, and what it pulled from the source then would
/// be missing from the attempt that replaces it (and its waker would
/// replace the live attempt's in the source).
pub(crate) struct Tee<B> {
    source: Pin<Box<B>>,
    /// The frames kept for a replay; once committed, those the current
    /// attempt has not sent yet (it sends them, then they are dropped).
    kept: Vec<Bytes>,
    /// How many of `kept` the current attempt has sent.
    read: usize,
    /// The attempt that reads the body (counted from 1).
    current: usize,
    trailers: Option<http::HeaderMap>,
    ended: bool,
    /// No more replays (the answer came, or a cap was passed).
    pub(crate) committed: bool,
    budget: Budget,
}

impl<B> Tee<B> {
    pub(crate) fn new(body: B, budget: impl FnMut(Option<usize>) -> bool + Send + 'static) -> Self {
        Tee {
            source: Box::pin(body),
            kept: Vec::new(),
            read: 0,
            current: 0,
            trailers: None,
            ended: false,
            committed: false,
            budget: Box::new(budget),
        }
    }

    /// No more replays: nothing more is kept, and what the current attempt
    /// has sent is dropped. What it has not sent yet stays until it has:
    /// the answer (and the commit) can come before the request's end.
    pub(crate) fn commit(&mut self) {
        if !self.committed {
            self.committed = true;
            self.kept.drain(..self.read);
            self.read = 0;
            (self.budget)(None);
        }
    }
}

/// One attempt's view of the request body: what was kept, then the rest
/// of the source.
pub(crate) struct ReplayBody<B> {
    tee: Arc<Mutex<Tee<B>>>,
    /// Which attempt this is: once another one starts, this one is stale.
    attempt: usize,
    trailers_sent: bool,
}

impl<B> ReplayBody<B> {
    /// The body of a new attempt, which reads the kept frames from the
    /// start; the one before it (if any) reads nothing more.
    pub(crate) fn next_attempt(tee: &Arc<Mutex<Tee<B>>>) -> Self {
        let mut t = lock(tee);
        t.current += 1;
        t.read = 0;
        ReplayBody {
            tee: tee.clone(),
            attempt: t.current,
            trailers_sent: false,
        }
    }
}

impl<B> http_body::Body for ReplayBody<B>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let mut t = lock(&this.tee);
        if t.current != this.attempt {
            // Refused and replaced: its stream is gone.
            return Poll::Ready(Some(Err("the request was sent again".into())));
        }
        let (read, committed) = (t.read, t.committed);
        if let Some(slot) = t.kept.get_mut(read) {
            // Once committed, a kept frame is sent once more at most.
            let b = if committed {
                std::mem::take(slot)
            } else {
                slot.clone()
            };
            t.read += 1;
            if t.committed && t.read == t.kept.len() {
                t.kept = Vec::new();
                t.read = 0;
            }
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        loop {
            if t.ended {
                if !this.trailers_sent
                    && let Some(tr) = t.trailers.clone()
                {
                    this.trailers_sent = true;
                    return Poll::Ready(Some(Ok(Frame::trailers(tr))));
                }
                return Poll::Ready(None);
            }
            let frame = match t.source.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    t.ended = true;
                    continue;
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(f))) => f,
            };
            match frame.into_data() {
                Ok(mut d) => {
                    let data = d.copy_to_bytes(d.remaining());
                    if !t.committed {
                        if (t.budget)(Some(data.len())) {
                            t.kept.push(data.clone());
                            t.read += 1;
                        } else {
                            // Past a cap: the channel committed the call.
                            t.committed = true;
                            t.kept = Vec::new();
                            t.read = 0;
                        }
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Err(frame) => {
                    if let Ok(tr) = frame.into_trailers() {
                        t.trailers = Some(tr.clone());
                        t.ended = true;
                        this.trailers_sent = true;
                        return Poll::Ready(Some(Ok(Frame::trailers(tr))));
                    }
                    // A frame of a kind we do not know: skip it.
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let t = lock(&self.tee);
        t.current == self.attempt
            && t.ended
            && t.read >= t.kept.len()
            && (self.trailers_sent || t.trailers.is_none())
    }
}

/// A pool request's share of its pool's replay memory: at most `per_request`
/// bytes for itself, and the pool's `total` at most `per_pool`. What it
/// holds goes back when the request commits or is dropped.
pub(crate) struct ReplayQuota {
    total: Arc<AtomicUsize>,
    kept: usize,
    per_request: usize,
    per_pool: usize,
}

impl ReplayQuota {
    pub(crate) fn new(total: Arc<AtomicUsize>, per_request: usize, per_pool: usize) -> Self {
        ReplayQuota {
            total,
            kept: 0,
            per_request,
            per_pool,
        }
    }

    /// The [`Tee`] budget: `Some(n)` keeps `n` more bytes if both caps
    /// allow, `None` (committed) gives back what was kept.
    pub(crate) fn step(&mut self, step: Option<usize>) -> bool {
        let Some(n) = step else {
            self.release();
            return true;
        };
        if self.kept + n > self.per_request {
            self.release();
            return false;
        }
        let per_pool = self.per_pool;
        let taken = self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t + n <= per_pool).then_some(t + n)
            })
            .is_ok();
        if taken {
            self.kept += n;
        } else {
            self.release();
        }
        taken
    }

    fn release(&mut self) {
        let kept = std::mem::take(&mut self.kept);
        if kept > 0 {
            self.total.fetch_sub(kept, Ordering::AcqRel);
        }
    }
}

impl Drop for ReplayQuota {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::StreamBody;
    use std::convert::Infallible;

    /// A body handing out prepared frames, each ready at once.
    type Frames = StreamBody<
        futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>,
    >;

    fn tee(parts: &[&'static str]) -> Arc<Mutex<Tee<Frames>>> {
        let frames: Vec<_> = parts
            .iter()
            .map(|s| Ok(Frame::data(Bytes::from(*s))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(frames));
        Arc::new(Mutex::new(Tee::new(body, |_| true)))
    }

    /// The next frame's data (`None` at the end, `Err` for an error).
    fn next(body: &mut ReplayBody<Frames>) -> Result<Option<String>, String> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(f))) => {
                let d = f.into_data().map_err(|_| "not data".to_string())?;
                Ok(Some(String::from_utf8_lossy(&d).into_owned()))
            }
            Poll::Ready(Some(Err(e))) => Err(e.to_string()),
            Poll::Ready(None) => Ok(None),
            Poll::Pending => Err("pending".into()),
        }
    }

    fn rest(body: &mut ReplayBody<Frames>) -> Vec<String> {
        let mut got = Vec::new();
        while let Ok(Some(d)) = next(body) {
            got.push(d);
        }
        got
    }

    /// The answer (and the commit) arrived while the replay had sent only
    /// part of what was kept: the rest still goes out (an echo server
    /// answers before it has read the request).
    #[test]
    fn a_commit_mid_replay_keeps_what_the_replay_has_not_sent() {
        let tee = tee(&["one ", "two ", "three"]);
        let mut first = ReplayBody::next_attempt(&tee);
        assert_eq!(rest(&mut first), ["one ", "two ", "three"]);
        let mut second = ReplayBody::next_attempt(&tee);
        assert_eq!(next(&mut second), Ok(Some("one ".into())));
        assert_eq!(next(&mut second), Ok(Some("two ".into())));
        lock(&tee).commit();
        assert!(!second.is_end_stream(), "\"three\" is still to send");
        assert_eq!(rest(&mut second), ["three"]);
        assert!(second.is_end_stream());
        assert!(lock(&tee).kept.is_empty(), "dropped once sent");
    }

    /// A refused attempt whose stream is still pumped takes nothing from
    /// the attempt that replaced it.
    #[test]
    fn a_replaced_attempt_reads_nothing_more() {
        let tee = tee(&["one ", "two ", "three"]);
        let mut first = ReplayBody::next_attempt(&tee);
        assert_eq!(next(&mut first), Ok(Some("one ".into())));
        let mut second = ReplayBody::next_attempt(&tee);
        assert_eq!(next(&mut second), Ok(Some("one ".into())));
        lock(&tee).commit();
        assert!(next(&mut first).is_err(), "the stale attempt read on");
        assert!(!first.is_end_stream());
        assert_eq!(rest(&mut second), ["two ", "three"]);
    }

    #[test]
    fn a_quota_keeps_within_both_caps_and_gives_back_what_it_kept() {
        let total = Arc::new(AtomicUsize::new(0));
        let kept = || total.load(Ordering::Acquire);
        // Past its own cap: what it kept goes back (the Tee stops asking).
        let mut a = ReplayQuota::new(Arc::clone(&total), 100, 150);
        assert!(a.step(Some(60)) && a.step(Some(40)));
        assert_eq!(kept(), 100);
        assert!(!a.step(Some(1)));
        assert_eq!(kept(), 0);
        // Past the pool's cap, with another request holding 90.
        let mut b = ReplayQuota::new(Arc::clone(&total), 100, 150);
        let mut c = ReplayQuota::new(Arc::clone(&total), 100, 150);
        assert!(b.step(Some(90)));
        assert!(c.step(Some(50)));
        assert!(!c.step(Some(20)), "160 > 150");
        assert_eq!(kept(), 90, "c gave back its 50");
        // Committed, or dropped: all of it goes back.
        assert!(b.step(None));
        assert_eq!(kept(), 0);
        let mut d = ReplayQuota::new(Arc::clone(&total), 100, 150);
        assert!(d.step(Some(30)));
        drop(d);
        assert_eq!(kept(), 0);
    }
}
