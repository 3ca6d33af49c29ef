//! The dispatcher: runs the nodes of a [`Table`] in dependency order, on rayon's pool or
//! on the calling thread, with no heap allocation.
//!
//! Every node has a pending count (its in-degree at the start). A finished node
//! decrements its successors; the one that takes a count to zero owns that successor.
//! Ready nodes form a LIFO list local to one `drive` call, linked through their now
//! unused pending counters, so no buffer is needed. When a list holds two or more
//! nodes, it is shared: workers take its nodes one at a time, and before one runs the
//! node it took, the rest is offered to other workers with `rayon::join` (stack jobs,
//! never a `Box`; one join per worker taking part, not one per node); a single ready
//! successor is simply run next in the loop, so a chain of any
//! length runs in constant stack. Every nested call (a join, or a wide successor list
//! split in halves) counts one level of depth; past `MAX_DEPTH` levels nothing nests:
//! lists of any length, wide successor lists included, are released and run in the
//! loop. So the stack a run uses is bounded by `MAX_DEPTH` levels whatever the graph's
//! shape: deep, branching graphs such as wavefronts, and combs whose every spine node
//! has many readers. A join on a stack running short (a rayon pool of the user's with
//! small stacks) goes on a new segment (`sync::join_noting`).

use core::sync::atomic::AtomicU32;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::engine::error::{GraphHook, TaskError};
use crate::engine::lock::Recover;
use crate::engine::observe::{Observer, RunStop, TaskOutcome, TaskScope};
use crate::engine::options::{RunOptions, Scheduler};
use crate::engine::sync::{self, Counter, Mutex, Ordering};
use crate::engine::table::{Compact, Edges, NodeInfo, Table};

/// How a node's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The node stored its result: release its successors.
    Continue,
    /// The node stopped the graph (a `?` met an error): start no node after it in
    /// index order (program order); the ones before it still run, so that of several
    /// failing `?` the first in program order decides the result, as in sequential code.
    Stop,
}

/// The end of a list in the pending-counter links.
const NONE: u32 = u32::MAX;
/// Successor lists longer than this are released in parallel halves.
const WIDE: usize = 16;
/// Nested joins beyond this run their lists in the loop instead.
const MAX_DEPTH: u32 = 128;

/// Runs every node of `table` once its predecessors have run, calling `run(node)`,
/// with the scheduler and observer of `options`.
///
/// `pending` is scratch space of one counter per node (it may be reused between
/// runs). Stops starting new nodes at the first panic; nodes already running finish.
/// A [`Flow::Stop`] from node `i` stops only the nodes after `i`. Returns the first
/// panic as a [`TaskError`] naming the node.
///
/// # Panics
/// If `pending` does not have one counter per node.
#[inline(always)]
pub(crate) fn dispatch<F>(
    table: &Table<'_>,
    pending: &[AtomicU32],
    run: &F,
    options: &RunOptions,
) -> Result<(), TaskError>
where
    F: Fn(u32) -> Flow + Sync,
{
    dispatch_dyn(table, pending, run, options, Failures::StopAll, None)
}

/// [`dispatch`] of a graph with early exits (a `?` in `graph!`): a panic stops only the
/// nodes after it in index order (program order), as a [`Flow::Stop`] does, so that
/// the nodes before it still run and a `?` among them decides the result, as in
/// sequential code, which returns that error before it reaches the panic. The panic
/// of the lowest index is the run's failure; a stop before it returns `Ok`.
///
/// A run that a `?` stopped is not told ended to its observers here: its early exit
/// still drops the values the run left unread, whose `Drop` may fail it. The
/// [`RunEnd`] returned tells them, with the outcome its caller gets.
///
/// # Panics
/// If `pending` does not have one counter per node.
#[inline(always)]
pub(crate) fn dispatch_exits<'t, F>(
    table: &'t Table<'t>,
    pending: &[AtomicU32],
    run: &F,
    options: &RunOptions,
) -> Result<RunEnd<'t>, TaskError>
where
    F: Fn(u32) -> Flow + Sync,
{
    let mut observer = None;
    let later = TellLater {
        stopped_only: true,
        observer: &mut observer,
    };
    dispatch_dyn(table, pending, run, options, Failures::InOrder, Some(later))?;
    Ok(RunEnd::new(observer, table.nodes()))
}

/// Which end of a run [`watched`] leaves to its caller to tell the run's observers,
/// once what the caller still does after the run has its outcome (see [`RunEnd`]),
/// and where it puts the observer for that.
pub(crate) struct TellLater<'a> {
    /// Only an end that a `?` stopped (a `graph!`'s early exit, which still drops the
    /// values the run left unread); otherwise every end without a failure (a dynamic
    /// graph's, whose caller still reads, and clones, its outputs).
    pub(crate) stopped_only: bool,
    /// Set to the run's observer, if any, when its end is left to the caller.
    pub(crate) observer: &'a mut Option<Arc<dyn Observer>>,
}

/// The dispatcher compiled once, here, rather than once per graph: every `graph!` and
/// dynamic graph shares this code, and only its `run` is its own (an indirect call per
/// node, about a nanosecond; compiling the dispatcher into each graph cost users' builds
/// far more).
#[inline(never)]
fn dispatch_dyn(
    table: &Table<'_>,
    pending: &[AtomicU32],
    run: &(dyn Fn(u32) -> Flow + Sync),
    options: &RunOptions,
    failures: Failures,
    told_later: Option<TellLater<'_>>,
) -> Result<(), TaskError> {
    dispatch_with(table, pending, run, options, failures, told_later)
}

/// What a panic stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failures {
    /// Every node not started yet: the run fails at once (Dask's semantics), its
    /// running tasks told so (`cancelled()`).
    StopAll,
    /// Only the nodes after it in index order, as a [`Flow::Stop`]: a graph with early
    /// exits, whose nodes before the panic may still decide (see [`dispatch_exits`]).
    InOrder,
}

/// [`dispatch`] of a [`Compact`] table (a dynamic graph's), compiled once as well;
/// `told_later` as for [`watched`].
#[inline(never)]
pub(crate) fn dispatch_compact(
    table: &Compact<'_>,
    pending: &[AtomicU32],
    run: &(dyn Fn(u32) -> Flow + Sync),
    options: &RunOptions,
    told_later: Option<TellLater<'_>>,
) -> Result<(), TaskError> {
    dispatch_with(table, pending, run, options, Failures::StopAll, told_later)
}

/// [`dispatch`] with loom's atomics as the pending counters, for the loom models
/// (`graph-runtime/tests/loom.rs`): under `cfg(loom)` every primitive of the
/// dispatcher is loom's, and its joins are loom threads.
///
/// # Panics
/// If `pending` does not have one counter per node.
#[cfg(loom)]
pub fn dispatch_loom<F>(
    table: &Table<'_>,
    pending: &[loom::sync::atomic::AtomicU32],
    run: &F,
    options: &RunOptions,
) -> Result<(), TaskError>
where
    F: Fn(u32) -> Flow + Sync,
{
    dispatch_with(table, pending, run, options, Failures::StopAll, None)
}

/// The dispatcher, over any kind of table and pending counter; `told_later` as for
/// [`watched`].
fn dispatch_with<G, C, F>(
    table: &G,
    pending: &[C],
    run: &F,
    options: &RunOptions,
    failures: Failures,
    told_later: Option<TellLater<'_>>,
) -> Result<(), TaskError>
where
    G: Edges,
    C: Counter,
    F: Fn(u32) -> Flow + Sync + ?Sized,
{
    assert_eq!(
        pending.len(),
        table.len(),
        "taskweave: one pending counter per node"
    );
    watched(table, pending, run, options, failures, told_later, |ctx| {
        if options.effective_scheduler() == Scheduler::Sync || table.sequential() {
            ctx.run_in_order();
        } else {
            table.set_pending(pending);
            // The run's root, a part of it on the stack it starts on (see
            // `owner::in_part_of`).
            let start = || {
                crate::engine::owner::in_part_of(ctx.client.as_ref(), || {
                    ctx.start(table.roots(), 0)
                });
            };
            if sync::in_pool() {
                start();
            } else {
                // Entering the pool from outside: one round trip; or, while every worker
                // waits for a future and none would start it, the run here, its joins
                // offered to the pool for a worker free again (`sync::join_outside`).
                sync::enter_pool(|_| start());
            }
        }
    })
}

/// A run's frame, shared by the dispatcher and [`tree`](crate::engine::tree): tells
/// the observers (the caller's, and a performance report's) that the graph starts,
/// runs `body` with the run's context, then tells them how it ended, and returns
/// `body`'s value or the run's first failure.
///
/// With `told_later`, a run that ended without a failure (and, if it says so, that a
/// `?` stopped) is not told ended here: its observer, if any, is put there for the
/// caller, who tells it once what it does after the run has its outcome (see
/// [`RunEnd`]).
///
/// Every run of a graph (`graph!`, trees, dynamic graphs) comes through here, so here
/// it gets its stack: a run nested in a task of a run nested in a task ... moves to a
/// new stack segment when the stack runs low ([`sync::with_stack`]), and nesting of any
/// depth never overflows.
pub(crate) fn watched<G, C, F, R>(
    table: &G,
    pending: &[C],
    run: &F,
    options: &RunOptions,
    failures: Failures,
    told_later: Option<TellLater<'_>>,
    body: impl FnOnce(&Ctx<'_, G, C, F>) -> R,
) -> Result<R, TaskError>
where
    G: Edges,
    C: Counter,
    F: Fn(u32) -> Flow + Sync + ?Sized,
{
    sync::with_stack(|| watched_here(table, pending, run, options, failures, told_later, body))
}

/// [`watched`], on a stack known to be large enough.
#[inline(always)]
fn watched_here<G, C, F, R>(
    table: &G,
    pending: &[C],
    run: &F,
    options: &RunOptions,
    failures: Failures,
    told_later: Option<TellLater<'_>>,
    body: impl FnOnce(&Ctx<'_, G, C, F>) -> R,
) -> Result<R, TaskError>
where
    G: Edges,
    C: Counter,
    F: Fn(u32) -> Flow + Sync + ?Sized,
{
    crate::engine::error::keep_backtraces();
    // A performance report watches every run: one relaxed load when none is active.
    let ambient = if crate::engine::observe::ambient_active() {
        crate::engine::observe::ambient_run_observer(&table.table(), options.observer.as_ref())
    } else {
        None
    };
    let observer = ambient.as_deref().or(options.observer.as_deref());
    // Observers are told each node's entry: made here, only when someone watches.
    let observed = observer.map(|_| table.table());
    let infos = observed
        .as_ref()
        .map_or(&[][..], |observed| observed.nodes());
    // From here on, the observer hears of the run's end even if it unwinds.
    let mut end = EndOnUnwind { observer, infos };
    if let Some(observer) = observer {
        crate::engine::observe::note_break();
        let told = panic::catch_unwind(AssertUnwindSafe(|| observer.graph_started(infos)));
        if let Err(payload) = told {
            // The observer's panic is the run's failure, before any task started; those
            // told the start hear the end.
            end.observer = None;
            let (name, call_site) = output_of(infos);
            let error =
                TaskError::observer_panicked(GraphHook::GraphStarted, name, call_site, payload);
            crate::engine::error::discard_panic(|| observer.graph_finished(Err(&error)));
            return Err(error);
        }
    }
    // A run started inside a client's task, or inside a task of a run of one, belongs
    // to that client: its tasks find it with `get_client`, on whichever thread.
    let client = options
        .client
        .clone()
        .or_else(crate::engine::owner::current_run_owner);
    let ctx = Ctx {
        client,
        table,
        infos,
        pending,
        run,
        observer,
        stop: RunStop::new(
            options.stop.as_ref(),
            options.follows,
            options.caller.outer(),
        ),
        on_failure: options.on_failure.as_deref(),
        first_stop: sync::AtomicU32::new(NONE),
        failures,
        failure: Mutex::new(None),
        value_dropped: Mutex::new(None),
    };
    let value = body(&ctx);
    let first_stop = ctx.first_stop.load(Ordering::Relaxed);
    let mut failure = ctx
        .failure
        .into_inner()
        .recover()
        .and_then(|(node, error)| {
            // A `?` that stopped the run at a node before the failed one decides, as in
            // sequential code, which returns that error before it reaches the panic: the
            // early exit is then the run's result (its caller reads it). A failure of the
            // stopping node itself came after its stop (the observer's `task_finished`
            // panicked), and fails the run as that hook's panic does for any other
            // node, and `graph_finished`'s after a stop (it was lost).
            (first_stop >= node).then_some(error)
        });
    if let Some((maker, error)) = ctx.value_dropped.into_inner().recover() {
        // Sequential code drops the value at the end, or at the `?` that returns early:
        // its panic comes after every task's, and before the return of a `?` after the
        // value's node (see `Ctx::value_dropped`).
        let (_, made_before) = crate::engine::slot::maker_node(maker);
        if failure.is_none() && (made_before || maker < first_stop) {
            failure = Some(error);
        } else {
            crate::engine::error::discard_panic(|| drop(error));
        }
    }
    end.observer = None;
    let stopped = first_stop != NONE;
    let later = told_later.filter(|later| failure.is_none() && (stopped || !later.stopped_only));
    if let Some(later) = later {
        // Told by the caller, once what it does after the run has its outcome.
        *later.observer = ambient.clone().or_else(|| options.observer.clone());
    } else if let Some(observer) = observer {
        failure = tell_end(observer, infos, failure);
    }
    match failure {
        None => Ok(value),
        Some(error) => {
            // What the body returned holds the values made before the run failed (an
            // output whose reader's input panicked on drop): the failure came first,
            // so a panic of their `Drop` is discarded, as for values left unread.
            crate::engine::error::discard_panic(|| drop(value));
            Err(error)
        }
    }
}

/// Tells `observer` that its run ended, in `failure` if any: the run's outcome, which
/// a panic of its `graph_finished` makes a failure if it succeeded (one already kept
/// came first). Returns the outcome.
fn tell_end(
    observer: &dyn Observer,
    infos: &[NodeInfo<'_>],
    mut failure: Option<TaskError>,
) -> Option<TaskError> {
    crate::engine::observe::note_break();
    let result = failure.as_ref().map_or(Ok(()), Err);
    let told = panic::catch_unwind(AssertUnwindSafe(|| observer.graph_finished(result)));
    if let Err(payload) = told {
        // The observer's panic fails a run that succeeded; a failure already kept came
        // first.
        match failure {
            Some(_) => crate::engine::error::drop_payload(payload),
            None => {
                let (name, call_site) = output_of(infos);
                failure = Some(TaskError::observer_panicked(
                    GraphHook::GraphFinished,
                    name,
                    call_site,
                    payload,
                ));
            }
        }
    }
    failure
}

/// The end of a run not yet told to its observers (see `TellLater`): a `graph!` run
/// that a `?` stopped, whose early exit drops the values the run left unread first
/// (see `dispatch_exits`), or a dynamic graph's run, whose caller clones its outputs
/// first; a `Drop` or a `Clone` there that panics fails the run, which the observers
/// must hear as its caller does. Told by `tell`; one dropped untold (a panic before
/// that) tells them the run unwound. Holds nothing for a run told already, or not
/// watched.
#[must_use]
pub struct RunEnd<'t> {
    observer: Option<Arc<dyn Observer>>,
    infos: &'t [NodeInfo<'t>],
}

impl core::fmt::Debug for RunEnd<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RunEnd")
            .field("watched", &self.observer.is_some())
            .finish()
    }
}

impl<'t> RunEnd<'t> {
    /// The end of a run of the nodes `infos` left to tell `observer`, if any.
    pub(crate) fn new(observer: Option<Arc<dyn Observer>>, infos: &'t [NodeInfo<'t>]) -> Self {
        RunEnd { observer, infos }
    }

    /// Tells the observers, if any, that the run ended in `failure` if any, and returns
    /// the run's outcome (see [`tell_end`]).
    pub(crate) fn tell(mut self, failure: Option<TaskError>) -> Option<TaskError> {
        match self.observer.take() {
            Some(observer) => tell_end(&*observer, self.infos, failure),
            None => failure,
        }
    }

    /// [`tell`](Self::tell) of a run whose result is `ran`: a value the observers' panic
    /// fails is dropped (a panic of its `Drop` discarded).
    pub(crate) fn tell_result<V>(self, ran: Result<V, TaskError>) -> Result<V, TaskError> {
        match ran {
            Ok(value) => match self.tell(None) {
                None => Ok(value),
                Some(error) => {
                    crate::engine::error::discard_panic(|| drop(value));
                    Err(error)
                }
            },
            Err(error) => Err(self.tell(Some(error)).expect("a failure stays one")),
        }
    }
}

impl Drop for RunEnd<'_> {
    fn drop(&mut self) {
        if let Some(observer) = self.observer.take() {
            drop(EndOnUnwind {
                observer: Some(&*observer),
                infos: self.infos,
            });
        }
    }
}

/// The name and call site of the run's output, its last node in most graphs, which
/// a failure outside any task names (as `Client::compute`'s error names its output).
fn output_of<'a>(infos: &'a [NodeInfo<'a>]) -> (&'a str, &'a str) {
    infos
        .last()
        .map_or(("run", ""), |info| (info.name(), info.call_site()))
}

/// Tells the run's observer that the run ended, in error, when it unwinds before
/// `graph_finished` (the run's own bookkeeping panicked; an observer's hook that
/// panics fails the run instead of unwinding it): a progress bar, a profile or a
/// report would otherwise wait for an end that never comes. Every task of the run
/// has ended by then (rayon joins both halves of a join before it resumes a panic).
/// A panic of the observer here is dropped: one is unwinding already.
struct EndOnUnwind<'o> {
    observer: Option<&'o dyn Observer>,
    infos: &'o [NodeInfo<'o>],
}

impl Drop for EndOnUnwind<'_> {
    fn drop(&mut self) {
        let Some(observer) = self.observer else {
            return;
        };
        let (name, call_site) = output_of(self.infos);
        let payload = Box::new("the run unwound before it ended (a panic outside its tasks)");
        let error = TaskError::from_panic(name, call_site, payload);
        crate::engine::error::discard_panic(|| observer.graph_finished(Err(&error)));
    }
}

/// A list of ready nodes that several workers take from (see `Ctx::share`), linked
/// through the nodes' pending counters as every ready list is; its links are written
/// before it is shared and never changed while a node is in it.
struct Shared {
    /// The first node not taken yet, `NONE` when all are.
    head: sync::AtomicU32,
}

/// One run's state: what the dispatcher (or a tree) reads and sets around every node.
pub(crate) struct Ctx<'t, G, C, F: ?Sized> {
    /// The client the run belongs to, if any (see `watched`).
    client: Option<crate::engine::owner::Owner>,
    table: &'t G,
    /// Every node's entry when an observer watches the run; empty otherwise.
    infos: &'t [NodeInfo<'t>],
    pending: &'t [C],
    run: &'t F,
    observer: Option<&'t dyn Observer>,
    /// Nodes from which index on must not start (`NONE` while the graph runs, 0 after
    /// a panic, the lowest index that returned [`Flow::Stop`] otherwise), the caller's
    /// stop condition (`RunOptions::stop_when`), if any, and the graph task the run was
    /// started in, if any, where that condition is asked from.
    stop: RunStop,
    /// Told the first failure at once (see `RunOptions::on_failure`).
    on_failure: Option<&'t (dyn Fn(TaskError) + Send + Sync)>,
    /// The lowest index that returned [`Flow::Stop`] (`NONE`: none), kept apart from
    /// `stop`, which a panic sets to 0: the early exit of a node before the panicking
    /// one is what sequential code returns.
    first_stop: sync::AtomicU32,
    /// What a panic stops.
    failures: Failures,
    /// The run's failure and the node it names: the first one, or with
    /// [`Failures::InOrder`] the one of the lowest index.
    failure: Mutex<Option<(u32, TaskError)>>,
    /// With [`Failures::InOrder`], the panic of a value's `Drop` in the task that read
    /// it last (see [`value_dropped`](Self::value_dropped)), named after the node that
    /// made the value, the earliest one when several panicked.
    value_dropped: Mutex<Option<(u32, TaskError)>>,
}

impl<G, C, F> Ctx<'_, G, C, F>
where
    G: Edges,
    C: Counter,
    F: Fn(u32) -> Flow + Sync + ?Sized,
{
    /// Runs one node; false when the graph must stop.
    ///
    /// Running, the task can ask whether its result is still wanted (`cancelled()`,
    /// through its [`TaskScope`]). The scope is `scope`, entered here if it is not yet
    /// and left to the caller, who runs the next node in it: a caller must leave it
    /// (drop it) before anything but this run's bookkeeping runs on its thread, above
    /// all before a join, whose waiting runs other jobs. An observed run leaves it
    /// after each node, so that observers are told of tasks outside any scope. (A
    /// caller's stop condition, asked before each node, needs no such care: it is
    /// asked as the task the run was started in, whatever scope is entered; see
    /// `Outer::ask`.)
    #[inline]
    fn run_node(&self, node: u32, scope: &mut Option<TaskScope>) -> bool {
        if !self.before_task(node) {
            return false;
        }
        match scope {
            Some(scope) => scope.move_to(node),
            None => *scope = Some(self.scope(node)),
        }
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| (self.run)(node))) {
            Ok(Flow::Continue) => TaskOutcome::Finished,
            Ok(Flow::Stop) => {
                self.stop.stop_from(node);
                self.first_stop.fetch_min(node, Ordering::Relaxed);
                TaskOutcome::Stopped
            }
            Err(payload) => {
                self.fail(node, payload);
                TaskOutcome::Failed
            }
        };
        if let Some((maker, payload)) = crate::engine::slot::take_value_drop() {
            self.value_dropped(node, maker, payload);
        }
        if self.observer.is_some() {
            *scope = None;
        }
        self.after_task(node, outcome) && outcome == TaskOutcome::Finished
    }

    /// What comes before a node's body: false when the caller's stop condition says
    /// stop (the node fails as not started); the observer told the node starts. A
    /// panic of either is the run's failure, naming the node (false).
    #[inline]
    pub(crate) fn before_task(&self, node: u32) -> bool {
        if self.told_to_stop(node) {
            return false;
        }
        if let Some(observer) = self.observer {
            let info = &self.infos[node as usize];
            let told = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                observer.task_started(node, info);
            }));
            if let Err(payload) = told {
                // The observer's panic fails the run, as the node's would; those told
                // the start (a tracing span entered) are told the end first, as a
                // failure.
                crate::engine::error::discard_panic(|| {
                    observer.task_finished(node, info, TaskOutcome::Failed);
                });
                self.hook_failed(node, GraphHook::TaskStarted, payload);
                return false;
            }
        }
        true
    }

    /// What comes after a node's body: the observer told how it ended. False when
    /// the observer panicked: the run's failure, naming the node.
    #[inline]
    pub(crate) fn after_task(&self, node: u32, outcome: TaskOutcome) -> bool {
        if let Some(observer) = self.observer {
            let info = &self.infos[node as usize];
            let told = panic::catch_unwind(AssertUnwindSafe(|| {
                observer.task_finished(node, info, outcome);
            }));
            if let Err(payload) = told {
                self.hook_failed(node, GraphHook::TaskFinished, payload);
                return false;
            }
        }
        true
    }

    /// The run's observer panicked in `hook` of `node`: the run fails as if the node
    /// had, with an error that says whose panic it was.
    #[cold]
    fn hook_failed(&self, node: u32, hook: GraphHook, payload: Box<dyn std::any::Any + Send>) {
        let info = &self.infos[node as usize];
        let error =
            TaskError::observer_panicked(hook, &info.task_name(), info.call_site(), payload);
        self.keep(node, error);
    }

    /// Whether the caller's stop condition says stop: then `node` fails as not started,
    /// and no node after it starts. A panic of the condition fails the run the same
    /// way, with an error that says whose panic it was.
    #[inline]
    fn told_to_stop(&self, node: u32) -> bool {
        if !self.stop.has_condition() {
            return false;
        }
        let asked = || self.stop.caller_says_stop(|outer, when| outer.ask(when));
        match panic::catch_unwind(AssertUnwindSafe(asked)) {
            Ok(false) => false,
            Ok(true) => {
                self.stopped(node);
                true
            }
            Err(payload) => {
                self.stop_panicked(node, payload);
                true
            }
        }
    }

    /// The caller's stop condition panicked before `node` started (see
    /// [`told_to_stop`](Self::told_to_stop)).
    #[cold]
    fn stop_panicked(&self, node: u32, payload: Box<dyn std::any::Any + Send>) {
        let table = self.table.table();
        let info = &table.nodes()[node as usize];
        self.keep(
            node,
            TaskError::stop_panicked(&info.task_name(), info.call_site(), payload),
        );
        self.stop.stop_all();
    }

    /// The client the run belongs to, if any: the owner of its parts (see
    /// `owner::in_part_of`).
    #[inline]
    pub(crate) fn client(&self) -> Option<&crate::engine::owner::Owner> {
        self.client.as_ref()
    }

    /// Makes the run's stop visible to `cancelled()` on this thread, for `node`, and
    /// its client to `get_client()`, until the guard is dropped.
    #[inline]
    pub(crate) fn scope(&self, node: u32) -> TaskScope {
        TaskScope::enter(&self.stop, node, self.client.as_ref())
    }

    /// Whether an observer watches the run.
    #[inline]
    pub(crate) fn observed(&self) -> bool {
        self.observer.is_some()
    }

    /// Whether a task of the run has failed (a tree's teardown: see `run_tree`).
    pub(crate) fn failed(&self) -> bool {
        self.failure.lock().recover().is_some()
    }

    /// Whether nodes from `node` on must not start (a failure, or a stop before it).
    #[inline]
    pub(crate) fn stopped_at(&self, node: u32) -> bool {
        self.stop.stopped_at(node)
    }

    /// The run was told to stop before `node` started: it fails, naming `node`, and no
    /// node starts after this (whatever [`Failures`] says).
    #[cold]
    fn stopped(&self, node: u32) {
        crate::engine::error::forget_backtrace();
        let table = self.table.table();
        let info = &table.nodes()[node as usize];
        self.keep(
            node,
            TaskError::not_started(&info.task_name(), info.call_site()),
        );
        self.stop.stop_all();
    }

    /// Records `node`'s panic as the run's failure and stops the run (see
    /// [`Failures`]): the first failure is kept, or with [`Failures::InOrder`] the one
    /// of the lowest index.
    #[cold]
    pub(crate) fn fail(&self, node: u32, payload: Box<dyn std::any::Any + Send>) {
        let table = self.table.table();
        let info = &table.nodes()[node as usize];
        let error = TaskError::from_panic(&info.task_name(), info.call_site(), payload);
        self.keep(node, error);
    }

    /// The `Drop` of a value node `maker` made panicked in `node`, the task that read it
    /// last (caught by its `MadeBy` handle, after the task's own value was made). In a
    /// graph with early exits ([`Failures::InOrder`]), sequential code drops the value
    /// at the end of the body, or at a `?` that returns early: the panic is the run's
    /// failure, named after `maker` whichever task dropped it, unless a task's panic is
    /// (that one unwound first), or a `?` returns early at a node before `maker`
    /// (sequential code never made the value); nothing stops, and the run goes on to
    /// its end, or to a `?`, as sequential code does. Otherwise it is a failure of
    /// `node`'s, as a panic in its code is (and as a dynamic graph's reader's is).
    #[cold]
    pub(crate) fn value_dropped(
        &self,
        node: u32,
        maker: u32,
        payload: Box<dyn std::any::Any + Send>,
    ) {
        let table = self.table.table();
        if self.failures != Failures::InOrder {
            let info = &table.nodes()[node as usize];
            let error = TaskError::from_panic(&info.task_name(), info.call_site(), payload);
            self.keep(node, error);
            return;
        }
        // A value made before the run is named after the task it was given to, and
        // ranked after the nodes' values, as `early_exit` drops them.
        let (named, _) = crate::engine::slot::maker_node(maker);
        let info = &table.nodes()[named as usize];
        let error = TaskError::from_panic(&info.task_name(), info.call_site(), payload);
        let mut kept = self.value_dropped.lock().recover();
        let discarded = match &*kept {
            Some((before, _)) if *before <= maker => Some(error),
            _ => kept.replace((maker, error)).map(|(_, error)| error),
        };
        drop(kept);
        if let Some(error) = discarded {
            crate::engine::error::discard_panic(|| drop(error));
        }
    }

    /// Records `error`, of `node`, as the run's failure and stops the run, as
    /// [`fail`](Self::fail) does.
    #[cold]
    fn keep(&self, node: u32, error: TaskError) {
        let in_order = self.failures == Failures::InOrder;
        let mut first = self.failure.lock().recover();
        let keep = !first
            .as_ref()
            .is_some_and(|&(kept, _)| !in_order || kept < node);
        let tell = match (keep, self.on_failure) {
            (false, _) => None,
            (true, None) => {
                *first = Some((node, error));
                None
            }
            (true, Some(tell)) => {
                // The error itself goes to whoever waits for it now; the run's own
                // result keeps a copy.
                *first = Some((node, error.detached()));
                Some((tell, error))
            }
        };
        // The run stops only once its failure is kept: a task that ends because it saw
        // the stop (a retry loop that gives up, a task polling `cancelled()` that
        // panics) fails after this one, and cannot be reported in its place.
        if in_order {
            self.stop.stop_from(node);
        } else {
            self.stop.stop_all();
        }
        drop(first);
        if let Some((tell, error)) = tell {
            tell(error);
        }
    }

    /// The synchronous scheduler: index order is a topological order.
    fn run_in_order(&self) {
        let mut scope = None;
        for node in 0..self.table.len() as u32 {
            if !self.run_node(node, &mut scope) {
                return;
            }
        }
    }

    #[inline]
    fn link(&self, node: u32) -> u32 {
        self.pending[node as usize].load(Ordering::Relaxed)
    }

    #[inline]
    fn set_link(&self, node: u32, next: u32) {
        self.pending[node as usize].store(next, Ordering::Relaxed);
    }

    /// Starts the roots: splits a long list in halves, then drives each part.
    fn start(&self, roots: &[u32], depth: u32) {
        self.spread(roots, false, depth);
    }

    /// Releases (or, for roots, starts) `nodes`, then drives the ones that became
    /// ready. Long lists are split in halves across workers first, while the depth
    /// allows; past it they are released in the loop.
    fn spread(&self, nodes: &[u32], release: bool, depth: u32) {
        if nodes.len() > WIDE && depth < MAX_DEPTH {
            let (left, right) = nodes.split_at(nodes.len() / 2);
            sync::join_noting(
                self.observer.is_some(),
                depth,
                self.client.as_ref(),
                || self.spread(left, release, depth + 1),
                || self.spread(right, release, depth + 1),
            );
            return;
        }
        let mut head = NONE;
        for &node in nodes {
            if !release || self.pending[node as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                self.set_link(node, head);
                head = node;
            }
        }
        if head != NONE {
            self.drive(head, depth);
        }
    }

    /// Runs the nodes of a shared ready list, claimed one by one, and what each makes
    /// ready, until none is left to claim. The rest of the list is offered to other
    /// workers before the first node claimed here runs, as one job that does the same
    /// when it runs: ready siblings never wait for each other, and a list costs one
    /// join per worker that takes part rather than one per node.
    fn share(&self, list: &Shared, depth: u32) {
        let Some(first) = self.claim(list) else {
            return;
        };
        if depth >= MAX_DEPTH || list.head.load(Ordering::Relaxed) == NONE {
            return self.drive_claimed(first, list, depth);
        }
        sync::join_noting(
            self.observer.is_some(),
            depth,
            self.client.as_ref(),
            || self.drive_claimed(first, list, depth + 1),
            || self.share(list, depth + 1),
        );
    }

    /// Runs `first`, claimed from `list`, then every node still left to claim, each
    /// followed by what it makes ready. A node that makes none ready (a wide graph's
    /// leaf) costs its run and its claim, here, in this loop.
    fn drive_claimed(&self, first: u32, list: &Shared, depth: u32) {
        let mut node = first;
        // Nodes claimed one after another run in one scope while no join comes
        // between them (see `drive_in`).
        let mut scope = None;
        loop {
            if !self.stopped_at(node) && self.run_node(node, &mut scope) {
                match self.release(node, NONE, depth, &mut scope) {
                    Some(NONE) | None => {}
                    Some(ready) => self.drive_in(ready, depth, &mut scope),
                }
            }
            match self.claim(list) {
                Some(next) => node = next,
                None => return,
            }
        }
    }

    /// Takes the next node of a shared list, if any is left. Each node is taken once:
    /// a node leaves the list for good (it is never linked into it again), so a head
    /// that is still the one read has the successor read with it.
    fn claim(&self, list: &Shared) -> Option<u32> {
        let mut head = list.head.load(Ordering::Acquire);
        while head != NONE {
            let next = self.link(head);
            match list
                .head
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(head),
                Err(now) => head = now,
            }
        }
        None
    }

    /// Runs the ready list starting at `head`, and everything that becomes ready
    /// from it. Whenever the list holds two or more nodes, all but the first are
    /// offered to other workers before anything runs, so ready nodes never wait for a
    /// sibling to finish.
    fn drive(&self, head: u32, depth: u32) {
        self.drive_in(head, depth, &mut None);
    }

    /// [`drive`](Self::drive) in `scope`, the task scope its caller's last node ran in
    /// (if still entered): the nodes run in it one after another, and it is left
    /// before every join (see `run_node`). Left entered when the list ends without a
    /// join, for the caller's next node.
    fn drive_in(&self, mut head: u32, depth: u32, scope: &mut Option<TaskScope>) {
        while head != NONE {
            let rest = self.link(head);
            if self.stopped_at(head) {
                // Stopped: this node and its successors (all after it) never run; the
                // rest of the list may hold nodes before the stop.
                head = rest;
                continue;
            }
            if rest != NONE && depth < MAX_DEPTH {
                *scope = None;
                if self.link(rest) == NONE {
                    // Two: the second is offered to other workers while the first
                    // runs; one join either way, so no list to share (whose claims
                    // would add compare-and-swaps).
                    self.set_link(head, NONE);
                    sync::join_noting(
                        self.observer.is_some(),
                        depth,
                        self.client.as_ref(),
                        || self.drive(head, depth + 1),
                        || self.drive(rest, depth + 1),
                    );
                    return;
                }
                let list = Shared {
                    head: sync::AtomicU32::new(head),
                };
                self.share(&list, depth);
                return;
            }
            let node = head;
            head = rest;
            if !self.run_node(node, scope) {
                continue;
            }
            match self.release(node, head, depth, scope) {
                Some(ready) => head = ready,
                None => return,
            }
        }
    }

    /// Releases the successors of `node`, which has run: the ones it makes ready go
    /// on the ready list `head`, returned. A wide successor list is released in
    /// parallel halves instead, `head` driven beside it; `None` then: the caller's
    /// list is done.
    #[inline(always)]
    fn release(
        &self,
        node: u32,
        mut head: u32,
        depth: u32,
        scope: &mut Option<TaskScope>,
    ) -> Option<u32> {
        let successors = self.table.successors_of(node);
        if successors.len() > WIDE && depth < MAX_DEPTH {
            *scope = None;
            // One level deeper either way: a `spread` drives what it releases, so
            // calling it at the same depth would nest once per wide node of a chain.
            if head == NONE {
                self.spread(successors, true, depth + 1);
            } else {
                sync::join_noting(
                    self.observer.is_some(),
                    depth,
                    self.client.as_ref(),
                    || self.drive(head, depth + 1),
                    || self.spread(successors, true, depth + 1),
                );
            }
            return None;
        }
        for &s in successors {
            if self.pending[s as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                self.set_link(s, head);
                head = s;
            }
        }
        Some(head)
    }
}
