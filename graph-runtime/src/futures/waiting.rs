//! Waiting for several futures: `wait` (first or all completed, with a timeout) and
//! `as_completed` (in completion order, more may be added while iterating).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pool;
use super::state::sleep_until;
use super::{Future, FutureError};
use crate::lock::Recover;
use crate::sync::{Condvar, Mutex};

/// What [`wait`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// Return as soon as one future is done.
    FirstCompleted,
    /// Return when every future is done.
    AllCompleted,
}

/// A counter of ended futures that a waiter sleeps on.
#[derive(Default)]
struct Signal {
    ended: Mutex<usize>,
    changed: Condvar,
}

impl Signal {
    fn bump(&self) {
        *self.ended.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.changed.notify_all();
    }

    /// Blocks until `ready(ended)` or the deadline (`None`: no deadline), as a waiting
    /// thread should (see `pool`).
    fn wait_for(&self, ready: impl Fn(usize) -> bool, deadline: Option<Instant>) -> bool {
        let done = || ready(*self.ended.lock().recover());
        pool::wait(&done, None, deadline, || {
            let ended = self.ended.lock().recover();
            sleep_until(&self.changed, ended, |n| ready(*n), deadline).1
        })
    }
}

/// Waits until the first (or every) future is done, or `timeout` passes; returns the
/// done futures and the others (Dask's `wait`).
pub fn wait<T>(
    futures: &[Future<T>],
    mode: WaitMode,
    timeout: Option<Duration>,
) -> (Vec<Future<T>>, Vec<Future<T>>) {
    let signal = Arc::new(Signal::default());
    for future in futures {
        let signal = signal.clone();
        future.core().on_end(move |_| signal.bump());
    }
    let total = futures.len();
    // A timeout too long for a deadline (`Duration::MAX`) is none.
    let deadline = timeout.and_then(pool::deadline_after);
    signal.wait_for(
        |ended| match mode {
            WaitMode::FirstCompleted => ended >= 1 || total == 0,
            WaitMode::AllCompleted => ended >= total,
        },
        deadline,
    );
    futures.iter().cloned().partition(Future::done)
}

/// Futures in the order they finish; more can be added while iterating. Made by
/// [`as_completed`].
#[must_use = "`as_completed` yields nothing until iterated: use it in a `for` loop"]
pub struct AsCompleted<T> {
    queue: Arc<(Mutex<VecDeque<Future<T>>>, Condvar)>,
    outstanding: usize,
}

/// Iterates `futures` in completion order (Dask's `as_completed`).
pub fn as_completed<T: Send + Sync + 'static>(
    futures: impl IntoIterator<Item = Future<T>>,
) -> AsCompleted<T> {
    let mut iter = AsCompleted {
        queue: Arc::new((Mutex::new(VecDeque::new()), Condvar::new())),
        outstanding: 0,
    };
    for future in futures {
        iter.add(future);
    }
    iter
}

impl<T: Send + Sync + 'static> AsCompleted<T> {
    /// Adds a future to the iteration.
    pub fn add(&mut self, future: Future<T>) {
        self.outstanding += 1;
        let queue = self.queue.clone();
        let handle = future.clone();
        future.core().on_end(move |_| {
            let (list, ready) = &*queue;
            list.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_back(handle);
            ready.notify_all();
        });
    }

    /// The futures still expected.
    pub fn remaining(&self) -> usize {
        self.outstanding
    }

    /// Yields each future with its result, in completion order.
    pub fn with_results(self) -> impl Iterator<Item = (Future<T>, Result<Arc<T>, FutureError>)> {
        self.map(|future| {
            let result = future.result_shared();
            (future, result)
        })
    }
}

impl<T: Send + Sync + 'static> Iterator for AsCompleted<T> {
    type Item = Future<T>;

    fn next(&mut self) -> Option<Future<T>> {
        if self.outstanding == 0 {
            return None;
        }
        let (list, ready) = &*self.queue;
        let done = || !list.lock().recover().is_empty();
        pool::wait(&done, None, None, || {
            let queue = list.lock().recover();
            sleep_until(ready, queue, |q| !q.is_empty(), None).1
        });
        // Only this iterator takes from the queue: what it saw there is still there.
        let next = list.lock().recover().pop_front();
        self.outstanding -= 1;
        next
    }
}
