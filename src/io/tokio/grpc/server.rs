//! The tokio gRPC server: a router from `:path` to async handlers, the
//! accept loop, graceful shutdown, and the handler's side of a call
//! ([`Context`], [`Requests`], [`Responses`], or all three as a
//! [`ServerCall`]).

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinHandle;

use super::engine::{CallRef, Engine, Item, Next, Started, Starter};
use super::{Config, Error};
use crate::frame::Reason;
use crate::grpc::{self, CallId, CallStats, Code, Encoding, Metadata, ServerSide, Status};
use crate::io::tokio::driver::{Handle, LocalTask};
use crate::proto::{BudgetStats, ConnectionStats};

type ServerEngine = Engine<ServerSide>;
type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
type Handler = Arc<dyn Fn(ServerCall) -> BoxFuture + Send + Sync>;

/// The routes of a server.
#[derive(Default)]
struct Routes {
    by_path: HashMap<String, Handler, BuildHasherDefault<PathHasher>>,
    fallback: Option<Handler>,
}

/// The route table's hash, FNV-1a: a fraction of SipHash's cost on every
/// call. SipHash (std's default) guards a table the peer can insert into;
/// the routes are fixed before serving and a lookup never inserts, so the
/// paths a peer sends cannot crowd the table, whatever they hash to.
#[derive(Default)]
struct PathHasher(u64);

impl Hasher for PathHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0100_0000_01b3;
        let mut h = self.0 ^ OFFSET;
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(PRIME);
        }
        self.0 = h ^ OFFSET;
    }
}

/// A gRPC server being configured: routes, then [`bind`](Server::bind) or
/// [`serve`](Server::serve). Calls to a path without a route (and no
/// [`fallback`](Server::fallback)) end UNIMPLEMENTED.
///
/// A typed handler returns the call's status: `Ok` ends it OK (after the
/// response message of a unary or client-streaming call), `Err(status)`
/// with that status. Trailing metadata goes through
/// [`Context::set_trailers`].
///
/// ```
/// use bytes::Bytes;
/// use h2proto::grpc::{Code, Metadata, Status};
/// use h2proto::io::tokio::grpc::Server;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let server = Server::builder()
///     .unary("/pkg.Svc/Hello", |ctx, request: Bytes| async move {
///         let mut trailers = Metadata::new();
///         trailers.insert("x-len", &request.len().to_string()).ok();
///         ctx.set_trailers(trailers);
///         Ok(Bytes::from_static(b"hello"))
///     })
///     .client_streaming("/pkg.Svc/Sum", |_ctx, mut requests| async move {
///         let mut total = 0usize;
///         while let Some(m) = requests.recv().await.map_err(|e| e.to_status())? {
///             total += m.len();
///         }
///         Ok(Bytes::from(total.to_string()))
///     })
///     .bidi_streaming("/pkg.Svc/Echo", |_ctx, mut requests, mut responses| async move {
///         while let Some(m) = requests.recv().await.map_err(|e| e.to_status())? {
///             responses.send(m).await.map_err(|e| e.to_status())?;
///         }
///         Ok(())
///     })
///     .bind("127.0.0.1:0")
///     .await?;
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct Server {
    routes: Routes,
    config: Config,
    tls: crate::io::tokio::tls::Acceptor,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut paths: Vec<&String> = self.routes.by_path.keys().collect();
        paths.sort();
        f.debug_struct("Server")
            .field("routes", &paths)
            .field("config", &self.config)
            .finish()
    }
}

impl Server {
    /// A server without routes, with [`Config::server`].
    pub fn builder() -> Server {
        Server {
            routes: Routes::default(),
            config: Config::server(),
            tls: None,
        }
    }

    /// Serves gRPC over TLS with this rustls configuration (ALPN made `h2`
    /// only; see [`crate::io::tls`]). A connection whose handshake fails or
    /// negotiates no `h2` is logged and closed.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Server {
        self.tls = Some(crate::io::tls::h2_server_config(config));
        self
    }

    /// Replaces the settings.
    pub fn config(mut self, config: Config) -> Server {
        self.config = config;
        self
    }

    /// Serves `path` with a handler that gets the whole call (the shape of
    /// the blocking adapter's handler). It should end the call with
    /// [`ServerCall::finish`]; a call dropped without it is cancelled.
    pub fn route<F, Fut>(mut self, path: impl Into<String>, handler: F) -> Server
    where
        F: Fn(ServerCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let h: Handler = Arc::new(move |call| Box::pin(handler(call)));
        self.routes.by_path.insert(path.into(), h);
        self
    }

    /// Serves every path without a route (the handler routes on
    /// [`ServerCall::path`]).
    pub fn fallback<F, Fut>(mut self, handler: F) -> Server
    where
        F: Fn(ServerCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.routes.fallback = Some(Arc::new(move |call| Box::pin(handler(call))));
        self
    }

    /// A unary method: one request message, one response message.
    pub fn unary<F, Fut>(self, path: impl Into<String>, handler: F) -> Server
    where
        F: Fn(Context, Bytes) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Bytes, Status>> + Send + 'static,
    {
        self.one_request(path, move |ctx, message, responses| {
            send_reply(responses, handler(ctx, message))
        })
    }

    /// A client-streaming method: request messages, one response message.
    pub fn client_streaming<F, Fut>(self, path: impl Into<String>, handler: F) -> Server
    where
        F: Fn(Context, Requests) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Bytes, Status>> + Send + 'static,
    {
        self.request_stream(path, move |ctx, requests, responses| {
            send_reply(responses, handler(ctx, requests))
        })
    }

    /// A server-streaming method: one request message, response messages
    /// sent through [`Responses`].
    pub fn server_streaming<F, Fut>(self, path: impl Into<String>, handler: F) -> Server
    where
        F: Fn(Context, Bytes, Responses) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        self.one_request(path, move |ctx, message, responses| {
            handler(ctx, message, responses).map(final_status)
        })
    }

    /// A bidi-streaming method: request and response messages, in any order.
    pub fn bidi_streaming<F, Fut>(self, path: impl Into<String>, handler: F) -> Server
    where
        F: Fn(Context, Requests, Responses) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        self.request_stream(path, move |ctx, requests, responses| {
            handler(ctx, requests, responses).map(final_status)
        })
    }

    /// A method that takes the request messages as they come
    /// (client-streaming, bidi): `body` runs with the call taken apart, and
    /// the call ends with the status it gives (see [`end_call`]).
    fn request_stream<F, Fut>(self, path: impl Into<String>, body: F) -> Server
    where
        F: Fn(Context, Requests, Responses) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Status>> + Send + 'static,
    {
        // `body` runs when the route's task first runs (outside the lock),
        // as the handlers it wraps always did.
        self.route(path, move |call: ServerCall| {
            let (ctx, requests, responses) = call.into_parts();
            body(ctx.clone(), requests, responses).map(move |status| end_call(&ctx, status))
        })
    }

    /// A method that takes exactly one request message (unary,
    /// server-streaming): `body` runs with it, and the call ends with the
    /// status it gives (see [`end_call`]). A call that ended before the
    /// message came gets no status; one the client half-closed without a
    /// message ends INTERNAL.
    fn one_request<F, Fut>(self, path: impl Into<String>, body: F) -> Server
    where
        F: Fn(Context, Bytes, Responses) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Status>> + Send + 'static,
    {
        let body = Arc::new(body);
        // Not built on `request_stream`: one state machine less per call (the
        // hot path of a unary server).
        self.route(path, move |call: ServerCall| {
            let body = body.clone();
            async move {
                let (ctx, mut requests, responses) = call.into_parts();
                let status = match requests.one().await {
                    Ok(message) => body(ctx.clone(), message, responses).await,
                    Err(status) => status,
                };
                end_call(&ctx, status);
            }
        })
    }

    /// Binds `addr` and serves in the background.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> std::io::Result<ServerHandle> {
        let listener = TcpListener::bind(addr).await?;
        self.serve(listener)
    }

    /// Serves connections accepted on `listener` in the background (on the
    /// current tokio runtime).
    pub fn serve(self, listener: TcpListener) -> std::io::Result<ServerHandle> {
        let addr = listener.local_addr()?;
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let routes = Arc::new(self.routes);
        let accept = tokio::spawn(accept_loop(
            listener,
            routes,
            self.config.clone(),
            self.tls,
            conns.clone(),
        ));
        Ok(ServerHandle {
            addr,
            conns,
            accept,
            shutdown_wait: self.config.shutdown_wait,
        })
    }
}

/// Sends a single-response handler's answer: the status to end the call
/// with, `None` if the answer could not be sent (the call is dropped
/// without a status: cancelled, unless it already ended).
async fn send_reply(
    mut responses: Responses,
    answer: impl Future<Output = Result<Bytes, Status>>,
) -> Option<Status> {
    match answer.await {
        Ok(message) => responses.send(message).await.ok().map(|()| Status::ok()),
        Err(status) => Some(status),
    }
}

/// Ends the call with `status`; `None`: no status is due (the call already
/// ended, or the answer could not be sent and the dropped call cancels it).
fn end_call(ctx: &Context, status: Option<Status>) {
    if let Some(status) = status {
        ctx.finish(status);
    }
}

/// A streaming handler's outcome as the status to end the call with.
fn final_status(outcome: Result<(), Status>) -> Option<Status> {
    Some(outcome.err().unwrap_or_else(Status::ok))
}

/// One served connection.
struct Conn {
    handle: Handle<ServerEngine>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn accept_loop(
    listener: TcpListener,
    routes: Arc<Routes>,
    config: Config,
    tls: crate::io::tokio::tls::Acceptor,
    conns: Arc<Mutex<Vec<Conn>>>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    loop {
        // At the cap: no accept until a connection ends.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, say: try again a little later
                // rather than spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let endpoint = grpc::Server::new(config.grpc.clone(), crate::io::tokio::driver::now());
        let handle = Handle::new(Engine::new(endpoint));
        let router = Router {
            me: handle.clone(),
            routes: routes.clone(),
            spawn: config.spawn_handlers,
        };
        handle.lock().engine.set_starter(Box::new(router));
        let close = |e: &mut ServerEngine, reason| e.ep.connection_mut().close(reason);
        let serve = crate::io::tokio::tls::serve(stream, tls.clone(), handle.clone(), close);
        // A finished connection leaves the list itself: the list's handle
        // would otherwise keep its endpoint (and what that holds) alive
        // until the next accept.
        let (list_ref, me) = (conns.clone(), handle.clone());
        let task = tokio::spawn(async move {
            let result = serve.await;
            let mut list = list_ref.lock().unwrap_or_else(|e| e.into_inner());
            list.retain(|c| !c.handle.same(&me));
            drop(slot);
            result
        });
        let mut list = conns.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|c| !c.task.is_finished());
        list.push(Conn { handle, task });
    }
}

/// Turns a new call into its handler's task.
struct Router {
    me: Handle<ServerEngine>,
    routes: Arc<Routes>,
    spawn: bool,
}

impl Starter<ServerSide> for Router {
    fn refuse(&mut self, ep: &mut grpc::Server, call: CallId) {
        let _ = ep.unimplemented(call);
    }

    fn start(&mut self, s: Started) -> Option<LocalTask> {
        let handler = self
            .routes
            .by_path
            .get(&s.path)
            .or(self.routes.fallback.as_ref())?
            .clone();
        let call = Arc::new(CallRef {
            handle: self.me.clone(),
            id: s.call,
        });
        let info = Arc::new(Info {
            path: s.path,
            authority: s.authority,
            metadata: s.metadata,
            deadline: s.deadline,
        });
        let call = ServerCall::new(call, info);
        // The handler is called when the task first runs, outside the lock.
        let task: LocalTask = Box::pin(async move { handler(call).await });
        if self.spawn {
            Some(Box::pin(async move {
                tokio::spawn(task);
            }))
        } else {
            Some(task)
        }
    }
}

/// A running server. [`shutdown`](ServerHandle::shutdown) stops it
/// gracefully; dropping it stops accepting and sends GOAWAY on every
/// connection (their calls in progress may still finish).
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<Conn>>>,
    accept: JoinHandle<()>,
    shutdown_wait: Duration,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn").finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Calls in progress on every connection (with handler state in the
    /// adapter or the endpoint).
    pub fn active_calls(&self) -> usize {
        self.each(|e| e.calls.len().max(e.ep.active_calls()))
            .into_iter()
            .sum()
    }

    /// The HTTP/2 statistics of each open connection (queued bytes,
    /// windows, streams).
    pub fn connection_stats(&self) -> Vec<ConnectionStats> {
        self.each(|e| e.ep.connection().stats())
    }

    /// The memory budget of each open connection: what received messages
    /// and queued responses hold outside the HTTP/2 core (see
    /// [`grpc::Config::memory_budget`](crate::grpc::Config::memory_budget)).
    pub fn budget_stats(&self) -> Vec<BudgetStats> {
        self.each(|e| e.ep.budget().stats())
    }

    /// What each call in progress holds, over every open connection
    /// (message in assembly, send queue).
    pub fn call_stats(&self) -> Vec<CallStats> {
        self.each(|e| e.ep.call_stats()).concat()
    }

    fn each<R>(&self, f: impl Fn(&ServerEngine) -> R) -> Vec<R> {
        let list = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        list.iter()
            .filter(|c| !c.task.is_finished())
            .map(|c| c.handle.inspect(&f))
            .collect()
    }

    /// Graceful shutdown: stops accepting, sends GOAWAY on every connection
    /// (two-phase: the calls already sent to us are served), waits for the
    /// calls in progress up to [`Config::shutdown_wait`], then closes what
    /// is left (those calls end UNAVAILABLE).
    pub async fn shutdown(self) {
        self.accept.abort();
        let conns = std::mem::take(&mut *self.conns.lock().unwrap_or_else(|e| e.into_inner()));
        for c in &conns {
            c.handle.with(|e| {
                e.ep.connection_mut()
                    .shutdown(crate::io::tokio::driver::now())
            });
        }
        let until = tokio::time::Instant::now() + self.shutdown_wait;
        for mut c in conns {
            if tokio::time::timeout_at(until, &mut c.task).await.is_ok() {
                continue;
            }
            c.handle
                .with(|e| e.ep.connection_mut().close(Reason::NO_ERROR));
            // A peer that does not read could keep our GOAWAY unwritten.
            if tokio::time::timeout(Duration::from_secs(1), &mut c.task)
                .await
                .is_err()
            {
                c.task.abort();
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.accept.abort();
        let list = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        for c in list.iter() {
            c.handle.with(|e| {
                e.ep.connection_mut()
                    .shutdown(crate::io::tokio::driver::now())
            });
        }
    }
}

/// What the request said.
#[derive(Debug)]
struct Info {
    path: String,
    authority: Option<String>,
    metadata: Metadata,
    deadline: Option<Instant>,
}

/// A call's context on the server: what the request said, response
/// headers and trailers, and its cancellation. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    call: Arc<CallRef<ServerSide>>,
    info: Arc<Info>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("call", &self.call.id)
            .field("info", &self.info)
            .finish()
    }
}

impl Context {
    /// `:path`, `/Service/Method`.
    pub fn path(&self) -> &str {
        &self.info.path
    }

    /// `:authority`, if the client sent one.
    pub fn authority(&self) -> Option<&str> {
        self.info.authority.as_deref()
    }

    /// The request metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.info.metadata
    }

    /// The deadline from `grpc-timeout`.
    pub fn deadline(&self) -> Option<Instant> {
        self.info.deadline
    }

    /// Completes when the call ends without our status: the client
    /// cancelled, the deadline passed (DEADLINE_EXCEEDED, already answered
    /// by the endpoint), or the connection went away. Returns why.
    pub async fn cancelled(&self) -> Status {
        poll_fn(|cx| self.call.poll_ended(cx)).await
    }

    /// Whether the call ended without our status (see
    /// [`cancelled`](Self::cancelled)).
    pub fn is_cancelled(&self) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        self.call.poll_ended(&mut cx).is_ready()
    }

    /// Sends the response headers with `metadata` now (else plain headers
    /// go with the first message or the status).
    pub fn send_headers(&self, metadata: Metadata) -> Result<(), Error> {
        let id = self.call.id;
        self.call.command(|ep, _| ep.send_headers(id, metadata))
    }

    /// Compresses the response messages with `encoding` (before the headers).
    pub fn set_send_encoding(&self, encoding: Encoding) -> Result<(), Error> {
        let id = self.call.id;
        self.call
            .command(|ep, _| ep.set_send_encoding(id, encoding))
    }

    /// Trailing metadata for the status.
    pub fn set_trailers(&self, trailers: Metadata) {
        let _ = self.call.command(|_, st| {
            st.trailers = trailers;
            Ok(())
        });
    }

    /// Ends the call with `status` and the trailers set; a call already
    /// over is left alone.
    fn finish(&self, status: Status) {
        let id = self.call.id;
        let _ = self.call.command(|ep, st| {
            st.finished = true;
            ep.finish(id, status, std::mem::take(&mut st.trailers))
        });
    }
}

/// The request messages of a call.
#[derive(Debug)]
pub struct Requests {
    call: Arc<CallRef<ServerSide>>,
    done: bool,
    last_compressed: bool,
}

impl Requests {
    /// The next request message; `None` once the client half-closed;
    /// [`Error::Ended`] if the call was cancelled or its deadline passed.
    /// The message keeps its flow-control credit until it is dropped (every
    /// clone and slice of it, e.g. an echo's response once written).
    pub async fn recv(&mut self) -> Result<Option<Bytes>, Error> {
        Ok(self.recv_compressed().await?.map(|(m, _)| m))
    }

    /// [`recv`](Self::recv), with whether the message arrived compressed.
    pub async fn recv_compressed(&mut self) -> Result<Option<(Bytes, bool)>, Error> {
        if self.done {
            return Ok(None);
        }
        loop {
            match poll_fn(|cx| self.call.poll_next(cx)).await {
                Next::Item(Item::Message(m, compressed)) => {
                    self.last_compressed = compressed;
                    return Ok(Some((m, compressed)));
                }
                Next::Item(Item::HalfClosed) => {
                    self.done = true;
                    return Ok(None);
                }
                Next::Item(Item::Headers(_)) => {}
                Next::End(status, _) => return Err(Error::Ended(status)),
            }
        }
    }

    /// Whether the last message received arrived compressed.
    pub fn last_compressed(&self) -> bool {
        self.last_compressed
    }

    /// Exactly one message: `Err(None)` if the call ended, `Err(status)` if
    /// the client sent none.
    async fn one(&mut self) -> Result<Bytes, Option<Status>> {
        match self.recv().await {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(Some(Status::new(
                Code::INTERNAL,
                "grpc: the client sent no request message",
            ))),
            Err(_) => Err(None),
        }
    }
}

/// The response side of a call: messages, with back-pressure.
#[derive(Debug)]
pub struct Responses {
    call: Arc<CallRef<ServerSide>>,
}

impl Responses {
    /// Sends a message (compressed if an encoding is set); waits while the
    /// call's send queue is full. [`Error::Ended`] once the call is over.
    pub async fn send(&mut self, message: Bytes) -> Result<(), Error> {
        self.send_with(message, true).await
    }

    /// Sends a message; `compress` asks for the call's encoding.
    pub async fn send_with(&mut self, message: Bytes, compress: bool) -> Result<(), Error> {
        poll_fn(|cx| self.call.poll_send(cx, &message, compress)).await
    }
}

/// One call on the server, whole: what a [`Server::route`] handler gets.
/// Dropping it (and every part of it) before
/// [`finish`](ServerCall::finish) cancels the call.
#[derive(Debug)]
pub struct ServerCall {
    ctx: Context,
    requests: Requests,
    responses: Responses,
}

impl ServerCall {
    fn new(call: Arc<CallRef<ServerSide>>, info: Arc<Info>) -> ServerCall {
        ServerCall {
            ctx: Context {
                call: call.clone(),
                info,
            },
            requests: Requests {
                call: call.clone(),
                done: false,
                last_compressed: false,
            },
            responses: Responses { call },
        }
    }

    /// The call's context (path, metadata, deadline, cancellation).
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The parts, to read and write from different tasks.
    pub fn into_parts(self) -> (Context, Requests, Responses) {
        (self.ctx, self.requests, self.responses)
    }

    /// `:path`, `/Service/Method`.
    pub fn path(&self) -> &str {
        self.ctx.path()
    }

    /// `:authority`, if the client sent one.
    pub fn authority(&self) -> Option<&str> {
        self.ctx.authority()
    }

    /// The request metadata.
    pub fn metadata(&self) -> &Metadata {
        self.ctx.metadata()
    }

    /// The deadline from `grpc-timeout`.
    pub fn deadline(&self) -> Option<Instant> {
        self.ctx.deadline()
    }

    /// The next request message and whether it arrived compressed (see
    /// [`Requests::recv`]).
    pub async fn recv(&mut self) -> Result<Option<(Bytes, bool)>, Error> {
        self.requests.recv_compressed().await
    }

    /// Sends the response headers now.
    pub fn send_headers(&mut self, metadata: Metadata) -> Result<(), Error> {
        self.ctx.send_headers(metadata)
    }

    /// Compresses the response messages with `encoding` (before the headers).
    pub fn set_send_encoding(&mut self, encoding: Encoding) -> Result<(), Error> {
        self.ctx.set_send_encoding(encoding)
    }

    /// Sends a message (see [`Responses::send`]).
    pub async fn send(&mut self, message: Bytes) -> Result<(), Error> {
        self.responses.send(message).await
    }

    /// Sends a message; `compress` asks for the call's encoding.
    pub async fn send_with(&mut self, message: Bytes, compress: bool) -> Result<(), Error> {
        self.responses.send_with(message, compress).await
    }

    /// Waits until the call ends without our status (see
    /// [`Context::cancelled`]).
    pub async fn cancelled(&self) -> Status {
        self.ctx.cancelled().await
    }

    /// Ends the call with a status and trailing metadata (after the
    /// messages sent).
    pub fn finish(self, status: Status, trailers: Metadata) -> Result<(), Error> {
        let id = self.ctx.call.id;
        self.ctx.call.command(|ep, st| {
            st.finished = true;
            ep.finish(id, status, trailers)
        })
    }

    /// Ends the call UNIMPLEMENTED.
    pub fn unimplemented(self) -> Result<(), Error> {
        let status = Status::new(
            Code::UNIMPLEMENTED,
            format!("unknown method {}", self.path()),
        );
        self.finish(status, Metadata::new())
    }
}
