//! Where two tasks meet on two workers: the first to arrive waits until the second has
//! started on another worker, then returns `1`; the second holds its worker until the
//! test lets it go, then returns `2`. So a test knows one worker is free again (or
//! waiting in a join) while the other is held. Shared by `tests/futures_wait_cycles.rs`
//! and `tests/outcomes_mixed.rs`, whose `#[delayed]` tasks call [`Rendezvous::meet`].

#![allow(dead_code)]

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// How long any side waits for the other before it fails the test.
const LIMIT: Duration = Duration::from_secs(60);

/// The flags two tasks meet by; leak one (`Box::leak`) to share it with `'static` tasks.
#[derive(Default)]
pub(crate) struct Rendezvous {
    first: AtomicBool,
    second_started: AtomicBool,
    /// Set once the first task has returned.
    pub(crate) first_done: AtomicBool,
    /// Set by the test to let the second task go.
    pub(crate) release: AtomicBool,
}

impl Rendezvous {
    /// The body of a task that meets another: `1` for the first to call it, `2` for
    /// the second.
    pub(crate) fn meet(&self) -> u64 {
        if !self.first.swap(true, SeqCst) {
            wait_until(&self.second_started);
            self.first_done.store(true, SeqCst);
            1
        } else {
            self.second_started.store(true, SeqCst);
            wait_until(&self.release);
            2
        }
    }
}

/// Sleeps until `flag` is set; panics past [`LIMIT`] rather than hang the test.
pub(crate) fn wait_until(flag: &AtomicBool) {
    let start = Instant::now();
    while !flag.load(SeqCst) {
        assert!(start.elapsed() < LIMIT, "a rendezvous never came");
        std::thread::sleep(Duration::from_millis(1));
    }
}
