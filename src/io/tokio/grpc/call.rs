//! A client call's handles, the same types on a [`Client`](super::Client)
//! and on a [`Channel`](crate::io::tokio::channel::Channel): a call on one
//! connection, or a channel's call that is sent again if the server refuses
//! it (see the [channel module docs](crate::io::tokio::channel)).

use bytes::Bytes;

use super::client::{ConnSender, ConnStreaming};
use super::{Error, Response};
use crate::grpc::{CallId, Code, Metadata, Status};
use crate::io::tokio::channel::{ChannelSender, ChannelStreaming};

/// The sending half of a call.
#[derive(Debug)]
pub struct CallSender(Sender);

#[derive(Debug)]
enum Sender {
    Conn(ConnSender),
    Channel(ChannelSender),
}

impl CallSender {
    pub(crate) fn conn(tx: ConnSender) -> CallSender {
        CallSender(Sender::Conn(tx))
    }

    pub(crate) fn channel(tx: ChannelSender) -> CallSender {
        CallSender(Sender::Channel(tx))
    }

    /// Sends a message, compressed when the call has an encoding. Waits
    /// while the call's send queue is full. On a call that is over (the
    /// server may answer before reading what we send), [`Error::Ended`]
    /// with its status.
    pub async fn send(&mut self, message: Bytes) -> Result<(), Error> {
        self.send_with(message, true).await
    }

    /// Sends a message; `compress` asks for the call's encoding.
    pub async fn send_with(&mut self, message: Bytes, compress: bool) -> Result<(), Error> {
        match &mut self.0 {
            Sender::Conn(tx) => tx.send_with(message, compress).await,
            Sender::Channel(tx) => tx.send_with(message, compress).await,
        }
    }

    /// Half-closes: no more messages from us. A call already over is not an
    /// error (its status says how it ended).
    pub fn close_send(&mut self) -> Result<(), Error> {
        match &mut self.0 {
            Sender::Conn(tx) => tx.close_send(),
            Sender::Channel(tx) => tx.close_send(),
        }
    }

    /// Cancels the call (RST_STREAM CANCEL); its status becomes CANCELLED
    /// (and a channel does not send it again).
    pub fn cancel(&self) {
        match &self.0 {
            Sender::Conn(tx) => tx.cancel(),
            Sender::Channel(tx) => tx.cancel(),
        }
    }
}

/// The receiving half of a call: response headers, messages, status and
/// trailers.
#[derive(Debug)]
pub struct Streaming(Receiver);

#[derive(Debug)]
enum Receiver {
    Conn(ConnStreaming),
    Channel(ChannelStreaming),
}

impl Streaming {
    pub(crate) fn conn(rx: ConnStreaming) -> Streaming {
        Streaming(Receiver::Conn(rx))
    }

    pub(crate) fn channel(rx: ChannelStreaming) -> Streaming {
        Streaming(Receiver::Channel(rx))
    }

    /// The call's id on its connection (on a channel, the current
    /// attempt's).
    pub fn id(&self) -> CallId {
        match &self.0 {
            Receiver::Conn(rx) => rx.id(),
            Receiver::Channel(rx) => rx.id(),
        }
    }

    /// The response headers' metadata, waiting for them (`None` when the
    /// call ended without any: a trailers-only response).
    pub async fn headers(&mut self) -> Result<Option<&Metadata>, Error> {
        match &mut self.0 {
            Receiver::Conn(rx) => rx.headers().await,
            Receiver::Channel(rx) => rx.headers().await,
        }
    }

    /// The next message, or `None` when the call is over (see
    /// [`status`](Self::status)). The message keeps its flow-control credit
    /// until it is dropped (every clone and slice of it): a caller that
    /// keeps messages stops the server through its windows.
    pub async fn recv(&mut self) -> Result<Option<Bytes>, Error> {
        match &mut self.0 {
            Receiver::Conn(rx) => rx.recv().await,
            Receiver::Channel(rx) => rx.recv().await,
        }
    }

    /// Whether the last message received arrived compressed.
    pub fn last_compressed(&self) -> bool {
        match &self.0 {
            Receiver::Conn(rx) => rx.last_compressed(),
            Receiver::Channel(rx) => rx.last_compressed(),
        }
    }

    /// Waits for the call's end (dropping messages not received yet) and
    /// returns its status.
    pub async fn status(&mut self) -> Status {
        match &mut self.0 {
            Receiver::Conn(rx) => rx.status().await,
            Receiver::Channel(rx) => rx.status().await,
        }
    }

    /// The trailers' metadata, once the call is over.
    pub fn trailers(&self) -> Option<&Metadata> {
        match &self.0 {
            Receiver::Conn(rx) => rx.trailers(),
            Receiver::Channel(rx) => rx.trailers(),
        }
    }

    /// The one response of a unary or client-streaming call, with the
    /// metadata; a status other than OK is [`Error::Ended`].
    pub async fn response(mut self) -> Result<Response, Error> {
        let message = self.recv().await?;
        let status = self.status().await;
        if !status.is_ok() {
            return Err(Error::Ended(status));
        }
        let message = message.ok_or_else(|| {
            Error::Ended(Status::new(
                Code::INTERNAL,
                "cardinality violation: no response message",
            ))
        })?;
        let (headers, trailers) = match &mut self.0 {
            Receiver::Conn(rx) => rx.take_metadata(),
            Receiver::Channel(rx) => rx.take_metadata(),
        };
        Ok(Response {
            headers,
            message,
            trailers,
        })
    }
}

/// One call of a [`Client`](super::Client) or a
/// [`Channel`](crate::io::tokio::channel::Channel), both halves. Dropping
/// it before the call ended cancels it.
#[derive(Debug)]
pub struct ClientCall {
    tx: CallSender,
    rx: Streaming,
}

impl ClientCall {
    pub(crate) fn new(tx: CallSender, rx: Streaming) -> ClientCall {
        ClientCall { tx, rx }
    }

    /// The halves, to send and receive from different tasks.
    pub fn split(self) -> (CallSender, Streaming) {
        (self.tx, self.rx)
    }

    /// The call's id on its connection.
    pub fn id(&self) -> CallId {
        self.rx.id()
    }

    /// See [`CallSender::send`].
    pub async fn send(&mut self, message: Bytes) -> Result<(), Error> {
        self.tx.send(message).await
    }

    /// See [`CallSender::send_with`].
    pub async fn send_with(&mut self, message: Bytes, compress: bool) -> Result<(), Error> {
        self.tx.send_with(message, compress).await
    }

    /// See [`CallSender::close_send`].
    pub fn close_send(&mut self) -> Result<(), Error> {
        self.tx.close_send()
    }

    /// See [`CallSender::cancel`].
    pub fn cancel(&mut self) {
        self.tx.cancel();
    }

    /// See [`Streaming::headers`].
    pub async fn headers(&mut self) -> Result<Option<&Metadata>, Error> {
        self.rx.headers().await
    }

    /// See [`Streaming::recv`].
    pub async fn recv(&mut self) -> Result<Option<Bytes>, Error> {
        self.rx.recv().await
    }

    /// See [`Streaming::last_compressed`].
    pub fn last_compressed(&self) -> bool {
        self.rx.last_compressed()
    }

    /// See [`Streaming::status`].
    pub async fn status(&mut self) -> Status {
        self.rx.status().await
    }

    /// See [`Streaming::trailers`].
    pub fn trailers(&self) -> Option<&Metadata> {
        self.rx.trailers()
    }

    /// Half-closes, then waits for the one response of a client-streaming
    /// call (see [`Streaming::response`]).
    pub async fn response(mut self) -> Result<Response, Error> {
        self.tx.close_send()?;
        self.rx.response().await
    }
}
