//! The HTTP/2 connection state machine (RFC 9113 §3–§8), both roles.
//!
//! [`Connection`] is the only entry point: bytes in with `recv`, events out
//! with `poll_event`, commands (`send_request`, `send_response`, `send_data`,
//! `send_trailers`, `reset`, `release_capacity`, `ping`, `shutdown`,
//! `close`), bytes out with `poll_transmit`, and timers with
//! `poll_timeout` / `handle_timeout`. The send side is driven by
//! [`crate::sched`]; this layer owns stream states and the receive side.

mod authority;
pub mod bdp;
mod budget;
mod config;
mod connection;
mod error;
mod event;
pub mod flow;
pub mod headers;
pub mod limits;
mod recv;
mod send;
mod stats;
pub mod stream;
pub mod timer;

pub use crate::sched::transmit::{Transmit, TransmitBuf};
pub use budget::{BudgetStats, DEFAULT_MEMORY_BUDGET, DIRECTED_INITIAL_WINDOW, MemoryBudget};
pub use config::{Config, Rate, Role, SettingsUpdate};
pub use connection::Connection;
pub use error::{ConnectionError, PeerViolation, TimeoutKind, UserError};
pub use event::{Event, Headers, Initiator, PeerSettings, ResetCause};
pub use headers::Malformed;
pub use stats::{ConnectionStats, ControlCounts, Counters, StatesCount, StreamStats};
