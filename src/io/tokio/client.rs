//! The tokio HTTP/2 client: one connection, any number of concurrent
//! requests from any task.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::task::JoinHandle;

use super::body::{Body, Kind, SendSide};
use super::driver::{Driver, Handle, LocalTask};
use super::engine::{HttpEngine, Slot, register};
use super::recv_body::{RecvBody, RecvSide, check_open};
use super::tls::Stream;
use crate::frame::{Reason, StreamId};
use crate::io::Error;
use crate::message;
use crate::proto::{BudgetStats, Config, Connection, ConnectionStats, DEFAULT_MEMORY_BUDGET, Role};

/// How a [`Client`] behaves. Start from [`ClientConfig::default`] and change
/// fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The HTTP/2 settings and limits of the connection (role: client).
    pub h2: Config,
    /// Largest response body [`Client::send`] collects; a larger one
    /// cancels the stream and fails with [`Error::BodyTooLarge`]. Default
    /// 4 MiB (gRPC's default receive limit): a hostile or broken server
    /// sending an endless body costs at most this much. For larger bodies
    /// use [`Client::send_request`] and read the [`RecvBody`] as it arrives
    /// (its memory is bounded by the stream's flow-control window).
    pub max_response_body: usize,
    /// How long connecting may take. Default 10 s.
    pub connect_timeout: Duration,
    /// The most bytes the adapter and the application may hold on the
    /// connection's behalf beyond the core's windows (response bodies being
    /// collected, request bytes waiting for the peer): past it, no early
    /// credit. Default [`DEFAULT_MEMORY_BUDGET`] (1 MiB).
    pub memory_budget: usize,
    /// How long one request may take, from sending it to the end of the
    /// response body, unless its [`Timeout`] extension says otherwise;
    /// past it the stream is reset with CANCEL and the response future or
    /// body fails with [`Error::Timeout`]. `None`: no limit. Default 30 s
    /// (the blocking client's).
    pub request_timeout: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            h2: Config::client(),
            max_response_body: 4 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            memory_budget: DEFAULT_MEMORY_BUDGET,
            request_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// A request extension: how long this exchange may take, response body
/// included, instead of the client's [`ClientConfig::request_timeout`].
/// `Duration::MAX`: no limit.
///
/// ```
/// use h2proto::io::tokio::Timeout;
/// let req = http::Request::get("/slow")
///     .extension(Timeout(std::time::Duration::from_secs(5)))
///     .body(h2proto::io::tokio::Body::empty())?;
/// # Ok::<(), http::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub Duration);

/// An HTTP/2 client on one cleartext TCP connection (prior knowledge, h2c),
/// driven by one tokio task.
///
/// Clones share the connection. When the last clone is dropped the client
/// sends GOAWAY; responses in flight still complete, then the connection
/// closes.
///
/// ```
/// use h2proto::io::tokio::{Body, Client, Server};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = Server::bind("127.0.0.1:0").await?
/// #     .serve(|_req| async { http::Response::new(Body::from("hello")) });
/// let client = Client::connect(server.local_addr()).await?;
/// let (mut upload, body) = Body::channel();
/// let response = client.send_request(http::Request::post("/").body(body)?);
/// upload.send("streamed ").await?;
/// upload.finish().await?;
/// let mut res = response.await?;
/// assert_eq!(res.status(), 200);
/// while let Some(chunk) = res.body_mut().chunk().await {
///     println!("{} bytes", chunk?.len());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Handle<HttpEngine>,
    authority: String,
    /// Over TLS: the default `:scheme` is `https`.
    tls: bool,
    max_response_body: usize,
    request_timeout: Option<Duration>,
    task: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.handle
            .with(|e| e.conn.shutdown(crate::io::tokio::driver::now()));
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("authority", &self.inner.authority)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects with the default [`ClientConfig`].
    pub async fn connect(addr: impl ToSocketAddrs) -> std::io::Result<Client> {
        Self::connect_with(addr, ClientConfig::default()).await
    }

    /// Connects with this configuration; the connection's task is spawned
    /// on the current tokio runtime.
    ///
    /// It returns once TCP is connected, with our preface and SETTINGS
    /// queued, *before* the server's SETTINGS arrive. What a caller may rely
    /// on then: requests can be sent at once (they go out in order); until
    /// the server's SETTINGS are in, the client assumes the RFC defaults
    /// (100 concurrent streams as [`can_take_new_request`](Self::can_take_new_request)
    /// counts them, a 65,535-byte send window), so a request beyond the
    /// server's real limit may be refused with REFUSED_STREAM, which
    /// [`send`](Self::send) retries. A peer that is not an HTTP/2 server
    /// shows up as the first request's error, not here. To know the
    /// server's settings are in, wait for a first response.
    pub async fn connect_with(
        addr: impl ToSocketAddrs,
        config: ClientConfig,
    ) -> std::io::Result<Client> {
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let peer: SocketAddr = stream.peer_addr()?;
        let _ = stream.set_nodelay(true);
        Ok(Client::start(
            Stream::Plain(stream),
            peer.to_string(),
            false,
            config,
        ))
    }

    /// Connects over TLS (ALPN `h2`) to `addr`, verifying the server's
    /// certificate for `server_name` (also sent as SNI and used in
    /// `:authority` with the port). `tls` is the rustls configuration (your
    /// roots, client certificate; [`crate::io::tls::client_config_webpki_roots`]
    /// for the public CAs); its ALPN list is made `h2` only. The TCP connect
    /// and the handshake together are bounded by
    /// [`ClientConfig::connect_timeout`]. A failed handshake is an error
    /// whose inner [`TlsError`](crate::io::tls::TlsError) says which check
    /// failed (wrong name, untrusted root, no ALPN). Requests default to
    /// `:scheme` `https`.
    ///
    /// ```no_run
    /// use h2proto::io::{tls, tokio::{Client, ClientConfig}};
    /// # async fn f() -> std::io::Result<()> {
    /// let roots = tls::client_config_webpki_roots();
    /// let client = Client::connect_tls("example.com:443", "example.com", roots, ClientConfig::default()).await?;
    /// let res = client.get("/").await.map_err(std::io::Error::other)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub async fn connect_tls(
        addr: impl ToSocketAddrs,
        server_name: &str,
        tls: Arc<rustls::ClientConfig>,
        config: ClientConfig,
    ) -> std::io::Result<Client> {
        let dial = async {
            let tcp = TcpStream::connect(addr).await?;
            let port = tcp.peer_addr()?.port();
            let stream = super::tls::connect(&tls, server_name, tcp).await?;
            std::io::Result::Ok((stream, port))
        };
        let (stream, port) = tokio::time::timeout(config.connect_timeout, dial)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let authority = match server_name.contains(':') && !server_name.starts_with('[') {
            true => format!("[{server_name}]:{port}"),
            false => format!("{server_name}:{port}"),
        };
        Ok(Client::start(stream, authority, true, config))
    }

    /// Connects to a URL's origin: `http://host:port` (h2c, prior
    /// knowledge) or `https://host[:port]` (TLS with `tls`, by default the
    /// webpki roots). Anything after the authority is ignored. A
    /// [`Pool`](super::pool::Pool) keyed by `scheme://authority` dials with
    /// this, so `http` and `https` origins never share a connection.
    #[cfg(feature = "tls")]
    pub async fn connect_url(
        url: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        config: ClientConfig,
    ) -> std::io::Result<Client> {
        let invalid = |why: &str| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{url}: {why}"))
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => {
                (h, Some(p.parse::<u16>().map_err(|_| invalid("bad port"))?))
            }
            _ => (authority, None),
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match scheme {
            "http" => Client::connect_with((bare, port.unwrap_or(80)), config).await,
            "https" => {
                let tls = tls.unwrap_or_else(crate::io::tls::client_config_webpki_roots);
                Client::connect_tls((bare, port.unwrap_or(443)), bare, tls, config).await
            }
            _ => Err(invalid("scheme is neither http nor https")),
        }
    }

    /// Starts the connection's task over a connected stream.
    /// A client over `io`, already connected (TLS done), its driver spawned.
    pub(crate) fn start<IO>(io: IO, authority: String, tls: bool, config: ClientConfig) -> Client
    where
        IO: ::tokio::io::AsyncRead + ::tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let mut h2 = config.h2;
        h2.role = Role::Client;
        let conn = Connection::new(h2, crate::io::tokio::driver::now());
        let handle = Handle::new(HttpEngine::client(conn).with_budget(config.memory_budget));
        let task = tokio::spawn(Driver::new(io, handle.clone()));
        Client {
            inner: Arc::new(Inner {
                handle,
                authority,
                tls,
                max_response_body: config.max_response_body,
                request_timeout: config.request_timeout,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// Sends a request; the returned future gives the response head once it
    /// arrives, with the body to read. A [`Body::channel`] body is written
    /// while waiting, through its sender.
    ///
    /// The head goes out as [`message::request_fields`] builds it:
    /// `:scheme` the URI's (`http` by default, `https` over TLS),
    /// `:authority` the URI's, else the `host` field's, else the address
    /// connected to, `:path` the URI's path and query.
    ///
    /// Dropping the future (or later the response body) before the end
    /// resets the stream with CANCEL; so does the request's timeout
    /// (a [`Timeout`] extension, else [`ClientConfig::request_timeout`]),
    /// which covers the whole exchange: the future, or the body's reads,
    /// then fail with [`Error::Timeout`].
    pub fn send_request(&self, req: http::Request<Body>) -> ResponseFuture {
        let handle = &self.inner.handle;
        let (parts, body) = req.into_parts();
        let fields = message::request_fields(&parts, &self.inner.authority, self.inner.tls);
        let timeout = match parts.extensions.get::<Timeout>() {
            Some(Timeout(t)) => Some(*t),
            None => self.inner.request_timeout,
        };
        let deadline = timeout.and_then(|t| super::driver::now().checked_add(t));
        let mut kind = body.into_kind();
        let end = matches!(&kind, Kind::Full { data, trailers } if data.is_empty() && trailers.is_empty());
        // Open the stream and hand over as much of a whole body as fits, in one lock.
        let opened = handle.with(|e| -> Result<(StreamId, bool), Error> {
            check_not_closed(e)?;
            let id = e.conn.send_built_request(fields, end)?;
            let mut done = end;
            if let Kind::Full { data, trailers } = &mut kind
                && !end
            {
                let mut first = || -> Result<(), crate::proto::UserError> {
                    if !data.is_empty() {
                        let taken = e.conn.send_data(id, data.clone(), trailers.is_empty())?;
                        data.advance(taken.min(data.len()));
                    }
                    if data.is_empty() {
                        if !trailers.is_empty() {
                            e.conn.send_built_trailers(id, std::mem::take(trailers))?;
                        }
                        done = true;
                    }
                    Ok(())
                };
                if let Err(error) = first() {
                    let _ = e.conn.reset(id, Reason::CANCEL);
                    return Err(error.into());
                }
            }
            e.slots.insert(
                id,
                Slot {
                    recv_open: true,
                    send_open: !done,
                    headers_sent: true,
                    send_done: done,
                    ..Slot::default()
                },
            );
            if let Some(at) = deadline {
                e.set_deadline(id, at);
            }
            Ok((id, done))
        });
        let (id, done) = match opened {
            Ok(opened) => opened,
            Err(error) => return ResponseFuture::failed(error),
        };
        let recv = RecvSide::new(handle.clone(), id);
        if !done {
            let mut side = SendSide::new(handle.clone(), id);
            let task: LocalTask = Box::pin(async move {
                let _ = side.send_body(kind).await;
            });
            let mut shared = handle.lock();
            // A finished driver runs nothing more: the task is dropped below
            // (outside the lock) and its guard resets the stream.
            let task = if shared.finished {
                Some(task)
            } else {
                shared.engine.tasks.push(task);
                None
            };
            let waker = shared.touch();
            drop(shared);
            if let Some(w) = waker {
                w.wake();
            }
            drop(task);
        }
        ResponseFuture {
            recv: Some(recv),
            error: None,
        }
    }

    /// Sends a whole request and collects the whole response (up to
    /// [`ClientConfig::max_response_body`], within the request's
    /// [`Timeout`] or else [`ClientConfig::request_timeout`]). Trailers go
    /// and come back as [`message::Trailers`] in the extensions. A request the
    /// server refused with REFUSED_STREAM (it did no work on it, RFC 9113
    /// §8.7) is sent again, up to [`message::REFUSED_RETRIES`] times, within
    /// the same timeout. Only the server's word counts
    /// ([`Error::is_unprocessed`]): a stream this client reset itself (e.g.
    /// response headers over its limit, refused with REFUSED_STREAM too)
    /// fails with [`Error::LocalReset`] and is never sent again.
    pub async fn send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, Error> {
        let (mut parts, data) = req.into_parts();
        let trailers = parts.extensions.remove::<message::Trailers>();
        let timeout = match parts.extensions.get::<Timeout>() {
            Some(Timeout(t)) => Some(*t),
            None => self.inner.request_timeout,
        };
        let deadline = timeout.and_then(|t| super::driver::now().checked_add(t));
        let mut retries = message::RefusedRetries::new();
        loop {
            if let Some(at) = deadline {
                let left = at.saturating_duration_since(super::driver::now());
                parts.extensions.insert(Timeout(left));
            }
            let mut body = Body::full(data.clone());
            if let Some(t) = &trailers {
                body = body.with_trailers(t.0.clone());
            }
            let req = http::Request::from_parts(parts.clone(), body);
            match self.send_request(req).await {
                Err(e) if retries.retry(e.is_unprocessed()) => {}
                Err(e) => return Err(e),
                Ok(res) => {
                    let (mut parts, mut body) = res.into_parts();
                    let data = body.collect(self.inner.max_response_body).await?;
                    if let Some(t) = body.trailers().await? {
                        parts.extensions.insert(message::Trailers(t));
                    }
                    return Ok(http::Response::from_parts(parts, data));
                }
            }
        }
    }

    /// `GET path`, whole.
    pub async fn get(&self, path: &str) -> Result<http::Response<Bytes>, Error> {
        self.send(http::Request::get(path).body(Bytes::new())?)
            .await
    }

    /// Waits until the connection can take one more request without
    /// queueing ([`can_take_new_request`](Self::can_take_new_request)).
    /// Fails once it never will (GOAWAY received, or the connection ended).
    pub async fn ready(&self) -> Result<(), Error> {
        poll_fn(|cx| {
            let mut shared = self.inner.handle.lock();
            let e = &mut shared.engine;
            if e.conn.can_take_new_request() {
                return Poll::Ready(Ok(()));
            }
            check_not_closed(e)?;
            if e.goaway.is_some() {
                return Poll::Ready(Err(Error::Closed));
            }
            e.ready_wakers.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Whether a request sent now would go out at once: the connection is
    /// open, no GOAWAY either way, stream ids left and a concurrency slot
    /// free (the core's `can_take_new_request`).
    pub fn can_take_new_request(&self) -> bool {
        self.inner
            .handle
            .inspect(|e| e.end.is_none() && e.conn.can_take_new_request())
    }

    /// Whether the connection is finished (closed, failed, or its task gone).
    pub fn is_closed(&self) -> bool {
        let shared = self.inner.handle.lock();
        shared.finished || shared.engine.end.is_some() || shared.engine.conn.is_closed()
    }

    /// The peer's GOAWAY code, if one arrived (no new requests on this
    /// connection then; NO_ERROR is a graceful shutdown).
    pub fn goaway_received(&self) -> Option<Reason> {
        self.inner.handle.inspect(|e| e.goaway.map(|(_, r)| r))
    }

    /// Whether the server's first SETTINGS arrived (a gRPC channel counts
    /// the connection READY from then on).
    #[cfg(feature = "tower")]
    pub(crate) fn peer_settings_received(&self) -> bool {
        self.inner.handle.inspect(|e| e.conn.got_settings)
    }

    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, once said.
    #[cfg(feature = "tower")]
    pub(crate) fn peer_max_concurrent_streams(&self) -> Option<u32> {
        self.inner
            .handle
            .inspect(|e| e.conn.peer_settings().max_concurrent_streams)
    }

    /// Completes once the connection is going or gone (GOAWAY received,
    /// ended), without holding it open.
    #[cfg(feature = "tower")]
    pub(crate) fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        let weak = self.inner.handle.downgrade();
        poll_fn(move |cx| {
            let Some(handle) = weak.upgrade() else {
                return Poll::Ready(());
            };
            let mut shared = handle.lock();
            let done = shared.finished;
            let e = &mut shared.engine;
            if done || e.end.is_some() || e.goaway.is_some() || e.conn.is_closed() {
                return Poll::Ready(());
            }
            // Woken on GOAWAY and at the end (and on other turns: checked again).
            e.ready_wakers.push(cx.waker().clone());
            Poll::Pending
        })
    }

    /// The core's counters, queues and windows.
    pub fn stats(&self) -> ConnectionStats {
        self.inner.handle.inspect(|e| e.conn.stats())
    }

    /// What the application side holds on this connection's behalf,
    /// against [`ClientConfig::memory_budget`].
    pub fn memory(&self) -> BudgetStats {
        self.inner.handle.inspect(|e| e.budget.stats())
    }

    /// Streams alive in the core.
    pub fn live_streams(&self) -> usize {
        self.inner.handle.inspect(|e| e.conn.live_streams())
    }

    /// Streams the adapter still tracks for a handle.
    pub fn tracked_streams(&self) -> usize {
        self.inner.handle.inspect(|e| e.slots.len())
    }

    /// Graceful close: GOAWAY, responses in flight complete, then the
    /// connection closes. Returns when its task has ended.
    pub async fn shutdown(self) {
        self.inner
            .handle
            .with(|e| e.conn.shutdown(crate::io::tokio::driver::now()));
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// [`check_open`] before a new stream: a connection that has ended, cleanly
/// or not, is "not accepting", the error that says the request never left
/// and may go elsewhere ([`Error::is_not_sent`]), as the core's own refusal
/// of a new stream on a closing connection says it. Why it ended is the
/// business of the requests that were on it.
fn check_not_closed(e: &HttpEngine) -> Result<(), Error> {
    match check_open(e) {
        Err(_) => Err(Error::User(crate::proto::UserError::NotAccepting)),
        Ok(()) => Ok(()),
    }
}

/// The response to a request sent with [`Client::send_request`]. Dropping it
/// before it resolves resets the stream with CANCEL.
pub struct ResponseFuture {
    recv: Option<RecvSide>,
    error: Option<Error>,
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("stream", &self.recv.as_ref().map(|r| r.id))
            .finish()
    }
}

impl ResponseFuture {
    fn failed(error: Error) -> Self {
        ResponseFuture {
            recv: None,
            error: Some(error),
        }
    }

    /// The stream the request went on (`None` if it could not be sent).
    pub fn stream_id(&self) -> Option<StreamId> {
        self.recv.as_ref().map(|r| r.id)
    }

    /// After the future failed: the stream's receiving handle as a body
    /// (for the tower face's synthesized gRPC status), if the request went out.
    #[cfg(feature = "tower")]
    pub(crate) fn into_failed_body(mut self) -> Option<RecvBody> {
        self.recv.take().map(RecvBody::new)
    }
}

impl Future for ResponseFuture {
    type Output = Result<http::Response<RecvBody>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(error) = this.error.take() {
            return Poll::Ready(Err(error));
        }
        let Some(recv) = &this.recv else {
            return Poll::Ready(Err(Error::Closed));
        };
        let id = recv.id;
        let head = {
            let mut shared = recv.handle.lock();
            let Some(slot) = shared.engine.slots.get_mut(&id) else {
                return Poll::Ready(Err(Error::Closed));
            };
            match slot.head.take() {
                Some(head) => *head,
                None => {
                    if let Some(end) = &slot.end {
                        return Poll::Ready(Err(end.to_error()));
                    }
                    register(&mut slot.recv_waker, cx.waker());
                    return Poll::Pending;
                }
            }
        };
        let Some(recv) = this.recv.take() else {
            return Poll::Ready(Err(Error::Closed));
        };
        let body = RecvBody::new(recv);
        match message::response_head(head) {
            Ok(head) => Poll::Ready(Ok(head.map(|()| body))),
            // Only a status `http` refuses: the core checked the rest.
            Err(_) => Poll::Ready(Err(Error::LocalReset {
                reason: Reason::PROTOCOL_ERROR,
                why: crate::proto::ResetCause::PeerError,
            })),
        }
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
