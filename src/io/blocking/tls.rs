//! The blocking adapter's transports: TCP, or TLS over TCP with rustls
//! (feature `tls`).
//!
//! # Why not `rustls::StreamOwned`
//!
//! The driver reads and writes from two threads (see `driver.rs`), so a
//! peer that stops reading can never keep us from reading. A TCP socket is
//! split with `try_clone`; a TLS session cannot be: both directions share
//! one `rustls::Connection` (record sequence numbers, key updates, alerts),
//! and a `StreamOwned` behind one lock would let a writer blocked on a full
//! socket starve the reader. So the session sits behind a `Mutex` that is
//! only ever held for in-memory work, never across a socket call:
//!
//! - the **reader** reads raw bytes from its own clone of the socket without
//!   the lock, then locks the session to feed them (`read_tls`,
//!   `process_new_packets`) and take the plaintext out;
//! - the **writer** holds a second lock, `out`, for as long as it writes to
//!   the socket: under it, it locks the session briefly to encrypt
//!   (`writer().write`) and take the records out (`write_tls`), unlocks, and
//!   writes them. Records are taken out and written under `out` only, so
//!   they reach the socket in the order rustls produced them;
//! - records the *reader's* processing produces (a TLS 1.3 KeyUpdate reply,
//!   an alert) are written by the reader itself when `out` is free
//!   (`try_lock`: it never waits behind a blocked writer), else they leave
//!   with the writer's next write.
//!
//! The handshake runs first, on the connection's own thread, on the
//! blocking socket (`complete_io`), bounded by
//! [`HANDSHAKE_TIMEOUT`](crate::io::tls::HANDSHAKE_TIMEOUT) on a server and
//! the connect timeout on a client; the checks of [`crate::io::tls`] follow.
//! At the end, close_notify is sent when `out` is free.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

/// A connection's byte stream: plain TCP or TLS over TCP.
pub(crate) enum Stream {
    /// h2c with prior knowledge.
    Plain(TcpStream),
    /// HTTP/2 over TLS.
    #[cfg(feature = "tls")]
    Tls(imp::TlsStream),
}

/// The reading and writing halves the driver's two I/O threads own.
pub(crate) type Halves = (Box<dyn Read + Send>, Box<dyn Write + Send>);

impl Stream {
    /// Turns Nagle's delay off (the driver writes in batches).
    pub(crate) fn set_nodelay(&self) {
        let _ = self.tcp().set_nodelay(true);
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => &s.sock,
        }
    }

    /// A reader and a writer for two threads.
    pub(crate) fn split(&self) -> io::Result<Halves> {
        match self {
            Stream::Plain(s) => Ok((Box::new(s.try_clone()?), Box::new(s.try_clone()?))),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.split(),
        }
    }

    /// Ends the connection (close_notify first over TLS, when possible);
    /// wakes threads blocked on the socket.
    pub(crate) fn shutdown(&self) {
        #[cfg(feature = "tls")]
        if let Stream::Tls(s) = self {
            s.close_notify();
        }
        let _ = self.tcp().shutdown(Shutdown::Both);
    }
}

pub(crate) use crate::io::Acceptor;

/// What a server does with an accepted socket before HTTP/2 starts.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) enum Accepted {
    /// Speak HTTP/2 over this stream.
    Ready(Stream),
    /// Speak just enough HTTP/2 to say GOAWAY INADEQUATE_SECURITY (§9.2).
    Inadequate(Stream),
    /// The handshake or ALPN failed (logged): drop the connection.
    Refused,
}

/// The server side: the TLS handshake and checks when `tls` says so.
pub(crate) fn accept(tcp: TcpStream, tls: &Acceptor) -> Accepted {
    let Some(config) = tls else {
        return Accepted::Ready(Stream::Plain(tcp));
    };
    #[cfg(not(feature = "tls"))]
    match config.0 {}
    #[cfg(feature = "tls")]
    {
        let peer = tcp.peer_addr().ok();
        match imp::accept(config, tcp) {
            Ok((stream, None)) => Accepted::Ready(Stream::Tls(stream)),
            Ok((stream, Some(e))) => {
                crate::io::tls::log_refused(peer, &e);
                Accepted::Inadequate(Stream::Tls(stream))
            }
            Err(e) => {
                crate::io::tls::log_refused(peer, &e);
                Accepted::Refused
            }
        }
    }
}

#[cfg(feature = "tls")]
pub(crate) use imp::connect;

#[cfg(feature = "tls")]
mod imp {
    use std::io::{self, Read, Write};
    use std::net::TcpStream;
    use std::sync::{Arc, Mutex, MutexGuard};
    use std::time::Duration;

    use rustls::Connection;

    use super::Halves;
    use crate::io::tls::{self, TlsError};

    /// Raw bytes per socket read.
    const RAW_READ: usize = 32 * 1024;
    /// Bounds the final close_notify write to a peer that does not read.
    const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

    /// The session shared by the reading and writing threads.
    struct Shared {
        session: Mutex<Connection>,
        /// Held while records are taken out of the session and written.
        out: Mutex<()>,
    }

    impl Shared {
        fn session(&self) -> MutexGuard<'_, Connection> {
            self.session.lock().unwrap_or_else(|e| e.into_inner())
        }

        /// Writes what the session has to send, if no write is in progress.
        fn try_flush(&self, sock: &TcpStream) {
            let Ok(_out) = self.out.try_lock() else {
                return; // the writer's next write takes it along
            };
            let mut records = Vec::new();
            if take_records(&mut self.session(), &mut records).is_ok() {
                let _ = (&*sock).write_all(&records);
            }
        }
    }

    /// Moves every record the session has to send into `dst`.
    fn take_records(session: &mut Connection, dst: &mut Vec<u8>) -> io::Result<()> {
        while session.wants_write() {
            session.write_tls(dst)?;
        }
        Ok(())
    }

    /// TLS over a TCP socket, after the handshake.
    pub(crate) struct TlsStream {
        pub(super) sock: TcpStream,
        shared: Arc<Shared>,
    }

    impl TlsStream {
        fn new(sock: TcpStream, session: Connection) -> TlsStream {
            TlsStream {
                sock,
                shared: Arc::new(Shared {
                    session: Mutex::new(session),
                    out: Mutex::new(()),
                }),
            }
        }

        pub(super) fn split(&self) -> io::Result<Halves> {
            let reader = Reader {
                sock: self.sock.try_clone()?,
                shared: self.shared.clone(),
                raw: vec![0; RAW_READ].into_boxed_slice(),
                start: 0,
                end: 0,
            };
            let writer = Writer {
                sock: self.sock.try_clone()?,
                shared: self.shared.clone(),
                records: Vec::new(),
            };
            Ok((Box::new(reader), Box::new(writer)))
        }

        /// Sends close_notify, unless a write is in progress (a peer that
        /// does not read; the TCP shutdown that follows ends it anyway).
        pub(super) fn close_notify(&self) {
            let Ok(_out) = self.shared.out.try_lock() else {
                return;
            };
            let mut records = Vec::new();
            {
                let mut session = self.shared.session();
                session.send_close_notify();
                if take_records(&mut session, &mut records).is_err() {
                    return;
                }
            }
            let _ = self.sock.set_write_timeout(Some(CLOSE_WRITE_TIMEOUT));
            let _ = (&self.sock).write_all(&records);
        }
    }

    /// The reading half: raw bytes in without the lock, plaintext out.
    struct Reader {
        sock: TcpStream,
        shared: Arc<Shared>,
        /// Raw bytes read and not yet fed to the session: `raw[start..end]`.
        raw: Box<[u8]>,
        start: usize,
        end: usize,
    }

    impl Read for Reader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                let mut session = self.shared.session();
                loop {
                    match session.reader().read(buf) {
                        // n == 0: the peer sent close_notify.
                        Ok(n) => {
                            let flush = session.wants_write();
                            drop(session);
                            if flush {
                                self.shared.try_flush(&self.sock);
                            }
                            return Ok(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        // UnexpectedEof: TCP closed without close_notify.
                        Err(e) => return Err(e),
                    }
                    if self.start == self.end {
                        break;
                    }
                    let mut pending = &self.raw[self.start..self.end];
                    self.start += session.read_tls(&mut pending)?;
                    if let Err(e) = session.process_new_packets() {
                        drop(session);
                        self.shared.try_flush(&self.sock); // the alert
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
                let flush = session.wants_write();
                drop(session);
                if flush {
                    self.shared.try_flush(&self.sock);
                }
                let n = self.sock.read(&mut self.raw)?;
                (self.start, self.end) = (0, n);
                if n == 0 {
                    // Tell rustls: its reader then says close_notify or not.
                    let _ = self.shared.session().read_tls(&mut &[][..]);
                }
            }
        }
    }

    /// The writing half: encrypts under the session lock, writes under `out`.
    struct Writer {
        sock: TcpStream,
        shared: Arc<Shared>,
        records: Vec<u8>,
    }

    impl Write for Writer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _out = self.shared.out.lock().unwrap_or_else(|e| e.into_inner());
            let n = {
                let mut session = self.shared.session();
                let n = session.writer().write(buf)?;
                take_records(&mut session, &mut self.records)?;
                n
            };
            let result = (&self.sock).write_all(&self.records);
            self.records.clear();
            result.map(|()| n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Runs a handshake to its end on the blocking socket, within `limit`.
    fn handshake(
        sock: &mut TcpStream,
        session: &mut Connection,
        limit: Duration,
    ) -> Result<(), TlsError> {
        sock.set_read_timeout(Some(limit))
            .map_err(TlsError::Handshake)?;
        sock.set_write_timeout(Some(limit))
            .map_err(TlsError::Handshake)?;
        while session.is_handshaking() {
            session.complete_io(sock).map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => TlsError::HandshakeTimeout,
                _ => TlsError::Handshake(e),
            })?;
        }
        // Session tickets and the like.
        while session.wants_write() {
            session.complete_io(sock).map_err(TlsError::Handshake)?;
        }
        sock.set_read_timeout(None).map_err(TlsError::Handshake)?;
        sock.set_write_timeout(None).map_err(TlsError::Handshake)?;
        Ok(())
    }

    /// The server side of the handshake; see `tokio::tls::accept`.
    pub(super) fn accept(
        config: &Arc<rustls::ServerConfig>,
        mut sock: TcpStream,
    ) -> Result<(TlsStream, Option<TlsError>), TlsError> {
        let mut session: Connection = rustls::ServerConnection::new(config.clone())?.into();
        handshake(&mut sock, &mut session, tls::HANDSHAKE_TIMEOUT)?;
        if let Err(e) = tls::check_alpn(session.alpn_protocol()) {
            session.send_close_notify();
            let _ = session.complete_io(&mut sock);
            return Err(e);
        }
        let inadequate = tls::check_security(
            session.protocol_version(),
            session.negotiated_cipher_suite(),
        )
        .err();
        Ok((TlsStream::new(sock, session), inadequate))
    }

    /// The client side of the handshake to `server_name` over `sock`, with
    /// the checks of [`crate::io::tls`], within `limit`.
    pub(crate) fn connect(
        config: &Arc<rustls::ClientConfig>,
        server_name: &str,
        mut sock: TcpStream,
        limit: Duration,
    ) -> Result<super::Stream, TlsError> {
        let name = tls::server_name(server_name)?;
        let config = tls::h2_client_config(config.clone());
        let mut session: Connection = rustls::ClientConnection::new(config, name)?.into();
        handshake(&mut sock, &mut session, limit)?;
        tls::check_session(&session)?;
        Ok(super::Stream::Tls(TlsStream::new(sock, session)))
    }
}
