//! The HTTP/2 connection state machine (RFC 9113 §3–§8), both roles.
//!
//! [`Connection`] is the only entry point: bytes in with `recv`, events out
//! with `poll_event`, commands (`send_request`, `send_response`, `send_data`,
//! `send_trailers`, `reset`, `release_capacity`, `ping`, `shutdown`,
//! `close`), bytes out with `poll_transmit`, and timers with
//! `poll_timeout` / `handle_timeout`. The send side is driven by
//! [`crate::sched`]; this layer owns stream states and the receive side.

mod authority;
mod budget;
mod config;
mod connection;
mod error;
mod event;
pub(crate) mod flow;
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
