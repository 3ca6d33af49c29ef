//! Arguments of submitted tasks: plain values, or other futures (dependencies).

use std::hash::Hasher;
use std::sync::Arc;

use super::list::InlineList;
use super::state::HasCore;
use super::{Future, FutureError};
use crate::dynamic::{ByNode, PureKey};

/// A function the client can call with a tuple of arguments: implemented for every
/// `Fn(A, B, …) -> R` (up to six parameters).
pub trait TaskFn<Args>: Send + Sync + 'static {
    /// The task's result.
    type Output: Send + Sync + 'static;
    /// Calls the function.
    fn call(&self, args: Args) -> Self::Output;
    /// Calls the function; `Err` is the task's error, as a panic's payload would be
    /// (a [`Fallible`] function's `Err`, returned without unwinding, so that it is an
    /// error and not an abort under `panic = "abort"`).
    #[doc(hidden)]
    #[inline]
    fn try_call(&self, args: Args) -> Result<Self::Output, Box<dyn std::any::Any + Send>> {
        Ok(self.call(args))
    }
}

/// A task function whose `Err` is the task's error: made by
/// [`TaskBuilder::fallible`](crate::TaskBuilder::fallible) from a function returning
/// `Result<T, E>`, it is a function returning `T`, and a call that returns `Err(e)`
/// ends its task in error as a panic would, with `e` as the error's payload and its
/// `Display` as the message.
#[repr(transparent)]
pub struct Fallible<F>(F);

impl<V, F, T, E> TaskFn<V> for Fallible<F>
where
    F: TaskFn<V, Output = Result<T, E>>,
    T: Send + Sync + 'static,
    E: std::fmt::Display + Send + 'static,
{
    type Output = T;
    /// Called directly rather than by a task (which calls `try_call`): an `Err`
    /// unwinds, carrying the error, as the task's panic would.
    fn call(&self, args: V) -> T {
        self.try_call(args)
            .unwrap_or_else(|returned| std::panic::resume_unwind(returned))
    }
    #[inline]
    fn try_call(&self, args: V) -> Result<T, Box<dyn std::any::Any + Send>> {
        match self.0.call(args) {
            Ok(value) => Ok(value),
            // The task's error, as a panic's payload would be.
            Err(error) => Err(crate::engine::error::Returned::boxed(error)),
        }
    }
}

impl<F> Fallible<F> {
    /// The same function, fallible, in the same allocation.
    pub(super) fn of(f: Arc<F>) -> Arc<Fallible<F>> {
        // SAFETY: `Fallible<F>` is `repr(transparent)` over `F`, so it has the size and
        // alignment of `F`, which is what `Arc::from_raw` requires of a pointer from
        // `Arc::<F>::into_raw`.
        unsafe { Arc::from_raw(Arc::into_raw(f).cast::<Fallible<F>>()) }
    }
}

impl<F> std::fmt::Debug for Fallible<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fallible").finish_non_exhaustive()
    }
}

/// The futures a task waits for, collected from its arguments.
#[derive(Default)]
pub struct Dependencies(pub(crate) InlineList<Arc<dyn HasCore>>);

/// One argument of a submitted task, as the task keeps it.
pub trait FutArg: Send + Sync + 'static {
    /// What the function receives.
    type Value;
    /// The value for one run (retries read it again).
    fn value(&self) -> Self::Value;
    /// The value for the last run: the argument itself, which may then move its value
    /// rather than clone it.
    fn into_value(self) -> Self::Value
    where
        Self: Sized,
    {
        self.value()
    }
    /// The future it waits for, if any.
    fn dependencies(&self, out: &mut Dependencies);
}

/// What a value passed to `submit` becomes: `Future<T>` and `&Future<T>` a dependency
/// (received as a clone of `T`, or shared as `Arc<T>`), `Vec<Future<T>>` several, as
/// do futures in a nested `Vec`, an array or a map (`Vec<Vec<Future<T>>>`, `[Future<T>;
/// N]`, `HashMap<K, Future<T>>`, `BTreeMap<K, Future<T>>`: the task receives their
/// results in the same shape, as Dask's `submit` walks lists and dicts), anything else
/// a constant. Retries need the arguments again, so every attempt but
/// the last clones them; the last moves them, and a future passed by value whose
/// handle was the last moves its value into the task, uncopied.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be passed to a parameter of type `{A}` of a submitted task",
    label = "not an argument for a `{A}` parameter",
    note = "a `T` parameter takes a `T` (`Clone`), a `Future<T>` or a `&Future<T>`; an `Arc<T>` parameter a `Future<T>` or `&Future<T>` (shared, not copied); a `Vec<T>` parameter a `Vec` or slice of `Future<T>`; `Vec<Vec<T>>`, `[T; N]`, `HashMap<K, T>` and `BTreeMap<K, T>` parameters the same collection of `Future<T>`",
    note = "a task runs after `submit` returns, on another thread, so it cannot borrow the caller's locals: pass an owned value (a clone), an `Arc`, or a future (`client.scatter(value)`)"
)]
pub trait IntoFutArg<A> {
    /// The argument kept by the task.
    type Arg: FutArg<Value = A>;
    /// Converts the argument.
    fn into_fut_arg(self) -> Self::Arg;
}

/// A plain value.
pub struct Plain<A>(A);

impl<A: Clone + Send + Sync + 'static> FutArg for Plain<A> {
    type Value = A;
    fn value(&self) -> A {
        self.0.clone()
    }
    fn into_value(self) -> A {
        self.0
    }
    fn dependencies(&self, _out: &mut Dependencies) {}
}

impl<A: Clone + Send + Sync + 'static> IntoFutArg<A> for A {
    type Arg = Plain<A>;
    fn into_fut_arg(self) -> Plain<A> {
        Plain(self)
    }
}

/// Unwinds out of a task that ends cancelled: one whose dependency was cancelled after
/// it finished (and before the task read it), as its dependency did; a
/// `client.compute` whose graph its own cancel stopped. Raised with `resume_unwind`, so
/// no panic message is printed for a cancel.
pub(crate) struct TaskCancelled;

/// A finished dependency's value, shared.
fn finished<T>(future: &Future<T>) -> Arc<T> {
    read(future.state().value.get())
}

/// A finished dependency's value, cloned in place.
fn finished_cloned<T: Clone>(future: &Future<T>) -> T {
    read(future.state().value.get_cloned())
}

/// A finished dependency's value, taken when `future` is its last handle (moved),
/// cloned in place otherwise.
fn finished_into<T: Clone>(future: Future<T>) -> T {
    let value = match future.take_result() {
        Some(taken) => read(taken).into_owned(),
        None => finished_cloned(&future),
    };
    let_go(future, value)
}

/// A finished dependency's value, taken when `future` is its last handle (moved into
/// an `Arc` if it was not shared yet), shared otherwise.
fn finished_into_shared<T>(future: Future<T>) -> Arc<T> {
    let value = match future.take_result() {
        Some(taken) => read(taken).into_shared(),
        None => finished(&future),
    };
    let_go(future, value)
}

/// `value`, read through `held`, once `held` is dropped. As the last handle of a future
/// that drop frees the task, and what the task still holds (a builder's function, and
/// the futures it captured, whose values' `Drop` may panic); as the last `Arc` of a
/// value it drops the value: that panic goes on, as the reading task's, but `value` is
/// dropped first. Left to the function's return, it leaked: a return value made
/// before a later drop unwinds is never dropped (rust-lang/rust#47949).
pub(super) fn let_go<D, V>(held: D, value: V) -> V {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(held))) {
        Ok(()) => value,
        Err(payload) => {
            // Its own `Drop` may panic too: the first panic is the one that goes on.
            crate::engine::error::discard_panic(move || drop(value));
            std::panic::resume_unwind(payload)
        }
    }
}

fn read<V>(result: Option<Result<V, FutureError>>) -> V {
    match result {
        Some(Ok(value)) => value,
        // Finished, then cancelled (`Future::cancel` releases a finished key).
        Some(Err(FutureError::Cancelled { .. })) => {
            std::panic::resume_unwind(Box::new(TaskCancelled))
        }
        _ => unreachable!("a task runs only after its dependencies finished"),
    }
}

/// Another future's result, cloned for the task (moved, on the task's last run, when
/// the task holds the future's last handle).
pub struct Cloned<A>(Future<A>);

impl<A: Clone + Send + Sync + 'static> FutArg for Cloned<A> {
    type Value = A;
    fn value(&self) -> A {
        finished_cloned(&self.0)
    }
    fn into_value(self) -> A {
        finished_into(self.0)
    }
    fn dependencies(&self, out: &mut Dependencies) {
        out.0.push(self.0.task().clone());
    }
}

/// Another future's result, shared with the task (no copy).
pub struct SharedResult<A>(Future<A>);

impl<A: Send + Sync + 'static> FutArg for SharedResult<A> {
    type Value = Arc<A>;
    fn value(&self) -> Arc<A> {
        finished(&self.0)
    }
    fn into_value(self) -> Arc<A> {
        finished_into_shared(self.0)
    }
    fn dependencies(&self, out: &mut Dependencies) {
        out.0.push(self.0.task().clone());
    }
}

/// Several futures' results, as a `Vec`.
pub struct Gathered<A>(Vec<Future<A>>);

impl<A: Clone + Send + Sync + 'static> FutArg for Gathered<A> {
    type Value = Vec<A>;
    fn value(&self) -> Vec<A> {
        self.0.iter().map(finished_cloned).collect()
    }
    fn into_value(self) -> Vec<A> {
        self.0.into_iter().map(finished_into).collect()
    }
    fn dependencies(&self, out: &mut Dependencies) {
        out.0
            .extend(self.0.iter().map(|f| f.task().clone() as Arc<dyn HasCore>));
    }
}

impl<A: Clone + Send + Sync + 'static> IntoFutArg<A> for Future<A> {
    type Arg = Cloned<A>;
    fn into_fut_arg(self) -> Cloned<A> {
        Cloned(self)
    }
}

impl<A: Clone + Send + Sync + 'static> IntoFutArg<A> for &Future<A> {
    type Arg = Cloned<A>;
    fn into_fut_arg(self) -> Cloned<A> {
        Cloned(self.clone())
    }
}

impl<A: Send + Sync + 'static> IntoFutArg<Arc<A>> for Future<A> {
    type Arg = SharedResult<A>;
    fn into_fut_arg(self) -> SharedResult<A> {
        SharedResult(self)
    }
}

impl<A: Send + Sync + 'static> IntoFutArg<Arc<A>> for &Future<A> {
    type Arg = SharedResult<A>;
    fn into_fut_arg(self) -> SharedResult<A> {
        SharedResult(self.clone())
    }
}

impl<A: Clone + Send + Sync + 'static> IntoFutArg<Vec<A>> for Vec<Future<A>> {
    type Arg = Gathered<A>;
    fn into_fut_arg(self) -> Gathered<A> {
        Gathered(self)
    }
}

impl<A: Clone + Send + Sync + 'static> IntoFutArg<Vec<A>> for &[Future<A>] {
    type Arg = Gathered<A>;
    fn into_fut_arg(self) -> Gathered<A> {
        Gathered(self.to_vec())
    }
}

// ---- futures in collections: maps, nested `Vec`s, arrays ------------------------------
//
// Dask's `submit` walks lists, tuples and dicts of futures in its arguments and passes
// the task their results in the same shape. Here the shape is the parameter's type:
// `Vec<Vec<A>>` takes a `Vec<Vec<Future<A>>>`, `HashMap<K, A>` a `HashMap<K,
// Future<A>>`, `[A; N]` a `[Future<A>; N]`. Each is one concrete impl of `IntoFutArg`
// (a blanket one over a trait would overlap with `A` taking an `A`); what they share
// is `Shaped`, over the private `Shape`.

/// Futures in a collection, passed to a task as their results in the same collection.
#[doc(hidden)]
pub trait Shape: Send + Sync + 'static {
    /// The collection of the results.
    type Values;
    /// The results, cloned in place, for a run that is not the last.
    fn values(&self) -> Self::Values;
    /// The results for the last run (moved out of futures whose last handle this was).
    fn into_values(self) -> Self::Values;
    /// Every future's task, in the collection's order.
    fn dependencies(&self, out: &mut Dependencies);
    /// Feeds the collection's pure key (its futures' tasks, with any map keys).
    fn shape_key(&self, hasher: &mut dyn Hasher);
}

/// Several futures' results in the collection they were passed in (see [`Shape`]).
pub struct Shaped<S>(S);

impl<S: Shape> FutArg for Shaped<S> {
    type Value = S::Values;
    fn value(&self) -> S::Values {
        self.0.values()
    }
    fn into_value(self) -> S::Values {
        self.0.into_values()
    }
    fn dependencies(&self, out: &mut Dependencies) {
        self.0.dependencies(out);
    }
}

impl<S: Shape> KeptKey<ByNode> for Shaped<S> {
    fn kept_key(&self, hasher: &mut dyn Hasher) {
        self.0.shape_key(hasher);
    }
}

impl<A: Clone + Send + Sync + 'static> Shape for Vec<Vec<Future<A>>> {
    type Values = Vec<Vec<A>>;
    fn values(&self) -> Vec<Vec<A>> {
        self.iter()
            .map(|inner| inner.iter().map(finished_cloned).collect())
            .collect()
    }
    fn into_values(self) -> Vec<Vec<A>> {
        self.into_iter()
            .map(|inner| inner.into_iter().map(finished_into).collect())
            .collect()
    }
    fn dependencies(&self, out: &mut Dependencies) {
        self.iter()
            .flatten()
            .for_each(|f| out.0.push(f.task().clone()));
    }
    fn shape_key(&self, hasher: &mut dyn Hasher) {
        hasher.write_u8(b'w');
        hasher.write_usize(self.len());
        for inner in self {
            hasher.write_usize(inner.len());
            inner.iter().for_each(|f| future_key(f, hasher));
        }
    }
}

impl<A: Clone + Send + Sync + 'static, const N: usize> Shape for [Future<A>; N] {
    type Values = [A; N];
    fn values(&self) -> [A; N] {
        self.each_ref().map(finished_cloned)
    }
    fn into_values(self) -> [A; N] {
        self.map(finished_into)
    }
    fn dependencies(&self, out: &mut Dependencies) {
        self.iter().for_each(|f| out.0.push(f.task().clone()));
    }
    fn shape_key(&self, hasher: &mut dyn Hasher) {
        // The same futures in an array or a `Vec`: the same argument.
        hasher.write_u8(b'v');
        hasher.write_usize(N);
        self.iter().for_each(|f| future_key(f, hasher));
    }
}

/// The key of a map of futures: as a map of nodes' (see `dynamic::args::map_key`),
/// each entry's future keyed by its task.
fn map_key<'a, K: std::hash::Hash + 'a, A: 'a>(
    entries: impl ExactSizeIterator<Item = (&'a K, &'a Future<A>)>,
    hasher: &mut dyn Hasher,
) {
    crate::dynamic::args::map_key(
        entries.map(|(key, future)| (key, future.core().key_number())),
        hasher,
    );
}

impl<K, A, H> Shape for std::collections::HashMap<K, Future<A>, H>
where
    K: Clone + Eq + std::hash::Hash + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
    H: std::hash::BuildHasher + Clone + Send + Sync + 'static,
{
    type Values = std::collections::HashMap<K, A, H>;
    fn values(&self) -> Self::Values {
        let mut values =
            std::collections::HashMap::with_capacity_and_hasher(self.len(), self.hasher().clone());
        values.extend(self.iter().map(|(k, f)| (k.clone(), finished_cloned(f))));
        values
    }
    fn into_values(self) -> Self::Values {
        let mut values =
            std::collections::HashMap::with_capacity_and_hasher(self.len(), self.hasher().clone());
        values.extend(self.into_iter().map(|(k, f)| (k, finished_into(f))));
        values
    }
    fn dependencies(&self, out: &mut Dependencies) {
        self.values().for_each(|f| out.0.push(f.task().clone()));
    }
    fn shape_key(&self, hasher: &mut dyn Hasher) {
        map_key(self.iter(), hasher);
    }
}

impl<K, A> Shape for std::collections::BTreeMap<K, Future<A>>
where
    K: Clone + Ord + std::hash::Hash + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    type Values = std::collections::BTreeMap<K, A>;
    fn values(&self) -> Self::Values {
        self.iter()
            .map(|(k, f)| (k.clone(), finished_cloned(f)))
            .collect()
    }
    fn into_values(self) -> Self::Values {
        self.into_iter()
            .map(|(k, f)| (k, finished_into(f)))
            .collect()
    }
    fn dependencies(&self, out: &mut Dependencies) {
        self.values().for_each(|f| out.0.push(f.task().clone()));
    }
    fn shape_key(&self, hasher: &mut dyn Hasher) {
        map_key(self.iter(), hasher);
    }
}

impl<A: Clone + Send + Sync + 'static> IntoFutArg<Vec<Vec<A>>> for Vec<Vec<Future<A>>> {
    type Arg = Shaped<Self>;
    fn into_fut_arg(self) -> Shaped<Self> {
        Shaped(self)
    }
}

impl<A: Clone + Send + Sync + 'static, const N: usize> IntoFutArg<[A; N]> for [Future<A>; N] {
    type Arg = Shaped<Self>;
    fn into_fut_arg(self) -> Shaped<Self> {
        Shaped(self)
    }
}

impl<K, A, H> IntoFutArg<std::collections::HashMap<K, A, H>>
    for std::collections::HashMap<K, Future<A>, H>
where
    K: Clone + Eq + std::hash::Hash + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
    H: std::hash::BuildHasher + Clone + Send + Sync + 'static,
{
    type Arg = Shaped<Self>;
    fn into_fut_arg(self) -> Shaped<Self> {
        Shaped(self)
    }
}

impl<K, A> IntoFutArg<std::collections::BTreeMap<K, A>> for std::collections::BTreeMap<K, Future<A>>
where
    K: Clone + Ord + std::hash::Hash + Send + Sync + 'static,
    A: Clone + Send + Sync + 'static,
{
    type Arg = Shaped<Self>;
    fn into_fut_arg(self) -> Shaped<Self> {
        Shaped(self)
    }
}

impl<A: Clone + Send + Sync + 'static> IntoFutArg<Vec<A>> for &Vec<Future<A>> {
    type Arg = Gathered<A>;
    fn into_fut_arg(self) -> Gathered<A> {
        Gathered(self.clone())
    }
}

// ---- pure keys of kept arguments (see `TaskBuilder::pure`) -------------------------
//
// A pure submission is keyed by its arguments as the task keeps them: a plain value by
// its own `PureKey` (its hash, or a float's bits), a future by its task's key number,
// which no other task of the process ever has (its address would be another task's
// once it is freed). The kept tuple's marker is the tuple of its items' markers.
//
// The items are keyed through `KeptKey`, not `PureKey`: `PureKey`'s blanket impls
// (`ByHash`, `ByBits`) match any type while the marker is not known yet, so a kept
// `Plain<X>` with no key was reported as `Plain<X>` itself (an internal type). Only the
// kept kinds implement `KeptKey`, so the compiler takes `Plain`'s impl and reports the
// user's `X` as having no `PureKey`, with its advice.

/// The key of one argument as a pure task keeps it (see [`PureArgs`]).
#[doc(hidden)]
pub trait KeptKey<M> {
    /// Feeds the argument's key.
    fn kept_key(&self, hasher: &mut dyn Hasher);
}

impl<A: PureKey<M>, M> KeptKey<M> for Plain<A> {
    fn kept_key(&self, hasher: &mut dyn Hasher) {
        self.0.pure_key(hasher);
    }
}

/// Feeds the key of `future`'s task.
fn future_key<A>(future: &Future<A>, hasher: &mut dyn Hasher) {
    hasher.write_u64(future.core().key_number());
}

impl<A> KeptKey<ByNode> for Cloned<A> {
    fn kept_key(&self, hasher: &mut dyn Hasher) {
        hasher.write_u8(b'f');
        future_key(&self.0, hasher);
    }
}

impl<A> KeptKey<ByNode> for SharedResult<A> {
    fn kept_key(&self, hasher: &mut dyn Hasher) {
        // A value shared is the value cloned: the same argument.
        hasher.write_u8(b'f');
        future_key(&self.0, hasher);
    }
}

impl<A> KeptKey<ByNode> for Gathered<A> {
    fn kept_key(&self, hasher: &mut dyn Hasher) {
        hasher.write_u8(b'v');
        hasher.write_usize(self.0.len());
        for future in &self.0 {
            future_key(future, hasher);
        }
    }
}

/// The arguments of a pure task as it keeps them (see
/// [`TaskBuilder::pure`](crate::TaskBuilder::pure)), which key it: each a plain value
/// that is [`PureKey`] (a `Hash` value, a float, a collection of floats) or a future
/// (keyed by its task, never by its value). `M` is inferred: the markers of the
/// arguments' keys.
#[diagnostic::on_unimplemented(
    message = "the arguments of a pure task must each be keyed: a `Hash` value, a float (or a collection of floats), or a future",
    label = "an argument here has no pure key",
    note = "derive `Hash` for the argument's type (or pass a `Hash` part of it), or drop `.pure()`"
)]
pub trait PureArgs<M> {
    /// Feeds the arguments' keys, in order.
    fn pure_key(&self, hasher: &mut dyn Hasher);
}

impl PureArgs<()> for () {
    fn pure_key(&self, _hasher: &mut dyn Hasher) {}
}

macro_rules! pure_args {
    ($($ty:ident / $m:ident $i:tt),+) => {
        impl<$($ty: KeptKey<$m>, $m),+> PureArgs<($($m,)+)> for ($($ty,)+) {
            fn pure_key(&self, hasher: &mut dyn Hasher) {
                $(self.$i.kept_key(hasher);)+
            }
        }
    };
}
pure_args!(A / MA 0);
pure_args!(A / MA 0, B / MB 1);
pure_args!(A / MA 0, B / MB 1, C / MC 2);
pure_args!(A / MA 0, B / MB 1, C / MC 2, D / MD 3);
pure_args!(A / MA 0, B / MB 1, C / MC 2, D / MD 3, E / ME 4);
pure_args!(A / MA 0, B / MB 1, C / MC 2, D / MD 3, E / ME 4, G / MG 5);

/// A task's arguments as it keeps them (a tuple of [`FutArg`]s).
pub trait KeptArgs: Send + Sync + 'static {
    /// The values the function receives.
    type Values;
    /// The values for one run.
    fn values(&self) -> Self::Values;
    /// The values for the last run, consuming the arguments.
    fn into_values(self) -> Self::Values;
    /// Every future the arguments wait for.
    fn dependencies(&self, out: &mut Dependencies);
    /// Whether the task runs once its dependencies have ended, however they ended,
    /// rather than failing with the first that fails or is cancelled (`Client::compute`'s
    /// task, whose graph reports a future without a result).
    #[doc(hidden)]
    const AFTER_ANY_END: bool = false;
}

/// The arguments of `Client::compute`'s task: none, and the futures its graph reads,
/// as dependencies that it runs after however they end. A graph's task reading a
/// future that failed or was cancelled fails with its own error, naming itself and
/// the future (see `Awaited`), as it did when the compute started at once and its
/// task waited for the future (on a thread of its own, each).
pub(crate) struct AfterEnds(pub(crate) Vec<Arc<dyn HasCore>>);

/// A future's task as a node of a dynamic graph keeps it (see
/// `dynamic::args::AwaitedTask`, opaque there): an `Arc` of its `Arc<dyn HasCore>`.
pub(crate) fn awaited_task(task: Arc<dyn HasCore>) -> crate::dynamic::args::AwaitedTask {
    Arc::new(task)
}

/// The tasks of the futures a graph's nodes read ([`awaited_task`]), once each (one
/// task, however many handles and readers, known by its address), in order.
pub(crate) fn awaited_tasks(
    awaited: &[crate::dynamic::args::AwaitedTask],
) -> Vec<Arc<dyn HasCore>> {
    let mut seen = std::collections::HashSet::new();
    awaited
        .iter()
        .filter_map(|task| task.downcast_ref::<Arc<dyn HasCore>>())
        .filter(|task| seen.insert(Arc::as_ptr(task).cast::<()>() as usize))
        .cloned()
        .collect()
}

/// Waits until the tasks of the futures a graph reads have ended, however they end:
/// a graph computed from outside rayon's pool does so before its run starts (see
/// `dynamic::plan`'s `Storage::run`). A wait that could never end (the error a futures
/// task gets) is left to the graph's task, which fails as it would have.
/// A task read twice is waited for twice: the second wait finds it ended (no set of
/// those seen is made, as [`awaited_tasks`] makes for a compute's dependencies).
///
/// With the run's stop condition, that is asked every [`STOP_LOOK`] meanwhile: once it
/// says stop (or panics), the wait is over and the run starts, to stop at once (and
/// to report a panic of the condition, asking it again, as it does).
pub(crate) fn await_reads(
    awaited: &[crate::dynamic::args::AwaitedTask],
    stop: Option<&(dyn Fn() -> bool + Send + Sync)>,
) {
    let says_stop = || {
        stop.is_some_and(|stop| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(stop)).unwrap_or(true)
        })
    };
    for task in awaited
        .iter()
        .filter_map(|task| task.downcast_ref::<Arc<dyn HasCore>>())
    {
        // Asked first too: a condition that already says stop stops at once.
        if says_stop() {
            return;
        }
        let ended = match stop {
            None => task.core().wait(None),
            Some(_) => task.core().wait_asking(&says_stop, STOP_LOOK),
        };
        if matches!(ended, Ok(false)) {
            return;
        }
    }
}

/// How often [`await_reads`] asks a run's stop condition: a stop is seen about as
/// promptly as between two tasks of a run, and a waiter wakes 500 times a second.
const STOP_LOOK: std::time::Duration = std::time::Duration::from_millis(2);

impl KeptArgs for AfterEnds {
    type Values = ();
    fn values(&self) {}
    fn into_values(self) {}
    fn dependencies(&self, out: &mut Dependencies) {
        out.0.extend(self.0.iter().cloned());
    }
    const AFTER_ANY_END: bool = true;
}

/// A tuple of arguments for a function whose parameters are `Values`: one item per
/// parameter, each a value or a future (see [`IntoFutArg`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not the arguments of a function of `{Values}`: `submit` takes them as one tuple, one item per parameter",
    label = "not a tuple of one argument per parameter",
    note = "one parameter: `client.submit(f, (x,))`; two: `client.submit(f, (a, b))`; none: `client.submit(f, ())`; each item is a value or a future of the parameter's type"
)]
pub trait SubmitArgs<Values> {
    /// The arguments as the task keeps them.
    type Kept: KeptArgs<Values = Values>;
    /// Converts every argument.
    fn into_kept(self) -> Self::Kept;
}

macro_rules! arity {
    ($($arg:ident: $ty:ident / $into:ident),*) => {
        impl<F, R, $($ty),*> TaskFn<($($ty,)*)> for F
        where
            F: Fn($($ty),*) -> R + Send + Sync + 'static,
            R: Send + Sync + 'static,
        {
            type Output = R;
            #[allow(clippy::unused_unit)]
            fn call(&self, ($($arg,)*): ($($ty,)*)) -> R {
                self($($arg),*)
            }
        }

        impl<$($ty: FutArg),*> KeptArgs for ($($ty,)*) {
            type Values = ($($ty::Value,)*);
            #[allow(clippy::unused_unit)]
            fn values(&self) -> Self::Values {
                let ($($arg,)*) = self;
                ($($arg.value(),)*)
            }
            #[allow(clippy::unused_unit)]
            fn into_values(self) -> Self::Values {
                let ($($arg,)*) = self;
                ($($arg.into_value(),)*)
            }
            fn dependencies(&self, _out: &mut Dependencies) {
                let ($($arg,)*) = self;
                $($arg.dependencies(_out);)*
            }
        }

        impl<$($ty,)* $($into: IntoFutArg<$ty>),*> SubmitArgs<($($ty,)*)> for ($($into,)*) {
            type Kept = ($($into::Arg,)*);
            #[allow(clippy::unused_unit)]
            fn into_kept(self) -> Self::Kept {
                let ($($arg,)*) = self;
                ($($arg.into_fut_arg(),)*)
            }
        }
    };
}

arity!();
arity!(a: A / IA);
arity!(a: A / IA, b: B / IB);
arity!(a: A / IA, b: B / IB, c: C / IC);
arity!(a: A / IA, b: B / IB, c: C / IC, d: D / ID);
arity!(a: A / IA, b: B / IB, c: C / IC, d: D / ID, e: E / IE);
arity!(a: A / IA, b: B / IB, c: C / IC, d: D / ID, e: E / IE, g: G / IG);

impl std::fmt::Debug for Dependencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependencies").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AfterEnds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AfterEnds").field(&self.0.len()).finish()
    }
}

impl<A> std::fmt::Debug for Plain<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plain").finish_non_exhaustive()
    }
}

impl<A> std::fmt::Debug for Cloned<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloned")
            .field("future", &self.0)
            .finish_non_exhaustive()
    }
}

impl<A> std::fmt::Debug for SharedResult<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedResult")
            .field("future", &self.0)
            .finish_non_exhaustive()
    }
}

impl<S: Shape> std::fmt::Debug for Shaped<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut futures = Dependencies::default();
        self.0.dependencies(&mut futures);
        f.debug_struct("Shaped")
            .field("futures", &futures.0.len())
            .finish_non_exhaustive()
    }
}

impl<A> std::fmt::Debug for Gathered<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gathered")
            .field("futures", &self.0.len())
            .finish_non_exhaustive()
    }
}
