//! What can go wrong with a gRPC call handle, on either adapter.

use crate::grpc::{CallError, Code, Status};

/// What can go wrong with a call handle's command or wait (both adapters'
/// `grpc::Error`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sans-IO endpoint refused the command.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The call ended with this status (not OK, or before what was asked).
    #[error("call ended: {0:?}")]
    Ended(Status),
    /// The connection (its driver) is gone.
    #[error("connection closed")]
    Closed,
    /// A wait of the blocking adapter passed its bound (the call's deadline
    /// or its `Config::max_wait`). The tokio adapter's waits are futures
    /// the caller bounds.
    #[error("timed out waiting")]
    Timeout,
    /// A socket error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The status this error stands for: the call's own for
    /// [`Error::Ended`], UNAVAILABLE for a lost connection,
    /// DEADLINE_EXCEEDED for a wait past its bound, INTERNAL otherwise.
    /// Handy in a handler: `out.send(m).await.map_err(|e| e.to_status())?`.
    pub fn to_status(&self) -> Status {
        match self {
            Error::Ended(s) => s.clone(),
            Error::Closed | Error::Io(_) => Status::new(Code::UNAVAILABLE, self.to_string()),
            Error::Timeout => Status::new(Code::DEADLINE_EXCEEDED, self.to_string()),
            Error::Call(e) => Status::new(Code::INTERNAL, e.to_string()),
        }
    }
}
