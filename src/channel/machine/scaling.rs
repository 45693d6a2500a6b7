//! gRFC A105, opt-in ([`Config::max_connections_per_backend`]): when every
//! connection of the READY subchannels is at the peer's
//! MAX_CONCURRENT_STREAMS and a call waits, one more connection to a full
//! backend opens, up to the cap. The extra connections carry calls only;
//! the subchannel's state is its first connection's, and the extras close
//! with it.

use std::time::Instant;

use super::Channel;
use crate::channel::{ConnId, ConnectivityState::*, Event};

#[cfg(doc)]
use crate::channel::Config;

/// One more connection of a subchannel.
#[derive(Debug, Clone, Copy)]
pub(super) struct Extra {
    pub conn: ConnId,
    pub up: bool,
    pub calls: usize,
    pub limit: usize,
    /// An attempt not up by then is abandoned.
    pub deadline: Instant,
}

impl Extra {
    pub(super) fn has_room(&self) -> bool {
        self.up && self.calls < self.limit
    }
}

impl Channel {
    /// The subchannel and place of an extra connection.
    fn extra_of(&self, conn: ConnId) -> Option<(usize, usize)> {
        self.subs
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.extra.iter().position(|e| e.conn == conn).map(|j| (i, j)))
    }

    /// `connected` for an extra connection. False: not one.
    pub(super) fn extra_connected(&mut self, conn: ConnId) -> bool {
        let Some((i, j)) = self.extra_of(conn) else {
            return false;
        };
        self.subs[i].extra[j].up = true;
        true
    }

    /// `set_stream_limit` for an extra connection.
    pub(super) fn extra_limit(&mut self, conn: ConnId, limit: usize) {
        if let Some((i, j)) = self.extra_of(conn) {
            self.subs[i].extra[j].limit = limit;
        }
    }

    /// An extra connection failed or went away: forgotten (calls on it end
    /// on their own). False: not one.
    pub(super) fn extra_gone(&mut self, conn: ConnId) -> bool {
        let Some((i, j)) = self.extra_of(conn) else {
            return false;
        };
        self.subs[i].extra.remove(j);
        true
    }

    /// Closes subchannel `i`'s extra connections (its first one is gone).
    pub(super) fn drop_extras(&mut self, i: usize) {
        for e in std::mem::take(&mut self.subs[i].extra) {
            self.events.push_back(Event::Disconnect { conn: e.conn });
        }
    }

    /// A call waits and no READY connection has room: opens one more
    /// connection to a full READY backend, if the cap allows and none is
    /// being opened already. True if it did.
    pub(super) fn scale_up(&mut self, now: Instant) -> bool {
        let max = self.config.max_connections_per_backend;
        if max <= 1 || self.subs.iter().any(|s| s.extra.iter().any(|e| !e.up)) {
            return false;
        }
        let Some(i) = self
            .subs
            .iter()
            .position(|s| s.state == Ready && s.extra.len() + 1 < max)
        else {
            return false;
        };
        let conn = ConnId(self.next());
        let deadline = now + self.config.connect.min_connect_timeout;
        let s = &mut self.subs[i];
        s.extra.push(Extra {
            conn,
            up: false,
            calls: 0,
            limit: usize::MAX,
            deadline,
        });
        self.events.push_back(Event::Connect {
            subchannel: s.id,
            conn,
            address: s.address.clone(),
        });
        true
    }

    /// When the earliest extra attempt times out.
    pub(super) fn extras_deadline(&self) -> Option<Instant> {
        self.subs
            .iter()
            .flat_map(|s| s.extra.iter())
            .filter(|e| !e.up)
            .map(|e| e.deadline)
            .min()
    }

    /// Abandons the extra attempts that did not connect in time.
    pub(super) fn expire_extras(&mut self, now: Instant) {
        for s in &mut self.subs {
            s.extra.retain(|e| {
                let expired = !e.up && e.deadline <= now;
                if expired {
                    self.events.push_back(Event::Disconnect { conn: e.conn });
                }
                !expired
            });
        }
    }
}
