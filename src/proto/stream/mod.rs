//! Per-stream state: the §5.1 state machine.
pub mod state;
pub mod store;
