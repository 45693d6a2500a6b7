//! The HTTP/2 engine the driver runs for both roles: the core plus a table
//! of stream slots, one per stream that still has a handle (or still needs
//! watching).
//!
//! A slot is the meeting point of the core and the handles: the driver's
//! [`dispatch`](Engine::dispatch) files events into it and wakes the handle
//! waiting there; a handle reads it and calls the core under the same lock.
//! Received body chunks wait in the slot and their flow-control credit goes
//! back to the peer only when the application takes them, so the peer's
//! window (not our memory) bounds the queue.

use std::collections::{BTreeSet, VecDeque};
use std::io;
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;

use super::driver::{Engine, Handle, LocalTask, WeakHandle};
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;
use crate::io::Error;
use crate::message::{HeadCache, InvalidHead, request_head_cached};
use crate::proto::stream::state::StreamState;
use crate::proto::{
    Connection, ConnectionError, Event, HeaderList, Initiator, MemoryBudget, ResetCause,
};
use crate::sched::IdMap;

/// How a stream (or the whole connection) ended early.
#[derive(Debug, Clone)]
pub(crate) enum End {
    /// RST_STREAM from the peer (or REFUSED_STREAM above its GOAWAY).
    PeerReset(Reason),
    /// We reset the stream (our RST_STREAM's code, and why).
    LocalReset(Reason, ResetCause),
    /// The connection closed (with an error, or cleanly).
    Closed(Option<ConnectionError>),
    /// The socket failed.
    Io(io::ErrorKind),
    /// The request's deadline passed first; we reset the stream with CANCEL.
    Timeout,
}

impl End {
    /// The error a handle reports.
    pub(crate) fn to_error(&self) -> Error {
        match self {
            End::PeerReset(reason) => Error::PeerReset(*reason),
            End::LocalReset(reason, why) => Error::LocalReset {
                reason: *reason,
                why: why.clone(),
            },
            End::Closed(Some(e)) => Error::Connection(e.clone()),
            End::Closed(None) => Error::Closed,
            End::Io(kind) => Error::Io((*kind).into()),
            End::Timeout => Error::Timeout,
        }
    }
}

/// A new request as the server's handler gets it: its head as `http`'s
/// (or why `http` cannot hold it) and its declared `content-length`.
pub(crate) struct NewRequest {
    pub head: Result<http::Request<()>, InvalidHead>,
    pub content_length: Option<u64>,
}

/// What a server does with a new request: returns the work to run for it
/// (the handler), given a handle on the connection. Each connection has its
/// own (made by the accept loop), used only under the engine's lock: it
/// needs `Send`, not `Sync`, so a service that is not `Sync` can be served.
pub(crate) type OnRequest =
    Box<dyn Fn(Handle<HttpEngine>, StreamId, NewRequest) -> LocalTask + Send>;

/// The server's part of the engine.
pub(crate) struct ServerCtx {
    pub on_request: OnRequest,
    /// `tokio::spawn` each handler instead of running it on the connection's task.
    pub spawn: bool,
    /// This engine's own handle, weak so the engine does not keep itself
    /// alive (set right after the handle is made).
    pub me: Option<WeakHandle<HttpEngine>>,
    /// What this connection's request heads repeat (their `:authority`).
    pub heads: HeadCache,
    /// Put in every request's extensions (`ServerConfig::connection_info`).
    pub info: Option<crate::io::ConnectionInfo>,
}

/// One stream as the handles see it.
#[derive(Default)]
pub(crate) struct Slot {
    /// Client: the final response's head, until the response future takes it.
    /// (Boxed: a slot is moved in and out of the table on every request,
    /// and servers never use this.)
    pub head: Option<Box<HeaderList>>,
    /// Received body chunks not yet taken (their credit is not released yet).
    pub chunks: Chunks,
    /// The peer's message is complete (END_STREAM or trailers).
    pub recv_end: bool,
    /// Received trailers, until taken.
    pub trailers: Option<Vec<HeaderField>>,
    /// The stream (or connection) ended early.
    pub end: Option<End>,
    pub recv_waker: Option<Waker>,
    pub send_waker: Option<Waker>,
    /// A receiving handle exists (response future, request or response body).
    pub recv_open: bool,
    /// A sending side exists (a handler that owes a response, a body pump).
    pub send_open: bool,
    /// Our headers are queued.
    pub headers_sent: bool,
    /// Our message is completely queued.
    pub send_done: bool,
    /// Directed credit: the stream has its full receive window.
    pub window_opened: bool,
    /// Server: the request expects `100 Continue`, sent when a reader first
    /// waits for its body (unless the response went out first).
    pub expect_continue: bool,
    /// Client: when the exchange must be over (see [`HttpEngine::set_deadline`]).
    pub deadline: Option<Instant>,
}

/// Received body chunks waiting for their reader, in order. The first is
/// kept inline: most request bodies are one chunk, and then the queue
/// allocates nothing.
#[derive(Default)]
pub(crate) struct Chunks {
    first: Option<Bytes>,
    rest: VecDeque<Bytes>,
}

impl Chunks {
    pub(crate) fn push_back(&mut self, chunk: Bytes) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(chunk);
        } else {
            self.rest.push_back(chunk);
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<Bytes> {
        self.first.take().or_else(|| self.rest.pop_front())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }

    /// Drops every chunk; returns how many bytes they held.
    pub(crate) fn discard(&mut self) -> usize {
        let first = self.first.take().map_or(0, |c| c.len());
        if self.rest.is_empty() {
            return first;
        }
        first + self.rest.drain(..).map(|c| c.len()).sum::<usize>()
    }
}

impl Slot {
    fn wake(&mut self) {
        if let Some(w) = self.recv_waker.take() {
            w.wake();
        }
        if let Some(w) = self.send_waker.take() {
            w.wake();
        }
    }
}

/// Stores `cx`'s waker in `slot` unless the same one is there already.
pub(crate) fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// The HTTP/2 engine: see the module documentation.
pub(crate) struct HttpEngine {
    pub conn: Connection,
    /// Keyed with the core's cheap stream-id hash (looked up several times
    /// per request).
    pub slots: IdMap<Slot>,
    server: Option<ServerCtx>,
    /// Work queued by handles (client request-body pumps) for the driver.
    pub tasks: Vec<LocalTask>,
    /// Client tasks waiting in `ready()`.
    pub ready_wakers: Vec<Waker>,
    /// The peer's GOAWAY (last stream id, code), if one arrived.
    pub goaway: Option<(StreamId, Reason)>,
    /// How the connection ended, once it did.
    pub end: Option<End>,
    /// What the application holds on this connection's behalf (bodies
    /// handed out keep their credit until dropped; see [`MemoryBudget`]).
    pub budget: MemoryBudget,
    /// Scratch for credit owed by dropped buffers.
    owed: Vec<(StreamId, usize)>,
    /// Streams whose body is being collected whole, oldest first: the
    /// oldest always gets credit to finish (see `RecvBody::collect`).
    pub collecting: Vec<StreamId>,
    /// Of the budget, the bytes those collections hold.
    pub collecting_charged: usize,
    /// `budget.held()` at the last dispatch: when it falls, waiting
    /// collections may take credit again.
    last_held: usize,
    /// Directed credit: the window a stream gets once read (`None`: every
    /// stream has its full window from the start, as advertised).
    stream_window: Option<u32>,
    /// The configured connection window, and the one in force with what is
    /// lent to parked collections.
    base_conn_window: u32,
    lent_conn_window: u32,
    /// The peer acknowledged our SETTINGS (directed credit: the connection
    /// window opens then).
    settings_acked: bool,
    /// Server streams whose response is complete and whose request body was
    /// dropped unread: reset with NO_ERROR once our END_STREAM is on the
    /// wire (RFC 9113 §8.1), so the client stops sending.
    linger: Vec<StreamId>,
    /// Client request deadlines, earliest first (entries of removed slots
    /// are removed with them).
    deadlines: BTreeSet<(Instant, StreamId)>,
}

impl HttpEngine {
    /// A client engine.
    pub(crate) fn client(conn: Connection) -> Self {
        Self::new(conn, None)
    }

    /// A server engine.
    pub(crate) fn server(conn: Connection, ctx: ServerCtx) -> Self {
        Self::new(conn, Some(ctx))
    }

    /// Whether this is a client's engine.
    pub(crate) fn is_client(&self) -> bool {
        self.server.is_none()
    }

    /// Caps what the application may hold on this connection's behalf.
    pub(crate) fn with_budget(mut self, limit: usize) -> Self {
        self.budget = MemoryBudget::new(limit);
        self
    }

    /// Directed credit (servers): the connection advertises a small initial
    /// window and a stream gets `stream` once it is read; the connection
    /// window becomes `conn` once the peer acknowledged our SETTINGS (see
    /// [`crate::io::direct_windows`]).
    pub(crate) fn with_directed_windows(mut self, (stream, conn): (u32, u32)) -> Self {
        self.stream_window = Some(stream);
        self.base_conn_window = conn;
        self.settings_acked = false;
        self
    }

    /// A reader waits for the request body of `id`: a client that asked
    /// for `100 Continue` gets it now, once, unless the response is already
    /// out. Returns whether anything was queued.
    pub(crate) fn continue_if_expected(&mut self, id: StreamId) -> bool {
        let Some(slot) = self.slots.get_mut(&id) else {
            return false;
        };
        if !std::mem::take(&mut slot.expect_continue) || slot.headers_sent || slot.end.is_some() {
            return false;
        }
        let fields = crate::message::continue_fields();
        self.conn.send_response(id, fields, false).is_ok()
    }

    /// Gives `id` its full window, once: it is being read.
    pub(crate) fn open_window(&mut self, id: StreamId) {
        let Some(window) = self.stream_window else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(&id)
            && !slot.window_opened
        {
            slot.window_opened = true;
            self.conn.set_stream_recv_window(id, window);
        }
    }

    /// Lends the connection window what the collections waiting their turn
    /// hold, so they never use up the oldest one's credit.
    fn lend_connection_window(&mut self) {
        let parked: usize = self
            .collecting
            .iter()
            .skip(1)
            .filter_map(|id| self.conn.stream_stats(*id))
            .map(|s| s.recv_unreleased as usize)
            .sum();
        let base = if self.settings_acked {
            self.base_conn_window
        } else {
            self.lent_conn_window
                .min(crate::proto::flow::DEFAULT_WINDOW)
        };
        let target = crate::io::lent_connection_window(base, parked);
        if target != self.lent_conn_window {
            self.lent_conn_window = target;
            self.conn.set_connection_window_size(target);
        }
    }

    /// Gives a server engine its own (weak) handle, once it has one.
    pub(crate) fn set_me(&mut self, me: WeakHandle<HttpEngine>) {
        if let Some(ctx) = &mut self.server {
            ctx.me = Some(me);
        }
    }

    /// A server handler panicked: answer 500 if nothing was sent yet, else
    /// reset the stream.
    pub(crate) fn handler_panicked(&mut self, id: StreamId) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        if slot.end.is_some() || slot.send_done {
            return;
        }
        if !slot.headers_sent {
            let answer = crate::message::internal_error();
            let fields = crate::message::response_fields(answer.status(), answer.headers());
            if self.conn.send_response(id, fields, true).is_ok() {
                slot.headers_sent = true;
                slot.send_done = true;
                return;
            }
        }
        self.reset_stream(id, Reason::INTERNAL_ERROR);
    }

    fn new(conn: Connection, server: Option<ServerCtx>) -> Self {
        let window = conn.config().connection_window_size;
        HttpEngine {
            conn,
            slots: IdMap::default(),
            server,
            tasks: Vec::new(),
            ready_wakers: Vec::new(),
            goaway: None,
            end: None,
            budget: MemoryBudget::default(),
            owed: Vec::new(),
            collecting: Vec::new(),
            collecting_charged: 0,
            stream_window: None,
            base_conn_window: window,
            lent_conn_window: window,
            settings_acked: true,
            last_held: 0,
            linger: Vec::new(),
            deadlines: BTreeSet::new(),
        }
    }

    /// A collection ended (done, failed or dropped): the next oldest may
    /// now take credit beyond the budget.
    pub(crate) fn stop_collecting(&mut self, id: StreamId) {
        let Some(i) = self.collecting.iter().position(|&s| s == id) else {
            return;
        };
        self.collecting.remove(i);
        if i == 0 {
            self.wake_collectors();
        }
    }

    /// Whether the collection of `id` may take early credit (credit for
    /// bytes it still holds, so a body larger than its window keeps
    /// coming): only the oldest collection, one at a time, and only while
    /// what the budget counts besides collections in progress (finished
    /// bodies a handler holds, responses waiting for the peer) leaves room.
    /// The others wait with their small window, their bytes parked; over
    /// the budget even the oldest waits, for the peer to read or the
    /// handlers to finish, which free it on their own. One at a time costs
    /// nothing in throughput (the connection's bandwidth is shared anyway)
    /// and bounds what uploads can make us hold to one body.
    ///
    /// A client takes it always: the responses it collects are the ones
    /// its application asked for, each capped by its body limit, and an
    /// application awaiting several at once must not wait on itself.
    pub(crate) fn may_take_credit(&self, id: StreamId) -> bool {
        if self.server.is_none() {
            return true;
        }
        self.collecting.first() == Some(&id)
            && self.budget.held().saturating_sub(self.collecting_charged) < self.budget.limit()
    }

    /// Wakes every collection waiting for data: room or seniority changed.
    fn wake_collectors(&mut self) {
        for id in &self.collecting {
            if let Some(w) = self.slots.get_mut(id).and_then(|s| s.recv_waker.take()) {
                w.wake();
            }
        }
    }

    /// Resets a stream and records it in its slot.
    pub(crate) fn reset_stream(&mut self, id: StreamId, reason: Reason) {
        let _ = self.conn.reset(id, reason);
        if let Some(slot) = self.slots.get_mut(&id) {
            if slot.end.is_none() {
                slot.end = Some(End::LocalReset(reason, ResetCause::Cancelled));
            }
            slot.wake();
        }
    }

    /// The exchange on `id` must be over by `at`: past it, unless the
    /// response is complete, the stream is reset with CANCEL and its handles
    /// get [`Error::Timeout`].
    pub(crate) fn set_deadline(&mut self, id: StreamId, at: Instant) {
        if let Some(slot) = self.slots.get_mut(&id) {
            if let Some(old) = slot.deadline.replace(at) {
                self.deadlines.remove(&(old, id));
            }
            self.deadlines.insert((at, id));
        }
    }

    fn remove_slot(&mut self, id: StreamId) {
        if let Some(at) = self.slots.remove(&id).and_then(|s| s.deadline) {
            self.deadlines.remove(&(at, id));
        }
    }

    /// The receiving handle of `id` is gone.
    pub(crate) fn drop_recv(&mut self, id: StreamId) {
        let is_server = self.server.is_some();
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        slot.recv_open = false;
        slot.recv_waker = None;
        let unread = slot.chunks.discard();
        slot.head = None;
        // A body read to its end has nothing to credit back (its chunks
        // return theirs when dropped) and its stream no longer receives.
        if unread > 0 || !slot.recv_end {
            let _ = self.conn.release_capacity(id, unread);
        }
        if slot.recv_end || slot.end.is_some() {
            self.maybe_remove(id);
        } else if !is_server {
            // The application gave up on the response.
            self.reset_stream(id, Reason::CANCEL);
            self.maybe_remove(id);
        } else if slot.send_done {
            self.linger.push(id);
        }
        // Otherwise (a server still answering) the rest of the request body
        // is discarded as it arrives.
    }

    /// The sending side of `id` is gone; `finished` if its message was
    /// completely queued.
    pub(crate) fn drop_send(&mut self, id: StreamId, finished: bool) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        slot.send_open = false;
        slot.send_waker = None;
        let finished = finished || slot.send_done;
        if !finished && slot.end.is_none() {
            self.reset_stream(id, Reason::CANCEL);
        } else if finished && !slot.recv_open && !slot.recv_end && slot.end.is_none() {
            self.linger.push(id);
            return;
        }
        self.maybe_remove(id);
    }

    fn maybe_remove(&mut self, id: StreamId) {
        if self
            .slots
            .get(&id)
            .is_some_and(|s| !s.recv_open && !s.send_open)
            && !self.linger.contains(&id)
        {
            self.remove_slot(id);
        }
    }

    /// Lingering streams whose END_STREAM went out get their NO_ERROR reset.
    fn check_linger(&mut self) {
        let mut i = 0;
        while let Some(&id) = self.linger.get(i) {
            let state = self.conn.stream_stats(id).map(|s| s.state);
            let done = self
                .slots
                .get(&id)
                .is_none_or(|s| s.end.is_some() || s.recv_end);
            match state {
                Some(StreamState::HalfClosedLocal) if !done => {
                    let _ = self.conn.reset(id, Reason::NO_ERROR);
                }
                Some(_) if !done => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            self.linger.swap_remove(i);
            self.remove_slot(id);
        }
    }

    fn on_event(&mut self, event: Event, spawn: &mut Vec<LocalTask>) {
        match event {
            Event::Headers {
                stream_id,
                headers,
                end_stream,
            } => {
                if self.server.is_some() {
                    self.on_request(stream_id, headers, end_stream, spawn);
                } else if let Some(slot) = self.slots.get_mut(&stream_id) {
                    slot.head = Some(Box::new(headers));
                    slot.recv_end = end_stream;
                    slot.wake();
                }
            }
            Event::Data {
                stream_id,
                data,
                end_stream,
            } => match self.slots.get_mut(&stream_id) {
                Some(slot) if slot.recv_open => {
                    if !data.is_empty() {
                        slot.chunks.push_back(data);
                    }
                    slot.recv_end |= end_stream;
                    if let Some(w) = slot.recv_waker.take() {
                        w.wake();
                    }
                }
                other => {
                    // Nobody reads it: discarded, so credit it back now.
                    let _ = self.conn.release_capacity(stream_id, data.len());
                    if let Some(slot) = other {
                        slot.recv_end |= end_stream;
                    }
                }
            },
            Event::Trailers {
                stream_id,
                trailers,
            } => {
                if let Some(slot) = self.slots.get_mut(&stream_id) {
                    slot.trailers = Some(trailers.fields().to_vec());
                    slot.recv_end = true;
                    slot.wake();
                }
            }
            Event::Reset {
                stream_id,
                reason,
                initiator,
                why,
            } => {
                if let Some(slot) = self.slots.get_mut(&stream_id) {
                    if slot.end.is_none() {
                        slot.end = Some(match initiator {
                            Initiator::Remote => End::PeerReset(reason),
                            Initiator::Local => {
                                End::LocalReset(reason, why.unwrap_or(ResetCause::PeerError))
                            }
                        });
                    }
                    slot.wake();
                }
            }
            Event::Writable { stream_id } => {
                if let Some(w) = self
                    .slots
                    .get_mut(&stream_id)
                    .and_then(|s| s.send_waker.take())
                {
                    w.wake();
                }
            }
            Event::GoAway {
                last_stream_id,
                reason,
                ..
            } => self.goaway = Some((last_stream_id, reason)),
            Event::Closed { error } => self.end_all(End::Closed(error)),
            Event::SettingsAcked if !self.settings_acked => {
                self.settings_acked = true;
                self.lend_connection_window();
            }
            _ => {}
        }
    }

    fn on_request(
        &mut self,
        id: StreamId,
        headers: HeaderList,
        end_stream: bool,
        spawn: &mut Vec<LocalTask>,
    ) {
        let Some(ctx) = &mut self.server else { return };
        let Some(handle) = ctx.me.as_ref().and_then(WeakHandle::upgrade) else {
            let _ = self.conn.reset(id, Reason::REFUSED_STREAM);
            return;
        };
        let mut request = NewRequest {
            content_length: headers.content_length(),
            head: request_head_cached(headers, &mut ctx.heads),
        };
        if let (Some(info), Ok(head)) = (ctx.info, &mut request.head) {
            head.extensions_mut().insert(info);
        }
        let expect_continue = !end_stream
            && request
                .head
                .as_ref()
                .is_ok_and(|h| crate::message::expects_continue(h.headers()));
        let task = (ctx.on_request)(handle, id, request);
        let spawn_it = ctx.spawn;
        self.slots.insert(
            id,
            Slot {
                recv_end: end_stream,
                recv_open: true,
                send_open: true,
                expect_continue,
                ..Slot::default()
            },
        );
        if spawn_it {
            // Spawned from the driver's poll, not here under the lock: a
            // runtime shutting down drops what is spawned at once, and the
            // task's guards lock the engine when dropped.
            let mut task = Some(task);
            spawn.push(Box::pin(std::future::poll_fn(move |_| {
                if let Some(task) = task.take() {
                    ::tokio::spawn(task);
                }
                std::task::Poll::Ready(())
            })));
        } else {
            spawn.push(task);
        }
    }

    /// The connection ended: every stream that is not complete learns why.
    fn end_all(&mut self, end: End) {
        if self.end.is_none() {
            self.end = Some(end.clone());
        }
        for slot in self.slots.values_mut() {
            if slot.end.is_none() && !(slot.recv_end && slot.send_done) {
                slot.end = Some(end.clone());
            }
            slot.wake();
        }
        self.linger.clear();
        self.slots.retain(|_, s| s.recv_open || s.send_open);
        self.deadlines.clear();
        // Queued work (it holds handles on this engine) still goes to the
        // driver in `dispatch`, to be dropped there outside the lock.
        for w in self.ready_wakers.drain(..) {
            w.wake();
        }
    }
}

impl Engine for HttpEngine {
    type Conn = Connection;

    fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The earliest request deadline (see [`set_deadline`](HttpEngine::set_deadline)).
    fn deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// Resets the streams whose deadline passed.
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, id));
            let Some(slot) = self.slots.get_mut(&id) else {
                continue;
            };
            slot.deadline = None;
            if slot.end.is_some() || slot.recv_end {
                continue;
            }
            let _ = self.conn.reset(id, Reason::CANCEL);
            slot.end = Some(End::Timeout);
            slot.wake();
        }
    }

    fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    fn dispatch(&mut self, _now: Instant, spawn: &mut Vec<LocalTask>) {
        // Credit of buffers the application has dropped since the last turn.
        self.budget.take_owed(&mut self.owed);
        for (id, n) in self.owed.drain(..) {
            let _ = self.conn.release_capacity(id, n);
        }
        let held = self.budget.held();
        if held < self.last_held && !self.collecting.is_empty() {
            self.wake_collectors();
        }
        self.last_held = held;
        if !self.collecting.is_empty() || self.lent_conn_window != self.base_conn_window {
            self.lend_connection_window();
        }
        while let Some(event) = self.conn.poll_event() {
            self.on_event(event, spawn);
        }
        if !self.linger.is_empty() {
            self.check_linger();
        }
        spawn.append(&mut self.tasks);
        if !self.ready_wakers.is_empty()
            && (self.conn.can_take_new_request() || self.end.is_some() || self.goaway.is_some())
        {
            for w in self.ready_wakers.drain(..) {
                w.wake();
            }
        }
    }

    fn finish(&mut self, io_error: Option<&io::Error>) {
        let end = match io_error {
            Some(e) => End::Io(e.kind()),
            None => End::Closed(None),
        };
        self.end_all(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_out_in_order_whatever_the_interleaving() {
        let mut chunks = Chunks::default();
        let mut out = Vec::new();
        chunks.push_back(Bytes::from_static(b"a"));
        chunks.push_back(Bytes::from_static(b"b"));
        out.extend(chunks.pop_front());
        chunks.push_back(Bytes::from_static(b"c"));
        out.extend(chunks.pop_front());
        chunks.push_back(Bytes::from_static(b"dd"));
        out.extend(chunks.pop_front());
        assert_eq!(out, ["a", "b", "c"]);
        assert_eq!(chunks.discard(), 2);
        assert_eq!(chunks.pop_front(), None);
    }
}
