//! The accept loop of both blocking servers, and its cap on connections
//! served at once: the loop takes a slot before it accepts, and a
//! connection's thread gives the slot back when it ends. At the cap, new
//! connections wait in the kernel's backlog, as under Go's
//! `netutil.LimitListener`.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The live connections of a server: how to reach each, and its thread.
pub(crate) type ConnList<T> = Mutex<Vec<(Sender<T>, JoinHandle<()>)>>;

/// Accepts until `stop` is set, at most `max_connections` served at once.
/// Each connection runs on a thread named `thread_name`, what `serve`
/// makes of its stream and its channel (whose sender also goes in
/// `conns`, for the server's shutdown). `stop` is seen on the next accept:
/// whoever sets it connects once to wake the loop.
pub(crate) fn accept_loop<T, F>(
    listener: &TcpListener,
    stop: &AtomicBool,
    max_connections: usize,
    conns: &ConnList<T>,
    thread_name: &str,
    mut serve: impl FnMut(TcpStream, Sender<T>, Receiver<T>) -> F,
) where
    T: Send + 'static,
    F: FnOnce() + Send + 'static,
{
    let slots = ConnSlots::new(max_connections);
    while let Some(slot) = slots.take(stop) {
        let stream = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok((stream, _)) = stream else {
            // A connection that failed before we got it, or out of
            // descriptors: keep serving, after a pause so a lasting error
            // does not spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let (tx, rx) = mpsc::channel();
        let run = serve(stream, tx.clone(), rx);
        let spawned = thread::Builder::new()
            .name(thread_name.into())
            .spawn(move || {
                run();
                drop(slot);
            });
        // Out of threads: this connection is dropped, the server goes on.
        let Ok(thread) = spawned else { continue };
        // Pruning asks each thread whether it ended; it must not wake them
        // (a message to every connection on every accept is quadratic).
        if let Ok(mut list) = conns.lock() {
            list.retain(|(_, t)| !t.is_finished());
            list.push((tx, thread));
        }
    }
}

/// How often a full accept loop looks at its stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// The slots of one server.
#[derive(Debug, Clone)]
pub(crate) struct ConnSlots {
    used: Arc<(Mutex<usize>, Condvar)>,
    max: usize,
}

/// One connection's slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    used: Arc<(Mutex<usize>, Condvar)>,
}

impl ConnSlots {
    /// At most `max` connections (at least one).
    pub(crate) fn new(max: usize) -> Self {
        ConnSlots {
            used: Arc::default(),
            max: max.max(1),
        }
    }

    /// Waits for a free slot; `None` once `stop` is set.
    pub(crate) fn take(&self, stop: &AtomicBool) -> Option<Slot> {
        let (lock, freed) = &*self.used;
        let mut used = lock.lock().unwrap_or_else(|e| e.into_inner());
        while *used >= self.max {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            used = freed
                .wait_timeout(used, STOP_CHECK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *used += 1;
        Some(Slot {
            used: self.used.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (lock, freed) = &*self.used;
        let mut used = lock.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(1);
        freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_server_waits_for_a_slot_and_stops_on_request() {
        let slots = ConnSlots::new(2);
        let stop = AtomicBool::new(false);
        let a = slots.take(&stop).unwrap();
        let _b = slots.take(&stop).unwrap();
        let waiter = {
            let slots = slots.clone();
            std::thread::spawn(move || slots.take(&AtomicBool::new(false)))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "both slots are taken");
        drop(a);
        let _c = waiter.join().unwrap().expect("a slot given back is taken");
        stop.store(true, Ordering::SeqCst);
        assert!(slots.take(&stop).is_none(), "full and stopping");
    }
}
