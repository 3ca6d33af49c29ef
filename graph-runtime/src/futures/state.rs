//! The shared state of one future: its status, its result, who waits for it.

use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::job::Runnable;
use super::list::InlineList;
use super::{FutureError, Status};
use crate::engine::error::FirstPanic;
use crate::engine::lock::Recover;
use crate::engine::sync::{
    sleep_until, AtomicBool, AtomicU8, AtomicUsize, Condvar, Mutex, Ordering,
};

const PENDING: u8 = 0;
const RUNNING: u8 = 1;
const FINISHED: u8 = 2;
const ERROR: u8 = 3;
const CANCELLED: u8 = 4;

/// [`Core::submission`]: the observers were told of the submission (or there is no
/// one to hold an end's report for).
const TOLD: u8 = 0;
/// Not told yet: an end before it leaves its report to the submission.
const TELLING_SUBMISSION: u8 = 1;
/// Not told yet, and the task ended meanwhile: the submission reports the end.
const END_OWED: u8 = 2;

/// How a task ended, as told to whoever waits for it. The error is boxed: a state keeps
/// an outcome in place, and the room for an error (88 bytes) in every task's state
/// made a `map` of 10^4 tasks touch, and fault in, that much more memory per run.
#[derive(Clone)]
pub(crate) enum Outcome {
    Finished,
    Failed(Box<FutureError>),
    Cancelled,
}

/// A callback waiting for a task's end (see [`Core::on_end`]): the user's own
/// (`add_done_callback`), which may end other tasks in turn, or the library's, which
/// only wakes a waiter (`wait`, `as_completed`).
struct Callback {
    call: Box<dyn FnOnce(&Outcome) + Send>,
    user: bool,
}

/// The callbacks waiting for a task's end, by number, in the order they came (numbers
/// rising): one taken back is found by binary search and leaves a hole, and the holes
/// go when the list would grow (compacted rather than grown while at least half of it
/// is holes). Waiters coming and going by the hundred thousand on one future cost
/// O(log n) each (a search through them all made a `wait` over 200,000 handles of one
/// future take 3.3 s), and the list holds at most twice the callbacks left in it.
#[derive(Default)]
struct Callbacks {
    entries: Vec<(u64, Option<Callback>)>,
    next: u64,
}

impl Callbacks {
    fn push(&mut self, callback: Callback) -> CallbackId {
        let entries = &mut self.entries;
        if entries.len() == entries.capacity() && !entries.is_empty() {
            let live = entries.iter().filter(|(_, c)| c.is_some()).count();
            if live <= entries.len() / 2 {
                entries.retain(|(_, c)| c.is_some());
            }
        }
        let id = self.next;
        self.next += 1;
        entries.push((id, Some(callback)));
        CallbackId(id)
    }

    fn remove(&mut self, id: CallbackId) -> Option<Callback> {
        let at = self.entries.binary_search_by_key(&id.0, |(i, _)| *i).ok()?;
        let removed = self.entries[at].1.take();
        // The last ones gone are popped at once: a waiter that comes and goes alone
        // leaves nothing behind.
        while self.entries.last().is_some_and(|(_, c)| c.is_none()) {
            self.entries.pop();
        }
        removed
    }

    fn take_all(&mut self) -> Vec<Callback> {
        std::mem::take(&mut self.entries)
            .into_iter()
            .filter_map(|(_, c)| c)
            .collect()
    }
}

/// A task's name: its function's (static), or one given with `named` (shared by every
/// task of the builder), so submitting allocates no string.
#[derive(Clone)]
pub(crate) enum TaskName {
    Static(&'static str),
    Shared(Arc<str>),
}

impl std::ops::Deref for TaskName {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            TaskName::Static(s) => s,
            TaskName::Shared(s) => s,
        }
    }
}

/// The part of a future's state that does not depend on its type.
///
/// Laid out in this order (`repr(C)`, first in `State` and in `Job`): a thread
/// waiting for the end polls `status`, and no field written while the task runs and
/// ends shares its cache line. Before it, 48 bytes written only at submission and
/// the allocation's reference counts 16 bytes further (64 from `status`: never on
/// its line); after it, the flags (written only by a cancel) and the dependency
/// records (written at submission). The end's writes (the waiters' lock, the result)
/// come after those, so the waiter's polling does not pull their line away from the
/// thread that ends the task while it writes them.
#[repr(C)]
pub(crate) struct Core {
    pub(crate) name: TaskName,
    /// Where it was submitted: formatted only when asked for ([`Core::call_site`]), so
    /// that submitting formats nothing and takes no shared lock.
    pub(crate) location: &'static Location<'static>,
    /// The task's job, for a waiter that may run it itself: the allocation this state
    /// lives in (see `Job`), so weak; `None` for a future no task makes (`scatter`).
    pub(crate) job: Option<Weak<dyn Runnable>>,
    status: AtomicU8,
    /// Set by `cancel()`: a running task may poll it and stop early.
    pub(crate) cancel: AtomicBool,
    /// Set by `fire_and_forget`: dropping the handles does not cancel it.
    pub(crate) forgotten: AtomicBool,
    /// Whether the observers were told of the submission, and so may be told of an
    /// end (see [`Core::hold_end_report`]): [`TOLD`] but for a pure task being
    /// submitted. In the padding after the flags. (The standard library's atomic: no
    /// loom model submits.)
    submission: std::sync::atomic::AtomicU8,
    /// `add_done_callback`s not called yet: each will read the result through a handle
    /// of its own, so the last of the users' handles must not move the value out
    /// before they have (see [`Core::may_take`]). In the padding after the flags. (The
    /// standard library's atomic, as `handles`.)
    callbacks_to_read: std::sync::atomic::AtomicU32,
    /// The futures its task reads, for inspection and for a waiter looking for work
    /// it needs; made with the state (a plain field: a `OnceLock` made full still runs
    /// its `Once`). Weak: inspection never keeps a result alive.
    pub(crate) dependencies: InlineList<Dependency>,
    waiters: Mutex<Waiters>,
    done: Condvar,
    /// The number in the task's key, drawn the first time it is asked for (so that
    /// submitting draws from no shared counter); 0 until then. (The standard
    /// library's atomic, as `handles`: no loom model reads keys.)
    key: std::sync::atomic::AtomicU64,
    /// The users' handles ([`Future`](super::Future)s and
    /// [`ErasedFuture`](super::ErasedFuture)s): when the last goes, a task that has not
    /// ended is cancelled (unless forgotten). Jobs and inspection hold the state without
    /// counting here. (Loom's in the models: a pure task's lookup races its last
    /// handle's drop in one.)
    handles: AtomicUsize,
}

/// A future a task depends on, as inspection sees it: its state while anyone else
/// keeps it alive, its name and call site always.
pub(crate) struct Dependency {
    pub(crate) core: Weak<dyn HasCore>,
    pub(crate) name: TaskName,
    pub(crate) location: &'static Location<'static>,
}

/// `location` as `file:line:column` (formatted once per call site, when first needed).
pub(crate) fn call_site_text(location: &'static Location<'static>) -> &'static str {
    crate::dynamic::call_site_of(location)
}

/// A task waiting for this one: told without a boxed callback (one allocation less
/// per dependency).
pub(crate) trait Dependent: Send + Sync {
    /// The dependency ended with `outcome`.
    fn dependency_ended(self: Arc<Self>, outcome: &Outcome);
    /// Whether the dependent has ended itself (cancelled, or failed by another of its
    /// dependencies): no dependency's end concerns it any more, and a dependency's
    /// list may let it go (see [`Core::dependent_left`]).
    fn has_ended(&self) -> bool;
    /// A dependency it read (or was to read) was cancelled after it finished: cancels
    /// the dependent without going on to its own dependents, which a released one adds
    /// to `work` instead (see [`State::cancel_alone`]).
    fn cancel_with_dependency(&self, work: &mut Vec<Weak<dyn Dependent>>);
}

/// Up to this many dependents, a dependency's list is swept at every dependent's
/// early end (see [`Core::dependent_left`]); past it, once half may have ended.
const SWEEP_ALWAYS: usize = 8;

/// The tasks that read a task's result.
enum Dependents {
    /// Until the task ends: told of its end, and kept alive meanwhile (a forgotten
    /// dependent has no other holder).
    Waiting(InlineList<Arc<dyn Dependent>>),
    /// Once it finished: the dependents told of it and those submitted after, for a
    /// cancel of the task to reach them whatever their state, as Dask cancels every
    /// dependent of a cancelled key (see [`State::cancel`]). Weak: a dependent no one
    /// holds any more is not kept for it (its entry is pruned, see
    /// [`keep_finished`](Dependents::keep_finished)), and nothing is reached through
    /// it (Dask stops at a key no client wants).
    Finished(InlineList<Weak<dyn Dependent>>),
}

impl Default for Dependents {
    #[inline]
    fn default() -> Self {
        Dependents::Waiting(InlineList::default())
    }
}

impl Dependents {
    /// How many entries the list holds.
    fn len(&self) -> usize {
        match self {
            Dependents::Waiting(list) => list.len(),
            Dependents::Finished(list) => list.len(),
        }
    }

    /// The list of a task that has not ended.
    fn waiting(&mut self) -> &mut InlineList<Arc<dyn Dependent>> {
        match self {
            Dependents::Waiting(list) => list,
            Dependents::Finished(_) => unreachable!("a finished task's list is made at its end"),
        }
    }

    /// Keeps a dependent of a finished task. The entries of dependents gone are pruned
    /// when the list is full, as the client prunes its live tasks: a constant per
    /// entry, amortised, and a list holds at most twice as many gone as it had live at
    /// its last pruning; a list of [`WATCH_FROM`] or more is pruned by the client's
    /// idle workers too, once tasks have been freed (a long-lived scattered value read
    /// by a million tasks since dropped would keep their entries until its next
    /// dependent).
    fn keep_finished(&mut self, dependent: Weak<dyn Dependent>) {
        let list = self.finished();
        if list.is_full() {
            list.retain(|d| d.strong_count() > 0);
        }
        list.push(dependent);
    }

    /// The list of a finished task, made if it is not one yet (a task that finished
    /// with no dependent waiting).
    #[inline]
    fn finished(&mut self) -> &mut InlineList<Weak<dyn Dependent>> {
        if let Dependents::Waiting(_) = self {
            *self = Dependents::Finished(InlineList::default());
        }
        match self {
            Dependents::Finished(list) => list,
            Dependents::Waiting(_) => unreachable!("made just above"),
        }
    }
}

#[derive(Default)]
struct Waiters {
    ended: Option<Outcome>,
    dependents: Dependents,
    /// Dependents that ended before this task (and so left) since `dependents` was
    /// last swept: at least as many as the ended ones in it whose leaving is done (see
    /// [`Core::dependent_left`]). (It and `sleepers`, both `u32`, take the room that
    /// `sleepers` took as a `usize`: a state is no larger.)
    left: u32,
    /// Callbacks by number, so that a waiter that goes (`wait` timing out, a dropped
    /// `as_completed`) can take its own back.
    callbacks: Callbacks,
    /// Threads asleep on `done`: waking nobody costs a system call all the same.
    sleepers: u32,
}

/// A finished task's list of dependents this long is pruned by its client's idle
/// workers too (see `LiveTasks::prune_if_due`), once tasks have been freed since: an
/// entry is weak, but keeps the dependent's allocation (about 460 bytes) until it is
/// pruned, and a long-lived future read by a burst of tasks (a scattered value) would
/// keep them all until its next dependent. Shorter lists pin at most this many.
const WATCH_FROM: usize = 16;

/// A callback registered with [`Core::on_end`], to take back with
/// [`Core::remove_on_end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallbackId(u64);

/// Counts an `add_done_callback` as read when dropped (see [`Core::callback_to_read`]).
pub(crate) struct ReadByCallback<'a>(pub(crate) &'a Core);

impl Drop for ReadByCallback<'_> {
    fn drop(&mut self) {
        self.0.callback_read();
    }
}

impl Core {
    // Inlined into the job's construction (as `State::of_job`), so that the state is
    // written where it lives: called, it was built in temporaries and copied three
    // times per submission (~480 bytes each; a sixth of a leaf's submission).
    #[inline(always)]
    pub(crate) fn new(
        name: TaskName,
        location: &'static Location<'static>,
        job: Option<Weak<dyn Runnable>>,
        dependencies: InlineList<Dependency>,
    ) -> Self {
        Core {
            name,
            location,
            status: AtomicU8::new(PENDING),
            cancel: AtomicBool::new(false),
            forgotten: AtomicBool::new(false),
            submission: std::sync::atomic::AtomicU8::new(TOLD),
            callbacks_to_read: std::sync::atomic::AtomicU32::new(0),
            waiters: Mutex::new(Waiters::default()),
            done: Condvar::new(),
            dependencies,
            job,
            key: std::sync::atomic::AtomicU64::new(0),
            handles: AtomicUsize::new(0),
        }
    }

    /// One more user handle.
    pub(crate) fn add_handle(&self) {
        // As `Arc::clone`: a new handle is made from one held, so nothing to order.
        self.handles
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// One more user handle of a pure task found by its key (see `TaskBuilder::pure`),
    /// made without one in hand: only while it has one and was not cancelled. False if
    /// it had none (a task whose last handle went has been cancelled or let its
    /// result go) or was cancelled: a new task is made instead.
    pub(crate) fn try_add_live_handle(&self) -> bool {
        if !self.try_add_handle() {
            return false;
        }
        // Checked with the handle in hand, under the lock that ends the task: a cancel
        // after it is the fate this handle shares. Looked at before, a cancel could
        // come between: the last handle's drop cancels a pending task, and a done
        // callback's handle, made at its end, would let this one be added to a task
        // cancelled before the lookup (one whose last handle went). The lock orders
        // the end before this look at it, as a look at the status could not (that
        // callback's handle is counted without ordering).
        let cancelled = matches!(
            self.waiters.lock().recover().ended,
            Some(Outcome::Cancelled)
        );
        if cancelled {
            // Not the last handle's drop to act on: the task has ended.
            self.drop_handle();
            return false;
        }
        true
    }

    /// One more user handle, made without one in hand: only while there is one.
    /// False if there was none.
    fn try_add_handle(&self) -> bool {
        use std::sync::atomic::Ordering::{Acquire, Relaxed};
        let mut handles = self.handles.load(Relaxed);
        while handles > 0 {
            // Acquire, as the last handle's drop is ordered: what it did is seen.
            match self
                .handles
                .compare_exchange_weak(handles, handles + 1, Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(now) => handles = now,
            }
        }
        false
    }

    /// Keeps the result in place for good: no last handle moves it out (see
    /// [`may_take`](Self::may_take)). For a pure task, whose handles a later equal
    /// submission may add to (see [`try_add_live_handle`](Self::try_add_live_handle)): counted
    /// as a reader still to come, which never comes.
    pub(crate) fn keep_result(&self) {
        self.callbacks_to_read
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Holds back the report of an end that comes before
    /// [`submission_told`](Self::submission_told): for a pure task, which an equal
    /// submission finds, and may cancel, as soon as it is its key's, before its own
    /// submission has told the observers of it (who may keep a task from its
    /// submission to its end). Called before the task can be found.
    pub(crate) fn hold_end_report(&self) {
        // Published by the lock of the client's pure tasks, under which it is found.
        self.submission
            .store(TELLING_SUBMISSION, std::sync::atomic::Ordering::Relaxed);
    }

    /// The observers were told of the submission: true if the task ended before,
    /// whose end the caller reports now (see [`hold_end_report`](Self::hold_end_report)).
    pub(crate) fn submission_told(&self) -> bool {
        // AcqRel: the telling comes before an end's report that reads `TOLD`, and an
        // end that left its report here comes before the caller's.
        self.submission
            .swap(TOLD, std::sync::atomic::Ordering::AcqRel)
            == END_OWED
    }

    /// For the end of a task that had not started: whether the ender reports it to the
    /// observers now; false if the submission has not told them of the task yet, and
    /// reports the end once it has (see [`hold_end_report`](Self::hold_end_report)).
    pub(crate) fn may_report_end(&self) -> bool {
        use std::sync::atomic::Ordering::{AcqRel, Acquire};
        // Every task but a pure one being submitted: one load.
        self.submission.load(Acquire) == TOLD
            || self
                .submission
                .compare_exchange(TELLING_SUBMISSION, END_OWED, AcqRel, Acquire)
                .is_err()
    }

    /// One user handle fewer; true if it was the last.
    pub(crate) fn drop_handle(&self) -> bool {
        // As `Arc`'s drop: the last one sees every other handle's use.
        self.handles
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
    }

    /// How many user handles there are.
    pub(crate) fn handles(&self) -> usize {
        self.handles.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the holder of the last user handle may move the result out: no other
    /// handle is left, and no `add_done_callback` is still to read it.
    pub(crate) fn may_take(&self) -> bool {
        self.handles() == 1
            && self
                .callbacks_to_read
                .load(std::sync::atomic::Ordering::Acquire)
                == 0
    }

    /// One more `add_done_callback` to read the result; [`ReadByCallback`] takes it
    /// off once the callback has run (or unwound).
    pub(crate) fn callback_to_read(&self) {
        // Before the callback is registered: the end, which makes the dependents ready
        // that would take the value, comes after it under the waiters' lock.
        self.callbacks_to_read
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn callback_read(&self) {
        self.callbacks_to_read
            .fetch_sub(1, std::sync::atomic::Ordering::Release);
    }

    /// Where the task was submitted, as `file:line:column`.
    pub(crate) fn call_site(&self) -> &'static str {
        call_site_text(self.location)
    }

    /// A number unique to this task among all tasks of the process.
    pub(crate) fn key_number(&self) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let key = self.key.load(Relaxed);
        if key != 0 {
            return key;
        }
        // Two threads asking at once draw two numbers; the first stored is the key
        // (the other number is never used: keys stay unique).
        let drawn = NEXT.fetch_add(1, Relaxed);
        match self.key.compare_exchange(0, drawn, Relaxed, Relaxed) {
            Ok(_) => drawn,
            Err(key) => key,
        }
    }

    /// For a task that ended in error: the error's address, the same for every future
    /// that failed because of the same panic (a dependent shares its dependency's).
    pub(crate) fn error_identity(&self) -> Option<usize> {
        let waiters = self.waiters.lock().recover();
        match &waiters.ended {
            Some(Outcome::Failed(error)) => match &**error {
                FutureError::Task(error) => Some(Arc::as_ptr(error) as *const () as usize),
                _ => None,
            },
            _ => None,
        }
    }

    /// What a task keeps of the futures it reads, for inspection (no allocation for
    /// one or two).
    pub(crate) fn dependency_records(
        dependencies: &InlineList<Arc<dyn HasCore>>,
    ) -> InlineList<Dependency> {
        dependencies
            .iter()
            .map(|d| Dependency {
                core: Arc::downgrade(d),
                name: d.core().name.clone(),
                location: d.core().location,
            })
            .collect()
    }

    pub(crate) fn status(&self) -> Status {
        match self.status.load(Ordering::Acquire) {
            PENDING => Status::Pending,
            RUNNING => Status::Running,
            FINISHED => Status::Finished,
            ERROR => Status::Error,
            _ => Status::Cancelled,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.status.load(Ordering::Acquire) >= FINISHED
    }

    /// Pending -> running; false if it ended meanwhile (cancelled).
    pub(crate) fn start(&self) -> bool {
        self.status
            .compare_exchange(PENDING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Pending -> cancelled, for the client's shutdown: a task already running is
    /// left to finish. True if it was pending.
    pub(crate) fn claim_pending(&self) -> bool {
        self.status
            .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Ends the task (the first end wins); tells every waiter. `publish` stores the
    /// result first, under the same lock, so a waiter woken by the end finds it.
    pub(crate) fn end(&self, outcome: Outcome, publish: impl FnOnce()) -> bool {
        let callbacks = {
            let mut waiters = self.waiters.lock().recover();
            if waiters.ended.is_some() {
                return false;
            }
            publish();
            let status = match outcome {
                Outcome::Finished => FINISHED,
                Outcome::Failed(_) => ERROR,
                Outcome::Cancelled => CANCELLED,
            };
            if status == CANCELLED {
                self.cancel.store(true, Ordering::Release);
            }
            // A swap rather than a store: a read-modify-write, like `start`'s and
            // `claim_pending`'s exchanges, so the end is ordered after whichever of them
            // came first in every model of memory (loom lets a plain store race an
            // exchange more loosely than C11 does, and then showed a woken reader a
            // stale `Running`). The lock is held; the cost is nil. What it replaces says
            // whether the task had started (the end and `start` are ordered on it).
            let was = self.status.swap(status, Ordering::AcqRel);
            waiters.ended = Some(outcome.clone());
            let wake = waiters.sleepers > 0;
            let dependents = match &mut waiters.dependents {
                Dependents::Waiting(list) => std::mem::take(list),
                Dependents::Finished(_) => InlineList::default(),
            };
            let mut watch = false;
            if matches!(outcome, Outcome::Finished) && !dependents.is_empty() {
                // Kept for a cancel after the end, which reaches them however far they
                // got (see `Dependents::Finished`); under the lock that ends the task,
                // so that a cancel right after it finds them all. Not those that ended
                // already (cancelled, or failed by another dependency), which a cancel
                // has nothing to do to, and whose allocations an entry would keep.
                let kept = waiters.dependents.finished();
                for dependent in dependents.iter().filter(|d| !d.has_ended()) {
                    kept.push(Arc::downgrade(dependent));
                }
                watch = kept.len() >= WATCH_FROM;
            }
            let callbacks = waiters.callbacks.take_all();
            (dependents, callbacks, wake, was == RUNNING, watch)
        };
        let (dependents, callbacks, wake, started, watch) = callbacks;
        if watch {
            // The ending job is alive: it is ending the task.
            if let Some(job) = self.job.as_ref().and_then(Weak::upgrade) {
                let pool = job.pool().clone();
                pool.watch(Arc::downgrade(&job.task()));
            }
        }
        if wake {
            self.done.notify_all();
        }
        if !matches!(outcome, Outcome::Finished) {
            super::waiting::ended_without_result(self);
        }
        // A task that will not run releases its arguments now, as Dask releases a
        // cancelled key's dependencies: upstream futures that only it held are
        // cancelled in turn (through the work list, however long the chain), rather
        // than running once a thread reaches the dead job. A finished task's job has
        // released them already.
        let release = match outcome {
            Outcome::Finished => None,
            _ => self.job.as_ref().and_then(Weak::upgrade),
        };
        if release.is_none() && dependents.is_empty() && callbacks.is_empty() {
            // No one to tell (a finished task that no task reads and no callback
            // awaits, as most of a `map`'s): nothing for `tell` to do.
            return true;
        }
        tell(Telling {
            release,
            started,
            dependents,
            callbacks,
            outcome,
        });
        true
    }

    /// Tells `dependent` once the task has ended (at once if it has). True when the
    /// task's list of finished dependents has just grown long enough for the
    /// dependent's client to watch it (see [`WATCH_FROM`]).
    #[must_use = "a list to watch is watched by the caller's client"]
    pub(crate) fn on_end_dependent(&self, dependent: Arc<dyn Dependent>) -> bool {
        let mut watch = false;
        let ended = {
            let mut waiters = self.waiters.lock().recover();
            match &waiters.ended {
                Some(Outcome::Finished) => {
                    // Kept, as those waiting at the end are, for a cancel to reach.
                    waiters.dependents.keep_finished(Arc::downgrade(&dependent));
                    // Once as it grows to that length (again, if it was pruned
                    // shorter since: the client keeps each task once).
                    watch = waiters.dependents.len() == WATCH_FROM;
                    Outcome::Finished
                }
                Some(outcome) => outcome.clone(),
                // Ended already (failed by a dependency told before this one): it
                // leaves its dependencies' lists after its end (see `dependent_left`),
                // under this lock, and may have left this one before being in it:
                // kept, the entry would stay until this task ends. Either its end
                // comes before this check, which sees it, or the entry comes before its
                // leaving, which sweeps it.
                None if dependent.has_ended() => return false,
                None => {
                    waiters.dependents.waiting().push(dependent);
                    return false;
                }
            }
        };
        dependent.dependency_ended(&ended);
        watch
    }

    /// Drops the entries of freed dependents from a finished task's list (see
    /// [`WATCH_FROM`]). False when there is nothing more to watch: the list is short
    /// again (watched anew when it grows back to that length).
    pub(crate) fn prune_finished(&self) -> bool {
        let gone = {
            let mut waiters = self.waiters.lock().recover();
            let Dependents::Finished(list) = &mut waiters.dependents else {
                return true;
            };
            let gone = list.remove_where(|d| d.strong_count() == 0);
            (gone, list.len() >= WATCH_FROM)
        };
        // Each entry's allocation is freed here, outside the lock.
        let (gone, watch) = gone;
        drop(gone);
        watch
    }

    /// A dependent of this task ended before it, without running (cancelled, its last
    /// handle dropped, or failed by another of its dependencies): its entry in
    /// `dependents` may go, so that its memory (and what it keeps to the end: a shared
    /// function) does not wait for this task's end, as Dask releases a cancelled key's
    /// dependencies. Called by the dependent's end, once per entry it made, after its
    /// status says it ended, with no lock held.
    ///
    /// The list is swept of every ended dependent (in place, keeping the order of the
    /// others) when it is short, or once `left` says at least half of it may have
    /// ended: amortised, a dependent's leaving costs a constant, however many
    /// dependents the task has (a sweep of `n` entries follows `n / 2` leavings), and
    /// once their leavings are done a list holds no more ended dependents than live
    /// ones (or, short, none). No entry is missed: one made before the last sweep was
    /// seen live by it (an end is for good), so its end counts in `left` after it; one
    /// not made yet never is (see [`on_end_dependent`](Self::on_end_dependent)). An
    /// ended dependent needs no telling: a dependency's end does nothing to it, and
    /// one that is live is never swept (no wake-up is lost).
    pub(crate) fn dependent_left(&self) {
        let swept = {
            let mut waiters = self.waiters.lock().recover();
            if waiters.ended.is_some() {
                // Ended meanwhile: the list was taken, and is being told.
                return;
            }
            waiters.left = waiters.left.saturating_add(1);
            let len = waiters.dependents.waiting().len();
            if len > SWEEP_ALWAYS && (waiters.left as usize).saturating_mul(2) < len {
                return;
            }
            waiters.left = 0;
            waiters.dependents.waiting().remove_where(|d| d.has_ended())
        };
        // Dropped outside the lock: a job's last handle may be among them, and what it
        // holds (its function) has a `Drop` of its own.
        drop(swept);
    }

    /// This task ended without running: leaves the lists of the dependencies that have
    /// not ended (see [`dependent_left`](Self::dependent_left)).
    pub(crate) fn leave_dependencies(&self) {
        for dependency in self.dependencies.iter() {
            if let Some(dependency) = dependency.core.upgrade() {
                dependency.core().dependent_left();
            }
        }
    }

    /// Calls `callback` once the task has ended (at once if it has, then returning
    /// `None`); the id takes it back with [`Core::remove_on_end`]. For the library's
    /// waiters, whose callbacks only wake them.
    pub(crate) fn on_end(
        &self,
        callback: impl FnOnce(&Outcome) + Send + 'static,
    ) -> Option<CallbackId> {
        self.add_callback(callback, false)
    }

    /// [`on_end`](Self::on_end) for the user's callback (`add_done_callback`), which
    /// may end other tasks, whose own callbacks then run (see [`tell`]).
    pub(crate) fn on_end_user(&self, callback: impl FnOnce(&Outcome) + Send + 'static) {
        let _ = self.add_callback(callback, true);
    }

    /// Boxed only when kept: a callback of a task that has ended is called at once.
    fn add_callback(
        &self,
        callback: impl FnOnce(&Outcome) + Send + 'static,
        user: bool,
    ) -> Option<CallbackId> {
        let ended = {
            let mut waiters = self.waiters.lock().recover();
            match &waiters.ended {
                Some(outcome) => outcome.clone(),
                None => {
                    let call = Box::new(callback);
                    return Some(waiters.callbacks.push(Callback { call, user }));
                }
            }
        };
        if user {
            call_ended(callback, ended);
        } else {
            callback(&ended);
        }
        None
    }

    /// Takes back a callback not yet called (a no-op once the task has ended).
    pub(crate) fn remove_on_end(&self, id: CallbackId) {
        let removed = self.waiters.lock().recover().callbacks.remove(id);
        // Dropped outside the lock: what it captured may have a `Drop` of its own.
        drop(removed);
    }

    /// Blocks until the task ended or `deadline` passed (`None`: no deadline); true if
    /// it ended. A task waiting on a pool thread never runs an unrelated task meanwhile
    /// (see `pool`'s docs for what it does instead). A futures task whose wait, without
    /// a deadline, could never end gets the error that says why instead (see
    /// `blocked`).
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Result<bool, FutureError> {
        if self.is_done() {
            return Ok(true);
        }
        #[cfg(not(loom))]
        return super::pool::wait(
            &|| self.is_done(),
            super::blocked::Awaited::One(self),
            deadline,
            |until| self.sleep(until),
        );
        #[cfg(loom)]
        Ok(self.sleep(deadline))
    }

    /// [`wait`](Self::wait) without a deadline, that also ends once `stop()` holds:
    /// `Ok(true)` when the task ended, `Ok(false)` when stopped first. Whoever makes
    /// `stop()` true then calls [`wake`](Self::wake), for a sleeper to look again;
    /// `asleep()` is called each time the thread goes to sleep (not while it polls),
    /// its value kept until it wakes: where the sleeper says who should wake it.
    /// `awaited` is what the wait is for, for the wait-cycle search: this future, or
    /// also others whose end would stop it (a gather's, see `blocked`).
    pub(crate) fn wait_unless<G>(
        &self,
        stop: &dyn Fn() -> bool,
        awaited: super::blocked::Awaited<'_>,
        asleep: impl Fn() -> G,
    ) -> Result<bool, FutureError> {
        if self.is_done() {
            return Ok(true);
        }
        let sleep = |until: Option<Instant>| {
            let _asleep = asleep();
            let mut waiters = self.waiters.lock().recover();
            waiters.sleepers += 1;
            let (mut waiters, ended) =
                sleep_until(&self.done, waiters, |w| w.ended.is_some() || stop(), until);
            waiters.sleepers -= 1;
            ended
        };
        #[cfg(not(loom))]
        super::pool::wait(&|| self.is_done() || stop(), awaited, None, sleep)?;
        #[cfg(loom)]
        {
            let _ = awaited;
            sleep(None);
        }
        Ok(self.is_done())
    }

    /// Wakes the threads asleep in [`wait_unless`](Self::wait_unless), to look at their
    /// `stop` again: called after making it true, so that a sleeper either saw it
    /// under the lock or is asleep by now and woken.
    pub(crate) fn wake(&self) {
        let waiters = self.waiters.lock().recover();
        if waiters.sleepers > 0 {
            drop(waiters);
            self.done.notify_all();
        }
    }

    /// [`wait`](Self::wait) without a deadline, that also ends once `stop()` holds,
    /// asked every `every` while the wait sleeps (a predicate no one wakes the waiter
    /// for: a run's stop condition); true when the task ended, false when stopped
    /// first. `stop` is asked outside every lock of the library's: it is the user's
    /// code, which may touch this very future. The wait is published as one without a
    /// deadline, so that a cycle through it is refused as [`wait`](Self::wait)'s is.
    pub(crate) fn wait_asking(
        &self,
        stop: &dyn Fn() -> bool,
        every: std::time::Duration,
    ) -> Result<bool, FutureError> {
        if self.is_done() {
            return Ok(true);
        }
        let stopped = Cell::new(false);
        // True once the wait is over: the task ended, or `stop()` said so (the
        // callers of `sleep` take true as "look no further").
        let sleep = |until: Option<Instant>| loop {
            if self.sleep(super::pool::look_by(every, until)) {
                return true;
            }
            if stop() {
                stopped.set(true);
                return true;
            }
            if until.is_some_and(|until| Instant::now() >= until) {
                return false;
            }
        };
        #[cfg(not(loom))]
        super::pool::wait(
            &|| self.is_done() || stopped.get(),
            super::blocked::Awaited::One(self),
            None,
            sleep,
        )?;
        #[cfg(loom)]
        sleep(None);
        Ok(self.is_done())
    }

    /// Blocks this thread until the task ended or `deadline` passed.
    /// (`pool::wait` polls a little first; the loom models do not, since every poll
    /// would be one more interleaving to explore and sleeping is what they check.)
    fn sleep(&self, deadline: Option<Instant>) -> bool {
        let mut waiters = self.waiters.lock().recover();
        waiters.sleepers += 1;
        let (mut waiters, ended) =
            sleep_until(&self.done, waiters, |w| w.ended.is_some(), deadline);
        waiters.sleepers -= 1;
        ended
    }
}

/// What one end has to tell: the dependents and callbacks of a task, and how it ended;
/// and the job whose arguments to release (and whose observer to tell, if it never
/// started), for a task that will not run.
struct Telling {
    release: Option<Arc<dyn Runnable>>,
    /// Whether the task had started when it ended (else its job tells its observer).
    started: bool,
    dependents: InlineList<Arc<dyn Dependent>>,
    callbacks: Vec<Callback>,
    outcome: Outcome,
}

thread_local! {
    /// Whether this thread is telling ends (an outer [`tell`] is draining).
    static TELLING: Cell<bool> = const { Cell::new(false) };
    /// Ends met while telling another: told by the outer [`tell`], in a loop.
    static TO_TELL: RefCell<Vec<Telling>> = const { RefCell::new(Vec::new()) };
    /// The user's callbacks running on this thread, one inside another (see [`tell`]).
    static IN_CALLBACKS: Cell<u32> = const { Cell::new(0) };
    /// The user's callbacks of ends caused [`MAX_CALLBACK_NESTING`] callbacks deep:
    /// run by the callback below, in a loop, once the one that caused them returns.
    static LATER: RefCell<Vec<(Callback, Outcome)>> = const { RefCell::new(Vec::new()) };
    /// How many [`as_one_telling`]s run on this thread, one inside another.
    static DEFERRING: Cell<u32> = const { Cell::new(0) };
    /// The user's callbacks of the ends told inside [`as_one_telling`], in the order
    /// of those ends: run by the outermost one once its cancels are done.
    static DEFERRED: RefCell<Vec<(Vec<Callback>, Outcome)>> = const { RefCell::new(Vec::new()) };
}

/// How many of the user's callbacks run one inside another on a thread (a callback
/// that cancels a future whose callback cancels the next ...) before the callbacks of
/// the ends they cause wait for the one that caused them to return: a chain of them of
/// any length then runs in bounded stack (it overflowed at a few thousand links).
const MAX_CALLBACK_NESTING: u32 = 16;

/// Tells the waiters of an end. Telling a dependent may end it (a failure or a
/// cancellation goes down a chain), and that end has waiters of its own: they are
/// queued and told by the outermost call, in a loop, so a chain of any length fails
/// or is cancelled in constant stack.
///
/// The user's callbacks run once every end queued so far has been told to its
/// dependents: a callback may wait for a dependent any number of links down the chain
/// its end goes down, and an end queued behind that callback, on the thread the
/// callback blocks, would never be told (a callback of a failed future waiting for a
/// dependent two links down hung for ever). The library's own callbacks only wake
/// their waiters, and run as each end is told.
///
/// A callback ends a dependent, dropping its arguments, and a `Drop` may panic: every
/// other waiter is told all the same (one left untold would wait forever), then the
/// first panic goes on.
fn tell(first: Telling) {
    // Loom runs its threads on one OS thread, sharing thread-locals: the models tell
    // each end at once (their chains are two links long).
    #[cfg(not(loom))]
    let nested = TELLING.try_with(|t| t.replace(true)).unwrap_or(false);
    #[cfg(loom)]
    let nested = false;
    if nested {
        // Outside a thread's end, `try_with` cannot fail: TELLING was set by the outer
        // call on this very thread.
        TO_TELL.with(|list| list.borrow_mut().push(first));
        return;
    }
    let mut first_panic = FirstPanic::default();
    drain(Some(first), &mut first_panic);
    // Not while this end is part of another panic's unwinding (that aborts).
    first_panic.resume();
}

/// Runs `f`, which ends tasks (a cancel and the cancels it goes on to, a cancel of
/// several futures), holding the user's callbacks of the ends it causes on this thread
/// until it is done: a callback may then wait for anything else `f` ends. (A callback
/// run before `f` was done waited for a future that `f` had yet to cancel, on the
/// thread that was to cancel it.) The ends themselves are told as they come, as any
/// end is (see [`tell`]), so a `Drop` that `f` runs sees them. Nested, the outermost
/// one runs the callbacks. A panic of `f`, or of a callback, comes out once every
/// callback has run.
pub(crate) fn as_one_telling(f: impl FnOnce()) {
    let _ = DEFERRING.try_with(|d| d.set(d.get() + 1));
    let mut first_panic = FirstPanic::default();
    first_panic.catch(f);
    let outermost = DEFERRING
        .try_with(|d| {
            d.set(d.get() - 1);
            d.get() == 0
        })
        .unwrap_or(true);
    if outermost {
        run_deferred(&mut first_panic);
    }
    first_panic.resume();
}

/// Runs the callbacks [`as_one_telling`] held, as [`drain`] runs the user's callbacks:
/// marked as telling (each callback's own ends are told inside it, see
/// `run_callback`), and whatever is queued meanwhile told after, unless an outer
/// telling on this thread (`f` run by a `Drop` in it) is to tell it.
fn run_deferred(first_panic: &mut FirstPanic) {
    #[cfg(not(loom))]
    let outer = TELLING.try_with(|t| t.replace(true)).unwrap_or(true);
    #[cfg(loom)]
    let outer = true;
    // The callbacks run here may cancel in turn: theirs run inside them (in a nested
    // `as_one_telling` of their own), never in this loop's list.
    while let Some(calls) = DEFERRED
        .try_with(|list| std::mem::take(&mut *list.borrow_mut()))
        .ok()
        .filter(|calls| !calls.is_empty())
    {
        for (callbacks, outcome) in calls {
            run_user_callbacks(callbacks, &outcome, first_panic);
        }
    }
    if !outer {
        let next = TO_TELL
            .try_with(|list| list.borrow_mut().pop())
            .ok()
            .flatten();
        // Marks the thread as telling no more, as before the run.
        drain(next, first_panic);
    }
}

/// Holds `calls`, the user's callbacks of ends just told, for the [`as_one_telling`]
/// running on this thread, if one is: true if it took them.
fn deferred(calls: &mut Vec<(Vec<Callback>, Outcome)>) -> bool {
    // Loom's threads share one OS thread's thread-locals: one model thread's cancel
    // would hold another's callbacks. Its models run each end's callbacks at once.
    if cfg!(loom) {
        return false;
    }
    let deferring = DEFERRING.try_with(Cell::get).unwrap_or(0) > 0;
    deferring
        && DEFERRED
            .try_with(|list| list.borrow_mut().append(calls))
            .is_ok()
}

/// Tells `next` and every end queued on this thread meanwhile (see [`tell`]), then
/// marks the thread as telling no more.
fn drain(mut next: Option<Telling>, first_panic: &mut FirstPanic) {
    // The user's callbacks of the ends told, in the order of those ends, held until
    // no end is left to tell (allocated only when an end has some).
    let mut to_call: Vec<(Vec<Callback>, Outcome)> = Vec::new();
    loop {
        while let Some(Telling {
            release,
            started,
            mut dependents,
            mut callbacks,
            outcome,
        }) = next
        {
            if let Some(job) = release {
                first_panic.catch(|| {
                    if !started {
                        job.ended_unstarted(&outcome);
                    }
                    job.release();
                });
                if !started {
                    // Out of its dependencies' lists now, not at their ends: a dropped
                    // or cancelled dependent of a long task is freed at once. (A
                    // started one has no dependency left to wait for.)
                    first_panic.catch(|| job.leave_dependencies());
                }
            }
            for dependent in dependents.take() {
                first_panic.catch(|| dependent.dependency_ended(&outcome));
            }
            // The library's callbacks only wake a waiter: at once. (Split only when
            // the two kinds are mixed: no allocation when they are not.)
            let user = callbacks.iter().filter(|callback| callback.user).count();
            if user < callbacks.len() {
                let library;
                (callbacks, library) = if user == 0 {
                    (Vec::new(), callbacks)
                } else {
                    callbacks.into_iter().partition(|c| c.user)
                };
                for callback in library {
                    first_panic.catch(|| run_callback(callback, &outcome));
                }
            }
            if !callbacks.is_empty() {
                to_call.push((callbacks, outcome));
            }
            next = TO_TELL
                .try_with(|list| list.borrow_mut().pop())
                .ok()
                .flatten();
        }
        // Inside a cancel that goes on (see `as_one_telling`), the callbacks wait for
        // its end; its ends are all told by now, none is left queued.
        if to_call.is_empty() || deferred(&mut to_call) {
            break;
        }
        for (callbacks, outcome) in std::mem::take(&mut to_call) {
            run_user_callbacks(callbacks, &outcome, first_panic);
        }
        // A callback's own ends are told inside it (see `run_callback`): none is
        // queued by now, as a rule; one that is gets the same telling.
        next = TO_TELL
            .try_with(|list| list.borrow_mut().pop())
            .ok()
            .flatten();
        if next.is_none() {
            break;
        }
    }
    #[cfg(not(loom))]
    let _ = TELLING.try_with(|t| t.set(false));
}

/// Runs the user's callbacks of one end, for [`tell`].
///
/// A callback is the user's code, which may wait for an end it causes (it cancels a
/// future, then waits for a dependent): ends it causes are told at once, not queued
/// behind it, and jobs it submits go to idle workers. The user's callbacks of those
/// ends run at once too, up to a nesting of `MAX_CALLBACK_NESTING`; past it they run
/// after the callback that caused them returns (as Dask runs callbacks, one after
/// another).
fn run_user_callbacks(callbacks: Vec<Callback>, outcome: &Outcome, first_panic: &mut FirstPanic) {
    let deep = callback_depth() >= MAX_CALLBACK_NESTING;
    for callback in callbacks {
        if deep {
            let later = (callback, outcome.clone());
            // Fails only at the thread's end, when no callback can run any more.
            let _ = LATER.try_with(|list| list.borrow_mut().push(later));
            continue;
        }
        first_panic.catch(|| run_callback(callback, outcome));
        if callback_depth() < MAX_CALLBACK_NESTING {
            // The callbacks put off while it ran, and those they put off, in turn.
            while let Some((later, outcome)) = LATER
                .try_with(|list| list.borrow_mut().pop())
                .ok()
                .flatten()
            {
                first_panic.catch(|| run_callback(later, &outcome));
            }
        }
    }
}

/// Calls the user's `callback` of a task that has already ended (`add_done_callback`
/// on it), at once, as one more level of the user's callbacks on this thread: a
/// callback that adds one to an ended future (a chain of callbacks walking finished
/// futures one after another) nested a level per link and overflowed the stack, which
/// aborted the process (100,000 links). Past [`MAX_CALLBACK_NESTING`] levels it is put
/// off until the callback below returns, as [`tell`] puts off the callbacks of ends;
/// below that, the callbacks put off meanwhile are run here, in a loop. A panic goes
/// on once they have run.
fn call_ended(callback: impl FnOnce(&Outcome) + Send + 'static, ended: Outcome) {
    if callback_depth() >= MAX_CALLBACK_NESTING {
        let call = Box::new(callback);
        let later = (Callback { call, user: true }, ended);
        // Fails only at the thread's end, when no callback can run any more.
        let _ = LATER.try_with(|list| list.borrow_mut().push(later));
        return;
    }
    let mut first_panic = FirstPanic::default();
    first_panic.catch(|| one_level_deeper(|| callback(&ended)));
    while let Some((later, outcome)) = LATER
        .try_with(|list| list.borrow_mut().pop())
        .ok()
        .flatten()
    {
        first_panic.catch(|| one_level_deeper(|| (later.call)(&outcome)));
    }
    first_panic.resume();
}

/// Runs `f`, a user's callback, counted as one more level of them on this thread.
fn one_level_deeper(f: impl FnOnce()) {
    struct Level;
    impl Drop for Level {
        fn drop(&mut self) {
            let _ = IN_CALLBACKS.try_with(|d| d.set(d.get() - 1));
        }
    }
    let _ = IN_CALLBACKS.try_with(|d| d.set(d.get() + 1));
    let _level = Level;
    f();
}

/// How many of the user's callbacks run one inside another on this thread.
fn callback_depth() -> u32 {
    IN_CALLBACKS.try_with(Cell::get).unwrap_or(0)
}

/// Runs one callback as [`tell`] does: ends it causes are told at once (not queued
/// behind it), it counts as one more level of the user's callbacks if it is one, and
/// jobs it submits go to idle workers.
fn run_callback(callback: Callback, outcome: &Outcome) {
    struct Level(bool);
    impl Drop for Level {
        fn drop(&mut self) {
            #[cfg(not(loom))]
            let _ = TELLING.try_with(|t| t.set(true));
            if self.0 {
                let _ = IN_CALLBACKS.try_with(|d| d.set(d.get() - 1));
            }
        }
    }
    #[cfg(not(loom))]
    let _ = TELLING.try_with(|t| t.set(false));
    if callback.user {
        let _ = IN_CALLBACKS.try_with(|d| d.set(d.get() + 1));
    }
    let _level = Level(callback.user);
    let call = callback.call;
    super::job::continuation::outside(|| call(outcome));
}

/// A future's result once it has ended: set once, read by the future's handles, and
/// taken by whoever holds the last handle (a dependent task whose argument it is), so
/// that a value passed along a chain of futures is moved, not copied and kept twice.
///
/// The value is kept inline, in the task's own allocation: a task allocates nothing
/// for its result. It moves into an `Arc` of its own only the first time someone asks
/// to share it ([`get`](Self::get): `result_shared`, an `Arc<T>` parameter, `scatter`),
/// and stays shared from then on; `result()` and a `T` parameter clone it in place.
pub(crate) struct ResultCell<T> {
    cell: Mutex<Slot<T>>,
}

/// What a [`ResultCell`] holds.
enum Slot<T> {
    /// Not ended yet, or taken by the last handle.
    Empty,
    /// Finished, the value in place.
    Value(T),
    /// Finished, the value shared (see [`ResultCell::get`]).
    Shared(Arc<T>),
    /// Failed or cancelled; boxed, as in [`Outcome`], so that the room for an error
    /// is not in every task's state.
    Failed(Box<FutureError>),
}

/// A finished future's value as its last handle takes it: in place (moved out of the
/// task) or shared, if someone asked for it shared before.
pub(crate) enum Taken<T> {
    Own(T),
    Shared(Arc<T>),
}

impl<T> Taken<T> {
    /// The value, moved when it is the only one, cloned otherwise.
    pub(crate) fn into_owned(self) -> T
    where
        T: Clone,
    {
        match self {
            Taken::Own(value) => value,
            Taken::Shared(shared) => match Arc::try_unwrap(shared) {
                Ok(value) => value,
                // The other holders may let go while it is cloned: this `Arc`'s drop
                // then drops the value, whose `Drop` may panic (see `let_go`).
                Err(shared) => {
                    let value = T::clone(&shared);
                    super::args::let_go(shared, value)
                }
            },
        }
    }

    /// The value, shared (moved into an `Arc` when it was in place).
    pub(crate) fn into_shared(self) -> Arc<T> {
        match self {
            Taken::Own(value) => Arc::new(value),
            Taken::Shared(value) => value,
        }
    }
}

impl<T> ResultCell<T> {
    fn new() -> Self {
        ResultCell {
            cell: Mutex::new(Slot::Empty),
        }
    }

    fn lock(&self) -> crate::engine::sync::MutexGuard<'_, Slot<T>> {
        self.cell.lock().recover()
    }

    /// Stores the result unless one is there.
    fn set(&self, result: Result<T, FutureError>) {
        let mut cell = self.lock();
        if matches!(*cell, Slot::Empty) {
            *cell = match result {
                Ok(value) => Slot::Value(value),
                Err(error) => Slot::Failed(Box::new(error)),
            };
        }
    }

    /// Replaces whatever is there with `error`; what was there is returned, to be
    /// dropped by the caller outside the lock (a value's `Drop` is the user's).
    fn replace_with(&self, error: FutureError) -> Slot<T> {
        std::mem::replace(&mut *self.lock(), Slot::Failed(Box::new(error)))
    }

    /// The result, shared; `None` before the end (or after the last handle took it).
    /// A value in place moves into an `Arc` here, once: every later reader shares it.
    pub(crate) fn get(&self) -> Option<Result<Arc<T>, FutureError>> {
        let mut cell = self.lock();
        match &*cell {
            Slot::Empty => None,
            Slot::Shared(value) => Some(Ok(value.clone())),
            Slot::Failed(error) => Some(Err(FutureError::clone(error))),
            Slot::Value(_) => {
                let Slot::Value(value) = std::mem::replace(&mut *cell, Slot::Empty) else {
                    unreachable!("matched just above, under the lock")
                };
                let value = Arc::new(value);
                *cell = Slot::Shared(value.clone());
                Some(Ok(value))
            }
        }
    }

    /// The result, its value cloned (in place: no `Arc` is made); `None` before the
    /// end (or after the last handle took it).
    pub(crate) fn get_cloned(&self) -> Option<Result<T, FutureError>>
    where
        T: Clone,
    {
        match &*self.lock() {
            Slot::Empty => None,
            Slot::Value(value) => Some(Ok(value.clone())),
            Slot::Shared(value) => Some(Ok(T::clone(value))),
            Slot::Failed(error) => Some(Err(FutureError::clone(error))),
        }
    }

    /// The error of a failed or cancelled task; `None` otherwise.
    pub(crate) fn error(&self) -> Option<FutureError> {
        match &*self.lock() {
            Slot::Failed(error) => Some(FutureError::clone(error)),
            _ => None,
        }
    }

    /// Takes the result out: only for the holder of the last handle, whom nobody can
    /// read it after. A failure stays (it is cheap to keep, and tells the same to all).
    pub(crate) fn take(&self) -> Option<Result<Taken<T>, FutureError>> {
        let mut cell = self.lock();
        match std::mem::replace(&mut *cell, Slot::Empty) {
            Slot::Empty => None,
            Slot::Value(value) => Some(Ok(Taken::Own(value))),
            Slot::Shared(value) => Some(Ok(Taken::Shared(value))),
            Slot::Failed(error) => {
                let copy = FutureError::clone(&error);
                *cell = Slot::Failed(error);
                Some(Err(copy))
            }
        }
    }
}

/// A future's whole state: the core and, once finished, the shared result. The core
/// first (see [`Core`]'s layout).
#[repr(C)]
pub(crate) struct State<T> {
    pub(crate) core: Core,
    pub(crate) value: ResultCell<T>,
}

impl<T> State<T> {
    /// The state of a future no task makes (`scatter`).
    pub(crate) fn new(name: TaskName, location: &'static Location<'static>) -> Self {
        State::of_job(name, location, None, InlineList::default())
    }

    /// The state of a task's future: `job` is the allocation it lives in. (Inlined:
    /// see [`Core::new`].)
    #[inline(always)]
    pub(crate) fn of_job(
        name: TaskName,
        location: &'static Location<'static>,
        job: Option<Weak<dyn Runnable>>,
        dependencies: InlineList<Dependency>,
    ) -> Self {
        State {
            core: Core::new(name, location, job, dependencies),
            value: ResultCell::new(),
        }
    }

    /// Finishes with a value, kept in place; false (and the value dropped) if it
    /// already ended.
    pub(crate) fn finish(&self, value: T) -> bool {
        let mut value = Some(value);
        self.core.end(Outcome::Finished, || {
            self.value.set(Ok(value.take().expect("set once")));
        })
    }

    /// Cancels the task (`Future::cancel`, Dask's `cancel_key`): one that has not
    /// ended ends cancelled, and its dependents with it (as its end tells them); one
    /// that finished is released ([`cancel_finished`](Self::cancel_finished)), and so
    /// is every dependent that finished after reading it, a dependent's dependent too,
    /// while those that had not are cancelled. A task that ended in error, or was
    /// cancelled, stays so, and so do its dependents.
    ///
    /// The dependents of released tasks are cancelled in turn from a work list on
    /// this thread, not by recursion: a chain of finished futures of any length (or a
    /// future with any number of finished dependents) takes bounded stack. A panic of
    /// a `Drop` on the way (of a released value, of a cancelled task's arguments) or
    /// of a done callback comes out once every one of them has been cancelled.
    pub(crate) fn cancel(&self) {
        // Every dependent cancelled before any callback runs: one may wait for another.
        as_one_telling(|| {
            let mut first_panic = FirstPanic::default();
            let mut work = Vec::new();
            first_panic.catch(|| self.cancel_alone(&mut work));
            while let Some(dependent) = work.pop() {
                // Gone (no one holds it): so is its value, and what only it led to is
                // left, as Dask stops at a key no client wants.
                let Some(dependent) = dependent.upgrade() else {
                    continue;
                };
                first_panic.catch(|| dependent.cancel_with_dependency(&mut work));
                // Its last reference if its handles went meanwhile: its value's `Drop`
                // is the user's.
                first_panic.catch(|| drop(dependent));
            }
            first_panic.resume();
        });
    }

    /// Cancels this task without going on to its dependents: ends it cancelled if it
    /// had not ended (its end tells the dependents waiting for it), or releases it if
    /// it finished ([`cancel_finished`](Self::cancel_finished)), its dependents added
    /// to `work`, for [`cancel`](Self::cancel) to cancel in turn.
    pub(crate) fn cancel_alone(&self, work: &mut Vec<Weak<dyn Dependent>>) {
        // Ended first, released if that came too late: the task may finish between a
        // look at its status and the cancel, and the cancel must not be lost then.
        if !self.fail(FutureError::cancelled(&self.core)) {
            self.cancel_finished(work);
        }
    }

    /// Cancels a task that has finished (Dask releases its key): its status becomes
    /// cancelled, and its readers get `Cancelled` from now on; the value is dropped here,
    /// freed once no reader holds it. Its dependents that have not read it yet fail
    /// cancelled when they do; every dependent it had is added to `dependents`, for the
    /// caller to cancel in turn (see [`cancel`](Self::cancel)). False if it had not
    /// finished.
    fn cancel_finished(&self, dependents: &mut Vec<Weak<dyn Dependent>>) -> bool {
        {
            let mut waiters = self.core.waiters.lock().recover();
            if !matches!(waiters.ended, Some(Outcome::Finished)) {
                return false;
            }
            waiters.ended = Some(Outcome::Cancelled);
            self.core.cancel.store(true, Ordering::Release);
            self.core.status.swap(CANCELLED, Ordering::AcqRel);
            // Under the lock that ends it: a dependent that finds it from now on finds
            // it cancelled, and one found before is in this list.
            if let Dependents::Finished(list) = &mut waiters.dependents {
                dependents.extend(list.take());
            }
        }
        // Dropped outside the lock: the value's `Drop` is the user's. Taken out by
        // value: room for a large one, as the last handle's drop has.
        crate::engine::sync::with_room_for::<T, _>(|| {
            let value = self.value.replace_with(FutureError::cancelled(&self.core));
            super::waiting::ended_without_result(&self.core);
            drop(value);
        });
        true
    }

    /// Ends in error or cancelled.
    pub(crate) fn fail(&self, error: FutureError) -> bool {
        let outcome = match &error {
            FutureError::Cancelled { .. } => Outcome::Cancelled,
            _ => Outcome::Failed(Box::new(error.clone())),
        };
        self.core.end(outcome, || {
            self.value.set(Err(error));
        })
    }
}

impl<T> State<T> {
    /// The users' last handle went: a task that has not ended is cancelled, unless
    /// `fire_and_forget` kept it; a finished one's result is dropped here, on the
    /// thread that let go of the handle, unless a done callback is still to read it.
    /// (Left in place, it went with the task's last reference, which may be the
    /// worker's that published it a moment before, still letting go: the `Drop` then
    /// ran on that worker, and a panic of it did not come out of this handle's drop.)
    /// `shared`: whether others may hold the task; if not, the caller's reference is
    /// the last, and its release drops the result here anyway (one lock less).
    pub(crate) fn last_handle_dropped(&self, shared: bool) {
        let core = &self.core;
        if !core.is_done()
            && !core.forgotten.load(Ordering::Acquire)
            && self.fail(FutureError::cancelled(core))
        {
            return;
        }
        // A value with no drop glue has no `Drop` to run here: left to go with the task.
        // Acquire: a callback's read of the value comes before its release of it.
        if core::mem::needs_drop::<T>()
            && shared
            && core.is_done()
            && core.callbacks_to_read.load(Ordering::Acquire) == 0
        {
            // Taken out by value: room for a large one (a 2 MiB result overflowed).
            crate::engine::sync::with_room_for::<T, _>(|| drop(self.value.take()));
        }
    }
}

thread_local! {
    /// Tasks whose last reference went while [`release`] ran on this thread: dropped by
    /// its loop.
    static RELEASED: RefCell<Vec<Arc<dyn HasCore>>> = const { RefCell::new(Vec::new()) };
    /// Whether [`release`]'s loop runs on this thread.
    static RELEASING: Cell<bool> = const { Cell::new(false) };
}

/// Lets go of a handle's reference to its task without recursing down a chain: the
/// last reference drops the task's result, whose own futures (a chain of futures each
/// held in the next one's result, or scattered inside one another) would drop theirs,
/// one stack frame per link (a stack overflow at 200,000 links). The first release of
/// a last reference on a thread runs a loop; one made meanwhile, by the drop of what
/// the loop dropped, is queued for it.
pub(crate) fn release(task: Arc<dyn HasCore>) {
    // Not the last reference: a decrement. (A count read as 2 whose other reference
    // goes at once frees the task here, one level deep; its futures come back here.)
    if Arc::strong_count(&task) != 1 {
        return;
    }
    let Ok(running) = RELEASING.try_with(|running| running.replace(true)) else {
        return; // This thread's locals are gone: dropped here.
    };
    if running {
        let mut task = Some(task);
        let _ = RELEASED.try_with(|queued| queued.borrow_mut().extend(task.take()));
        return;
    }
    /// Puts the flag down even when a result's `Drop` unwinds out of the loop; what is
    /// queued then is dropped without it.
    struct Loop;
    impl Drop for Loop {
        fn drop(&mut self) {
            let _ = RELEASING.try_with(|running| running.set(false));
            let left = RELEASED.try_with(|queued| std::mem::take(&mut *queued.borrow_mut()));
            drop(left);
        }
    }
    let _loop = Loop;
    drop(task);
    while let Some(next) = RELEASED
        .try_with(|queued| queued.borrow_mut().pop())
        .ok()
        .flatten()
    {
        drop(next);
    }
}

/// Anything with a [`Core`]: a future's state, its type erased.
pub(crate) trait HasCore: Send + Sync {
    fn core(&self) -> &Core;
    /// See [`State::last_handle_dropped`].
    fn last_handle_dropped(&self, shared: bool);
}

impl<T: Send + Sync> HasCore for State<T> {
    fn core(&self) -> &Core {
        &self.core
    }
    fn last_handle_dropped(&self, shared: bool) {
        State::last_handle_dropped(self, shared);
    }
}

/// What a [`Future<T>`](super::Future) points at: a task's state with its result type,
/// whatever else the allocation holds. A task's future and its job are one allocation
/// (`Job` holds the `State`), so submitting allocates once for both; a future no task
/// makes (`scatter`) is a bare `State`.
pub(crate) trait TaskOf<T>: HasCore {
    fn state(&self) -> &State<T>;
}

impl<T: Send + Sync> TaskOf<T> for State<T> {
    fn state(&self) -> &State<T> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::{Dependents, Outcome, ResultCell, State};
    use crate::engine::lock::Recover;
    use crate::futures::Client;

    /// How many dependents a finished future keeps for a cancel.
    fn kept(future: &crate::futures::Future<u64>) -> usize {
        match &future.core().waiters.lock().recover().dependents {
            Dependents::Finished(list) => list.len(),
            Dependents::Waiting(list) => list.len(),
        }
    }

    /// A task's state keeps no room for an error in place (an `Outcome` and a result
    /// cell each had 88 bytes of it): every task's state is allocated, written and
    /// freed, and its size is what a `map` of many tasks touches.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_task_state_keeps_errors_boxed() {
        assert!(std::mem::size_of::<Outcome>() <= 16);
        assert!(std::mem::size_of::<ResultCell<u64>>() <= 32);
        // 464 bytes when both held an error in place.
        assert!(std::mem::size_of::<State<u64>>() <= 320);
    }

    /// A long-lived finished future read by many short-lived tasks does not keep an
    /// entry (and the memory of a task) for each: the entries of those gone are pruned
    /// as new ones come.
    #[test]
    fn a_finished_future_keeps_its_live_dependents_only() {
        let client = Client::builder().threads(1).build().unwrap();
        let root = client.scatter(1u64);
        for _ in 0..1_000 {
            let dependent = client.submit(|x: u64| x + 1, (&root,));
            assert_eq!(dependent.result().unwrap(), 2);
        }
        assert!(kept(&root) <= 64, "{} entries kept", kept(&root));
        let live: Vec<_> = (0..100)
            .map(|_| client.submit(|x: u64| x + 1, (&root,)))
            .collect();
        client.gather(&live).unwrap();
        assert!(kept(&root) >= 100, "{} entries kept", kept(&root));
        drop(live);
        root.cancel();
        assert_eq!(kept(&root), 0);
    }
}

/// A future's state for the loom models (`graph-runtime/tests/loom.rs`): the calls a
/// task, its handles and the client's shutdown make on it, and what a reader sees.
#[cfg(loom)]
pub(crate) mod loom_model {
    use std::sync::Arc;

    use super::{Dependent, Outcome, State, TaskName};
    use crate::engine::sync::Ordering;
    use crate::futures::{FutureError, Status};

    /// One future's state.
    pub struct FutureState<T>(State<T>);

    // Opaque, as the crate's other handles are (missing_debug_implementations is denied).
    impl<T> std::fmt::Debug for FutureState<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("FutureState").finish_non_exhaustive()
        }
    }

    impl<T> Default for FutureState<T> {
        fn default() -> Self {
            FutureState(State::new(
                TaskName::Static("model"),
                std::panic::Location::caller(),
            ))
        }
    }

    impl<T> FutureState<T> {
        /// A pending future.
        pub fn new() -> Self {
            FutureState::default()
        }

        /// Pending -> running, as a pool thread starting the task does; false if the
        /// future ended meanwhile.
        pub fn start(&self) -> bool {
            self.0.core.start()
        }

        /// Pending -> cancelled, as the client's shutdown claims what has not started;
        /// true if it was pending (the caller then ends it, cancelled).
        pub fn claim_pending(&self) -> bool {
            self.0.core.claim_pending()
        }

        /// Publishes the task's result, as `Job::end` does; false (and `value` dropped)
        /// if the future had already ended.
        pub fn finish(&self, value: T) -> bool {
            self.0.finish(value)
        }

        /// Ends the future cancelled, as `Future::cancel`, dropping the last handle of
        /// a pending future, or shutdown do; false if it had already ended.
        pub fn cancel(&self) -> bool {
            self.0.fail(FutureError::cancelled(&self.0.core))
        }

        /// Blocks until the future ends, as `Future::result` does outside the pool.
        pub fn wait(&self) {
            let _ = self.0.core.wait(None);
        }

        /// The status.
        pub fn status(&self) -> Status {
            self.0.core.status()
        }

        /// Whether the status says it ended.
        pub fn is_done(&self) -> bool {
            self.0.core.is_done()
        }

        /// The published result, if any.
        pub fn result(&self) -> Option<Result<Arc<T>, FutureError>> {
            self.0.value.get()
        }

        /// One more user handle, as cloning a `Future` makes (or a done callback, at
        /// the end, from none).
        pub fn add_handle(&self) {
            self.0.core.add_handle();
        }

        /// Drops a user handle, as a `Future`'s drop does: the last one cancels a task
        /// that has not ended.
        pub fn drop_handle(&self) {
            if self.0.core.drop_handle() {
                self.0.last_handle_dropped(true);
            }
        }

        /// One more user handle of a task found by its key, as an equal pure
        /// submission takes one; false (and none taken) if it has none or was
        /// cancelled.
        pub fn find(&self) -> bool {
            self.0.core.try_add_live_handle()
        }

        /// Cancels the future as `Future::cancel` does: ended cancelled if it had not
        /// ended, released if it finished, and its dependents with it, finished ones
        /// released.
        pub fn cancel_with_dependents(&self) {
            self.0.cancel();
        }

        /// A dependent task of this future, registered with it as a job is at its
        /// submission: told of its end, and cancelled with it.
        pub fn dependent<U: Send + Sync + 'static>(&self) -> DependentState<U> {
            let dependent = Arc::new(ModelDependent(State::new(
                TaskName::Static("dependent"),
                std::panic::Location::caller(),
            )));
            // No client here to watch a long list of finished dependents.
            let _watch = self.0.core.on_end_dependent(dependent.clone());
            DependentState(dependent)
        }

        /// The flag a running task polls through `taskweave::cancelled()`.
        pub fn cancel_flag(&self) -> bool {
            self.0.core.cancel.load(Ordering::Acquire)
        }

        /// Calls `callback` once the future has ended (at once if it has), with the
        /// status its outcome stands for, as dependents and `as_completed` are told.
        pub fn on_end(&self, callback: impl FnOnce(Status) + Send + 'static) {
            self.0.core.on_end(move |outcome| {
                callback(match outcome {
                    Outcome::Finished => Status::Finished,
                    Outcome::Failed(_) => Status::Error,
                    Outcome::Cancelled => Status::Cancelled,
                })
            });
        }
    }

    /// A task depending on one [`FutureState`], as a job does: told of the future's
    /// end (a failure or cancel ends it, cancelled), and cancelled with the future
    /// after it finished (released if it finished too).
    pub struct DependentState<T>(Arc<ModelDependent<T>>);

    impl<T> std::fmt::Debug for DependentState<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("DependentState").finish_non_exhaustive()
        }
    }

    /// The dependent's state, as a job holds it.
    struct ModelDependent<T>(State<T>);

    impl<T: Send + Sync> Dependent for ModelDependent<T> {
        fn dependency_ended(self: Arc<Self>, outcome: &Outcome) {
            if !matches!(outcome, Outcome::Finished) {
                self.0.fail(FutureError::cancelled(&self.0.core));
            }
        }

        fn has_ended(&self) -> bool {
            self.0.core.is_done()
        }

        fn cancel_with_dependency(&self, work: &mut Vec<std::sync::Weak<dyn Dependent>>) {
            self.0.cancel_alone(work);
        }
    }

    impl<T> DependentState<T> {
        /// Pending -> running; false if it ended meanwhile (cancelled).
        pub fn start(&self) -> bool {
            self.0 .0.core.start()
        }

        /// Publishes its result; false (and `value` dropped) if it had already ended.
        pub fn finish(&self, value: T) -> bool {
            self.0 .0.finish(value)
        }

        /// The status.
        pub fn status(&self) -> Status {
            self.0 .0.core.status()
        }

        /// The published result, if any.
        pub fn result(&self) -> Option<Result<Arc<T>, FutureError>> {
            self.0 .0.value.get()
        }
    }
}
