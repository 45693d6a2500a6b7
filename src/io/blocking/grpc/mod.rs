//! gRPC over `std::net`: a threaded server with one handler call per gRPC
//! call, and a client that runs any number of calls (unary, server-,
//! client- and bidi-streaming) over one connection.
//!
//! Messages are [`Bytes`]; protobuf stays the caller's business.
//!
//! ```
//! use bytes::Bytes;
//! use h2proto::grpc::{Metadata, Status};
//! use h2proto::io::blocking::grpc::{CallOptions, Client, Server};
//!
//! let server = Server::bind("127.0.0.1:0")?.spawn(|mut call| {
//!     // Echo every message, then OK.
//!     while let Ok(Some((message, _))) = call.recv() {
//!         let _ = call.send(message);
//!     }
//!     let _ = call.finish(Status::ok(), Metadata::new());
//! })?;
//! let client = Client::connect(server.local_addr())?;
//! let mut call = client.call("/echo.Echo/Say", CallOptions::new())?;
//! call.send(Bytes::from_static(b"hi"))?;
//! call.close_send()?;
//! assert_eq!(call.recv()?.as_deref(), Some(&b"hi"[..]));
//! assert!(call.status()?.is_ok());
//! client.shutdown();
//! server.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a connection runs
//!
//! As in the HTTP adapter, a driver thread alone owns the sans-IO endpoint
//! ([`grpc::Client`](crate::grpc::Client) or
//! [`grpc::Server`](crate::grpc::Server)), with a reader and a writer thread
//! per socket. Call handles talk to the driver over a channel. A send waits
//! until the endpoint took the message (after [`Event::Writable`](crate::grpc::Event::Writable) when the
//! call's queue was full), so nothing queues without bound on the send side.
//! Every wait of a handle is bounded: by the call's deadline, else by
//! [`Config::max_wait`].

mod client;
mod driver;
mod pool;
mod server;

use std::cell::Cell;
use std::sync::mpsc::{SendError, Sender};
use std::time::Duration;

use bytes::Bytes;

pub use crate::grpc::CallOptions;
pub use crate::io::grpc_error::Error;
pub use client::{Client, ClientCall};
pub use pool::HandlerStats;
pub use server::{Server, ServerCall, ServerHandle};

use crate::grpc::{Metadata, Status};

/// Settings of the blocking gRPC client and server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The sans-IO endpoint's settings.
    pub grpc: crate::grpc::Config,
    /// Longest a handle waits for anything when its call has no deadline.
    /// Default 60 s.
    pub max_wait: Duration,
    /// Server: most handlers running at once (a handler waiting on its
    /// client does not count). Default: the machine's parallelism.
    pub handler_threads: usize,
    /// Server: most connections served at once (each has three threads).
    /// At the cap the server accepts no more until one ends (new ones wait
    /// in the kernel's backlog). Default 10,000.
    pub max_connections: usize,
}

impl Config {
    /// Client defaults.
    pub fn client() -> Config {
        Config {
            grpc: crate::grpc::Config::client(),
            max_wait: Duration::from_secs(60),
            handler_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_connections: 10_000,
        }
    }

    /// Server defaults.
    pub fn server() -> Config {
        Config {
            grpc: crate::grpc::Config::server(),
            ..Config::client()
        }
    }
}

/// What the driver hands to a call's handle.
#[derive(Debug)]
enum Item {
    /// Client: the response headers.
    Headers(Metadata),
    /// A message and whether it arrived compressed.
    Message(Bytes, bool),
    /// Server: the client half-closed.
    HalfClosed,
    /// The call is over.
    End(Status, Metadata),
}

/// Where the driver puts a call's items: the handle's channel and, for a
/// server call whose handler waits for its first item, the start of that
/// handler (a call holds no thread until it has something to handle).
struct ItemTx {
    tx: Sender<Item>,
    start: Cell<Option<Box<dyn FnOnce() + Send>>>,
}

impl ItemTx {
    /// A channel whose handle already runs.
    fn new(tx: Sender<Item>) -> ItemTx {
        ItemTx {
            tx,
            start: Cell::new(None),
        }
    }

    /// A channel whose handler `start` runs with the first item; a call
    /// that ends before any never runs it.
    fn deferred(tx: Sender<Item>, start: Box<dyn FnOnce() + Send>) -> ItemTx {
        ItemTx {
            tx,
            start: Cell::new(Some(start)),
        }
    }

    /// Hands `item` over, starting the handler if it waited for one.
    fn send(&self, item: Item) -> Result<(), SendError<Item>> {
        let ended = matches!(item, Item::End(..));
        let r = self.tx.send(item);
        if let Some(start) = self.start.take()
            && !ended
        {
            start();
        }
        r
    }
}
