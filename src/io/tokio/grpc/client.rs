//! The tokio gRPC client: one connection, any number of calls of the four
//! kinds, each a [`ClientCall`] or its halves ([`CallSender`],
//! [`Streaming`]) over this module's [`ConnSender`] and [`ConnStreaming`]
//! (a call on one connection, never sent again).

use std::future::{Future, poll_fn};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::io::tokio::tls::Stream;
use tokio::task::JoinHandle;

use super::call::{CallSender, ClientCall, Streaming};
use super::engine::{CallRef, CallState, Engine, Item, Next};
use super::{CallOptions, Config, Error, Response};
use crate::frame::Reason;
use crate::grpc::{self, CallId, CallStats, ClientSide, Code, Metadata, Status};
use crate::io::tokio::driver::{Driver, Handle};
use crate::proto::{BudgetStats, ConnectionStats};

type ClientEngine = Engine<ClientSide>;

/// The connection, shared by the clones of a [`Client`].
#[derive(Debug)]
struct Inner {
    handle: Handle<ClientEngine>,
    task: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
    shutdown_wait: Duration,
    /// True once the driver ended (dropped with the task: also an end).
    ended: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for Handle<ClientEngine> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handle")
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last clone is gone: GOAWAY; calls in progress may finish.
        self.handle.with(|e| {
            e.ep.connection_mut()
                .shutdown(crate::io::tokio::driver::now())
        });
    }
}

/// A gRPC client connection over cleartext TCP (h2c prior knowledge).
/// Clones share the connection; dropping the last one starts a graceful
/// close. See the [module docs](super) for an example.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connects with [`Config::client`]; the connection runs as a task on
    /// the current runtime.
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Client, Error> {
        Client::connect_with(addr, Config::client()).await
    }

    /// Connects with the given settings.
    pub async fn connect_with(addr: impl ToSocketAddrs, config: Config) -> Result<Client, Error> {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        Ok(Client::over(Stream::Plain(stream), config))
    }

    /// Connects over TLS (ALPN `h2`) to `addr`, verifying the server's
    /// certificate for `server_name` (also the SNI). `tls` holds your roots
    /// (and client certificate, if any); its ALPN list is made `h2` only.
    /// Calls go out with `:scheme` `https`; `:authority` is `server_name`
    /// unless `config.grpc.authority` was changed from its default. The
    /// handshake is bounded by [`crate::io::tls::HANDSHAKE_TIMEOUT`]; a
    /// failed one is [`Error::Io`] whose inner
    /// [`TlsError`](crate::io::tls::TlsError) says which check failed.
    #[cfg(feature = "tls")]
    pub async fn connect_tls(
        addr: impl ToSocketAddrs,
        server_name: &str,
        tls: Arc<rustls::ClientConfig>,
        mut config: Config,
    ) -> Result<Client, Error> {
        let tcp = TcpStream::connect(addr).await?;
        let handshake = crate::io::tokio::tls::connect(&tls, server_name, tcp);
        let stream = tokio::time::timeout(crate::io::tls::HANDSHAKE_TIMEOUT, handshake)
            .await
            .map_err(|_| crate::io::tls::TlsError::HandshakeTimeout)
            .and_then(|r| r)
            .map_err(std::io::Error::from)?;
        config.grpc.scheme = "https".to_owned();
        if config.grpc.authority == "localhost" {
            config.grpc.authority = server_name.to_owned();
        }
        Ok(Client::over(stream, config))
    }

    fn over(stream: Stream, config: Config) -> Client {
        let endpoint = grpc::Client::new(config.grpc, crate::io::tokio::driver::now());
        let handle = Handle::new(Engine::new(endpoint));
        let (ended_tx, ended) = tokio::sync::watch::channel(false);
        let driver = Driver::new(stream, handle.clone());
        let task = tokio::spawn(async move {
            let r = driver.await;
            let _ = ended_tx.send(true);
            r
        });
        Client {
            inner: Arc::new(Inner {
                handle,
                task: Mutex::new(Some(task)),
                shutdown_wait: config.shutdown_wait,
                ended,
            }),
        }
    }

    /// Completes once the connection has ended (closed by either side or
    /// lost). The future holds no reference to the connection, so waiting
    /// on it keeps nothing open.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut ended = self.inner.ended.clone();
        async move {
            let _ = ended.wait_for(|e| *e).await;
        }
    }

    /// Completes once the connection is going or gone: GOAWAY received,
    /// closed by either side, or lost (what [`is_closing`](Self::is_closing)
    /// tells). Calls already running may still finish. Holds no reference
    /// to the connection.
    pub fn closing(&self) -> impl Future<Output = ()> + Send + 'static {
        // The driver's end sets it too; a dropped engine ends the wait.
        let mut closing = self.inner.handle.inspect(|e| e.closing.subscribe());
        async move {
            let _ = closing.wait_for(|c| *c).await;
        }
    }

    /// Whether the connection is over or going (no new call can start):
    /// closed, lost, or the server sent GOAWAY.
    pub fn is_closing(&self) -> bool {
        if *self.inner.ended.borrow() {
            return true;
        }
        let shared = self.inner.handle.lock();
        let e = &shared.engine;
        shared.finished || e.goaway || e.closed.is_some() || e.ep.connection().is_closed()
    }

    /// Whether the server's first SETTINGS frame arrived: it speaks HTTP/2
    /// (a channel counts the connection as READY from then on).
    pub fn peer_settings_received(&self) -> bool {
        self.inner
            .handle
            .inspect(|e| e.ep.connection().got_settings)
    }

    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, once its SETTINGS
    /// arrived (`None` before, or when it set no limit).
    pub fn peer_max_concurrent_streams(&self) -> Option<u32> {
        self.inner
            .handle
            .inspect(|e| e.ep.connection().peer_settings().max_concurrent_streams)
    }

    /// Starts a call of any kind on `path` (`/package.Service/Method`):
    /// send with [`ClientCall::send`], end with
    /// [`close_send`](ClientCall::close_send), read with
    /// [`recv`](ClientCall::recv).
    pub fn call(&self, path: &str, options: CallOptions) -> Result<ClientCall, Error> {
        let (tx, rx) = self.start_halves(path, options, None)?;
        Ok(ClientCall::new(CallSender::conn(tx), Streaming::conn(rx)))
    }

    /// A unary call: `message` in, the response (or the status as
    /// [`Error::Ended`]) out.
    pub async fn unary(
        &self,
        path: &str,
        message: Bytes,
        options: CallOptions,
    ) -> Result<Response, Error> {
        let (_, rx) = self.start_halves(path, options, Some(message))?;
        Streaming::conn(rx).response().await
    }

    /// A client-streaming call: send the requests, then
    /// [`ClientCall::response`].
    pub async fn client_streaming(
        &self,
        path: &str,
        options: CallOptions,
    ) -> Result<ClientCall, Error> {
        self.call(path, options)
    }

    /// A server-streaming call: `message` in, a stream of responses out.
    pub async fn server_streaming(
        &self,
        path: &str,
        message: Bytes,
        options: CallOptions,
    ) -> Result<Streaming, Error> {
        let (_, rx) = self.start_halves(path, options, Some(message))?;
        Ok(Streaming::conn(rx))
    }

    /// A bidi-streaming call, as two halves that may live in different
    /// tasks. Dropping both before the end cancels the call.
    pub async fn bidi_streaming(
        &self,
        path: &str,
        options: CallOptions,
    ) -> Result<(CallSender, Streaming), Error> {
        Ok(self.call(path, options)?.split())
    }

    /// Starts a call on this connection; with `unary`, sends it and
    /// half-closes in the same turn.
    pub(crate) fn start_halves(
        &self,
        path: &str,
        options: CallOptions,
        unary: Option<Bytes>,
    ) -> Result<(ConnSender, ConnStreaming), Error> {
        let handle = &self.inner.handle;
        let mut shared = handle.lock();
        if shared.finished {
            return Err(Error::Closed);
        }
        let e = &mut shared.engine;
        let id =
            e.ep.start_call_with(path, options, crate::io::tokio::driver::now())?;
        let mut result = Ok(());
        if let Some(message) = unary {
            // One message always fits an empty queue.
            result =
                e.ep.send_message(id, message)
                    .and_then(|()| e.ep.close_send(id));
            if result.is_err() {
                let _ = e.ep.cancel(id);
            }
        }
        if result.is_ok() {
            e.calls.insert(id, CallState::default());
        }
        let waker = shared.touch();
        drop(shared);
        if let Some(w) = waker {
            w.wake();
        }
        result?;
        let call = Arc::new(CallRef {
            handle: handle.clone(),
            id,
        });
        Ok((ConnSender { call: call.clone() }, ConnStreaming::new(call)))
    }

    /// Calls in progress (with state in the adapter or the endpoint): 0
    /// once every call ended and its handles are gone.
    pub fn active_calls(&self) -> usize {
        self.inner
            .handle
            .inspect(|e| e.calls.len().max(e.ep.active_calls()))
    }

    /// The HTTP/2 statistics of the connection (queued bytes, windows,
    /// streams).
    pub fn connection_stats(&self) -> ConnectionStats {
        self.inner.handle.inspect(|e| e.ep.connection().stats())
    }

    /// The connection's memory budget: what received messages and queued
    /// requests hold outside the HTTP/2 core (see
    /// [`grpc::Config::memory_budget`](crate::grpc::Config::memory_budget)).
    pub fn budget_stats(&self) -> BudgetStats {
        self.inner.handle.inspect(|e| e.ep.budget().stats())
    }

    /// What each call in progress holds (message in assembly, send queue).
    pub fn call_stats(&self) -> Vec<CallStats> {
        self.inner.handle.inspect(|e| e.ep.call_stats())
    }

    /// Sends GOAWAY, lets the calls in progress finish (at most
    /// [`Config::shutdown_wait`], then the connection is closed and they
    /// end UNAVAILABLE) and waits for the connection to end.
    pub async fn shutdown(self) {
        let inner = &self.inner;
        inner.handle.with(|e| {
            e.ep.connection_mut()
                .shutdown(crate::io::tokio::driver::now())
        });
        let task = inner.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut task) = task else { return };
        if tokio::time::timeout(inner.shutdown_wait, &mut task)
            .await
            .is_ok()
        {
            return;
        }
        inner
            .handle
            .with(|e| e.ep.connection_mut().close(Reason::NO_ERROR));
        if tokio::time::timeout(Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// The sending half of a call on this connection.
#[derive(Debug)]
pub(crate) struct ConnSender {
    call: Arc<CallRef<ClientSide>>,
}

impl ConnSender {
    /// Sends a message; `compress` asks for the call's encoding (see
    /// [`CallSender::send`]).
    pub(crate) async fn send_with(&mut self, message: Bytes, compress: bool) -> Result<(), Error> {
        poll_fn(|cx| self.call.poll_send(cx, &message, compress)).await
    }

    /// Half-closes: no more messages from us. A call already over is not an
    /// error (its status says how it ended).
    pub(crate) fn close_send(&mut self) -> Result<(), Error> {
        let id = self.call.id;
        match self.call.command(|ep, _| ep.close_send(id)) {
            Err(Error::Ended(_)) | Err(Error::Call(grpc::CallError::SendClosed)) => Ok(()),
            r => r,
        }
    }

    /// Cancels the call (RST_STREAM CANCEL); its status becomes CANCELLED.
    pub(crate) fn cancel(&self) {
        let id = self.call.id;
        let _ = self.call.command(|ep, st| {
            let r = ep.cancel(id);
            st.end(
                Status::new(Code::CANCELLED, "call cancelled by the client"),
                Metadata::new(),
            );
            r
        });
    }
}

/// The receiving half of a call on this connection: response headers,
/// messages, status and trailers.
#[derive(Debug)]
pub(crate) struct ConnStreaming {
    call: Arc<CallRef<ClientSide>>,
    headers: Option<Metadata>,
    /// A message read while waiting for the headers.
    pending: Option<Bytes>,
    end: Option<(Status, Metadata)>,
    last_compressed: bool,
}

impl ConnStreaming {
    fn new(call: Arc<CallRef<ClientSide>>) -> ConnStreaming {
        ConnStreaming {
            call,
            headers: None,
            pending: None,
            end: None,
            last_compressed: false,
        }
    }

    /// The call's id on its connection.
    pub(crate) fn id(&self) -> CallId {
        self.call.id
    }

    /// The response headers' metadata, waiting for them (`None` when the
    /// call ended without any: a trailers-only response).
    pub(crate) async fn headers(&mut self) -> Result<Option<&Metadata>, Error> {
        while self.headers.is_none() && self.end.is_none() && self.pending.is_none() {
            self.pending = self.next().await;
        }
        Ok(self.headers.as_ref())
    }

    /// The next message, or `None` when the call is over (see
    /// [`status`](Self::status)). The message keeps its flow-control credit
    /// until it is dropped (every clone and slice of it): a caller that
    /// keeps messages stops the server through its windows.
    pub(crate) async fn recv(&mut self) -> Result<Option<Bytes>, Error> {
        if let Some(m) = self.pending.take() {
            return Ok(Some(m));
        }
        Ok(self.next().await)
    }

    /// Whether the last message received arrived compressed.
    pub(crate) fn last_compressed(&self) -> bool {
        self.last_compressed
    }

    /// Waits for the call's end (dropping messages not received yet) and
    /// returns its status.
    pub(crate) async fn status(&mut self) -> Status {
        self.pending = None;
        while self.end.is_none() {
            self.next().await;
        }
        self.end
            .as_ref()
            .map(|e| e.0.clone())
            .unwrap_or_else(Status::ok)
    }

    /// The trailers' metadata, once the call is over.
    pub(crate) fn trailers(&self) -> Option<&Metadata> {
        self.end.as_ref().map(|e| &e.1)
    }

    /// The response headers' and the trailers' metadata, taken out (once
    /// the call is over: for [`Streaming::response`]).
    pub(crate) fn take_metadata(&mut self) -> (Metadata, Metadata) {
        let headers = self.headers.take().unwrap_or_default();
        (headers, self.end.take().map(|e| e.1).unwrap_or_default())
    }

    /// Takes items until a message (`Some`) or the end (`None`).
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.end.is_some() {
                return None;
            }
            match poll_fn(|cx| self.call.poll_next(cx)).await {
                Next::Item(Item::Headers(md)) => self.headers = Some(md),
                Next::Item(Item::Message(m, compressed)) => {
                    self.last_compressed = compressed;
                    return Some(m);
                }
                Next::Item(Item::HalfClosed) => {}
                Next::End(status, trailers) => self.end = Some((status, trailers)),
            }
        }
    }
}
