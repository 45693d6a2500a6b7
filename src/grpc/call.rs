//! One call's state over its HTTP/2 stream: the send side (framed messages
//! waiting for room, then END_STREAM or trailers) and the receive side
//! (deframing, decompression, flow-control release accounting). Shared by
//! both roles; `client.rs` and `server.rs` hold the role-specific rules.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::codec::{Deframer, Encoding, PREFIX_LEN};
use super::metadata::{Metadata, base64_encode};
use super::status::{Code, Status, decode_message, encode_message};
use super::{CallError, CallId};
use crate::frame::StreamId;
use crate::hpack::HeaderField;
use crate::proto::Connection;

/// How the send side ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// More messages may come.
    Open,
    /// Client: an empty END_STREAM DATA once the queue is empty.
    CloseSend,
    /// Server: these trailers once the queue is empty.
    Trailers(Vec<HeaderField>),
    /// The end went to the HTTP/2 layer.
    Sent,
}

/// Messages waiting for the HTTP/2 send buffer.
#[derive(Debug)]
pub(crate) struct SendSide {
    queue: VecDeque<Bytes>,
    queued: usize,
    pub end: End,
    /// `send_message` said Busy: report Writable when there is room.
    pub want_writable: bool,
    pub encoding: Encoding,
}

impl SendSide {
    pub fn new() -> Self {
        SendSide {
            queue: VecDeque::new(),
            queued: 0,
            end: End::Open,
            want_writable: false,
            encoding: Encoding::Identity,
        }
    }

    /// Frames and queues one message (bounded by `max_queue`, but one is
    /// always taken when the queue is empty).
    pub fn push(
        &mut self,
        message: Bytes,
        compress: bool,
        max_queue: usize,
        max_message: usize,
    ) -> Result<(), CallError> {
        if self.end != End::Open {
            return Err(CallError::SendClosed);
        }
        if self.queued > 0 && self.queued + message.len() > max_queue {
            self.want_writable = true;
            return Err(CallError::Busy);
        }
        let compress = compress && self.encoding != Encoding::Identity;
        let payload = if compress {
            self.encoding
                .compress(&message)
                .map_err(CallError::Compression)?
        } else {
            message
        };
        if payload.len() > max_message || u32::try_from(payload.len()).is_err() {
            return Err(CallError::MessageTooLarge {
                len: payload.len(),
                max: max_message,
            });
        }
        let mut prefix = BytesMut::with_capacity(PREFIX_LEN);
        prefix.put_u8(u8::from(compress));
        prefix.put_u32(payload.len() as u32); // checked above
        self.queued += PREFIX_LEN + payload.len();
        self.queue.push_back(prefix.freeze());
        if !payload.is_empty() {
            self.queue.push_back(payload);
        }
        Ok(())
    }

    /// Bytes waiting.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Hands queued bytes to the HTTP/2 layer while it takes them, then the
    /// end. Returns whether anything was taken.
    pub fn pump(&mut self, conn: &mut Connection, id: StreamId) -> bool {
        let mut moved = false;
        while let Some(front) = self.queue.front_mut() {
            let Ok(n) = conn.send_data(id, front.clone(), false) else {
                self.drop_all();
                return moved;
            };
            moved |= n > 0;
            self.queued -= n;
            if n < front.len() {
                front.advance(n);
                return moved;
            }
            self.queue.pop_front();
        }
        match std::mem::replace(&mut self.end, End::Sent) {
            End::Open => self.end = End::Open,
            End::CloseSend => {
                let _ = conn.send_data(id, Bytes::new(), true);
                moved = true;
            }
            End::Trailers(fields) => {
                let _ = conn.send_trailers(id, fields);
                moved = true;
            }
            End::Sent => {}
        }
        moved
    }

    /// Drops everything queued (the stream is gone).
    pub fn drop_all(&mut self) {
        self.queue.clear();
        self.queued = 0;
        self.end = End::Sent;
    }
}

/// Deframing and release accounting of received DATA.
#[derive(Debug)]
pub(crate) struct RecvSide {
    deframer: Deframer,
    pub encoding: Encoding,
    max: usize,
    /// Received bytes not yet released to the HTTP/2 layer.
    held: usize,
    /// Of those, bytes of whole messages waiting in the event queue.
    in_queue: usize,
    /// Of those, bytes of the message being reassembled.
    pub partial_held: usize,
}

/// A received message and the DATA bytes it holds (released when it is polled).
pub(crate) struct Received {
    pub data: Bytes,
    pub compressed: bool,
    pub wire_len: usize,
}

impl RecvSide {
    pub fn new(max: usize) -> Self {
        RecvSide {
            deframer: Deframer::new(max),
            encoding: Encoding::Identity,
            max,
            held: 0,
            in_queue: 0,
            partial_held: 0,
        }
    }

    /// Takes a DATA chunk. Returns the whole messages it completed and how
    /// many bytes to release now. Bytes of whole messages are released when
    /// the application polls them. Bytes of the message being reassembled
    /// are held up to `hold` and released past it, so a message larger than
    /// the window cannot stall, while every queued message holds at least
    /// min(its size, `hold`) bytes: what the queue holds stays within
    /// max(window, 2 × message) however the peer cuts its frames.
    pub fn on_data(
        &mut self,
        data: &[u8],
        hold: usize,
    ) -> (Vec<Received>, usize, Result<(), Status>) {
        self.held += data.len();
        self.deframer.push(data);
        let mut out = Vec::new();
        let mut result = Ok(());
        loop {
            match self.deframer.next_message() {
                Ok(Some(raw)) => {
                    let wire_len = PREFIX_LEN + raw.data.len();
                    let data = if raw.compressed {
                        if self.encoding == Encoding::Identity {
                            result = Err(Status::new(
                                Code::INTERNAL,
                                "grpc: compressed flag set with identity or no grpc-encoding",
                            ));
                            break;
                        }
                        match self.encoding.decompress(&raw.data, self.max) {
                            Ok(d) => d,
                            Err(s) => {
                                result = Err(s);
                                break;
                            }
                        }
                    } else {
                        raw.data
                    };
                    out.push(Received {
                        data,
                        compressed: raw.compressed,
                        wire_len,
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    result = Err(e.to_status());
                    break;
                }
            }
        }
        // Bytes held for no queued message: the partial message held so far
        // and this chunk, i.e. the rest of that message, whole messages,
        // then the head of a new partial one. The completed messages take
        // theirs (latest first); the partial one keeps up to `hold`.
        let new = self.held - self.in_queue;
        let partial = self.deframer.buffered().min(new);
        let mut keep = new - partial;
        for m in out.iter_mut().rev() {
            let h = m.wire_len.min(keep);
            keep -= h;
            m.wire_len = h;
        }
        let assigned: usize = out.iter().map(|m| m.wire_len).sum();
        self.partial_held = partial.min(hold);
        self.in_queue += assigned;
        self.held = self.in_queue + self.partial_held;
        (out, new - assigned - self.partial_held, result)
    }

    /// A queued message of `wire_len` bytes was polled.
    pub fn on_polled(&mut self, wire_len: usize) {
        self.held = self.held.saturating_sub(wire_len);
        self.in_queue = self.in_queue.saturating_sub(wire_len);
    }

    /// END_STREAM arrived: an error if a message was cut short.
    pub fn finish(&self) -> Result<(), Status> {
        self.deframer.finish().map_err(|e| e.to_status())
    }
}

/// One call, either role.
#[derive(Debug)]
pub(crate) struct Call {
    pub id: CallId,
    pub send: SendSide,
    pub recv: RecvSide,
    pub deadline: Option<Instant>,
    /// Server: response headers sent. Client: response headers received.
    pub headers: bool,
    /// The peer sent END_STREAM.
    pub remote_done: bool,
    /// Server: the request's path.
    pub path: String,
}

impl Call {
    pub fn new(stream: StreamId, max_recv: usize, deadline: Option<Instant>) -> Self {
        Call {
            id: CallId(stream),
            send: SendSide::new(),
            recv: RecvSide::new(max_recv),
            deadline,
            headers: false,
            remote_done: false,
            path: String::new(),
        }
    }
}

/// `grpc-status`, `grpc-message`, `grpc-status-details-bin`, then metadata.
pub(crate) fn status_fields(status: &Status, trailers: &Metadata, out: &mut Vec<HeaderField>) {
    out.push(HeaderField::new(
        "grpc-status",
        status.code().value().to_string(),
    ));
    if !status.message().is_empty() {
        out.push(HeaderField::new(
            "grpc-message",
            encode_message(status.message()),
        ));
    }
    if let Some(d) = status.details() {
        out.push(HeaderField::new(
            "grpc-status-details-bin",
            base64_encode(d),
        ));
    }
    trailers.write_fields(out);
}

/// The status a trailer block carries; UNKNOWN when `grpc-status` is
/// missing or not a number.
pub(crate) fn status_from_fields(fields: &[HeaderField]) -> Status {
    let get = |n: &[u8]| fields.iter().find(|f| f.name == n).map(|f| &f.value);
    let Some(raw) = get(b"grpc-status") else {
        return Status::new(Code::UNKNOWN, "grpc: server sent no grpc-status");
    };
    let Some(code) = Code::parse(raw) else {
        return Status::new(
            Code::UNKNOWN,
            format!(
                "grpc: invalid grpc-status {:?}",
                String::from_utf8_lossy(raw)
            ),
        );
    };
    let message = get(b"grpc-message")
        .map(|m| decode_message(m))
        .unwrap_or_default();
    let mut status = Status::new(code, message);
    if let Some(d) =
        get(b"grpc-status-details-bin").and_then(|d| super::metadata::base64_decode(d.trim_ascii()))
    {
        status = status.with_details(Bytes::from(d));
    }
    status
}

/// Whether a content-type is gRPC's: `application/grpc` or
/// `application/grpc+<subtype>` / `;<params>`.
pub(crate) fn is_grpc_content_type(ct: &[u8]) -> bool {
    match ct.strip_prefix(b"application/grpc") {
        Some(rest) => rest.is_empty() || rest[0] == b'+' || rest[0] == b';',
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::RecvSide;

    /// However the peer cuts its frames (here: each message's last byte
    /// alone), a completed message holds min(its size, `hold`) bytes, so a
    /// queue of unread messages closes the window.
    #[test]
    fn a_completed_message_holds_at_least_min_size_hold() {
        let hold = 8 * 1024;
        for len in [100usize, 8 * 1024, 64 * 1024] {
            let mut recv = RecvSide::new(1 << 20);
            let mut wire = vec![0u8, 0, 0, 0, 0];
            wire[1..5].copy_from_slice(&(len as u32).to_be_bytes());
            wire.resize(5 + len, 7);
            let (last, head) = wire.split_last().unwrap();
            let (msgs, released, r) = recv.on_data(head, hold);
            assert!(msgs.is_empty() && r.is_ok());
            assert_eq!(released, head.len() - head.len().min(hold));
            let (msgs, released_tail, r) = recv.on_data(&[*last], hold);
            assert!(r.is_ok());
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].wire_len, (len + 5).min(hold + 1));
            assert_eq!(released + released_tail + msgs[0].wire_len, len + 5);
            assert_eq!(recv.partial_held, 0);
        }
    }
}
