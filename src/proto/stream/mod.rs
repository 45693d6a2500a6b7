//! Per-stream state: the §5.1 state machine.
pub(crate) mod state;
pub(crate) mod store;
