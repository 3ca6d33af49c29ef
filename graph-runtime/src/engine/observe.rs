//! Watching tasks: hooks the dispatcher calls around every task of a graph, and a
//! [`Client`](crate::Client) around every task of its futures, for progress bars,
//! task-stream profiles, run records and tracing. One [`Observer`] trait serves all
//! three front ends (`graph!`, `Delayed`, futures). With no observer the dispatcher
//! pays one branch, and a client one test of its observer field where it would call it.
//!
//! Besides the observer a run or a client is given, "ambient" observers watch the
//! whole process while they are registered (a performance report or a live
//! dashboard, feature `dashboard`): the dispatcher and the futures' jobs read one
//! relaxed atomic count (once per run; once per future event), and only when it is
//! not zero the list behind a lock. With none registered nothing is allocated.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::engine::error::TaskError;
use crate::engine::lock::Recover;
use crate::engine::table::{NodeInfo, Table};

/// How one task's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// It stored its result.
    Finished,
    /// It panicked (for a future: on its last attempt, or a task it depends on failed
    /// before it started).
    Failed,
    /// It stopped the graph early (a `?` met an error). Graph tasks only.
    Stopped,
    /// It was cancelled, before it started or while it ran (its result is discarded).
    /// Futures only.
    Cancelled,
    /// This attempt panicked and the task runs again (`TaskBuilder::retries`): one more
    /// attempt follows, with its own started and finished. Futures only.
    Retried,
}

impl TaskOutcome {
    /// A word for it: `finished`, `failed`, `stopped`, `cancelled`, `retried`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskOutcome::Finished => "finished",
            TaskOutcome::Failed => "failed",
            TaskOutcome::Stopped => "stopped",
            TaskOutcome::Cancelled => "cancelled",
            TaskOutcome::Retried => "retried",
        }
    }
}

impl std::fmt::Display for TaskOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One task of a [`Client`](crate::Client), as the future hooks of an [`Observer`]
/// see it. Futures have no node index: a client is an open-ended stream of tasks,
/// told apart by their [`key`](Self::key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FutureEvent<'a> {
    /// The task's name ([`Future::name`](crate::Future::name)).
    pub name: &'a str,
    /// `future` for a task of `submit`, `map` or `task(..).submit`; `compute` for the
    /// task of a [`Client::compute`](crate::Client::compute) (the tasks of its graph
    /// are told through the graph hooks).
    pub kind: &'a str,
    /// Where the task was submitted, as `file:line:column`.
    pub call_site: &'a str,
    /// The number in the task's key, unique in the process:
    /// [`Future::key`](crate::Future::key) is `{name}-{key:x}` (see
    /// [`full_key`](Self::full_key)).
    pub key: u64,
    /// Which attempt: 0 for the first run, `n` for the `n`-th retry.
    pub attempt: u32,
    /// Whether this attempt started: true in [`Observer::future_started`] and in the
    /// [`Observer::future_finished`] that ends it; false in a `future_finished` of a
    /// task that ended before it ran (cancelled, or a task it depends on failed).
    pub started: bool,
}

impl FutureEvent<'_> {
    /// The task's key as [`Future::key`](crate::Future::key) gives it: `inc-3f`.
    pub fn full_key(&self) -> String {
        format!("{}-{:x}", self.name, self.key)
    }
}

/// Receives the events of runs and tasks. Every method has an empty default; methods
/// are called from the threads that run the tasks, concurrently.
///
/// **Graphs** (`graph!`, `Delayed`, and the graph of a `Client::compute`):
/// `graph_started`, then `task_started`/`task_finished` around each task that runs,
/// on its thread, then `graph_finished`, with the outcome the run's caller gets (a
/// `graph!` that a `?` stopped is told once the values it left unread are dropped,
/// whose `Drop` may fail it; a `Delayed` run once the clones of its outputs are made,
/// whose `Clone` may). Tasks are numbered by their node index in the run.
///
/// **Futures** (a [`Client`](crate::Client) built with
/// [`ClientBuilder::observer`](crate::ClientBuilder::observer)): for every task
/// submitted to the client, one `future_submitted` on the submitting thread; then,
/// for every attempt that runs, `future_started` and `future_finished` on the thread
/// that runs it (an attempt that panics and is retried ends [`TaskOutcome::Retried`]);
/// and exactly one final `future_finished` with [`Finished`](TaskOutcome::Finished),
/// [`Failed`](TaskOutcome::Failed) or [`Cancelled`](TaskOutcome::Cancelled): the end
/// of the last attempt, or, alone with [`FutureEvent::started`] false, the end of a
/// task that never ran, on the thread that ended it (the one that cancelled it, or
/// the one whose failure it inherits) right after the end (so a thread waiting for
/// its future may wake before the observer is told). The outcome is the task's: `Finished` when
/// its function returned, even when a cancel that came just then discards the
/// result; cancelling a finished future later reports nothing. A future made by
/// `scatter` has no task and no events. A panic in a future hook is caught and
/// dropped (the panic hook prints it), so that it never leaves a task unended. A panic
/// in a graph hook fails the run, with an error that names the hook (see
/// [`RunOptions::observer`](crate::RunOptions::observer)).
pub trait Observer: Send + Sync {
    /// The run starts: its nodes, in topological order.
    fn graph_started(&self, _nodes: &[NodeInfo<'_>]) {}
    /// Node `node` starts running on this thread.
    fn task_started(&self, _node: u32, _info: &NodeInfo<'_>) {}
    /// Node `node` ended on this thread.
    fn task_finished(&self, _node: u32, _info: &NodeInfo<'_>, _outcome: TaskOutcome) {}
    /// The run ended (nodes that never started had no events).
    fn graph_finished(&self, _result: Result<(), &TaskError>) {}
    /// A task was submitted to the client, on the submitting thread (before it can
    /// start or end).
    fn future_submitted(&self, _task: &FutureEvent<'_>) {}
    /// An attempt of a client's task starts running on this thread.
    fn future_started(&self, _task: &FutureEvent<'_>) {}
    /// An attempt of a client's task ended on this thread (`task.started`), or the
    /// task ended before it ran (`!task.started`); see the trait's docs for which
    /// outcomes come when. An attempt's end is told before the task's future ends,
    /// as if from inside the task: a wait here for that future, or for one that needs
    /// it, fails with [`FutureError::WaitsForItself`](crate::FutureError::WaitsForItself) rather than
    /// wait for ever.
    fn future_finished(&self, _task: &FutureEvent<'_>, _outcome: TaskOutcome) {}
}

/// Several observers as one: every event goes to each, in order (what a client built
/// with more than one [`ClientBuilder::observer`](crate::ClientBuilder::observer)
/// holds).
pub(crate) struct Observers(pub(crate) Vec<Arc<dyn Observer>>);

impl Observers {
    /// `observers` as one observer: `None` for none, the one itself for one.
    pub(crate) fn combine(mut observers: Vec<Arc<dyn Observer>>) -> Option<Arc<dyn Observer>> {
        match observers.len() {
            0 => None,
            1 => observers.pop(),
            _ => Some(Arc::new(Observers(observers))),
        }
    }
}

impl Observers {
    /// `hook` of every observer, even when one panics: the first panic is resumed once
    /// all have been told, so that one observer's panic does not keep an event from
    /// the others (a progress bar left drawing, a report's run left pending, a
    /// tracing span left entered).
    fn tell_all(&self, hook: impl Fn(&dyn Observer)) {
        let mut first = crate::engine::error::FirstPanic::default();
        for observer in &self.0 {
            first.catch(|| hook(&**observer));
        }
        first.resume();
    }
}

impl Observer for Observers {
    fn graph_started(&self, nodes: &[NodeInfo<'_>]) {
        self.tell_all(|o| o.graph_started(nodes));
    }
    fn task_started(&self, node: u32, info: &NodeInfo<'_>) {
        self.tell_all(|o| o.task_started(node, info));
    }
    fn task_finished(&self, node: u32, info: &NodeInfo<'_>, outcome: TaskOutcome) {
        self.tell_all(|o| o.task_finished(node, info, outcome));
    }
    fn graph_finished(&self, result: Result<(), &TaskError>) {
        self.tell_all(|o| o.graph_finished(result));
    }
    fn future_submitted(&self, task: &FutureEvent<'_>) {
        self.tell_all(|o| o.future_submitted(task));
    }
    fn future_started(&self, task: &FutureEvent<'_>) {
        self.tell_all(|o| o.future_started(task));
    }
    fn future_finished(&self, task: &FutureEvent<'_>, outcome: TaskOutcome) {
        self.tell_all(|o| o.future_finished(task, outcome));
    }
}

/// An observer of the whole process while registered (a performance report, a live
/// dashboard): told every graph run and every client's tasks, whether or not they
/// were given an observer of their own. See [`add_ambient`].
pub(crate) struct Ambient {
    /// Makes the observer of one graph run (of `table`), when the run starts, on the
    /// thread that starts it: runs that overlap get observers of their own.
    pub(crate) per_run: RunObserverMaker,
    /// Told every task of every client.
    pub(crate) futures: Arc<dyn Observer>,
}

/// Makes the observer of one graph run ([`Ambient::per_run`]).
pub(crate) type RunObserverMaker = Box<dyn Fn(&Table<'_>) -> Arc<dyn Observer> + Send + Sync>;

/// The registered ambient observers with their registration numbers.
type AmbientList = Arc<[(u64, Arc<Ambient>)]>;

/// How many ambient observers are registered: the only thing read when there are none
/// (one relaxed load per graph run, and per client task event).
static AMBIENT_COUNT: AtomicUsize = AtomicUsize::new(0);
/// The registered ambient observers, by registration number: replaced as a whole, so
/// that a reader takes a snapshot (one reference count) and calls no observer under
/// the lock.
static AMBIENT: RwLock<Option<AmbientList>> = RwLock::new(None);
/// The next registration number.
#[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
static AMBIENT_NEXT: AtomicU64 = AtomicU64::new(1);

/// Registers `ambient` until the returned handle is dropped.
#[cfg_attr(not(feature = "dashboard"), allow(dead_code))]
pub(crate) fn add_ambient(ambient: Arc<Ambient>) -> AmbientHandle {
    let id = AMBIENT_NEXT.fetch_add(1, Ordering::Relaxed);
    let mut list = AMBIENT.write().recover();
    let mut entries: Vec<(u64, Arc<Ambient>)> = list.as_deref().unwrap_or(&[]).to_vec();
    entries.push((id, ambient));
    *list = Some(entries.into());
    AMBIENT_COUNT.fetch_add(1, Ordering::Relaxed);
    AmbientHandle(id)
}

/// Keeps an ambient observer registered ([`add_ambient`]); unregisters it when
/// dropped (runs that started before keep the observer they were given).
#[derive(Debug)]
pub(crate) struct AmbientHandle(u64);

impl Drop for AmbientHandle {
    fn drop(&mut self) {
        let mut list = AMBIENT.write().recover();
        let entries: Vec<(u64, Arc<Ambient>)> = list
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .filter(|(id, _)| *id != self.0)
            .cloned()
            .collect();
        *list = (!entries.is_empty()).then(|| entries.into());
        AMBIENT_COUNT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether any ambient observer is registered: one relaxed load.
#[inline(always)]
pub(crate) fn ambient_active() -> bool {
    AMBIENT_COUNT.load(Ordering::Relaxed) != 0
}

/// The registered ambient observers, if any.
fn ambient_snapshot() -> Option<AmbientList> {
    AMBIENT.read().recover().clone()
}

/// The observer of a run of `table` whose own observer is `own`, when ambient
/// observers are registered: `own` and each one's observer of this run, as one.
/// `None` when there are none (then `own` alone watches). Call it only when
/// [`ambient_active`].
#[cold]
pub(crate) fn ambient_run_observer(
    table: &Table<'_>,
    own: Option<&Arc<dyn Observer>>,
) -> Option<Arc<dyn Observer>> {
    let snapshot = ambient_snapshot()?;
    let mut observers: Vec<Arc<dyn Observer>> = own.into_iter().cloned().collect();
    observers.extend(snapshot.iter().map(|(_, a)| (a.per_run)(table)));
    Observers::combine(observers)
}

/// Calls `tell` with each registered ambient observer of clients' tasks. Call it only
/// when [`ambient_active`].
#[cold]
pub(crate) fn for_each_ambient_future_observer(mut tell: impl FnMut(&dyn Observer)) {
    if let Some(snapshot) = ambient_snapshot() {
        for (_, ambient) in snapshot.iter() {
            tell(&*ambient.futures);
        }
    }
}

std::thread_local! {
    /// How many times the dispatcher, while observed, broke this thread's straight
    /// run from one task to the next (see [`note_break`]).
    static BREAKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Notes that this thread may have waited or run other work since its last task: a
/// stolen job starts on it, a join whose other half was stolen returned, or a graph
/// run started or ended on it. The task logs (`observers/tasklog.rs`) read the clock
/// for a task's start only when such a break came since the thread's last task ended;
/// otherwise the start is that end (one clock read per task boundary). Called only
/// while a run is observed.
#[inline]
pub(crate) fn note_break() {
    BREAKS.with(|b| b.set(b.get().wrapping_add(1)));
}

/// The number of breaks noted on this thread ([`note_break`]).
#[inline(always)]
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn break_mark() -> u64 {
    BREAKS.with(std::cell::Cell::get)
}

/// The caller's stop condition of a run ([`RunOptions::stop_when`](crate::RunOptions::stop_when)).
type StopWhen = Arc<dyn Fn() -> bool + Send + Sync>;

/// One run's stop, as its tasks' `cancelled()`, the dispatcher before each task, and
/// the runs nested in its tasks that follow them read it: the index from which its
/// nodes must not start, the caller's stop condition if any, and the graph task the
/// run was started in. Lives in the run's context, where it stays until the run ends.
///
/// A run that follows the graph task it was started in (`stop_when(taskweave::cancelled)`,
/// recognised as that function) does not ask its condition, which would ask the
/// task's run's, and that one its caller's, up every level (a question cost the depth,
/// and nested runs the square of it: 1,000 levels 1.5 million looks). It reads instead
/// whether any run above it stopped at or before the task it runs in ([`Follows`],
/// kept while no run of the chain stops), and asks only the condition of the chain's
/// top, the first run that does not follow a graph task this way.
pub(crate) struct RunStop {
    /// Nodes from this index on must not start: `u32::MAX` while the run goes on, 0
    /// after a failure, the lowest index that stopped it otherwise.
    index: crate::engine::sync::AtomicU32,
    /// The caller's stop condition, if any (null: none): in the run's options, which
    /// outlive the run.
    when: *const StopWhen,
    /// The graph task the run was started in, if any: where `when` is asked from.
    outer: Outer,
    /// How this run follows its caller's graph task, if it does.
    follows: Option<Follows>,
    /// For the top of a chain of following runs: how many times a run of the chain
    /// stopped (lowered its index), which makes what its followers keep stale.
    epoch: AtomicU64,
}

/// A run that follows the graph task it was started in: that task's run and index,
/// the top of the chain, and what the run last found of the runs above it.
struct Follows {
    /// The run of the task this run was started in, which waits for this run's end.
    caller: *const RunStop,
    /// That task's index in it.
    task: u32,
    /// The first run above that does not follow its task this way: its condition is
    /// asked, and its epoch counts the stops of the runs between.
    root: *const RunStop,
    /// Whether a run above stopped at or before the task it runs in: `epoch + 1` for
    /// "no" as of that epoch of the root, [`YES`] for "yes" (for good: runs only stop
    /// more, and it is above any "no"), 0 before the first look.
    known: AtomicU64,
}

/// [`Follows::known`] for "a run above stopped".
const YES: u64 = 1 << 63;

// SAFETY: a `RunStop` is read from any thread that runs a task of its run, or of a run
// nested in one: its pointers are to its run's stop condition (`Send + Sync`, in the
// options that outlive the run) and to the `RunStop`s of the runs above it, each of
// which outlives the runs nested in its tasks (a caller task waits for its nested
// run's end; a run that may outlive its caller's wait does not follow this way, see
// `RunStop::new`); the rest are atomics and an `Outer`, itself `Sync`.
unsafe impl Send for RunStop {}
// SAFETY: as for `Send`.
unsafe impl Sync for RunStop {}

/// The futures front end's answer to whether a futures task is the innermost task on
/// the calling thread (it answers `cancelled()` there rather than the graph task
/// beneath it): set when the first client is built, before any futures task can run.
/// Kept here as a function so that the engine does not reach into the futures.
static FUTURES_TASK_INNERMOST: std::sync::OnceLock<fn() -> bool> = std::sync::OnceLock::new();

/// Sets the futures front end's answer (see [`FUTURES_TASK_INNERMOST`]).
pub(crate) fn set_futures_task_innermost(answer: fn() -> bool) {
    let _ = FUTURES_TASK_INNERMOST.set(answer);
}

/// Whether a futures task is the innermost task on this thread: never before a client
/// was built.
fn futures_task_innermost() -> bool {
    FUTURES_TASK_INNERMOST.get().is_some_and(|answer| answer())
}

impl RunStop {
    /// The stop of a run with the caller's condition `when`, started in the task `outer`;
    /// `follows` when `when` is `taskweave::cancelled` itself. The run follows the
    /// task's run through [`Follows`] when `outer` is a graph task on this thread that
    /// waits for the run (not a lent one) and no futures task above it answers
    /// `cancelled()` here; otherwise it asks `when` as `outer`, as any condition.
    pub(crate) fn new(when: Option<&StopWhen>, follows: bool, outer: Outer) -> RunStop {
        let follows =
            (follows && !outer.run.is_null() && outer.lent.is_null() && !futures_task_innermost())
                .then(|| {
                    // SAFETY: the task `outer` names runs on this thread now, and its run is
                    // alive (see `run_stopped`).
                    let caller = unsafe { &*outer.run };
                    Follows {
                        caller: outer.run,
                        task: outer.task,
                        root: caller.root(),
                        known: AtomicU64::new(0),
                    }
                });
        RunStop {
            index: crate::engine::sync::AtomicU32::new(u32::MAX),
            when: when.map_or(std::ptr::null(), std::ptr::from_ref),
            outer,
            follows,
            epoch: AtomicU64::new(0),
        }
    }

    /// The top of this run's chain of following runs: itself if it follows none.
    fn root(&self) -> *const RunStop {
        self.follows
            .as_ref()
            .map_or(std::ptr::from_ref(self), |follows| follows.root)
    }

    /// Whether nodes from `node` on must not start (a failure, or a stop before it).
    #[inline]
    pub(crate) fn stopped_at(&self, node: u32) -> bool {
        node >= self.index.load(crate::engine::sync::Ordering::Relaxed)
    }

    /// Nodes from `node` on must not start.
    pub(crate) fn stop_from(&self, node: u32) {
        self.index
            .fetch_min(node, crate::engine::sync::Ordering::Relaxed);
        self.stopped();
    }

    /// No node may start.
    pub(crate) fn stop_all(&self) {
        self.index.store(0, crate::engine::sync::Ordering::Relaxed);
        self.stopped();
    }

    /// Makes what the followers of this chain keep stale: they look again. After the
    /// index is lowered, so that a follower that reads the new epoch reads it too.
    fn stopped(&self) {
        // SAFETY: the top of the chain outlives this run (see `Follows::root`).
        unsafe { &*self.root() }
            .epoch
            .fetch_add(1, Ordering::Release);
    }

    /// Whether the run has a caller's condition (following its task included).
    #[inline]
    pub(crate) fn has_condition(&self) -> bool {
        !self.when.is_null()
    }

    /// Whether the caller's condition says stop: for a follower, whether a run above
    /// stopped at or before the task it runs in, or else the condition of the chain's
    /// top, asked by `ask` (as that run's caller task).
    #[inline]
    pub(crate) fn caller_says_stop(&self, ask: impl FnOnce(&Outer, &StopWhen) -> bool) -> bool {
        let top = match &self.follows {
            None => self,
            Some(follows) => {
                if follows.above_stopped() {
                    return true;
                }
                // SAFETY: the top of the chain outlives this run.
                unsafe { &*follows.root }
            }
        };
        // SAFETY: `when` is in the top run's options, which outlive it (and this run).
        match unsafe { top.when.as_ref() } {
            None => false,
            Some(when) => ask(&top.outer, when),
        }
    }
}

impl Follows {
    /// Whether a run above stopped at or before the task this run was started in:
    /// what was found last, while no run of the chain has stopped since.
    #[inline]
    fn above_stopped(&self) -> bool {
        let known = self.known.load(Ordering::Acquire);
        if known == YES {
            return true;
        }
        // SAFETY: the top of the chain outlives this run.
        let epoch = unsafe { &*self.root }.epoch.load(Ordering::Acquire);
        if known == epoch + 1 {
            return false;
        }
        self.look_up(epoch)
    }

    /// [`above_stopped`](Self::above_stopped) found again, as of `epoch`: up the chain
    /// to the first run whose answer is known for this epoch (or the top), then what
    /// it found kept in every run it went through, so that each is looked at once per
    /// stop in the chain, not once per question. Iterative: no stack per level.
    #[cold]
    #[inline(never)]
    fn look_up(&self, epoch: u64) -> bool {
        // Up: link `step` is that of the run `step` levels above this one, to its
        // caller; `highest` the highest link that stopped.
        let mut level = self;
        let mut steps = 0usize;
        let mut highest = None;
        let above_known = loop {
            LOOKS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: each caller's run outlives the runs nested in its task.
            let caller = unsafe { &*level.caller };
            if caller.stopped_at(level.task) {
                highest = Some(steps);
            }
            steps += 1;
            let Some(up) = &caller.follows else {
                break false;
            };
            let known = up.known.load(Ordering::Acquire);
            if known == YES {
                break true;
            }
            if known == epoch + 1 {
                break false;
            }
            level = up;
        };
        // Down the same runs: one has stopped above if a link at or above its own did.
        let mut level = self;
        for step in 0..steps {
            let stopped = above_known || highest.is_some_and(|highest| step <= highest);
            let found = if stopped { YES } else { epoch + 1 };
            // "Yes" wins over any "no", then the latest epoch: a "no" found on stale
            // reads never hides a "yes" found before it.
            level.known.fetch_max(found, Ordering::AcqRel);
            if step + 1 < steps {
                // SAFETY: as above.
                let caller = unsafe { &*level.caller };
                level = caller.follows.as_ref().expect("a run that follows");
            }
        }
        above_known || highest.is_some()
    }
}

/// The graph task a run was started in (none for a run started outside one), kept by
/// the run: its caller's stop condition is the caller's code, so it asks `cancelled()`
/// as that task, whichever thread calls it, and never as a task of the run itself
/// (which would ask the condition again, without end, for
/// `stop_when(taskweave::cancelled)`).
#[derive(Clone, Copy)]
pub(crate) struct Outer {
    /// The stop of the task's run (null: no graph task).
    run: *const RunStop,
    task: u32,
    /// Whom that task works for: a futures task's condition `taskweave::cancelled`
    /// reads its cancellation through it, on whichever thread.
    owner: Option<crate::engine::owner::OwnerRef>,
    /// The lease of a run that may outlive its caller's wait (see [`Lent`]); null for a
    /// run whose caller waits for its end.
    lent: *const Lent,
}

// SAFETY: an `Outer` is only read, on whichever thread asks a run's condition: its
// pointers are to a run's stop index (an atomic), its stop condition (`Send + Sync`),
// its own `Outer` (shared the same way), a `Lent` (atomics) and the handle its owner
// lent (read through the owner's own functions, made for any thread), all alive while
// the task it names is, or while its lease lets it be asked (see `Outer::ask`).
unsafe impl Send for Outer {}
// SAFETY: as for `Send`.
unsafe impl Sync for Outer {}

impl Outer {
    /// The graph task running on this thread now, if any.
    #[inline]
    pub(crate) fn here() -> Outer {
        Outer {
            run: RUN.with(std::cell::Cell::get),
            task: TASK.with(std::cell::Cell::get),
            owner: crate::engine::owner::current_ref(),
            lent: std::ptr::null(),
        }
    }

    /// No graph task: what a run started outside one keeps, on whichever thread it
    /// then starts.
    pub(crate) const NONE: Outer = Outer {
        run: std::ptr::null(),
        task: 0,
        owner: None,
        lent: std::ptr::null(),
    };

    /// Asks `when` (a run's stop condition) as its caller, from within the task the run
    /// was started in; this thread's own task again after it, even if `when` panics.
    /// True (stop) without asking once a lent caller has stopped waiting: the run has
    /// failed then, and its caller's task may have ended.
    ///
    /// The task it names is alive: a run keeps the task it was started in, which waits
    /// for the run to end, or, for a run that may outlive the wait, lends it under a
    /// lease its caller takes back before it returns (see [`Lent`]).
    pub(crate) fn ask(&self, when: &StopWhen) -> bool {
        struct Back<'l>(Outer, Option<&'l Lent>);
        impl Drop for Back<'_> {
            fn drop(&mut self) {
                self.0.set();
                if let Some(lent) = self.1 {
                    lent.asking.fetch_sub(1, Ordering::Release);
                }
            }
        }
        // SAFETY: a lease outlives every run's use of its `Outer` (`Lent`'s holder, the
        // run's options, is dropped after the run ends).
        let lent = unsafe { self.lent.as_ref() };
        if let Some(lent) = lent {
            if lent.asking.fetch_add(1, Ordering::Acquire) & Lent::GONE != 0 {
                lent.asking.fetch_sub(1, Ordering::Relaxed);
                return true;
            }
        }
        if !self.run.is_null() {
            // A condition asked as a graph task looks at that task's run in turn (a
            // run that follows its task otherwise, see `RunStop`).
            LOOKS.fetch_add(1, Ordering::Relaxed);
        }
        let _back = Back(Outer::here(), lent);
        let _owner = crate::engine::owner::OwnerScope::enter(self.owner);
        self.set();
        // `when` may ask the caller's own run in turn (a condition that calls
        // `taskweave::cancelled` but is not it, which `RunStop` cannot follow without
        // asking), and that one its caller's, up every level of nested runs: each
        // question moves to a new stack segment when this one runs low, as the nested
        // runs themselves do (asked 600 runs deep, it overflowed).
        crate::engine::sync::on_grown_stack(|| when())
    }

    fn set(&self) {
        RUN.with(|run| run.set(self.run));
        TASK.with(|task| task.set(self.task));
    }
}

/// How many times a question whether a run must stop looked at a run above it (see
/// [`levels_looked_through`]).
static LOOKS: AtomicU64 = AtomicU64::new(0);

/// How many times, in this process, a question whether a run must stop (a task's
/// `cancelled()`, or the dispatcher's before each task) looked at a run above it, the
/// one the run's caller task belongs to: a test's probe that the questions of runs
/// nested in one another cost the same at any depth.
#[doc(hidden)]
pub fn levels_looked_through() -> u64 {
    LOOKS.load(Ordering::Relaxed)
}

/// A caller's graph task lent to a run that goes on on other threads and may outlive
/// its caller's wait: a dynamic graph's run entered from outside rayon's pool returns
/// its first failure at once, while tasks beside the failed one still run and may ask
/// the caller's condition (see `dynamic::plan`). The caller takes the lease back
/// before it returns ([`take_back`](Self::take_back)): it waits for the questions in
/// flight, and every later one is answered "stop" without asking.
pub(crate) struct Lent {
    outer: Outer,
    /// Questions in flight, and [`GONE`](Self::GONE) once the caller has taken it back.
    asking: AtomicU32,
}

impl Lent {
    const GONE: u32 = 1 << 31;

    /// The task running on this thread now, lent; `None` outside any graph task or
    /// task of an owner (a futures task).
    pub(crate) fn here() -> Option<Arc<Lent>> {
        let outer = Outer::here();
        (!outer.run.is_null() || outer.owner.is_some()).then(|| {
            Arc::new(Lent {
                outer,
                asking: AtomicU32::new(0),
            })
        })
    }

    /// What the run keeps of its caller (see [`Outer::ask`]).
    pub(crate) fn outer(&self) -> Outer {
        Outer {
            lent: self,
            ..self.outer
        }
    }

    /// Takes the task back: no question starts from now on, and those in flight have
    /// ended when this returns. They are the caller's own condition, asked as it (a
    /// short wait); a run that ended asks none.
    pub(crate) fn take_back(&self) {
        let mut asking = self.asking.fetch_or(Lent::GONE, Ordering::AcqRel) & !Lent::GONE;
        while asking != 0 {
            std::thread::yield_now();
            asking = self.asking.load(Ordering::Acquire) & !Lent::GONE;
        }
    }
}

/// Where a run takes the graph task it was started in from (see [`Outer`]).
#[derive(Clone, Default)]
pub(crate) enum Caller {
    /// The thread it starts on: the caller's own.
    #[default]
    Here,
    /// A caller on another thread, which lent its task (`None`: it ran in none, or the
    /// run asks no condition). A run moved to rayon's pool may start inside some other
    /// task that its worker was running when it took the job, which is not its caller.
    Lent(Option<Arc<Lent>>),
}

impl Caller {
    /// What the run keeps of its caller.
    pub(crate) fn outer(&self) -> Outer {
        match self {
            Caller::Here => Outer::here(),
            Caller::Lent(Some(lent)) => lent.outer(),
            Caller::Lent(None) => Outer::NONE,
        }
    }
}

std::thread_local! {
    /// The stop of the run of the graph task running on this thread (null outside
    /// one), for [`crate::cancelled`].
    static RUN: std::cell::Cell<*const RunStop> = const { std::cell::Cell::new(std::ptr::null()) };
    /// That task's index in its run: apart, so that moving to the next task of the
    /// same run writes one word.
    static TASK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether the graph task running on this thread belongs to a run told to stop: by its
/// caller's condition ([`RunOptions::stop_when`](crate::RunOptions::stop_when)), or because the run failed (a task
/// panicked) or stopped (a `?` met an error) at or before this task, so that its result
/// is no longer wanted.
pub(crate) fn run_stopped() -> bool {
    let run = RUN.with(std::cell::Cell::get);
    if run.is_null() {
        return false;
    }
    let node = TASK.with(std::cell::Cell::get);
    // SAFETY: `RUN` holds a pointer only while a `TaskScope` is alive on this thread,
    // made by the dispatcher from the run's `RunStop`, which outlives every scope of
    // its tasks (a dispatcher leaves its scope before it returns).
    let run = unsafe { &*run };
    run.stopped_at(node) || (run.has_condition() && run.caller_says_stop(ask_in_task))
}

/// The payload a panic of the run's stop condition, asked by a task's `cancelled()`,
/// unwinds the task with: the dispatcher reports it as the condition's panic (as one
/// before a task starts), not as the task's own.
pub(crate) struct StopPanic(pub(crate) Box<dyn std::any::Any + Send>);

/// Asks the run's stop condition for the task running on this thread: a panic of the
/// condition goes on unwinding the task, marked as the condition's ([`StopPanic`]).
/// (Not cold: a long task polls `cancelled()` in its loop, and every
/// `Client::compute` sets a condition.)
fn ask_in_task(outer: &Outer, when: &StopWhen) -> bool {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| outer.ask(when))) {
        Ok(stop) => stop,
        Err(payload) => std::panic::resume_unwind(Box::new(StopPanic(payload))),
    }
}

/// Which graph task runs on this thread now, if any, as [`graph_mark`] reads it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct GraphMark(*const RunStop, u32);

/// The graph task running on this thread now: a futures task compares it with the one
/// at its start, to know whether a graph task runs above it on its thread (one of a
/// run it started, run in order on its thread), which then answers `cancelled()`.
#[inline]
pub(crate) fn graph_mark() -> GraphMark {
    GraphMark(
        RUN.with(std::cell::Cell::get),
        TASK.with(std::cell::Cell::get),
    )
}

/// Whether a graph task is running on this thread (a run started now is nested in it).
#[inline]
pub(crate) fn in_graph_task() -> bool {
    RUN.with(|run| !run.get().is_null())
}

/// Makes one graph task's run visible to [`run_stopped`] on this thread until dropped:
/// the run's stop index, the task's index, and the caller's stop condition if any;
/// and to `get_client`, the client the run belongs to, if any. Nested runs (a task
/// computing a graph) restore the outer task's on drop.
pub(crate) struct TaskScope {
    previous: (*const RunStop, u32),
    _client: crate::engine::owner::OwnerScope,
}

impl TaskScope {
    #[inline]
    pub(crate) fn enter(
        run: &RunStop,
        node: u32,
        client: Option<&crate::engine::owner::Owner>,
    ) -> TaskScope {
        // A run nested in a task answers with its own condition only, on every
        // thread: it follows the task's when asked (`stop_when(taskweave::cancelled)`).
        TaskScope {
            previous: (
                RUN.with(|current| current.replace(run)),
                TASK.with(|task| task.replace(node)),
            ),
            _client: crate::engine::owner::OwnerScope::enter(
                client.map(crate::engine::owner::OwnerRef::erased),
            ),
        }
    }

    /// The same run's task `node` runs on this thread now, in this scope: what a
    /// dispatcher running several tasks one after another sets between them, rather
    /// than leaving and entering a scope for each (four thread-local accesses less).
    #[inline]
    pub(crate) fn move_to(&self, node: u32) {
        TASK.with(|task| task.set(node));
    }
}

impl Drop for TaskScope {
    #[inline]
    fn drop(&mut self) {
        RUN.with(|run| run.set(self.previous.0));
        TASK.with(|task| task.set(self.previous.1));
    }
}
