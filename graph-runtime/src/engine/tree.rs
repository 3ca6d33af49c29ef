//! A static graph whose every node's value has one reader, run as nested joins.
//!
//! Such a graph is an in-forest: each node's value goes to one node (or to the graph's
//! result), so `graph!` writes it as ordinary code, a node's inputs computed by the
//! branches of a [`Tree::join`] and handed over by return, with no result slots and no
//! pending counters: what the dispatcher pays three locked operations per node for
//! (a slot's put and claim, a successor's count) is a function's return. Each node
//! still runs inside [`Tree::node`], which does exactly what the dispatcher does
//! around a node ([`Ctx::before_task`] and [`Ctx::after_task`]): the stop condition, `cancelled()`, the observer, the
//! panic caught with the node's name and call site, and no node started after a
//! failure. Only the order differs: the nodes run in the tree's post-order (inputs
//! first, left to right) rather than by index, which is a topological order as well.
//!
//! The macro takes this path only for graphs without `?` (whose first failure in
//! program order must decide the result) and whose joins nest at most a few dozen
//! deep; a chain of single-input nodes is straight-line code, not nesting.

use core::sync::atomic::AtomicU32;
use std::panic::{self, AssertUnwindSafe};

use crate::engine::dispatch::{watched, Ctx, Failures, Flow};
use crate::engine::error::TaskError;
use crate::engine::observe::TaskOutcome;
use crate::engine::options::{RunOptions, Scheduler};
use crate::engine::slot::Value;
use crate::engine::sync;
use crate::engine::table::Table;

/// The dispatcher's `run`, which a tree never calls: its nodes run through
/// [`Tree::node`].
type NoRun = dyn Fn(u32) -> Flow + Sync;

/// One run of a tree-shaped static graph: what its generated code calls for each node
/// and each pair of branches (see `run_tree`).
pub struct Tree<'a, 't> {
    ctx: &'a Ctx<'t, Table<'t>, AtomicU32, NoRun>,
    /// Branches run one after the other on this thread: `Scheduler::Sync`, or a graph
    /// with no parallelism.
    sequential: bool,
    /// The run was taken back on its caller's thread, outside rayon's pools (every
    /// worker waited for a future): its joins offer their right branch to the pool
    /// (`sync::join_outside`).
    outside: bool,
    /// An observer or a stop condition watches the run's nodes.
    watched: bool,
}

impl Tree<'_, '_> {
    /// Runs node `index`'s `body`, as the dispatcher runs a node, into `value` (the
    /// branch's local for it, `None` until then): left `None` when the run has already
    /// failed or been told to stop (then the body never runs), or when the body
    /// panicked (recorded as the run's failure, naming the node). The value comes as a
    /// [`Value`] handle: one that is never read (its reader did not run) is dropped as
    /// a slot's value is, a panic in its `Drop` caught while another unwinds, so that
    /// two such values never abort the process.
    ///
    /// A node of large values (its result, its inputs, `inputs` bytes that `body`
    /// takes from its branch's locals, and what `body` holds) runs with stack room for
    /// them ([`sync::with_room`]), in frames of its own: a debug build keeps a copy of
    /// them in each frame they pass through. `inputs` is a sum of sizes of types, a
    /// constant in an optimised build. The value is written into the branch's local
    /// from inside the room, not returned: a returned value was a second copy in the
    /// branch's frame, outside the room (a 2 MiB value overflowed a program's `main`
    /// where plain code runs, optimised).
    #[inline]
    pub fn node<T, F: FnOnce() -> T>(
        &self,
        value: &mut Option<Value<T>>,
        index: u32,
        inputs: usize,
        body: F,
    ) {
        if self.ctx.stopped_at(index) || (self.watched && !self.before(index)) {
            return;
        }
        let size = core::mem::size_of::<T>()
            .saturating_add(core::mem::size_of::<F>())
            .saturating_add(inputs);
        // Only references cross into the room (see `with_room`): the body is taken
        // and the value written in its frames.
        let mut body = Some(body);
        let outcome = sync::with_room(size, || self.run_body(index, &mut body, value));
        if self.watched {
            self.after(index, outcome);
        }
    }

    /// [`node`](Self::node)'s run of `body`, which is there, into `value`.
    #[inline]
    fn run_body<T>(
        &self,
        index: u32,
        body: &mut Option<impl FnOnce() -> T>,
        value: &mut Option<Value<T>>,
    ) -> TaskOutcome {
        // The run's scope around the node's own code only, as the dispatcher does:
        // held across a join, it would be that of whatever other work rayon runs on
        // this thread while the join waits (a `par_iter` of someone else's read
        // `cancelled()` true after this run failed).
        let scope = self.ctx.scope(index);
        let ran = panic::catch_unwind(AssertUnwindSafe(|| {
            if let Some(body) = body.take() {
                *value = Some(Value::new(body()));
            }
        }));
        drop(scope);
        let outcome = match ran {
            Ok(()) => TaskOutcome::Finished,
            Err(payload) => {
                self.ctx.fail(index, payload);
                TaskOutcome::Failed
            }
        };
        // A `Drop` of an input that panicked after the node's value was made (see
        // `MadeBy`).
        if let Some((maker, payload)) = crate::engine::slot::take_value_drop() {
            self.ctx.value_dropped(index, maker, payload);
        }
        outcome
    }

    /// Before a node of a watched run: false when the caller's stop condition says
    /// stop; the observer told the node starts. Compiled once, out of every node's
    /// code.
    #[inline(never)]
    fn before(&self, index: u32) -> bool {
        if self.ctx.observed() {
            // Any node may follow a join whose other branch was stolen, or start a
            // stolen branch: the task logs read the clock for its start.
            crate::engine::observe::note_break();
        }
        self.ctx.before_task(index)
    }

    /// After a node of a watched run: the observer told how it ended (its panic
    /// stops the run, and the nodes after this one see it in `stopped_at`).
    #[inline(never)]
    fn after(&self, index: u32, outcome: TaskOutcome) {
        let _ = self.ctx.after_task(index, outcome);
    }

    /// Runs two branches of the graph, in parallel unless the run is sequential; the
    /// left one first on this thread. No task scope is held across it (see
    /// [`node`](Self::node)).
    ///
    /// Rayon's join is a sizeable generic function, compiled again for every join of
    /// every graph: about 15 ms of a debug build per join (a 63-join tree built in
    /// 2.0–2.3 s rather than 1.1–1.2 s). Debug builds therefore call it through
    /// pointers, compiled once (`run_join`); optimised builds call it
    /// directly, which saves ~10 ns a join (a 127-node tree of empty tasks: 2.0 µs of
    /// CPU per compute rather than 2.65). Both run the same code.
    ///
    /// Joins nest (up to `graph!`'s limit, 24 deep), and each level keeps copies of
    /// the values its branches hand back in its frames: about ten in a debug build. So
    /// a join of values from 4 KiB up (both sides together) runs with stack room for
    /// them (`sync::with_join_room`), on a new segment when its thread has not that
    /// much left; a comb of 16 KiB arrays 8 joins deep overflowed a 2 MiB stack, and
    /// one of 64 KiB arrays 3 deep, where plain code runs in a loop. A join of smaller
    /// values pays nothing for it.
    #[inline]
    pub fn join<A, B>(
        &self,
        left: impl FnOnce() -> A + Send,
        right: impl FnOnce() -> B + Send,
    ) -> (A, B)
    where
        A: Send,
        B: Send,
    {
        if const { !sync::needs_join_room::<(A, B)>() } {
            return self.join_here(left, right);
        }
        // Only references cross into the room (see `with_room`).
        let mut branches = Some((left, right));
        sync::with_join_room::<(A, B), _>(|| {
            let (left, right) = branches.take().expect("the room runs its closure once");
            self.join_here(left, right)
        })
    }

    /// [`join`](Self::join), in frames of its own.
    #[inline]
    fn join_here<A, B>(
        &self,
        left: impl FnOnce() -> A + Send,
        right: impl FnOnce() -> B + Send,
    ) -> (A, B)
    where
        A: Send,
        B: Send,
    {
        #[cfg(not(debug_assertions))]
        {
            if self.sequential {
                let left = left();
                (left, right())
            } else if self.outside {
                // The right branch may run on a worker, a part of the run there (see
                // `owner::in_part_of`).
                let owner = self.ctx.client();
                let right = move || crate::engine::owner::in_part_of(owner, right);
                sync::join_outside(false, left, right)
            } else {
                sync::join(self.ctx.client(), left, right)
            }
        }
        #[cfg(debug_assertions)]
        {
            let (mut left, mut right) = (Some(left), Some(right));
            let (mut a, mut b) = (None, None);
            self.run_join(&mut || a = left.take().map(|left| left()), &mut || {
                b = right.take().map(|right| right())
            });
            match (a, b) {
                (Some(a), Some(b)) => (a, b),
                // `run_join` returns once both ran; a panic unwinds through it instead.
                _ => unreachable!("taskweave: both branches of a join ran"),
            }
        }
    }

    /// [`join`](Self::join) through pointers, compiled once (debug builds).
    #[cfg(debug_assertions)]
    #[inline(never)]
    fn run_join(&self, left: &mut (dyn FnMut() + Send), right: &mut (dyn FnMut() + Send)) {
        if self.sequential {
            left();
            right();
        } else if self.outside {
            // The right branch may run on a worker, a part of the run there (see
            // `owner::in_part_of`).
            let owner = self.ctx.client();
            sync::join_outside(false, left, || {
                crate::engine::owner::in_part_of(owner, &mut *right)
            });
        } else {
            sync::join(self.ctx.client(), left, right);
        }
    }
}

impl core::fmt::Debug for Tree<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tree")
            .field("sequential", &self.sequential)
            .field("outside", &self.outside)
            .finish_non_exhaustive()
    }
}

/// Runs a tree-shaped static graph: `body` is the graph's nodes as nested
/// [`Tree::join`]s and [`Tree::node`]s, and gives the values the graph's result reads
/// (`None` when a node did not run). Observers, the stop condition, `on_failure` and
/// the scheduler are those of `options`, as for [`dispatch`](crate::__private::dispatch);
/// the first failure is returned as the run's error.
pub(crate) fn run_tree<R: Send>(
    table: &Table<'_>,
    options: &RunOptions,
    body: impl FnOnce(&Tree<'_, '_>) -> Option<R> + Send,
) -> Result<R, TaskError> {
    let sequential = options.effective_scheduler() == Scheduler::Sync || table.width() <= 1;
    let no_run: &NoRun = &|_| Flow::Continue;
    let ran = watched(
        table,
        &[],
        no_run,
        options,
        Failures::StopAll,
        None,
        |ctx| {
            let watched = ctx.observed() || options.stop.is_some();
            let run = |sequential: bool, outside: bool| {
                let tree = Tree {
                    ctx,
                    sequential,
                    outside,
                    watched,
                };
                // A panic out of the tree after a task failed is a value's `Drop` where the
                // tree gives up on the node that would have read it: the failure, which
                // came first, is the run's result (the panic, printed by the hook, is
                // discarded), as the dispatcher's form does with its slots (see
                // `failure_before_teardown`). Any other is resumed.
                // The tree's root, a part of the run on the stack it starts on.
                let root = || crate::engine::owner::in_part_of(ctx.client(), || body(&tree));
                match panic::catch_unwind(AssertUnwindSafe(root)) {
                    Ok(value) => value,
                    Err(payload) if ctx.failed() => {
                        crate::engine::error::drop_payload(payload);
                        None
                    }
                    Err(payload) => panic::resume_unwind(payload),
                }
            };
            if sequential || sync::in_pool() {
                run(sequential, false)
            } else {
                // Entering the pool from outside: one round trip; or, while every worker
                // waits for a future and none would start it, the tree here, its joins
                // offering their right branch to the pool.
                // The tree's values come back into this frame by reference, from inside
                // stack room for them on the worker (as this thread has it, see
                // `Graph::compute`): returned through rayon's frames, a copy in each,
                // with no room, a tree's 64 KiB result overflowed a 2 MiB worker in a
                // debug build.
                let (mut run, mut out) = (Some(run), None);
                sync::enter_pool(|alone| {
                    sync::with_room_for::<R, _>(|| {
                        if let Some(run) = run.take() {
                            out = run(false, alone);
                        }
                    });
                });
                out
            }
        },
    )?;
    match ran {
        Some(value) => Ok(value),
        // A node that did not run either failed or saw an earlier failure, which
        // `watched` returned above.
        None => unreachable!("taskweave: a tree's node did not run, and the run has no failure"),
    }
}
