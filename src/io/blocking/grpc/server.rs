//! The blocking gRPC server: a thread per connection (plus its reader and
//! writer), and handlers on a bounded pool of threads (`pool.rs`). A call's
//! handler starts once the call has something to handle (its first
//! message, its half-close), unless its method is marked server-first.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::client::command;
use super::driver::{self, Cmd};
use super::pool::{HandlerStats, Pool};
use super::{Config, Error, Item, ItemTx};
use crate::grpc::{self, CallId, Code, Encoding, Event, Metadata, Status};
use crate::io::blocking::driver::Msg;

/// How long a send may wait for the driver before its handler counts as
/// waiting on the client (the driver's answer normally takes microseconds).
const SEND_GRACE: Duration = Duration::from_millis(2);

/// A bound listener, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: Config,
    tls: crate::io::blocking::tls::Acceptor,
    /// Methods whose handler starts with the call, before any message.
    server_first: HashSet<String>,
}

impl Server {
    /// Binds `addr` with [`Config::server`].
    pub fn bind(addr: impl ToSocketAddrs) -> std::io::Result<Server> {
        Ok(Server {
            listener: TcpListener::bind(addr)?,
            config: Config::server(),
            tls: None,
            server_first: HashSet::new(),
        })
    }

    /// Starts the handler of `path` (`/Service/Method`) as soon as its call
    /// arrives, before any request message: for a method whose server
    /// speaks first (a bidi stream that opens with a server message).
    /// Other handlers start once their call's first message (or its
    /// half-close) arrived, so a call still waiting for its request holds
    /// no thread; a call that ends before that never reaches its handler.
    pub fn server_first(mut self, path: impl Into<String>) -> Server {
        self.server_first.insert(path.into());
        self
    }

    /// Serves gRPC over TLS with this rustls configuration (ALPN made `h2`
    /// only; see [`crate::io::tls`]). A connection whose handshake fails or
    /// negotiates no `h2` is logged and closed.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> Server {
        self.tls = Some(crate::io::tls::h2_server_config(config));
        self
    }

    /// Replaces the settings.
    pub fn with_config(mut self, config: Config) -> Server {
        self.config = config;
        self
    }

    /// Serves in the background: each call runs `handler` on one of the
    /// server's handler threads ([`Config::handler_threads`] run at once; a
    /// handler waiting on its client lets a queued call run meanwhile).
    /// The handler routes on [`ServerCall::path`] and should end the call
    /// with [`ServerCall::finish`] (a dropped call is cancelled).
    pub fn spawn<H>(self, handler: H) -> std::io::Result<ServerHandle>
    where
        H: Fn(ServerCall) + Send + Sync + 'static,
    {
        let addr = self.listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Conns> = Arc::default();
        let pool = Pool::new(self.config.handler_threads);
        let handlers = Handlers {
            run: Arc::new(handler),
            pool: pool.clone(),
            server_first: Arc::new(self.server_first),
        };
        let (listener, config, tls) = (self.listener, self.config, self.tls);
        let (stop2, conns2) = (stop.clone(), conns.clone());
        let accept = thread::Builder::new()
            .name("grpc-accept".into())
            .spawn(move || {
                let max = config.max_connections;
                crate::io::blocking::slots::accept_loop(
                    &listener,
                    &stop2,
                    max,
                    &conns2,
                    "grpc-conn",
                    |stream, tx, rx| {
                        let (handlers, config, tls) =
                            (handlers.clone(), config.clone(), tls.clone());
                        move || serve_connection(stream, &tls, config, tx, rx, handlers)
                    },
                );
            })?;
        Ok(ServerHandle {
            addr,
            stop,
            conns,
            accept: Some(accept),
            pool,
        })
    }
}

/// The live connections: how to reach each, and its thread.
type Conns = crate::io::blocking::slots::ConnList<Msg<Cmd>>;

/// The application's handler and where it runs.
#[derive(Clone)]
struct Handlers {
    run: Arc<dyn Fn(ServerCall) + Send + Sync>,
    pool: Pool,
    server_first: Arc<HashSet<String>>,
}

fn serve_connection(
    tcp: TcpStream,
    tls: &crate::io::blocking::tls::Acceptor,
    config: Config,
    tx: Sender<Msg<Cmd>>,
    rx: Receiver<Msg<Cmd>>,
    handlers: Handlers,
) {
    use crate::io::blocking::tls::{Accepted, accept};
    let mut ep = grpc::Server::new(config.grpc.clone(), Instant::now());
    let stream = match accept(tcp, tls) {
        Accepted::Ready(stream) => stream,
        Accepted::Inadequate(stream) => {
            ep.connection_mut()
                .close(crate::frame::Reason::INADEQUATE_SECURITY);
            stream
        }
        Accepted::Refused => return,
    };
    let call_tx = tx.clone();
    let max_wait = config.max_wait;
    driver::run(stream, ep, tx, rx, &mut |calls, event| {
        let Event::CallStarted {
            call,
            path,
            authority,
            metadata,
            deadline,
        } = event
        else {
            return;
        };
        let (items_tx, items) = mpsc::channel();
        let server_first = handlers.server_first.contains(&path);
        let sc = ServerCall {
            id: call,
            path,
            authority,
            metadata,
            deadline,
            tx: call_tx.clone(),
            items,
            max_wait,
            pool: handlers.pool.clone(),
            done: false,
            finished: false,
        };
        let (run, pool) = (handlers.run.clone(), handlers.pool.clone());
        let start: Box<dyn FnOnce() + Send> =
            Box::new(move || pool.submit(Box::new(move || run(sc))));
        if server_first {
            calls.insert(call, ItemTx::new(items_tx));
            start();
        } else {
            // Queued state until a message or the half-close arrives.
            calls.insert(call, ItemTx::deferred(items_tx, start));
        }
    });
}

/// A running server. [`shutdown`](ServerHandle::shutdown) stops accepting
/// and sends GOAWAY on every connection.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<Conns>,
    accept: Option<JoinHandle<()>>,
    pool: Pool,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the handler threads are doing: how many live, run, wait on
    /// their client, and how many calls wait for a free thread.
    ///
    /// ```
    /// use h2proto::io::blocking::grpc::Server;
    ///
    /// let server = Server::bind("127.0.0.1:0")?.spawn(|call| drop(call))?;
    /// // No call yet, no handler thread.
    /// assert_eq!(server.handler_stats().threads, 0);
    /// server.shutdown();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handler_stats(&self) -> HandlerStats {
        self.pool.stats()
    }

    /// Stops accepting, sends GOAWAY on every connection, and waits for the
    /// accept loop to end (connections finish their calls on their own).
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        if let Ok(list) = self.conns.lock() {
            for (tx, _) in list.iter() {
                let _ = tx.send(Msg::Shutdown);
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.stop_now();
        }
    }
}

/// One call on a server, handed to the handler.
#[derive(Debug)]
pub struct ServerCall {
    id: CallId,
    path: String,
    authority: Option<String>,
    metadata: Metadata,
    deadline: Option<Instant>,
    tx: Sender<Msg<Cmd>>,
    items: Receiver<Item>,
    max_wait: Duration,
    /// The handler threads: a wait on the client gives this one's place away.
    pool: Pool,
    done: bool,
    finished: bool,
}

impl ServerCall {
    /// `:path`, `/Service/Method`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `:authority`, if the client sent one.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }

    /// The request metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The deadline from `grpc-timeout`.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next request message and whether it arrived compressed; `None`
    /// once the client half-closed; [`Error::Ended`] if the call was
    /// cancelled or its deadline passed.
    pub fn recv(&mut self) -> Result<Option<(Bytes, bool)>, Error> {
        if self.done {
            return Ok(None);
        }
        let bound = match self.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()) + Duration::from_secs(1),
            None => self.max_wait,
        };
        match self.next_item(bound) {
            Ok(Item::Message(m, compressed)) => Ok(Some((m, compressed))),
            Ok(Item::HalfClosed) => {
                self.done = true;
                Ok(None)
            }
            Ok(Item::End(status, _)) => Err(Error::Ended(status)),
            Ok(Item::Headers(_)) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }

    /// The next item, waiting at most `bound`; a wait (nothing arrived
    /// yet) lets a queued call use this handler's place.
    fn next_item(&self, bound: Duration) -> Result<Item, RecvTimeoutError> {
        match self.items.try_recv() {
            Ok(item) => Ok(item),
            Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) => {
                let _waiting = self.pool.waiting();
                self.items.recv_timeout(bound)
            }
        }
    }

    /// Waits until the call is cancelled or its deadline passes, at most
    /// `max`: `true` if it ended.
    pub fn wait_cancelled(&mut self, max: Duration) -> bool {
        let until = Instant::now() + max;
        loop {
            match self.next_item(until.saturating_duration_since(Instant::now())) {
                Ok(Item::End(..)) | Err(RecvTimeoutError::Disconnected) => return true,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// Sends the response headers now (else they go with the first message).
    pub fn send_headers(&mut self, metadata: Metadata) -> Result<(), Error> {
        let id = self.id;
        command(&self.tx, self.max_wait, |r| Cmd::Headers(id, metadata, r))
    }

    /// Compresses the response messages with `encoding` (before headers).
    pub fn set_send_encoding(&mut self, encoding: Encoding) -> Result<(), Error> {
        let id = self.id;
        command(&self.tx, self.max_wait, |r| Cmd::Encoding(id, encoding, r))
    }

    /// Sends a message (compressed if an encoding is set). Waits while the
    /// call's send queue is full.
    pub fn send(&mut self, message: Bytes) -> Result<(), Error> {
        self.send_with(message, true)
    }

    /// Sends a message; `compress` asks for the call's encoding.
    pub fn send_with(&mut self, message: Bytes, compress: bool) -> Result<(), Error> {
        let id = self.id;
        let (reply_tx, reply) = mpsc::sync_channel(1);
        self.tx
            .send(Msg::Cmd(Cmd::Send(id, message, compress, reply_tx)))
            .map_err(|_| Error::Closed)?;
        // The driver answers at once unless the call's queue is full; past
        // a moment, this handler waits on its client's flow control.
        let first = reply.recv_timeout(SEND_GRACE);
        let r = match first {
            Err(RecvTimeoutError::Timeout) => {
                let _waiting = self.pool.waiting();
                reply.recv_timeout(self.max_wait)
            }
            r => r,
        };
        match r {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }

    /// Ends the call with a status and trailing metadata.
    pub fn finish(mut self, status: Status, trailers: Metadata) -> Result<(), Error> {
        let id = self.id;
        self.done = true;
        let r = command(&self.tx, self.max_wait, |r| {
            Cmd::Finish(id, status, trailers, r)
        });
        self.finished = true;
        r
    }

    /// Ends the call UNIMPLEMENTED.
    pub fn unimplemented(self) -> Result<(), Error> {
        let status = Status::new(Code::UNIMPLEMENTED, format!("unknown method {}", self.path));
        self.finish(status, Metadata::new())
    }
}

impl Drop for ServerCall {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.tx.send(Msg::Cmd(Cmd::Cancel(self.id)));
        }
    }
}
