//! A gRPC channel on tokio: the sans-IO [`channel::Channel`]
//! over real connections, with the call API of the tokio gRPC
//! [`Client`].
//!
//! ```
//! use bytes::Bytes;
//! use h2proto::channel::ConnectivityState;
//! use h2proto::io::tokio::channel::{Channel, ChannelConfig};
//! use h2proto::io::tokio::grpc::{CallOptions, Server};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut servers = Vec::new();
//! for name in ["a", "b"] {
//!     let server = Server::builder()
//!         .unary("/echo.Echo/Who", move |_ctx, _m: Bytes| async move { Ok(Bytes::from(name)) })
//!         .bind("127.0.0.1:0")
//!         .await?;
//!     servers.push(server);
//! }
//! let target = format!(
//!     "ipv4:{},{}",
//!     servers[0].local_addr(),
//!     servers[1].local_addr()
//! );
//! let channel = Channel::new(&target, ChannelConfig::round_robin())?;
//! // Both backends in the rotation first (round_robin picks READY ones).
//! channel.connect();
//! let mut states = channel.watch_state();
//! while channel.subchannels().iter().any(|s| s.state != ConnectivityState::Ready) {
//!     let wait = std::time::Duration::from_millis(5);
//!     let _ = tokio::time::timeout(wait, states.changed()).await;
//! }
//! let mut seen = Vec::new();
//! for _ in 0..4 {
//!     let options = CallOptions::new().wait_for_ready(true);
//!     let r = channel.unary("/echo.Echo/Who", Bytes::new(), options).await?;
//!     seen.push(r.message);
//! }
//! seen.sort();
//! assert_eq!(seen, ["a", "a", "b", "b"]);
//! channel.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! Each subchannel's connection is a [`grpc::Client`](super::grpc::Client)
//! (its keepalive and other settings from [`ChannelConfig::grpc`]); a
//! subchannel is READY once the server's SETTINGS arrived, and leaves READY
//! the moment a GOAWAY arrives (calls already on that connection finish
//! there). One background task runs the channel's timers; dials and DNS
//! lookups (`lookup_host`) are tasks of their own.
//!
//! Calls the server did not process (REFUSED_STREAM, above its GOAWAY) are
//! sent again once, on another READY subchannel if there is one. Unary and
//! server-streaming calls resend their one message; client-streaming and
//! bidi calls ([`ClientCall`]) keep what the application sent, within
//! [`channel::Config::replay_per_call`] (1 MiB) and
//! [`channel::Config::replay_per_channel`] (16 MiB), and replay it on the
//! new attempt. The response headers commit a call (what was kept is
//! dropped); so does a message past a cap, after which a refusal ends the
//! call UNAVAILABLE. A call whose connection went away (or received GOAWAY)
//! before it started is picked again whatever its kind.
//!
//! Past a connection's MAX_CONCURRENT_STREAMS calls wait for a slot, or,
//! with [`channel::Config::max_connections_per_backend`] above 1 (gRFC
//! A105), the channel opens more connections to a full backend.
//!
//! With feature `tower`, [`Channel::new_http`] builds a channel over the
//! tokio HTTP [`Client`](super::Client) that is a
//! `tower_service::Service<http::Request<B>>`, for tonic generated clients
//! (see its `Service` implementation). The two kinds do not mix: a channel
//! dials one kind of connection. As the `Service::call` and the gRPC
//! [`Channel::call`] share a name, call the trait's as `Service::call(&mut ch, req)`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

use super::driver::now;
use super::grpc::{
    CallOptions, CallSender, Client, ClientCall, Config, ConnSender, ConnStreaming, Error,
    Response, Streaming,
};
use crate::channel::{
    self, ChannelCallId, ConnId, ConnectivityState, Disposition, Event, Outcome, RetryPolicy,
    SeededJitter, SubchannelView, Target, TargetError,
};
use crate::frame::Reason;
use crate::grpc::{CallError, Code, Status};
use crate::proto::{Initiator, UserError};
use crate::sched::IdKeyMap;

mod handles;
mod link;
mod tasks;
use tasks::{dial, lookup, run_timers};
#[cfg(feature = "tower")]
mod tower;
pub(crate) use handles::{ChannelSender, ChannelStreaming};
use link::{Kind, Link};
#[cfg(feature = "tower")]
pub use tower::{ChannelFuture, WaitForReady};

/// Settings of a tokio [`Channel`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChannelConfig {
    /// The load-balancing policy: `pick_first` (default) or `round_robin`.
    pub lb_policy: String,
    /// The sans-IO channel's settings (backoff, idleness, re-resolution).
    pub channel: channel::Config,
    /// Each subchannel connection's settings (keepalive, windows, limits).
    pub grpc: Config,
    /// The connections' settings of a channel built for tower calls
    /// ([`Channel::new_http`]). Default: the client's defaults without a
    /// request timeout (gRPC deadlines bound calls; streams may be long).
    #[cfg(feature = "tower")]
    pub http: super::ClientConfig,
    /// gRFC A6 retry policies of unary calls, by method
    /// (`/pkg.Service/Method`) or service (`/pkg.Service/`). Empty by
    /// default: no retries beyond the transparent ones.
    pub retry_policies: HashMap<String, RetryPolicy>,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            lb_policy: "pick_first".to_owned(),
            channel: channel::Config::default(),
            grpc: Config::client(),
            #[cfg(feature = "tower")]
            http: super::ClientConfig {
                request_timeout: None,
                ..super::ClientConfig::default()
            },
            retry_policies: HashMap::new(),
        }
    }
}

impl ChannelConfig {
    /// Defaults with `round_robin`.
    pub fn round_robin() -> Self {
        ChannelConfig {
            lb_policy: "round_robin".to_owned(),
            ..ChannelConfig::default()
        }
    }
}

/// Why a [`Channel`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The target string.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// No such load-balancing policy.
    #[error("unknown load-balancing policy {0:?}")]
    UnknownPolicy(String),
}

enum Conn {
    Dialing(JoinHandle<()>),
    Up(Link),
}

enum Picked {
    Go(Link),
    Fail(Status),
}

struct Core {
    ch: channel::Channel,
    conns: IdKeyMap<ConnId, Conn>,
    waiters: IdKeyMap<ChannelCallId, oneshot::Sender<Picked>>,
}

struct Shared {
    core: Mutex<Core>,
    /// Wakes the timer task: something changed.
    wake: Notify,
    state: watch::Sender<ConnectivityState>,
    grpc: Config,
    #[cfg(feature = "tower")]
    http: super::ClientConfig,
    /// What the subchannels dial.
    kind: Kind,
    /// The target's name (`dns:`, passthrough), as tower calls' `:authority`.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    authority: Option<String>,
    retry: HashMap<String, RetryPolicy>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the channel, then does what it asked and wakes the
    /// timer task (the next timeout may have moved).
    fn with<R>(self: &Arc<Self>, f: impl FnOnce(&mut Core, Instant) -> R) -> R {
        let r = self.quiet(f);
        self.wake.notify_one();
        r
    }

    /// [`with`](Self::with) without waking the timer task: the task's own.
    fn quiet<R>(self: &Arc<Self>, f: impl FnOnce(&mut Core, Instant) -> R) -> R {
        let mut core = self.lock();
        let r = f(&mut core, now());
        self.pump(&mut core);
        r
    }

    /// Handles the channel's events (under the lock: nothing is lost
    /// between a decision and its effect).
    fn pump(self: &Arc<Self>, core: &mut Core) {
        while let Some(ev) = core.ch.poll_event() {
            match ev {
                Event::Connect { conn, address, .. } => {
                    let task = tokio::spawn(dial(Arc::downgrade(self), conn, address));
                    core.conns.insert(conn, Conn::Dialing(task));
                }
                Event::Disconnect { conn } => {
                    // Dropping our clone of an Up connection sends GOAWAY
                    // once the calls on it let go; a dial is abandoned.
                    if let Some(Conn::Dialing(task)) = core.conns.remove(&conn) {
                        task.abort();
                    }
                }
                Event::Resolve { host, port } => {
                    tokio::spawn(lookup(Arc::downgrade(self), host, port));
                }
                Event::Pick { call, conn, .. } => {
                    let client = match core.conns.get(&conn) {
                        Some(Conn::Up(c)) if !c.is_closing() => c.clone(),
                        _ => {
                            core.ch.disconnected(conn, now());
                            core.ch.call_finished(call, Outcome::NotSent, now());
                            continue;
                        }
                    };
                    if let Some(limit) = client.max_concurrent_streams() {
                        core.ch.set_stream_limit(conn, limit, now());
                    }
                    let taken = core
                        .waiters
                        .remove(&call)
                        .is_some_and(|w| w.send(Picked::Go(client)).is_ok());
                    if !taken {
                        core.ch.call_finished(call, Outcome::Done, now());
                    }
                }
                Event::Fail { call, status } => {
                    if let Some(w) = core.waiters.remove(&call) {
                        let _ = w.send(Picked::Fail(status));
                    }
                }
                Event::StateChanged(s) => {
                    self.state.send_replace(s);
                }
                _ => {}
            }
        }
    }
}

struct Inner {
    shared: Arc<Shared>,
    timers: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.with(|core, now| core.ch.shutdown(now));
        self.shared.lock().conns.clear();
        self.timers.abort();
    }
}

/// A gRPC channel: calls spread over the backends of a target by a
/// load-balancing policy, reconnecting with backoff. Cheap to clone (clones
/// share everything); dropping the last clone shuts it down. See the
/// [module docs](self) for an example.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("state", &self.state())
            .finish()
    }
}

impl Channel {
    /// A channel to `target` (`dns:///host:port`, `ipv4:a:p,b:p`,
    /// `ipv6:...`, or `host:port`), IDLE until the first call or
    /// [`connect`](Self::connect). Must be called within a tokio runtime.
    pub fn new(target: &str, config: ChannelConfig) -> Result<Channel, ChannelError> {
        Channel::build(target, config, Kind::Grpc)
    }

    fn build(target: &str, config: ChannelConfig, kind: Kind) -> Result<Channel, ChannelError> {
        let target = Target::parse(target)?;
        let policy = channel::policy::by_name(&config.lb_policy)
            .ok_or_else(|| ChannelError::UnknownPolicy(config.lb_policy.clone()))?;
        let mut grpc = config.grpc;
        let authority = match &target {
            Target::Dns { host, port } => Some(format!("{host}:{port}")),
            Target::Passthrough(a) => Some(a.0.clone()),
            _ => None,
        };
        if let Some(a) = &authority {
            grpc.grpc.authority = a.clone();
        }
        let mut ch = channel::Channel::new(target.resolver(), policy, config.channel, now());
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        ch.set_jitter(Box::new(SeededJitter::new(seed)));
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                ch,
                conns: IdKeyMap::default(),
                waiters: IdKeyMap::default(),
            }),
            wake: Notify::new(),
            state: watch::channel(ConnectivityState::Idle).0,
            grpc,
            #[cfg(feature = "tower")]
            http: config.http,
            kind,
            authority,
            retry: config.retry_policies,
        });
        let timers = tokio::spawn(run_timers(Arc::downgrade(&shared)));
        Ok(Channel {
            inner: Arc::new(Inner { shared, timers }),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// The retry policy of `path` (`/service/method`): its own, else its
    /// service's (`/service/`).
    fn retry_policy(&self, path: &str) -> Option<RetryPolicy> {
        let p = &self.shared().retry;
        p.get(path).copied().or_else(|| {
            let service = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            p.get(service).copied()
        })
    }

    /// The channel's connectivity state.
    pub fn state(&self) -> ConnectivityState {
        *self.shared().state.borrow()
    }

    /// Leaves IDLE and connects as the policy wants, without a call.
    pub fn connect(&self) {
        self.shared().with(|core, now| core.ch.connect(now));
    }

    /// Waits until the state is no longer `from`, at most `timeout`; true
    /// if it changed (grpc-go's `WaitForStateChange`).
    pub async fn wait_for_state_change(&self, from: ConnectivityState, timeout: Duration) -> bool {
        let mut rx = self.shared().state.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s != from))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// A receiver of the channel's state, updated on every change.
    pub fn watch_state(&self) -> watch::Receiver<ConnectivityState> {
        self.shared().state.subscribe()
    }

    /// The subchannels and their states.
    pub fn subchannels(&self) -> Vec<SubchannelView> {
        self.shared().lock().ch.subchannels()
    }

    /// The load-balancing policy's name.
    pub fn lb_policy(&self) -> &'static str {
        self.shared().lock().ch.policy_name()
    }

    /// Closes every connection (calls in progress may finish) and fails
    /// waiting calls; later calls fail UNAVAILABLE.
    pub fn shutdown(&self) {
        self.shared().with(|core, now| core.ch.shutdown(now));
        self.shared().lock().conns.clear();
    }

    /// Waits for a subchannel for a new call (its pick), or its failure.
    async fn pick(
        &self,
        options: &CallOptions,
        start: Instant,
        retry: Option<RetryPolicy>,
    ) -> Result<Guard, Error> {
        let mut ch_opts = channel::PickOptions::default().wait_for_ready(options.wait_for_ready);
        if let Some(t) = options.timeout {
            ch_opts = ch_opts.deadline(start + t);
        }
        if let Some(p) = retry {
            ch_opts = ch_opts.retry(p);
        }
        let (tx, rx) = oneshot::channel();
        let id = self.shared().with(|core, now| {
            let id = core.ch.start_call(ch_opts, now);
            // `with` hands out the events after this: the pick (or
            // failure) finds the waiter.
            core.waiters.insert(id, tx);
            id
        });
        self.wait(id, rx).await
    }

    async fn wait(&self, id: ChannelCallId, rx: oneshot::Receiver<Picked>) -> Result<Guard, Error> {
        wait(self.shared(), id, rx).await
    }

    /// The call ended with `result`: done, or sent again (a new guard).
    async fn after(&self, guard: Guard, outcome: Outcome) -> Option<Result<Guard, Error>> {
        after(self.shared(), guard, outcome).await
    }

    /// A unary call: `message` in, the response (or the status as
    /// [`Error::Ended`]) out. Sent again once if the server did not
    /// process it, and as [`ChannelConfig::retry_policies`] says after a
    /// failure.
    pub async fn unary(
        &self,
        path: &str,
        message: Bytes,
        options: CallOptions,
    ) -> Result<Response, Error> {
        let start = now();
        let retry = self.retry_policy(path);
        let mut guard = self.pick(&options, start, retry).await?;
        loop {
            let Some(client) = guard.grpc() else {
                return Err(wrong_kind());
            };
            let result = client
                .unary(path, message.clone(), remaining(&options, start))
                .await;
            let outcome = match (classify(result.as_ref().err()), &result) {
                // A status (not a lost connection: the client has no
                // headers-received flag to tell a committed call apart).
                (Outcome::Done, Err(Error::Ended(s)))
                    if retry.is_some() && s.reset_reason().is_none() =>
                {
                    Outcome::Failed(s.code())
                }
                (o, _) => o,
            };
            match self.after(guard, outcome).await {
                None => return result,
                Some(next) => guard = next?,
            }
        }
    }

    /// A server-streaming call: `message` in, a stream of responses out.
    /// Sent again once if the server did not process it (before any
    /// response arrived).
    pub async fn server_streaming(
        &self,
        path: &str,
        message: Bytes,
        options: CallOptions,
    ) -> Result<Streaming, Error> {
        let start = now();
        let mut guard = self.pick(&options, start, None).await?;
        loop {
            let Some(client) = guard.grpc() else {
                return Err(wrong_kind());
            };
            let result =
                client.start_halves(path, remaining(&options, start), Some(message.clone()));
            let mut rx = match result {
                Ok((_, rx)) => rx,
                Err(e) => match self.after(guard, classify(Some(&e))).await {
                    None => return Err(e),
                    Some(next) => {
                        guard = next?;
                        continue;
                    }
                },
            };
            // Wait for the first item: a refusal comes before any.
            let has_headers = matches!(rx.headers().await, Ok(Some(_)));
            let refused =
                !has_headers && rx.trailers().is_some() && is_unprocessed(&rx.status().await);
            if !refused {
                return Ok(handles::settled(self.shared().clone(), guard, rx));
            }
            match self.after(guard, Outcome::Unprocessed).await {
                None => {
                    return Ok(handles::settled(
                        self.shared().clone(),
                        Guard::none(self),
                        rx,
                    ));
                }
                Some(next) => guard = next?,
            }
        }
    }

    /// Starts a call of any kind on `path`: send, half-close, read (see
    /// [`ClientCall`]). Waits for a subchannel first; sent again with its
    /// messages if refused (see the [module docs](self)).
    pub async fn call(&self, path: &str, options: CallOptions) -> Result<ClientCall, Error> {
        let start = now();
        let guard = self.pick(&options, start, None).await?;
        let (guard, call) = start_on(self.shared(), guard, path, &options, start).await?;
        Ok(handles::new_call(
            self.shared().clone(),
            guard,
            call,
            path,
            options,
            start,
        ))
    }

    /// A client-streaming call: send the requests, then
    /// [`ClientCall::response`].
    pub async fn client_streaming(
        &self,
        path: &str,
        options: CallOptions,
    ) -> Result<ClientCall, Error> {
        self.call(path, options).await
    }

    /// A bidi-streaming call, as two halves.
    pub async fn bidi_streaming(
        &self,
        path: &str,
        options: CallOptions,
    ) -> Result<(CallSender, Streaming), Error> {
        Ok(self.call(path, options).await?.split())
    }
}

/// Waits for the pick of call `id`.
async fn wait(
    shared: &Arc<Shared>,
    id: ChannelCallId,
    rx: oneshot::Receiver<Picked>,
) -> Result<Guard, Error> {
    let mut guard = Guard {
        shared: shared.clone(),
        id,
        client: None,
    };
    match rx.await {
        Ok(Picked::Go(client)) => {
            guard.client = Some(client);
            Ok(guard)
        }
        Ok(Picked::Fail(status)) => {
            guard.id = ChannelCallId(0);
            Err(Error::Ended(status))
        }
        Err(_) => Err(Error::Closed),
    }
}

/// The call ended with `outcome`: done (`None`), or sent again (a new guard
/// once picked).
async fn after(
    shared: &Arc<Shared>,
    mut guard: Guard,
    outcome: Outcome,
) -> Option<Result<Guard, Error>> {
    let id = guard.id;
    guard.id = ChannelCallId(0);
    let (tx, rx) = oneshot::channel();
    let d = shared.with(|core, now| {
        core.waiters.insert(id, tx);
        let d = core.ch.call_finished(id, outcome, now);
        if d == Disposition::Done {
            core.waiters.remove(&id);
        }
        d
    });
    match d {
        Disposition::Done => None,
        Disposition::Retry => Some(wait(shared, id, rx).await),
    }
}

/// Starts `path` on the guard's connection; a call that could not start
/// there (its connection went away) is picked again as the channel says.
async fn start_on(
    shared: &Arc<Shared>,
    mut guard: Guard,
    path: &str,
    options: &CallOptions,
    start: Instant,
) -> Result<(Guard, (ConnSender, ConnStreaming)), Error> {
    loop {
        let Some(client) = guard.grpc() else {
            return Err(wrong_kind());
        };
        match client.start_halves(path, remaining(options, start), None) {
            Ok(call) => return Ok((guard, call)),
            Err(e) => match after(shared, guard, classify(Some(&e))).await {
                None => return Err(e),
                Some(next) => guard = next?,
            },
        }
    }
}

/// The options for the rest of a call that started at `start`.
fn remaining(options: &CallOptions, start: Instant) -> CallOptions {
    let mut o = options.clone();
    if let Some(t) = o.timeout {
        let left = t.saturating_sub(now().saturating_duration_since(start));
        o.timeout = Some(left.max(Duration::from_millis(1)));
    }
    o
}

/// The server did not process it: its REFUSED_STREAM, or a stream above
/// its GOAWAY.
fn is_unprocessed(status: &Status) -> bool {
    status.reset_reason() == Some(Reason::REFUSED_STREAM)
        && status.reset_initiator() == Some(Initiator::Remote)
}

/// What a call's error says for the channel.
fn classify(error: Option<&Error>) -> Outcome {
    match error {
        None => Outcome::Done,
        Some(Error::Ended(s)) if is_unprocessed(s) => Outcome::Unprocessed,
        // Our own reset because the connection is shutting down: never sent.
        Some(Error::Ended(s))
            if s.reset_initiator() == Some(Initiator::Local) && s.code() == Code::UNAVAILABLE =>
        {
            Outcome::NotSent
        }
        // From starting the call: the connection was already gone, or a
        // GOAWAY arrived between the pick and the start. (A connection
        // already closing is not handed out at all: see `pump`.)
        Some(Error::Closed)
        | Some(Error::Call(CallError::Http2(
            UserError::NotAccepting | UserError::StreamIdsExhausted,
        ))) => Outcome::NotSent,
        // Anything else may have reached the server: a call in flight when
        // its connection died is not sent again.
        Some(_) => Outcome::Done,
    }
}

/// A call's place in the channel: while it lives, the call counts
/// (against idleness and the subchannel's stream limit).
struct Guard {
    shared: Arc<Shared>,
    id: ChannelCallId,
    client: Option<Link>,
}

impl Guard {
    /// The picked connection's gRPC client.
    fn grpc(&self) -> Option<Client> {
        self.client.as_ref().and_then(|l| l.grpc()).cloned()
    }
}

/// A gRPC call on a channel built for tower calls.
fn wrong_kind() -> Error {
    Error::Ended(Status::new(
        Code::FAILED_PRECONDITION,
        "this Channel dials HTTP connections for tower calls (Channel::new_http): \
         use Channel::new for the gRPC call API",
    ))
}

impl Guard {
    fn none(ch: &Channel) -> Guard {
        Guard {
            shared: ch.shared().clone(),
            id: ChannelCallId(0),
            client: None,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.id == ChannelCallId(0) {
            return;
        }
        let id = self.id;
        let picked = self.client.is_some();
        self.shared.with(|core, now| {
            core.waiters.remove(&id);
            if picked {
                core.ch.call_finished(id, Outcome::Done, now);
            } else {
                core.ch.cancel_call(id, now);
            }
        });
    }
}
