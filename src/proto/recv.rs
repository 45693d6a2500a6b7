//! The receive path: frames from the peer, checked and turned into events.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::connection::{Connection, Lifecycle, PartialBlock, Shutdown};
use super::error::{ConnectionError, PeerViolation};
use super::event::{Event, HeaderList, Initiator, ResetCause};
use super::stream::state::{CloseCause, Direction, Fault, Input, StreamState, Verdict, transition};
use super::stream::store::{RecvPhase, Stream};
use super::validate::{BlockKind, BodyLength, Malformed, check_decoded_block};
use crate::frame::{self, Frame, FrameError, Reason, RstStream, Setting, StreamId, WindowUpdate};
use crate::hpack::{DecoderError, HeaderField};
use crate::sched::control::ControlItem;

impl Connection {
    /// Consumes whole frames from the front of `buf` (a partial frame stays
    /// for next time) and queues the events and answers they cause.
    ///
    /// Stops early, leaving input in `buf`, when [`wants_read`] turns false
    /// (we owe the peer too many answers it does not read). Once the
    /// connection is closing, input is discarded.
    ///
    /// [`wants_read`]: Connection::wants_read
    pub fn recv(&mut self, buf: &mut BytesMut, now: Instant) {
        self.now = now;
        if !matches!(self.lifecycle, Lifecycle::Open | Lifecycle::Draining) {
            buf.clear();
            return;
        }
        if !self.preface_received {
            match frame::strip_preface(buf) {
                Ok(true) => self.preface_received = true,
                Ok(false) => return,
                Err(_) => {
                    self.peer_error(Reason::PROTOCOL_ERROR, PeerViolation::BadPreface);
                    buf.clear();
                    return;
                }
            }
        }
        while self.wants_read() {
            match self.decoder.decode(buf) {
                Ok(None) => break,
                Ok(Some(frame)) => self.recv_frame(frame, now),
                Err(error) => self.frame_error(error),
            }
        }
        if matches!(self.lifecycle, Lifecycle::Closing | Lifecycle::Closed) {
            buf.clear();
        } else if !buf.is_empty() && !self.wants_read() {
            // Back-pressure: the peer is not reading what we owe it.
            self.counters.reads_paused += 1;
        }
        self.queue_connection_window_update();
    }

    fn frame_error(&mut self, error: FrameError) {
        let Some(id) = error.stream_id() else {
            let reason = error.reason();
            self.peer_error(reason, PeerViolation::Frame(error));
            return;
        };
        let reason = error.reason();
        match error.into_frame() {
            // A bad HEADERS still carries a field block: decode it so HPACK stays in sync.
            Some(Frame::Headers(h)) => self.recv_headers(h, Some(reason)),
            _ => self.reset_for_peer_error(id, reason),
        }
    }

    fn recv_frame(&mut self, frame: Frame, now: Instant) {
        if !self.got_settings && !matches!(&frame, Frame::Settings(s) if !s.is_ack()) {
            self.peer_error(Reason::PROTOCOL_ERROR, PeerViolation::FirstFrameNotSettings);
            return;
        }
        match frame {
            Frame::Data(d) => self.recv_data(d),
            Frame::Headers(h) => self.recv_headers(h, None),
            Frame::Continuation(c) => {
                self.recv_continuation(c.stream_id, c.field_block_fragment, c.end_headers)
            }
            Frame::RstStream(r) => self.recv_reset(r),
            Frame::Settings(s) => self.recv_settings(&s),
            Frame::Ping(p) if p.ack => self.recv_ping_ack(p.opaque_data, now),
            Frame::Ping(p) => self.answer_ping(p.opaque_data),
            Frame::GoAway(g) => self.recv_goaway(g),
            Frame::WindowUpdate(w) => self.recv_window_update(w.stream_id, w.window_size_increment),
            // Push is disabled by our SETTINGS (client) or impossible (server): §6.6, §8.4.
            Frame::PushPromise(_) => {
                self.peer_error(Reason::PROTOCOL_ERROR, PeerViolation::PushPromise)
            }
            // PRIORITY is deprecated (RFC 9113 §5.3.2) and was validated by
            // the decoder; unknown types are ignored (§5.5). Both cost a glitch.
            Frame::Priority(_) | Frame::Unknown(_) => {
                self.counters.frames_ignored += 1;
                self.glitch();
            }
        }
    }

    fn recv_headers(&mut self, h: frame::Headers, forced: Option<Reason>) {
        if h.end_headers {
            self.header_block(h.stream_id, h.field_block_fragment, h.end_stream, forced);
        } else {
            self.partial = Some(PartialBlock {
                stream_id: h.stream_id,
                end_stream: h.end_stream,
                fragments: BytesMut::from(&h.field_block_fragment[..]),
                forced,
                continuations: 0,
            });
        }
    }

    fn recv_continuation(&mut self, id: StreamId, fragment: Bytes, end_headers: bool) {
        // The frame decoder guarantees a CONTINUATION only follows an open
        // block of the same stream.
        let Some(partial) = self.partial.as_mut() else {
            return;
        };
        debug_assert_eq!(partial.stream_id, id);
        partial.fragments.extend_from_slice(&fragment);
        partial.continuations += 1;
        // CONTINUATION floods (CVE-2024-27316 family): cap the frames and the
        // bytes of one block; we hold them all until END_HEADERS.
        if partial.continuations > self.config.max_continuation_frames {
            self.counters.continuation_limit_hits += 1;
            self.peer_error(
                Reason::ENHANCE_YOUR_CALM,
                PeerViolation::TooManyContinuations,
            );
            return;
        }
        if partial.fragments.len() > self.config.max_header_block_size {
            self.counters.header_block_limit_hits += 1;
            self.peer_error(
                Reason::ENHANCE_YOUR_CALM,
                PeerViolation::HeaderBlockTooLarge,
            );
            return;
        }
        if end_headers && let Some(p) = self.partial.take() {
            self.header_block(p.stream_id, p.fragments.freeze(), p.end_stream, p.forced);
        }
    }

    /// A complete header block: decode it (always, to keep HPACK in sync),
    /// find or open its stream, and check it as a message.
    fn header_block(
        &mut self,
        id: StreamId,
        block: Bytes,
        end_stream: bool,
        forced: Option<Reason>,
    ) {
        // Room for a typical request's fields (a field takes at least a
        // byte, so a short block never regrows; 14 fields stay within the
        // allocator's small-size cache): no regrowth on the hot path.
        let mut fields = Vec::with_capacity(block.len().min(14));
        let mut bytes_valid = 0;
        let oversize = match self
            .hpack
            .decode_marking_valid(&block, &mut fields, &mut bytes_valid)
        {
            Ok(()) => None,
            Err(e) if e.keeps_table_in_sync() => Some(e),
            Err(e) => {
                self.peer_error(Reason::COMPRESSION_ERROR, PeerViolation::Hpack(e));
                return;
            }
        };
        if self.store.get(id).is_none() && !self.open_remote_stream(id) {
            return;
        }
        if !self.recv_transition(id, Input::Headers { end_stream }) {
            return;
        }
        if let Some(reason) = forced {
            self.reset_for_peer_error(id, reason);
            return;
        }
        if let Some(e) = oversize {
            self.refuse_oversize(id, e);
            return;
        }
        self.message_headers(id, fields, bytes_valid, end_stream);
    }

    /// A header block on a stream we do not hold: a new peer stream, or a
    /// closed/unknown one. Returns true when a new stream was created.
    fn open_remote_stream(&mut self, id: StreamId) -> bool {
        if !self.is_peer_initiated(id) {
            // One of our ids that we do not hold: never opened, or closed.
            if id.value() >= self.next_local_id {
                self.peer_error(
                    Reason::PROTOCOL_ERROR,
                    PeerViolation::UnexpectedStreamId(id),
                );
            } else {
                self.closed_stream_frame(id, Input::Headers { end_stream: false });
            }
            return false;
        }
        if self.config.role == super::config::Role::Client {
            // Servers can only open streams with PUSH_PROMISE, which we refuse.
            self.peer_error(
                Reason::PROTOCOL_ERROR,
                PeerViolation::UnexpectedStreamId(id),
            );
            return false;
        }
        if id <= self.last_remote_id {
            if self.store.closed_cause(id).is_some() {
                self.closed_stream_frame(id, Input::Headers { end_stream: false });
            } else {
                // §5.1.1: a new stream's id must exceed every id the peer used
                // before. (A stream closed so long ago that we forgot it lands
                // here too; `Config::max_closed_streams` bounds that window.)
                self.peer_error(
                    Reason::PROTOCOL_ERROR,
                    PeerViolation::UnexpectedStreamId(id),
                );
            }
            return false;
        }
        self.last_remote_id = id;
        if self.goaway_sent.is_some_and(|last| id > last) {
            // §6.8: after our GOAWAY, streams above its last id are ignored,
            // and so are the frames the peer sent on them before it saw the
            // GOAWAY (remembered as reset: no RST_STREAM, no budget spent).
            self.counters.streams_refused += 1;
            self.store.remember(id, CloseCause::ResetSent);
            return false;
        }
        if self.store.active_remote() >= self.config.max_concurrent_streams as usize {
            self.counters.streams_refused += 1;
            self.store.remember(id, CloseCause::ResetSent);
            self.respond(ControlItem::Reset(RstStream::new(
                id,
                Reason::REFUSED_STREAM,
            )));
            return false;
        }
        self.counters.streams_opened_by_peer += 1;
        self.store.insert(Stream::new(id, self.stream_recv_window));
        // Our send window on it starts now, at the peer's initial window, and
        // counts the WINDOW_UPDATEs that arrive before the application answers.
        self.loopy.open_stream(id);
        true
    }

    /// Checks the decoded fields as the next block of the stream's message
    /// (`bytes_valid`: which fields HPACK already knows pass the byte rules).
    fn message_headers(
        &mut self,
        id: StreamId,
        fields: Vec<HeaderField>,
        bytes_valid: u64,
        end_stream: bool,
    ) {
        let is_server = self.config.role == super::config::Role::Server;
        let Some(stream) = self.store.get_mut(id) else {
            return;
        };
        let event = match stream.phase {
            RecvPhase::Head => {
                let kind = if is_server {
                    BlockKind::Request
                } else {
                    BlockKind::Response
                };
                let checked = match check_decoded_block(kind, &fields, bytes_valid) {
                    Ok(c) => c,
                    Err(m) => return self.malformed(id, m),
                };
                let status = checked.status.unwrap_or(0);
                if !is_server && (100..200).contains(&status) {
                    // §8.1: informational responses never end the stream; 101 does not exist in HTTP/2.
                    if end_stream || status == 101 {
                        return self.malformed(id, Malformed::UnexpectedHeaders);
                    }
                    Event::Informational {
                        stream_id: id,
                        headers: HeaderList::new(fields, checked),
                    }
                } else {
                    let bodiless =
                        !is_server && (stream.head_request || status == 204 || status == 304);
                    stream.body = BodyLength::new(if bodiless {
                        None
                    } else {
                        checked.content_length
                    });
                    stream.phase = RecvPhase::Body;
                    if end_stream && let Err(m) = stream.body.end() {
                        return self.malformed(id, m);
                    }
                    Event::Headers {
                        stream_id: id,
                        headers: HeaderList::new(fields, checked),
                        end_stream,
                    }
                }
            }
            RecvPhase::Body => {
                // A second block must be trailers, which end the stream (§8.1).
                if !end_stream {
                    return self.malformed(id, Malformed::UnexpectedHeaders);
                }
                let checked = match check_decoded_block(BlockKind::Trailers, &fields, bytes_valid) {
                    Ok(c) => c,
                    Err(m) => return self.malformed(id, m),
                };
                if let Err(m) = stream.body.end() {
                    return self.malformed(id, m);
                }
                Event::Trailers {
                    stream_id: id,
                    trailers: HeaderList::new(fields, checked),
                }
            }
        };
        self.events.push_back(event);
        self.free_if_done(id);
    }

    fn recv_data(&mut self, d: frame::Data) {
        let id = d.stream_id;
        // Bounded by the max frame size (< 2^24), so it fits.
        let len = d.flow_controlled_len() as u32;
        if self.conn_recv.receive(len).is_err() {
            self.peer_error(Reason::FLOW_CONTROL_ERROR, PeerViolation::FlowControl);
            return;
        }
        if !self.recv_transition(
            id,
            Input::Data {
                end_stream: d.end_stream,
            },
        ) {
            // Not delivered: give the connection window back at once.
            self.conn_recv.release(len);
            return;
        }
        let Some(stream) = self.store.get_mut(id) else {
            return;
        };
        if stream.recv.receive(len).is_err() {
            self.conn_recv.release(len);
            self.reset_for_peer_error(id, Reason::FLOW_CONTROL_ERROR);
            return;
        }
        // Padding is flow-controlled but never reaches the application.
        let padding = len - d.data.len() as u32;
        stream.recv.release(padding);
        self.conn_recv.release(padding);
        let mut check = stream.body.data(d.data.len());
        if d.end_stream && check.is_ok() {
            check = stream.body.end();
        }
        if stream.phase != RecvPhase::Body {
            // DATA before the final HEADERS (§8.1).
            check = Err(Malformed::UnexpectedHeaders);
        }
        if let Err(m) = check {
            return self.malformed(id, m);
        }
        if d.data.is_empty() && !d.end_stream {
            // Carries nothing, but costs a frame's work.
            self.glitch();
        }
        if !d.data.is_empty() || d.end_stream {
            self.events.push_back(Event::Data {
                stream_id: id,
                data: d.data,
                end_stream: d.end_stream,
            });
        }
        self.free_if_done(id);
    }

    fn recv_reset(&mut self, r: RstStream) {
        let id = r.stream_id;
        if !self.recv_transition(id, Input::Reset) {
            return;
        }
        self.counters.resets_received += 1;
        if self.is_peer_initiated(id) {
            // The peer opened it and cancels it: rapid reset's signature.
            self.charge_reset();
        }
        self.loopy.cancel_stream(id);
        self.release_all(id);
        self.events.push_back(Event::Reset {
            stream_id: id,
            reason: r.error_code,
            initiator: Initiator::Remote,
            why: None,
        });
    }

    fn recv_window_update(&mut self, id: StreamId, increment: u32) {
        if id.is_zero() {
            if self.loopy.window_update(id, increment).is_err() {
                self.peer_error(Reason::FLOW_CONTROL_ERROR, PeerViolation::FlowControl);
            }
            return;
        }
        if self.recv_transition(id, Input::WindowUpdate)
            && self.loopy.window_update(id, increment).is_err()
        {
            self.reset_for_peer_error(id, Reason::FLOW_CONTROL_ERROR);
        }
    }

    fn recv_settings(&mut self, s: &frame::Settings) {
        if s.is_ack() {
            self.apply_local_settings();
            return;
        }
        self.got_settings = true;
        if !self.charge_settings() {
            return;
        }
        if s.len() > self.config.max_settings_entries {
            self.counters.settings_entries_limit_hits += 1;
            self.peer_error(Reason::ENHANCE_YOUR_CALM, PeerViolation::TooManySettings);
            return;
        }
        for setting in s.iter() {
            match setting {
                Setting::HeaderTableSize(v) => {
                    self.peer.header_table_size = v;
                    self.loopy.set_peer_header_table_size(v as usize);
                }
                Setting::EnablePush(on) => {
                    // §6.5.2: a server must not enable push toward... a client receiving 1 is an error.
                    if on && self.config.role == super::config::Role::Client {
                        self.peer_error(Reason::PROTOCOL_ERROR, PeerViolation::InvalidSetting);
                        return;
                    }
                    self.peer.enable_push = on;
                }
                Setting::MaxConcurrentStreams(v) => self.peer.max_concurrent_streams = Some(v),
                Setting::InitialWindowSize(v) => {
                    if self.loopy.set_initial_window(v).is_err() {
                        self.peer_error(Reason::FLOW_CONTROL_ERROR, PeerViolation::FlowControl);
                        return;
                    }
                    self.peer.initial_window_size = v;
                }
                Setting::MaxFrameSize(v) => {
                    self.peer.max_frame_size = v;
                    self.loopy.set_max_frame_size(v);
                }
                Setting::MaxHeaderListSize(v) => self.peer.max_header_list_size = Some(v),
                // §6.5.2: unknown settings are ignored.
                _ => {}
            }
        }
        self.respond(ControlItem::SettingsAck);
        self.events.push_back(Event::RemoteSettings(self.peer));
        self.open_pending();
    }

    /// The peer acknowledged our oldest outstanding SETTINGS: they are in
    /// force from now on (RFC 9113 §6.5.3). An ACK we did not ask for is ignored.
    fn apply_local_settings(&mut self) {
        let Some(update) = self.pending_settings.pop_front() else {
            return;
        };
        if self.pending_settings.is_empty() {
            self.timers.stop(super::timer::Timer::SettingsAck);
        } else {
            self.timers.set(
                super::timer::Timer::SettingsAck,
                self.now + self.config.settings_timeout,
            );
        }
        if let Some(size) = update.header_table_size {
            self.config.header_table_size = size;
            // A larger size still awaiting its ACK may already be in use.
            let pending = self
                .pending_settings
                .iter()
                .filter_map(|u| u.header_table_size)
                .max()
                .unwrap_or(0);
            self.hpack.set_max_table_size(size.max(pending) as usize);
        }
        if let Some(n) = update.max_concurrent_streams {
            self.config.max_concurrent_streams = n;
        }
        if let Some(size) = update.max_header_list_size {
            self.config.max_header_list_size = size;
            let mut limits = self.hpack.limits();
            limits.max_header_list_size = size as usize;
            self.hpack.set_limits(limits);
        }
        if let Some(target) = update.initial_window_size {
            // §6.9.2: the change applies to every open stream as a delta.
            self.config.initial_window_size = target;
            let delta = i64::from(target) - i64::from(self.stream_recv_window);
            for stream in self.store.iter_mut() {
                // The peer applies the same delta to its send window: the
                // new window needs no WINDOW_UPDATE on top.
                stream.recv.apply_delta(delta);
                stream.recv.retarget(target);
                // A smaller target lowers the announce threshold: bytes
                // released under the larger one may be due now, and no
                // later release need come to send them.
                if stream.state.can_recv()
                    && let Some(increment) = stream.recv.take_update()
                {
                    self.loopy
                        .control()
                        .push(ControlItem::WindowUpdate(WindowUpdate::new(
                            stream.id, increment,
                        )));
                }
            }
            self.stream_recv_window = target;
        }
        self.events.push_back(Event::SettingsAcked);
    }

    fn recv_ping_ack(&mut self, payload: [u8; 8], now: Instant) {
        if self.shutdown == Shutdown::AwaitingPing(payload) {
            self.final_goaway();
            return;
        }
        if let Some(i) = self.pings.iter().position(|(p, _)| *p == payload)
            && let Some((_, sent)) = self.pings.remove(i)
        {
            let rtt = now.saturating_duration_since(sent);
            self.events.push_back(Event::PingAck { payload, rtt });
        }
    }

    fn recv_goaway(&mut self, g: frame::GoAway) {
        let last = g.last_stream_id;
        if let Some((previous, _)) = self.goaway_received
            && last > previous
        {
            // §6.8: "Endpoints MUST NOT increase the value they send in the
            // last stream identifier"; a connection error, as nghttp2 has it.
            self.peer_error(
                Reason::PROTOCOL_ERROR,
                PeerViolation::GoAwayLastStreamIdIncreased { previous, last },
            );
            return;
        }
        self.goaway_received = Some((last, g.error_code));
        self.events.push_back(Event::GoAway {
            last_stream_id: last,
            reason: g.error_code,
            debug_data: g.additional_debug_data.clone(),
        });
        if g.error_code != Reason::NO_ERROR && self.close_error.is_none() {
            self.close_error = Some(ConnectionError::RemoteGoAway {
                reason: g.error_code,
                debug_data: g.additional_debug_data,
            });
        }
        self.start_draining();
        // Our streams above `last` were not processed, and requests still
        // waiting for a slot were never sent and now never will be (§6.8: no
        // new streams after GOAWAY): all refused, safe to retry.
        let pending: Vec<StreamId> = self.pending_open.drain(..).map(|p| p.id).collect();
        let mut refused: Vec<StreamId> = self
            .store
            .ids()
            .into_iter()
            .filter(|id| !self.is_peer_initiated(*id) && (*id > last || pending.contains(id)))
            .collect();
        refused.sort_unstable();
        for id in refused {
            self.loopy.cancel_stream(id);
            self.store.remove(id);
            self.store.remember(id, CloseCause::ResetReceived);
            self.events.push_back(Event::Reset {
                stream_id: id,
                reason: Reason::REFUSED_STREAM,
                initiator: Initiator::Remote,
                why: None,
            });
        }
    }

    /// Applies a received frame to its stream's state. True when the frame
    /// should be processed; false when it was ignored or answered with an error.
    fn recv_transition(&mut self, id: StreamId, input: Input) -> bool {
        let result = match self.store.transition(id, Direction::Recv, input) {
            Some(result) => result,
            None => return self.closed_stream_frame(id, input),
        };
        self.verdict(id, result)
    }

    /// A frame for a stream we do not hold: idle (never opened) or closed.
    fn closed_stream_frame(&mut self, id: StreamId, input: Input) -> bool {
        let idle = if self.is_peer_initiated(id) {
            id > self.last_remote_id
        } else {
            id.value() >= self.next_local_id
        };
        let state = if idle {
            StreamState::Idle
        } else {
            StreamState::Closed(self.store.closed_cause(id).unwrap_or(CloseCause::Unknown))
        };
        match transition(state, Direction::Recv, input) {
            // Nothing live to apply it to (a late frame the RFC lets us drop).
            Ok(_) => self.counters.frames_ignored += 1,
            Err(fault) => {
                self.verdict(id, Err(fault));
            }
        }
        false
    }

    fn verdict(&mut self, id: StreamId, result: Result<Verdict, Fault>) -> bool {
        match result {
            Ok(Verdict::Apply(_)) => true,
            Ok(Verdict::Ignore) => {
                self.counters.frames_ignored += 1;
                false
            }
            Err(Fault::Stream(reason)) => {
                self.reset_for_peer_error(id, reason);
                false
            }
            Err(Fault::Connection(reason)) => {
                self.peer_error(reason, PeerViolation::StreamState(id));
                false
            }
            // Only sends can be misuse.
            Err(Fault::Misuse) => false,
        }
    }

    /// A malformed message (§8.1.1): reset the stream, the connection lives on.
    fn malformed(&mut self, id: StreamId, why: Malformed) {
        self.glitch();
        self.reset_stream_for_peer(id, Reason::PROTOCOL_ERROR, true, ResetCause::Malformed(why));
    }

    /// A header list over our SETTINGS_MAX_HEADER_LIST_SIZE (or field count):
    /// our limit, not a protocol error, and the HPACK table is in sync. A
    /// server answers a request with 431 (RFC 9113 §10.5.1) before resetting
    /// it; either side resets with REFUSED_STREAM so no DATA follows.
    fn refuse_oversize(&mut self, id: StreamId, limit: DecoderError) {
        self.counters.oversize_header_lists += 1;
        self.glitch();
        let is_request = self.config.role == super::config::Role::Server
            && self
                .store
                .get(id)
                .is_some_and(|s| s.phase == RecvPhase::Head);
        if is_request {
            let fields = vec![HeaderField::new(":status", "431")];
            let end_stream = true;
            self.respond(ControlItem::Headers {
                stream_id: id,
                fields,
                end_stream,
            });
        }
        self.reset_stream_for_peer(
            id,
            Reason::REFUSED_STREAM,
            false,
            ResetCause::HeaderListLimit(limit),
        );
    }

    /// Resets a stream because the peer broke a stream-level rule.
    pub(crate) fn reset_for_peer_error(&mut self, id: StreamId, reason: Reason) {
        self.reset_stream_for_peer(id, reason, true, ResetCause::PeerError);
    }

    /// Resets a stream because of the peer. `cancel_queued` drops every
    /// control item not yet written for it (not wanted when we just queued
    /// a final response such as a 431 to go before the RST_STREAM).
    fn reset_stream_for_peer(
        &mut self,
        id: StreamId,
        reason: Reason,
        cancel_queued: bool,
        why: ResetCause,
    ) {
        self.charge_reset();
        self.counters.resets_sent_for_peer_errors += 1;
        self.respond(ControlItem::Reset(RstStream::new(id, reason)));
        if self.store.get(id).is_some() {
            if cancel_queued {
                self.loopy.cancel_stream(id);
            }
            self.store
                .set_state(id, StreamState::Closed(CloseCause::ResetSent));
            self.release_all(id);
            self.events.push_back(Event::Reset {
                stream_id: id,
                reason,
                initiator: Initiator::Local,
                why: Some(why),
            });
        } else {
            self.store.remember(id, CloseCause::ResetSent);
        }
    }

    /// Gives back to the connection window what a stream held unreleased
    /// (it is being reset: the application will not consume it).
    pub(crate) fn release_all(&mut self, id: StreamId) {
        if let Some(stream) = self.store.get_mut(id) {
            let held = stream.recv.release(u32::MAX);
            self.conn_recv.release(held);
        }
        self.free_if_done(id);
    }

    pub(crate) fn is_peer_initiated(&self, id: StreamId) -> bool {
        id.is_server_initiated() == (self.config.role == super::config::Role::Client)
    }
}
