//! A static graph whose every node's value has one reader, run as nested joins.
//!
//! Such a graph is an in-forest: each node's value goes to one node (or to the graph's
//! result), so `graph!` writes it as ordinary code, a node's inputs computed by the
//! branches of a [`Tree::join`] and handed over by return, with no result slots and no
//! pending counters: what the dispatcher pays three locked operations per node for
//! (a slot's put and claim, a successor's count) is a function's return. Each node
//! still runs inside [`Tree::node`], which does exactly what the dispatcher does
//! around a node ([`Ctx::task`]): the stop condition, `cancelled()`, the observer, the
//! panic caught with the node's name and call site, and no node started after a
//! failure. Only the order differs: the nodes run in the tree's post-order (inputs
//! first, left to right) rather than by index, which is a topological order as well.
//!
//! The macro takes this path only for graphs without `?` (whose first failure in
//! program order must decide the result) and whose joins nest at most a few dozen
//! deep; a chain of single-input nodes is straight-line code, not nesting.

use core::sync::atomic::AtomicU32;

use crate::engine::dispatch::{watched, Ctx, Flow, Stops};
use crate::engine::error::TaskError;
use crate::engine::options::{RunOptions, Scheduler};
use crate::engine::sync;
use crate::engine::table::Table;

/// The dispatcher's `run`, which a tree never calls: its nodes run through
/// [`Tree::node`].
type NoRun = dyn Fn(u32) -> Flow + Sync;

/// A node's value as a tree's node returns it: it never stops the graph.
struct Ran<T>(T);

impl<T> Stops for Ran<T> {
    #[inline(always)]
    fn stops(&self) -> bool {
        false
    }
}

/// One run of a tree-shaped static graph: what its generated code calls for each node
/// and each pair of branches (see [`run_tree`]).
pub struct Tree<'a, 't> {
    ctx: &'a Ctx<'t, Table<'t>, AtomicU32, NoRun>,
    /// Branches run one after the other on this thread: `Scheduler::Sync`, or a graph
    /// with no parallelism.
    sequential: bool,
}

impl Tree<'_, '_> {
    /// Runs node `index`'s `body`, as the dispatcher runs a node: `None` when the run
    /// has already failed or been told to stop (then the body never runs), or when the
    /// body panicked (recorded as the run's failure, naming the node).
    #[inline]
    pub fn node<T>(&self, index: u32, body: impl FnOnce() -> T) -> Option<T> {
        if self.ctx.stopped_at(index) {
            return None;
        }
        self.ctx.task(index, || Ran(body())).map(|Ran(value)| value)
    }

    /// Runs two branches of the graph, in parallel unless the run is sequential; the
    /// left one first on this thread.
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
        if self.sequential {
            let left = left();
            (left, right())
        } else {
            sync::join_noting(self.ctx.observed(), left, right)
        }
    }
}

impl core::fmt::Debug for Tree<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tree")
            .field("sequential", &self.sequential)
            .finish_non_exhaustive()
    }
}

/// Runs a tree-shaped static graph: `body` is the graph's nodes as nested
/// [`Tree::join`]s and [`Tree::node`]s, and gives the values the graph's result reads
/// (`None` when a node did not run). Observers, the stop condition, `on_failure` and
/// the scheduler are those of `options`, as for [`dispatch`](crate::engine::dispatch::dispatch);
/// the first failure is returned as the run's error.
pub fn run_tree<R: Send>(
    table: &Table<'_>,
    options: &RunOptions,
    body: impl FnOnce(&Tree<'_, '_>) -> Option<R> + Send,
) -> Result<R, TaskError> {
    let sequential = options.effective_scheduler() == Scheduler::Sync || table.width() <= 1;
    let no_run: &NoRun = &|_| Flow::Continue;
    let ran = watched(table, &[], no_run, options, |ctx| {
        let tree = Tree { ctx, sequential };
        if sequential || sync::in_pool() {
            body(&tree)
        } else {
            // Entering the pool from outside is rayon's cold path: one round trip.
            sync::join_noting(false, || body(&tree), || ()).0
        }
    })?;
    match ran {
        Some(value) => Ok(value),
        // A node that did not run either failed or saw an earlier failure, which
        // `watched` returned above.
        None => unreachable!("taskweave: a tree's node did not run, and the run has no failure"),
    }
}
