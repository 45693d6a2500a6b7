//! The tokio adapter's transports: TCP, or TLS over TCP with
//! `tokio-rustls` (feature `tls`).
//!
//! The driver runs over any `AsyncRead + AsyncWrite`; [`Stream`] is the one
//! type every server and client here hands it, so a connection costs the
//! same code either way. A server does the TLS handshake on the
//! connection's own task (never in the accept loop), bounded by
//! [`HANDSHAKE_TIMEOUT`](crate::io::tls::HANDSHAKE_TIMEOUT), then runs the
//! checks of [`crate::io::tls`]: no `h2` ALPN closes the connection (logged),
//! an inadequate TLS version or cipher suite gets GOAWAY INADEQUATE_SECURITY.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;

use super::driver::{Driver, Engine, Handle};

/// A connection's byte stream: plain TCP or TLS over TCP.
pub(crate) enum Stream {
    /// h2c with prior knowledge.
    Plain(TcpStream),
    /// HTTP/2 over TLS (boxed: the TLS state is large, TCP is not).
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            #[cfg(feature = "tls")]
            Stream::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

pub(crate) use crate::io::Acceptor;

/// Runs one accepted connection: the TLS handshake and checks when `tls`
/// says so, then the driver. `close` closes the engine's connection with a
/// reason (for INADEQUATE_SECURITY).
pub(crate) async fn serve<E: Engine>(
    tcp: TcpStream,
    tls: Acceptor,
    handle: Handle<E>,
    close: fn(&mut E, crate::frame::Reason),
) -> io::Result<()> {
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Driver::new(Stream::Plain(tcp), handle).await;
    };
    #[cfg(not(feature = "tls"))]
    {
        let _ = close;
        match tls.0 {}
    }
    #[cfg(feature = "tls")]
    {
        let peer = tcp.peer_addr().ok();
        let (stream, inadequate) = match accept(&tls, tcp).await {
            Ok(accepted) => accepted,
            Err(e) => {
                crate::io::tls::log_refused(peer, &e);
                // The driver never ran: whatever waits on the handle is told.
                let io_error = io::Error::from(e);
                handle.lock().engine.finish(Some(&io_error));
                return Err(io_error);
            }
        };
        if let Some(e) = &inadequate {
            crate::io::tls::log_refused(peer, e);
            let mut shared = handle.lock();
            close(
                &mut shared.engine,
                crate::frame::Reason::INADEQUATE_SECURITY,
            );
        }
        Driver::new(stream, handle).await
    }
}

/// The server side of the handshake: the stream, and the §9.2 failure to
/// answer with GOAWAY INADEQUATE_SECURITY if there is one. Fails (after
/// sending close_notify) when ALPN did not select `h2`.
#[cfg(feature = "tls")]
pub(crate) async fn accept(
    config: &std::sync::Arc<rustls::ServerConfig>,
    tcp: TcpStream,
) -> Result<(Stream, Option<crate::io::tls::TlsError>), crate::io::tls::TlsError> {
    use crate::io::tls::{self, TlsError};
    use ::tokio::io::AsyncWriteExt;
    let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
    let mut stream = ::tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
        .await
        .map_err(|_| TlsError::HandshakeTimeout)?
        .map_err(TlsError::Handshake)?;
    let state = stream.get_ref().1;
    if let Err(e) = tls::check_alpn(state.alpn_protocol()) {
        let _ = ::tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, stream.shutdown()).await;
        return Err(e);
    }
    let inadequate =
        tls::check_security(state.protocol_version(), state.negotiated_cipher_suite()).err();
    let stream = tokio_rustls::TlsStream::Server(stream);
    Ok((Stream::Tls(Box::new(stream)), inadequate))
}

/// The client side of the handshake to `server_name` over `tcp`, with the
/// checks of [`crate::io::tls`] (a failure of the §9.2 rules is an error
/// here too: the client does not speak HTTP/2 at all then).
#[cfg(feature = "tls")]
pub(crate) async fn connect(
    config: &std::sync::Arc<rustls::ClientConfig>,
    server_name: &str,
    tcp: TcpStream,
) -> Result<Stream, crate::io::tls::TlsError> {
    use crate::io::tls::{self, TlsError};
    let _ = tcp.set_nodelay(true);
    let name = tls::server_name(server_name)?;
    let connector = tokio_rustls::TlsConnector::from(tls::h2_client_config(config.clone()));
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(TlsError::Handshake)?;
    tls::check_session(stream.get_ref().1)?;
    Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(
        stream,
    ))))
}
