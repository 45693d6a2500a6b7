//! The per-connection driver shared by the blocking gRPC client and server:
//! the event loop of `io/blocking/driver.rs`, over a gRPC endpoint, with call
//! handles fed through channels.
//!
//! Messages go to the handles as buffers of the endpoint's memory budget
//! (`poll_event_held`): a handle dropping one owes its credit back, which
//! wakes the driver ([`Msg::Credit`]) while anything is lent; each turn
//! applies what is owed (`release_owed`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::task::{Wake, Waker};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::{Error, Item, ItemTx};
use crate::grpc::{self, CallError, CallId, CallOptions, Code, Encoding, Event, Metadata, Status};
use crate::io::blocking::driver::{Msg, spawn_io};
use crate::io::blocking::tls::Stream;
use crate::proto::{Connection, MemoryBudget};

/// Unconsumed input past which we stop asking for more.
const MAX_BUFFERED_INPUT: usize = 256 * 1024;
/// Most bytes handed to the writer at once.
const MAX_WRITE: usize = 256 * 1024;
/// Reads in flight between the reader and the driver (as in `driver.rs`).
const READ_CREDITS: usize = 4;

/// A reply to a handle's command.
pub(super) type Reply<T> = Sender<Result<T, Error>>;

/// A command from a call handle.
pub(super) enum Cmd {
    /// Client: start a call; its items go to the sender.
    Start(String, Metadata, CallOptions, Sender<Item>, Reply<CallId>),
    /// Queue a message (`bool`: compress with the call's encoding).
    Send(CallId, Bytes, bool, Reply<()>),
    /// Client: half-close.
    CloseSend(CallId, Reply<()>),
    /// Server: response headers.
    Headers(CallId, Metadata, Reply<()>),
    /// Server: the response's compression.
    Encoding(CallId, Encoding, Reply<()>),
    /// Server: status and trailers.
    Finish(CallId, Status, Metadata, Reply<()>),
    /// Either side: RST_STREAM(CANCEL).
    Cancel(CallId),
    /// Nothing (the server's check that a connection is still running).
    Nop,
    /// Ends the connection now (GOAWAY, calls fail UNAVAILABLE): what a
    /// graceful shutdown becomes when calls do not finish in time.
    Close,
}

/// The gRPC endpoint verbs the driver needs, for both roles.
pub(super) trait Endpoint {
    fn recv(&mut self, input: &mut BytesMut, now: Instant);
    fn recv_eof(&mut self, now: Instant);
    fn poll_event_held(&mut self) -> Option<Event>;
    fn release_owed(&mut self) -> usize;
    fn budget(&self) -> &MemoryBudget;
    fn poll_transmit(&mut self, dst: &mut BytesMut, max: usize, now: Instant) -> usize;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn conn(&mut self) -> &mut Connection;
    fn send(&mut self, call: CallId, msg: Bytes, compress: bool) -> Result<(), CallError>;
    fn cancel(&mut self, call: CallId) -> Result<(), CallError>;
    /// Role-specific commands; `Send` and `Cancel` are handled by the driver.
    fn command(&mut self, cmd: Cmd, now: Instant, calls: &mut HashMap<CallId, ItemTx>);
}

macro_rules! endpoint_io {
    () => {
        fn recv(&mut self, input: &mut BytesMut, now: Instant) {
            Self::recv(self, input, now)
        }
        fn recv_eof(&mut self, now: Instant) {
            Self::recv_eof(self, now)
        }
        fn poll_event_held(&mut self) -> Option<Event> {
            Self::poll_event_held(self)
        }
        fn release_owed(&mut self) -> usize {
            Self::release_owed(self)
        }
        fn budget(&self) -> &MemoryBudget {
            Self::budget(self)
        }
        fn poll_transmit(&mut self, dst: &mut BytesMut, max: usize, now: Instant) -> usize {
            Self::poll_transmit(self, dst, max, now)
        }
        fn poll_timeout(&self) -> Option<Instant> {
            Self::poll_timeout(self)
        }
        fn handle_timeout(&mut self, now: Instant) {
            Self::handle_timeout(self, now)
        }
        fn conn(&mut self) -> &mut Connection {
            self.connection_mut()
        }
        fn send(&mut self, call: CallId, msg: Bytes, compress: bool) -> Result<(), CallError> {
            self.send_message_with(call, msg, compress)
        }
        fn cancel(&mut self, call: CallId) -> Result<(), CallError> {
            Self::cancel(self, call)
        }
    };
}

impl Endpoint for grpc::Client {
    endpoint_io!();
    fn command(&mut self, cmd: Cmd, now: Instant, calls: &mut HashMap<CallId, ItemTx>) {
        match cmd {
            Cmd::Start(path, md, opts, items, reply) => {
                let r = self.start_call_with(&path, md, opts, now);
                if let Ok(id) = r {
                    calls.insert(id, ItemTx::new(items));
                }
                let _ = reply.send(r.map_err(Error::from));
            }
            Cmd::CloseSend(id, reply) => {
                let _ = reply.send(self.close_send(id).map_err(Error::from));
            }
            Cmd::Headers(.., reply) | Cmd::Encoding(.., reply) | Cmd::Finish(.., reply) => {
                let _ = reply.send(Err(Error::Closed));
            }
            Cmd::Send(..) | Cmd::Cancel(_) | Cmd::Nop | Cmd::Close => {}
        }
    }
}

impl Endpoint for grpc::Server {
    endpoint_io!();
    fn command(&mut self, cmd: Cmd, _now: Instant, calls: &mut HashMap<CallId, ItemTx>) {
        let (r, reply) = match cmd {
            Cmd::Headers(id, md, reply) => (self.send_headers(id, md), reply),
            Cmd::Encoding(id, enc, reply) => (self.set_send_encoding(id, enc), reply),
            Cmd::Finish(id, status, md, reply) => {
                calls.remove(&id);
                (self.finish(id, status, md), reply)
            }
            Cmd::Start(.., reply) => {
                let _ = reply.send(Err(Error::Closed));
                return;
            }
            Cmd::CloseSend(.., reply) => (Err(CallError::SendClosed), reply),
            Cmd::Send(..) | Cmd::Cancel(_) | Cmd::Nop | Cmd::Close => return,
        };
        let _ = reply.send(r.map_err(Error::from));
    }
}

/// Wakes the driver with [`Msg::Credit`] when a dropped message owes credit.
struct CreditWaker(Sender<Msg<Cmd>>);

impl Wake for CreditWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.0.send(Msg::Credit);
    }
}

/// What the role does with a call it has not seen (server: a new call).
pub(super) type OnStart<'a> = dyn FnMut(&mut HashMap<CallId, ItemTx>, Event) + 'a;

/// Runs one connection to its end on the calling thread.
pub(super) fn run<E: Endpoint>(
    stream: Stream,
    ep: &mut E,
    tx: Sender<Msg<Cmd>>,
    rx: Receiver<Msg<Cmd>>,
    on_start: &mut OnStart<'_>,
) {
    stream.set_nodelay();
    let Ok((reader, credit_tx, writer, write_tx)) = spawn_io(&stream, &tx) else {
        return;
    };
    // Registered only while a message is lent (it keeps the channel open).
    let waker = Waker::from(Arc::new(CreditWaker(tx.clone())));
    drop(tx);
    let mut st = State {
        calls: HashMap::new(),
        blocked: HashMap::new(),
        lost: None,
    };
    let io_error = st.drive(ep, &rx, on_start, &credit_tx, &write_tx, &waker);
    ep.budget().unregister();
    if let Some(e) = &io_error {
        st.lose(e);
    }
    let closed = match &st.lost {
        Some((status, _)) => status.clone(),
        None => Status::new(Code::UNAVAILABLE, "connection closed"),
    };
    for (_, items) in st.calls.drain() {
        let _ = items.send(Item::End(closed.clone(), Metadata::new()));
    }
    for (_, (_, _, reply)) in st.blocked.drain() {
        let _ = reply.send(Err(st
            .lost
            .as_ref()
            .map_or(Error::Closed, |l| Error::Io(l.1.into()))));
    }
    stream.shutdown();
    drop(credit_tx);
    drop(write_tx);
    let _ = reader.join();
    let _ = writer.join();
}

struct State {
    /// Where each call's items go.
    calls: HashMap<CallId, ItemTx>,
    /// A send the endpoint answered Busy: retried on `Writable`.
    blocked: HashMap<CallId, (Bytes, bool, Reply<()>)>,
    /// The socket failed: the status every call ends with, and the error
    /// kind a waiting send gets.
    lost: Option<(Status, std::io::ErrorKind)>,
}

impl State {
    /// The socket failed with `e`: what the calls learn from now on (the
    /// endpoint, told the transport ended, only knows it closed).
    fn lose(&mut self, e: &std::io::Error) {
        if self.lost.is_none() {
            let status = Status::new(Code::UNAVAILABLE, format!("connection lost: {e}"));
            self.lost = Some((status, e.kind()));
        }
    }

    /// How a call ends: with the socket's error once it failed.
    fn end_status(&self, status: Status) -> Status {
        match &self.lost {
            Some((lost, _)) => lost.clone(),
            None => status,
        }
    }

    /// The event loop; returns the socket error that ended it, if any.
    fn drive<E: Endpoint>(
        &mut self,
        ep: &mut E,
        rx: &Receiver<Msg<Cmd>>,
        on_start: &mut OnStart<'_>,
        credit_tx: &std::sync::mpsc::SyncSender<()>,
        write_tx: &Sender<BytesMut>,
        waker: &Waker,
    ) -> Option<std::io::Error> {
        let mut input = BytesMut::new();
        let mut output = BytesMut::with_capacity(MAX_WRITE);
        let (mut writing, mut credits_out, mut eof) = (false, 0usize, false);
        loop {
            let now = Instant::now();
            loop {
                // Credit of messages the handles dropped.
                let mut progress = ep.release_owed() > 0;
                if !input.is_empty() && ep.conn().wants_read() {
                    let before = input.len();
                    ep.recv(&mut input, now);
                    progress |= input.len() != before;
                }
                while let Some(event) = ep.poll_event_held() {
                    self.on_event(ep, event, on_start);
                    progress = true;
                }
                if !writing {
                    output.clear();
                    if ep.poll_transmit(&mut output, MAX_WRITE, now) > 0 {
                        if write_tx.send(output.split()).is_err() {
                            let e = std::io::Error::new(
                                std::io::ErrorKind::BrokenPipe,
                                "the writer thread is gone",
                            );
                            self.lose(&e);
                            return Some(e);
                        }
                        writing = true;
                        progress = true;
                    }
                }
                if !progress {
                    break;
                }
            }
            if ep.conn().is_closed() && !writing {
                return None;
            }
            while !eof
                && credits_out < READ_CREDITS
                && ep.conn().wants_read()
                && input.len() < MAX_BUFFERED_INPUT
                && credit_tx.send(()).is_ok()
            {
                credits_out += 1;
            }
            // Woken by a dropped message only while one is lent.
            if ep.budget().is_lent() {
                if ep.budget().register(waker) {
                    continue;
                }
            } else {
                ep.budget().unregister();
            }
            let msg = match ep.poll_timeout() {
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(now)) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => {
                        ep.handle_timeout(Instant::now());
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return None,
                },
                None => match rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => return None,
                },
            };
            match msg {
                // Applied at the top of the loop.
                Msg::Credit => {}
                Msg::Read(chunk) => {
                    credits_out = credits_out.saturating_sub(1);
                    if input.is_empty() {
                        input = chunk;
                    } else {
                        input.extend_from_slice(&chunk);
                    }
                }
                Msg::Eof => {
                    eof = true;
                    credits_out = 0;
                    ep.recv(&mut input, Instant::now());
                    ep.recv_eof(Instant::now());
                }
                Msg::Written(Ok(buf)) => {
                    writing = false;
                    output = buf;
                }
                Msg::Written(Err(e)) => {
                    // Messages already received still reach their calls,
                    // which then end with this error.
                    self.lose(&e);
                    ep.recv_eof(Instant::now());
                    while let Some(event) = ep.poll_event_held() {
                        self.on_event(ep, event, on_start);
                    }
                    return Some(e);
                }
                Msg::Shutdown => ep.conn().shutdown(Instant::now()),
                Msg::Cmd(cmd) => self.on_command(ep, cmd, Instant::now()),
            }
        }
    }

    fn on_command<E: Endpoint>(&mut self, ep: &mut E, cmd: Cmd, now: Instant) {
        match cmd {
            Cmd::Send(id, msg, compress, reply) => {
                if self.blocked.contains_key(&id) {
                    let _ = reply.send(Err(Error::Call(CallError::Busy)));
                    return;
                }
                match ep.send(id, msg.clone(), compress) {
                    Err(CallError::Busy) => {
                        self.blocked.insert(id, (msg, compress, reply));
                    }
                    r => {
                        let _ = reply.send(r.map_err(Error::from));
                    }
                }
            }
            Cmd::Cancel(id) => {
                let _ = ep.cancel(id);
                if let Some(items) = self.calls.remove(&id) {
                    let status = Status::new(Code::CANCELLED, "cancelled by the application");
                    let _ = items.send(Item::End(status, Metadata::new()));
                }
                self.unblock(id);
            }
            Cmd::Close => ep.conn().close(crate::frame::Reason::NO_ERROR),
            cmd => ep.command(cmd, now, &mut self.calls),
        }
    }

    /// A blocked send whose call is over.
    fn unblock(&mut self, id: CallId) {
        if let Some((_, _, reply)) = self.blocked.remove(&id) {
            let e = match &self.lost {
                Some((_, kind)) => Error::Io((*kind).into()),
                None => Error::Call(CallError::UnknownCall(id)),
            };
            let _ = reply.send(Err(e));
        }
    }

    fn on_event<E: Endpoint>(&mut self, ep: &mut E, event: Event, on_start: &mut OnStart<'_>) {
        let item = match event {
            Event::CallStarted { .. } => return on_start(&mut self.calls, event),
            Event::Headers { call, metadata } => (call, Item::Headers(metadata)),
            Event::Message {
                call,
                message,
                compressed,
            } => (call, Item::Message(message, compressed)),
            Event::HalfClosed { call } => (call, Item::HalfClosed),
            Event::Cancelled { call, status } => {
                self.unblock(call);
                let status = self.end_status(status);
                if let Some(items) = self.calls.remove(&call) {
                    let _ = items.send(Item::End(status, Metadata::new()));
                }
                return;
            }
            Event::Finished {
                call,
                status,
                trailers,
            } => {
                self.unblock(call);
                let status = self.end_status(status);
                if let Some(items) = self.calls.remove(&call) {
                    let _ = items.send(Item::End(status, trailers));
                }
                return;
            }
            Event::Writable { call } => {
                if let Some((msg, compress, reply)) = self.blocked.remove(&call) {
                    match ep.send(call, msg.clone(), compress) {
                        Err(CallError::Busy) => {
                            self.blocked.insert(call, (msg, compress, reply));
                        }
                        r => {
                            let _ = reply.send(r.map_err(Error::from));
                        }
                    }
                }
                return;
            }
            _ => return,
        };
        if let Some(items) = self.calls.get(&item.0) {
            let _ = items.send(item.1);
        }
    }
}
