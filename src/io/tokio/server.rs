//! The tokio HTTP/2 server: accept loop, one driver task per connection,
//! handlers run on the connection's task (or spawned), graceful shutdown.

pub use crate::io::{ConnectionInfo, ServerStats};
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use bytes::Buf;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use super::body::{Body, Kind, SendSide};
use super::driver::Handle;
use super::engine::{HttpEngine, NewRequest, OnRequest, ServerCtx};
use super::recv_body::{RecvBody, RecvSide};
use crate::frame::{Reason, StreamId};
use crate::io::Error;
use crate::message;
use crate::proto::{Config, Connection, DEFAULT_MEMORY_BUDGET, Role};

/// How a [`Server`] behaves. Start from [`ServerConfig::default`] and change
/// fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The HTTP/2 settings and limits of each connection (role: server).
    pub h2: Config,
    /// Run each handler as its own `tokio::spawn`ed task instead of on its
    /// connection's task. Handlers on the connection's task cost no spawn and
    /// no cross-thread wake-up (fastest), but share that task with the
    /// connection's I/O: turn this on for handlers that compute for long
    /// between `.await`s. Default `false`.
    pub spawn_handlers: bool,
    /// Per connection, the most bytes the adapter and the handlers may hold
    /// on the peer's behalf beyond the core's own windows: bodies being
    /// collected, response bytes waiting for the peer. Over it, received
    /// data gets no early credit (the peer stalls) and new requests are
    /// refused with REFUSED_STREAM (safe to retry). Default
    /// [`DEFAULT_MEMORY_BUDGET`] (1 MiB); see `docs/security.md`.
    pub memory_budget: usize,
    /// Put the connection's [`ConnectionInfo`] (the client's address,
    /// ours, TLS or not) in every request's extensions. Off by default: it
    /// costs a few allocations per request, and most servers never look.
    pub connection_info: bool,
    /// Most connections served at once. At the cap the server accepts no
    /// more until one ends (new ones wait in the kernel's backlog), so what
    /// all connections hold together stays bounded. Default 10,000.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            h2: Config::server(),
            spawn_handlers: false,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            connection_info: false,
            max_connections: 10_000,
        }
    }
}

/// A handler's request made whole: its body collected up to `limit` bytes
/// ([`RecvBody::collect`]: [`Error::BodyTooLarge`] past it), its trailers,
/// if any, in the extensions as [`message::Trailers`] (what the blocking
/// server hands its handlers).
///
/// ```
/// use h2proto::io::tokio::{Body, RecvBody, collect_request};
/// async fn handler(req: http::Request<RecvBody>) -> http::Response<Body> {
///     match collect_request(req, 1 << 20).await {
///         Ok(req) => http::Response::new(Body::from(req.into_body())),
///         Err(_) => http::Response::new(Body::empty()),
///     }
/// }
/// ```
pub async fn collect_request(
    req: http::Request<RecvBody>,
    limit: usize,
) -> Result<http::Request<bytes::Bytes>, Error> {
    let (mut parts, mut body) = req.into_parts();
    let data = body.collect(limit).await?;
    if let Some(t) = body.trailers().await? {
        parts.extensions.insert(message::Trailers(t));
    }
    Ok(http::Request::from_parts(parts, data))
}

/// An HTTP/2 server over cleartext TCP (prior knowledge, h2c) on tokio.
///
/// Handlers take an `http::Request<RecvBody>` (the body arrives as it
/// comes) and answer an `http::Response<Body>`:
///
/// ```
/// use h2proto::io::tokio::{Body, Client, Server};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::bind("127.0.0.1:0").await?.serve(|req: http::Request<_>| async move {
///     let body = req.into_body().collect(1 << 20).await.unwrap_or_default();
///     http::Response::new(Body::from(body))
/// });
/// let client = Client::connect(server.local_addr()).await?;
/// let res = client.send(http::Request::post("/echo").body("hi".into())?).await?;
/// assert_eq!(&res.body()[..], b"hi");
/// server.shutdown(std::time::Duration::from_secs(1)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
    tls: super::tls::Acceptor,
}

impl Server {
    /// Binds a listening socket with the default [`ServerConfig`].
    pub async fn bind(addr: impl ToSocketAddrs) -> std::io::Result<Server> {
        Self::bind_with(addr, ServerConfig::default()).await
    }

    /// Binds a listening socket with this configuration.
    pub async fn bind_with(
        addr: impl ToSocketAddrs,
        config: ServerConfig,
    ) -> std::io::Result<Server> {
        Ok(Server::from_listener(
            TcpListener::bind(addr).await?,
            config,
        ))
    }

    /// Serves on a listener the caller made (socket activation, a socket
    /// shared by several runtimes: one per core, say).
    pub fn from_listener(listener: TcpListener, config: ServerConfig) -> Server {
        Server {
            listener,
            config,
            tls: None,
        }
    }

    /// Serves HTTP/2 over TLS with this rustls configuration (its ALPN list
    /// is made `h2` only: see [`crate::io::tls::h2_server_config`]). Each
    /// connection's handshake runs on its own task; one that fails, or
    /// negotiates no `h2`, is logged and closed.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, config: std::sync::Arc<rustls::ServerConfig>) -> Server {
        self.tls = Some(crate::io::tls::h2_server_config(config));
        self
    }

    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts serving in the background (on the current tokio runtime):
    /// each request runs `handler`. The request's URI is absolute when it
    /// has an authority (`:scheme`, `:authority` or else the `host` field,
    /// `:path`), its version `HTTP/2.0`; one whose method or URI `http`
    /// cannot represent is answered 400 without calling the handler. A
    /// response to `HEAD` goes out without its body. When the stream ends
    /// before the handler has answered (the client reset it, the connection
    /// closed), the handler's future is dropped, as hyper drops a service's:
    /// work that must finish regardless belongs in a spawned task. A body
    /// still being sent is dropped the same way when its stream ends.
    /// Dropping the returned handle leaves the server running;
    /// [`ServerHandle::shutdown`] stops it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn serve<H, F>(self, handler: H) -> ServerHandle
    where
        H: Fn(http::Request<RecvBody>) -> F + Send + Sync + 'static,
        F: Future<Output = http::Response<Body>> + Send + 'static,
    {
        self.serve_cloned(Arc::new(handler), |handler| {
            let handler = handler.clone();
            move |req| handler(req)
        })
    }

    /// Serves with `shared` cloned once per connection; `for_request` makes
    /// one request's handler from the connection's copy. `serve` shares one
    /// `Arc`'d handler; `serve_service` gives each connection its own clone
    /// of the service, so the service needs `Send` but not `Sync` (as under
    /// hyper and tonic's transport).
    pub(crate) fn serve_cloned<C, P, R, F>(self, shared: C, for_request: P) -> ServerHandle
    where
        C: Clone + Send + 'static,
        P: Fn(&C) -> R + Clone + Send + 'static,
        R: FnOnce(http::Request<RecvBody>) -> F + Send + 'static,
        F: Future<Output = http::Response<Body>> + Send + 'static,
    {
        let make_on_request = move || -> OnRequest {
            let (copy, for_request) = (shared.clone(), for_request.clone());
            Box::new(move |handle, id, request| {
                Box::pin(run_handler(handle, id, request, for_request(&copy)))
            })
        };
        let addr = self
            .listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let state = Arc::new(State::default());
        let task = tokio::spawn(accept_loop(
            self.listener,
            Arc::new(self.config),
            self.tls,
            make_on_request,
            state.clone(),
        ));
        ServerHandle { addr, state, task }
    }
}

/// Runs one request: the handler (a panic answers 500), then its response.
///
/// The request is made (and its body attached) before the returned future
/// exists, and only the request is kept for the handler: the future is
/// boxed for every request, and one over 1 KiB costs malloc much more.
fn run_handler<F, Fut>(
    handle: Handle<HttpEngine>,
    id: StreamId,
    request: NewRequest,
    handler: F,
) -> impl Future<Output = ()>
where
    F: FnOnce(http::Request<RecvBody>) -> Fut,
    Fut: Future<Output = http::Response<Body>>,
{
    // The future keeps `side` (the handle and the id with it) and nothing
    // else of the arguments.
    let mut body = RecvBody::new(RecvSide::new(handle.clone(), id));
    let mut side = SendSide::new(handle, id);
    body.set_expected(request.content_length.and_then(|n| usize::try_from(n).ok()));
    // `http` cannot represent it (`Err`): the handler never sees it, and
    // the body is dropped here.
    let req = request.head.map(|head| head.map(|()| body));
    async move {
        let sends_body = req
            .as_ref()
            .map_or(true, |req| message::sends_body(req.method()));
        let res = match req {
            Ok(req) => {
                let mut fut = pin!(handler(req));
                // While the handler works, the stream's end (the client
                // reset it, the connection closed) drops it, as hyper drops
                // a service's future: nobody is left to answer.
                let handled =
                    poll_fn(
                        |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                            Ok(Poll::Ready(res)) => Poll::Ready(Handled::Answer(res)),
                            Ok(Poll::Pending) => side.poll_ended(cx).map(|_| Handled::StreamEnded),
                            Err(_) => Poll::Ready(Handled::Panicked),
                        },
                    )
                    .await;
                match handled {
                    Handled::Answer(res) => res,
                    Handled::StreamEnded => return,
                    Handled::Panicked => {
                        let id = side.id;
                        side.handle.with(|e| e.handler_panicked(id));
                        return;
                    }
                }
            }
            Err(_) => {
                let mut res = http::Response::new(Body::empty());
                *res.status_mut() = http::StatusCode::BAD_REQUEST;
                res
            }
        };
        if let Some(kind) = respond(&mut side, res, sends_body) {
            // An error means the stream ended early; dropping `side` cleans up.
            let _ = side.send_body(kind).await;
        }
    }
}

/// How a handler's run ended.
enum Handled<R> {
    /// It answered.
    Answer(R),
    /// Its stream ended first: the handler was dropped.
    StreamEnded,
    /// It panicked: a 500.
    Panicked,
}

/// Queues a handler's response on stream `id`: its headers, and its body
/// when it is whole and fits the send buffer. Returns the body still to
/// send, if any.
fn respond(side: &mut SendSide, res: http::Response<Body>, sends_body: bool) -> Option<Kind> {
    let (handle, id) = (&side.handle, side.id);
    let (parts, body) = res.into_parts();
    let mut fields = message::response_fields(parts.status, &parts.headers);
    message::push_date(&mut fields, crate::io::date::now());
    let mut kind = if sends_body && message::status_has_content(parts.status) {
        body.into_kind()
    } else {
        Body::empty().into_kind()
    };
    let end =
        matches!(&kind, Kind::Full { data, trailers } if data.is_empty() && trailers.is_empty());
    // Headers, and a whole body when it fits the send buffer, in one lock:
    // the common small response is done here.
    let sent = handle.with(|e| {
        let slot = e.slots.get_mut(&id).filter(|s| s.end.is_none())?;
        if std::mem::take(&mut slot.expect_continue) && slot.recv_open && !slot.recv_end && !end {
            // The response goes first but the handler kept the request body
            // (an echo): the client waiting for `100 Continue` gets it, or it
            // would wait before sending what the response streams back.
            let _ = e.conn.send_response(id, message::continue_fields(), false);
        }
        slot.headers_sent = true;
        slot.send_done = end;
        if e.conn.send_built_response(id, fields, end).is_err() {
            // The handler's headers were malformed: nothing was sent.
            e.reset_stream(id, Reason::INTERNAL_ERROR);
            return None;
        }
        let (mut done, mut finished) = (end, end);
        if let Kind::Full { data, trailers } = &mut kind
            && !end
        {
            let ends = trailers.is_empty();
            let taken = match data.is_empty() {
                true => Ok(0),
                false => e.conn.send_data(id, data.clone(), ends),
            };
            if let Ok(taken) = taken {
                data.advance(taken.min(data.len()));
            }
            if taken.is_ok() && data.is_empty() {
                // Trailers (a gRPC status) go in the same lock; if they are
                // refused, the stream is reset as `side`'s drop would.
                let sent = ends
                    || e.conn
                        .send_built_trailers(id, std::mem::take(trailers))
                        .is_ok();
                if let Some(slot) = e.slots.get_mut(&id) {
                    slot.send_done = sent;
                }
                (done, finished) = (true, sent);
            }
        }
        if done {
            // What `side`'s drop would do, in this same lock.
            e.drop_send(id, finished);
        }
        Some(done)
    });
    match sent {
        None => None,
        Some(true) => {
            side.forget();
            None
        }
        Some(false) => Some(kind),
    }
}

/// What the accept loop shares with the [`ServerHandle`].
#[derive(Default)]
struct State {
    stop: Notify,
    grace: Mutex<Duration>,
    conns: Mutex<HashMap<u64, Handle<HttpEngine>>>,
}

impl State {
    fn handles(&self) -> Vec<Handle<HttpEngine>> {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.values().cloned().collect()
    }
}

/// A running [`Server`]: its address, statistics and graceful shutdown.
pub struct ServerHandle {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections, streams and queued bytes right now.
    pub fn stats(&self) -> ServerStats {
        let mut stats = ServerStats::default();
        for h in self.state.handles() {
            h.inspect(|e| {
                stats.add_connection(&e.conn.stats(), &e.budget.stats());
                stats.live_streams += e.conn.live_streams();
                stats.tracked_streams += e.slots.len();
            });
        }
        stats
    }

    /// Every open connection's queues, windows, counters and memory.
    pub fn connections(&self) -> Vec<crate::io::ConnectionSnapshot> {
        self.state
            .handles()
            .iter()
            .map(|h| {
                h.inspect(|e| crate::io::ConnectionSnapshot {
                    core: e.conn.stats(),
                    memory: e.budget.stats(),
                })
            })
            .collect()
    }

    /// Graceful shutdown: stops accepting (new connections are refused),
    /// sends every connection the two-phase GOAWAY (so new streams are
    /// refused and streams in flight go on), waits for the connections to
    /// finish up to `grace`, then closes those still open. Returns when
    /// every connection is gone.
    pub async fn shutdown(self, grace: Duration) {
        *self.state.grace.lock().unwrap_or_else(|e| e.into_inner()) = grace;
        self.state.stop.notify_one();
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    tls: super::tls::Acceptor,
    mut make_on_request: impl FnMut() -> OnRequest,
    state: Arc<State>,
) {
    let mut conns = JoinSet::new();
    let mut next_id = 0u64;
    let mut stop = pin!(state.stop.notified());
    let max = config.max_connections.max(1);
    loop {
        let accepted = poll_fn(|cx| {
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            // At the cap: no accept until a connection ends.
            while conns.len() >= max {
                if conns.poll_join_next(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            listener.poll_accept(cx).map(Some)
        })
        .await;
        match accepted {
            None => break,
            Some(Ok((stream, remote_addr))) => {
                next_id += 1;
                let info = match (config.connection_info, stream.local_addr()) {
                    (true, Ok(local_addr)) => Some(ConnectionInfo {
                        remote_addr,
                        local_addr,
                        tls: tls.is_some(),
                    }),
                    _ => None,
                };
                let handle = start(&config, make_on_request(), info);
                let mut conns_map = state.conns.lock().unwrap_or_else(|e| e.into_inner());
                conns_map.insert(next_id, handle.clone());
                drop(conns_map);
                let (state, id, tls) = (state.clone(), next_id, tls.clone());
                conns.spawn(async move {
                    let close = |e: &mut HttpEngine, reason| e.conn.close(reason);
                    let _ = super::tls::serve(stream, tls, handle, close).await;
                    let mut conns = state.conns.lock().unwrap_or_else(|e| e.into_inner());
                    conns.remove(&id);
                });
            }
            // Out of descriptors, or a connection that failed before we got
            // it: keep serving, after a pause so a persistent error does not spin.
            Some(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let grace = *state.grace.lock().unwrap_or_else(|e| e.into_inner());
    let now = super::driver::now();
    for h in state.handles() {
        h.with(|e| e.conn.shutdown(now));
    }
    if tokio::time::timeout(grace, drain(&mut conns))
        .await
        .is_err()
    {
        for h in state.handles() {
            h.with(|e| e.conn.close(Reason::NO_ERROR));
        }
        // A peer that does not read could keep the last GOAWAY from going out.
        if tokio::time::timeout(Duration::from_secs(1), drain(&mut conns))
            .await
            .is_err()
        {
            conns.abort_all();
            drain(&mut conns).await;
        }
    }
}

fn start(
    config: &ServerConfig,
    on_request: OnRequest,
    info: Option<ConnectionInfo>,
) -> Handle<HttpEngine> {
    let mut h2 = config.h2.clone();
    h2.role = Role::Server;
    let windows = crate::io::direct_windows(&mut h2);
    let conn = Connection::new(h2, crate::io::tokio::driver::now());
    let ctx = ServerCtx {
        on_request,
        spawn: config.spawn_handlers,
        me: None,
        heads: crate::message::HeadCache::new(),
        info,
    };
    let engine = HttpEngine::server(conn, ctx)
        .with_budget(config.memory_budget)
        .with_directed_windows(windows);
    let handle = Handle::new(engine);
    let weak = handle.downgrade();
    handle.lock().engine.set_me(weak);
    handle
}

async fn drain(conns: &mut JoinSet<()>) {
    while conns.join_next().await.is_some() {}
}
