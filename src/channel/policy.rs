//! Load-balancing policies: which subchannels to connect, which one a call
//! goes to, and what the channel's state is.
//!
//! A policy sees the subchannels (in address-list order) as
//! [`SubchannelView`]s and answers with [`LbAction`]s; the channel owns the
//! subchannels, their connections and backoff. Two are built in:
//! [`PickFirst`] and [`RoundRobin`].

use std::fmt;

use super::{Address, ConnectivityState, SubchannelId, aggregate};

/// What a policy sees of one subchannel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubchannelView {
    /// Its id.
    pub id: SubchannelId,
    /// The address it connects to.
    pub address: Address,
    /// Its state.
    pub state: ConnectivityState,
    /// READY with room for one more call (under the peer's
    /// MAX_CONCURRENT_STREAMS).
    pub has_room: bool,
}

/// What a policy asks of the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbAction {
    /// Connect this subchannel if it is IDLE.
    Connect(SubchannelId),
    /// Drop this subchannel's connection (or attempt); it becomes IDLE.
    Disconnect(SubchannelId),
}

/// A load-balancing policy. The channel calls it with the current
/// subchannels after every change; it must not assume any other order.
///
/// A policy of one's own: connect everything, always use the last READY
/// address of the list.
///
/// ```
/// use std::time::Instant;
/// use h2proto::channel::{
///     aggregate, PickOptions, Channel, Config, ConnectivityState, Event, LbAction, LbPolicy,
///     StaticResolver, SubchannelId, SubchannelView,
/// };
///
/// #[derive(Debug)]
/// struct LastReady;
///
/// impl LbPolicy for LastReady {
///     fn name(&self) -> &'static str {
///         "last_ready"
///     }
///     fn exit_idle(&mut self, subs: &[SubchannelView], out: &mut Vec<LbAction>) {
///         out.extend(subs.iter().map(|s| LbAction::Connect(s.id)));
///     }
///     fn subchannel_changed(&mut self, subs: &[SubchannelView], id: SubchannelId, out: &mut Vec<LbAction>) {
///         if subs.iter().any(|s| s.id == id && s.state == ConnectivityState::Idle) {
///             out.push(LbAction::Connect(id));
///         }
///     }
///     fn pick(&mut self, subs: &[SubchannelView], _avoid: Option<SubchannelId>) -> Option<SubchannelId> {
///         subs.iter().rev().find(|s| s.has_room).map(|s| s.id)
///     }
///     fn state(&self, subs: &[SubchannelView]) -> ConnectivityState {
///         aggregate(subs.iter().map(|s| s.state))
///     }
/// }
///
/// let now = Instant::now();
/// let resolver = StaticResolver(vec!["a:1".into(), "b:1".into()]);
/// let mut ch = Channel::new(Box::new(resolver), Box::new(LastReady), Config::default(), now);
/// ch.connect(now);
/// let conns: Vec<_> = std::iter::from_fn(|| ch.poll_event())
///     .filter_map(|e| match e {
///         Event::Connect { conn, .. } => Some(conn),
///         _ => None,
///     })
///     .collect();
/// for &c in &conns {
///     ch.connected(c, now);
/// }
/// let call = ch.start_call(PickOptions::default(), now);
/// let on = std::iter::from_fn(|| ch.poll_event()).find_map(|e| match e {
///     Event::Pick { call: c, conn, .. } if c == call => Some(conn),
///     _ => None,
/// });
/// assert_eq!(on, Some(conns[1]));
/// ```
pub trait LbPolicy: Send + fmt::Debug {
    /// The policy's name, as in a service config (`pick_first`, ...).
    fn name(&self) -> &'static str;
    /// The channel wants connections (a call arrived, or the addresses
    /// changed while it was active): start what the policy needs.
    fn exit_idle(&mut self, subs: &[SubchannelView], out: &mut Vec<LbAction>);
    /// The address list changed (subchannels kept for unchanged addresses
    /// keep their id and state).
    fn addresses_changed(&mut self, subs: &[SubchannelView], out: &mut Vec<LbAction>) {
        self.exit_idle(subs, out);
    }
    /// A subchannel changed state (`subs` already shows the new state).
    fn subchannel_changed(
        &mut self,
        subs: &[SubchannelView],
        changed: SubchannelId,
        out: &mut Vec<LbAction>,
    );
    /// The subchannel for the next call, or `None` if there is none now
    /// (the call waits, or fails if [`state`](LbPolicy::state) is
    /// TRANSIENT_FAILURE and it is not wait-for-ready).
    /// `avoid` is a subchannel to pass over when another fits (a retry).
    fn pick(
        &mut self,
        subs: &[SubchannelView],
        avoid: Option<SubchannelId>,
    ) -> Option<SubchannelId>;
    /// The channel's state as this policy sees it.
    fn state(&self, subs: &[SubchannelView]) -> ConnectivityState;
    /// The channel went IDLE (every connection dropped).
    fn entered_idle(&mut self) {}
}

/// The built-in policy names.
pub fn by_name(name: &str) -> Option<Box<dyn LbPolicy>> {
    match name {
        "pick_first" => Some(Box::new(PickFirst::default())),
        "round_robin" => Some(Box::new(RoundRobin::default())),
        _ => None,
    }
}

/// `pick_first`: tries the addresses in list order and stays on the first
/// that connects; every call goes there. When it fails, the channel goes
/// IDLE and the next call starts over from the top of the list, passing
/// over addresses still in backoff. When every address failed, the channel
/// is TRANSIENT_FAILURE until one connects (each retries on its backoff).
#[derive(Debug, Default)]
pub struct PickFirst {
    /// The READY subchannel calls go to.
    selected: Option<SubchannelId>,
    /// A pass over the list is in progress (or every address failed and
    /// each retries on its own backoff).
    connecting: bool,
    /// Every address failed since the last READY (sticky until READY).
    failed: bool,
}

impl PickFirst {
    /// Connects the first address of the pass not yet failed; marks the
    /// pass failed when none is left.
    fn advance(&mut self, subs: &[SubchannelView], out: &mut Vec<LbAction>) {
        if subs
            .iter()
            .any(|s| s.state == ConnectivityState::Connecting)
        {
            return;
        }
        match subs.iter().find(|s| s.state == ConnectivityState::Idle) {
            Some(s) if !self.failed => out.push(LbAction::Connect(s.id)),
            _ => {
                if subs
                    .iter()
                    .all(|s| s.state == ConnectivityState::TransientFailure)
                    && !subs.is_empty()
                {
                    self.failed = true;
                }
                if self.failed {
                    // After a failed pass, each address retries on its own
                    // backoff (it comes back IDLE); connect whichever does.
                    for s in subs.iter().filter(|s| s.state == ConnectivityState::Idle) {
                        out.push(LbAction::Connect(s.id));
                    }
                }
            }
        }
    }
}

impl LbPolicy for PickFirst {
    fn name(&self) -> &'static str {
        "pick_first"
    }

    fn exit_idle(&mut self, subs: &[SubchannelView], out: &mut Vec<LbAction>) {
        if self
            .selected
            .is_some_and(|id| subs.iter().any(|s| s.id == id))
        {
            return;
        }
        self.selected = None;
        self.connecting = true;
        self.advance(subs, out);
    }

    fn addresses_changed(&mut self, subs: &[SubchannelView], out: &mut Vec<LbAction>) {
        // Keep the selected backend if it is still in the list.
        if let Some(id) = self.selected
            && !subs.iter().any(|s| s.id == id)
        {
            self.selected = None;
        }
        self.failed = false;
        self.exit_idle(subs, out);
    }

    fn subchannel_changed(
        &mut self,
        subs: &[SubchannelView],
        changed: SubchannelId,
        out: &mut Vec<LbAction>,
    ) {
        let Some(sub) = subs.iter().find(|s| s.id == changed) else {
            return;
        };
        match sub.state {
            ConnectivityState::Ready => {
                if self.selected.is_some_and(|id| id != changed) {
                    // Already on another backend: this one is not needed.
                    out.push(LbAction::Disconnect(changed));
                    return;
                }
                self.selected = Some(changed);
                self.connecting = false;
                self.failed = false;
                for s in subs.iter().filter(|s| s.id != changed) {
                    if s.state == ConnectivityState::Connecting {
                        out.push(LbAction::Disconnect(s.id));
                    }
                }
            }
            ConnectivityState::Idle if self.selected == Some(changed) => {
                // The backend we were on is gone: IDLE until the next call.
                self.selected = None;
                self.connecting = false;
            }
            ConnectivityState::TransientFailure | ConnectivityState::Idle if self.connecting => {
                self.advance(subs, out)
            }
            _ => {}
        }
    }

    fn pick(&mut self, subs: &[SubchannelView], _: Option<SubchannelId>) -> Option<SubchannelId> {
        let id = self.selected?;
        subs.iter().find(|s| s.id == id && s.has_room).map(|s| s.id)
    }

    fn state(&self, subs: &[SubchannelView]) -> ConnectivityState {
        let selected = self
            .selected
            .and_then(|id| subs.iter().find(|s| s.id == id));
        match selected {
            Some(s) if s.state == ConnectivityState::Ready => ConnectivityState::Ready,
            _ if self.failed => ConnectivityState::TransientFailure,
            _ if self.connecting => ConnectivityState::Connecting,
            _ => ConnectivityState::Idle,
        }
    }

    fn entered_idle(&mut self) {
        *self = PickFirst::default();
    }
}

/// `round_robin`: connects every address and spreads calls over the READY
/// ones in turn. A subchannel that fails leaves the rotation and reconnects
/// on its backoff; it is picked again once READY. The state is READY while
/// any subchannel is; after every one failed it stays TRANSIENT_FAILURE
/// until one is READY again (not CONNECTING at each retry).
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: usize,
    sticky_failure: bool,
}

impl LbPolicy for RoundRobin {
    fn name(&self) -> &'static str {
        "round_robin"
    }

    fn exit_idle(&mut self, subs: &[SubchannelView], out: &mut Vec<LbAction>) {
        for s in subs.iter().filter(|s| s.state == ConnectivityState::Idle) {
            out.push(LbAction::Connect(s.id));
        }
    }

    fn subchannel_changed(
        &mut self,
        subs: &[SubchannelView],
        changed: SubchannelId,
        out: &mut Vec<LbAction>,
    ) {
        let Some(sub) = subs.iter().find(|s| s.id == changed) else {
            return;
        };
        if sub.state == ConnectivityState::Idle {
            out.push(LbAction::Connect(changed));
        }
        let agg = aggregate(subs.iter().map(|s| s.state));
        match agg {
            ConnectivityState::Ready => self.sticky_failure = false,
            ConnectivityState::TransientFailure => self.sticky_failure = true,
            _ => {}
        }
    }

    fn pick(
        &mut self,
        subs: &[SubchannelView],
        avoid: Option<SubchannelId>,
    ) -> Option<SubchannelId> {
        let n = subs.len();
        let mut fallback = None;
        for i in 0..n {
            let s = &subs[(self.next + i) % n];
            if !s.has_room {
                continue;
            }
            if Some(s.id) == avoid {
                fallback.get_or_insert((i, s.id));
                continue;
            }
            self.next = (self.next + i + 1) % n;
            return Some(s.id);
        }
        let (i, id) = fallback?;
        self.next = (self.next + i + 1) % n;
        Some(id)
    }

    fn state(&self, subs: &[SubchannelView]) -> ConnectivityState {
        match aggregate(subs.iter().map(|s| s.state)) {
            ConnectivityState::Ready => ConnectivityState::Ready,
            _ if self.sticky_failure => ConnectivityState::TransientFailure,
            s => s,
        }
    }

    fn entered_idle(&mut self) {
        self.sticky_failure = false;
    }
}
