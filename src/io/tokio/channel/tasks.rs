//! The channel's background tasks: dialing a subchannel and watching its
//! connection, `dns:` lookups, and the timers.

use super::link::Link;
use super::{Conn, Shared};
use crate::channel::{Address, ConnId};

/// Dials one subchannel's connection and watches it until it ends.
pub(super) async fn dial(shared: std::sync::Weak<Shared>, conn: ConnId, address: Address) {
    let Some(s) = shared.upgrade() else {
        return;
    };
    let dialing = Link::dial(
        s.kind,
        address.0.as_str(),
        s.grpc.clone(),
        #[cfg(feature = "tower")]
        s.http.clone(),
    );
    drop(s);
    let result = dialing.await;
    let Some(s) = shared.upgrade() else { return };
    let closing = match result {
        Ok(link) => {
            // GOAWAY (or the end) takes the subchannel out of READY at once:
            // new calls go elsewhere, calls on it finish on their clones.
            let closing = link.closing();
            let current = s.with(|core, now| {
                // Not if the channel gave up on this attempt meanwhile.
                let current = core.conns.contains_key(&conn);
                if current {
                    // The server's SETTINGS are in: its stream limit is
                    // known before the first pick.
                    if let Some(limit) = link.max_concurrent_streams() {
                        core.ch.set_stream_limit(conn, limit, now);
                    }
                    core.conns.insert(conn, Conn::Up(link));
                    core.ch.connected(conn, now);
                }
                current
            });
            if !current {
                return;
            }
            closing
        }
        Err(e) => {
            s.with(|core, now| {
                core.conns.remove(&conn);
                core.ch.connect_failed(conn, &e, now);
            });
            return;
        }
    };
    drop(s);
    closing.await;
    if let Some(s) = shared.upgrade() {
        s.with(|core, now| {
            core.conns.remove(&conn);
            core.ch.disconnected(conn, now);
        });
    }
}

/// A `dns:` lookup with tokio's resolver.
pub(super) async fn lookup(shared: std::sync::Weak<Shared>, host: String, port: u16) {
    let result = tokio::net::lookup_host((host.as_str(), port)).await;
    let Some(s) = shared.upgrade() else { return };
    s.with(|core, now| match result {
        Ok(addrs) => {
            let mut v: Vec<Address> = addrs.map(Address::from).collect();
            v.dedup();
            core.ch.update_addresses(v, now);
        }
        Err(e) => core.ch.resolve_failed(&e.to_string(), now),
    });
}

/// The channel's timers.
pub(super) async fn run_timers(shared: std::sync::Weak<Shared>) {
    loop {
        let Some(s) = shared.upgrade() else { return };
        let next = s.quiet(|core, now| {
            core.ch.handle_timeout(now);
            core.ch.poll_timeout()
        });
        let wake = s.clone();
        drop(s);
        let notified = wake.wake.notified();
        match next {
            Some(at) => {
                let _ = tokio::time::timeout_at(at.into(), notified).await;
            }
            None => notified.await,
        }
    }
}
