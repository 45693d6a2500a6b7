//! The server side: [`Server`] (the endpoint on [`ServerSide`]), request
//! validation, responses, and the ping policy a server enforces.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::call::{End, is_grpc_content_type, status_fields};
use super::codec::Encoding;
use super::endpoint::behaviour::Behaviour;
use super::endpoint::{Endpoint, Side};
use super::keepalive::PingEnforcer;
use super::metadata::{Metadata, text};
use super::status::{Code, Status};
use super::timeout::parse_timeout;
use super::{CallError, CallId, Config, Event};
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;
use crate::proto::stream::state::StreamState;
use crate::proto::{self, HeaderList, Role};

/// A gRPC server connection, sans-IO: the [`Endpoint`] on the
/// [`ServerSide`]. See the [module docs](super) for a complete exchange.
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
pub type Server = Endpoint<ServerSide>;

/// The server end of a connection: it answers calls (headers, messages,
/// a status); a call that ends otherwise is [`Event::Cancelled`]. It
/// enforces the client's ping rate and resets streams it answered before
/// the client half-closed.
#[derive(Debug)]
pub struct ServerSide {
    enforcer: PingEnforcer,
    /// PINGs the connection had received at the last check.
    pings_seen: u64,
    /// Streams answered before the client half-closed: RST_STREAM
    /// (NO_ERROR) once our END_STREAM is on the wire.
    rst_after_end: Vec<StreamId>,
}

impl Endpoint<ServerSide> {
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
        // Sized once: status, content-type, the two encodings, metadata.
        let mut fields = Vec::with_capacity(4 + metadata.len());
        fields.push(HeaderField::new(":status", "200"));
        fields.push(HeaderField::new("content-type", "application/grpc"));
        if c.send.encoding != Encoding::Identity {
            fields.push(HeaderField::new("grpc-encoding", c.send.encoding.name()));
        }
        fields.push(HeaderField::new(
            "grpc-accept-encoding",
            Encoding::accept_header(),
        ));
        metadata.write_fields(&mut fields);
        self.conn.send_response(call.stream_id(), fields, false)?;
        if let Some(c) = self.calls.get_mut(&call.stream_id()) {
            c.headers = true;
        }
        self.note_send();
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
        self.unreserve(id);
        let Some(c) = self.calls.get_mut(&id) else {
            return Err(CallError::UnknownCall(call));
        };
        if !c.headers && c.send.queued() == 0 {
            let mut fields = Vec::with_capacity(5 + trailers.len());
            fields.push(HeaderField::new(":status", "200"));
            fields.push(HeaderField::new("content-type", "application/grpc"));
            status_fields(&status, &trailers, &mut fields);
            self.remove_call(id);
            self.conn.send_response(id, fields, true)?;
            self.note_send();
        } else {
            let mut fields = Vec::with_capacity(3 + trailers.len());
            status_fields(&status, &trailers, &mut fields);
            c.send.end = End::Trailers(fields);
            self.pump(id);
        }
        if !remote_done {
            self.reset_after_end(id);
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

    /// We wrote headers or data: ping strikes start over.
    fn note_send(&mut self) {
        self.side.enforcer.on_send();
    }

    /// Queues RST_STREAM(NO_ERROR) after our END_STREAM is written.
    fn reset_after_end(&mut self, id: StreamId) {
        self.side.rst_after_end.push(id);
    }

    /// Sends the RST_STREAM(NO_ERROR)s whose END_STREAM went out. Returns
    /// whether any was queued.
    fn reset_finished_streams(&mut self) -> bool {
        let mut queued = false;
        let conn = &mut self.conn;
        self.side
            .rst_after_end
            .retain(|&id| match conn.stream_stats(id).map(|s| s.state) {
                Some(StreamState::HalfClosedLocal) => {
                    let _ = conn.reset(id, Reason::NO_ERROR);
                    queued = true;
                    false
                }
                Some(StreamState::Open | StreamState::Idle) => true,
                _ => false,
            });
        queued
    }

    /// Closes the connection (ENHANCE_YOUR_CALM, `too_many_pings`) when
    /// the client pings more often than the policy allows.
    fn enforce_pings(&mut self, now: Instant) {
        let seen = self.conn.stats().counters.pings_received;
        let new = seen.saturating_sub(self.side.pings_seen);
        self.side.pings_seen = seen;
        for _ in 0..new {
            if self.side.enforcer.on_ping(now, self.calls.len()) {
                self.fail_all(Status::new(
                    Code::UNAVAILABLE,
                    "connection closed: client sent too many pings",
                ));
                self.conn.close_with_debug_data(
                    Reason::ENHANCE_YOUR_CALM,
                    Bytes::from_static(b"too_many_pings"),
                );
                return;
            }
        }
    }
}

impl Side for ServerSide {}

impl Behaviour for ServerSide {
    const ROLE: Role = Role::Server;
    const MIN_KEEPALIVE_TIME: Duration = Duration::ZERO;

    fn new(config: &Config) -> Self {
        ServerSide {
            enforcer: PingEnforcer::new(config.enforcement),
            pings_seen: 0,
            rst_after_end: Vec::new(),
        }
    }

    /// Directed credit: streams start with a small window (the oldest
    /// message in assembly gets the configured one), and the connection
    /// window stays at the RFC's default until our SETTINGS are acked.
    fn directed_credit(http2: &mut proto::Config) -> Option<u32> {
        let full = http2.initial_window_size;
        http2.initial_window_size = full.min(crate::proto::DIRECTED_INITIAL_WINDOW);
        http2.connection_window_size = http2
            .connection_window_size
            .min(crate::proto::flow::DEFAULT_WINDOW);
        Some(full)
    }

    fn on_event(ep: &mut Server, event: proto::Event, now: Instant) {
        on_event(ep, event, now);
    }

    fn end_call(ep: &mut Server, id: StreamId, status: Status, _: Option<Metadata>) {
        let Some(call) = ep.remove_call(id) else {
            return;
        };
        ep.push(Event::Cancelled {
            call: call.id,
            status,
        });
    }

    fn before_send(ep: &mut Server, call: CallId) -> Result<(), CallError> {
        if !ep.call_mut(call)?.headers {
            ep.send_headers(call, Metadata::new())?;
        }
        Ok(())
    }

    fn cancel(ep: &mut Server, id: StreamId) -> Result<(), CallError> {
        ep.remove_call(id);
        ep.conn.reset(id, Reason::CANCEL)?;
        Ok(())
    }

    /// A trailers-only DEADLINE_EXCEEDED response on a call that sent
    /// nothing yet, as grpc-go and grpc core send: a client whose own timer
    /// is later than ours learns DEADLINE_EXCEEDED, not CANCELLED. Then
    /// RST_STREAM(NO_ERROR) if the client has not half-closed (grpcio
    /// reports CANCELLED on a RST_STREAM(CANCEL) right after the trailers,
    /// whatever they said).
    fn answer_deadline(ep: &mut Server, id: StreamId) -> bool {
        if ep.calls.get(&id).is_none_or(|c| c.headers) {
            return false;
        }
        let mut fields = vec![
            HeaderField::new(":status", "200"),
            HeaderField::new("content-type", "application/grpc"),
        ];
        let status = Status::new(Code::DEADLINE_EXCEEDED, "deadline exceeded");
        status_fields(&status, &Metadata::new(), &mut fields);
        if ep.conn.send_response(id, fields, true).is_err() {
            return false;
        }
        ep.reset_after_end(id);
        true
    }

    fn after_recv(ep: &mut Server, now: Instant) {
        ep.enforce_pings(now);
    }

    fn after_transmit(ep: &mut Server) -> bool {
        ep.reset_finished_streams()
    }

    /// A call whose trailers went to the HTTP/2 layer is over.
    fn after_pump(ep: &mut Server, id: StreamId, moved: bool) {
        if moved {
            ep.note_send();
        }
        let done = ep
            .calls
            .get(&id)
            .is_some_and(|c| c.send.end == End::Sent && c.headers);
        if done {
            ep.remove_call(id);
        }
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
    let path = text(h.path().unwrap_or_default());
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

fn answer(ep: &mut Server, id: StreamId, r: Reject, end_stream: bool) {
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
    let _ = ep.conn.send_response(id, fields, true);
    if !end_stream {
        ep.reset_after_end(id);
    }
}

fn on_event(ep: &mut Server, ev: proto::Event, now: Instant) {
    match ev {
        proto::Event::Headers {
            stream_id,
            headers,
            end_stream,
        } => {
            let (path, deadline, encoding, metadata) = match check_request(&headers, now) {
                Ok(ok) => ok,
                Err(r) => return answer(ep, stream_id, r, end_stream),
            };
            let mut call = ep.new_call(stream_id, deadline);
            call.recv.encoding = encoding;
            call.path = path.clone();
            call.remote_done = end_stream;
            let c = call.id;
            ep.calls.insert(stream_id, call);
            ep.call_started(now);
            let authority = headers.authority().map(text);
            ep.push(Event::CallStarted {
                call: c,
                path,
                authority,
                metadata,
                deadline,
            });
            if end_stream {
                ep.push(Event::HalfClosed { call: c });
            }
        }
        proto::Event::Data {
            stream_id,
            data,
            end_stream,
        } => {
            let Some(result) = ep.take_data(stream_id, data) else {
                return;
            };
            let Some(call) = ep.calls.get_mut(&stream_id) else {
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
            match result {
                Err(status) => abort(ep, stream_id, status),
                Ok(()) if end_stream => ep.push_half_closed(stream_id),
                Ok(()) => {}
            }
        }
        proto::Event::Trailers { stream_id, .. } => {
            if let Some(call) = ep.calls.get_mut(&stream_id) {
                call.remote_done = true;
                match call.recv.finish() {
                    Err(status) => abort(ep, stream_id, status),
                    Ok(()) => ep.push_half_closed(stream_id),
                }
            }
        }
        _ => {}
    }
}

/// The client sent something we cannot accept: answer with `status`
/// (trailers, or trailers-only) and tell the application.
fn abort(ep: &mut Server, id: StreamId, status: Status) {
    let Some(call) = ep.calls.get_mut(&id) else {
        return;
    };
    call.send.drop_all();
    let remote_done = call.remote_done;
    let mut fields = Vec::new();
    if !call.headers {
        fields.push(HeaderField::new(":status", "200"));
        fields.push(HeaderField::new("content-type", "application/grpc"));
        status_fields(&status, &Metadata::new(), &mut fields);
        let _ = ep.conn.send_response(id, fields, true);
    } else {
        status_fields(&status, &Metadata::new(), &mut fields);
        let _ = ep.conn.send_trailers(id, fields);
    }
    if !remote_done {
        ep.reset_after_end(id);
    }
    ep.end_call(id, status, None);
}
