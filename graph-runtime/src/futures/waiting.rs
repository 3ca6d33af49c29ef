//! Waiting for several futures: `wait` (first or all completed, with a timeout),
//! `as_completed` (in completion order, more may be added while iterating), and
//! watching them with a progress bar (`progress`, [`Progress::watch`]).

use std::cell::{Cell, OnceCell};
use std::collections::{BTreeMap, VecDeque};
// Process-wide counts of the gathers' wake-ups: std's, not loom's (statics).
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::blocked::Awaited;
use super::info::{AnyFuture, FutureRef};
use super::pool;
use super::state::{CallbackId, Core, HasCore, Outcome};
use super::{Future, FutureError};
use crate::engine::lock::Recover;
use crate::engine::sync::sleep_until;
use crate::engine::sync::{Condvar, Mutex};
use crate::observers::progress::{Progress, Watched};

/// What [`wait`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// Return as soon as one future is done.
    FirstCompleted,
    /// Return when every future is done.
    AllCompleted,
    /// Return as soon as one future ends in error (its task, or one it depends on,
    /// panicked), or when every future is done: `concurrent.futures`'
    /// `FIRST_EXCEPTION` (a cancelled future is not an exception), which Dask's `wait`
    /// does not take (it raises `NotImplementedError`).
    FirstException,
}

/// Counts of ended futures that a waiter sleeps on.
#[derive(Default)]
struct Signal {
    ended: Mutex<Ended>,
    changed: Condvar,
}

#[derive(Default, Clone, Copy)]
struct Ended {
    /// Futures that ended, however.
    all: usize,
    /// Of those, the ones that ended in error.
    failed: usize,
}

impl Signal {
    fn bump(&self, outcome: &Outcome) {
        let mut ended = self.ended.lock().recover();
        ended.all += 1;
        ended.failed += usize::from(matches!(outcome, Outcome::Failed(_)));
        drop(ended);
        self.changed.notify_all();
    }

    /// Blocks until `ready(ended)` or the deadline (`None`: no deadline), as a waiting
    /// thread should (see `pool`): `Ok(false)` at the deadline, the error of a wait
    /// that could never end (see `pool::wait`).
    fn wait_for(
        &self,
        ready: impl Fn(Ended) -> bool,
        awaited: Awaited<'_>,
        deadline: Option<Instant>,
    ) -> Result<bool, FutureError> {
        let done = || ready(*self.ended.lock().recover());
        pool::wait(&done, awaited, deadline, |until| {
            let ended = self.ended.lock().recover();
            sleep_until(&self.changed, ended, |n| ready(*n), until).1
        })
    }
}

/// What [`wait`] and [`as_completed`] wait for: a [`Future<T>`], or, to mix futures of
/// different result types, an [`ErasedFuture`](super::ErasedFuture) (`a.erase()`) or a
/// `&dyn AnyFuture` (`wait(&[&a as &dyn AnyFuture, &b], …)`), as Dask's `wait` and
/// `as_completed` take any futures.
pub trait Waitable: Clone {
    /// The future's state.
    #[doc(hidden)]
    fn waited(&self) -> FutureRef;
}

impl<T: Send + Sync + 'static> Waitable for Future<T> {
    fn waited(&self) -> FutureRef {
        self.state_ref()
    }
}

impl Waitable for super::ErasedFuture {
    fn waited(&self) -> FutureRef {
        self.state_ref()
    }
}

impl Waitable for &dyn AnyFuture {
    fn waited(&self) -> FutureRef {
        self.state_ref()
    }
}

/// Waits until the first (or every) future is done, or `timeout` passes; returns the
/// done futures and the others (Dask's `wait`). A timeout too long for a deadline
/// (`Duration::MAX`) is none; `Duration::ZERO` only looks. Nothing is left behind on
/// the futures once it returns: a wait that timed out takes its callbacks back.
/// Futures of different result types wait together as `&dyn AnyFuture`s.
///
/// Inside a task, without a timeout, a wait for the first (`FirstCompleted`,
/// `FirstException`) that would block runs the first of `futures`, in their order,
/// that is still queued (not started) on its own thread, as a wait for all (and
/// `result`) runs what it needs, rather than blocking a thread and starting another;
/// its end is then the first the wait sees. Until that task returns the wait sees no
/// other end, as rayon's `join` runs its second closure before it looks at the first;
/// and should that task wait for the waiting one (a future handed to it other than as
/// an argument), it finds it under itself, and its wait fails as one that could never
/// end ([`FutureError::WaitsForItself`]), though another future could have ended
/// this wait.
///
/// Where Dask's raises `TimeoutError` when the timeout passes first, this returns: the
/// futures not done then are the second list. Look at it before a `gather`, which
/// would wait for them without a limit. Where Dask's raises `FuturesCancelledError`
/// when one of the futures was cancelled, this returns it among the done ones: look
/// at their [`status`](Future::status) (or read them) to tell. (Dask 2026.8's
/// `wait(fs, timeout=0)` raises `TimeoutError` even when every future is done; here
/// `Duration::ZERO` returns them all done.)
///
/// The two lists are `Vec`s in the order of `futures`, each entry of `futures` in one
/// of them: a future given twice is there twice, where Dask's `done` and `not_done`
/// are sets (`wait([a, a]).done` is `{a}`).
///
/// # Panics
/// In a task, when the wait has no timeout and could never end: the futures it needs
/// (every one for `AllCompleted`, any one otherwise) cannot end before this very task
/// does (see [`FutureError::WaitsForItself`]: its own future, one that needs it), or
/// wait for it in a cycle of waits through other tasks (see
/// [`FutureError::WaitCycle`]). The task then fails with that message rather than
/// hang. Found when the wait would block; a wait for the first exception looks again
/// each time a future ends without making it ready.
#[must_use = "after a timeout, the futures not done are in the second list (where Dask's `wait` raises `TimeoutError`)"]
pub fn wait<F: Waitable>(
    futures: &[F],
    mode: WaitMode,
    timeout: Option<Duration>,
) -> (Vec<F>, Vec<F>) {
    let signal = Arc::new(Signal::default());
    let states: Vec<FutureRef> = futures.iter().map(Waitable::waited).collect();
    let registered: Vec<_> = states
        .iter()
        .filter_map(|state| {
            let signal = signal.clone();
            let id = state
                .state()
                .core()
                .on_end(move |outcome| signal.bump(outcome))?;
            Some((state, id))
        })
        .collect();
    let total = futures.len();
    let deadline = timeout.and_then(pool::deadline_after);
    let ready = |ended: Ended| match mode {
        WaitMode::FirstCompleted => ended.all >= 1 || total == 0,
        WaitMode::AllCompleted => ended.all >= total,
        WaitMode::FirstException => ended.failed >= 1 || ended.all >= total,
    };
    let unfinished = || {
        states
            .iter()
            .filter(|state| !state.state().core().is_done())
            .map(|state| state.state().clone())
            .collect()
    };
    // For a wait for any one: the futures in the caller's order, each once over the
    // whole wait (a wait for the first exception looks several times).
    let cursor = Cell::new(0);
    let next_inline = || {
        let state = states.get(cursor.get())?;
        cursor.set(cursor.get() + 1);
        Some(state.state().clone())
    };
    let awaited = || Awaited::Several {
        all: mode == WaitMode::AllCompleted,
        futures: &unfinished,
        next_inline: (mode != WaitMode::AllCompleted).then_some(&next_inline as _),
    };
    let never = loop {
        if mode != WaitMode::FirstException {
            break signal.wait_for(ready, awaited(), deadline).err();
        }
        // A future that finishes well does not make this wait ready, and what it
        // needs shrinks: woken by every end, it looks again (an end of any one of
        // them could make it ready).
        let seen = signal.ended.lock().recover().all;
        let ended_or_ready = |ended: Ended| ready(ended) || ended.all > seen;
        match signal.wait_for(ended_or_ready, awaited(), deadline) {
            Err(error) => break Some(error),
            Ok(false) => break None,
            Ok(true) if ready(*signal.ended.lock().recover()) => break None,
            Ok(true) => {}
        }
    };
    for (state, id) in registered {
        state.state().core().remove_on_end(id);
    }
    if let Some(error) = never {
        panic!("{error}");
    }
    let mut done = Vec::new();
    let mut not_done = Vec::new();
    for (future, state) in futures.iter().zip(&states) {
        if state.state().core().is_done() {
            done.push(future.clone());
        } else {
            not_done.push(future.clone());
        }
    }
    (done, not_done)
}

/// A gather's state while it waits (see [`wait_in_gather`]), kept from one future of
/// its list to the next: made by [`Client::gather`](crate::Client::gather), dropped
/// when it returns (taking back its [`Watch`]).
#[derive(Default)]
pub(crate) struct Gathering {
    /// The count of ends without a result anywhere ([`UNFINISHED_ENDS`]) when it last
    /// looked through its list (`None` before it has): what wakes it until it has a
    /// watch.
    seen: Option<u64>,
    /// Made when it first sleeps, or first publishes its wait in a task: no allocation
    /// for a gather that never does.
    watch: OnceCell<Arc<Watch>>,
}

impl Drop for Gathering {
    fn drop(&mut self) {
        if let Some(watch) = self.watch.get() {
            watch.unregister();
        }
    }
}

/// For [`Client::gather`](crate::Client::gather), at a future of its list not ended,
/// `rest[0]`: waits until it has ended, or returns the error of the first future of
/// `rest` to have ended without a result as soon as one has, as Dask's `gather`
/// (`errors="raise"`) stops at the first such end rather than waiting for the futures
/// before it in the list. The wait is [`Future::result`]'s (running what it needs,
/// refusing a wait that could never end: in a task, the wait is for `rest[0]` or the
/// failure of any other future of `rest`, see `blocked`).
///
/// The gather looks through `rest` again only when told to: nothing is asked of a
/// future that finishes, and a `map` + `gather` costs what it did. Until it first
/// sleeps, any end without a result anywhere ([`ended_without_result`]) tells it; from
/// then on its [`Watch`] does: an end without a result of any future (until one of
/// those has woken it for nothing: from then on, of its own futures only), or the end
/// of a future the wait-cycle search found it relies on.
#[cold]
#[inline(never)]
pub(crate) fn wait_in_gather<T: Clone>(
    rest: &[Future<T>],
    gathering: &mut Gathering,
) -> Result<(), FutureError> {
    let Some(future) = rest.first() else {
        return Ok(());
    };
    loop {
        if future.core().is_done() {
            return Ok(());
        }
        let now = UNFINISHED_ENDS.load(Ordering::SeqCst);
        match gathering.watch.get() {
            None if gathering.seen != Some(now) => {
                gathering.seen = Some(now);
                if let Some(error) = scan(rest) {
                    return Err(error);
                }
            }
            None => {}
            // Taken before the look: an end after it wakes it again.
            Some(watch) if watch.hit.swap(false, Ordering::SeqCst) => {
                if let Some(error) = scan(rest) {
                    return Err(error);
                }
                // Woken by an end that was not its own (or by a future it relies on,
                // see `blocked`): from now on only its own futures' ends wake it.
                watch.narrow(rest);
            }
            Some(_) => {}
        }
        let watch = &gathering.watch;
        let made = || watch.get_or_init(|| Watch::register(now));
        let stop = || match watch.get() {
            Some(watch) => watch.hit.load(Ordering::SeqCst),
            None => UNFINISHED_ENDS.load(Ordering::SeqCst) != now,
        };
        let publish = || {
            #[cfg(all(test, not(loom)))]
            tests::BEFORE_PUBLISH.with(crate::futures::hook::Hook::run);
            let watch = made();
            watch.list(rest);
            watch.clone()
        };
        let awaited = Awaited::Gather {
            first: future.core(),
            watch: &publish,
        };
        if future
            .core()
            .wait_unless(&stop, awaited, || made().sleep_on(future.task().clone()))?
        {
            return Ok(());
        }
    }
}

/// The error of the first future of `rest` that has ended without a result.
fn scan<T>(rest: &[Future<T>]) -> Option<FutureError> {
    #[cfg(all(test, not(loom)))]
    tests::SCANS.with(|scans| scans.set(scans.get() + 1));
    rest.iter().find_map(error_now)
}

/// The error of `future` if it has ended without a result (failed or cancelled),
/// read without a clone of any value: a finished future being cancelled still holds
/// its value for a moment, whose `Clone` (the user's, which may panic) a gather
/// returning `Cancelled` must not run.
fn error_now<T>(future: &Future<T>) -> Option<FutureError> {
    match future.status() {
        super::Status::Error | super::Status::Cancelled => Some(
            future
                .state()
                .value
                .error()
                .unwrap_or_else(|| FutureError::cancelled(future.core())),
        ),
        _ => None,
    }
}

/// Ends without a result (a task failed or cancelled, a finished one cancelled), of
/// any client, so far: a gather with no [`Watch`] yet looks through the rest of its
/// list when this changes (see [`wait_in_gather`]).
static UNFINISHED_ENDS: AtomicU64 = AtomicU64::new(0);
/// The gathers' watches, one a gather that has slept and not returned yet; and how
/// many, read first by an end without a result (none, as a rule: no lock taken).
static WATCHES: std::sync::Mutex<Vec<Arc<Watch>>> = std::sync::Mutex::new(Vec::new());
static WATCH_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Called by the end without a result of `core`'s future (see [`UNFINISHED_ENDS`]):
/// wakes the gathers whose watch it concerns. Counted first, then the watches read: a
/// watch registered after the read sees the count changed (see [`Watch::register`]),
/// one registered before is told.
pub(crate) fn ended_without_result(core: &Core) {
    UNFINISHED_ENDS.fetch_add(1, Ordering::SeqCst);
    if WATCH_COUNT.load(Ordering::SeqCst) == 0 {
        return;
    }
    let address = address(core);
    let told: Vec<Arc<Watch>> = (WATCHES.lock().recover().iter())
        .filter(|watch| watch.concerns(address))
        .cloned()
        .collect();
    for watch in told {
        watch.wake();
    }
}

fn address(core: &Core) -> usize {
    core as *const Core as usize
}

/// What wakes a sleeping gather to look through its list again, from its first sleep
/// (or, in a task, its first published wait) until it returns: registered in
/// [`WATCHES`], so that an end without a result tells it; and, for the wait-cycle
/// search (`blocked`), the futures of its list that the wait also ends at (failing),
/// and the futures whose end it must look again at.
pub(crate) struct Watch {
    /// Set by an end the gather is to look at; taken by the gather before it looks.
    hit: AtomicBool,
    /// The future it sleeps on (or last slept on), for a wake to reach it.
    on: std::sync::Mutex<Option<Arc<dyn HasCore>>>,
    /// The addresses of the cores of its list's futures, from where it was then on,
    /// sorted: once set, only their ends without a result tell it. Set when an end
    /// woke it for nothing: a gather that no end elsewhere wakes never pays for it;
    /// one that many do looks through its list once, not once each.
    members: OnceLock<Box<[usize]>>,
    /// The futures of its list after the one it waits for, not ended when it first
    /// published its wait (see `blocked`); none once it returned.
    listed: std::sync::Mutex<Option<Listed>>,
    /// Callbacks on futures whose end it looks again at (see [`Watch::wake_at_end`]);
    /// `None` once it returned.
    savers: std::sync::Mutex<Option<Vec<Saver>>>,
}

/// A gather's futures, for the wait-cycle search (see [`Watch::listed`]).
pub(crate) type Listed = Arc<[Arc<dyn HasCore>]>;

/// A future whose end wakes a gather, and its callback.
type Saver = (Arc<dyn HasCore>, CallbackId);

impl Watch {
    /// A gather's watch, registered: `seen` is the count of ends without a result
    /// when it last looked through its list; one since then has it look again.
    fn register(seen: u64) -> Arc<Watch> {
        let watch = Arc::new(Watch {
            hit: AtomicBool::new(false),
            on: std::sync::Mutex::new(None),
            members: OnceLock::new(),
            listed: std::sync::Mutex::new(None),
            savers: std::sync::Mutex::new(Some(Vec::new())),
        });
        WATCHES.lock().recover().push(watch.clone());
        WATCH_COUNT.fetch_add(1, Ordering::SeqCst);
        if UNFINISHED_ENDS.load(Ordering::SeqCst) != seen {
            watch.hit.store(true, Ordering::SeqCst);
        }
        watch
    }

    /// Whether the end without a result of the core at `address` concerns the gather.
    fn concerns(&self, address: usize) -> bool {
        (self.members.get()).is_none_or(|members| members.binary_search(&address).is_ok())
    }

    /// Tells the gather to look again: set first, then the sleeper woken, so that it
    /// either sees the mark before it sleeps or is asleep on `on` by now (it sets
    /// `on` before it looks, under the same lock this reads it with).
    fn wake(&self) {
        self.hit.store(true, Ordering::SeqCst);
        let on = self.on.lock().recover().clone();
        if let Some(on) = &on {
            on.core().wake();
        }
        // Dropped outside the lock: it may be the last reference to a task.
        drop(on);
    }

    /// The gather is to sleep on `task`'s future.
    fn sleep_on(&self, task: Arc<dyn HasCore>) {
        let before = self.on.lock().recover().replace(task);
        drop(before);
    }

    /// Only ends of `rest`'s futures (finished ones too: one may be cancelled) concern
    /// it from now on. (Set once: `rest` only shrinks.)
    fn narrow<T>(&self, rest: &[Future<T>]) {
        if self.members.get().is_some() {
            return;
        }
        let mut members: Vec<usize> = rest.iter().map(|f| address(f.core())).collect();
        members.sort_unstable();
        let _ = self.members.set(members.into_boxed_slice());
    }

    /// Lists the futures of `rest` after the first that have not ended, once.
    fn list<T>(&self, rest: &[Future<T>]) {
        let mut listed = self.listed.lock().recover();
        if listed.is_none() {
            let pending = rest[1..].iter().filter(|future| !future.core().is_done());
            *listed = Some(
                pending
                    .map(|f| f.task().clone() as Arc<dyn HasCore>)
                    .collect(),
            );
        }
    }

    /// The futures of the gather's list after the one it waits for (some may have
    /// ended since), in order; none once it returned.
    pub(crate) fn listed(&self) -> Option<Listed> {
        self.listed.lock().recover().clone()
    }

    /// Wakes the gather, once, when `future` ends: the wait-cycle search found that
    /// only `future` (of those that could end it) keeps the gather's wait from being
    /// in a cycle, and once it has finished the gather must look again (see
    /// `blocked`). Nothing once the gather returned.
    pub(crate) fn wake_at_end(self: &Arc<Self>, future: Arc<dyn HasCore>) {
        let mut savers = self.savers.lock().recover();
        let Some(savers) = savers.as_mut() else {
            return;
        };
        let at = future.core() as *const Core;
        if savers
            .iter()
            .any(|(saver, _)| std::ptr::eq(saver.core(), at))
        {
            return;
        }
        let watch = self.clone();
        // Called at once if it has ended: the gather looks again.
        if let Some(id) = future.core().on_end(move |_| watch.wake()) {
            savers.push((future, id));
        }
    }

    /// The gather has returned: takes the watch back.
    fn unregister(self: &Arc<Self>) {
        let mine = {
            let mut watches = WATCHES.lock().recover();
            let at = watches.iter().position(|watch| Arc::ptr_eq(watch, self));
            at.map(|at| watches.swap_remove(at))
        };
        WATCH_COUNT.fetch_sub(1, Ordering::SeqCst);
        let savers = self.savers.lock().recover().take().unwrap_or_default();
        for (saver, id) in &savers {
            saver.core().remove_on_end(*id);
        }
        let on = self.on.lock().recover().take();
        let listed = self.listed.lock().recover().take();
        // Dropped outside the locks: they may hold the last reference to a task.
        drop((mine, savers, on, listed));
    }
}

/// Futures in the order they finish; more can be added while iterating. Made by
/// [`as_completed`]. It holds the futures not yet yielded, as a `Vec` of them would:
/// dropping it drops them (cancelling those whose last handle it held) and takes back
/// what it left on them.
#[must_use = "`as_completed` yields nothing until iterated: use it in a `for` loop"]
pub struct AsCompleted<F: Waitable> {
    /// Numbers of the futures that ended, in the order they did.
    ended: Arc<(Mutex<VecDeque<u64>>, Condvar)>,
    /// The futures not yet yielded, by number (the order they were given and added
    /// in), with their callbacks.
    pending: BTreeMap<u64, (F, Option<CallbackId>)>,
    next: u64,
    /// The number of the next future that a blocking wait in a task may run on its
    /// own thread (see [`as_completed`]): each is looked at once in the iteration,
    /// so that `n` futures cost `n` looks, not `n` each.
    inline_from: u64,
}

/// Iterates `futures` in completion order (Dask's `as_completed`): [`Future`]s of one
/// type, or futures of different types as [`ErasedFuture`](super::ErasedFuture)s
/// (`as_completed([a.erase(), b.erase()])`, then `downcast` each).
///
/// Inside a task, a wait for the next one without a deadline (`next`, `next_batch`;
/// not `next_timeout` nor [`timeout`](AsCompleted::timeout) with a limit) that would
/// block runs the first future still queued (not started), in the order they were
/// given and added, on its own thread, rather than blocking a thread and starting
/// another; it is then the next yielded. Until that task returns the iteration sees no
/// other end, as rayon's `join` runs its second closure before it looks at the first
/// (and a task run so that waits for the iterating one fails, as with [`wait`]'s).
/// Each future is so looked at once in the iteration: one started, or waiting for
/// dependencies, then is left to the pool's threads.
///
/// # Panics
/// Iterating in a task (`next`, `next_batch`; not `next_timeout`, which ends at its
/// deadline) panics, failing the task, when none of the futures still expected could
/// ever end: each of them cannot end before this very task does
/// ([`FutureError::WaitsForItself`]), or waits for it in a cycle of waits
/// ([`FutureError::WaitCycle`]). Found when the wait would block.
pub fn as_completed<F: Waitable>(futures: impl IntoIterator<Item = F>) -> AsCompleted<F> {
    let mut iter = AsCompleted {
        ended: Arc::new((Mutex::new(VecDeque::new()), Condvar::new())),
        pending: BTreeMap::new(),
        next: 0,
        inline_from: 0,
    };
    for future in futures {
        iter.add(future);
    }
    iter
}

impl<F: Waitable> AsCompleted<F> {
    /// Adds a future to the iteration.
    pub fn add(&mut self, future: F) {
        let number = self.next;
        self.next += 1;
        // The callback holds the queue, not the future: only the iterator keeps it.
        let ended = self.ended.clone();
        let id = future.waited().state().core().on_end(move |_| {
            let (list, ready) = &*ended;
            list.lock().recover().push_back(number);
            ready.notify_all();
        });
        self.pending.insert(number, (future, id));
    }

    /// Adds futures to the iteration, in order (Dask's `update`; also
    /// [`Extend`]).
    pub fn update(&mut self, futures: impl IntoIterator<Item = F>) {
        for future in futures {
            self.add(future);
        }
    }

    /// The futures still expected (Dask's `count()`; `Iterator::count` would consume
    /// the iterator). A future added twice is expected, and yielded, twice; Dask
    /// 2026.8 yields it twice too, but its `count()` counts it once.
    pub fn remaining(&self) -> usize {
        self.pending.len()
    }

    /// Whether no future is expected any more (Dask's `is_empty`): iterating yields
    /// nothing until one is added.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Stops expecting every future not yet yielded (Dask's `clear`): they are
    /// dropped, as dropping the iterator drops them (a task whose last handle it held
    /// is cancelled), and what the iteration left on them is taken back. Futures added
    /// afterwards are yielded as they end.
    pub fn clear(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for (future, id) in pending.values() {
            if let Some(id) = id {
                future.waited().state().core().remove_on_end(*id);
            }
        }
        // A callback already under way when it was taken back still pushes its number:
        // onto the old queue, which nothing reads any more (read here, a number of
        // no future would end the iteration early).
        self.ended = Arc::new((Mutex::new(VecDeque::new()), Condvar::new()));
        drop(pending);
    }

    /// Whether a future has ended and is waiting to be yielded: `next` would not block.
    pub fn has_ready(&self) -> bool {
        !self.ended.0.lock().recover().is_empty()
    }

    /// The next future to end, waiting at most `timeout` (`Duration::MAX`: no limit):
    /// `Ok(None)` when none is expected any more, `Err(FutureError::Timeout)` when none
    /// ended in time (Dask's `as_completed(.., timeout=…)`; the futures go on). In a
    /// task, with no limit, when none of the futures still expected can end before that
    /// very task does, the error that says so (as [`Future::result`] returns it): the
    /// wait could never end.
    #[track_caller]
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<F>, FutureError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        if !self.try_wait_ready(pool::deadline_after(timeout))? {
            return Err(FutureError::Timeout {
                task: "as_completed".to_owned(),
                call_site: super::state::call_site_text(std::panic::Location::caller()),
                after: timeout,
                waited: super::error::TimedWait::AsCompleted,
            });
        }
        Ok(self.pop())
    }

    /// Every future that has ended and not been yielded, waiting for one if none has
    /// (Dask's `next_batch`); empty when none is expected any more.
    pub fn next_batch(&mut self) -> Vec<F> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        self.wait_ready(None);
        let numbers: Vec<u64> = self.ended.0.lock().recover().drain(..).collect();
        numbers
            .into_iter()
            .filter_map(|number| self.pending.remove(&number).map(|(future, _)| future))
            .collect()
    }

    /// The futures in batches of those that ended together (Dask's `batches()`).
    pub fn batches(self) -> impl Iterator<Item = Vec<F>> {
        let mut this = self;
        std::iter::from_fn(move || Some(this.next_batch()).filter(|batch| !batch.is_empty()))
    }

    /// Blocks until a future has ended or the deadline passed; true if one has.
    ///
    /// # Panics
    /// In a task, with no deadline, when none of the futures still expected can end
    /// before that very task does (see [`wait`]'s): the wait could never end.
    fn wait_ready(&mut self, deadline: Option<Instant>) -> bool {
        self.try_wait_ready(deadline)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`wait_ready`](Self::wait_ready), the wait that could never end an error.
    fn try_wait_ready(&mut self, deadline: Option<Instant>) -> Result<bool, FutureError> {
        let (list, ready) = &*self.ended;
        let pending = &self.pending;
        let done = || !list.lock().recover().is_empty();
        let expected = || {
            pending
                .values()
                .map(|(future, _)| future.waited().state().clone())
                .collect()
        };
        let inline_from = Cell::new(self.inline_from);
        let next_inline = || {
            let (&number, (future, _)) = pending.range(inline_from.get()..).next()?;
            inline_from.set(number + 1);
            Some(future.waited().state().clone())
        };
        let awaited = Awaited::Several {
            all: false,
            futures: &expected,
            next_inline: Some(&next_inline),
        };
        let ended = pool::wait(&done, awaited, deadline, |until| {
            let queue = list.lock().recover();
            sleep_until(ready, queue, |q| !q.is_empty(), until).1
        });
        self.inline_from = inline_from.get();
        ended
    }

    /// The next ended future, if one is queued.
    fn pop(&mut self) -> Option<F> {
        // Only this iterator takes from the queue: what it saw there is still there.
        let number = self.ended.0.lock().recover().pop_front()?;
        self.pending.remove(&number).map(|(future, _)| future)
    }
}

impl<F: Waitable> AsCompleted<F> {
    /// The iteration with one limit for all of it, counted from now (Dask's
    /// `as_completed(fs, timeout=t)`, whose iterator raises `TimeoutError` once `t`
    /// has passed since the call): yields `Ok(future)` in completion order, then,
    /// should the limit pass first, one `Err(FutureError::Timeout)` and nothing more.
    /// The futures go on; those not yielded are still held
    /// ([`into_inner`](AsCompletedTimeout::into_inner) gives them back).
    /// [`next_timeout`](Self::next_timeout) limits one wait instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// use graph_runtime::{as_completed, Client};
    /// let client = Client::builder().threads(2).build().unwrap();
    /// let mut total = 0;
    /// for f in as_completed(client.map(|x: u64| x + 1, 0..4)).timeout(Duration::from_secs(60)) {
    ///     total += f.expect("all finish within a minute").result().unwrap();
    /// }
    /// assert_eq!(total, 10);
    /// ```
    #[track_caller]
    pub fn timeout(self, timeout: Duration) -> AsCompletedTimeout<F> {
        AsCompletedTimeout {
            deadline: pool::deadline_after(timeout),
            timeout,
            call_site: super::state::call_site_text(std::panic::Location::caller()),
            timed_out: false,
            iter: self,
        }
    }
}

/// [`AsCompleted`] with a limit for the whole iteration, made by
/// [`AsCompleted::timeout`]: yields `Ok(future)` in completion order, or one
/// `Err(FutureError::Timeout)` once the limit has passed, then nothing.
#[must_use = "`as_completed` yields nothing until iterated: use it in a `for` loop"]
pub struct AsCompletedTimeout<F: Waitable> {
    iter: AsCompleted<F>,
    /// `None`: no limit (`Duration::MAX`, or a limit past what the clock can hold).
    deadline: Option<Instant>,
    timeout: Duration,
    call_site: &'static str,
    timed_out: bool,
}

impl<F: Waitable> AsCompletedTimeout<F> {
    /// Adds a future to the iteration (under the same limit).
    pub fn add(&mut self, future: F) {
        self.iter.add(future);
    }

    /// Adds futures to the iteration, in order (under the same limit).
    pub fn update(&mut self, futures: impl IntoIterator<Item = F>) {
        self.iter.update(futures);
    }

    /// The futures still expected.
    pub fn remaining(&self) -> usize {
        self.iter.remaining()
    }

    /// The iteration without its limit, holding the futures not yet yielded.
    pub fn into_inner(self) -> AsCompleted<F> {
        self.iter
    }
}

impl<F: Waitable> Iterator for AsCompletedTimeout<F> {
    type Item = Result<F, FutureError>;

    fn next(&mut self) -> Option<Result<F, FutureError>> {
        if self.timed_out || self.iter.pending.is_empty() {
            return None;
        }
        // One that has ended is yielded even past the limit, as Dask's yields what
        // has completed before it looks at the clock.
        if let Some(future) = self.iter.pop() {
            return Some(Ok(future));
        }
        match self.iter.try_wait_ready(self.deadline) {
            Ok(true) => self.iter.pop().map(Ok),
            Ok(false) => {
                self.timed_out = true;
                Some(Err(FutureError::Timeout {
                    task: "as_completed".to_owned(),
                    call_site: self.call_site,
                    after: self.timeout,
                    waited: super::error::TimedWait::AsCompleted,
                }))
            }
            // A wait that could never end: said once, as the timeout is.
            Err(error) => {
                self.timed_out = true;
                Some(Err(error))
            }
        }
    }
}

impl<T: Send + Sync + 'static> AsCompleted<Future<T>> {
    /// Yields each future with its result, in completion order (Dask's
    /// `as_completed(fs, with_results=True)`). A failed or cancelled future comes with
    /// its error as the `Err` of its item, and the iteration goes on: Dask's default
    /// (`raise_errors=True`) raises a failed future's exception out of the loop
    /// instead (a cancelled one it yields with `CancelledError`, as here); its
    /// `raise_errors=False` yields the exception, as this does. To stop at the first
    /// error, `break` on an `Err` (or `collect::<Result<Vec<_>, _>>()` the results).
    ///
    /// It takes the iterator: to [`add`](Self::add) futures while iterating (Dask's
    /// `seq.add(...)` in a `for future, result in seq:` loop), iterate with
    /// `while let Some(f) = seq.next()` and read each with
    /// [`result_shared`](Future::result_shared), which is what this does.
    pub fn with_results(self) -> impl Iterator<Item = (Future<T>, Result<Arc<T>, FutureError>)> {
        self.map(|future| {
            let result = future.result_shared();
            (future, result)
        })
    }
}

impl<F: Waitable> Drop for AsCompleted<F> {
    fn drop(&mut self) {
        for (future, id) in self.pending.values() {
            if let Some(id) = id {
                future.waited().state().core().remove_on_end(*id);
            }
        }
    }
}

impl<F: Waitable> Extend<F> for AsCompleted<F> {
    fn extend<I: IntoIterator<Item = F>>(&mut self, futures: I) {
        self.update(futures);
    }
}

impl<F: Waitable> Iterator for AsCompleted<F> {
    type Item = F;

    fn next(&mut self) -> Option<F> {
        if self.pending.is_empty() {
            return None;
        }
        self.wait_ready(None);
        self.pop()
    }
}

impl<F: Waitable> std::fmt::Debug for AsCompletedTimeout<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("remaining", &self.iter.pending.len())
            .field("timeout", &self.timeout)
            .field("timed_out", &self.timed_out)
            .finish_non_exhaustive()
    }
}

impl<F: Waitable> std::fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// [`Progress`]'s watching of futures. Here rather than beside [`Progress`]: the
/// observation layer does not know the front ends.
impl Progress {
    /// Shows this bar for `futures` until every one is done (finished, failed or
    /// cancelled), then returns. The calling thread waits and draws.
    pub fn watch<T>(&self, futures: &[Future<T>]) {
        self.watch_items(futures);
    }
}

impl<T> Watched for Future<T> {
    fn done(&self) -> bool {
        Future::done(self)
    }

    fn wait_for(&self, timeout: Duration) {
        let _ = self.result_timeout_shared(timeout);
    }

    fn failed(&self) -> bool {
        self.error_now().is_some()
    }
}

/// Shows a progress bar on stderr for `futures` until every one is done (Dask's
/// `progress(futures)`): drawn on request, so also when stderr is not a terminal (one
/// line a second). `Progress::auto().watch(&futures)` draws only on a terminal, after
/// a second.
pub fn progress<T>(futures: &[Future<T>]) {
    Progress::new().watch(futures);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::futures::hook::Hook;
    use crate::futures::Client;

    thread_local! {
        /// Looks of this thread's gathers through their lists (see [`scan`]).
        pub(super) static SCANS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        /// Run once when this thread's next gather publishes its wait, after its
        /// last look through its list and before the wait-cycle search.
        pub(super) static BEFORE_PUBLISH: Hook = const { Hook::new() };
    }

    /// A gather in a task closes a cycle of waits (`t` gathers `[a, b]`, `a` waits for
    /// `u`, `u` for `t`) just as `b` fails: after the gather last looked through its
    /// list, before its wait is searched. The search sees only `a` able to end the
    /// wait, and refuses it; the gather returns `b`'s error all the same, as it would
    /// have had it looked again first. It returned the cycle's error (a rare failure of
    /// `a_wait_through_a_gather_that_a_later_failure_ends_is_not_refused` under load).
    #[test]
    fn a_failure_just_before_a_gather_is_searched_is_its_error() {
        use std::sync::{mpsc, Arc, Mutex, OnceLock};
        type Slot = Arc<OnceLock<Future<String>>>;
        let client = Client::builder().threads(4).build().unwrap();
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let b = client.submit(
            move || -> String {
                let _ = released.lock().unwrap().recv();
                panic!("b fails")
            },
            (),
        );
        let read = |f: &Future<String>| f.result().unwrap_or_else(|e| e.to_string());
        let (u_slot, t_slot): (Slot, Slot) = Default::default();
        let of = u_slot.clone();
        let a = client.submit(move || read(of.wait()), ());
        let (go, gather_now) = mpsc::channel::<()>();
        let gather_now = Mutex::new(gather_now);
        let (first, then) = (a.clone(), b.clone());
        let t = client.submit(
            move || {
                let _ = gather_now.lock().unwrap().recv();
                let (release, failed) = (release.clone(), then.clone());
                BEFORE_PUBLISH.with(|hook| {
                    hook.set(move || {
                        release.send(()).unwrap();
                        while failed.status() != crate::futures::Status::Error {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    })
                });
                let client = crate::futures::get_client().unwrap();
                match client.gather(&[first.clone(), then.clone()]) {
                    Ok(values) => values.concat(),
                    Err(error) => error.to_string(),
                }
            },
            (),
        );
        let of = t_slot.clone();
        let u = client.submit(move || read(of.wait()), ());
        assert!(u_slot.set(u.clone()).is_ok());
        assert!(t_slot.set(t.clone()).is_ok());
        // `a` waits for `u`, `u` for `t` (running), before `t` gathers.
        std::thread::sleep(Duration::from_millis(200));
        go.send(()).unwrap();
        let error = t.result().unwrap();
        assert!(error.contains("b fails"), "{error}");
        assert_eq!(u.result().unwrap(), error);
        assert_eq!(a.result().unwrap(), error);
    }

    /// Whether a gather's watch has it sleep on `core`'s future (or about to).
    fn sleeps_on(core: &Core) -> bool {
        (WATCHES.lock().recover().iter()).any(|watch| {
            let on = watch.on.lock().recover();
            on.as_ref().is_some_and(|on| std::ptr::eq(on.core(), core))
        })
    }

    /// A gather asleep on a future, its list long: futures of another client that end
    /// without a result (cancelled), one after another, do not each have it look
    /// through its list. The first one does (any end could be one of its own until it
    /// has looked), then only its own futures' ends do. Each made it look through the
    /// whole list again (100,001 futures: a core busy for as long as failures came
    /// elsewhere). The gather then still ends well.
    #[test]
    fn ends_of_other_futures_do_not_each_have_a_sleeping_gather_look_through_its_list() {
        const ENDS: usize = 50;
        let client = Client::builder().threads(1).build().unwrap();
        let other = Client::builder().threads(1).build().unwrap();
        let (open, opened) = std::sync::mpsc::channel::<()>();
        let opened = std::sync::Mutex::new(opened);
        let gate = client.submit(move || opened.lock().unwrap().recv().map_or(0, |()| 0), ());
        let list: Vec<Future<u64>> = std::iter::once(gate.clone())
            .chain((0..1_000).map(|_| client.submit(|x: u64| x + 1, (&gate,))))
            .collect();
        let gatherer = std::thread::spawn(move || {
            let gathered = client.gather(&list).map(|values| values.len());
            (gathered, SCANS.with(std::cell::Cell::get))
        });
        while !sleeps_on(gate.core()) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let (other_open, other_opened) = std::sync::mpsc::channel::<()>();
        let other_opened = std::sync::Mutex::new(other_opened);
        let other_gate = other.submit(
            move || other_opened.lock().unwrap().recv().map_or(0, |()| 0),
            (),
        );
        for _ in 0..ENDS {
            other.submit(|x: u64| x, (&other_gate,)).cancel();
            // Time for a gather woken to look before the next end comes (else the
            // looks merge), not a condition of the test.
            std::thread::sleep(Duration::from_millis(2));
        }
        open.send(()).unwrap();
        other_open.send(()).unwrap();
        let (gathered, scans) = gatherer.join().unwrap();
        assert_eq!(gathered.unwrap(), 1_001);
        // Its first look, and the one the first end elsewhere had it make.
        assert!(
            scans <= 2,
            "{scans} looks through the list for {ENDS} ends elsewhere"
        );
    }
}
