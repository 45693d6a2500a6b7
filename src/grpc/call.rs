//! One call's state over its HTTP/2 stream: the send side (framed messages
//! waiting for room, then END_STREAM or trailers) and the receive side
//! (deframing, decompression, and what each message holds: its unreleased
//! credit and its early-released, budget-charged bytes). Shared by both
//! roles; `client.rs` and `server.rs` hold the role-specific rules.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::codec::{Deframer, Encoding, PREFIX_LEN};
use super::metadata::{Metadata, base64_encode};
use super::status::{Code, Status, decode_message, encode_message};
use super::{CallError, CallId, Hold};
use crate::frame::StreamId;
use crate::hpack::HeaderField;
use crate::proto::{Connection, MemoryBudget};

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

/// Messages waiting for the HTTP/2 send buffer. What waits here is
/// charged to the connection's memory budget until the core takes it.
#[derive(Debug)]
pub(crate) struct SendSide {
    queue: VecDeque<Bytes>,
    queued: usize,
    pub end: End,
    /// `send_message` said Busy: report Writable when there is room.
    pub want_writable: bool,
    pub encoding: Encoding,
    budget: MemoryBudget,
}

impl SendSide {
    pub(crate) fn new(budget: MemoryBudget) -> Self {
        SendSide {
            queue: VecDeque::new(),
            queued: 0,
            end: End::Open,
            want_writable: false,
            encoding: Encoding::Identity,
            budget,
        }
    }

    /// Frames and queues one message. Refused (Busy) past `max_queue`, or
    /// when the connection's budget has no room for it; but one is always
    /// taken when the queue is empty, so every call can make progress.
    pub(crate) fn push(
        &mut self,
        message: Bytes,
        compress: bool,
        max_queue: usize,
        max_message: usize,
    ) -> Result<(), CallError> {
        if self.end != End::Open {
            return Err(CallError::SendClosed);
        }
        if self.queued > 0
            && (self.queued + message.len() > max_queue
                || !self.budget.has_room(PREFIX_LEN + message.len()))
        {
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
        self.budget.charge(PREFIX_LEN + payload.len());
        // The prefix is its own small chunk: the payload is never copied.
        self.queue.push_back(prefix.freeze());
        if !payload.is_empty() {
            self.queue.push_back(payload);
        }
        Ok(())
    }

    /// Bytes waiting.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Hands queued bytes to the HTTP/2 layer while it takes them, then the
    /// end. Returns whether anything was taken.
    pub(crate) fn pump(&mut self, conn: &mut Connection, id: StreamId) -> bool {
        let mut moved = false;
        while let Some(front) = self.queue.front_mut() {
            let Ok(n) = conn.send_data(id, front.clone(), false) else {
                self.drop_all();
                return moved;
            };
            moved |= n > 0;
            self.queued -= n;
            self.budget.uncharge(n);
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
    pub(crate) fn drop_all(&mut self) {
        self.queue.clear();
        self.budget.uncharge(self.queued);
        self.queued = 0;
        self.end = End::Sent;
    }
}

impl Drop for SendSide {
    fn drop(&mut self) {
        self.budget.uncharge(self.queued);
    }
}

/// Deframing of received DATA, and what the message in assembly holds.
#[derive(Debug)]
pub(crate) struct RecvSide {
    deframer: Deframer,
    pub encoding: Encoding,
    max: usize,
    /// Bytes of the message in assembly received so far (prefix included).
    pub partial: usize,
    /// Of those, bytes whose flow-control credit is still withheld.
    pub partial_unreleased: usize,
    /// Of those, bytes whose credit went back early: charged to the
    /// connection's budget until the message is dropped.
    pub partial_charged: usize,
    /// The message in assembly's place in the endpoint's age order.
    pub seq: Option<u64>,
}

/// A received message and what it holds (given back when it is dropped,
/// or when it is polled with `poll_event`).
pub(crate) struct Received {
    pub data: Bytes,
    pub compressed: bool,
    pub hold: Hold,
}

impl RecvSide {
    pub(crate) fn new(max: usize) -> Self {
        RecvSide {
            deframer: Deframer::new(max),
            encoding: Encoding::Identity,
            max,
            partial: 0,
            partial_unreleased: 0,
            partial_charged: 0,
            seq: None,
        }
    }

    /// Takes a DATA chunk. Returns the whole messages it completed, each
    /// with what it holds: the bytes received for it whose credit is still
    /// withheld, and those released early (charged). The bytes of the next
    /// message in assembly are left withheld here
    /// ([`partial_unreleased`](Self::partial_unreleased)): the endpoint
    /// decides which to release early.
    pub(crate) fn on_data(&mut self, data: Bytes) -> (Vec<Received>, Result<(), Status>) {
        let mut left = data.len();
        self.deframer.push_bytes(data);
        let mut out = Vec::new();
        let mut result = Ok(());
        loop {
            match self.deframer.next_message() {
                Ok(Some(raw)) => {
                    let wire_len = PREFIX_LEN + raw.data.len();
                    let from_chunk = wire_len - self.partial;
                    debug_assert!(from_chunk <= left);
                    left = left.saturating_sub(from_chunk);
                    let hold = Hold {
                        unreleased: self.partial_unreleased + from_chunk,
                        charged: self.partial_charged,
                    };
                    (self.partial, self.partial_unreleased, self.partial_charged) = (0, 0, 0);
                    let data = if raw.compressed {
                        let decoded = if self.encoding == Encoding::Identity {
                            Err(Status::new(
                                Code::INTERNAL,
                                "grpc: compressed flag set with identity or no grpc-encoding",
                            ))
                        } else {
                            self.encoding.decompress(&raw.data, self.max)
                        };
                        match decoded {
                            Ok(d) => d,
                            Err(s) => {
                                // Not delivered: the call's end gives it back.
                                self.partial_unreleased += hold.unreleased;
                                self.partial_charged += hold.charged;
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
                        hold,
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    result = Err(e.to_status());
                    break;
                }
            }
        }
        self.partial += left;
        self.partial_unreleased += left;
        debug_assert!(result.is_err() || self.partial == self.deframer.buffered());
        (out, result)
    }

    /// Releases `n` withheld bytes of the message in assembly early: they
    /// are charged from now on.
    pub(crate) fn release_early(&mut self, n: usize) {
        self.partial_unreleased -= n;
        self.partial_charged += n;
    }

    /// The wire size of the message in assembly, as far as known: its
    /// prefix's length once read, else what has arrived.
    pub(crate) fn expected(&self) -> usize {
        self.deframer
            .expected()
            .map_or(self.partial, |n| n.max(self.partial))
    }

    /// END_STREAM arrived: an error if a message was cut short.
    pub(crate) fn finish(&self) -> Result<(), Status> {
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
    /// Whole messages not handed to the application yet: the budget is
    /// held by what the application and the peer have not taken.
    pub parked: VecDeque<(Bytes, bool, Hold)>,
    /// Server: the client half-closed after the parked messages.
    pub half_closed_parked: bool,
    /// Server: the response a request handed to the application will
    /// become, counted from the moment it is handed over until the call
    /// sends (or ends): the largest such request's wire size.
    pub reserved: usize,
}

impl Call {
    pub(crate) fn new(
        stream: StreamId,
        max_recv: usize,
        deadline: Option<Instant>,
        budget: MemoryBudget,
    ) -> Self {
        Call {
            id: CallId(stream),
            send: SendSide::new(budget),
            recv: RecvSide::new(max_recv),
            deadline,
            headers: false,
            remote_done: false,
            path: String::new(),
            parked: VecDeque::new(),
            half_closed_parked: false,
            reserved: 0,
        }
    }
}

/// `grpc-status`, `grpc-message`, `grpc-status-details-bin`, then metadata.
pub(crate) fn status_fields(status: &Status, trailers: &Metadata, out: &mut Vec<HeaderField>) {
    out.push(HeaderField::new("grpc-status", code_text(status.code())));
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

/// A code as `grpc-status` text: the 17 codes gRPC defines without an
/// allocation (they end every call), any other code formatted.
fn code_text(code: Code) -> Bytes {
    const TEXT: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    match TEXT.get(code.value() as usize) {
        Some(text) => Bytes::from_static(text.as_bytes()),
        None => Bytes::from(code.value().to_string()),
    }
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
    use bytes::Bytes;

    use super::RecvSide;

    /// However the peer cuts its frames, each completed message holds
    /// exactly its wire bytes, and the next message's head stays withheld.
    #[test]
    fn each_message_holds_its_own_wire_bytes_however_the_frames_are_cut() {
        for len in [100usize, 8 * 1024, 64 * 1024] {
            let mut wire = vec![0u8, 0, 0, 0, 0];
            wire[1..5].copy_from_slice(&(len as u32).to_be_bytes());
            wire.resize(5 + len, 7);
            let mut two = wire.clone();
            two.extend_from_slice(&wire);
            for cut in [1usize, 3, 5, 6, 1000, len + 4, len + 5, len + 7] {
                let cut = cut.min(two.len());
                let mut recv = RecvSide::new(1 << 20);
                let (a, ra) = recv.on_data(Bytes::copy_from_slice(&two[..cut]));
                assert!(ra.is_ok());
                assert_eq!(recv.partial, cut - a.len() * (len + 5));
                // Half of the partial bytes released early.
                let early = recv.partial_unreleased / 2;
                recv.release_early(early);
                let (b, rb) = recv.on_data(Bytes::copy_from_slice(&two[cut..]));
                assert!(rb.is_ok());
                let msgs: Vec<_> = a.into_iter().chain(b).collect();
                assert_eq!(msgs.len(), 2, "cut {cut}");
                let total: usize = msgs
                    .iter()
                    .map(|m| m.hold.unreleased + m.hold.charged)
                    .sum();
                assert_eq!(total, 2 * (len + 5));
                let charged: usize = msgs.iter().map(|m| m.hold.charged).sum();
                assert_eq!(charged, early);
                assert_eq!(
                    (recv.partial, recv.partial_unreleased, recv.partial_charged),
                    (0, 0, 0)
                );
            }
        }
    }
}
