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

/// The run whose task is running on this thread, as [`TaskScope`] lends it: its stop
/// index (see the dispatcher's `Ctx::stop`), the caller's stop condition if any, and
/// the task the run was started in. Borrowed, not counted: entering a task copies
/// three words (and the task's index).
#[derive(Clone, Copy)]
struct Running {
    stop: *const crate::engine::sync::AtomicU32,
    when: *const StopWhen,
    outer: *const Outer,
}

impl Running {
    /// Outside any graph task.
    const NONE: Running = Running {
        stop: std::ptr::null(),
        when: std::ptr::null(),
        outer: std::ptr::null(),
    };
}

/// The graph task a run was started in (none for a run started outside one), kept by
/// the run: its caller's stop condition is the caller's code, so it asks `cancelled()`
/// as that task, whichever thread calls it, and never as a task of the run itself
/// (which would ask the condition again, without end, for
/// `stop_when(taskweave::cancelled)`).
#[derive(Clone, Copy)]
pub(crate) struct Outer {
    run: Running,
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
        run: Running::NONE,
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
        let _back = Back(Outer::here(), lent);
        let _owner = crate::engine::owner::OwnerScope::enter(self.owner);
        self.set();
        // `when` may ask the caller's own run in turn (`stop_when(taskweave::cancelled)`,
        // how a nested run follows its task), and that one its caller's, up every level
        // of nested runs: each question moves to a new stack segment when this one runs
        // low, as the nested runs themselves do (asked 600 runs deep, it overflowed).
        crate::engine::sync::on_grown_stack(|| when())
    }

    fn set(&self) {
        RUN.with(|run| run.set(self.run));
        TASK.with(|task| task.set(self.task));
    }
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
        (!outer.run.stop.is_null() || outer.owner.is_some()).then(|| {
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
    /// The run of the graph task running on this thread ([`Running::NONE`] outside
    /// one), for [`crate::cancelled`].
    static RUN: std::cell::Cell<Running> = const { std::cell::Cell::new(Running::NONE) };
    /// That task's index in its run: apart, so that moving to the next task of the
    /// same run writes one word.
    static TASK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether the graph task running on this thread belongs to a run told to stop: by its
/// caller's condition ([`RunOptions::stop_when`](crate::RunOptions::stop_when)), or because the run failed (a task
/// panicked) or stopped (a `?` met an error) at or before this task, so that its result
/// is no longer wanted.
pub(crate) fn run_stopped() -> bool {
    let Running { stop, when, outer } = RUN.with(std::cell::Cell::get);
    if stop.is_null() {
        return false;
    }
    let node = TASK.with(std::cell::Cell::get);
    // SAFETY: `RUN` holds pointers only while a `TaskScope` is alive on this thread,
    // made by the dispatcher from a `&AtomicU32`, a stop condition and an `Outer` of
    // the run, which outlives every scope of its tasks (a dispatcher leaves its scope
    // before it returns).
    let failed = unsafe { &*stop }.load(crate::engine::sync::Ordering::Relaxed) <= node;
    // SAFETY: as above.
    failed || (!when.is_null() && ask_in_task(unsafe { &*outer }, unsafe { &*when }))
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
pub(crate) struct GraphMark(*const crate::engine::sync::AtomicU32, u32);

/// The graph task running on this thread now: a futures task compares it with the one
/// at its start, to know whether a graph task runs above it on its thread (one of a
/// run it started, run in order on its thread), which then answers `cancelled()`.
#[inline]
pub(crate) fn graph_mark() -> GraphMark {
    GraphMark(
        RUN.with(|run| run.get().stop),
        TASK.with(std::cell::Cell::get),
    )
}

/// Whether a graph task is running on this thread (a run started now is nested in it).
#[inline]
pub(crate) fn in_graph_task() -> bool {
    RUN.with(|run| !run.get().stop.is_null())
}

/// Makes one graph task's run visible to [`run_stopped`] on this thread until dropped:
/// the run's stop index, the task's index, and the caller's stop condition if any;
/// and to `get_client`, the client the run belongs to, if any. Nested runs (a task
/// computing a graph) restore the outer task's on drop.
pub(crate) struct TaskScope {
    previous: (Running, u32),
    _client: crate::engine::owner::OwnerScope,
}

impl TaskScope {
    #[inline]
    pub(crate) fn enter(
        run_stop: &crate::engine::sync::AtomicU32,
        node: u32,
        stop: Option<&StopWhen>,
        outer: &Outer,
        client: Option<&crate::engine::owner::Owner>,
    ) -> TaskScope {
        // A run nested in a task answers with its own condition only, on every
        // thread: it follows the task's when asked (`stop_when(taskweave::cancelled)`).
        let running = Running {
            stop: run_stop,
            when: stop.map_or(std::ptr::null(), |stop| stop as *const StopWhen),
            outer,
        };
        TaskScope {
            previous: (
                RUN.with(|run| run.replace(running)),
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
