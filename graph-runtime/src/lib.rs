//! The taskweave engine: node tables, the zero-allocation dispatcher, result slots,
//! task errors and graph inspection.
//!
//! Users reach it through the `taskweave` crate; the macros reach it only through
//! [`__private`].

mod dispatch;
mod dynamic;
mod error;
mod futures;
mod graph;
mod info;
mod inspect;
mod observe;
mod profile;
mod progress;
mod slot;
mod sync;
mod table;
#[cfg(feature = "tracing")]
mod trace;

pub use dispatch::{dispatch, Flow, Scheduler};
pub use dynamic::{
    compute, compute_with, delayed, prepare, tree_reduce, Arena, Arg, Delayed, DelayedFn, GiveArg,
    Impure, IntoArg, Outputs, Prepared, Pure, PureArg, Signature,
};
pub use error::TaskError;
pub use futures::{
    as_completed, cancelled, wait, AsCompleted, Client, ClientBuilder, ClientError, Dependencies,
    FutArg, Future, FutureError, IntoFutArg, KeptArgs, Status, SubmitArgs, TaskBuilder, TaskFn,
    WaitMode,
};
pub use graph::Graph;
pub use info::{GraphInfo, NodeOutcome, NodeView};
pub use inspect::{futures_info, AnyFuture, Direction, DrawOptions, FutureRef, RunRecord};
pub use observe::{Observer, RunOptions, TaskOutcome};
pub use profile::{Profiler, Summary, SummaryRow, TaskRecord};
pub use progress::{progress, Progress, AUTOMATIC_DELAY};
pub use table::{NodeInfo, Table};
#[cfg(feature = "tracing")]
pub use trace::TracingObserver;

/// Entry points of the loom models (`graph-runtime/tests/loom.rs`), only under
/// `cfg(loom)`: the dispatcher with loom's counters, and a future's state.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::dispatch::dispatch_loom as dispatch;
    pub use crate::futures::state::loom_model::FutureState;
}

/// What the generated code calls. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::dispatch::{dispatch, Flow, Scheduler};
    pub use crate::error::TaskError;
    pub use crate::graph::Graph;
    pub use crate::observe::RunOptions;
    pub use crate::slot::{
        give, lend, Const, EarlyExit, Give, Lend, Ref, Shared, SharedSlot, Slot, Value,
    };
    pub use crate::table::{NodeInfo, Table};
    pub use core::ops::ControlFlow;
    pub use core::sync::atomic::AtomicU32;

    /// What `delay!` expands to.
    pub mod dynamic {
        pub use crate::dynamic::args::{
            HashKey, HashOpaque, KeyOf, ViaConst, ViaMany, ViaNode, Wrap,
        };
        pub use crate::dynamic::{delayed, pure_key, task, Arg, Env, Parents, PureArg};
    }

    /// One pending counter per node, for `dispatch`.
    #[inline(always)]
    pub fn pending<const N: usize>() -> [AtomicU32; N] {
        [const { AtomicU32::new(0) }; N]
    }

    /// `?` on a node: splits a `Result` or an `Option` into its value or its residual.
    pub trait Branch {
        /// The value `?` continues with.
        type Output;
        /// What `?` returns early with, before conversion.
        type Residual;
        /// Splits the value.
        fn branch(self) -> ControlFlow<Self::Residual, Self::Output>;
    }

    impl<T, E> Branch for Result<T, E> {
        type Output = T;
        type Residual = Result<core::convert::Infallible, E>;
        #[inline(always)]
        fn branch(self) -> ControlFlow<Self::Residual, T> {
            match self {
                Ok(v) => ControlFlow::Continue(v),
                Err(e) => ControlFlow::Break(Err(e)),
            }
        }
    }

    impl<T> Branch for Option<T> {
        type Output = T;
        type Residual = Option<core::convert::Infallible>;
        #[inline(always)]
        fn branch(self) -> ControlFlow<Self::Residual, T> {
            match self {
                Some(v) => ControlFlow::Continue(v),
                None => ControlFlow::Break(None),
            }
        }
    }

    /// Checks, on the type's own tokens, that a task's result can move between threads.
    #[inline(always)]
    pub const fn require_send<T: ?Sized + Send>() {}
}
