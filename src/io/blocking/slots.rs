//! The cap on connections a blocking server serves at once: its accept
//! loop takes a slot before it accepts, and a connection's thread gives
//! the slot back when it ends. At the cap, new connections wait in the
//! kernel's backlog, as under Go's `netutil.LimitListener`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

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
