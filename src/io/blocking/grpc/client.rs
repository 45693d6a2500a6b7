//! The blocking gRPC client: one connection, any number of calls.

use std::net::{TcpStream, ToSocketAddrs};

use crate::io::blocking::tls::Stream;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::driver::{self, Cmd, Reply};
use super::{Config, Error, Item};
use crate::grpc::{self, CallError, CallId, CallOptions, Metadata, Status};
use crate::io::blocking::driver::Msg;

/// Slack past a call's deadline before a handle stops waiting for the
/// DEADLINE_EXCEEDED the endpoint reports itself.
const DEADLINE_SLACK: Duration = Duration::from_secs(2);

/// A gRPC client connection over cleartext TCP (h2c prior knowledge).
/// Dropping it (or [`shutdown`](Client::shutdown)) ends the connection
/// gracefully.
#[derive(Debug)]
pub struct Client {
    tx: Sender<Msg<Cmd>>,
    thread: Option<JoinHandle<()>>,
    max_wait: Duration,
}

impl Client {
    /// Connects with [`Config::client`].
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Client, Error> {
        Client::connect_with(addr, Config::client())
    }

    /// Connects with the given settings.
    pub fn connect_with(addr: impl ToSocketAddrs, config: Config) -> Result<Client, Error> {
        let stream = TcpStream::connect(addr)?;
        Client::over(Stream::Plain(stream), config)
    }

    /// Connects over TLS (ALPN `h2`) to `addr`, verifying the server's
    /// certificate for `server_name` (also the SNI). `tls` holds your roots
    /// (and client certificate, if any); its ALPN list is made `h2` only.
    /// Calls go out with `:scheme` `https`; `:authority` is `server_name`
    /// unless `config.grpc.authority` was changed from its default. The
    /// handshake is bounded by [`crate::io::tls::HANDSHAKE_TIMEOUT`]; a
    /// failed one is [`Error::Io`] whose inner
    /// [`TlsError`](crate::io::tls::TlsError) says which check failed.
    #[cfg(feature = "tls")]
    pub fn connect_tls(
        addr: impl ToSocketAddrs,
        server_name: &str,
        tls: std::sync::Arc<rustls::ClientConfig>,
        mut config: Config,
    ) -> Result<Client, Error> {
        let tcp = TcpStream::connect(addr)?;
        let limit = crate::io::tls::HANDSHAKE_TIMEOUT;
        let stream = crate::io::blocking::tls::connect(&tls, server_name, tcp, limit)
            .map_err(std::io::Error::from)?;
        config.grpc.scheme = "https".to_owned();
        if config.grpc.authority == "localhost" {
            config.grpc.authority = server_name.to_owned();
        }
        Client::over(stream, config)
    }

    fn over(stream: Stream, config: Config) -> Result<Client, Error> {
        let (tx, rx) = mpsc::channel();
        let driver_tx = tx.clone();
        let grpc_config = config.grpc.clone();
        let thread = thread::Builder::new()
            .name("grpc-client".into())
            .spawn(move || {
                let ep = grpc::Client::new(grpc_config, Instant::now());
                driver::run(stream, ep, driver_tx, rx, &mut |_, _| {});
            })?;
        Ok(Client {
            tx,
            thread: Some(thread),
            max_wait: config.max_wait,
        })
    }

    /// Starts a call on `path` (`/package.Service/Method`).
    pub fn call(&self, path: &str, options: CallOptions) -> Result<ClientCall, Error> {
        let deadline = options.timeout.map(|t| Instant::now() + t + DEADLINE_SLACK);
        let (items_tx, items) = mpsc::channel();
        let (reply_tx, reply) = mpsc::sync_channel(1);
        let cmd = Cmd::Start(path.to_owned(), options, items_tx, reply_tx);
        self.tx.send(Msg::Cmd(cmd)).map_err(|_| Error::Closed)?;
        let id = wait(&reply, self.max_wait)??;
        Ok(ClientCall {
            id,
            tx: self.tx.clone(),
            items,
            deadline,
            max_wait: self.max_wait,
            headers: None,
            end: None,
            last_compressed: false,
            pending: None,
        })
    }

    /// Sends GOAWAY, lets the calls in progress finish, and waits for the
    /// connection to end: at most [`Config::max_wait`], then the connection
    /// is closed and the calls still running end UNAVAILABLE.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        let Some(t) = self.thread.take() else { return };
        let until = Instant::now() + self.max_wait;
        while !t.is_finished() && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
        }
        if !t.is_finished() {
            let _ = self.tx.send(Msg::Cmd(Cmd::Close));
        }
        let _ = t.join();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits for a reply, at most `max`.
fn wait<T>(rx: &Receiver<T>, max: Duration) -> Result<T, Error> {
    match rx.recv_timeout(max) {
        Ok(v) => Ok(v),
        Err(RecvTimeoutError::Timeout) => Err(Error::Timeout),
        Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
    }
}

/// Sends a command that has a reply and waits for it.
pub(super) fn command(
    tx: &Sender<Msg<Cmd>>,
    max: Duration,
    make: impl FnOnce(Reply<()>) -> Cmd,
) -> Result<(), Error> {
    let (reply_tx, reply) = mpsc::sync_channel(1);
    tx.send(Msg::Cmd(make(reply_tx)))
        .map_err(|_| Error::Closed)?;
    wait(&reply, max)?
}

/// One call of a [`Client`]. Dropping it before the call ended cancels it.
#[derive(Debug)]
pub struct ClientCall {
    id: CallId,
    tx: Sender<Msg<Cmd>>,
    items: Receiver<Item>,
    deadline: Option<Instant>,
    max_wait: Duration,
    headers: Option<Metadata>,
    end: Option<(Status, Metadata)>,
    last_compressed: bool,
    /// A message read while waiting for headers.
    pending: Option<Bytes>,
}

impl ClientCall {
    /// The call's id on its connection.
    pub fn id(&self) -> CallId {
        self.id
    }

    /// Sends a message, compressed when the call has an encoding. Waits
    /// while the call's send queue is full.
    pub fn send(&mut self, message: Bytes) -> Result<(), Error> {
        self.send_with(message, true)
    }

    /// Sends a message; `compress` asks for the call's encoding. On a call
    /// that is over (the server may answer before reading what we send),
    /// [`Error::Ended`] with its status.
    pub fn send_with(&mut self, message: Bytes, compress: bool) -> Result<(), Error> {
        if let Some((status, _)) = &self.end {
            return Err(Error::Ended(status.clone()));
        }
        let id = self.id;
        match command(&self.tx, self.wait_bound(), |r| {
            Cmd::Send(id, message, compress, r)
        }) {
            Err(Error::Call(CallError::UnknownCall(_))) => Err(Error::Ended(self.status()?)),
            r => r,
        }
    }

    /// Half-closes: no more messages from us. Half-closing a call the
    /// server already ended is not an error (the server may answer before it
    /// saw our end of stream); the status says how it ended.
    pub fn close_send(&mut self) -> Result<(), Error> {
        if self.end.is_some() {
            return Ok(());
        }
        let id = self.id;
        match command(&self.tx, self.wait_bound(), |r| Cmd::CloseSend(id, r)) {
            Err(Error::Call(CallError::UnknownCall(_))) => Ok(()),
            r => r,
        }
    }

    /// Cancels the call (RST_STREAM(CANCEL)); its status becomes CANCELLED.
    pub fn cancel(&mut self) {
        if self.end.is_none() {
            let _ = self.tx.send(Msg::Cmd(Cmd::Cancel(self.id)));
        }
    }

    /// The response headers' metadata, waiting for them (`None` when the
    /// call ended without any: a trailers-only response).
    pub fn headers(&mut self) -> Result<Option<&Metadata>, Error> {
        while self.headers.is_none() && self.end.is_none() {
            if let Some(item) = self.next()? {
                self.pending = Some(item);
                break;
            }
        }
        Ok(self.headers.as_ref())
    }

    /// The next message, or `None` when the call is over (see
    /// [`status`](Self::status)).
    pub fn recv(&mut self) -> Result<Option<Bytes>, Error> {
        if let Some(message) = self.pending.take() {
            return Ok(Some(message));
        }
        self.next()
    }

    /// Whether the last message [`recv`](Self::recv) returned arrived
    /// compressed.
    pub fn last_compressed(&self) -> bool {
        self.last_compressed
    }

    /// Waits for the call's end (dropping messages not received yet) and
    /// returns its status.
    pub fn status(&mut self) -> Result<Status, Error> {
        self.pending = None;
        while self.end.is_none() {
            self.next()?;
        }
        Ok(self
            .end
            .as_ref()
            .map(|e| e.0.clone())
            .unwrap_or_else(Status::ok))
    }

    /// The trailers' metadata, once the call is over.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.end.as_ref().map(|e| &e.1)
    }

    fn wait_bound(&self) -> Duration {
        match self.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => self.max_wait,
        }
    }

    /// Takes items until a message (`Some`) or the end (`None`).
    fn next(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            if self.end.is_some() {
                return Ok(None);
            }
            match wait(&self.items, self.wait_bound()) {
                Ok(Item::Headers(md)) => self.headers = Some(md),
                Ok(Item::Message(message, compressed)) => {
                    self.last_compressed = compressed;
                    return Ok(Some(message));
                }
                Ok(Item::HalfClosed) => {}
                Ok(Item::End(status, trailers)) => self.end = Some((status, trailers)),
                Err(Error::Closed) => {
                    let status = grpc::Status::new(grpc::Code::UNAVAILABLE, "connection closed");
                    self.end = Some((status, Metadata::new()));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for ClientCall {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{Shutdown, TcpListener, TcpStream};

    use super::*;
    use crate::grpc::Code;

    /// A socket write that fails ends the calls with that error (the
    /// blocking HTTP driver reports it too), not with a bare "connection
    /// closed". The peer reads everything and never answers nor closes, so
    /// the write error is the only way the connection can end.
    #[test]
    fn a_socket_write_error_is_the_calls_status() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let sink = thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while matches!(peer.read(&mut buf), Ok(n) if n > 0) {}
            peer
        });
        let ours = tcp.try_clone().unwrap();
        let client = Client::over(Stream::Plain(tcp), Config::client()).unwrap();
        let mut call = client.call("/s.S/M", CallOptions::new()).unwrap();
        // From now on every write on our side fails (EPIPE).
        ours.shutdown(Shutdown::Write).unwrap();
        let _ = call.send(Bytes::from(vec![7u8; 64 * 1024]));
        let status = call.status().unwrap();
        assert_eq!(status.code(), Code::UNAVAILABLE, "{status:?}");
        assert!(
            status.message().starts_with("connection lost: "),
            "{status:?}"
        );
        drop(call);
        drop(client);
        drop(sink.join());
    }
}
