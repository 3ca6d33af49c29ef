//! # taskweave
//!
//! Dask's `delayed`, done the Rust way: mark ordinary functions `#[delayed]`, write
//! ordinary-looking code inside [`graph!`], and get a typed task graph built at compile
//! time, run in parallel by a rayon-backed engine with no heap allocation per task.
//!
//! ```
//! use taskweave::prelude::*;
//!
//! #[delayed]
//! fn load(i: u32) -> Vec<f64> {
//!     (0..4).map(|k| f64::from(i * 4 + k)).collect()
//! }
//!
//! #[delayed]
//! fn clean(v: Vec<f64>) -> Vec<f64> {
//!     v.into_iter().filter(|x| x % 2.0 == 0.0).collect()
//! }
//!
//! #[delayed]
//! fn total(parts: &[Vec<f64>]) -> f64 {
//!     parts.iter().flatten().sum()
//! }
//!
//! let job = graph!(|n: u32| -> f64 {
//!     let a = clean(load(n));
//!     let b = clean(load(n + 1));
//!     total([a, b]) * 2.0
//! });
//! // The same functions, called directly:
//! let direct = total(&[clean(load(3)), clean(load(4))]) * 2.0;
//! assert_eq!(job.compute(3), direct);
//! assert_eq!(job.info().len(), 6);
//! ```
//!
//! See the README ([`docs::readme`]) for the full list of what may be written inside
//! `graph!`, and [`docs::guide`] for the course.
//!
//! # Cargo features
//!
//! - `progress` (default): progress bars drawn on stderr ([`Progress`]); without it a
//!   `Progress` only counts and no compute draws a bar.
//! - `svg` (default): SVG pictures of graphs ([`GraphInfo::visualize`], `to_svg`);
//!   without it `visualize` returns an [`Unsupported`](std::io::ErrorKind::Unsupported)
//!   error, and [`GraphInfo::to_dot`] remains.
//! - `tracing`: `tracing` spans around every task (`TracingObserver`).
//!
//! `default-features = false` builds the engine alone (rayon and crossbeam-deque).

pub use graph_macros::{delay, delayed, graph};
pub use graph_runtime::{
    as_completed, cancelled, compute, compute_with, delayed, get_client, persist, persist_with,
    prepare, secede, tree_reduce, wait, AsCompleted, AsCompletedTimeout, Client, ClientBuilder,
    ClientError, CycleLink, CycleStep, Delayed, DelayedFn, ErasedFuture, Forget, Future,
    FutureError, FutureEvent, Graph, GraphInfo, Label, NodeInfo, NodeView, Observer, Output,
    OutputPart, Outputs, Persist, Prepared, PureKey, RunOptions, Scheduler, Status, TaskBuilder,
    TaskError, TaskOutcome, TimedWait, ToCompute, WaitMode, Waitable,
};
/// The function of a [`TaskBuilder::fallible`] task, the builder states of
/// [`TaskBuilder`] and [`DelayedFn`] (`Impure`, the default, or `Pure`), and what a
/// [`TaskBuilder::pure`] task's arguments must be; named only when writing a
/// builder's full type, and in compile errors.
pub use graph_runtime::{Fallible, Impure, Pure, PureArgs};
/// What the calls accept: [`delayed()`] a function ([`Signature`]), `delayed(f).call(…)`
/// its arguments ([`IntoArg`]), [`Client::submit`] its argument tuple ([`SubmitArgs`]
/// of [`IntoFutArg`]s) for a [`TaskFn`]. Named in their signatures and in compile
/// errors.
pub use graph_runtime::{IntoArg, IntoFutArg, Signature, SubmitArgs, TaskFn};
/// The builder states of [`DelayedFn`] (with or without `.retries(n)`) and what a retried
/// task needs of its arguments; named only when writing a builder's full type.
pub use graph_runtime::{NoRetries, Retried, RetryArg};

pub use graph_runtime::{
    futures_info, info, visualize, AnyFuture, Direction, DrawOptions, FutureRecord, Inspected,
    NodeOutcome, RunRecord,
};

#[doc(hidden)]
pub use graph_runtime::FutureRef;

#[cfg(feature = "tracing")]
pub use graph_runtime::TracingObserver;
pub use graph_runtime::{
    on_warning, progress, set_warnings, Profiler, Progress, Summary, SummaryRow, TaskRecord,
    AUTOMATIC_DELAY,
};
#[cfg(feature = "dashboard")]
pub use graph_runtime::{performance_report, Dashboard, DashboardBuilder, PerformanceReport};

#[doc(hidden)]
pub use graph_runtime::__private;

/// Remote tasks (feature `hyperqueue`): `#[delayed(remote)]` functions that worker
/// processes of this program run by name, the worker protocol ([`remote::worker_main`])
/// and a local runner of jobs of them, the groundwork of running graphs on a
/// HyperQueue cluster.
#[cfg(feature = "hyperqueue")]
pub use graph_runtime::remote;

/// Traits that exist only to carry compile errors' messages: formatting, iterating or
/// calling a collection's methods on a [`Delayed`] or a [`Future`] whose value does not
/// exist yet is an error that says why and what to write instead (see
/// [`docs::compile_errors`]). Never implemented; you never name them.
pub use graph_runtime::prohibited;

/// Longer documentation.
pub mod docs {
    // The README, so that its Rust blocks are compiled and run as doc tests. Inner
    // docs, so that its `[`Graph`]` link resolves in this module, through the `use`.
    pub mod readme {
        #![doc = include_str!("../README.md")]
        #[allow(unused_imports)]
        use crate::Graph;
    }

    #[doc = include_str!("../docs/compile_errors.md")]
    pub mod compile_errors {}

    #[doc = include_str!("../docs/expansion.md")]
    pub mod expansion {}

    #[doc = include_str!("../docs/debugging.md")]
    pub mod debugging {}

    #[doc = include_str!("../docs/guide.md")]
    pub mod guide {}
}

/// Everything a user names: `use taskweave::prelude::*;`.
pub mod prelude {
    pub use crate::{
        as_completed, delay, delayed, graph, tree_reduce, wait, Client, Delayed, Future,
        FutureError, Graph, GraphInfo, Scheduler, Status, TaskError, WaitMode,
    };
}
