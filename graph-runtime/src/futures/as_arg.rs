//! Futures as arguments of delayed calls (`delayed(f).call(&future)`, `delay!(f(&future))`):
//! the task waits for the future's result when it runs, as Dask's futures do as
//! arguments of delayed functions. Here rather than in `dynamic/args.rs`, so that the
//! dynamic front end does not know futures (this one knows dynamic graphs).

use std::sync::Arc;

use super::{Future, FutureError};
use crate::dynamic::args::{
    into_arg, pass_and_lend, Arg, IntoArg, LendArg, Lent, LentDeref, Parents, PassArg, RetryArg,
    ViaNode, Wrap,
};
use crate::dynamic::Env;
use crate::engine::error::Returned;
use crate::engine::slot;

/// A future's result: the task waits for it when it runs (Dask's futures as arguments
/// of delayed calls). A failed or cancelled future fails the task with its error.
/// A graph computed on a client (`Client::compute`) starts once its futures have ended
/// (they are its task's dependencies), so that its tasks find them ended rather than
/// wait, each on a thread of its own.
pub struct Awaited<T>(Future<T>);

impl<T: Send + Sync + 'static> Awaited<T> {
    /// The argument reading `future`, which the node built from `parents` keeps (see
    /// `Parents::awaited`).
    fn new(future: Future<T>, parents: &mut Parents) -> Awaited<T> {
        parents
            .awaited
            .push(super::args::awaited_task(future.task().clone()));
        Awaited(future)
    }
}

impl<T: Send + Sync + 'static> Arg for Awaited<T> {
    type Target = T;
    type Source<'a> = Fetched<T>;
    fn source<'a>(&'a self, _env: &Env<'a>, _cursor: &mut usize) -> Fetched<T> {
        match self.0.result_shared() {
            Ok(value) => Fetched::new(value),
            // The task's failure, named after it by the engine; unwound without the
            // panic hook, which would print a place in this file as the panic's. A
            // future that failed this way itself (a chain of computes, each reading
            // the one before) passes on its first failure rather than its own
            // error, which holds the whole chain: a message one link long, where it
            // grew by a link per link (10^4 links: 40 s and megabytes of message).
            Err(error) => {
                let cause = match &error {
                    FutureError::Task(failed) => failed
                        .payload::<ArgumentFailed>()
                        .map_or(error, |inner| inner.cause),
                    _ => error,
                };
                let failed = ArgumentFailed {
                    key: self.0.key(),
                    cause,
                };
                std::panic::resume_unwind(Returned::boxed(failed))
            }
        }
    }
}

/// Why a delayed task failed without running: its future argument `key` has no
/// result, because of `cause` (the first failure of a chain of them). The task's
/// error, as a fallible task's `Err` is (its payload, its `Display` the message).
#[derive(Clone)]
struct ArgumentFailed {
    key: String,
    cause: FutureError,
}

impl std::fmt::Display for ArgumentFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "its argument, future `{}`, has no result: ", self.key)?;
        match &self.cause {
            // Its advice is for a read of an argument, not for a wait in a task's code.
            FutureError::WaitCycle { cycle } => {
                super::error::write_cycle(f, cycle, super::error::CycleAdvice::Argument)
            }
            cause => write!(f, "{cause}"),
        }
    }
}

/// A future's result, shared with the future: lent in place, cloned when a task takes
/// it by value (the future keeps its own).
///
/// The task's reference may be the value's last: a cancel of the future while the
/// task runs releases the future's own (see `Future::cancel`), and the value is then
/// dropped when the task lets go of this, after its call returned. A panic of the
/// value's `Drop` there unwound through the task's result, which was never dropped
/// (a value returned before a later drop unwinds, rust-lang/rust#47949): it is caught
/// instead, as a node value's is when its last reader lets go of it (`slot::MadeBy`),
/// and fails the run as the reading task's error once its result is kept.
///
/// The maker given to `MadeBy` is a stand-in: a dynamic graph's run (the only kind
/// that reads futures as arguments) names such a failure after the task whose code
/// dropped the value, and reads the maker only in a `graph!` with early exits.
pub struct Fetched<T>(slot::MadeBy<slot::Value<Arc<T>>>);

impl<T> Fetched<T> {
    fn new(value: Arc<T>) -> Fetched<T> {
        Fetched(slot::MadeBy::new(slot::Value::new(value), 0))
    }
}

impl<T: Clone> slot::Give for Fetched<T> {
    type Target = T;
    fn give(&mut self) -> T {
        T::clone(slot::Lend::lend(&self.0))
    }
}

impl<T> slot::Lend for Fetched<T> {
    type Target = T;
    fn lend(&self) -> &T {
        slot::Lend::lend(&self.0)
    }
}

pass_and_lend! {
    {T: Clone + Send + Sync + 'static} Awaited<T>;
}

into_arg! {
    {A: Clone + Send + Sync + 'static} A, Future<A> => Awaited<A> = |v, p| Awaited::new(v, p);
    {A: Clone + Send + Sync + 'static} A, &Future<A> => Awaited<A> = |v, p| Awaited::new(v.clone(), p);
    {A: Clone + Send + Sync + 'static} &'static A, Future<A> => Lent<Awaited<A>> = |v, p| Lent(Awaited::new(v, p));
    {A: Clone + Send + Sync + 'static} &'static A, &Future<A> => Lent<Awaited<A>> = |v, p| Lent(Awaited::new(v.clone(), p));
    {A: Clone + Send + Sync + 'static} &'static [A], Future<Vec<A>> => LentDeref<Awaited<Vec<A>>> = |v, p| LentDeref(Awaited::new(v, p));
    {A: Clone + Send + Sync + 'static} &'static [A], &Future<Vec<A>> => LentDeref<Awaited<Vec<A>>> = |v, p| LentDeref(Awaited::new(v.clone(), p));
    {} &'static str, Future<String> => LentDeref<Awaited<String>> = |v, p| LentDeref(Awaited::new(v, p));
    {} &'static str, &Future<String> => LentDeref<Awaited<String>> = |v, p| LentDeref(Awaited::new(v.clone(), p));

}

impl<T: Send + Sync + 'static> ViaNode for &&&Wrap<Future<T>> {
    type Arg = Awaited<T>;
    fn __arg(&self, parents: &mut Parents) -> Awaited<T> {
        Awaited::new(self.take(), parents)
    }
}

impl<T: Send + Sync + 'static> ViaNode for &&&Wrap<&Future<T>> {
    type Arg = Awaited<T>;
    fn __arg(&self, parents: &mut Parents) -> Awaited<T> {
        Awaited::new(self.take().clone(), parents)
    }
}

impl<T> std::fmt::Debug for Awaited<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Awaited")
            .field("future", &self.0)
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Fetched<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched").finish_non_exhaustive()
    }
}
