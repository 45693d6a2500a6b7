//! Name resolution: the resolver's answers and the caller's lookups, and
//! when to ask again.

use std::time::Instant;

use super::{Channel, Subchannel};
use crate::channel::backoff::Backoff;
use crate::channel::{Address, ConnectivityState::*, Event, Resolution, SubchannelId};

impl Channel {
    /// New addresses from the resolver (or the caller's lookup). Subchannels
    /// of addresses still listed are kept; the others are dropped.
    pub fn update_addresses(&mut self, addresses: Vec<Address>, now: Instant) {
        self.resolving = false;
        if addresses.is_empty() {
            return self.resolve_failed("the resolver returned no address", now);
        }
        self.resolved = true;
        self.resolve_error = None;
        let mut old = std::mem::take(&mut self.subs);
        for a in addresses {
            if self.subs.iter().any(|s| s.address == a) {
                continue;
            }
            match old.iter().position(|s| s.address == a) {
                Some(i) => self.subs.push(old.remove(i)),
                None => {
                    let id = SubchannelId(self.next());
                    self.subs.push(Subchannel {
                        id,
                        address: a,
                        state: Idle,
                        conn: None,
                        backoff: Backoff::new(),
                        attempt: None,
                        calls: 0,
                        limit: usize::MAX,
                        extra: Vec::new(),
                    });
                }
            }
        }
        for s in old {
            if let Some(conn) = s.conn {
                self.events.push_back(Event::Disconnect { conn });
            }
            for e in &s.extra {
                self.events.push_back(Event::Disconnect { conn: e.conn });
            }
            self.events.push_back(Event::SubchannelState {
                subchannel: s.id,
                address: s.address,
                state: Shutdown,
            });
        }
        if !self.idle {
            let mut actions = Vec::new();
            self.policy
                .addresses_changed(&self.subchannels(), &mut actions);
            self.apply(actions, now);
        }
        self.update(now);
    }

    /// The caller's lookup failed. With no addresses yet, the channel is
    /// TRANSIENT_FAILURE (calls that do not wait for ready fail); a new
    /// lookup is asked for after `min_resolve_interval`.
    pub fn resolve_failed(&mut self, why: &str, now: Instant) {
        self.resolving = false;
        if !self.resolved {
            self.resolve_error = Some(why.to_owned());
        }
        self.next_resolve = Some(now + self.config.min_resolve_interval);
        self.update(now);
    }

    /// A subchannel failed: resolve again soon, if the answer can change.
    pub(super) fn want_resolve(&mut self, now: Instant) {
        if !self.resolver.is_dynamic() {
            return;
        }
        let earliest = self
            .last_resolve
            .map_or(now, |t| t + self.config.min_resolve_interval)
            .max(now);
        self.next_resolve = Some(self.next_resolve.map_or(earliest, |t| t.min(earliest)));
    }

    pub(super) fn resolve(&mut self, now: Instant) {
        if self.resolving {
            return;
        }
        self.last_resolve = Some(now);
        if self.resolver.is_dynamic() {
            self.next_resolve = Some(now + self.config.resolve_interval);
        }
        match self.resolver.resolve() {
            Resolution::Addresses(a) => self.update_addresses(a, now),
            Resolution::Lookup { host, port } => {
                self.resolving = true;
                self.events.push_back(Event::Resolve { host, port });
            }
        }
    }
}
