//! A subchannel's connection: the tokio gRPC [`Client`] for the channel's
//! own call API, or (feature `tower`) the tokio HTTP client for a channel
//! that serves tower calls. A channel dials one kind, chosen when built.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::io::tokio::grpc::{Client, Config};

/// Which kind of connection a channel dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Grpc,
    #[cfg(feature = "tower")]
    Http,
}

/// One subchannel connection, up.
#[derive(Clone)]
pub(super) enum Link {
    Grpc(Client),
    #[cfg(feature = "tower")]
    Http(crate::io::tokio::Client),
}

type Closing = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

impl Link {
    /// Dials `address` and waits for the server's SETTINGS.
    pub(super) async fn dial(
        kind: Kind,
        address: &str,
        grpc: Config,
        #[cfg(feature = "tower")] http: crate::io::tokio::ClientConfig,
    ) -> Result<Link, String> {
        let link = match kind {
            Kind::Grpc => Link::Grpc(
                Client::connect_with(address, grpc)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            #[cfg(feature = "tower")]
            Kind::Http => Link::Http(
                crate::io::tokio::Client::connect_with(address, http)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
        };
        // READY once the server's SETTINGS arrived: a peer that accepts and
        // closes, or does not speak HTTP/2, is a failed attempt (its backoff
        // goes on) rather than a READY connection that dies at once. The
        // channel's connect timeout bounds the wait (it aborts this task).
        let mut pause = Duration::from_micros(200);
        loop {
            if link.settings_received() {
                return Ok(link);
            }
            if link.is_closing() {
                return Err("connection closed before the server's SETTINGS".to_owned());
            }
            // No wake-up exists for the peer's SETTINGS; they come within a
            // round trip, so a short, growing pause costs little.
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    fn settings_received(&self) -> bool {
        match self {
            Link::Grpc(c) => c.peer_settings_received(),
            #[cfg(feature = "tower")]
            Link::Http(c) => c.peer_settings_received(),
        }
    }

    /// No new call can start here (GOAWAY, closed).
    pub(super) fn is_closing(&self) -> bool {
        match self {
            Link::Grpc(c) => c.is_closing(),
            #[cfg(feature = "tower")]
            Link::Http(c) => c.is_closed() || c.goaway_received().is_some(),
        }
    }

    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS.
    pub(super) fn max_concurrent_streams(&self) -> Option<u32> {
        match self {
            Link::Grpc(c) => c.peer_max_concurrent_streams(),
            #[cfg(feature = "tower")]
            Link::Http(c) => c.peer_max_concurrent_streams(),
        }
    }

    /// Completes at GOAWAY or the end (holds no reference to the connection).
    pub(super) fn closing(&self) -> Closing {
        match self {
            Link::Grpc(c) => Box::pin(c.closing()),
            #[cfg(feature = "tower")]
            Link::Http(c) => Box::pin(c.closing()),
        }
    }

    /// The gRPC client, for the channel's own call API.
    pub(super) fn grpc(&self) -> Option<&Client> {
        match self {
            Link::Grpc(c) => Some(c),
            #[cfg(feature = "tower")]
            Link::Http(_) => None,
        }
    }
}
