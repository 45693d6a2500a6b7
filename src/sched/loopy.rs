//! The writer: grpc-go's loopyWriter as a sans-IO state machine.
//!
//! [`Loopy::poll_transmit`] writes, in this order: bytes left over from a
//! frame that did not fit last time, every queued control item, then DATA
//! round-robin over the streams that have both data and window, one frame per
//! stream per turn, each at most min(peer MAX_FRAME_SIZE, stream window,
//! connection window). A stream out of window leaves the rotation without
//! blocking the others and rejoins on WINDOW_UPDATE. Trailers and END_STREAM
//! go out after the stream's last byte of data.
//!
//! Each stream's queued DATA is capped, and so is the total across streams:
//! [`Loopy::push_data`] takes what fits and reports how much; the stream is
//! reported [`Written::Writable`] once room frees up. Nothing here grows with
//! what the peer does, only with what the application queued within its caps.

use std::collections::{HashMap, VecDeque};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::control::{ControlItem, ControlQueue};
use super::transmit::TransmitBuf;
use super::window::{DEFAULT_WINDOW, SendWindow, WindowOverflow};
use super::{IdMap, SendError};
use crate::frame::{self, FrameType, Head, StreamId};
use crate::hpack::{self, HeaderField};

/// The smallest DATA payload written when the caller's buffer has less room
/// than that: the rest of the frame waits for the next `poll_transmit`.
const MIN_SPLIT_PAYLOAD: usize = 1024;

/// Capacity of the [`Written`] list kept between calls; a burst past it
/// (say 100 HEADERS in one call) does not pin its memory.
const KEEP_WRITTEN: usize = 64;

/// Emptied chunk queues kept for the next streams (a queue allocates on its
/// first chunk, and most streams queue one or two): at most this many, each
/// of the smallest capacity a queue allocates (4 chunks), 2 KiB in all.
const SPARE_QUEUES: usize = 16;
const SPARE_QUEUE_CAPACITY: usize = 4;

/// Something the writer did that the connection must know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Written {
    /// A HEADERS block (request/response headers or trailers) went out.
    Headers {
        /// The stream.
        stream_id: StreamId,
        /// Whether it carried END_STREAM.
        end_stream: bool,
    },
    /// A DATA frame with END_STREAM went out.
    EndOfData {
        /// The stream.
        stream_id: StreamId,
    },
    /// RST_STREAM went out.
    Reset {
        /// The stream.
        stream_id: StreamId,
    },
    /// GOAWAY went out.
    GoAway {
        /// Its last stream id.
        last_stream_id: StreamId,
    },
    /// A stream whose writer was refused room has room again.
    Writable {
        /// The stream.
        stream_id: StreamId,
    },
}

/// How a stream's send side ends once its data is out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    Open,
    EndStream,
    /// With the trailers kept in [`Loopy::trailers`] (out of line: few streams
    /// have them queued at once, and every open stream pays for its size).
    Trailers,
    /// The end went out. The stream is kept only for its window: the peer may
    /// still send WINDOW_UPDATEs (half-closed (local)), and one that overflows
    /// is a stream error all the same (RFC 9113 §6.9.1).
    Sent,
}

#[derive(Debug)]
struct OutStream {
    chunks: VecDeque<Bytes>,
    queued: usize,
    window: SendWindow,
    end: Finish,
    /// Its HEADERS went out: DATA may follow.
    established: bool,
    /// In the round-robin list.
    active: bool,
    /// `push_data` took less than offered; report Writable when room frees.
    blocked: bool,
}

impl OutStream {
    /// Bytes its window would let out beyond what is queued already.
    fn sendable(&self) -> usize {
        usize::try_from(self.window.available())
            .unwrap_or(usize::MAX)
            .saturating_sub(self.queued)
    }

    fn can_write(&self) -> bool {
        self.established
            && ((self.queued > 0 && self.window.available() > 0)
                || (self.queued == 0 && matches!(self.end, Finish::EndStream | Finish::Trailers)))
    }
}

/// Limits on what the writer holds for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendLimits {
    /// DATA bytes queued per stream (grpc-go's write quota is 64 KiB).
    pub stream_buffer: usize,
    /// DATA bytes queued across all streams.
    pub connection_buffer: usize,
}

/// The send side of a connection: control queue, per-stream queues and windows, HPACK encoder.
#[derive(Debug)]
pub(crate) struct Loopy {
    control: ControlQueue,
    streams: IdMap<OutStream>,
    /// Trailers of the streams whose end is [`Finish::Trailers`].
    trailers: IdMap<Vec<HeaderField>>,
    rotation: VecDeque<StreamId>,
    blocked: Vec<StreamId>,
    conn_window: SendWindow,
    max_frame_size: u32,
    initial_window: u32,
    limits: SendLimits,
    queued_data: usize,
    encoder: hpack::Encoder,
    overflow: BytesMut,
    written: Vec<Written>,
    /// Emptied chunk queues for the next streams to queue DATA.
    spare_queues: Vec<VecDeque<Bytes>>,
    /// DATA payload bytes written since creation.
    data_written: usize,
}

impl Loopy {
    /// A writer with RFC defaults for the peer's settings (they change when its SETTINGS arrive).
    pub(crate) fn new(limits: SendLimits, header_table_size: usize) -> Self {
        Loopy {
            control: ControlQueue::new(),
            streams: HashMap::default(),
            trailers: HashMap::default(),
            rotation: VecDeque::new(),
            blocked: Vec::new(),
            conn_window: SendWindow::new(DEFAULT_WINDOW),
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            initial_window: DEFAULT_WINDOW,
            limits,
            queued_data: 0,
            encoder: hpack::Encoder::new(header_table_size),
            overflow: BytesMut::new(),
            written: Vec::new(),
            spare_queues: Vec::new(),
            data_written: 0,
        }
    }

    /// The control queue, to push items and read its counts.
    pub(crate) fn control(&mut self) -> &mut ControlQueue {
        &mut self.control
    }

    /// The control queue, read only.
    pub(crate) fn control_ref(&self) -> &ControlQueue {
        &self.control
    }

    /// Registers a stream: its send window starts at the peer's current
    /// SETTINGS_INITIAL_WINDOW_SIZE and follows every WINDOW_UPDATE and
    /// settings change from now on. It sends no DATA until its HEADERS are
    /// written. Register it when the stream comes to exist (we open it, or
    /// the peer does), not when the application first answers on it, so
    /// that WINDOW_UPDATEs received meanwhile are counted.
    pub(crate) fn open_stream(&mut self, id: StreamId) {
        self.streams.entry(id).or_insert_with(|| OutStream {
            chunks: VecDeque::new(),
            queued: 0,
            window: SendWindow::new(self.initial_window),
            end: Finish::Open,
            established: false,
            active: false,
            blocked: false,
        });
    }

    /// Forgets a stream the connection closed (both ends went out, or it was
    /// reset): from now on its WINDOW_UPDATEs are nobody's business. Control
    /// items already queued for it (a final response before a reset) still
    /// go out; use [`cancel_stream`](Loopy::cancel_stream) to drop them.
    pub(crate) fn close_stream(&mut self, id: StreamId) {
        if !self.trailers.is_empty() {
            self.trailers.remove(&id);
        }
        if let Some(stream) = self.streams.remove(&id) {
            self.queued_data -= stream.queued;
            self.recycle_queue(stream.chunks);
        }
    }

    /// Keeps an emptied chunk queue for a later stream, within the bounds.
    fn recycle_queue(&mut self, mut queue: VecDeque<Bytes>) {
        let capacity = queue.capacity();
        if capacity > 0
            && capacity <= SPARE_QUEUE_CAPACITY
            && self.spare_queues.len() < SPARE_QUEUES
        {
            queue.clear();
            self.spare_queues.push(queue);
        }
    }

    /// Whether the writer still holds state for this stream.
    #[cfg(test)]
    pub(crate) fn has_stream(&self, id: StreamId) -> bool {
        self.streams.contains_key(&id)
    }

    /// Queues DATA; returns how many bytes of `data` were taken (all, or what
    /// the stream and connection caps allow). `end_stream` applies only when
    /// everything was taken.
    pub(crate) fn push_data(
        &mut self,
        id: StreamId,
        mut data: Bytes,
        end_stream: bool,
    ) -> Result<usize, SendError> {
        let limits = self.limits;
        let room_conn = limits.connection_buffer.saturating_sub(self.queued_data);
        let stream = self.streams.get_mut(&id).ok_or(SendError::UnknownStream)?;
        if stream.end != Finish::Open {
            return Err(SendError::AlreadyEnded);
        }
        // The connection-wide cap never keeps a stream from queueing what
        // its own window lets it send now: bytes parked on streams the peer
        // gives no window (a server directing its credit to one stream)
        // must not starve the stream it is waiting for.
        let room = limits
            .stream_buffer
            .saturating_sub(stream.queued)
            .min(room_conn.max(stream.sendable()));
        let taken = data.len().min(room);
        if taken < data.len() {
            data.truncate(taken);
            if !stream.blocked {
                // Listed once however often the application retries before Writable.
                stream.blocked = true;
                self.blocked.push(id);
            }
        } else if end_stream {
            stream.end = Finish::EndStream;
        }
        if !data.is_empty() {
            stream.queued += taken;
            self.queued_data += taken;
            if stream.chunks.capacity() == 0
                && let Some(spare) = self.spare_queues.pop()
            {
                stream.chunks = spare;
            }
            stream.chunks.push_back(data);
        }
        self.schedule(id);
        Ok(taken)
    }

    /// Queues trailers to go after the stream's data, with END_STREAM.
    pub(crate) fn push_trailers(
        &mut self,
        id: StreamId,
        fields: Vec<HeaderField>,
    ) -> Result<(), SendError> {
        let stream = self.streams.get_mut(&id).ok_or(SendError::UnknownStream)?;
        if stream.end != Finish::Open {
            return Err(SendError::AlreadyEnded);
        }
        stream.end = Finish::Trailers;
        self.trailers.insert(id, fields);
        self.schedule(id);
        Ok(())
    }

    /// Cancels a stream (it is being reset, or was never sent): drops its
    /// queued data and any control item not yet written for it (its HEADERS,
    /// WINDOW_UPDATEs), since nothing but RST_STREAM and PRIORITY may follow a
    /// reset. Returns the DATA bytes dropped.
    pub(crate) fn cancel_stream(&mut self, id: StreamId) -> usize {
        self.control.retain(|item| match item {
            ControlItem::Headers { stream_id, .. } => *stream_id != id,
            ControlItem::WindowUpdate(w) => w.stream_id != id,
            _ => true,
        });
        self.trailers.remove(&id);
        match self.streams.remove(&id) {
            Some(stream) => {
                self.queued_data -= stream.queued;
                stream.queued
            }
            None => 0,
        }
    }

    /// Applies a WINDOW_UPDATE from the peer (stream 0 is the connection).
    pub(crate) fn window_update(
        &mut self,
        id: StreamId,
        increment: u32,
    ) -> Result<(), WindowOverflow> {
        if id.is_zero() {
            self.conn_window.increase(increment)?;
            let ready: Vec<StreamId> = self.streams.keys().copied().collect();
            for id in ready {
                self.schedule(id);
            }
            return Ok(());
        }
        // A stream whose end went out keeps its window (and its overflow
        // check) until the connection closes the stream.
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.window.increase(increment)?;
            let wake = stream.blocked && stream.sendable() > 0;
            self.schedule(id);
            if wake {
                self.wake_blocked();
            }
        }
        Ok(())
    }

    /// Applies a change of the peer's SETTINGS_INITIAL_WINDOW_SIZE to every
    /// stream (§6.9.2); windows may go negative. Overflow is a connection
    /// FLOW_CONTROL_ERROR.
    pub(crate) fn set_initial_window(&mut self, size: u32) -> Result<(), WindowOverflow> {
        let delta = i64::from(size) - i64::from(self.initial_window);
        for stream in self.streams.values_mut() {
            stream.window.apply_delta(delta)?;
        }
        self.initial_window = size;
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            self.schedule(id);
        }
        Ok(())
    }

    /// The peer's SETTINGS_MAX_FRAME_SIZE.
    pub(crate) fn set_max_frame_size(&mut self, size: u32) {
        self.max_frame_size = size;
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE.
    pub(crate) fn set_peer_header_table_size(&mut self, size: usize) {
        self.encoder.set_peer_max_table_size(size);
    }

    /// The connection send window.
    pub(crate) fn connection_window(&self) -> i64 {
        self.conn_window.get()
    }

    /// A stream's send window, if the writer knows the stream.
    pub(crate) fn stream_window(&self, id: StreamId) -> Option<i64> {
        self.streams.get(&id).map(|s| s.window.get())
    }

    /// DATA bytes queued for a stream.
    pub(crate) fn stream_queued(&self, id: StreamId) -> usize {
        self.streams.get(&id).map_or(0, |s| s.queued)
    }

    /// DATA bytes queued across all streams.
    pub(crate) fn queued_data(&self) -> usize {
        self.queued_data
    }

    /// DATA payload bytes written so far (for progress tracking).
    pub(crate) fn data_written(&self) -> usize {
        self.data_written
    }

    /// Streams the writer holds (with data to send, or only a window to
    /// track until the connection closes them).
    pub(crate) fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Whether all the DATA queued waits only on its streams' own windows:
    /// the connection window is open, and every stream with DATA queued has
    /// sent its HEADERS and has a shut window. The peer reads the
    /// connection and holds those streams back (RFC 9113 §5.2), as a
    /// browser does with a paused download.
    pub(crate) fn held_by_stream_windows(&self) -> bool {
        self.queued_data > 0
            && self.conn_window.available() > 0
            && self
                .streams
                .values()
                .filter(|s| s.queued > 0)
                .all(|s| s.established && s.window.available() == 0)
    }

    /// Whether anything is waiting that could be written now.
    pub(crate) fn wants_write(&self) -> bool {
        let conn_open = self.conn_window.available() > 0;
        !self.overflow.is_empty()
            || !self.control.is_empty()
            || self.rotation.iter().any(|id| {
                self.streams
                    .get(id)
                    .is_some_and(|s| s.can_write() && (s.queued == 0 || conn_open))
            })
    }

    /// Takes what the writer did since the last call.
    #[cfg(test)]
    pub(crate) fn drain_written(&mut self) -> std::vec::Drain<'_, Written> {
        self.written.drain(..)
    }

    /// Takes what the writer did since the last call, as a vector to hand
    /// back with [`recycle_written`](Loopy::recycle_written) once processed
    /// (the caller may call into the writer meanwhile, which `drain_written`
    /// does not allow), so no `poll_transmit` allocates for it.
    pub(crate) fn take_written(&mut self) -> Vec<Written> {
        std::mem::take(&mut self.written)
    }

    /// Returns the vector from [`take_written`](Loopy::take_written), emptied,
    /// to be reused; one a burst made large is freed instead.
    pub(crate) fn recycle_written(&mut self, mut spent: Vec<Written>) {
        spent.clear();
        if self.written.is_empty() && spent.capacity() <= KEEP_WRITTEN {
            self.written = spent;
        }
    }

    /// Puts the stream in the rotation if it has something it can write now.
    fn schedule(&mut self, id: StreamId) {
        if let Some(stream) = self.streams.get_mut(&id)
            && !stream.active
            && stream.can_write()
        {
            stream.active = true;
            self.rotation.push_back(id);
        }
    }

    /// Appends up to `max` bytes of frames to `dst`; returns how many.
    /// (A [`Transmit`](super::transmit::Transmit) takes `max` as a soft
    /// bound: see there.)
    pub(crate) fn poll_transmit<B: TransmitBuf>(&mut self, dst: &mut B, max: usize) -> usize {
        let start = dst.total();
        let limit = start.saturating_add(max);
        if !self.overflow.is_empty() {
            let n = self.overflow.len().min(max);
            dst.scratch().extend_from_slice(&self.overflow[..n]);
            self.overflow.advance(n);
        }
        while dst.total() < limit {
            if let Some(item) = self.control.pop() {
                self.write_control(item, dst.scratch());
            } else if !self.write_data(dst, start, limit) {
                break;
            }
        }
        // A frame that went past the limit keeps its tail for the next call.
        if let Some(tail) = dst.split_past(limit) {
            self.overflow.extend_from_slice(&tail);
        }
        self.wake_blocked();
        dst.total() - start
    }

    fn write_control(&mut self, item: ControlItem, dst: &mut BytesMut) {
        let max = self.max_frame_size;
        // Every item here was built by the connection with valid fields, so
        // encoding cannot fail; a failure would only drop that one frame.
        let _ = match item {
            ControlItem::Preface => {
                dst.extend_from_slice(frame::PREFACE);
                Ok(())
            }
            ControlItem::Settings(s) => s.encode(dst, max),
            ControlItem::SettingsAck => frame::Settings::ack().encode(dst, max),
            ControlItem::Ping(p) => p.encode(dst, max),
            ControlItem::Reset(r) => {
                self.written.push(Written::Reset {
                    stream_id: r.stream_id,
                });
                r.encode(dst, max)
            }
            ControlItem::WindowUpdate(w) => w.encode(dst, max),
            ControlItem::GoAway(g) => {
                self.written.push(Written::GoAway {
                    last_stream_id: g.last_stream_id,
                });
                g.encode(dst, max)
            }
            ControlItem::Headers {
                stream_id,
                fields,
                end_stream,
            } => {
                let result = self.write_headers(stream_id, &fields, end_stream, dst);
                if let Some(stream) = self.streams.get_mut(&stream_id) {
                    stream.established = true;
                }
                if end_stream {
                    self.forget(stream_id);
                } else {
                    self.schedule(stream_id);
                }
                result
            }
        };
    }

    fn write_headers(
        &mut self,
        stream_id: StreamId,
        fields: &[HeaderField],
        end_stream: bool,
        dst: &mut BytesMut,
    ) -> Result<(), frame::EncodeError> {
        self.written.push(Written::Headers {
            stream_id,
            end_stream,
        });
        // The block is encoded in place, after room for the frame header,
        // which is filled in once the block's length is known: no copy of the
        // block when it fits one frame, as it nearly always does.
        let start = dst.len();
        dst.put_bytes(0, frame::HEADER_LEN);
        self.encoder.encode(fields, dst);
        let len = dst.len() - start - frame::HEADER_LEN;
        if len <= frame::limit(self.max_frame_size) && !stream_id.is_zero() {
            let mut flags = frame::flags::END_HEADERS;
            if end_stream {
                flags |= frame::flags::END_STREAM;
            }
            let head = Head {
                // At most the frame size limit, below 2^24.
                length: len as u32,
                frame_type: FrameType::Headers,
                flags,
                stream_id,
            };
            head.encode(&mut &mut dst[start..start + frame::HEADER_LEN]);
            return Ok(());
        }
        // Larger than a frame: HEADERS and CONTINUATION frames.
        let block = dst.split_off(start + frame::HEADER_LEN).freeze();
        dst.truncate(start);
        frame::Headers::new(stream_id, block, end_stream, true).encode(dst, self.max_frame_size)
    }

    /// Writes one DATA frame (or a stream's end) for the next stream in the
    /// rotation. Returns false when no stream can write.
    fn write_data<B: TransmitBuf>(&mut self, dst: &mut B, start: usize, limit: usize) -> bool {
        // Each stream gets at most one look per call, so streams waiting only
        // for connection window cannot make this spin.
        let mut turns = self.rotation.len();
        while turns > 0 {
            turns -= 1;
            let Some(id) = self.rotation.pop_front() else {
                break;
            };
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            if !stream.can_write() {
                stream.active = false;
                continue;
            }
            if stream.queued == 0 {
                // Only the end is left: an empty DATA with END_STREAM, or trailers.
                // Neither needs window.
                stream.active = false;
                match stream.end {
                    Finish::Trailers => {
                        let fields = self.trailers.remove(&id).unwrap_or_default();
                        let _ = self.write_headers(id, &fields, true, dst.scratch());
                    }
                    Finish::EndStream | Finish::Open | Finish::Sent => {
                        put_data_head(dst.scratch(), 0, true, id);
                        self.written.push(Written::EndOfData { stream_id: id });
                    }
                }
                self.forget(id);
                return true;
            }
            let window = stream.window.available().min(self.conn_window.available());
            if window == 0 {
                // Out of connection window only: keep its place for the next WINDOW_UPDATE.
                self.rotation.push_back(id);
                continue;
            }
            let mut room = limit.saturating_sub(dst.total() + frame::HEADER_LEN);
            if dst.total() == start {
                // A caller buffer smaller than a frame header must still make
                // progress: write a small frame and carry its tail over.
                room = room.max(MIN_SPLIT_PAYLOAD);
            }
            if room == 0 {
                self.rotation.push_front(id);
                return false;
            }
            let n = (window as usize)
                .min(self.max_frame_size as usize)
                .min(stream.queued)
                .min(room);
            let end_stream = n == stream.queued && stream.end == Finish::EndStream;
            put_data_head(dst.scratch(), n, end_stream, id);
            move_chunks(&mut stream.chunks, n, dst);
            stream.queued -= n;
            self.queued_data -= n;
            self.data_written += n;
            // n ≤ both windows, which are ≤ 2^31-1.
            stream.window.consume(n as u32);
            self.conn_window.consume(n as u32);
            stream.active = false;
            if end_stream {
                self.written.push(Written::EndOfData { stream_id: id });
                self.forget(id);
            } else {
                self.schedule(id);
            }
            return true;
        }
        false
    }

    /// A stream's end went out: drop what it queued, keep its window until
    /// [`close_stream`](Loopy::close_stream).
    fn forget(&mut self, id: StreamId) {
        if !self.trailers.is_empty() {
            self.trailers.remove(&id);
        }
        if let Some(stream) = self.streams.get_mut(&id) {
            self.queued_data -= stream.queued;
            stream.queued = 0;
            let chunks = std::mem::take(&mut stream.chunks);
            stream.end = Finish::Sent;
            stream.blocked = false;
            self.recycle_queue(chunks);
        }
    }

    fn wake_blocked(&mut self) {
        if self.blocked.is_empty() {
            return;
        }
        let conn_room = self.queued_data < self.limits.connection_buffer;
        let limit = self.limits.stream_buffer;
        let written = &mut self.written;
        let streams = &mut self.streams;
        self.blocked.retain(|id| match streams.get_mut(id) {
            Some(s) if s.blocked && (conn_room || s.sendable() > 0) && s.queued < limit => {
                s.blocked = false;
                written.push(Written::Writable { stream_id: *id });
                false
            }
            Some(s) => s.blocked,
            None => false,
        });
    }
}

fn put_data_head(dst: &mut BytesMut, len: usize, end_stream: bool, id: StreamId) {
    let flags = if end_stream {
        frame::flags::END_STREAM
    } else {
        0
    };
    Head {
        length: len as u32,
        frame_type: FrameType::Data,
        flags,
        stream_id: id,
    }
    .encode(dst);
}

/// Moves `n` bytes from the front of the chunk queue into `dst` (a copy
/// into a `BytesMut`, the same memory into a `Transmit`).
fn move_chunks<B: TransmitBuf>(chunks: &mut VecDeque<Bytes>, mut n: usize, dst: &mut B) {
    while n > 0 {
        let Some(front) = chunks.front_mut() else {
            return;
        };
        if front.len() <= n {
            n -= front.len();
            if let Some(chunk) = chunks.pop_front() {
                dst.put_payload(chunk);
            }
        } else {
            dst.put_payload(front.split_to(n));
            n = 0;
        }
    }
}

#[cfg(test)]
#[path = "loopy_tests.rs"]
mod tests;
