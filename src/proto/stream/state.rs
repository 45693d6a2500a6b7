//! The stream state machine of RFC 9113 §5.1, as one exhaustive `match`.
//!
//! ```text
//!                              +--------+
//!                      send PP |        | recv PP
//!                     ,--------+  idle  +--------.
//!                    /         |        |         \
//!                   v          +--------+          v
//!            +----------+          |           +----------+
//!            |          |          | send H /  |          |
//!     ,------+ reserved |          | recv H    | reserved +------.
//!     |      | (local)  |          |           | (remote) |      |
//!     |      +---+------+          v           +------+---+      |
//!     |          |             +--------+             |          |
//!     |          |     recv ES |        | send ES     |          |
//!     |   send H |     ,-------+  open  +-------.     | recv H   |
//!     |          |    /        |        |        \    |          |
//!     |          v   v         +---+----+         v   v          |
//!     |      +----------+          |           +----------+      |
//!     |      |   half-  |          |           |   half-  |      |
//!     |      |  closed  |          | send R /  |  closed  |      |
//!     |      | (remote) |          | recv R    | (local)  |      |
//!     |      +----+-----+          |           +-----+----+      |
//!     |           |                |                 |           |
//!     |           | send ES /      |       recv ES / |           |
//!     |           |  send R /      v        send R / |           |
//!     |           |  recv R    +--------+   recv R   |           |
//!     | send R /  `----------->|        |<-----------'  send R / |
//!     | recv R                 | closed |               recv R   |
//!     `----------------------->|        |<-----------------------'
//!                              +--------+
//!
//!    send:   endpoint sends this frame       H:  HEADERS (and its CONTINUATIONs)
//!    recv:   endpoint receives this frame    PP: PUSH_PROMISE (on the promised stream)
//!    ES:     END_STREAM flag                 R:  RST_STREAM
//! ```
//!
//! The diagram does not say what happens to frames that arrive in a state
//! with no edge for them; the prose of §5.1, §6.1–§6.9 does, and [`transition`]
//! encodes that prose. Two distinctions the diagram hides matter on the wire:
//!
//! * **How a stream closed.** After we reset a stream, the peer may still have
//!   frames in flight: they are ignored (§5.1 "closed"). After the peer reset
//!   it, any further frame but PRIORITY is a *stream* error STREAM_CLOSED. After
//!   the peer ended it with END_STREAM, a further HEADERS or DATA is a
//!   *connection* error STREAM_CLOSED.
//! * **Who is at fault.** A frame the peer should not have sent is a protocol
//!   error; a frame the local application asks to send in the wrong state is
//!   caller misuse and never reaches the wire.

use crate::frame::Reason;

/// Where a stream is in its life (RFC 9113 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamState {
    /// Not yet used.
    Idle,
    /// We promised it with PUSH_PROMISE and may open it with HEADERS.
    ReservedLocal,
    /// The peer promised it with PUSH_PROMISE.
    ReservedRemote,
    /// Both sides may send.
    Open,
    /// We sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
    /// Finished, remembering how (it decides what late frames mean).
    Closed(CloseCause),
}

/// How a stream reached [`StreamState::Closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCause {
    /// Both sides sent END_STREAM.
    EndStream,
    /// We sent RST_STREAM: frames the peer had in flight are ignored.
    ResetSent,
    /// The peer sent RST_STREAM.
    ResetReceived,
    /// A stream we no longer remember, or an idle one implicitly closed by a
    /// higher stream id (§5.1.1). How it closed is unknown.
    Unknown,
}

/// Which way a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    /// The local endpoint sends it.
    Send,
    /// The peer sent it.
    Recv,
}

/// The frame-level events that move a stream through its states.
///
/// The whole §5.1 table, push included: push is never enabled and PRIORITY
/// is dropped before it reaches a stream, so only the table's tests feed
/// `PushPromise`, `Promised` and `Priority`.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Input {
    /// A HEADERS frame (with its CONTINUATIONs) on this stream.
    Headers {
        /// END_STREAM flag.
        end_stream: bool,
    },
    /// A DATA frame on this stream.
    Data {
        /// END_STREAM flag.
        end_stream: bool,
    },
    /// A PUSH_PROMISE carried on this stream (this is the associated stream).
    PushPromise,
    /// A PUSH_PROMISE elsewhere that reserves this stream (this is the promised stream).
    Promised,
    /// RST_STREAM.
    Reset,
    /// WINDOW_UPDATE on this stream.
    WindowUpdate,
    /// PRIORITY (deprecated by RFC 9113, still legal in every state).
    Priority,
}

/// What the connection should do with a frame the state machine accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Process the frame; the stream is now in this state.
    Apply(StreamState),
    /// Discard the frame (§5.1: frames arriving after we reset the stream, and
    /// WINDOW_UPDATE / RST_STREAM racing our END_STREAM). DATA still counts
    /// against connection flow control, and header blocks must still be
    /// decoded to keep HPACK in sync: that is the caller's job.
    Ignore,
}

/// Why a transition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The peer broke the protocol; answer with RST_STREAM of this code.
    Stream(Reason),
    /// The peer broke the protocol; answer with GOAWAY of this code.
    Connection(Reason),
    /// The local application asked to send something this state forbids.
    /// Nothing goes on the wire.
    Misuse,
}

/// Applies one frame to a stream's state.
///
/// Exhaustive over `(state, direction, input)`: adding a state or an input is a
/// compile error here until every combination is decided.
pub(crate) fn transition(
    state: StreamState,
    dir: Direction,
    input: Input,
) -> Result<Verdict, Fault> {
    use CloseCause::*;
    use Direction::{Recv, Send};
    use Input::*;
    use StreamState::*;

    let closed_by = |end_stream: bool, otherwise: StreamState| {
        if end_stream {
            Closed(EndStream)
        } else {
            otherwise
        }
    };
    let apply = |s| Ok(Verdict::Apply(s));
    let protocol_error = Err(Fault::Connection(Reason::PROTOCOL_ERROR));
    let stream_closed = Err(Fault::Stream(Reason::STREAM_CLOSED));

    match (state, dir, input) {
        // PRIORITY may be sent and received in any state, idle and closed included (§5.1, §6.3).
        (s, _, Priority) => apply(s),

        // --- idle: only HEADERS opens it; PUSH_PROMISE elsewhere reserves it.
        (Idle, _, Headers { end_stream }) => {
            let half = if dir == Send {
                HalfClosedLocal
            } else {
                HalfClosedRemote
            };
            apply(if end_stream { half } else { Open })
        }
        (Idle, Send, Promised) => apply(ReservedLocal),
        (Idle, Recv, Promised) => apply(ReservedRemote),
        // §5.1 idle: "Receiving any frame other than HEADERS or PRIORITY on a
        // stream in this state MUST be treated as a connection error PROTOCOL_ERROR".
        (Idle, Recv, _) => protocol_error,
        (Idle, Send, _) => Err(Fault::Misuse),

        // --- reserved (local): we may send HEADERS; either side may reset.
        (ReservedLocal, Send, Headers { end_stream }) => {
            apply(closed_by(end_stream, HalfClosedRemote))
        }
        (ReservedLocal, Send, Reset) => apply(Closed(ResetSent)),
        (ReservedLocal, Recv, Reset) => apply(Closed(ResetReceived)),
        (ReservedLocal, Recv, WindowUpdate) => apply(ReservedLocal),
        (ReservedLocal, Recv, _) => protocol_error,
        (ReservedLocal, Send, _) => Err(Fault::Misuse),

        // --- reserved (remote): the peer may send HEADERS; we may reset or update windows.
        (ReservedRemote, Recv, Headers { end_stream }) => {
            apply(closed_by(end_stream, HalfClosedLocal))
        }
        (ReservedRemote, Recv, Reset) => apply(Closed(ResetReceived)),
        (ReservedRemote, Recv, _) => protocol_error,
        (ReservedRemote, Send, Reset) => apply(Closed(ResetSent)),
        (ReservedRemote, Send, WindowUpdate) => apply(ReservedRemote),
        (ReservedRemote, Send, _) => Err(Fault::Misuse),

        // --- open: both sides talk; END_STREAM half-closes; RST closes.
        (Open, Send, Headers { end_stream } | Data { end_stream }) => {
            apply(if end_stream { HalfClosedLocal } else { Open })
        }
        (Open, Recv, Headers { end_stream } | Data { end_stream }) => {
            apply(if end_stream { HalfClosedRemote } else { Open })
        }
        (Open, _, PushPromise | WindowUpdate) => apply(Open),
        (Open, Send, Reset) => apply(Closed(ResetSent)),
        (Open, Recv, Reset) => apply(Closed(ResetReceived)),
        // A stream already in use cannot be promised again.
        (Open, Recv, Promised) => protocol_error,
        (Open, Send, Promised) => Err(Fault::Misuse),

        // --- half-closed (local): we are done sending but may still manage the stream.
        (HalfClosedLocal, Recv, Headers { end_stream } | Data { end_stream }) => {
            apply(closed_by(end_stream, HalfClosedLocal))
        }
        (HalfClosedLocal, Recv, PushPromise | WindowUpdate) => apply(HalfClosedLocal),
        (HalfClosedLocal, Recv, Reset) => apply(Closed(ResetReceived)),
        (HalfClosedLocal, Recv, Promised) => protocol_error,
        (HalfClosedLocal, Send, WindowUpdate) => apply(HalfClosedLocal),
        (HalfClosedLocal, Send, Reset) => apply(Closed(ResetSent)),
        (HalfClosedLocal, Send, _) => Err(Fault::Misuse),

        // --- half-closed (remote): the peer is done; §5.1 says anything it sends
        // but WINDOW_UPDATE, PRIORITY or RST_STREAM is a stream error STREAM_CLOSED.
        (HalfClosedRemote, Send, Headers { end_stream } | Data { end_stream }) => {
            apply(closed_by(end_stream, HalfClosedRemote))
        }
        (HalfClosedRemote, Send, PushPromise | WindowUpdate) => apply(HalfClosedRemote),
        (HalfClosedRemote, Send, Reset) => apply(Closed(ResetSent)),
        (HalfClosedRemote, Send, Promised) => Err(Fault::Misuse),
        (HalfClosedRemote, Recv, WindowUpdate) => apply(HalfClosedRemote),
        (HalfClosedRemote, Recv, Reset) => apply(Closed(ResetReceived)),
        (HalfClosedRemote, Recv, Promised) => protocol_error,
        (HalfClosedRemote, Recv, _) => stream_closed,

        // --- closed: nothing but PRIORITY may be sent.
        (Closed(_), Send, _) => Err(Fault::Misuse),
        // Reusing a closed stream id for a new promise breaks §5.1.1 ordering.
        (Closed(_), Recv, Promised) => protocol_error,
        // We reset it: the peer may not know yet, so its frames are ignored.
        (Closed(ResetSent), Recv, _) => Ok(Verdict::Ignore),
        // The peer reset it: it must not send anything more but PRIORITY.
        (Closed(ResetReceived), Recv, _) => stream_closed,
        // Both sides ended it. WINDOW_UPDATE and RST_STREAM may race our
        // END_STREAM and are ignored; HEADERS/DATA/PUSH_PROMISE come after the
        // peer's own END_STREAM: a connection error STREAM_CLOSED (§5.1 "closed").
        (Closed(EndStream), Recv, WindowUpdate | Reset) => Ok(Verdict::Ignore),
        (Closed(EndStream), Recv, Headers { .. } | Data { .. } | PushPromise) => {
            Err(Fault::Connection(Reason::STREAM_CLOSED))
        }
        // Forgotten or implicitly closed: we cannot tell who closed it, so take
        // the lenient reading that keeps the connection: a stream error for
        // frames that need a live stream, and ignore the rest.
        (Closed(Unknown), Recv, WindowUpdate | Reset) => Ok(Verdict::Ignore),
        (Closed(Unknown), Recv, Headers { .. } | Data { .. } | PushPromise) => stream_closed,
    }
}

impl StreamState {
    /// Whether the stream counts against SETTINGS_MAX_CONCURRENT_STREAMS (§5.1.2:
    /// open and both half-closed states count; reserved and idle do not).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            StreamState::Open | StreamState::HalfClosedLocal | StreamState::HalfClosedRemote
        )
    }

    /// Whether the local side may still send HEADERS or DATA.
    pub fn can_send(self) -> bool {
        matches!(
            self,
            StreamState::Open | StreamState::HalfClosedRemote | StreamState::ReservedLocal
        )
    }

    /// Whether the peer may still send HEADERS or DATA.
    pub fn can_recv(self) -> bool {
        matches!(
            self,
            StreamState::Open | StreamState::HalfClosedLocal | StreamState::ReservedRemote
        )
    }

    /// Whether the stream is closed, however it got there.
    pub fn is_closed(self) -> bool {
        matches!(self, StreamState::Closed(_))
    }
}

#[cfg(test)]
mod tests {
    //! Every (state, direction, input) triple against a table written from the
    //! RFC prose, independently of the `match` above.
    use super::*;

    /// Columns: HEADERS, HEADERS+ES, DATA, DATA+ES, PUSH_PROMISE on it,
    /// promised by a PUSH_PROMISE, RST_STREAM, WINDOW_UPDATE, PRIORITY.
    ///
    /// Cells: a state name = accepted, now in that state; `=` accepted, state
    /// unchanged; `ign` ignored; `mis` caller misuse; `sSC` stream error
    /// STREAM_CLOSED; `cPE` connection PROTOCOL_ERROR; `cSC` connection
    /// STREAM_CLOSED.
    const TABLE: &str = "
        idle  send | open hcl  mis  mis  mis  rl   mis  mis  =
        idle  recv | open hcr  cPE  cPE  cPE  rr   cPE  cPE  =
        rl    send | hcr  cES  mis  mis  mis  mis  cRS  mis  =
        rl    recv | cPE  cPE  cPE  cPE  cPE  cPE  cRR  =    =
        rr    send | mis  mis  mis  mis  mis  mis  cRS  =    =
        rr    recv | hcl  cES  cPE  cPE  cPE  cPE  cRR  cPE  =
        open  send | =    hcl  =    hcl  =    mis  cRS  =    =
        open  recv | =    hcr  =    hcr  =    cPE  cRR  =    =
        hcl   send | mis  mis  mis  mis  mis  mis  cRS  =    =
        hcl   recv | =    cES  =    cES  =    cPE  cRR  =    =
        hcr   send | =    cES  =    cES  =    mis  cRS  =    =
        hcr   recv | sSC  sSC  sSC  sSC  sSC  cPE  cRR  =    =
        cES   send | mis  mis  mis  mis  mis  mis  mis  mis  =
        cES   recv | cSC  cSC  cSC  cSC  cSC  cPE  ign  ign  =
        cRS   send | mis  mis  mis  mis  mis  mis  mis  mis  =
        cRS   recv | ign  ign  ign  ign  ign  cPE  ign  ign  =
        cRR   send | mis  mis  mis  mis  mis  mis  mis  mis  =
        cRR   recv | sSC  sSC  sSC  sSC  sSC  cPE  sSC  sSC  =
        cUN   send | mis  mis  mis  mis  mis  mis  mis  mis  =
        cUN   recv | sSC  sSC  sSC  sSC  sSC  cPE  ign  ign  =
    ";

    const INPUTS: [Input; 9] = [
        Input::Headers { end_stream: false },
        Input::Headers { end_stream: true },
        Input::Data { end_stream: false },
        Input::Data { end_stream: true },
        Input::PushPromise,
        Input::Promised,
        Input::Reset,
        Input::WindowUpdate,
        Input::Priority,
    ];

    fn state(name: &str) -> StreamState {
        match name {
            "idle" => StreamState::Idle,
            "rl" => StreamState::ReservedLocal,
            "rr" => StreamState::ReservedRemote,
            "open" => StreamState::Open,
            "hcl" => StreamState::HalfClosedLocal,
            "hcr" => StreamState::HalfClosedRemote,
            "cES" => StreamState::Closed(CloseCause::EndStream),
            "cRS" => StreamState::Closed(CloseCause::ResetSent),
            "cRR" => StreamState::Closed(CloseCause::ResetReceived),
            "cUN" => StreamState::Closed(CloseCause::Unknown),
            other => panic!("unknown state {other:?} in table"),
        }
    }

    fn expected(cell: &str, from: StreamState) -> Result<Verdict, Fault> {
        match cell {
            "=" => Ok(Verdict::Apply(from)),
            "ign" => Ok(Verdict::Ignore),
            "mis" => Err(Fault::Misuse),
            "sSC" => Err(Fault::Stream(Reason::STREAM_CLOSED)),
            "cPE" => Err(Fault::Connection(Reason::PROTOCOL_ERROR)),
            "cSC" => Err(Fault::Connection(Reason::STREAM_CLOSED)),
            name => Ok(Verdict::Apply(state(name))),
        }
    }

    #[test]
    fn every_state_and_input_matches_the_rfc_table() {
        let mut seen = std::collections::HashSet::new();
        for line in TABLE.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (head, cells) = line.split_once('|').expect("row has a |");
            let mut head = head.split_whitespace();
            let from = state(head.next().expect("state"));
            let dir = match head.next().expect("direction") {
                "send" => Direction::Send,
                "recv" => Direction::Recv,
                d => panic!("bad direction {d}"),
            };
            let cells: Vec<&str> = cells.split_whitespace().collect();
            assert_eq!(cells.len(), INPUTS.len(), "row {line:?}");
            for (input, cell) in INPUTS.iter().zip(cells) {
                assert_eq!(
                    transition(from, dir, *input),
                    expected(cell, from),
                    "{from:?} {dir:?} {input:?}"
                );
                assert!(
                    seen.insert((from, dir, *input)),
                    "duplicate row for {from:?} {dir:?}"
                );
            }
        }
        // 10 states (4 closed causes) x 2 directions x 9 inputs: nothing left out.
        assert_eq!(seen.len(), 10 * 2 * 9);
    }

    #[test]
    fn concurrency_counts_only_open_and_half_closed() {
        let active: Vec<_> = [
            "idle", "rl", "rr", "open", "hcl", "hcr", "cES", "cRS", "cRR", "cUN",
        ]
        .into_iter()
        .filter(|n| state(n).is_active())
        .collect();
        assert_eq!(active, ["open", "hcl", "hcr"]);
    }

    #[test]
    fn a_request_walks_to_closed_by_end_stream_on_both_sides() {
        use Direction::*;
        let mut s = StreamState::Idle;
        for (dir, input) in [
            (Send, Input::Headers { end_stream: false }),
            (Send, Input::Data { end_stream: true }),
            (Recv, Input::Headers { end_stream: false }),
            (Recv, Input::Data { end_stream: false }),
            (Recv, Input::Headers { end_stream: true }),
        ] {
            match transition(s, dir, input) {
                Ok(Verdict::Apply(next)) => s = next,
                other => panic!("{s:?} {dir:?} {input:?} gave {other:?}"),
            }
        }
        assert_eq!(s, StreamState::Closed(CloseCause::EndStream));
    }
}
