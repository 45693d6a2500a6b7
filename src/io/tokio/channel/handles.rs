//! The handles of a channel's streaming calls, and their transparent retry.
//!
//! A call the server refused (REFUSED_STREAM, or above its GOAWAY) is sent
//! again once, on another READY subchannel when there is one, even after
//! the application sent messages: the sender keeps each message it sends
//! (a `Bytes` clone) as long as the sans-IO channel's replay caps allow
//! ([`channel::Config::replay_per_call`], [`channel::Config::replay_per_channel`]),
//! and the retry sends them again, then the half-close if there was one.
//! The response headers (or the first message) commit the call: what was
//! kept is dropped and the call is no longer retried; so does a message
//! that does not fit, after which a refusal ends the call UNAVAILABLE.
//!
//! Either half may see the refusal first (a failed send, or the end of
//! the responses); the first one to take the attempt lock runs the retry
//! and leaves the other half its new handle.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;

use super::{Guard, Shared, after, is_unprocessed, start_on};
use crate::channel::{ChannelCallId, Outcome};
use crate::grpc::{CallId, Metadata, Status};
use crate::io::tokio::grpc::{
    CallOptions, CallSender, ClientCall, ConnSender, ConnStreaming, Error, Streaming,
};

/// What both halves of a call share: the current attempt and what a
/// retry needs.
struct Attempts {
    shared: Arc<Shared>,
    path: String,
    options: CallOptions,
    start: Instant,
    /// The call's id in the channel.
    id: ChannelCallId,
    /// Held through a retry, so that one runs per refused attempt.
    retrying: tokio::sync::Mutex<()>,
    /// Never held across an await.
    state: Mutex<AttemptState>,
}

struct AttemptState {
    /// Bumped by each retry: a half whose generation is older takes its
    /// new handle from the slots below.
    generation: u64,
    /// The call's place in the channel (its current attempt).
    guard: Option<Guard>,
    new_tx: Option<ConnSender>,
    new_rx: Option<ConnStreaming>,
    /// Messages sent and kept for a replay, with their compress flag.
    kept: Vec<(Bytes, bool)>,
    half_closed: bool,
    /// No retry any more: answered, cancelled, or past a replay cap.
    committed: bool,
}

impl Attempts {
    fn new(
        shared: Arc<Shared>,
        guard: Guard,
        path: &str,
        options: CallOptions,
        start: Instant,
        committed: bool,
    ) -> Arc<Attempts> {
        Arc::new(Attempts {
            shared,
            path: path.to_owned(),
            options,
            start,
            id: guard.id,
            retrying: tokio::sync::Mutex::new(()),
            state: Mutex::new(AttemptState {
                generation: 0,
                guard: Some(guard),
                new_tx: None,
                new_rx: None,
                kept: Vec::new(),
                half_closed: false,
                committed,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, AttemptState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits the call: nothing more is kept, what was is dropped.
    fn commit(&self, state: &mut AttemptState) {
        if state.committed {
            return;
        }
        state.committed = true;
        state.kept = Vec::new();
        let id = self.id;
        self.shared.with(|core, _| core.ch.commit(id));
    }

    /// The attempt of `generation` was refused: sends the call again (once
    /// per generation, whichever half asks first). Ok: a newer attempt is
    /// in the slots.
    async fn retry(&self, generation: u64) -> Result<(), ()> {
        let _one = self.retrying.lock().await;
        let guard = {
            let mut state = self.lock();
            if state.generation != generation {
                return Ok(());
            }
            if state.committed {
                return Err(());
            }
            state.guard.take().ok_or(())?
        };
        let picked = match after(&self.shared, guard, Outcome::Unprocessed).await {
            Some(Ok(g)) => g,
            // Retries used up, or no subchannel: the refusal stands.
            None | Some(Err(_)) => return Err(()),
        };
        let Ok((guard, (mut tx, rx))) =
            start_on(&self.shared, picked, &self.path, &self.options, self.start).await
        else {
            return Err(());
        };
        let mut sent = 0;
        loop {
            // What the sender kept, including messages it added meanwhile;
            // the switch happens under the lock once all went out.
            let next = {
                let mut state = self.lock();
                match state.kept.get(sent).cloned() {
                    Some(m) => m,
                    None => {
                        if state.half_closed {
                            let _ = tx.close_send();
                        }
                        if state.committed {
                            tx.cancel();
                        }
                        state.generation += 1;
                        state.guard = Some(guard);
                        state.new_tx = Some(tx);
                        state.new_rx = Some(rx);
                        return Ok(());
                    }
                }
            };
            sent += 1;
            // A failure here shows on the new attempt's handles.
            let _ = tx.send_with(next.0, next.1).await;
        }
    }
}

/// A call on the channel, both halves, sent again if refused.
pub(super) fn new_call(
    shared: Arc<Shared>,
    guard: Guard,
    (tx, rx): (ConnSender, ConnStreaming),
    path: &str,
    options: CallOptions,
    start: Instant,
) -> ClientCall {
    let attempts = Attempts::new(shared, guard, path, options, start, false);
    let tx = ChannelSender {
        attempts: attempts.clone(),
        generation: 0,
        inner: tx,
    };
    let rx = ChannelStreaming {
        attempts,
        generation: 0,
        inner: rx,
    };
    ClientCall::new(CallSender::channel(tx), Streaming::channel(rx))
}

/// The responses of a call that is not retried any more (a server-streaming
/// call once its first item arrived).
pub(super) fn settled(shared: Arc<Shared>, guard: Guard, rx: ConnStreaming) -> Streaming {
    let attempts = Attempts::new(shared, guard, "", CallOptions::new(), Instant::now(), true);
    Streaming::channel(ChannelStreaming {
        attempts,
        generation: 0,
        inner: rx,
    })
}

/// The sending half of a channel's call (inside a [`CallSender`]).
pub(crate) struct ChannelSender {
    attempts: Arc<Attempts>,
    generation: u64,
    inner: ConnSender,
}

impl ChannelSender {
    /// Takes the newer attempt's handle if a retry ran meanwhile.
    fn catch_up(&mut self, state: &mut AttemptState) {
        if state.generation != self.generation
            && let Some(tx) = state.new_tx.take()
        {
            self.inner = tx;
            self.generation = state.generation;
        }
    }

    /// Sends a message (see [`CallSender::send_with`]), keeping it for a
    /// replay while the call is not committed.
    pub(crate) async fn send_with(&mut self, message: Bytes, compress: bool) -> Result<(), Error> {
        let a = self.attempts.clone();
        let kept = {
            let mut state = a.lock();
            self.catch_up(&mut state);
            let (id, n) = (a.id, message.len());
            if state.committed {
                false
            } else if a.shared.with(|core, _| core.ch.keep_for_replay(id, n)) {
                state.kept.push((message.clone(), compress));
                true
            } else {
                // Past a cap: the channel committed the call.
                a.commit(&mut state);
                false
            }
        };
        match self.inner.send_with(message, compress).await {
            Err(Error::Ended(s)) if kept && is_unprocessed(&s) => {
                if a.retry(self.generation).await.is_err() {
                    return Err(Error::Ended(s));
                }
                // The retry sent what was kept, this message included.
                self.catch_up(&mut a.lock());
                Ok(())
            }
            r => r,
        }
    }

    /// Half-closes: no more messages from us (a retry half-closes too).
    pub(crate) fn close_send(&mut self) -> Result<(), Error> {
        let a = self.attempts.clone();
        let mut state = a.lock();
        self.catch_up(&mut state);
        state.half_closed = true;
        self.inner.close_send()
    }

    /// Cancels the call (RST_STREAM CANCEL); its status becomes CANCELLED
    /// and it is not retried. A newer attempt this half has not taken up
    /// yet is cancelled too (one still starting sees the commit).
    pub(crate) fn cancel(&self) {
        let a = &self.attempts;
        let mut state = a.lock();
        a.commit(&mut state);
        if state.generation != self.generation
            && let Some(tx) = &state.new_tx
        {
            tx.cancel();
        }
        self.inner.cancel();
    }
}

impl std::fmt::Debug for ChannelSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// The receiving half of a channel's call (inside a [`Streaming`]).
pub(crate) struct ChannelStreaming {
    attempts: Arc<Attempts>,
    generation: u64,
    inner: ConnStreaming,
}

impl std::fmt::Debug for ChannelStreaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl ChannelStreaming {
    /// The current attempt's id on its connection.
    pub(crate) fn id(&self) -> CallId {
        self.inner.id()
    }

    /// The current attempt ended: if it was refused and the call is not
    /// committed, switches to a retry. True: there is a new attempt.
    async fn retried(&mut self) -> bool {
        let a = self.attempts.clone();
        if a.lock().committed || !is_unprocessed(&self.inner.status().await) {
            return false;
        }
        if a.retry(self.generation).await.is_err() {
            return false;
        }
        let mut state = a.lock();
        match state.new_rx.take() {
            Some(rx) if state.generation != self.generation => {
                self.inner = rx;
                self.generation = state.generation;
                true
            }
            _ => false,
        }
    }

    /// Commits the call once the server answered.
    fn answered(&self) {
        self.attempts.commit(&mut self.attempts.lock());
    }

    /// The response headers' metadata, waiting for them (`None` when the
    /// call ended without any: a trailers-only response).
    pub(crate) async fn headers(&mut self) -> Result<Option<&Metadata>, Error> {
        loop {
            let has = self.inner.headers().await?.is_some();
            if has {
                self.answered();
                break;
            }
            if self.inner.trailers().is_none() || !self.retried().await {
                break;
            }
        }
        self.inner.headers().await
    }

    /// The next message, or `None` when the call is over (see
    /// [`status`](Self::status)); see [`Streaming::recv`].
    pub(crate) async fn recv(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            if self.inner.headers().await?.is_some() {
                self.answered();
            }
            match self.inner.recv().await? {
                Some(m) => {
                    self.answered();
                    return Ok(Some(m));
                }
                None if self.retried().await => continue,
                None => return Ok(None),
            }
        }
    }

    /// Whether the last message received arrived compressed.
    pub(crate) fn last_compressed(&self) -> bool {
        self.inner.last_compressed()
    }

    /// Waits for the call's end (dropping messages not received yet) and
    /// returns its status.
    pub(crate) async fn status(&mut self) -> Status {
        loop {
            let status = self.inner.status().await;
            if !self.retried().await {
                return status;
            }
        }
    }

    /// The trailers' metadata, once the call is over.
    pub(crate) fn trailers(&self) -> Option<&Metadata> {
        self.inner.trailers()
    }

    /// See [`ConnStreaming::take_metadata`]: the last attempt's.
    pub(crate) fn take_metadata(&mut self) -> (Metadata, Metadata) {
        self.inner.take_metadata()
    }
}
