//! The per-connection driver shared by every blocking role: HTTP/2 client
//! and server over a [`Connection`], gRPC client and server over a
//! [`grpc::Endpoint`](crate::grpc::Endpoint), one loop over [`SansIo`].
//!
//! Three threads per connection:
//!
//! - the **driver** owns the connection and is the only one touching it.
//!   It waits on one channel for everything that can happen: bytes read,
//!   a write finished, a command from the application (a handler's
//!   response, a client's request), or the core's next timer
//!   (`recv_timeout` up to [`SansIo::poll_timeout`]);
//! - the **reader** reads the socket, one chunk per credit the driver gives
//!   it: while the core does not want input ([`SansIo::wants_read`]) or
//!   input is piling up, no credit is given and the reader stops reading, so
//!   TCP pushes back on the peer;
//! - the **writer** writes what [`SansIo::poll_transmit`] produced, one
//!   buffer at a time, and hands the buffer back.
//!
//! The driver never blocks on the socket, so a peer that stops reading can
//! never keep us from reading (the classic both-sides-writing deadlock).

use std::io::{Read, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::tls::Stream;
use crate::frame::StreamId;
use crate::hpack::HeaderField;
use crate::io::sans_io::SansIo;
use crate::proto::{Connection, MemoryBudget, UserError};

/// Most bytes one socket read asks for.
const READ_CHUNK: usize = 64 * 1024;
/// Least bytes one socket read asks for: the reader's buffer starts here,
/// doubles after a read that fills it and halves after one that uses under
/// a quarter of it (see [`next_read_size`]).
const FIRST_READ: usize = 8 * 1024;
/// Reads in flight between the reader and the driver.
const READ_CREDITS: usize = 4;
/// Unconsumed input past which we stop asking for more.
const MAX_BUFFERED_INPUT: usize = 256 * 1024;
/// Most bytes handed to the writer at once.
const MAX_WRITE: usize = 256 * 1024;
/// After a write fails, how long the driver goes on reading what the peer
/// had sent (its GOAWAY says which of our streams it never processed)
/// before it ends the connection with the write's error.
const READ_AFTER_WRITE_FAILED: std::time::Duration = std::time::Duration::from_secs(1);

/// What wakes the driver.
pub(crate) enum Msg<C> {
    /// The reader read these bytes.
    Read(BytesMut),
    /// The reader hit end of file or an error: nothing more will arrive.
    Eof,
    /// The writer finished writing (the buffer comes back for reuse) or failed.
    Written(std::io::Result<BytesMut>),
    /// Graceful shutdown: GOAWAY, let streams finish, close.
    Shutdown,
    /// An application command for the role.
    Cmd(C),
    /// A buffer handed to the application was dropped: credit is owed
    /// (see [`MemoryBudget`]).
    Credit,
}

/// Wakes the driver with [`Msg::Credit`].
struct CreditWaker<C>(Sender<Msg<C>>);

impl<C: Send + 'static> std::task::Wake for CreditWaker<C> {
    fn wake(self: std::sync::Arc<Self>) {
        let _ = self.0.send(Msg::Credit);
    }
}

/// What the role (client or server, HTTP or gRPC) does with events and
/// commands.
pub(crate) trait Role {
    /// The sans-IO connection the role runs on.
    type Conn: SansIo;
    /// The role's application commands.
    type Cmd: Send + 'static;
    /// An event from the core.
    fn on_event(
        &mut self,
        conn: &mut Self::Conn,
        event: <Self::Conn as SansIo>::Event,
        now: Instant,
    );
    /// A command from the application.
    fn on_command(&mut self, conn: &mut Self::Conn, cmd: Self::Cmd, now: Instant);
    /// The socket failed: called before the connection is told the
    /// transport ended, so that what ends with it can carry the cause.
    fn on_transport_error(&mut self, _error: &std::io::Error) {}
    /// The connection is over (the core closed, or the socket failed).
    fn on_finished(&mut self, io_error: Option<std::io::Error>);
    /// The connection's memory budget (bodies and messages handed out owe
    /// their credit through it when dropped; a gRPC endpoint's own).
    fn budget(&self) -> &MemoryBudget;
    /// The budget has more room (credit owed was applied): bodies waiting
    /// for early credit may take it now.
    fn on_budget(&mut self, _conn: &mut Self::Conn) {}
    /// The driver is about to wait: a moment to publish figures.
    fn before_wait(&mut self, _conn: &Self::Conn) {}
}

/// Runs one connection to its end on the calling thread.
pub(crate) fn run<R: Role>(
    stream: Stream,
    mut conn: R::Conn,
    tx: Sender<Msg<R::Cmd>>,
    rx: Receiver<Msg<R::Cmd>>,
    role: &mut R,
) {
    stream.set_nodelay();
    let (reader, credit_tx, writer, write_tx) = match spawn_io(&stream, &tx) {
        Ok(io) => io,
        Err(e) => {
            role.on_finished(Some(e));
            return;
        }
    };
    // Only while a buffer is lent out (then the application holds data of
    // this connection anyway): a registered waker keeps the channel open.
    let waker = std::task::Waker::from(std::sync::Arc::new(CreditWaker(tx.clone())));
    drop(tx);
    let io_error = drive(&mut conn, &rx, role, &credit_tx, &write_tx, &waker);
    role.budget().unregister();
    role.on_finished(io_error);
    // Wake the reader (blocked in read or waiting for a credit) and the
    // writer (waiting for a buffer), then wait for both.
    stream.shutdown();
    drop(credit_tx);
    drop(write_tx);
    let _ = reader.join();
    let _ = writer.join();
}

pub(crate) type Io = (
    JoinHandle<()>,
    SyncSender<()>,
    JoinHandle<()>,
    Sender<BytesMut>,
);

/// The reader's next buffer size after a read of `n` bytes into `size`.
fn next_read_size(size: usize, n: usize) -> usize {
    if n >= size {
        (size * 2).min(READ_CHUNK)
    } else if n < size / 4 {
        (size / 2).max(FIRST_READ)
    } else {
        size
    }
}

pub(crate) fn spawn_io<C: Send + 'static>(
    stream: &Stream,
    tx: &Sender<Msg<C>>,
) -> std::io::Result<Io> {
    let (credit_tx, credit_rx) = mpsc::sync_channel::<()>(READ_CREDITS);
    let (mut read_half, mut write_half) = stream.split()?;
    let read_tx = tx.clone();
    let reader = thread::Builder::new()
        .name("h2-read".into())
        .spawn(move || {
            // One buffer for every read, the bytes read copied out of it:
            // a fresh zeroed 64 KiB buffer per read cost more than the
            // rest of a small request's handling (glibc's `memset`), and
            // an idle connection's blocked read held all of it.
            let mut scratch = vec![0u8; FIRST_READ];
            while credit_rx.recv().is_ok() {
                match read_half.read(&mut scratch) {
                    Ok(0) | Err(_) => {
                        let _ = read_tx.send(Msg::Eof);
                        return;
                    }
                    Ok(n) => {
                        let chunk = BytesMut::from(&scratch[..n.min(scratch.len())]);
                        let size = next_read_size(scratch.len(), n);
                        if size != scratch.len() {
                            scratch = vec![0u8; size];
                        }
                        if read_tx.send(Msg::Read(chunk)).is_err() {
                            return;
                        }
                    }
                }
            }
        })?;
    let (write_tx, write_rx) = mpsc::channel::<BytesMut>();
    let done_tx = tx.clone();
    let writer = thread::Builder::new()
        .name("h2-write".into())
        .spawn(move || {
            for buf in write_rx {
                let result = write_half.write_all(&buf).map(|()| buf);
                let failed = result.is_err();
                if done_tx.send(Msg::Written(result)).is_err() || failed {
                    return;
                }
            }
        })?;
    Ok((reader, credit_tx, writer, write_tx))
}

/// The event loop. Returns the socket error that ended it, if any.
fn drive<R: Role>(
    conn: &mut R::Conn,
    rx: &Receiver<Msg<R::Cmd>>,
    role: &mut R,
    credit_tx: &SyncSender<()>,
    write_tx: &Sender<BytesMut>,
    waker: &std::task::Waker,
) -> Option<std::io::Error> {
    let mut credit_msg = false;
    let mut input = BytesMut::new();
    let mut output = BytesMut::with_capacity(MAX_WRITE);
    let mut writing = false;
    let mut credits_out = 0usize;
    let mut eof = false;
    // A write's error, and when to stop reading after it.
    let mut write_failed: Option<(std::io::Error, Instant)> = None;
    loop {
        let now = Instant::now();
        // Everything that can be done without waiting.
        loop {
            let mut progress = false;
            // Credit of buffers the application dropped.
            let released = conn.release_owed(role.budget()) > 0;
            if released || credit_msg {
                role.on_budget(conn);
                progress = true;
                credit_msg = false;
            }
            if !input.is_empty() && conn.wants_read() {
                let before = input.len();
                conn.recv(&mut input, now);
                progress |= input.len() != before;
            }
            while let Some(event) = conn.poll_event() {
                role.on_event(conn, event, now);
                progress = true;
            }
            if !writing && write_failed.is_none() {
                // Called even when there is nothing to write: it also opens
                // waiting requests and notices a finished connection.
                output.clear();
                if conn.poll_transmit(&mut output, MAX_WRITE, now) > 0 {
                    if write_tx.send(output.split()).is_err() {
                        let e = std::io::Error::new(
                            std::io::ErrorKind::BrokenPipe,
                            "the writer thread is gone",
                        );
                        role.on_transport_error(&e);
                        return Some(e);
                    }
                    writing = true;
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        if let Some((_, give_up)) = &write_failed
            && (eof || conn.is_closed() || now >= *give_up)
            && let Some((e, _)) = write_failed.take()
        {
            // What the peer sent before it went has been applied (a GOAWAY
            // refused the streams it never processed); the rest fail with
            // the write's error.
            role.on_transport_error(&e);
            conn.recv_eof(now);
            while let Some(event) = conn.poll_event() {
                role.on_event(conn, event, now);
            }
            return Some(e);
        }
        if conn.is_closed() && !writing {
            return None;
        }
        while !eof
            && credits_out < READ_CREDITS
            && (conn.wants_read() || write_failed.is_some())
            && input.len() < MAX_BUFFERED_INPUT
            && credit_tx.send(()).is_ok()
        {
            credits_out += 1;
        }
        role.before_wait(conn);
        if role.budget().is_lent() {
            if role.budget().register(waker) {
                continue;
            }
        } else {
            role.budget().unregister();
        }
        let wake_at = match (conn.poll_timeout(), &write_failed) {
            (Some(at), Some((_, give_up))) => Some(at.min(*give_up)),
            (at, failed) => at.or(failed.as_ref().map(|(_, give_up)| *give_up)),
        };
        let msg = match wake_at {
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(now)) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => {
                    conn.handle_timeout(Instant::now());
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            },
            None => match rx.recv() {
                Ok(msg) => msg,
                Err(_) => return None,
            },
        };
        match msg {
            Msg::Read(chunk) => {
                credits_out = credits_out.saturating_sub(1);
                if input.is_empty() {
                    input = chunk;
                } else {
                    input.extend_from_slice(&chunk);
                }
            }
            Msg::Eof => {
                eof = true;
                credits_out = 0;
                // Whatever was read before the end still counts.
                let now = Instant::now();
                conn.recv(&mut input, now);
                conn.recv_eof(now);
            }
            Msg::Written(Ok(buf)) => {
                writing = false;
                output = buf;
            }
            Msg::Written(Err(e)) => {
                // Nothing more is written, but what the peer sent before
                // the failure still counts: read on (see above).
                writing = false;
                if write_failed.is_none() {
                    write_failed = Some((e, Instant::now() + READ_AFTER_WRITE_FAILED));
                }
            }
            Msg::Shutdown => conn.shutdown(Instant::now()),
            Msg::Cmd(cmd) => role.on_command(conn, cmd, Instant::now()),
            Msg::Credit => credit_msg = true,
        }
    }
}

/// The rest of a message to send on one stream: body bytes the connection
/// did not take yet, then trailers.
#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    body: Bytes,
    trailers: Vec<HeaderField>,
    done: bool,
}

impl Outgoing {
    /// A message body and trailers to send after headers that did not end
    /// the stream.
    pub(crate) fn new(body: Bytes, trailers: Vec<HeaderField>) -> Self {
        Outgoing {
            body,
            trailers,
            done: false,
        }
    }

    /// Nothing to send: the headers ended the stream.
    pub(crate) fn finished() -> Self {
        Outgoing {
            done: true,
            ..Outgoing::default()
        }
    }

    /// Body bytes not yet handed to the connection.
    pub(crate) fn waiting(&self) -> usize {
        self.body.len()
    }

    /// Nothing is left to hand to the connection.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Hands the connection as much as it takes. Call again on
    /// [`Event::Writable`](crate::proto::Event::Writable) until [`is_done`](Self::is_done).
    pub(crate) fn pump(&mut self, conn: &mut Connection, id: StreamId) -> Result<(), UserError> {
        while !self.done {
            if !self.body.is_empty() {
                let end = self.trailers.is_empty();
                let taken = conn.send_data(id, self.body.clone(), end)?;
                let _ = self.body.split_to(taken.min(self.body.len()));
                if !self.body.is_empty() {
                    return Ok(()); // wait for Writable
                }
                self.done = end;
            } else if !self.trailers.is_empty() {
                conn.send_built_trailers(id, std::mem::take(&mut self.trailers))?;
                self.done = true;
            } else {
                // Headers without END_STREAM and nothing after them.
                conn.send_data(id, Bytes::new(), true)?;
                self.done = true;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_size_follows_what_reads_bring() {
        // Full reads double it up to the cap; small ones halve it down to
        // the floor; others keep it.
        assert_eq!(next_read_size(FIRST_READ, FIRST_READ), 2 * FIRST_READ);
        assert_eq!(next_read_size(READ_CHUNK, READ_CHUNK), READ_CHUNK);
        assert_eq!(next_read_size(4 * FIRST_READ, 100), 2 * FIRST_READ);
        assert_eq!(next_read_size(FIRST_READ, 100), FIRST_READ);
        assert_eq!(
            next_read_size(4 * FIRST_READ, 2 * FIRST_READ),
            4 * FIRST_READ
        );
    }
}
