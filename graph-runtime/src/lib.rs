//! The taskweave engine: node tables, the zero-allocation dispatcher, result slots,
//! task errors and graph inspection.
//!
//! Users reach it through the `taskweave` crate; the macros reach it only through
//! [`__private`].
//!
//! Cargo features: `progress` (default; progress bars drawn with indicatif, otherwise
//! a [`Progress`] only counts), `svg` (default; `GraphInfo::to_svg` and SVG from
//! [`GraphInfo::visualize`] with layout-rs, otherwise `visualize` returns an
//! `Unsupported` error for an SVG path, and still writes a `.dot` one), `tracing` (`TracingObserver`: spans around each task).
//! Without the default features the engine depends on rayon and crossbeam-deque
//! alone.

// The `Send`/`Sync` promises, as `compile_fail` doc tests (compiled by rustdoc only).
#[cfg(doctest)]
mod compile_fail;
mod dynamic;
mod engine;
mod futures;
mod graph;
mod inspect;
mod observers;
pub mod prohibited;
#[cfg(feature = "hyperqueue")]
pub mod remote;

pub use dynamic::{
    compute, compute_with, delayed, info, persist, persist_with, prepare, tree_reduce, visualize,
    Arena, Arg, ByBits, ByHash, ByNode, Delayed, DelayedFn, FloatKey, Impure, Inspected, IntoArg,
    LendArg, NoRetries, Output, OutputPart, Outputs, PassArg, Persist, Prepared, Pure, PureKey,
    Retried, RetryArg, Signature, ToCompute,
};
#[doc(hidden)]
pub use dynamic::{OutputRead, Reads};
pub use engine::error::TaskError;
pub use engine::observe::{FutureEvent, Observer, TaskOutcome};
pub use engine::options::{RunOptions, Scheduler};
pub use engine::table::{Label, NodeInfo};
pub use engine::warn::{on_warning, set_warnings};
pub use futures::{
    as_completed, cancelled, futures_info, get_client, progress, secede, wait, AnyFuture,
    AsCompleted, AsCompletedTimeout, Client, ClientBuilder, ClientError, CycleLink, CycleStep,
    Dependencies, ErasedFuture, Fallible, Forget, FutArg, Future, FutureError, FutureRef,
    IntoFutArg, KeptArgs, PureArgs, Status, SubmitArgs, TaskBuilder, TaskFn, TimedWait, WaitMode,
    Waitable,
};
pub use graph::Graph;
pub use inspect::{
    Direction, DrawOptions, FutureRecord, GraphInfo, NodeOutcome, NodeView, RunRecord,
};
#[cfg(feature = "dashboard")]
pub use observers::dashboard::{Dashboard, DashboardBuilder};
pub use observers::profile::{Profiler, Summary, SummaryRow, TaskRecord};
pub use observers::progress::{Progress, AUTOMATIC_DELAY};
#[cfg(feature = "dashboard")]
pub use observers::report::{performance_report, PerformanceReport};
#[cfg(feature = "tracing")]
pub use observers::trace::TracingObserver;

/// Entry points of the loom models (`graph-runtime/tests/loom.rs`), only under
/// `cfg(loom)`: the dispatcher with loom's counters, a future's state, a dynamic
/// node's handles and the count of the block its memory is carved from.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::dynamic::block_model::BlockCount;
    pub use crate::dynamic::loom_model::NodeHandle;
    pub use crate::engine::dispatch::dispatch_loom as dispatch;
    pub use crate::engine::sync::loom_model::JobClaim;
    pub use crate::futures::state::loom_model::{DependentState, FutureState};
}

/// What the generated code calls. Not a public API: it changes without notice.
///
/// The macros reach it as `__private::v0_1_0` (for 0.1.0): this module again, under a
/// name `build.rs` makes of this crate's version, as graph-macros does of its own. The
/// facade pins both crates with `=`; should a build still pair macros and a runtime of
/// different versions, every expansion fails to resolve that one name ("cannot find
/// `v0_1_0` in `__private`") rather than at whichever item changed between them.
#[doc(hidden)]
pub mod __private {
    include!(concat!(env!("OUT_DIR"), "/version_module.rs"));

    pub use crate::dynamic::args::attempts;
    pub use crate::engine::dispatch::{Flow, RunEnd};
    pub use crate::engine::observe::levels_looked_through;

    /// `graph!`'s dispatcher (the engine's, `engine::dispatch`): a failure is kept for
    /// `Graph`'s run, which returns it, and the generated code gets a stand-in that
    /// owns nothing (see `engine::error::kept_for_teardown`).
    #[inline(always)]
    pub fn dispatch<F: Fn(u32) -> Flow + Sync>(
        table: &crate::engine::table::Table<'_>,
        pending: &[core::sync::atomic::AtomicU32],
        run: &F,
        options: &crate::RunOptions,
    ) -> Result<(), crate::TaskError> {
        let ran = crate::engine::dispatch::dispatch(table, pending, run, options);
        crate::engine::error::kept_for_teardown(core::ptr::from_ref(table).addr(), ran)
    }

    /// `graph!`'s dispatcher of a graph with early exits (`?`), as [`dispatch`]; the
    /// end of a run that a `?` stopped is told to its observers by [`early_exit`],
    /// through the [`RunEnd`] returned.
    #[inline(always)]
    pub fn dispatch_exits<'t, F: Fn(u32) -> Flow + Sync>(
        table: &'t crate::engine::table::Table<'t>,
        pending: &[core::sync::atomic::AtomicU32],
        run: &F,
        options: &crate::RunOptions,
    ) -> Result<RunEnd<'t>, crate::TaskError> {
        let ran = crate::engine::dispatch::dispatch_exits(table, pending, run, options);
        crate::engine::error::kept_for_teardown(core::ptr::from_ref(table).addr(), ran)
    }
    /// `graph!`'s return of an early exit (a `?` of a node that met an error, with the
    /// node): the values the run left unread (node values, `made`, and values made
    /// before the run for the tasks that did not run, `given`) are dropped first, a
    /// panic of one's `Drop` the run's failure, naming the node that made it, or was
    /// to take it (unless the node came after the `?`); then the run's observers are
    /// told its end (see `engine::error::early_exit`).
    #[cold]
    pub fn early_exit<R>(
        table: &crate::engine::table::Table<'_>,
        exit: (u32, R),
        made: &mut [(u32, &mut dyn Unread)],
        given: &mut [(u32, &mut dyn Unread)],
        end: RunEnd<'_>,
    ) -> Result<R, crate::TaskError> {
        crate::engine::error::early_exit(table, exit, made, given, end)
    }
    pub use crate::engine::error::TaskError;
    pub use crate::engine::options::{RunOptions, Scheduler};
    pub use crate::engine::slot::{
        give, give_again, lend, own_captured, Again, CapturedByValue, Const, EarlyExit, Give,
        Holds, Lend, MadeBy, OwnCaptured, Owned, Ref, Shared, SharedSlot, Slot, Unread, Value,
    };
    pub use crate::engine::sync::{in_room_of, with_room};
    pub use crate::engine::table::{Label, NodeInfo, Table};
    pub use crate::engine::tree::Tree;

    /// `graph!`'s run of a tree-shaped graph (the engine's, `engine::tree`): a failure
    /// is kept for `Graph`'s run, as [`dispatch`]'s is, so that a `Drop` panic of a
    /// value made before the run (an input given to a task that never ran) gives way
    /// to it.
    #[inline(always)]
    pub fn run_tree<R: Send>(
        table: &crate::engine::table::Table<'_>,
        options: &crate::RunOptions,
        body: impl FnOnce(&Tree<'_, '_>) -> Option<R> + Send,
    ) -> Result<R, crate::TaskError> {
        let ran = crate::engine::tree::run_tree(table, options, body);
        crate::engine::error::kept_for_teardown(core::ptr::from_ref(table).addr(), ran)
    }
    pub use crate::graph::Graph;
    pub use crate::prohibited::{
        read_as_bound, BoundByGraph, CapturedMutation, GraphCheck, NodeMutation, NotAGraph,
        NotAStdMutation,
    };
    pub use core::ops::ControlFlow;
    pub use core::sync::atomic::AtomicU32;

    /// What `delay!` expands to.
    pub mod dynamic {
        pub use crate::dynamic::args::{
            hold1, hold10, hold11, hold12, hold2, hold3, hold4, hold5, hold6, hold7, hold8, hold9,
            value_size, ArgShape, Describe, Held, ShapeOfConst, ShapeOfNode, ShapeOfOther,
            SurplusArgs, ViaConst, ViaMany, ViaNested, ViaNode, Wrap,
        };
        pub use crate::dynamic::{
            delayed, fn_identity, item_identity, pure_arg_key, pure_key, task, task_with, Arg, Env,
            Parents, PureKey, RemoteSpec,
        };
        pub use crate::prohibited::FormatAfterCompute;
    }

    /// `T` itself, behind a projection: the result type of a `#[delayed]` function's
    /// `__call`, whose attempt is an `&mut dyn FnMut`. Through a plain `R`, the type a
    /// `let` declares would become the attempt's expected return type, and a mismatch
    /// would be reported inside it rather than on the call, against the `let`'s type.
    pub trait Itself {
        /// `Self`.
        type Out;
    }

    impl<T> Itself for T {
        type Out = T;
    }

    /// The check that a `#[delayed]` function's result is `Send`, named after the task
    /// (`Task` is its companion type, printed as the function's name). Here rather than
    /// in the task's expansion: a `#[diagnostic]` attribute there does not resolve in a
    /// `#![no_implicit_prelude]` module (rustc finds no `diagnostic` namespace there).
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be sent between threads, so it cannot be the result of the task `{Task}`",
        label = "a task's result is handed to the tasks that read it, on other threads",
        note = "use `Arc` rather than `Rc`, and `Mutex` or atomics rather than `RefCell` or `Cell`"
    )]
    pub trait TaskResult<Task> {}

    impl<T: ?Sized + Send, Task> TaskResult<Task> for T {}

    /// Checks, on the type's own tokens, that a task's result can move between threads:
    /// `T` is the result of the task whose companion type is `Task`.
    #[inline(always)]
    pub const fn require_send<T: ?Sized + TaskResult<Task>, Task>() {}

    /// The result of a graph whose body ends in `value;` while it declares a result
    /// `T`: the body's `()`, as a `T` where `T` is `()` (written through an alias, say),
    /// and else one error, on the `;`. The macro cannot see through an alias; this
    /// check is rustc's, so a body that returns what it declares is never refused.
    #[diagnostic::on_unimplemented(
        message = "the graph's body ends in `;`, so it returns `()`, not the `{Self}` its `->` declares",
        label = "remove this `;` to return the value of the expression before it"
    )]
    pub trait UnitResult {
        /// `()`, as this type.
        fn unit() -> Self;
    }

    impl UnitResult for () {
        #[inline(always)]
        fn unit() -> Self {}
    }

    /// The value of a graph's body that ends in `;` (see [`UnitResult`]), checked on
    /// the `;`'s tokens.
    #[inline(always)]
    pub fn ends_in_semicolon<T: UnitResult>() -> T {
        T::unit()
    }

    /// One pending counter per node, for `dispatch`.
    #[inline(always)]
    pub fn pending<const N: usize>() -> [AtomicU32; N] {
        [const { AtomicU32::new(0) }; N]
    }

    /// `?` on a node: splits a `Result` or an `Option` into its value `O` or its
    /// residual `R` (what `?` returns early with, before conversion). Generic parameters
    /// rather than associated types, so that `?` on a value that is neither is one error,
    /// on the `?`, and no projection left unresolved elsewhere in the graph.
    #[diagnostic::on_unimplemented(
        message = "`?` needs a `Result` or an `Option`, but this node's value is `{Self}`",
        label = "`{Self}` is not a `Result` or an `Option`",
        note = "remove the `?`, or make the task return `Result<{Self}, E>` or `Option<{Self}>`"
    )]
    pub trait Branch<O, R> {
        /// Splits the value.
        fn branch(self) -> ControlFlow<R, O>;
    }

    impl<T, E> Branch<T, Result<core::convert::Infallible, E>> for Result<T, E> {
        #[inline(always)]
        fn branch(self) -> ControlFlow<Result<core::convert::Infallible, E>, T> {
            match self {
                Ok(v) => ControlFlow::Continue(v),
                Err(e) => ControlFlow::Break(Err(e)),
            }
        }
    }

    impl<T> Branch<T, Option<core::convert::Infallible>> for Option<T> {
        #[inline(always)]
        fn branch(self) -> ControlFlow<Option<core::convert::Infallible>, T> {
            match self {
                Some(v) => ControlFlow::Continue(v),
                None => ControlFlow::Break(None),
            }
        }
    }

    /// What `#[delayed(remote)]` expands to: a compile error without the feature.
    pub use crate::__register_remote as register_remote;

    /// What `#[delayed(remote)]` registers with, and what a `graph!` describes its
    /// nodes with for a cluster.
    #[cfg(feature = "hyperqueue")]
    pub mod remote {
        pub use crate::remote::{
            describe, describe_request, encoder, invoke, value_of, witness, Encode, EncodeOther,
            EncodeSerialize, Refusal, Remote, RemoteTask, StaticArg, StaticNodes,
        };
        pub use inventory;
    }

    /// What `graph!` writes for a cluster (the description of its nodes): kept with
    /// the `hyperqueue` feature, dropped without, so that the default build has none of
    /// it.
    pub use crate::__with_hyperqueue as with_hyperqueue;

    /// What `graph!` writes to have rustc check the names it reads as its own (see
    /// [`read_as_bound`]).
    pub use crate::__same_names as same_names;
}

/// Code that never runs, for rustc to check that each name `graph!` reads as one it
/// bound is that name: `(bound, &read)` pairs, the name as bound and a borrow of it as
/// read (made on the read's span, where an error is then reported). The
/// name as bound is bound again to a marker, then read as written: one from another
/// macro's expansion, spelled alike, resolves to something else (hygiene), and the
/// bound of `read_as_bound` says so on it.
#[doc(hidden)]
#[macro_export]
macro_rules! __same_names {
    ($(($bound:ident, $read:expr))*) => {
        #[allow(unused_variables, unreachable_code, clippy::all)]
        if false {
            $({
                let $bound = $crate::__private::BoundByGraph;
                $crate::__private::read_as_bound($read);
            })*
        }
    };
}

/// Its input, with the `hyperqueue` feature (see `__private::with_hyperqueue`).
#[cfg(feature = "hyperqueue")]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_hyperqueue {
    ($($tokens:tt)*) => {
        $($tokens)*
    };
}

/// Nothing, without the `hyperqueue` feature (see `__private::with_hyperqueue`).
#[cfg(not(feature = "hyperqueue"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __with_hyperqueue {
    ($($tokens:tt)*) => {};
}

/// `#[delayed(remote)]` without the `hyperqueue` feature: one error that says so.
#[cfg(not(feature = "hyperqueue"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __register_remote {
    ($vis:vis $name:ident, $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "`#[delayed(remote)]` on `",
            ::core::stringify!($name),
            "` needs taskweave's `hyperqueue` feature, which brings the remote-task \
             registry, serde and postcard: add `features = [\"hyperqueue\"]` to taskweave \
             in Cargo.toml, or drop `remote` to run the task on this machine only"
        ));
        // What `delay!` asks of the function's companion: a local task (one error, no
        // second one at each call).
        impl $name {
            #[doc(hidden)]
            #[inline(always)]
            // `pub`, whatever the function's visibility: reached through the
            // companion, whose own visibility is the function's (and the one
            // privacy error, naming the function, is on the call).
            #[allow(unreachable_pub)]
            pub fn __remote<const __N: usize>(
                _: [$crate::__private::dynamic::ArgShape<'_>; __N],
            ) -> $crate::__private::dynamic::RemoteSpec {
                $crate::__private::dynamic::RemoteSpec::NONE
            }
        }
    };
}
