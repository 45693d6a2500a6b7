//! The gRPC channel, sans-IO: calls spread over N subchannels (one gRPC
//! connection each) by a load-balancing policy, with connectivity states,
//! reconnect backoff, name resolution, idleness and transparent retry.
//!
//! Like the rest of the core, [`Channel`] does no I/O and reads no clock:
//! it asks its caller to dial an address ([`Event::Connect`]), is told how
//! that went ([`Channel::connected`], [`Channel::connect_failed`],
//! [`Channel::disconnected`]), says which subchannel each call goes to
//! ([`Event::Pick`]) and is driven by `now` ([`Channel::poll_timeout`],
//! [`Channel::handle_timeout`]). It keeps no message: a caller that wants
//! streaming calls retried after they sent keeps their messages and asks
//! the channel first ([`Channel::keep_for_replay`]), which counts them
//! against a per-call and a per-channel cap. The tokio adapter
//! (`io::tokio::channel`, feature `tokio`) runs it over real connections.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use h2proto::channel::{
//!     PickOptions, Channel, Config, ConnectivityState, Disposition, Event, Outcome, Target, policy,
//! };
//!
//! let now = Instant::now();
//! let target = Target::parse("ipv4:10.0.0.1:50051,10.0.0.2:50051")?;
//! let rr = policy::by_name("round_robin").unwrap();
//! let mut ch = Channel::new(target.resolver(), rr, Config::default(), now);
//! assert_eq!(ch.state(), ConnectivityState::Idle);
//!
//! // A call wakes the channel up: it asks for both connections.
//! let call = ch.start_call(PickOptions::default(), now);
//! let mut dials = Vec::new();
//! while let Some(ev) = ch.poll_event() {
//!     if let Event::Connect { conn, address, .. } = ev {
//!         dials.push((conn, address));
//!     }
//! }
//! assert_eq!(dials.len(), 2);
//! assert_eq!(ch.state(), ConnectivityState::Connecting);
//!
//! // The first dial fails, the second connects: the call goes there.
//! ch.connect_failed(dials[0].0, "connection refused", now);
//! ch.connected(dials[1].0, now);
//! let picked = std::iter::from_fn(|| ch.poll_event()).find_map(|ev| match ev {
//!     Event::Pick { call: c, conn, .. } if c == call => Some(conn),
//!     _ => None,
//! });
//! assert_eq!(picked, Some(dials[1].0));
//! assert_eq!(ch.state(), ConnectivityState::Ready);
//! assert_eq!(ch.call_finished(call, Outcome::Done, now), Disposition::Done);
//!
//! // The failed address retries after its backoff: 1 s, no jitter on the first step.
//! assert_eq!(ch.poll_timeout(), Some(now + Duration::from_secs(1)));
//! # Ok::<(), h2proto::channel::TargetError>(())
//! ```

mod backoff;
mod machine;
pub mod policy;
mod replay;
mod resolver;
mod retry;

use std::fmt;
use std::time::{Duration, Instant};

pub use backoff::{ConnectParams, FixedJitter, Jitter, SeededJitter};
pub use machine::Channel;
pub use policy::{LbAction, LbPolicy, PickFirst, RoundRobin, SubchannelView};
pub use replay::{DEFAULT_REPLAY_PER_CALL, DEFAULT_REPLAY_PER_CHANNEL};
pub use resolver::{
    Address, DEFAULT_PORT, DnsResolver, Resolution, Resolver, StaticResolver, Target, TargetError,
};
pub use retry::{CodeSet, RetryPolicy};

use crate::grpc::Status;

/// gRPC's connectivity states (`doc/connectivity-semantics-and-api.md`),
/// of a subchannel and of the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectivityState {
    /// No connection and none being made; a call (or
    /// [`Channel::connect`]) starts one.
    Idle,
    /// A connection is being made.
    Connecting,
    /// A connection is up: calls can go.
    Ready,
    /// The last attempt failed; the next one waits for its backoff.
    TransientFailure,
    /// Shut down for good.
    Shutdown,
}

impl fmt::Display for ConnectivityState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectivityState::Idle => "IDLE",
            ConnectivityState::Connecting => "CONNECTING",
            ConnectivityState::Ready => "READY",
            ConnectivityState::TransientFailure => "TRANSIENT_FAILURE",
            ConnectivityState::Shutdown => "SHUTDOWN",
        })
    }
}

/// The channel's state from its subchannels' by gRPC's rule: READY if any
/// is READY, else CONNECTING if any is, else IDLE if any is, else
/// TRANSIENT_FAILURE (also with no subchannel at all). SHUTDOWN ones do
/// not count.
///
/// ```
/// use h2proto::channel::{aggregate, ConnectivityState::*};
/// assert_eq!(aggregate([TransientFailure, Connecting, Ready]), Ready);
/// assert_eq!(aggregate([TransientFailure, Idle, Connecting]), Connecting);
/// assert_eq!(aggregate([TransientFailure, Idle]), Idle);
/// assert_eq!(aggregate([TransientFailure, Shutdown]), TransientFailure);
/// assert_eq!(aggregate([]), TransientFailure);
/// ```
pub fn aggregate(states: impl IntoIterator<Item = ConnectivityState>) -> ConnectivityState {
    use ConnectivityState::*;
    let (mut connecting, mut idle) = (false, false);
    for s in states {
        match s {
            Ready => return Ready,
            Connecting => connecting = true,
            Idle => idle = true,
            TransientFailure | Shutdown => {}
        }
    }
    if connecting {
        Connecting
    } else if idle {
        Idle
    } else {
        TransientFailure
    }
}

/// A subchannel: one backend address and its successive connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubchannelId(pub u64);

/// One connection attempt of a subchannel, named in [`Event::Connect`];
/// what the caller reports about it names it too, so a report about an
/// attempt the channel gave up on is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A call on the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelCallId(pub u64);

/// How a call waits for a connection, and whether it is retried: what the
/// channel needs of a call's [`crate::grpc::CallOptions`] (whose timeout
/// becomes the `deadline` here) to pick a subchannel for it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct PickOptions {
    /// Wait for a READY subchannel even while the channel is
    /// TRANSIENT_FAILURE (until the deadline). Off: the call fails
    /// UNAVAILABLE as soon as the channel is TRANSIENT_FAILURE (it still
    /// waits while the channel is IDLE or CONNECTING, as in gRPC).
    pub wait_for_ready: bool,
    /// The call's deadline: a call still waiting for a subchannel then
    /// fails DEADLINE_EXCEEDED.
    pub deadline: Option<Instant>,
    /// gRFC A6 retries after [`Outcome::Failed`] (default none).
    pub retry: Option<RetryPolicy>,
}

impl PickOptions {
    /// Sets `wait_for_ready`.
    pub fn wait_for_ready(mut self, on: bool) -> Self {
        self.wait_for_ready = on;
        self
    }

    /// Sets the deadline.
    pub fn deadline(mut self, at: Instant) -> Self {
        self.deadline = Some(at);
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }
}

/// How a call picked by the channel ended, as the caller saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It ended (any status) in a way that says nothing about whether the
    /// server processed it: the status goes to the application.
    Done,
    /// The server provably did not process it: REFUSED_STREAM from the
    /// peer, or a stream above the last stream id of its GOAWAY. It is
    /// sent again once (transparent retry), on another subchannel if one
    /// is READY, unless it is committed ([`Channel::commit`]; messages that
    /// did not fit the replay buffer, [`Channel::keep_for_replay`]).
    Unprocessed,
    /// It never left this side (the connection was gone or draining when
    /// the caller tried to start it). Picked again, a few times.
    NotSent,
    /// It ended with this status before the server committed to a
    /// response (no response headers or message yet): sent again if the
    /// call's [`RetryPolicy`] says so (after its backoff), else done.
    Failed(crate::grpc::Code),
}

/// What the channel decided about a call that ended ([`Channel::call_finished`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Give the application the call's status.
    Done,
    /// The channel sends it again: an [`Event::Pick`] (or, if no
    /// subchannel turns up, an [`Event::Fail`]) follows for the same call.
    Retry,
}

/// What the channel asks of its caller, from [`Channel::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Dial `address` for `subchannel`; report with `conn`.
    Connect {
        /// The subchannel.
        subchannel: SubchannelId,
        /// The attempt (and, once up, the connection).
        conn: ConnId,
        /// What to dial.
        address: Address,
    },
    /// Close this connection or abandon this attempt (gracefully: calls
    /// already on it may finish).
    Disconnect {
        /// The connection.
        conn: ConnId,
    },
    /// Look this name up and hand the addresses to
    /// [`Channel::update_addresses`] (or [`Channel::resolve_failed`]).
    Resolve {
        /// The name.
        host: String,
        /// The port of every address.
        port: u16,
    },
    /// Start `call` on this connection.
    Pick {
        /// The call.
        call: ChannelCallId,
        /// The subchannel.
        subchannel: SubchannelId,
        /// Its connection.
        conn: ConnId,
    },
    /// The call fails with this status without being sent (UNAVAILABLE,
    /// DEADLINE_EXCEEDED, or CANCELLED at shutdown).
    Fail {
        /// The call.
        call: ChannelCallId,
        /// Its status.
        status: Status,
    },
    /// The channel's state changed.
    StateChanged(ConnectivityState),
    /// A subchannel's state changed.
    SubchannelState {
        /// The subchannel.
        subchannel: SubchannelId,
        /// Its address.
        address: Address,
        /// Its new state.
        state: ConnectivityState,
    },
}

/// The channel's settings.
///
/// ```
/// use std::time::Duration;
/// use h2proto::channel::Config;
/// let mut c = Config::default();
/// c.idle_timeout = Some(Duration::from_secs(60));
/// assert_eq!(c.resolve_interval, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Reconnect backoff.
    pub connect: ConnectParams,
    /// With no call for this long, the channel drops its connections and
    /// goes IDLE; the next call reconnects. Default 30 min; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// How often a dynamic target (`dns:`) is resolved again. Default 30 s.
    pub resolve_interval: Duration,
    /// The shortest time between two resolutions that a subchannel's
    /// failure asks for. Default 1 s.
    pub min_resolve_interval: Duration,
    /// How many times a call the server did not process is sent again.
    /// Default 1.
    pub transparent_retries: u32,
    /// How many times a call that could not be started (its connection
    /// went away first) is picked again. Default 3.
    pub not_sent_retries: u32,
    /// The most one call keeps of its sent messages for a transparent
    /// retry ([`Channel::keep_for_replay`]); past it the call is committed.
    /// Default [`DEFAULT_REPLAY_PER_CALL`] (1 MiB).
    pub replay_per_call: usize,
    /// The most all calls keep together for transparent retries. Default
    /// [`DEFAULT_REPLAY_PER_CHANNEL`] (16 MiB).
    pub replay_per_channel: usize,
    /// gRFC A105: how many connections a READY backend may have. Default 1:
    /// calls past a connection's MAX_CONCURRENT_STREAMS wait for a slot.
    /// Above 1, when every READY connection is full and a call waits, one
    /// more connection to a full backend is dialed ([`Event::Connect`] for
    /// the same subchannel, a new [`ConnId`]), one at a time, up to this
    /// many per backend; they close with the backend's first connection.
    pub max_connections_per_backend: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            connect: ConnectParams::default(),
            idle_timeout: Some(Duration::from_secs(30 * 60)),
            resolve_interval: Duration::from_secs(30),
            min_resolve_interval: Duration::from_secs(1),
            transparent_retries: 1,
            not_sent_retries: 3,
            replay_per_call: DEFAULT_REPLAY_PER_CALL,
            replay_per_channel: DEFAULT_REPLAY_PER_CHANNEL,
            max_connections_per_backend: 1,
        }
    }
}
