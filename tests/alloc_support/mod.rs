//! A global allocator that counts the bytes live on the process heap, for
//! the tests that bound what a server holds. A test installs it with
//! `#[global_allocator] static ALLOC: alloc_support::Counting = alloc_support::Counting;`
//! and reads [`live`] (or [`growth_since`]) around what it measures.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

/// Forwards to the system allocator and counts.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The largest single allocation made by a thread not marked with
/// [`mark_test_thread`] (in the servers' tests: a server's threads).
static LARGEST: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the tests' own threads (the clients): not counted in LARGEST.
    static TEST_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn note_size(size: usize) {
    // `try_with`: a thread being torn down counts as a test thread.
    if !TEST_THREAD.try_with(Cell::get).unwrap_or(true) {
        LARGEST.fetch_max(size, Relaxed);
    }
}

fn size(layout: Layout) -> isize {
    isize::try_from(layout.size()).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded to `System` with the same arguments; only
// a counter is updated besides, for the allocations that succeeded.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(size(layout), Relaxed);
            note_size(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(size(layout), Relaxed);
            note_size(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(size(layout), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let new = isize::try_from(new_size).unwrap_or(isize::MAX);
            LIVE.fetch_add(new - size(layout), Relaxed);
            note_size(new_size);
        }
        p
    }
}

/// Bytes allocated and not freed yet (since the process started).
pub fn live() -> isize {
    LIVE.load(Relaxed)
}

/// How far the heap grew since `before` (a [`live`] reading); 0 if it shrank.
pub fn growth_since(before: isize) -> usize {
    usize::try_from(live() - before).unwrap_or(0)
}

/// Marks the calling thread as the test's own: its allocations do not count
/// in [`largest`].
pub fn mark_test_thread() {
    TEST_THREAD.set(true);
}

/// The largest single allocation by an unmarked thread since the last
/// [`reset_largest`].
pub fn largest() -> usize {
    LARGEST.load(Relaxed)
}

/// Starts [`largest`] again from 0.
pub fn reset_largest() {
    LARGEST.store(0, Relaxed);
}

/// Runs `f` with the calling thread marked as the test's own (allocations
/// made for the application, not the server), then restores its mark.
pub fn as_test_thread<R>(f: impl FnOnce() -> R) -> R {
    let was = TEST_THREAD.replace(true);
    let r = f();
    TEST_THREAD.set(was);
    r
}
