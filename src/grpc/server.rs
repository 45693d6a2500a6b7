//! The server side: [`Server`], request validation and responses.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::call::{Call, End, is_grpc_content_type, status_fields};
use super::codec::Encoding;
use super::endpoint::Core;
use super::metadata::Metadata;
use super::status::{Code, Status};
use super::timeout::parse_timeout;
use super::{CallError, CallId, CallStats, Config, Event, Hold};
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;
use crate::proto::{self, Connection, HeaderList, MemoryBudget, Role};

/// A gRPC server connection, sans-IO. See the [module docs](super) for a
/// complete exchange.
///
/// Requests that are not gRPC are answered here and never reach the
/// application: a method other than POST gets HTTP 405, a non-gRPC
/// content-type 415, a missing `te: trailers`, a malformed `grpc-timeout` or
/// bad `-bin` metadata 400 (each with `grpc-status` INTERNAL), and an
/// unsupported `grpc-encoding` UNIMPLEMENTED with `grpc-accept-encoding`.
///
/// ```
/// use std::time::Instant;
/// use h2proto::grpc::{Config, Server};
///
/// let now = Instant::now();
/// let mut server = Server::new(Config::server(), now);
/// assert_eq!(server.active_calls(), 0);
/// assert!(server.poll_event().is_none());
/// ```
#[derive(Debug)]
pub struct Server {
    core: Core,
}

impl Server {
    /// A server connection expecting a client preface.
    pub fn new(config: Config, now: Instant) -> Server {
        Server {
            core: Core::new(config, Role::Server, now),
        }
    }

    fn call_mut(&mut self, call: CallId) -> Result<&mut Call, CallError> {
        self.core
            .calls
            .get_mut(&call.stream_id())
            .ok_or(CallError::UnknownCall(call))
    }

    /// Compresses this call's messages with `encoding` (announced in the
    /// response headers; call before [`send_headers`](Self::send_headers)).
    pub fn set_send_encoding(&mut self, call: CallId, encoding: Encoding) -> Result<(), CallError> {
        let c = self.call_mut(call)?;
        if c.headers {
            return Err(CallError::HeadersSent);
        }
        c.send.encoding = encoding;
        Ok(())
    }

    /// Sends the response headers with custom metadata.
    pub fn send_headers(&mut self, call: CallId, metadata: Metadata) -> Result<(), CallError> {
        let c = self.call_mut(call)?;
        if c.headers {
            return Err(CallError::HeadersSent);
        }
        let mut fields = vec![
            HeaderField::new(":status", "200"),
            HeaderField::new("content-type", "application/grpc"),
        ];
        if c.send.encoding != Encoding::Identity {
            fields.push(HeaderField::new("grpc-encoding", c.send.encoding.name()));
        }
        fields.push(HeaderField::new(
            "grpc-accept-encoding",
            Encoding::accept_header(),
        ));
        metadata.write_fields(&mut fields);
        self.core
            .conn
            .send_response(call.stream_id(), fields, false)?;
        if let Some(c) = self.core.calls.get_mut(&call.stream_id()) {
            c.headers = true;
        }
        self.core.note_server_send();
        Ok(())
    }

    /// Queues a message (headers are sent first if they were not),
    /// compressed when the call has an encoding.
    pub fn send_message(&mut self, call: CallId, message: Bytes) -> Result<(), CallError> {
        self.send_message_with(call, message, true)
    }

    /// Queues a message; `compress` asks for the call's encoding. Returns
    /// [`CallError::Busy`] when the call's queue is full: retry after
    /// [`Event::Writable`].
    pub fn send_message_with(
        &mut self,
        call: CallId,
        message: Bytes,
        compress: bool,
    ) -> Result<(), CallError> {
        if !self.call_mut(call)?.headers {
            self.send_headers(call, Metadata::new())?;
        }
        let (q, m) = (
            self.core.config.max_send_queue,
            self.core.config.max_send_message_size,
        );
        self.call_mut(call)?.send.push(message, compress, q, m)?;
        // The response exists: it counts as queued bytes now.
        self.core.unreserve(call.stream_id());
        self.core.pump(call.stream_id());
        Ok(())
    }

    /// Ends the call with `status` and trailing metadata: trailers after
    /// the queued messages, or a trailers-only response when nothing was
    /// sent. If the client had not half-closed, RST_STREAM(NO_ERROR)
    /// follows the trailers.
    pub fn finish(
        &mut self,
        call: CallId,
        status: Status,
        trailers: Metadata,
    ) -> Result<(), CallError> {
        let id = call.stream_id();
        let c = self.call_mut(call)?;
        if c.send.end != End::Open {
            return Err(CallError::SendClosed);
        }
        let remote_done = c.remote_done;
        self.core.unreserve(id);
        let Some(c) = self.core.calls.get_mut(&id) else {
            return Err(CallError::UnknownCall(call));
        };
        if !c.headers && c.send.queued() == 0 {
            let mut fields = vec![
                HeaderField::new(":status", "200"),
                HeaderField::new("content-type", "application/grpc"),
            ];
            status_fields(&status, &trailers, &mut fields);
            self.core.remove_call(id);
            self.core.conn.send_response(id, fields, true)?;
            self.core.note_server_send();
        } else {
            let mut fields = Vec::new();
            status_fields(&status, &trailers, &mut fields);
            c.send.end = End::Trailers(fields);
            self.core.pump(id);
        }
        if !remote_done {
            self.core.reset_after_end(id);
        }
        Ok(())
    }

    /// Answers UNIMPLEMENTED for a method or service the application does
    /// not serve (the routing decision is the application's).
    pub fn unimplemented(&mut self, call: CallId) -> Result<(), CallError> {
        let path = self.call_mut(call)?.path.clone();
        let status = Status::new(Code::UNIMPLEMENTED, format!("unknown method {path}"));
        self.finish(call, status, Metadata::new())
    }

    /// Abandons the call: RST_STREAM(CANCEL); the client sees CANCELLED.
    pub fn cancel(&mut self, call: CallId) -> Result<(), CallError> {
        self.call_mut(call)?;
        self.core.remove_call(call.stream_id());
        self.core.conn.reset(call.stream_id(), Reason::CANCEL)?;
        Ok(())
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.core.calls.len()
    }

    /// Feeds bytes read from the transport; whole frames are consumed.
    pub fn recv(&mut self, input: &mut BytesMut, now: Instant) {
        self.core.recv(input, now);
    }

    /// The transport reached end of file.
    pub fn recv_eof(&mut self, now: Instant) {
        self.core.recv_eof(now);
    }

    /// The next event. What a message holds (its flow-control credit, its
    /// share of the memory budget) is given back as it is taken here.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.poll_event()
    }

    /// The next event, without giving back what a message holds: the
    /// [`Hold`] says what, to be returned with [`release`](Self::release)
    /// when the application has consumed the message (zero for other
    /// events). Until then the client's windows, not our memory, absorb a
    /// slow reader.
    pub fn poll_event_deferred(&mut self) -> Option<(Event, Hold)> {
        self.core.poll_event_deferred()
    }

    /// The next event, a message's buffer holding what the message holds
    /// until its last reference is dropped (anywhere, on any thread): the
    /// credit is then owed through the [`budget`](Self::budget) and applied
    /// by [`release_owed`](Self::release_owed) (and by the next
    /// `poll_transmit`). What an adapter hands its application.
    pub fn poll_event_held(&mut self) -> Option<Event> {
        self.core.poll_event_held()
    }

    /// Gives back what a message taken with
    /// [`poll_event_deferred`](Self::poll_event_deferred) held, even after
    /// the call ended.
    pub fn release(&mut self, call: CallId, hold: Hold) {
        self.core.release(call, hold);
    }

    /// Applies the credit owed by dropped message buffers (see
    /// [`poll_event_held`](Self::poll_event_held)) and the early credit the
    /// freed budget allows; returns the bytes given back. A driver calls it
    /// when the budget's waker fires.
    pub fn release_owed(&mut self) -> usize {
        self.core.release_owed()
    }

    /// The connection's memory budget (see [`Config::memory_budget`]);
    /// `budget().stats()` next to `connection().stats()`.
    pub fn budget(&self) -> &MemoryBudget {
        &self.core.budget
    }

    /// What each call in progress holds (message in assembly, send queue).
    pub fn call_stats(&self) -> Vec<CallStats> {
        self.core.call_stats()
    }

    /// Appends up to `max` bytes to send to `dst`; returns how many.
    pub fn poll_transmit<B: crate::proto::TransmitBuf>(
        &mut self,
        dst: &mut B,
        max: usize,
        now: Instant,
    ) -> usize {
        self.core.poll_transmit(dst, max, now)
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    /// Runs what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
    }

    /// The HTTP/2 connection (stats, windows, settings).
    pub fn connection(&self) -> &Connection {
        &self.core.conn
    }

    /// The HTTP/2 connection, for what this layer does not wrap (e.g. a
    /// graceful `shutdown`).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.core.conn
    }

    /// The BDP estimate, when BDP is on.
    pub fn bdp_window(&self) -> Option<u32> {
        self.core.bdp_window()
    }
}

/// A request this layer answers itself.
struct Reject {
    http: u16,
    status: Status,
    accept_encoding: bool,
}

fn reject(http: u16, code: Code, msg: impl Into<String>) -> Reject {
    Reject {
        http,
        status: Status::new(code, msg),
        accept_encoding: false,
    }
}

/// Checks a request in grpc-go's order. Returns its path, deadline,
/// encoding and metadata.
fn check_request(
    h: &HeaderList,
    now: Instant,
) -> Result<(String, Option<Instant>, Encoding, Metadata), Reject> {
    if h.method() != Some(&b"POST"[..]) {
        return Err(reject(405, Code::INTERNAL, "grpc: method must be POST"));
    }
    match h.get(b"content-type") {
        Some(ct) if is_grpc_content_type(ct) => {}
        ct => {
            let ct = ct.map(|c| String::from_utf8_lossy(c).into_owned());
            return Err(reject(
                415,
                Code::INVALID_ARGUMENT,
                format!("invalid gRPC request content-type {ct:?}"),
            ));
        }
    }
    if h.get(b"te").map(|v| &v[..]) != Some(b"trailers") {
        return Err(reject(400, Code::INTERNAL, "grpc: missing te: trailers"));
    }
    let deadline = match h.get(b"grpc-timeout") {
        None => None,
        Some(v) => match parse_timeout(v) {
            // 99,999,999 H may not fit an `Instant`: then there is no deadline.
            Some(t) => now.checked_add(t),
            None => {
                let msg = format!(
                    "grpc: malformed grpc-timeout {:?}",
                    String::from_utf8_lossy(v)
                );
                return Err(reject(400, Code::INTERNAL, msg));
            }
        },
    };
    let metadata = Metadata::from_fields(h.fields()).map_err(|e| {
        reject(
            400,
            Code::INTERNAL,
            format!("grpc: malformed metadata: {e}"),
        )
    })?;
    let path = String::from_utf8_lossy(h.path().unwrap_or_default()).into_owned();
    let encoding = match h.get(b"grpc-encoding") {
        None => Encoding::Identity,
        Some(e) => match Encoding::parse(e) {
            Some(e) => e,
            None => {
                let mut r = reject(
                    200,
                    Code::UNIMPLEMENTED,
                    format!(
                        "grpc: decompressor is not installed for grpc-encoding {:?}",
                        String::from_utf8_lossy(e)
                    ),
                );
                r.accept_encoding = true;
                return Err(r);
            }
        },
    };
    Ok((path, deadline, encoding, metadata))
}

fn answer(core: &mut Core, id: StreamId, r: Reject, end_stream: bool) {
    let mut fields = vec![
        HeaderField::new(":status", r.http.to_string()),
        HeaderField::new("content-type", "application/grpc"),
    ];
    if r.accept_encoding {
        fields.push(HeaderField::new(
            "grpc-accept-encoding",
            Encoding::accept_header(),
        ));
    }
    status_fields(&r.status, &Metadata::new(), &mut fields);
    let _ = core.conn.send_response(id, fields, true);
    if !end_stream {
        core.reset_after_end(id);
    }
}

pub(super) fn on_event(core: &mut Core, ev: proto::Event, now: Instant) {
    match ev {
        proto::Event::Headers {
            stream_id,
            headers,
            end_stream,
        } => {
            let (path, deadline, encoding, metadata) = match check_request(&headers, now) {
                Ok(ok) => ok,
                Err(r) => return answer(core, stream_id, r, end_stream),
            };
            let mut call = core.new_call(stream_id, deadline);
            call.recv.encoding = encoding;
            call.path = path.clone();
            call.remote_done = end_stream;
            let c = call.id;
            core.calls.insert(stream_id, call);
            core.call_started(now);
            let authority = headers
                .authority()
                .map(|a| String::from_utf8_lossy(a).into_owned());
            core.push(Event::CallStarted {
                call: c,
                path,
                authority,
                metadata,
                deadline,
            });
            if end_stream {
                core.push(Event::HalfClosed { call: c });
            }
        }
        proto::Event::Data {
            stream_id,
            data,
            end_stream,
        } => {
            let Some((messages, result)) = core.on_call_data(stream_id, data) else {
                return;
            };
            let Some(call) = core.calls.get_mut(&stream_id) else {
                return;
            };
            let result = result.and_then(|()| {
                if end_stream {
                    call.recv.finish()
                } else {
                    Ok(())
                }
            });
            call.remote_done |= end_stream;
            for m in messages {
                core.push_message(stream_id, m.data, m.compressed, m.hold);
            }
            match result {
                Err(status) => abort(core, stream_id, status),
                Ok(()) if end_stream => core.push_half_closed(stream_id),
                Ok(()) => {}
            }
        }
        proto::Event::Trailers { stream_id, .. } => {
            if let Some(call) = core.calls.get_mut(&stream_id) {
                call.remote_done = true;
                match call.recv.finish() {
                    Err(status) => abort(core, stream_id, status),
                    Ok(()) => core.push_half_closed(stream_id),
                }
            }
        }
        _ => {}
    }
}

/// The client sent something we cannot accept: answer with `status`
/// (trailers, or trailers-only) and tell the application.
fn abort(core: &mut Core, id: StreamId, status: Status) {
    let Some(call) = core.calls.get_mut(&id) else {
        return;
    };
    call.send.drop_all();
    let remote_done = call.remote_done;
    let mut fields = Vec::new();
    if !call.headers {
        fields.push(HeaderField::new(":status", "200"));
        fields.push(HeaderField::new("content-type", "application/grpc"));
        status_fields(&status, &Metadata::new(), &mut fields);
        let _ = core.conn.send_response(id, fields, true);
    } else {
        status_fields(&status, &Metadata::new(), &mut fields);
        let _ = core.conn.send_trailers(id, fields);
    }
    if !remote_done {
        core.reset_after_end(id);
    }
    core.end_call(id, status, None);
}
