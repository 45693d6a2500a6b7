//! The blocking client: one connection, requests from any thread.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::driver::{self, Msg, Outgoing};
use super::tls::Stream;
use crate::frame::{Reason, StreamId};
use crate::hpack::HeaderField;
use crate::io::Error;
use crate::io::reset_error;
use crate::message;
use crate::proto::{Config, Connection, Event, MemoryBudget, ResetCause, UserError};
use crate::sched::{IdKeyMap, IdMap};

/// How a [`Client`] behaves. Start from [`ClientConfig::default`] and change
/// fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The HTTP/2 settings and limits of the connection (role: client).
    pub h2: Config,
    /// Largest response body collected; a larger one cancels the stream and
    /// fails with [`Error::BodyTooLarge`]. Default 4 MiB (gRPC's default
    /// receive limit): a hostile or broken server sending an endless body
    /// costs at most this much. Raise it for larger bodies, or use the tokio
    /// client's streaming body (`io::tokio::RecvBody`, feature `tokio`),
    /// whose memory the flow-control window bounds.
    pub max_response_body: usize,
    /// How long one request may take, from sending to the end of the
    /// response; past it the stream is cancelled and the request fails with
    /// [`Error::Timeout`]. Default 30 s.
    pub request_timeout: Duration,
    /// How long connecting may take. Default 10 s.
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            h2: Config::client(),
            max_response_body: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A blocking HTTP/2 client on one cleartext TCP connection (prior
/// knowledge, h2c).
///
/// [`send`](Client::send) takes `&self`: share the client (e.g. in an `Arc`)
/// and requests from several threads are multiplexed on the connection, up
/// to the server's concurrency limit (more wait for a slot, in order).
///
/// ```no_run
/// use h2proto::io::blocking::Client;
///
/// let client = Client::connect("127.0.0.1:8080")?;
/// let res = client.send(http::Request::post("/echo").body("ping".into())?)?;
/// println!("{} {:?}", res.status(), res.body());
/// client.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    tx: Sender<Msg<ClientCmd>>,
    /// What collected response bodies hold (shared with the driver).
    budget: MemoryBudget,
    authority: String,
    /// Over TLS: the default `:scheme` is `https`.
    tls: bool,
    request_timeout: Duration,
    next_token: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    /// Connects with the default [`ClientConfig`].
    pub fn connect(addr: impl ToSocketAddrs) -> std::io::Result<Client> {
        Self::connect_with(addr, ClientConfig::default())
    }

    /// Connects with this configuration. Requests without an `:authority`
    /// get the address connected to.
    pub fn connect_with(addr: impl ToSocketAddrs, config: ClientConfig) -> std::io::Result<Client> {
        let mut last_error = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, config.connect_timeout) {
                Ok(stream) => {
                    return Self::start(Stream::Plain(stream), addr.to_string(), false, config);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to connect to")
        }))
    }

    /// Connects over TLS (ALPN `h2`) to `addr`, verifying the server's
    /// certificate for `server_name` (also sent as SNI, and the default
    /// `:authority` with the port). `tls` is the rustls configuration (your
    /// roots, client certificate; [`crate::io::tls::client_config_webpki_roots`]
    /// for the public CAs); its ALPN list is made `h2` only. The TCP connect
    /// and the handshake are each bounded by
    /// [`ClientConfig::connect_timeout`]. A failed handshake is an error whose
    /// inner [`TlsError`](crate::io::tls::TlsError) says which check failed
    /// (wrong name, untrusted root, no ALPN). Requests whose `:scheme` is
    /// `http` (the default) go out as `https`.
    ///
    /// ```no_run
    /// use h2proto::io::{tls, blocking::{Client, ClientConfig}};
    /// let roots = tls::client_config_webpki_roots();
    /// let client = Client::connect_tls("example.com:443", "example.com", roots, ClientConfig::default())?;
    /// let res = client.get("/")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn connect_tls(
        addr: impl ToSocketAddrs,
        server_name: &str,
        tls: std::sync::Arc<rustls::ClientConfig>,
        config: ClientConfig,
    ) -> std::io::Result<Client> {
        let mut last_error = None;
        for addr in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, config.connect_timeout) {
                Ok(tcp) => {
                    let stream =
                        super::tls::connect(&tls, server_name, tcp, config.connect_timeout)?;
                    let authority = match server_name.contains(':') && !server_name.starts_with('[')
                    {
                        true => format!("[{server_name}]:{}", addr.port()),
                        false => format!("{server_name}:{}", addr.port()),
                    };
                    return Self::start(stream, authority, true, config);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to connect to")
        }))
    }

    fn start(
        stream: Stream,
        authority: String,
        tls: bool,
        config: ClientConfig,
    ) -> std::io::Result<Client> {
        let (tx, rx) = mpsc::channel();
        let mut h2 = config.h2;
        h2.role = crate::proto::Role::Client;
        let conn = Connection::new(h2, Instant::now());
        let budget = MemoryBudget::default();
        let mut role = ClientRole {
            budget: budget.clone(),
            max_body: config.max_response_body,
            streams: IdMap::default(),
            tokens: IdKeyMap::default(),
        };
        let driver_tx = tx.clone();
        let thread = thread::Builder::new()
            .name("h2-client".into())
            .spawn(move || driver::run(stream, conn, driver_tx, rx, &mut role))?;
        Ok(Client {
            tx,
            budget,
            authority,
            tls,
            request_timeout: config.request_timeout,
            next_token: AtomicU64::new(0),
            thread: Some(thread),
        })
    }

    /// What the response bodies this client collected and the application
    /// still holds amount to (each counts until its last clone is dropped).
    pub fn memory(&self) -> crate::proto::BudgetStats {
        self.budget.stats()
    }

    /// Sends a request and waits for the whole response. The head goes out
    /// as [`message::request_fields`] builds it (`:authority` the URI's,
    /// else the `host` field's, else the address connected to); trailers
    /// go and come back as [`message::Trailers`] in the extensions.
    ///
    /// A request the server refused with REFUSED_STREAM (it did no work on
    /// it, RFC 9113 §8.7: e.g. it was over the server's concurrency limit
    /// before its SETTINGS arrived) is sent again, up to
    /// [`message::REFUSED_RETRIES`] times. Only the server's
    /// word counts ([`Error::is_unprocessed`]): a stream this client reset
    /// itself (e.g. response headers over its limit, answered with
    /// REFUSED_STREAM too) fails with [`Error::LocalReset`] and is never
    /// sent again.
    pub fn send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error> {
        let (parts, body) = req.into_parts();
        let req = Outbound {
            fields: message::request_fields(&parts, &self.authority, self.tls),
            body,
            trailers: message::trailers(&parts.extensions)
                .map(message::trailer_fields)
                .unwrap_or_default(),
        };
        let mut retries = message::RefusedRetries::new();
        loop {
            match self.send_once(req.clone()) {
                Err(e) if retries.retry(e.is_unprocessed()) => {}
                result => return result,
            }
        }
    }

    fn send_once(&self, req: Outbound) -> Result<http::Response<Bytes>, Error> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = mpsc::sync_channel(1);
        // A connection whose driver has ended never sees it: not sent.
        self.tx
            .send(Msg::Cmd(ClientCmd::Request { req, token, reply }))
            .map_err(|_| Error::User(UserError::NotAccepting))?;
        match answer.recv_timeout(self.request_timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.tx.send(Msg::Cmd(ClientCmd::Cancel(token)));
                Err(Error::Timeout)
            }
            // The driver ended without taking the request (it answers every
            // request it took, when the connection ends too): never sent.
            Err(RecvTimeoutError::Disconnected) => Err(Error::User(UserError::NotAccepting)),
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<http::Response<Bytes>, Error> {
        self.send(http::Request::get(path).body(Bytes::new())?)
    }

    /// Graceful close: GOAWAY, let requests in flight finish, close the
    /// connection. Returns when it is closed.
    pub fn shutdown(mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Client {
    /// Starts a graceful close in the background (see [`Client::shutdown`]).
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
    }
}

/// Where the driver answers a request: once, so a one-slot channel (an
/// unbounded one allocates a block of 31 slots on its first send).
type Reply = SyncSender<Result<http::Response<Bytes>, Error>>;

/// A request as the driver sends it: the head's fields, body, trailers.
#[derive(Clone)]
pub(crate) struct Outbound {
    fields: Vec<HeaderField>,
    body: Bytes,
    trailers: Vec<HeaderField>,
}

pub(crate) enum ClientCmd {
    Request {
        req: Outbound,
        token: u64,
        reply: Reply,
    },
    /// The caller gave up waiting.
    Cancel(u64),
}

struct InFlight {
    reply: Reply,
    token: u64,
    /// The response head, once it arrived (`Err`: one `http` refuses).
    response: Option<Result<http::Response<()>, message::InvalidHead>>,
    trailers: Option<http::HeaderMap>,
    body: BytesMut,
    request_body: Outgoing,
}

struct ClientRole {
    budget: MemoryBudget,
    max_body: usize,
    streams: IdMap<InFlight>,
    tokens: IdKeyMap<u64, StreamId>,
}

impl driver::Role for ClientRole {
    type Conn = Connection;
    type Cmd = ClientCmd;

    fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    fn on_event(&mut self, conn: &mut Connection, event: Event, _now: Instant) {
        match event {
            Event::Headers {
                stream_id,
                headers,
                end_stream,
            } => {
                if let Some(s) = self.streams.get_mut(&stream_id) {
                    s.response = Some(message::response_head(headers));
                    if end_stream {
                        self.complete(conn, stream_id);
                    }
                }
            }
            Event::Data {
                stream_id,
                data,
                end_stream,
            } => {
                // Collected here: consumed as far as flow control goes.
                let _ = conn.release_capacity(stream_id, data.len());
                let Some(s) = self.streams.get_mut(&stream_id) else {
                    return;
                };
                if s.body.len() + data.len() > self.max_body {
                    let _ = conn.reset(stream_id, Reason::CANCEL);
                    self.fail(stream_id, Error::BodyTooLarge);
                    return;
                }
                // Counted in the budget while collected (the response the
                // application asked for: its credit goes back at once).
                self.budget.charge(data.len());
                s.body.extend_from_slice(&data);
                if end_stream {
                    self.complete(conn, stream_id);
                }
            }
            Event::Trailers {
                stream_id,
                trailers,
            } => {
                if let Some(s) = self.streams.get_mut(&stream_id) {
                    s.trailers = Some(message::header_map(trailers.into_fields()));
                }
                self.complete(conn, stream_id);
            }
            Event::Reset {
                stream_id,
                reason,
                initiator,
                why,
            } => self.fail(stream_id, reset_error(reason, initiator, why)),
            Event::Writable { stream_id } => {
                if let Some(s) = self.streams.get_mut(&stream_id)
                    && s.request_body.pump(conn, stream_id).is_err()
                {
                    let _ = conn.reset(stream_id, Reason::INTERNAL_ERROR);
                    self.fail(stream_id, Error::Closed);
                }
            }
            Event::Closed { error } => {
                for id in self.streams.keys().copied().collect::<Vec<_>>() {
                    let e = match &error {
                        Some(e) => Error::Connection(e.clone()),
                        None => Error::Closed,
                    };
                    self.fail(id, e);
                }
            }
            _ => {}
        }
    }

    fn on_command(&mut self, conn: &mut Connection, cmd: ClientCmd, _now: Instant) {
        match cmd {
            ClientCmd::Request { req, token, reply } => {
                if conn.is_closed() {
                    // Never sent: it may go elsewhere (`Error::is_not_sent`).
                    let _ = reply.try_send(Err(Error::User(UserError::NotAccepting)));
                    return;
                }
                let end = req.body.is_empty() && req.trailers.is_empty();
                let id = match conn.send_built_request(req.fields, end) {
                    Ok(id) => id,
                    Err(e) => {
                        let _ = reply.try_send(Err(Error::User(e)));
                        return;
                    }
                };
                let mut request_body = if end {
                    Outgoing::finished()
                } else {
                    Outgoing::new(req.body, req.trailers)
                };
                if let Err(e) = request_body.pump(conn, id) {
                    let _ = conn.reset(id, Reason::INTERNAL_ERROR);
                    let _ = reply.try_send(Err(Error::User(e)));
                    return;
                }
                self.tokens.insert(token, id);
                self.streams.insert(
                    id,
                    InFlight {
                        reply,
                        token,
                        response: None,
                        trailers: None,
                        body: BytesMut::new(),
                        request_body,
                    },
                );
            }
            ClientCmd::Cancel(token) => {
                if let Some(id) = self.tokens.get(&token).copied() {
                    let _ = conn.reset(id, Reason::CANCEL);
                    self.fail(id, Error::Timeout);
                }
            }
        }
    }

    fn on_finished(&mut self, io_error: Option<std::io::Error>) {
        let kind = io_error.map(|e| e.kind());
        for id in self.streams.keys().copied().collect::<Vec<_>>() {
            let e = match kind {
                Some(kind) => Error::Io(kind.into()),
                None => Error::Closed,
            };
            self.fail(id, e);
        }
    }
}

impl ClientRole {
    /// Forgets a stream; what its body held leaves the budget (a completed
    /// body takes it over again, see `complete`).
    fn remove(&mut self, id: StreamId) -> Option<InFlight> {
        let s = self.streams.remove(&id)?;
        self.tokens.remove(&s.token);
        self.budget.uncharge(s.body.len());
        Some(s)
    }

    fn fail(&mut self, id: StreamId, error: Error) {
        if let Some(s) = self.remove(id) {
            let _ = s.reply.try_send(Err(error));
        }
    }

    /// The response is complete.
    fn complete(&mut self, conn: &mut Connection, id: StreamId) {
        let Some(s) = self.remove(id) else {
            return;
        };
        if !s.request_body.is_done() {
            // The server answered before taking the whole request body (RFC
            // 9113 §8.1): stop sending it.
            let _ = conn.reset(id, Reason::CANCEL);
        }
        let result = match s.response {
            Some(Ok(head)) => {
                // The body counts in the connection's budget for as long as
                // the application holds it.
                let n = s.body.len();
                let mut res = head.map(|()| self.budget.hold(s.body.freeze(), id, 0, n));
                if let Some(t) = s.trailers {
                    res.extensions_mut().insert(message::Trailers(t));
                }
                Ok(res)
            }
            // A status `http` refuses, or (only if the core ended a stream
            // without headers) none.
            Some(Err(_)) | None => Err(Error::LocalReset {
                reason: Reason::PROTOCOL_ERROR,
                why: ResetCause::PeerError,
            }),
        };
        let _ = s.reply.try_send(result);
    }
}
