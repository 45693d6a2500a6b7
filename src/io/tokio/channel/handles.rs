//! The handles of a channel's streaming calls: the tokio gRPC client's,
//! each holding the call's place in the channel until dropped.

use std::sync::Arc;

use super::Guard;
use crate::io::tokio::grpc::{CallSender, ClientCall, Error, Response, Streaming};

/// A call on a [`Channel`](super::Channel): a [`ClientCall`] (all its methods through
/// `Deref`) that counts as active on its subchannel until dropped.
pub struct ChannelCall {
    pub(super) inner: ClientCall,
    pub(super) guard: Arc<Guard>,
}

impl std::fmt::Debug for ChannelCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::ops::Deref for ChannelCall {
    type Target = ClientCall;
    fn deref(&self) -> &ClientCall {
        &self.inner
    }
}

impl std::ops::DerefMut for ChannelCall {
    fn deref_mut(&mut self) -> &mut ClientCall {
        &mut self.inner
    }
}

impl ChannelCall {
    /// The halves, to send and receive from different tasks.
    pub fn split(self) -> (ChannelSender, ChannelStreaming) {
        let (tx, rx) = self.inner.split();
        (
            ChannelSender {
                inner: tx,
                _guard: self.guard.clone(),
            },
            ChannelStreaming {
                inner: rx,
                _guard: self.guard,
            },
        )
    }

    /// Half-closes, then waits for the one response (client streaming).
    pub async fn response(self) -> Result<Response, Error> {
        self.inner.response().await
    }
}

/// The sending half of a [`ChannelCall`] ([`CallSender`] through `Deref`).
pub struct ChannelSender {
    pub(super) inner: CallSender,
    pub(super) _guard: Arc<Guard>,
}

/// The receiving half of a channel call ([`Streaming`] through `Deref`).
pub struct ChannelStreaming {
    pub(super) inner: Streaming,
    pub(super) _guard: Arc<Guard>,
}

impl ChannelStreaming {
    /// The one response of a unary or client-streaming call.
    pub async fn response(self) -> Result<Response, Error> {
        self.inner.response().await
    }
}

macro_rules! deref_to {
    ($t:ty => $target:ty) => {
        impl std::ops::Deref for $t {
            type Target = $target;
            fn deref(&self) -> &$target {
                &self.inner
            }
        }
        impl std::ops::DerefMut for $t {
            fn deref_mut(&mut self) -> &mut $target {
                &mut self.inner
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }
    };
}

deref_to!(ChannelSender => CallSender);
deref_to!(ChannelStreaming => Streaming);
