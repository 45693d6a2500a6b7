//! The blocking gRPC role: call handles fed through channels, run by the
//! blocking driver (`io/blocking/driver.rs`, the loop the HTTP roles share)
//! over a gRPC endpoint.
//!
//! Messages go to the handles as buffers of the endpoint's memory budget
//! (`poll_event_held`): a handle dropping one owes its credit back, which
//! wakes the driver ([`Msg::Credit`]) while anything is lent; each turn
//! applies what is owed (`release_owed`).

use std::marker::PhantomData;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::time::Instant;

use bytes::Bytes;

use super::{Error, Item, ItemTx};
use crate::grpc::{
    self, CallError, CallId, CallOptions, ClientSide, Code, Encoding, Event, Metadata, ServerSide,
    Side, Status,
};
use crate::io::blocking::driver::{self, Msg};
use crate::io::blocking::tls::Stream;
use crate::proto::MemoryBudget;
use crate::sched::IdKeyMap;

/// A reply to a handle's command.
/// Where the driver answers a handle's command: once, so a one-slot
/// channel (an unbounded one allocates a block of 31 slots on its first
/// send, for every command).
pub(super) type Reply<T> = SyncSender<Result<T, Error>>;

/// A command from a call handle.
pub(super) enum Cmd {
    /// Client: start a call; its items go to the sender.
    Start(String, CallOptions, Sender<Item>, Reply<CallId>),
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
    /// Ends the connection now (GOAWAY, calls fail UNAVAILABLE): what a
    /// graceful shutdown becomes when calls do not finish in time.
    Close,
}

/// What each side does with its own commands (`Send`, `Cancel` and
/// `Close` are the same for both and handled by [`Calls`]).
pub(super) trait Commands: Side {
    fn command(
        ep: &mut grpc::Endpoint<Self>,
        cmd: Cmd,
        now: Instant,
        calls: &mut IdKeyMap<CallId, ItemTx>,
    );
}

impl Commands for ClientSide {
    fn command(
        ep: &mut grpc::Client,
        cmd: Cmd,
        now: Instant,
        calls: &mut IdKeyMap<CallId, ItemTx>,
    ) {
        match cmd {
            Cmd::Start(path, opts, items, reply) => {
                let r = ep.start_call_with(&path, opts, now);
                if let Ok(id) = r {
                    calls.insert(id, ItemTx::new(items));
                }
                let _ = reply.try_send(r.map_err(Error::from));
            }
            Cmd::CloseSend(id, reply) => {
                let _ = reply.try_send(ep.close_send(id).map_err(Error::from));
            }
            Cmd::Headers(.., reply) | Cmd::Encoding(.., reply) | Cmd::Finish(.., reply) => {
                let _ = reply.try_send(Err(Error::Closed));
            }
            Cmd::Send(..) | Cmd::Cancel(_) | Cmd::Close => {}
        }
    }
}

impl Commands for ServerSide {
    fn command(
        ep: &mut grpc::Server,
        cmd: Cmd,
        _now: Instant,
        calls: &mut IdKeyMap<CallId, ItemTx>,
    ) {
        let (r, reply) = match cmd {
            Cmd::Headers(id, md, reply) => (ep.send_headers(id, md), reply),
            Cmd::Encoding(id, enc, reply) => (ep.set_send_encoding(id, enc), reply),
            Cmd::Finish(id, status, md, reply) => {
                calls.remove(&id);
                (ep.finish(id, status, md), reply)
            }
            Cmd::Start(.., reply) => {
                let _ = reply.try_send(Err(Error::Closed));
                return;
            }
            Cmd::CloseSend(.., reply) => (Err(CallError::SendClosed), reply),
            Cmd::Send(..) | Cmd::Cancel(_) | Cmd::Close => return,
        };
        let _ = reply.try_send(r.map_err(Error::from));
    }
}

/// What the role does with a call it has not seen (server: a new call).
pub(super) type OnStart<'a> = dyn FnMut(&mut IdKeyMap<CallId, ItemTx>, Event) + 'a;

/// Runs one connection to its end on the calling thread.
pub(super) fn run<S: Commands>(
    stream: Stream,
    ep: grpc::Endpoint<S>,
    tx: Sender<Msg<Cmd>>,
    rx: Receiver<Msg<Cmd>>,
    on_start: &mut OnStart<'_>,
) {
    let mut calls = Calls {
        calls: IdKeyMap::default(),
        blocked: IdKeyMap::default(),
        budget: ep.budget().clone(),
        on_start,
        lost: None,
        side: PhantomData,
    };
    driver::run(stream, ep, tx, rx, &mut calls);
}

/// The role: the handles of each call, over an endpoint on side `S`.
struct Calls<'a, 'b, S> {
    /// Where each call's items go.
    calls: IdKeyMap<CallId, ItemTx>,
    /// A send the endpoint answered Busy: retried on `Writable`.
    blocked: IdKeyMap<CallId, (Bytes, bool, Reply<()>)>,
    /// The endpoint's own budget.
    budget: MemoryBudget,
    on_start: &'a mut OnStart<'b>,
    /// The socket failed: the status every call ends with, and the error
    /// kind a waiting send gets.
    lost: Option<(Status, std::io::ErrorKind)>,
    side: PhantomData<fn() -> S>,
}

impl<S> Calls<'_, '_, S> {
    /// A blocked send whose call is over.
    fn unblock(&mut self, id: CallId) {
        if let Some((_, _, reply)) = self.blocked.remove(&id) {
            let e = match &self.lost {
                Some((_, kind)) => Error::Io((*kind).into()),
                None => Error::Call(CallError::UnknownCall(id)),
            };
            let _ = reply.try_send(Err(e));
        }
    }

    /// How a call ends: with the socket's error once it failed (the
    /// endpoint, told the transport ended, only knows it closed).
    fn end_status(&self, status: Status) -> Status {
        match &self.lost {
            Some((lost, _)) => lost.clone(),
            None => status,
        }
    }
}

impl<S: Commands> driver::Role for Calls<'_, '_, S> {
    type Conn = grpc::Endpoint<S>;
    type Cmd = Cmd;

    fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    fn on_transport_error(&mut self, e: &std::io::Error) {
        if self.lost.is_none() {
            let status = Status::new(Code::UNAVAILABLE, format!("connection lost: {e}"));
            self.lost = Some((status, e.kind()));
        }
    }

    fn on_finished(&mut self, io_error: Option<std::io::Error>) {
        if let Some(e) = &io_error {
            self.on_transport_error(e);
        }
        let closed = self.end_status(Status::new(Code::UNAVAILABLE, "connection closed"));
        for (_, items) in self.calls.drain() {
            let _ = items.send(Item::End(closed.clone(), Metadata::new()));
        }
        for (_, (_, _, reply)) in self.blocked.drain() {
            let e = match &self.lost {
                Some((_, kind)) => Error::Io((*kind).into()),
                None => Error::Closed,
            };
            let _ = reply.try_send(Err(e));
        }
    }

    fn on_command(&mut self, ep: &mut grpc::Endpoint<S>, cmd: Cmd, now: Instant) {
        match cmd {
            Cmd::Send(id, msg, compress, reply) => {
                if self.blocked.contains_key(&id) {
                    let _ = reply.try_send(Err(Error::Call(CallError::Busy)));
                    return;
                }
                match ep.send_message_with(id, msg.clone(), compress) {
                    Err(CallError::Busy) => {
                        self.blocked.insert(id, (msg, compress, reply));
                    }
                    r => {
                        let _ = reply.try_send(r.map_err(Error::from));
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
            Cmd::Close => ep.connection_mut().close(crate::frame::Reason::NO_ERROR),
            cmd => S::command(ep, cmd, now, &mut self.calls),
        }
    }

    fn on_event(&mut self, ep: &mut grpc::Endpoint<S>, event: Event, _now: Instant) {
        let item = match event {
            Event::CallStarted { .. } => return (self.on_start)(&mut self.calls, event),
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
                    match ep.send_message_with(call, msg.clone(), compress) {
                        Err(CallError::Busy) => {
                            self.blocked.insert(call, (msg, compress, reply));
                        }
                        r => {
                            let _ = reply.try_send(r.map_err(Error::from));
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
