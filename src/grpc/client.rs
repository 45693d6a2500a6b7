//! The client side: [`Client`], request headers, and the status a client
//! synthesizes from what it received.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::call::{Call, End, is_grpc_content_type, status_from_fields};
use super::codec::Encoding;
use super::endpoint::Core;
use super::metadata::{Metadata, MetadataError};
use super::status::{Code, Status};
use super::timeout::format_timeout;
use super::{CallError, CallId, CallStats, Config, Event, Hold};
use crate::frame::Reason;
use crate::hpack::HeaderField;
use crate::proto::{self, Connection, HeaderList, MemoryBudget, Role};

/// Per-call options for [`Client::start_call_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// The call's timeout (sent as `grpc-timeout`; the call ends
    /// DEADLINE_EXCEEDED when it passes).
    pub timeout: Option<Duration>,
    /// Compression of the messages we send (`grpc-encoding`).
    pub encoding: Encoding,
}

impl CallOptions {
    /// No timeout, no compression.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the send compression.
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }
}

/// A gRPC client connection, sans-IO. See the [module docs](super) for a
/// complete exchange.
///
/// ```
/// use std::time::{Duration, Instant};
/// use bytes::{Bytes, BytesMut};
/// use h2proto::grpc::{Client, Config, Metadata};
///
/// let now = Instant::now();
/// let mut client = Client::new(Config::client(), now);
/// let mut md = Metadata::new();
/// md.insert("x-request-id", "42")?;
/// let call = client.start_call("/pkg.Svc/Method", md, Some(Duration::from_millis(250)), now)?;
/// client.send_message(call, Bytes::from_static(b"\x08\x01"))?;
/// client.close_send(call)?;
/// let mut wire = BytesMut::new();
/// client.poll_transmit(&mut wire, usize::MAX, now);
/// assert!(wire.starts_with(b"PRI * HTTP/2.0"));
/// assert_eq!(client.poll_timeout(), Some(now + Duration::from_millis(250)));
/// # Ok::<(), h2proto::grpc::CallError>(())
/// ```
#[derive(Debug)]
pub struct Client {
    core: Core,
}

impl Client {
    /// A client connection; its preface and SETTINGS go out with the first
    /// `poll_transmit`.
    pub fn new(config: Config, now: Instant) -> Client {
        Client {
            core: Core::new(config, Role::Client, now),
        }
    }

    /// Starts a call on `path` (`/Service/Method`) with custom metadata and an
    /// optional timeout from `now`.
    pub fn start_call(
        &mut self,
        path: &str,
        metadata: Metadata,
        timeout: Option<Duration>,
        now: Instant,
    ) -> Result<CallId, CallError> {
        let options = CallOptions {
            timeout,
            ..CallOptions::default()
        };
        self.start_call_with(path, metadata, options, now)
    }

    /// Starts a call with [`CallOptions`].
    pub fn start_call_with(
        &mut self,
        path: &str,
        metadata: Metadata,
        options: CallOptions,
        now: Instant,
    ) -> Result<CallId, CallError> {
        if !path.starts_with('/') || path.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(CallError::InvalidPath(path.to_owned()));
        }
        if options.encoding != Encoding::Identity
            && Encoding::parse(options.encoding.name().as_bytes()).is_none()
        {
            return Err(CallError::Compression(Status::new(
                Code::UNIMPLEMENTED,
                "encoding not built in",
            )));
        }
        let c = &self.core.config;
        let mut fields = vec![
            HeaderField::new(":method", "POST"),
            HeaderField::new(":scheme", c.scheme.clone()),
            HeaderField::new(":path", path.to_owned()),
            HeaderField::new(":authority", c.authority.clone()),
            HeaderField::new("te", "trailers"),
            HeaderField::new("content-type", c.content_type.clone()),
        ];
        if let Some(t) = options.timeout {
            fields.push(HeaderField::new("grpc-timeout", format_timeout(t)));
        }
        if options.encoding != Encoding::Identity {
            fields.push(HeaderField::new("grpc-encoding", options.encoding.name()));
        }
        fields.push(HeaderField::new(
            "grpc-accept-encoding",
            Encoding::accept_header(),
        ));
        fields.push(HeaderField::new("user-agent", c.user_agent.clone()));
        metadata.write_fields(&mut fields);
        let id = self.core.conn.send_request(fields, false)?;
        // A timeout past what `Instant` can hold is no deadline.
        let deadline = options.timeout.and_then(|t| now.checked_add(t));
        let mut call = self.core.new_call(id, deadline);
        call.send.encoding = options.encoding;
        self.core.calls.insert(id, call);
        self.core.call_started(now);
        Ok(CallId(id))
    }

    /// Queues a message, compressed when the call has an encoding. See
    /// [`send_message_with`](Self::send_message_with).
    pub fn send_message(&mut self, call: CallId, message: Bytes) -> Result<(), CallError> {
        self.send_message_with(call, message, true)
    }

    /// Queues a message; `compress` asks for the call's encoding (ignored
    /// for identity). Returns [`CallError::Busy`] when the call already
    /// queued [`Config::max_send_queue`] bytes: retry after
    /// [`Event::Writable`].
    pub fn send_message_with(
        &mut self,
        call: CallId,
        message: Bytes,
        compress: bool,
    ) -> Result<(), CallError> {
        let (q, m) = (
            self.core.config.max_send_queue,
            self.core.config.max_send_message_size,
        );
        let c = self.call_mut(call)?;
        c.send.push(message, compress, q, m)?;
        self.core.pump(call.stream_id());
        Ok(())
    }

    /// Nothing more to send: an empty DATA frame with END_STREAM follows the
    /// queued messages.
    pub fn close_send(&mut self, call: CallId) -> Result<(), CallError> {
        let c = self.call_mut(call)?;
        if c.send.end != End::Open {
            return Err(CallError::SendClosed);
        }
        c.send.end = End::CloseSend;
        self.core.pump(call.stream_id());
        Ok(())
    }

    /// Cancels the call: RST_STREAM(CANCEL), and the call finishes CANCELLED.
    pub fn cancel(&mut self, call: CallId) -> Result<(), CallError> {
        self.call_mut(call)?;
        self.core.conn.reset(call.stream_id(), Reason::CANCEL)?;
        self.core.end_call(
            call.stream_id(),
            Status::new(Code::CANCELLED, "call cancelled by the client"),
            None,
        );
        Ok(())
    }

    fn call_mut(&mut self, call: CallId) -> Result<&mut Call, CallError> {
        self.core
            .calls
            .get_mut(&call.stream_id())
            .ok_or(CallError::UnknownCall(call))
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
    /// events). Until then the server's windows, not our memory, absorb a
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

    /// When [`handle_timeout`](Self::handle_timeout) is due (deadlines,
    /// keepalive, the connection's timers).
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

    /// The BDP estimate (the receive window asked for), when BDP is on.
    pub fn bdp_window(&self) -> Option<u32> {
        self.core.bdp_window()
    }
}

/// The status a response carries without (or before) trailers: an HTTP
/// error, a non-gRPC content-type, or a trailers-only response's fields.
fn check_response(headers: &HeaderList) -> Result<(), Status> {
    let fields = headers.fields();
    let has_status = fields.iter().any(|f| f.name == "grpc-status");
    match headers.status() {
        Some(200) => {}
        // A gRPC server's error carried in a non-200 response: its status wins.
        Some(_)
            if has_status
                && headers
                    .get(b"content-type")
                    .is_some_and(|c| is_grpc_content_type(c)) => {}
        Some(s) => {
            return Err(Status::new(
                Code::from_http_status(s),
                format!("unexpected HTTP status code received from server: {s}"),
            ));
        }
        None => return Err(Status::new(Code::INTERNAL, "response without :status")),
    }
    match headers.get(b"content-type") {
        Some(ct) if is_grpc_content_type(ct) => Ok(()),
        ct => Err(Status::new(
            Code::UNKNOWN,
            format!(
                "unexpected content-type {:?}",
                ct.map(|c| String::from_utf8_lossy(c).into_owned())
            ),
        )),
    }
}

pub(super) fn on_event(core: &mut Core, ev: proto::Event) {
    match ev {
        proto::Event::Headers {
            stream_id,
            headers,
            end_stream,
        } => {
            let Some(call) = core.calls.get_mut(&stream_id) else {
                return;
            };
            if let Err(status) = check_response(&headers) {
                let _ = core.conn.reset(stream_id, Reason::CANCEL);
                return core.end_call(stream_id, status, None);
            }
            let metadata = match Metadata::from_fields(headers.fields()) {
                Ok(m) => m,
                Err(e) => return fail(core, stream_id, bad_metadata(&e), end_stream),
            };
            if end_stream {
                // Trailers-only.
                let status = status_from_fields(headers.fields());
                return server_ended(core, stream_id, status, Some(metadata));
            }
            if let Some(enc) = headers.get(b"grpc-encoding") {
                match Encoding::parse(enc) {
                    Some(e) => call.recv.encoding = e,
                    None => {
                        let msg = format!(
                            "grpc: response encoding {:?} not supported",
                            String::from_utf8_lossy(enc)
                        );
                        return fail(core, stream_id, Status::new(Code::INTERNAL, msg), false);
                    }
                }
            }
            call.headers = true;
            let c = call.id;
            core.push(Event::Headers { call: c, metadata });
        }
        proto::Event::Data {
            stream_id,
            data,
            end_stream,
        } => {
            let Some((messages, result)) = core.on_call_data(stream_id, data) else {
                return;
            };
            for m in messages {
                core.push_message(stream_id, m.data, m.compressed, m.hold);
            }
            if let Err(status) = result {
                return fail(core, stream_id, status, end_stream);
            }
            if end_stream {
                let status = core
                    .calls
                    .get(&stream_id)
                    .and_then(|c| c.recv.finish().err())
                    .unwrap_or_else(|| {
                        Status::new(
                            Code::INTERNAL,
                            "server closed the stream without sending trailers",
                        )
                    });
                core.end_call(stream_id, status, None);
            }
        }
        proto::Event::Trailers {
            stream_id,
            trailers,
        } => {
            let Some(call) = core.calls.get_mut(&stream_id) else {
                return;
            };
            let status = match call.recv.finish() {
                Err(s) => s,
                Ok(()) => status_from_fields(trailers.fields()),
            };
            match Metadata::from_fields(trailers.fields()) {
                Ok(md) => server_ended(core, stream_id, status, Some(md)),
                Err(e) => server_ended(core, stream_id, bad_metadata(&e), None),
            }
        }
        _ => {}
    }
}

/// The server ended the call with its status. If we had not half-closed,
/// RST_STREAM(NO_ERROR) tells it we are done sending too.
fn server_ended(core: &mut Core, id: crate::frame::StreamId, status: Status, md: Option<Metadata>) {
    if let Some(call) = core.calls.get_mut(&id) {
        let unsent = call.send.end != End::Sent;
        call.send.drop_all();
        if unsent {
            let _ = core.conn.reset(id, Reason::NO_ERROR);
        }
    }
    core.end_call(id, status, md);
}

fn bad_metadata(e: &MetadataError) -> Status {
    Status::new(Code::INTERNAL, format!("grpc: malformed metadata: {e}"))
}

/// Ends a call because of what we received: RST_STREAM(CANCEL) unless the
/// server already ended its side.
fn fail(core: &mut Core, id: crate::frame::StreamId, status: Status, ended: bool) {
    if !ended {
        let _ = core.conn.reset(id, Reason::CANCEL);
    }
    core.end_call(id, status, None);
}
