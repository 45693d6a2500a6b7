//! The driver's engine for gRPC: a sans-IO endpoint plus the table of calls
//! that have handles, and the handle-side primitives both roles share
//! (take the next item, send with back-pressure, watch for the end, drop).
//!
//! A received message is a buffer of the endpoint's memory budget
//! (`grpc::Endpoint::poll_event_held`): it keeps its flow-control credit (and its
//! share of the budget) until the application drops the last reference to
//! it, wherever that is (a handler done with a request, or the core once it
//! wrote an echo back). The credit is then owed through the budget, which
//! wakes the driver; `dispatch` applies it through the endpoint. A reader
//! that stops reading stops the peer through its windows.

use std::collections::VecDeque;
use std::io;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;

use super::Error;
use crate::grpc::{self, CallError, CallId, Code, Event, Metadata, Side, Status};
use crate::io::tokio::driver::{self, Handle, LocalTask};
use crate::proto::MemoryBudget;
use crate::sched::IdKeyMap;

/// A new call on a server, as the endpoint reported it.
pub(crate) struct Started {
    pub call: CallId,
    pub path: String,
    pub authority: Option<String>,
    pub metadata: Metadata,
    pub deadline: Option<Instant>,
}

/// What turns a new call into a handler task (the server's router).
pub(crate) trait Starter<S: Side>: Send {
    /// The task serving `started`, or `None` to refuse it. Called under
    /// the connection's lock: it must only build the future, not run it.
    fn start(&mut self, started: Started) -> Option<LocalTask>;
    /// Answers a call [`start`](Starter::start) refused (a server:
    /// UNIMPLEMENTED).
    fn refuse(&mut self, ep: &mut grpc::Endpoint<S>, call: CallId);
}

/// What a call's handle reads, in order.
#[derive(Debug)]
pub(crate) enum Item {
    /// Client: the response headers.
    Headers(Metadata),
    /// A message (a budget buffer: dropping it gives its credit back) and
    /// whether it arrived compressed.
    Message(Bytes, bool),
    /// Server: the client half-closed.
    HalfClosed,
}

/// One call that has handles.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    items: VecDeque<Item>,
    /// How the call ended (status, trailers), once it did.
    end: Option<(Status, Metadata)>,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// Tasks waiting for the end (a server context's `cancelled()`).
    watchers: Vec<Waker>,
    /// Server: `finish` was called (dropping the handles cancels nothing).
    pub finished: bool,
    /// Server: trailers to send with the status.
    pub trailers: Metadata,
}

impl CallState {
    fn wake_all(&mut self) {
        for w in [self.reader.take(), self.writer.take()]
            .into_iter()
            .flatten()
        {
            w.wake();
        }
        for w in self.watchers.drain(..) {
            w.wake();
        }
    }

    pub(crate) fn end(&mut self, status: Status, trailers: Metadata) {
        if self.end.is_none() {
            self.end = Some((status, trailers));
        }
        self.wake_all();
    }
}

/// A gRPC endpoint and its calls, run by the connection's driver.
pub(crate) struct Engine<S: Side> {
    pub ep: grpc::Endpoint<S>,
    pub calls: IdKeyMap<CallId, CallState>,
    /// Why the connection ended, once it did (new calls fail with it).
    pub closed: Option<Status>,
    /// The peer sent GOAWAY (a client opens no more calls here).
    pub goaway: bool,
    /// Turns true with GOAWAY or the end: a channel takes the connection
    /// out of its rotation at that moment, not at its next pick.
    pub closing: tokio::sync::watch::Sender<bool>,
    starter: Option<Box<dyn Starter<S>>>,
    /// The driver ended.
    done: bool,
}

impl<S: Side> Engine<S> {
    pub(crate) fn new(ep: grpc::Endpoint<S>) -> Self {
        Engine {
            ep,
            calls: IdKeyMap::default(),
            closed: None,
            goaway: false,
            closing: tokio::sync::watch::Sender::new(false),
            starter: None,
            done: false,
        }
    }

    /// Sets the router. It usually holds the connection's own handle, a
    /// cycle that [`finish`](driver::Engine::finish) breaks.
    pub(crate) fn set_starter(&mut self, starter: Box<dyn Starter<S>>) {
        self.starter = Some(starter);
    }

    /// The status of a call that cannot run because the connection is over.
    pub(crate) fn closed_status(&self) -> Status {
        self.closed
            .clone()
            .unwrap_or_else(|| Status::new(Code::UNAVAILABLE, "connection closed"))
    }

    fn started(&mut self, s: Started, spawn: &mut Vec<LocalTask>) {
        let call = s.call;
        let Some(starter) = self.starter.as_mut().filter(|_| !self.done) else {
            // Nobody serves calls any more (the transport is gone).
            let _ = self.ep.cancel(call);
            return;
        };
        self.calls.insert(call, CallState::default());
        match starter.start(s) {
            Some(task) => spawn.push(task),
            None => {
                self.calls.remove(&call);
                starter.refuse(&mut self.ep, call);
            }
        }
    }

    fn push(&mut self, call: CallId, item: Item) {
        match self.calls.get_mut(&call) {
            Some(st) => {
                st.items.push_back(item);
                if let Some(w) = st.reader.take() {
                    w.wake();
                }
            }
            // Nobody will read it: dropped, its credit is owed at once
            // (applied at the end of this dispatch).
            None => drop(item),
        }
    }

    fn ended(&mut self, call: CallId, status: Status, trailers: Metadata) {
        if let Some(st) = self.calls.get_mut(&call) {
            st.end(status, trailers);
        }
    }
}

impl<S: Side> driver::Engine for Engine<S> {
    type Conn = grpc::Endpoint<S>;

    fn conn(&mut self) -> &mut grpc::Endpoint<S> {
        &mut self.ep
    }
    fn budget(&self) -> &MemoryBudget {
        self.ep.budget()
    }

    fn dispatch(&mut self, _now: Instant, spawn: &mut Vec<LocalTask>) {
        // Credit of buffers the application dropped since the last turn,
        // then the early credit the freed budget allows.
        self.ep.release_owed();
        while let Some(event) = self.ep.poll_event_held() {
            match event {
                Event::CallStarted {
                    call,
                    path,
                    authority,
                    metadata,
                    deadline,
                } => {
                    let s = Started {
                        call,
                        path,
                        authority,
                        metadata,
                        deadline,
                    };
                    self.started(s, spawn);
                }
                Event::Headers { call, metadata } => self.push(call, Item::Headers(metadata)),
                Event::Message {
                    call,
                    message,
                    compressed,
                } => self.push(call, Item::Message(message, compressed)),
                Event::HalfClosed { call } => self.push(call, Item::HalfClosed),
                Event::Cancelled { call, status } => self.ended(call, status, Metadata::new()),
                Event::Finished {
                    call,
                    status,
                    trailers,
                } => self.ended(call, status, trailers),
                Event::Writable { call } => {
                    if let Some(w) = self.calls.get_mut(&call).and_then(|c| c.writer.take()) {
                        w.wake();
                    }
                }
                Event::GoAway { .. } => {
                    self.goaway = true;
                    self.closing.send_replace(true);
                }
                Event::Closed { error } if self.closed.is_none() => {
                    self.closing.send_replace(true);
                    let msg = match error {
                        Some(e) => format!("connection closed: {e}"),
                        None => "connection closed".to_owned(),
                    };
                    self.closed = Some(Status::new(Code::UNAVAILABLE, msg));
                }
                Event::Closed { .. } => {}
            }
        }
        // Messages nobody will read were dropped above.
        if self.ep.budget().stats().owed > 0 {
            self.ep.release_owed();
        }
    }

    fn finish(&mut self, io_error: Option<&io::Error>) {
        self.done = true;
        self.closing.send_replace(true);
        if self.closed.is_none() {
            let msg = match io_error {
                Some(e) => format!("connection lost: {e}"),
                None => "connection closed".to_owned(),
            };
            self.closed = Some(Status::new(Code::UNAVAILABLE, msg));
        }
        let status = self.closed_status();
        for st in self.calls.values_mut() {
            st.end(status.clone(), Metadata::new());
        }
        // The endpoint learns the transport is gone, so it lets go of what
        // its calls hold (messages in assembly, queued responses, the core's
        // streams) now, not when the last handle to it is dropped. The
        // calls above keep the status just set.
        self.ep.recv_eof(driver::now());
        // Breaks the router's cycle through the connection's handle.
        self.starter = None;
    }
}

/// What a handle's read produced.
pub(crate) enum Next {
    Item(Item),
    End(Status, Metadata),
}

/// A handle's reference to its call. Dropping the last one frees the
/// call's state, gives back the credit of messages nobody read, and cancels
/// the call if it has not ended (RST_STREAM CANCEL).
pub(crate) struct CallRef<S: Side> {
    pub handle: Handle<Engine<S>>,
    pub id: CallId,
}

impl<S: Side> std::fmt::Debug for CallRef<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CallRef").field(&self.id).finish()
    }
}

impl<S: Side> CallRef<S> {
    /// The next item or the end. A message keeps its credit until the
    /// application drops it.
    pub(super) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Next> {
        let mut shared = self.handle.lock();
        let engine = &mut shared.engine;
        let Some(st) = engine.calls.get_mut(&self.id) else {
            return Poll::Ready(Next::End(engine.closed_status(), Metadata::new()));
        };
        if let Some(item) = st.items.pop_front() {
            return Poll::Ready(Next::Item(item));
        }
        if let Some((status, trailers)) = &st.end {
            return Poll::Ready(Next::End(status.clone(), trailers.clone()));
        }
        st.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Queues a message, waiting while the call's send queue is full.
    pub(super) fn poll_send(
        &self,
        cx: &mut Context<'_>,
        message: &Bytes,
        compress: bool,
    ) -> Poll<Result<(), Error>> {
        let mut shared = self.handle.lock();
        let engine = &mut shared.engine;
        let ended = match engine.calls.get(&self.id) {
            None => Some(engine.closed_status()),
            Some(st) => st.end.as_ref().map(|e| e.0.clone()),
        };
        if let Some(status) = ended {
            return Poll::Ready(Err(Error::Ended(status)));
        }
        let r = match engine
            .ep
            .send_message_with(self.id, message.clone(), compress)
        {
            Ok(()) => Ok(()),
            Err(CallError::Busy) => {
                if let Some(st) = engine.calls.get_mut(&self.id) {
                    st.writer = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            // The endpoint forgot it: it ended (its status is on the way, or
            // the server already finished it).
            Err(CallError::UnknownCall(_)) => Err(Error::Call(CallError::SendClosed)),
            Err(e) => Err(Error::Call(e)),
        };
        let waker = shared.touch();
        drop(shared);
        if let Some(w) = waker {
            w.wake();
        }
        Poll::Ready(r)
    }

    /// Ready once the call has ended (not necessarily read to the end).
    pub(super) fn poll_ended(&self, cx: &mut Context<'_>) -> Poll<Status> {
        let mut shared = self.handle.lock();
        let engine = &mut shared.engine;
        let Some(st) = engine.calls.get_mut(&self.id) else {
            return Poll::Ready(engine.closed_status());
        };
        if let Some((status, _)) = &st.end {
            return Poll::Ready(status.clone());
        }
        if !st.watchers.iter().any(|w| w.will_wake(cx.waker())) {
            st.watchers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Runs `f` on the endpoint and the call's state, then wakes the
    /// driver. `Err(Ended)` if the call has ended, `Closed` if it is gone.
    pub(super) fn command<R>(
        &self,
        f: impl FnOnce(&mut grpc::Endpoint<S>, &mut CallState) -> Result<R, CallError>,
    ) -> Result<R, Error> {
        let mut shared = self.handle.lock();
        let engine = &mut shared.engine;
        let r = match engine.calls.get_mut(&self.id) {
            None => Err(Error::Closed),
            Some(st) => match &st.end {
                Some((status, _)) => Err(Error::Ended(status.clone())),
                None => f(&mut engine.ep, st).map_err(Error::Call),
            },
        };
        let waker = shared.touch();
        drop(shared);
        if let Some(w) = waker {
            w.wake();
        }
        r
    }
}

impl<S: Side> Drop for CallRef<S> {
    fn drop(&mut self) {
        let mut shared = self.handle.lock();
        let engine = &mut shared.engine;
        let Some(st) = engine.calls.remove(&self.id) else {
            return;
        };
        if st.end.is_none() && !st.finished {
            let _ = engine.ep.cancel(self.id);
        }
        let waker = shared.touch();
        drop(shared);
        // Unread messages go with the state, outside the lock: their
        // credit is owed through the budget and applied by the driver.
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
    }
}
