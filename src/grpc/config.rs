//! gRPC endpoint configuration.

use super::codec::{DEFAULT_MAX_RECV_MESSAGE_SIZE, DEFAULT_MAX_SEND_MESSAGE_SIZE};
use super::keepalive::{EnforcementPolicy, KeepaliveConfig};
use crate::proto;

/// Everything a [`Client`](super::Client) or [`Server`](super::Server) is
/// configured with. Start from [`Config::client`] or [`Config::server`]:
///
/// ```
/// use std::time::Duration;
/// use h2proto::grpc::Config;
/// let mut config = Config::client();
/// config.authority = "localhost:50051".into();
/// config.keepalive.time = Some(Duration::from_secs(30));
/// config.max_recv_message_size = 16 << 20;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The HTTP/2 connection's configuration (its role decides the side).
    /// Its window sizes are the starting point of the BDP estimator.
    pub http2: proto::Config,
    /// Largest message accepted (after decompression); over it the call ends
    /// RESOURCE_EXHAUSTED. Default 4 MiB.
    pub max_recv_message_size: usize,
    /// Largest message `send_message` takes (after compression). Default
    /// `i32::MAX` (grpc-go's).
    pub max_send_message_size: usize,
    /// Message bytes a call may queue beyond the HTTP/2 send buffer before
    /// `send_message` answers [`Busy`](super::CallError::Busy). One message is
    /// always taken when the queue is empty. Default 64 KiB.
    pub max_send_queue: usize,
    /// The cap on message bytes this connection holds outside the HTTP/2
    /// core's own queues ([`proto::MemoryBudget`]): bytes of messages in
    /// assembly whose credit went back early, received messages holding
    /// such bytes, and messages accepted by `send_message` that wait for
    /// the HTTP/2 send buffer. Over it, early credit stops (the peer
    /// stalls on its windows; the oldest message in assembly still finishes
    /// once what waits on the application and the peer is under the cap)
    /// and `send_message` answers [`Busy`](super::CallError::Busy) unless
    /// the call's queue is empty. Default [`proto::DEFAULT_MEMORY_BUDGET`]
    /// (1 MiB); see `docs/security.md`.
    pub memory_budget: usize,
    /// Keepalive PINGs (grpc-go defaults: off on a client, 2 h on a server).
    pub keepalive: KeepaliveConfig,
    /// Server: the client-PING policy (default: 5 min, none without calls).
    pub enforcement: EnforcementPolicy,
    /// Dynamic receive windows (grpc-go's BDP estimator). Default on; set
    /// off by [`fixed_windows`](Config::fixed_windows).
    pub bdp: bool,
    /// Client: `:authority`. Default `localhost`.
    pub authority: String,
    /// Client: `:scheme`. Default `http`.
    pub scheme: String,
    /// Client: `user-agent`. Default `h2proto-grpc/<version>`.
    pub user_agent: String,
    /// Client: `content-type`. Default `application/grpc` (a server accepts
    /// any `application/grpc` or `application/grpc+<subtype>`).
    pub content_type: String,
}

impl Config {
    /// Client defaults.
    pub fn client() -> Config {
        Config {
            http2: proto::Config::client(),
            keepalive: KeepaliveConfig::client(),
            ..Config::server()
        }
    }

    /// Server defaults. Idle connections stay (`http2.idle_timeout` is
    /// `None`): gRPC clients keep a channel's connection open between calls,
    /// and grpc-go's `MaxConnectionIdle` is infinite by default; set it to
    /// close them. grpc-go's `MaxConnectionAge` and its grace are
    /// `http2.max_connection_age` and `http2.max_connection_age_grace`.
    pub fn server() -> Config {
        Config {
            http2: proto::Config {
                idle_timeout: None,
                ..proto::Config::server()
            },
            max_recv_message_size: DEFAULT_MAX_RECV_MESSAGE_SIZE,
            max_send_message_size: DEFAULT_MAX_SEND_MESSAGE_SIZE,
            max_send_queue: 64 * 1024,
            memory_budget: proto::DEFAULT_MEMORY_BUDGET,
            keepalive: KeepaliveConfig::server(),
            enforcement: EnforcementPolicy::default(),
            bdp: true,
            authority: "localhost".to_owned(),
            scheme: "http".to_owned(),
            user_agent: concat!("h2proto-grpc/", env!("CARGO_PKG_VERSION")).to_owned(),
            content_type: "application/grpc".to_owned(),
        }
    }

    /// Fixes the stream and connection receive windows, which turns the BDP
    /// estimator off (as setting them does in grpc-go).
    pub fn fixed_windows(mut self, stream: u32, connection: u32) -> Config {
        self.http2.initial_window_size = stream;
        self.http2.connection_window_size = connection;
        self.bdp = false;
        self
    }
}
