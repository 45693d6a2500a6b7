//! The HTTP/2 connection state machine (RFC 9113 §3–§8), both roles.
//!
//! [`Connection`] is the only entry point: bytes in with `recv`, events out
//! with `poll_event`, commands (`send_request`, `send_response`, `send_data`,
//! `send_trailers`, `reset`, `release_capacity`, `ping`, `shutdown`,
//! `close`), bytes out with `poll_transmit`, and timers with
//! `poll_timeout` / `handle_timeout`. This module exports everything a
//! caller needs, [`StreamId`], [`Reason`] and [`HeaderField`] included.
//!
//! # Driving a connection
//!
//! The connection never blocks and never acts by itself: each call does its
//! work and queues the consequences. The caller's loop, in this order:
//!
//! 1. **Input verbs**, whenever something happens: [`recv`](Connection::recv)
//!    with the bytes read (it takes whole frames off the buffer's front and
//!    leaves a partial one: keep the rest and append to it; read only while
//!    [`wants_read`](Connection::wants_read), which turns false while the
//!    peer does not read what we owe it), [`recv_eof`](Connection::recv_eof)
//!    when the transport ends, [`handle_timeout`](Connection::handle_timeout)
//!    once the time from `poll_timeout` has come, and the commands.
//! 2. **[`poll_event`](Connection::poll_event) until `None`**, acting on each
//!    event (commands issued here are fine). Every verb surfaces its
//!    consequence at once: a protocol error found by `recv`, a SETTINGS
//!    timeout found by `handle_timeout`, a `close` are an [`Event::Closed`]
//!    from `poll_event` at once, after the other events that verb queued
//!    (it is always the last event).
//! 3. **[`poll_transmit`](Connection::poll_transmit)** and write what it
//!    gives, until it returns 0. Call it after every verb, *even when nothing
//!    seems queued*: it also opens requests waiting for a concurrency slot,
//!    applies what was written to the stream states, and completes a close;
//!    [`wants_write`](Connection::wants_write) says whether it has anything
//!    to do. It can produce events ([`Event::Writable`], the `Closed` of a
//!    finished graceful shutdown): go back to 2 until both are quiet.
//! 4. **[`poll_timeout`](Connection::poll_timeout)** after all that, every
//!    time (any verb may arm or disarm a timer), and wait for input or that
//!    instant, whichever comes first.
//!
//! The connection is over once [`is_closed`](Connection::is_closed): write
//! what `poll_transmit` last gave (a closing GOAWAY), then close the
//! transport. `examples/std_net_loop.rs` is this loop over a `TcpStream`;
//! the crate docs show two connections driven by hand in memory.
//!
//! **Credit.** Received DATA ([`Event::Data`]) counts against the peer's
//! windows until the application gives it back with
//! [`release_capacity`](Connection::release_capacity) (or
//! [`reset`](Connection::reset)s the stream): the peer can never make us
//! hold more than the windows we advertised. Release once the bytes left
//! your hands; a closed stream stays live until all its data is released.
//! [`Config::release_on_delivery`] releases as `poll_event` hands DATA out,
//! for callers that copy it out at once.
//!
//! **Time.** The core reads no clock. The verbs that arm a timer, measure a
//! time or spend a rate budget take `now`: [`Connection::new`], `recv`,
//! `poll_transmit`, `handle_timeout`, `ping`, `shutdown`, `update_settings`.
//! The others (`send_*`, `reset`, `release_capacity`, `close`,
//! `set_*_window`, `recv_eof`) only queue frames or drop state and take
//! none: what they cause is timed by the next `poll_transmit`. `now` must
//! not go backwards.
//!
//! The send side is the crate-private scheduler (grpc-go's controlBuffer
//! and loopyWriter); this layer owns stream states and the receive side.

mod authority;
mod budget;
mod config;
mod connection;
mod error;
mod event;
pub(crate) mod flow;
mod lifetime;
pub(crate) mod limits;
mod recv;
mod send;
mod stats;
pub(crate) mod stream;
mod timer;
pub(crate) mod validate;

pub use crate::sched::transmit::{Transmit, TransmitBuf};
pub use budget::{BudgetStats, DEFAULT_MEMORY_BUDGET, DIRECTED_INITIAL_WINDOW, MemoryBudget};
pub use config::{Config, Rate, Role, SettingsUpdate};
pub use connection::Connection;
pub use error::{ConnectionError, PeerViolation, TimeoutKind, UserError};
pub use event::{Event, HeaderList, Initiator, PeerSettings, ResetCause};
pub use stats::{ConnectionStats, ControlCounts, Counters, StatesCount, StreamStats};
pub use stream::state::{CloseCause, StreamState};
pub use validate::Malformed;
// The vocabulary of the verbs and events above, so that an embedder needs
// only this module.
pub use crate::frame::{Reason, StreamId};
pub use crate::hpack::HeaderField;
