//! The client side: [`Client`] (the endpoint on [`ClientSide`]), request
//! headers, and the status a client synthesizes from what it received.

use std::time::{Duration, Instant};

use super::call::{End, is_grpc_content_type, status_from_fields};
use super::codec::Encoding;
use super::endpoint::behaviour::Behaviour;
use super::endpoint::{Endpoint, Side};
use super::metadata::{Metadata, MetadataError};
use super::status::{Code, Status};
use super::timeout::format_timeout;
use super::{CallError, CallId, Config, Event};
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;
use crate::proto::{self, HeaderList, Role};

/// Per-call options of a gRPC client call: timeout, request metadata,
/// compression, and how a channel waits for a backend. One type for every
/// client: the sans-IO [`Client::start_call_with`], the tokio and blocking
/// clients and the tokio channel.
///
/// ```
/// use std::time::Duration;
/// use h2proto::grpc::{CallOptions, Encoding, Metadata};
///
/// let mut md = Metadata::new();
/// md.insert("x-request-id", "42")?;
/// let options = CallOptions::new()
///     .timeout(Duration::from_secs(1))
///     .metadata(md)
///     .encoding(Encoding::Identity);
/// assert_eq!(options.timeout, Some(Duration::from_secs(1)));
/// # Ok::<(), h2proto::grpc::MetadataError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// The call's timeout (sent as `grpc-timeout`; the call ends
    /// DEADLINE_EXCEEDED when it passes).
    pub timeout: Option<Duration>,
    /// Custom request metadata.
    pub metadata: Metadata,
    /// Compression of the messages we send (`grpc-encoding`).
    pub encoding: Encoding,
    /// On a channel (`io::tokio::channel`): wait for a READY backend
    /// (until the timeout) instead of failing UNAVAILABLE while none can
    /// be reached. A single connection ignores it.
    pub wait_for_ready: bool,
}

impl CallOptions {
    /// No timeout, no metadata, no compression.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the request metadata.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the send compression.
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Sets [`wait_for_ready`](CallOptions::wait_for_ready).
    pub fn wait_for_ready(mut self, on: bool) -> Self {
        self.wait_for_ready = on;
        self
    }
}

/// A gRPC client connection, sans-IO: the [`Endpoint`] on the
/// [`ClientSide`]. See the [module docs](super) for a complete exchange.
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
pub type Client = Endpoint<ClientSide>;

/// The client end of a connection: it starts calls and half-closes them;
/// a call ends with [`Event::Finished`]. It keeps no state of its own.
#[derive(Debug)]
pub struct ClientSide(());

impl Endpoint<ClientSide> {
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
            metadata,
            ..CallOptions::default()
        };
        self.start_call_with(path, options, now)
    }

    /// Starts a call with [`CallOptions`] (timeout, metadata, encoding).
    pub fn start_call_with(
        &mut self,
        path: &str,
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
        let c = &self.config;
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
        options.metadata.write_fields(&mut fields);
        let id = self.conn.send_request(fields, false)?;
        // A timeout past what `Instant` can hold is no deadline.
        let deadline = options.timeout.and_then(|t| now.checked_add(t));
        let mut call = self.new_call(id, deadline);
        call.send.encoding = options.encoding;
        self.calls.insert(id, call);
        self.call_started(now);
        Ok(CallId(id))
    }

    /// Nothing more to send: an empty DATA frame with END_STREAM follows the
    /// queued messages.
    pub fn close_send(&mut self, call: CallId) -> Result<(), CallError> {
        let c = self.call_mut(call)?;
        if c.send.end != End::Open {
            return Err(CallError::SendClosed);
        }
        c.send.end = End::CloseSend;
        self.pump(call.stream_id());
        Ok(())
    }
}

impl Side for ClientSide {}

impl Behaviour for ClientSide {
    const ROLE: Role = Role::Client;
    const MIN_KEEPALIVE_TIME: Duration = super::keepalive::MIN_CLIENT_TIME;

    fn new(_: &Config) -> Self {
        ClientSide(())
    }

    fn directed_credit(_: &mut proto::Config) -> Option<u32> {
        None
    }

    fn on_event(ep: &mut Client, event: proto::Event, _now: Instant) {
        on_event(ep, event);
    }

    fn end_call(ep: &mut Client, id: StreamId, status: Status, trailers: Option<Metadata>) {
        // The status follows every message the server sent.
        ep.deliver_parked(id);
        let Some(call) = ep.remove_call(id) else {
            return;
        };
        ep.push(Event::Finished {
            call: call.id,
            status,
            trailers: trailers.unwrap_or_default(),
        });
    }

    fn before_send(_: &mut Client, _: CallId) -> Result<(), CallError> {
        Ok(())
    }

    fn cancel(ep: &mut Client, id: StreamId) -> Result<(), CallError> {
        ep.conn.reset(id, Reason::CANCEL)?;
        let status = Status::new(Code::CANCELLED, "call cancelled by the client");
        ep.end_call(id, status, None);
        Ok(())
    }

    fn answer_deadline(_: &mut Client, _: StreamId) -> bool {
        false
    }

    fn after_recv(_: &mut Client, _: Instant) {}

    fn after_transmit(_: &mut Client) -> bool {
        false
    }

    fn after_pump(_: &mut Client, _: StreamId, _: bool) {}
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

fn on_event(ep: &mut Client, ev: proto::Event) {
    match ev {
        proto::Event::Headers {
            stream_id,
            headers,
            end_stream,
        } => {
            let Some(call) = ep.calls.get_mut(&stream_id) else {
                return;
            };
            if let Err(status) = check_response(&headers) {
                let _ = ep.conn.reset(stream_id, Reason::CANCEL);
                return ep.end_call(stream_id, status, None);
            }
            let metadata = match Metadata::from_fields(headers.fields()) {
                Ok(m) => m,
                Err(e) => return fail(ep, stream_id, bad_metadata(&e), end_stream),
            };
            if end_stream {
                // Trailers-only.
                let status = status_from_fields(headers.fields());
                return server_ended(ep, stream_id, status, Some(metadata));
            }
            if let Some(enc) = headers.get(b"grpc-encoding") {
                match Encoding::parse(enc) {
                    Some(e) => call.recv.encoding = e,
                    None => {
                        let msg = format!(
                            "grpc: response encoding {:?} not supported",
                            String::from_utf8_lossy(enc)
                        );
                        return fail(ep, stream_id, Status::new(Code::INTERNAL, msg), false);
                    }
                }
            }
            call.headers = true;
            let c = call.id;
            ep.push(Event::Headers { call: c, metadata });
        }
        proto::Event::Data {
            stream_id,
            data,
            end_stream,
        } => {
            let Some(result) = ep.take_data(stream_id, data) else {
                return;
            };
            if let Err(status) = result {
                return fail(ep, stream_id, status, end_stream);
            }
            if end_stream {
                let status = ep
                    .calls
                    .get(&stream_id)
                    .and_then(|c| c.recv.finish().err())
                    .unwrap_or_else(|| {
                        Status::new(
                            Code::INTERNAL,
                            "server closed the stream without sending trailers",
                        )
                    });
                ep.end_call(stream_id, status, None);
            }
        }
        proto::Event::Trailers {
            stream_id,
            trailers,
        } => {
            let Some(call) = ep.calls.get_mut(&stream_id) else {
                return;
            };
            let status = match call.recv.finish() {
                Err(s) => s,
                Ok(()) => status_from_fields(trailers.fields()),
            };
            match Metadata::from_fields(trailers.fields()) {
                Ok(md) => server_ended(ep, stream_id, status, Some(md)),
                Err(e) => server_ended(ep, stream_id, bad_metadata(&e), None),
            }
        }
        _ => {}
    }
}

/// The server ended the call with its status. If we had not half-closed,
/// RST_STREAM(NO_ERROR) tells it we are done sending too.
fn server_ended(ep: &mut Client, id: StreamId, status: Status, md: Option<Metadata>) {
    if let Some(call) = ep.calls.get_mut(&id) {
        let unsent = call.send.end != End::Sent;
        call.send.drop_all();
        if unsent {
            let _ = ep.conn.reset(id, Reason::NO_ERROR);
        }
    }
    ep.end_call(id, status, md);
}

fn bad_metadata(e: &MetadataError) -> Status {
    Status::new(Code::INTERNAL, format!("grpc: malformed metadata: {e}"))
}

/// Ends a call because of what we received: RST_STREAM(CANCEL) unless the
/// server already ended its side.
fn fail(ep: &mut Client, id: StreamId, status: Status, ended: bool) {
    if !ended {
        let _ = ep.conn.reset(id, Reason::CANCEL);
    }
    ep.end_call(id, status, None);
}
