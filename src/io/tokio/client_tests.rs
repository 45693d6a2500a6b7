//! The client over a scripted transport: what the peer sent still counts
//! when the socket fails under us.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Client, ClientConfig};
use crate::io::tokio::Body;

/// A server that answered with SETTINGS and a GOAWAY processing nothing
/// (last stream id 0), then closed: every write fails (the peer reset the
/// connection), and reading gives those frames, then the end.
struct GoneAfterGoAway {
    reads: Vec<Vec<u8>>,
}

impl GoneAfterGoAway {
    fn new() -> Self {
        let settings = [0u8, 0, 0, 4, 0, 0, 0, 0, 0];
        let goaway = [0u8, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        GoneAfterGoAway {
            reads: vec![[&settings[..], &goaway[..]].concat()],
        }
    }
}

impl AsyncRead for GoneAfterGoAway {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.reads.is_empty() {
            let chunk = self.reads.remove(0);
            buf.put_slice(&chunk);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for GoneAfterGoAway {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The GOAWAY was read in the same turn as the write failed: it still says
/// the server processed none of the requests, so they may go elsewhere
/// (before, they failed with the write's error and could not be retried).
#[tokio::test]
async fn a_goaway_read_before_a_failed_write_still_marks_requests_unprocessed() {
    let client = Client::start(
        GoneAfterGoAway::new(),
        "test".to_owned(),
        false,
        ClientConfig::default(),
    );
    let get = || http::Request::get("/").body(Body::empty()).unwrap();
    let (first, second) = (client.send_request(get()), client.send_request(get()));
    for response in [first.await, second.await] {
        let err = response.expect_err("the server processed nothing");
        assert!(err.is_unprocessed(), "{err:?}");
    }
    // The connection is gone: a new request never leaves, and says so.
    let err = client.send_request(get()).await.expect_err("gone");
    assert!(err.is_not_sent(), "{err:?}");
}
