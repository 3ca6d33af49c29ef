//! The value `graph!` evaluates to ([`Graph`]): its runs, its [`GraphInfo`] and its
//! picture.

use core::fmt;
use core::marker::PhantomData;

use crate::engine::error::TaskError;
use crate::engine::options::RunOptions;
use crate::engine::table::Table;
use crate::inspect::GraphInfo;

/// A static task graph built by `graph!`: its node table and the code that runs it.
///
/// Reusable: every `compute` runs the whole graph again with new inputs, its state on
/// the caller's stack, with no heap allocation by the engine. `Args` is the tuple of
/// the graph's input types; `compute` takes them as ordinary arguments.
#[must_use = "a `Graph` does nothing until computed: call `.compute(…)` with its inputs"]
pub struct Graph<F, Args> {
    table: &'static Table<'static>,
    body: F,
    /// Whether the body runs its nodes as nested joins (an in-forest, see the
    /// runtime's `engine::tree`) rather than through the dispatcher.
    tree: bool,
    _args: PhantomData<fn(Args)>,
}

impl<F, Args> Graph<F, Args> {
    #[doc(hidden)]
    pub const fn __new(table: &'static Table<'static>, body: F) -> Self {
        Graph {
            table,
            body,
            tree: false,
            _args: PhantomData,
        }
    }

    /// A graph whose body runs its nodes as nested joins (`run_tree`).
    #[doc(hidden)]
    pub const fn __new_tree(table: &'static Table<'static>, body: F) -> Self {
        Graph {
            table,
            body,
            tree: true,
            _args: PhantomData,
        }
    }

    /// Whether the graph runs as nested joins (every node's value read once, no `?`)
    /// rather than through the dispatcher: for tests of both paths.
    #[doc(hidden)]
    pub fn __runs_as_tree(&self) -> bool {
        self.tree
    }

    /// The node table: names, call sites, edges, as the dispatcher sees them. An
    /// internal of the engine (read it through [`info`](Self::info)).
    #[doc(hidden)]
    pub fn table(&self) -> &'static Table<'static> {
        self.table
    }

    /// The code that runs the graph (or, asked through its options, describes it).
    #[cfg(feature = "hyperqueue")]
    pub(crate) fn body(&self) -> &F {
        &self.body
    }

    /// The graph's shape for inspection, without running it.
    pub fn info(&self) -> GraphInfo {
        GraphInfo::from(self.table)
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the graph has no node (its result is a constant).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

impl<F, Args> fmt::Debug for Graph<F, Args> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("nodes", &self.table.len())
            .finish()
    }
}

/// `$run` of a graph's large inputs, for an entry point (`compute`, `compute_on`, …):
/// each moved into an `Option` of its own as the entry's first statement, its one copy
/// in the entry's frame, and made one tuple (after `$first`, the run's options, if
/// any) inside the run's stack room (`$room`), where `$run` reads it as `$inputs`.
/// Passed on by value (`compute` to `compute_with`, `try_compute` to `run`) or made a
/// tuple first, a 2 MiB input was copied in each frame on the caller's stack, which
/// overflowed an 8 MiB `main` where plain code holding it runs. `compute` and
/// `compute_with` take this path in an optimised build too (they kept more copies
/// than it does); the others, whose optimised build holds the input no more often
/// (`taken_into_room`), in a debug build only.
macro_rules! large_inputs {
    ($room:ident::<$types:ty>, [$first:expr], ($($arg:ident),*), |$inputs:ident| $run:expr) => {{
        $(let mut $arg = Some($arg);)*
        let mut first = Some($first);
        crate::engine::sync::$room::<$types, _>(|| {
            let first = first.take().expect("run once");
            let mut $inputs = Some((first, $($arg.take().expect("run once"),)*));
            $run
        })
    }};
    ($room:ident::<$types:ty>, [], ($($arg:ident),*), |$inputs:ident| $run:expr) => {{
        $(let mut $arg = Some($arg);)*
        crate::engine::sync::$room::<$types, _>(|| {
            let mut $inputs = Some(($($arg.take().expect("run once"),)*));
            $run
        })
    }};
}

macro_rules! arity {
    ($($arg:ident: $ty:ident),*) => {
        // The inputs are the graph's own arguments: as many as the user's closure has.
        #[allow(clippy::too_many_arguments)]
        impl<F, R, $($ty),*> Graph<F, ($($ty,)*)>
        where
            F: Fn(RunOptions, $($ty),*) -> Result<R, TaskError>,
        {
            /// Runs the graph on rayon's pool and returns its result.
            ///
            /// # Panics
            /// When a task panics, with a message naming the task and its call site.
            #[track_caller]
            pub fn compute(&self $(, $arg: $ty)*) -> R {
                if const { crate::engine::sync::is_large::<($($ty,)*)>() } {
                    return large_inputs!(value_with_room_for_run::<(R, $($ty,)*)>,
                        [RunOptions::new()], ($($arg),*), |inputs| self.run_here(&mut inputs));
                }
                // Each path moves the inputs first (see `Delayed::value`).
                $(#[cfg(debug_assertions)] let $arg = $arg;)*
                self.compute_with(RunOptions::new() $(, $arg)*)
            }

            /// Runs the graph on rayon's pool; a task's panic comes back as a [`TaskError`].
            pub fn try_compute(&self $(, $arg: $ty)*) -> Result<R, TaskError> {
                if const { crate::engine::sync::taken_into_room::<($($ty,)*)>() } {
                    return large_inputs!(with_room_for_run::<(R, $($ty,)*)>,
                        [RunOptions::new()], ($($arg),*), |inputs| self.run_here(&mut inputs));
                }
                $(#[cfg(debug_assertions)] let $arg = $arg;)*
                self.run(RunOptions::new() $(, $arg)*)
            }

            /// Runs the graph with the given scheduler (`Scheduler::Sync`) or options
            /// (an observer: progress, profile).
            ///
            /// # Panics
            /// When a task panics, with a message naming the task and its call site.
            #[track_caller]
            pub fn compute_with(&self, options: impl Into<RunOptions> $(, $arg: $ty)*) -> R {
                if const { crate::engine::sync::is_large::<($($ty,)*)>() } {
                    return large_inputs!(value_with_room_for_run::<(R, $($ty,)*)>,
                        [options.into()], ($($arg),*), |inputs| self.run_here(&mut inputs));
                }
                $(#[cfg(debug_assertions)] let $arg = $arg;)*
                // As `run`, the value read from the run's slot into this return place.
                let mut inputs = Some((options.into(), $($arg,)*));
                crate::engine::sync::value_with_room_for_run::<(R, $($ty,)*), _>(|| {
                    self.run_here(&mut inputs)
                })
            }

            /// Runs the graph with the given scheduler; a task's panic comes back as a
            /// [`TaskError`].
            pub fn try_compute_with(&self, options: impl Into<RunOptions> $(, $arg: $ty)*) -> Result<R, TaskError> {
                if const { crate::engine::sync::taken_into_room::<($($ty,)*)>() } {
                    return large_inputs!(with_room_for_run::<(R, $($ty,)*)>,
                        [options.into()], ($($arg),*), |inputs| self.run_here(&mut inputs));
                }
                $(#[cfg(debug_assertions)] let $arg = $arg;)*
                self.run(options.into() $(, $arg)*)
            }

            /// Runs the graph on `pool` and returns its result. (On a cluster of worker
            /// processes: `compute_on_cluster`, feature `hyperqueue`.) Called inside a
            /// futures task, the run is that task's, as [`compute`](Self::compute)'s is:
            /// its tasks find the client with [`get_client`](crate::get_client), and
            /// their waits for futures are the task's. While every worker of `pool`
            /// waits for a future, no worker would start the run: it starts on the
            /// calling thread instead, offering `pool` half of the work at each fork,
            /// so that a worker free again takes part, as `compute` does then with
            /// rayon's global pool. Called on a worker of another pool, that worker
            /// goes on with its own pool's work while it waits, and runs the graph
            /// itself (on its own pool) if every worker of `pool` waits.
            ///
            /// # Panics
            /// When a task panics, with a message naming the task and its call site.
            #[track_caller]
            pub fn compute_on(&self, pool: &rayon::ThreadPool $(, $arg: $ty)*) -> R
            where
                F: Sync,
                R: Send,
                $($ty: Send,)*
            {
                if const { crate::engine::sync::taken_into_room::<($($ty,)*)>() } {
                    return large_inputs!(value_with_room_for_run::<(R, $($ty,)*)>,
                        [], ($($arg),*), |inputs| self.run_on(pool, &mut inputs));
                }
                $(#[cfg(debug_assertions)] let $arg = $arg;)*
                // As `compute_with`, the value read from the run's slot into this return
                // place.
                let mut inputs = Some(($($arg,)*));
                crate::engine::sync::value_with_room_for_run::<(R, $($ty,)*), _>(|| {
                    self.run_on(pool, &mut inputs)
                })
            }

            /// Runs the graph on `pool`; a task's panic comes back as a [`TaskError`].
            pub fn try_compute_on(&self, pool: &rayon::ThreadPool $(, $arg: $ty)*) -> Result<R, TaskError>
            where
                F: Sync,
                R: Send,
                $($ty: Send,)*
            {
                if const { crate::engine::sync::taken_into_room::<($($ty,)*)>() } {
                    return large_inputs!(with_room_for_run::<(R, $($ty,)*)>,
                        [], ($($arg),*), |inputs| self.run_on(pool, &mut inputs));
                }
                $(#[cfg(debug_assertions)] let $arg = $arg;)*
                let mut inputs = Some(($($arg,)*));
                crate::engine::sync::with_room_for_run::<(R, $($ty,)*), _>(|| {
                    self.run_on(pool, &mut inputs)
                })
            }

            /// The run of `inputs`, which are there, on `pool`, in frames of its own (the
            /// caller gives them stack room, as `run` does). On the pool's thread the run
            /// has a room too, and writes its result from there into this frame: a
            /// result returned through rayon's `install` passed by value through its
            /// frames on both threads, a copy in each (a 2 MiB result overflowed a
            /// pool's 2 MiB thread, where `compute` returns it to an 8 MiB `main`).
            fn run_on(&self, pool: &rayon::ThreadPool, inputs: &mut Option<($($ty,)*)>) -> Result<R, TaskError>
            where
                F: Sync,
                R: Send,
                $($ty: Send,)*
            {
                let mut out = core::mem::MaybeUninit::<Result<R, TaskError>>::uninit();
                let slot = &mut out;
                // The run belongs to the client of the task calling here, taken on this
                // thread: on the pool's, where the run starts, no task runs, and a run
                // inside a futures task lost its client (`get_client` found none) and
                // the task its graph tasks wait as (a wait for that task's own future
                // hung rather than fail).
                let mut options = Some(RunOptions::new().with_current_client());
                // On this thread when every worker of `pool` waits for a future (see
                // `enter_pool_of`): its joins are offered to `pool` as it goes.
                let run = |_: bool| {
                    crate::engine::sync::with_room_for_run::<(R, $($ty,)*), _>(|| {
                        let ($($arg,)*) = inputs.take().expect("run once");
                        let options = options.take().expect("run once");
                        slot.write(self.run_here(&mut Some((options, $($arg,)*))));
                    })
                };
                crate::engine::sync::enter_pool_of(pool, run);
                // SAFETY: `enter_pool_of` returns once the closure has written `out` (a
                // panic unwinds past this line). (Read through a pointer: `assume_init` takes
                // `out` by value, another copy in a debug build.)
                unsafe { out.as_ptr().read() }
            }

            /// Every run: the body (its run, then its slots dropped), a `Drop` panic of
            /// a value the run's failure left unread giving way to that failure (a
            /// tree's node values are dropped inside its run, which sees to that; the
            /// values made before it, inputs given to a task, are not).
            #[inline(always)]
            fn run(&self, options: RunOptions $(, $arg: $ty)*) -> Result<R, TaskError> {
                // Its result and inputs pass through the run's frames by value.
                let mut inputs = Some((options, $($arg,)*));
                crate::engine::sync::with_room_for_run::<(R, $($ty,)*), _>(|| {
                    self.run_here(&mut inputs)
                })
            }

            /// [`run`](Self::run) of `inputs`, which are there, in frames of its own
            /// (see `with_room`).
            fn run_here(&self, inputs: &mut Option<(RunOptions, $($ty,)*)>) -> Result<R, TaskError> {
                let (options, $($arg,)*) = inputs.take().expect("run once");
                let table = core::ptr::from_ref(self.table).addr();
                crate::engine::error::failure_before_teardown(table, || (self.body)(options $(, $arg)*))
            }
        }
    };
}

/// Calls the macro `$each` once per number of a graph's inputs (0 to 8, `graph!`'s
/// most), with the inputs' names and types: the methods of `Graph` that take them.
macro_rules! for_each_arity {
    ($each:ident) => {
        $each!();
        $each!(a: A);
        $each!(a: A, b: B);
        $each!(a: A, b: B, c: C);
        $each!(a: A, b: B, c: C, d: D);
        $each!(a: A, b: B, c: C, d: D, e: E);
        $each!(a: A, b: B, c: C, d: D, e: E, f: G);
        $each!(a: A, b: B, c: C, d: D, e: E, f: G, g: H);
        $each!(a: A, b: B, c: C, d: D, e: E, f: G, g: H, h: I);
    };
}
#[cfg_attr(not(feature = "hyperqueue"), allow(unused_imports))]
pub(crate) use for_each_arity;

for_each_arity!(arity);

impl<F, Args> Graph<F, Args> {
    /// Writes the graph as an SVG picture to `path` (DOT text for a `.dot` path),
    /// without running it: the same as `self.info().visualize(path)` (see
    /// [`GraphInfo::visualize`], which says which formats).
    pub fn visualize(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        self.info().visualize(path)
    }
}
