//! The blocking server: accept loop, per-connection drivers, handler pool.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::driver::{self, Msg, Outgoing};
use super::tls::Accepted;
use crate::frame::{Reason, StreamId};
use crate::io::ConnectionInfo;
pub use crate::io::ServerStats;
use crate::message;
use crate::proto::{Config, Connection, DEFAULT_MEMORY_BUDGET, Event, MemoryBudget};
use crate::sched::IdMap;

/// How a [`Server`] behaves. Start from [`ServerConfig::default`] and change
/// fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The HTTP/2 settings and limits of each connection (role: server).
    pub h2: Config,
    /// Largest request body collected for a handler; a larger request gets
    /// `413 Payload Too Large` without reaching the handler. Default 16 MiB.
    pub max_request_body: usize,
    /// Threads running handlers, shared by all connections. Default 16.
    pub handler_threads: usize,
    /// Per connection, the most bytes held on the peer's behalf beyond the
    /// core's windows: request bodies whose credit went back before the
    /// handler was done with them, response bytes waiting for the peer.
    /// Over it, a body being collected gets no early credit (the peer
    /// stalls) unless it is the oldest one (so one always finishes).
    /// Default [`DEFAULT_MEMORY_BUDGET`] (1 MiB); see `docs/security.md`.
    pub memory_budget: usize,
    /// Most connections served at once. At the cap the server accepts no
    /// more until one ends (new ones wait in the kernel's backlog), so the
    /// number of connection threads and what they hold stay bounded.
    /// Default 10,000.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            h2: Config::server(),
            max_request_body: 16 * 1024 * 1024,
            handler_threads: 16,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            max_connections: 10_000,
        }
    }
}

/// A blocking HTTP/2 server over cleartext TCP (prior knowledge, h2c).
///
/// Each connection gets its own driver thread; handlers run on a bounded
/// pool of threads, so a slow handler never holds up other streams' I/O.
///
/// Handlers take an `http::Request<Bytes>` (the body collected) and
/// answer an `http::Response<Bytes>`; trailers, if any, ride in the
/// extensions as [`message::Trailers`].
///
/// ```no_run
/// use h2proto::io::blocking::Server;
///
/// Server::bind("127.0.0.1:8080")?.serve(|req: http::Request<bytes::Bytes>| {
///     http::Response::new(format!("you asked for {}\n", req.uri().path()).into())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// In the background, with a graceful stop:
///
/// ```
/// use h2proto::io::blocking::{Client, Server};
///
/// let server = Server::bind("127.0.0.1:0")?.spawn(|_req| http::Response::new("hi".into()))?;
/// let client = Client::connect(server.local_addr())?;
/// let res = client.get("/")?;
/// assert_eq!((res.status().as_u16(), &res.body()[..]), (200, &b"hi"[..]));
/// drop(client);
/// server.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
    tls: super::tls::Acceptor,
}

impl Server {
    /// Binds a listening socket with the default [`ServerConfig`].
    pub fn bind(addr: impl ToSocketAddrs) -> std::io::Result<Server> {
        Self::bind_with(addr, ServerConfig::default())
    }

    /// Binds a listening socket with this configuration.
    pub fn bind_with(addr: impl ToSocketAddrs, config: ServerConfig) -> std::io::Result<Server> {
        Ok(Server {
            listener: TcpListener::bind(addr)?,
            config,
            tls: None,
        })
    }

    /// Serves HTTP/2 over TLS with this rustls configuration (its ALPN list
    /// is made `h2` only: see [`crate::io::tls::h2_server_config`]). Each
    /// connection's handshake runs on its own thread; one that fails, or
    /// negotiates no `h2`, is logged and closed.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> Server {
        self.tls = Some(crate::io::tls::h2_server_config(config));
        self
    }

    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves connections on the calling thread, forever (until accepting
    /// fails). A request's URI is absolute when it has an authority, its
    /// version `HTTP/2.0`; one whose method or URI `http` cannot represent
    /// is answered 400 without calling the handler. A body over
    /// [`ServerConfig::max_request_body`] is answered 413
    /// ([`message::payload_too_large`]), a handler that panics 500; a
    /// response to `HEAD` goes out without its body. Every request carries
    /// its connection's [`ConnectionInfo`] in its extensions.
    pub fn serve<H>(self, handler: H) -> std::io::Result<()>
    where
        H: Fn(http::Request<Bytes>) -> http::Response<Bytes> + Send + Sync + 'static,
    {
        let shared = Shared::new(self.config, self.tls, Arc::new(handler));
        accept_loop(&self.listener, &shared, &AtomicBool::new(false));
        Ok(())
    }

    /// Serves connections on a background thread (as [`serve`](Self::serve)
    /// does); the handle stops it.
    pub fn spawn<H>(self, handler: H) -> std::io::Result<ServerHandle>
    where
        H: Fn(http::Request<Bytes>) -> http::Response<Bytes> + Send + Sync + 'static,
    {
        let addr = self.listener.local_addr()?;
        let shared = Shared::new(self.config, self.tls, Arc::new(handler));
        let stop = Arc::new(AtomicBool::new(false));
        let (listener, shared2, stop2) = (self.listener, shared.clone(), stop.clone());
        let thread = thread::Builder::new()
            .name("h2-accept".into())
            .spawn(move || {
                accept_loop(&listener, &shared2, &stop2);
            })?;
        Ok(ServerHandle {
            addr,
            stop,
            shared,
            thread: Some(thread),
        })
    }
}

/// A server running in the background (see [`Server::spawn`]).
///
/// Dropping the handle leaves the server running; [`shutdown`](Self::shutdown)
/// stops it.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    shared: Shared,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections, and what they hold, right now (as of each connection's
    /// last turn).
    pub fn stats(&self) -> ServerStats {
        let mut stats = ServerStats::default();
        let mut gauges = self.shared.gauges.lock().unwrap_or_else(|e| e.into_inner());
        gauges.retain(|g| g.strong_count() > 0);
        for g in gauges.iter().filter_map(std::sync::Weak::upgrade) {
            let core = *g.core.lock().unwrap_or_else(|e| e.into_inner());
            stats.add_connection(&core, &g.budget.stats());
        }
        stats
    }

    /// Every open connection's queues, windows, counters (as of its last
    /// turn) and memory.
    pub fn connections(&self) -> Vec<crate::io::ConnectionSnapshot> {
        let gauges = self.shared.gauges.lock().unwrap_or_else(|e| e.into_inner());
        gauges
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .map(|g| crate::io::ConnectionSnapshot {
                core: *g.core.lock().unwrap_or_else(|e| e.into_inner()),
                memory: g.budget.stats(),
            })
            .collect()
    }

    /// Graceful stop: no new connections; every connection sends GOAWAY,
    /// finishes the requests it already took and closes. Returns when all
    /// connections are closed.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let conns = match self.shared.conns.lock() {
            Ok(mut conns) => std::mem::take(&mut *conns),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for (tx, _) in &conns {
            let _ = tx.send(Msg::Shutdown);
        }
        for (_, thread) in conns {
            let _ = thread.join();
        }
    }
}

/// One connection's figures, published by its driver each turn.
struct Gauge {
    budget: MemoryBudget,
    core: Mutex<crate::proto::ConnectionStats>,
}

type Handler = Arc<dyn Fn(http::Request<Bytes>) -> http::Response<Bytes> + Send + Sync>;
type Job = Box<dyn FnOnce() + Send>;
type ConnTx = Sender<Msg<Respond>>;
/// Live connections: how to reach each driver and its thread.
type Conns = Arc<super::slots::ConnList<Msg<Respond>>>;

/// What the accept loop and every connection share.
#[derive(Clone)]
struct Shared {
    config: Arc<ServerConfig>,
    tls: super::tls::Acceptor,
    handler: Handler,
    jobs: Sender<Job>,
    conns: Conns,
    gauges: Arc<Mutex<Vec<std::sync::Weak<Gauge>>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn new(config: ServerConfig, tls: super::tls::Acceptor, handler: Handler) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..config.handler_threads.max(1) {
            let rx = rx.clone();
            // A pool thread that failed to start only makes the pool smaller.
            let _ = thread::Builder::new()
                .name(format!("h2-handler-{i}"))
                .spawn(move || worker(&rx));
        }
        Shared {
            config: Arc::new(config),
            tls,
            handler,
            jobs,
            conns: Arc::default(),
            gauges: Arc::default(),
        }
    }
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return, // the server is gone
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Shared, stop: &AtomicBool) {
    let max = shared.config.max_connections;
    super::slots::accept_loop(
        listener,
        stop,
        max,
        &shared.conns,
        "h2-conn",
        |stream, tx, rx| {
            let shared = shared.clone();
            move || serve_connection(stream, shared, tx, rx)
        },
    );
}

fn serve_connection(tcp: TcpStream, shared: Shared, tx: ConnTx, rx: Receiver<Msg<Respond>>) {
    let info = match (tcp.peer_addr(), tcp.local_addr()) {
        (Ok(remote_addr), Ok(local_addr)) => Some(ConnectionInfo {
            remote_addr,
            local_addr,
            tls: shared.tls.is_some(),
        }),
        _ => None,
    };
    let (stream, inadequate) = match super::tls::accept(tcp, &shared.tls) {
        Accepted::Ready(stream) => (stream, false),
        Accepted::Inadequate(stream) => (stream, true),
        Accepted::Refused => return,
    };
    let mut h2 = shared.config.h2.clone();
    let (stream_window, base_conn_window) = crate::io::direct_windows(&mut h2);
    let mut conn = Connection::new(h2, Instant::now());
    if inadequate {
        conn.close(Reason::INADEQUATE_SECURITY);
    }
    let budget = MemoryBudget::new(shared.config.memory_budget);
    let gauge = Arc::new(Gauge {
        budget: budget.clone(),
        core: Mutex::default(),
    });
    shared
        .gauges
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::downgrade(&gauge));
    let mut role = ServerRole {
        stream_window,
        base_conn_window,
        lent_conn_window: crate::proto::flow::DEFAULT_WINDOW,
        settings_acked: false,
        gauge,
        budget,
        collecting: Vec::new(),
        info,
        shared,
        tx: tx.clone(),
        streams: IdMap::default(),
    };
    driver::run(stream, conn, tx, rx, &mut role);
}

/// A handler's answer for a stream, sent back to the connection's driver.
pub(crate) struct Respond(StreamId, http::Response<Bytes>);

/// One request stream as the server sees it.
struct ServerStream {
    /// The request being collected (its head, then its trailers); `None`
    /// once handed to the handler.
    request: Option<(http::Request<()>, Option<http::HeaderMap>)>,
    body: BytesMut,
    /// Body bytes whose credit is still withheld.
    unreleased: usize,
    /// Body bytes whose credit went back early, counted in the budget.
    charged: usize,
    /// Response bytes waiting outside the core, counted in the budget.
    charged_response: usize,
    /// Directed credit: the stream has its full receive window.
    window_opened: bool,
    /// The declared `content-length` (up to the maximum body): the oldest
    /// collection reserves it once instead of growing by doubling.
    expected: Option<usize>,
    /// The request body was too large: 413 sent, the rest is discarded.
    discarding: bool,
    /// The request is complete (END_STREAM received).
    request_done: bool,
    /// The response, once headers went out.
    response: Option<Outgoing>,
    head: bool,
}

struct ServerRole {
    /// Directed credit: the window the oldest collection gets (every other
    /// stream has the small advertised one).
    stream_window: u32,
    /// The configured connection window, and the one in force with what is
    /// lent to collections waiting their turn.
    base_conn_window: u32,
    lent_conn_window: u32,
    /// The peer acknowledged our SETTINGS: the connection window opens.
    settings_acked: bool,
    gauge: Arc<Gauge>,
    budget: MemoryBudget,
    /// Streams collecting a body, oldest first: the oldest always gets
    /// credit to finish.
    collecting: Vec<StreamId>,
    /// Put in every request's extensions.
    info: Option<ConnectionInfo>,
    shared: Shared,
    tx: ConnTx,
    streams: IdMap<ServerStream>,
}

impl driver::Role for ServerRole {
    type Conn = Connection;
    type Cmd = Respond;

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
                let max = self.shared.config.max_request_body;
                let declared = headers
                    .content_length()
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
                let expected = declared.filter(|&n| n <= max);
                // `None`: a head `http` cannot represent, answered 400 below.
                let request = message::request_head(headers).ok();
                let expects_continue = !end_stream
                    && request
                        .as_ref()
                        .is_some_and(|r| message::expects_continue(r.headers()));
                let head = request
                    .as_ref()
                    .is_some_and(|r| !message::sends_body(r.method()));
                let invalid = request.is_none();
                self.streams.insert(
                    stream_id,
                    ServerStream {
                        request: request.map(|r| (r, None)),
                        body: BytesMut::new(),
                        unreleased: 0,
                        charged: 0,
                        charged_response: 0,
                        window_opened: false,
                        expected,
                        discarding: false,
                        request_done: false,
                        response: None,
                        head,
                    },
                );
                if invalid {
                    let mut res = http::Response::new(Bytes::new());
                    *res.status_mut() = http::StatusCode::BAD_REQUEST;
                    self.respond(conn, stream_id, res);
                } else if expects_continue {
                    // RFC 9110 §10.1.1: answer at once, the final response
                    // if the head decides it, else `100 Continue`.
                    if declared.is_some_and(|n| n > max) {
                        self.reject_too_large(conn, stream_id);
                    } else {
                        let _ = conn.send_response(stream_id, message::continue_fields(), false);
                    }
                }
                if end_stream {
                    self.request_end(conn, stream_id);
                }
            }
            Event::Data {
                stream_id,
                data,
                end_stream,
            } => {
                let max = self.shared.config.max_request_body;
                let Some(s) = self.streams.get_mut(&stream_id) else {
                    // Nobody collects it.
                    let _ = conn.release_capacity(stream_id, data.len());
                    return;
                };
                if !s.discarding && s.body.len() + data.len() > max {
                    self.reject_too_large(conn, stream_id);
                }
                let Some(s) = self.streams.get_mut(&stream_id) else {
                    return;
                };
                if s.discarding || s.request.is_none() {
                    // Discarded: out of our hands at once.
                    let _ = conn.release_capacity(stream_id, data.len());
                } else {
                    if !self.collecting.contains(&stream_id) {
                        self.collecting.push(stream_id);
                    }
                    // Copied, so the frame's read buffer is not pinned; the
                    // credit stays with the copy until the handler drops it.
                    s.body.extend_from_slice(&data);
                    s.unreleased += data.len();
                    if !end_stream {
                        self.grant(conn);
                    }
                }
                if end_stream {
                    self.request_end(conn, stream_id);
                }
            }
            Event::Trailers {
                stream_id,
                trailers,
            } => {
                if let Some((_, t)) = self
                    .streams
                    .get_mut(&stream_id)
                    .and_then(|s| s.request.as_mut())
                {
                    *t = Some(message::header_map(trailers.into_fields()));
                }
                self.request_end(conn, stream_id);
            }
            Event::Reset { stream_id, .. } => self.forget(conn, stream_id),
            Event::Writable { stream_id } => self.pump(conn, stream_id),
            Event::SettingsAcked if !self.settings_acked => {
                self.settings_acked = true;
                self.grant(conn);
            }
            Event::Closed { .. } => {
                let ids: Vec<StreamId> = self.streams.keys().copied().collect();
                for id in ids {
                    self.forget(conn, id);
                }
            }
            _ => {}
        }
    }

    fn on_command(&mut self, conn: &mut Connection, Respond(id, res): Respond, _now: Instant) {
        if self.streams.contains_key(&id) {
            self.respond(conn, id, res);
        }
    }

    fn on_finished(&mut self, _io_error: Option<std::io::Error>) {
        for s in self.streams.values() {
            self.budget.uncharge(s.charged + s.charged_response);
        }
        self.streams.clear();
        self.collecting.clear();
    }

    fn on_budget(&mut self, conn: &mut Connection) {
        self.grant(conn);
    }

    fn before_wait(&mut self, conn: &Connection) {
        *self.gauge.core.lock().unwrap_or_else(|e| e.into_inner()) = conn.stats();
    }
}

impl ServerRole {
    /// The request is complete: hand it to a handler thread.
    fn request_end(&mut self, conn: &mut Connection, id: StreamId) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        s.request_done = true;
        let Some((head, trailers)) = s.request.take() else {
            self.forget_if_done(id);
            return;
        };
        let body = std::mem::take(&mut s.body).freeze();
        let (unreleased, charged) = (
            std::mem::take(&mut s.unreleased),
            std::mem::take(&mut s.charged),
        );
        // `hold` counts the charged bytes again, for as long as the body lives.
        self.budget.uncharge(charged);
        let mut request = head.map(|()| self.budget.hold(body, id, unreleased, charged));
        if let Some(t) = trailers {
            request.extensions_mut().insert(message::Trailers(t));
        }
        if let Some(info) = self.info {
            request.extensions_mut().insert(info);
        }
        self.stop_collecting(conn, id);
        let handler = self.shared.handler.clone();
        let tx = self.tx.clone();
        let job: Job = Box::new(move || {
            let res = catch_unwind(AssertUnwindSafe(|| handler(request)))
                .unwrap_or_else(|_| message::internal_error());
            let _ = tx.send(Msg::Cmd(Respond(id, res)));
        });
        if self.shared.jobs.send(job).is_err() {
            let _ = conn.reset(id, Reason::INTERNAL_ERROR);
            self.forget(conn, id);
        }
    }

    fn respond(&mut self, conn: &mut Connection, id: StreamId, res: http::Response<Bytes>) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.response.is_some() {
            return; // already answered (413, 400)
        }
        let (parts, mut body) = res.into_parts();
        let mut fields = message::response_fields(parts.status, &parts.headers);
        message::push_date(&mut fields, crate::io::date::now());
        let mut trailers = message::trailers(&parts.extensions)
            .map(message::trailer_fields)
            .unwrap_or_default();
        if s.head || !message::status_has_content(parts.status) {
            body = Bytes::new();
            trailers.clear();
        }
        let end = body.is_empty() && trailers.is_empty();
        if conn.send_built_response(id, fields, end).is_err() {
            let _ = conn.reset(id, Reason::INTERNAL_ERROR);
            self.forget(conn, id);
            return;
        }
        s.response = Some(if end {
            Outgoing::finished()
        } else {
            Outgoing::new(body, trailers)
        });
        self.pump(conn, id);
    }

    fn pump(&mut self, conn: &mut Connection, id: StreamId) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let Some(out) = s.response.as_mut() else {
            return;
        };
        if !out.is_done() && out.pump(conn, id).is_err() {
            let _ = conn.reset(id, Reason::INTERNAL_ERROR);
            self.forget(conn, id);
            return;
        }
        // What waits for the peer outside the core counts in the budget.
        let waiting = out.waiting();
        self.budget.uncharge(s.charged_response);
        self.budget.charge(waiting);
        let freed = waiting < s.charged_response;
        s.charged_response = waiting;
        self.forget_if_done(id);
        if freed && !self.collecting.is_empty() {
            self.grant(conn);
        }
    }

    fn forget_if_done(&mut self, id: StreamId) {
        if self
            .streams
            .get(&id)
            .is_some_and(|s| s.request_done && s.response.as_ref().is_some_and(Outgoing::is_done))
        {
            self.streams.remove(&id);
        }
    }

    /// Drops a stream's state, giving back what it held.
    fn forget(&mut self, conn: &mut Connection, id: StreamId) {
        let Some(s) = self.streams.remove(&id) else {
            return;
        };
        self.budget.uncharge(s.charged + s.charged_response);
        let _ = conn.release_capacity(id, s.unreleased);
        self.stop_collecting(conn, id);
    }

    /// The request's body is over the limit: 413 without the handler, and
    /// the body, what came and what comes, discarded.
    fn reject_too_large(&mut self, conn: &mut Connection, id: StreamId) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        s.discarding = true;
        s.body = BytesMut::new();
        s.request = None;
        let held = std::mem::take(&mut s.unreleased);
        self.budget.uncharge(std::mem::take(&mut s.charged));
        let _ = conn.release_capacity(id, held);
        self.stop_collecting(conn, id);
        self.respond(conn, id, message::payload_too_large());
    }

    fn stop_collecting(&mut self, conn: &mut Connection, id: StreamId) {
        if let Some(i) = self.collecting.iter().position(|&s| s == id) {
            self.collecting.remove(i);
            if i == 0 {
                self.grant(conn);
            }
        }
    }

    /// Early credit for bodies being collected, so a body larger than the
    /// window keeps coming: within the budget, and always for the oldest.
    /// Early credit (credit for bytes a collection still holds, so a body
    /// larger than its window keeps coming) goes to the oldest collection
    /// only, one at a time, while what the budget counts besides it
    /// (finished bodies handlers hold, responses waiting for the peer)
    /// leaves room; the others wait with their small window, their bytes
    /// parked. Over the budget even the oldest waits: handlers finishing
    /// and the peer reading free it on their own.
    fn grant(&mut self, conn: &mut Connection) {
        let collecting_charged: usize = self
            .collecting
            .iter()
            .filter_map(|id| self.streams.get(id))
            .map(|s| s.charged)
            .sum();
        let room = self.budget.held().saturating_sub(collecting_charged) < self.budget.limit();
        let parked: usize = self
            .collecting
            .iter()
            .skip(1)
            .filter_map(|id| self.streams.get(id))
            .map(|s| s.unreleased)
            .sum();
        if let Some(&id) = self.collecting.first()
            && let Some(s) = self.streams.get_mut(&id)
        {
            if !s.window_opened {
                // Its full window, and room for the whole body at once
                // (one allocation: no doubling copies for the allocator
                // to keep).
                s.window_opened = true;
                conn.set_stream_recv_window(id, self.stream_window);
                if let Some(n) = s.expected {
                    s.body.reserve(n.saturating_sub(s.body.len()));
                }
            }
            if s.unreleased > 0 && room {
                let n = std::mem::take(&mut s.unreleased);
                let _ = conn.release_capacity(id, n);
                self.budget.charge(n);
                s.charged += n;
            }
        }
        // Bytes parked on streams waiting their turn do not use up the
        // oldest one's connection credit.
        let base = if self.settings_acked {
            self.base_conn_window
        } else {
            crate::proto::flow::DEFAULT_WINDOW
        };
        let lent = crate::io::lent_connection_window(base, parked);
        if lent != self.lent_conn_window {
            self.lent_conn_window = lent;
            conn.set_connection_window_size(lent);
        }
    }
}
