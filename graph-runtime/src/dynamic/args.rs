//! Arguments of dynamic tasks: other nodes, collections and tuples of nodes, futures,
//! plain values.
//!
//! Building a task moves each argument's nodes into the task's parent list and keeps
//! only a typed marker in the closure, which reads the values from the arena through
//! the same `Give`/`Lend` handles as static graphs.

use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use super::{Delayed, Env, ParentList};
use crate::engine::slot::{self, MadeBy, Shared, Value};

/// The nodes a task reads, collected while its arguments are converted.
#[derive(Default)]
pub struct Parents {
    pub(crate) nodes: ParentList,
    /// The futures its arguments read (`delayed(f).call(&future)`), kept on the node
    /// (see `Meta::rare_parts`): empty, and unallocated, for every other task.
    pub(crate) awaited: Vec<AwaitedTask>,
}

/// A future that a task of a dynamic graph reads, as its node keeps it: the futures
/// front end makes it (`futures/as_arg.rs`) and reads it (`Client::compute` starts a
/// graph once every future it reads has ended); here it is only kept, opaque (the
/// dynamic front end names none of the futures' types: ARCHITECTURE.md's modules
/// import no cycle). Not a handle: the task's argument holds one.
pub(crate) type AwaitedTask = Arc<dyn std::any::Any + Send + Sync>;

impl Parents {
    /// No parents yet.
    pub fn new() -> Self {
        Parents::default()
    }
}

/// One argument of a dynamic task, as its closure keeps it.
pub trait Arg: Send + Sync + 'static {
    /// The type the task receives.
    type Target;
    /// The handle the task reads the value through.
    type Source<'a>
    where
        Self: 'a;
    /// The handle for one run; `cursor` walks the task's inputs in argument order.
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> Self::Source<'a>;
}

/// The size of the value `arg` passes to its task (a constant once compiled): a
/// `delay!` task runs with stack room for its arguments' values as well as for its
/// result (see [`with_room`](crate::engine::sync::with_room)).
#[inline(always)]
pub fn value_size<A: Arg>(_arg: &A) -> usize {
    core::mem::size_of::<A::Target>()
}

/// An argument as the explicit form (`delayed(f).call(…)`) passes it to the function:
/// by value (`Param<'s>` is the value, moved out of its slot on its last use, cloned
/// otherwise), or lent (`Param<'s>` is `&'s T`, `&'s [T]` or `&'s str`, borrowed from
/// the slot for the duration of the call), as `delay!` does for the same parameters.
pub trait PassArg: Send + Sync + 'static {
    /// What the argument holds for one run.
    type Held<'a>
    where
        Self: 'a;
    /// What the function receives, borrowed from [`Held`](Self::Held) for `'s`.
    type Param<'s>;
    /// Reads the argument for one run; `cursor` walks the task's inputs in argument
    /// order.
    fn hold<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> Self::Held<'a>;
    /// The parameter, from what [`hold`](Self::hold) read.
    fn pass<'s>(held: &'s mut Self::Held<'_>) -> Self::Param<'s>;
}

/// A [`PassArg`] that can be passed again to a retried task (`delayed(f).retries(n)`):
/// [`pass_again`](Self::pass_again) passes it without consuming it, so that a later
/// attempt reads it too. A lent argument is lent again; a by-value argument is cloned
/// from its handle (implemented where its type is `Clone`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be passed again to a retried task",
    label = "an argument of a task with `.retries(n)`",
    note = "a retried task needs `Clone` arguments (by-value) or borrowed parameters (`&T`, `&[T]`, `&str`): each attempt but the last gets a clone, or a loan"
)]
pub trait RetryArg: PassArg {
    /// The parameter for an attempt that may be followed by another, from what
    /// [`hold`](PassArg::hold) read, leaving it in place.
    fn pass_again<'s>(held: &'s mut Self::Held<'_>) -> Self::Param<'s>;
}

/// After a failed attempt that may be followed by another: goes on to the next one,
/// unless the task's result is no longer wanted ([`cancelled`](crate::cancelled): its
/// run failed or was told to stop), when the attempt's panic ends the task at once (a
/// task retried `u32::MAX` times would otherwise hold its thread, and the run, for
/// good).
pub(crate) fn retry_after(payload: Box<dyn std::any::Any + Send>) {
    if crate::cancelled() {
        std::panic::resume_unwind(payload);
    }
    crate::engine::error::drop_payload(payload);
}

/// Runs a task of a `#[delayed(retries = n)]` function, as `delay!` and `graph!` call
/// it: up to `retries` attempts inside `catch_unwind` (`f(false)`: arguments passed
/// again, see [`crate::engine::slot::give_again`]), then the last (`f(true)`: arguments taken),
/// whose panic is the task's.
#[inline]
pub fn attempts<R>(retries: u32, mut f: impl FnMut(bool) -> R) -> R {
    for _ in 0..retries {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(false))) {
            Ok(value) => return value,
            Err(payload) => retry_after(payload),
        }
    }
    f(true)
}

/// An [`Arg`] whose value can be lent: its handle lends `Target`.
pub trait LendArg: Arg {
    /// Borrows the value from its handle.
    fn lend_from<'s>(source: &'s Self::Source<'_>) -> &'s Self::Target;
}

// By-value and lending passes of every kind of argument, through its own handle.
macro_rules! pass_and_lend {
    ($({$($gen:tt)*} $kind:ty;)*) => {$(
        impl<$($gen)*> PassArg for $kind {
            type Held<'a> = <Self as Arg>::Source<'a>;
            type Param<'s> = <Self as Arg>::Target;
            fn hold<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> Self::Held<'a> {
                self.source(env, cursor)
            }
            fn pass<'s>(held: &'s mut Self::Held<'_>) -> Self::Param<'s> {
                slot::give(held)
            }
        }

        impl<$($gen)*> LendArg for $kind {
            fn lend_from<'s>(source: &'s Self::Source<'_>) -> &'s Self::Target {
                slot::Lend::lend(source)
            }
        }

        impl<$($gen)*> RetryArg for $kind
        where
            <Self as Arg>::Target: Clone,
        {
            fn pass_again<'s>(held: &'s mut Self::Held<'_>) -> Self::Param<'s> {
                <Self as LendArg>::lend_from(held).clone()
            }
        }
    )*};
}
// For the futures front end's own kind of argument (`futures/as_arg.rs`).
pub(crate) use pass_and_lend;

pass_and_lend! {
    {T: Clone + Send + Sync + 'static} NodeRef<T>;
    {T: Clone + Send + Sync + 'static} Many<T>;
    {T: Clone + Send + Sync + 'static} Const<T>;
    {A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static} Pair<A, B>;
    {A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static, C: Clone + Send + Sync + 'static} Triple<A, B, C>;
    {K: Clone + Eq + Hash + Send + Sync + 'static, V: Clone + Send + Sync + 'static, S: BuildHasher + Clone + Send + Sync + 'static} HashMapOf<K, V, S>;
    {K: Clone + Ord + Send + Sync + 'static, V: Clone + Send + Sync + 'static} BTreeMapOf<K, V>;
    {T: Clone + Send + Sync + 'static} Nested<T>;
}

/// An argument lent to a `&T` parameter.
pub struct Lent<K>(pub(crate) K);

impl<K: LendArg> PassArg for Lent<K>
where
    K::Target: 'static,
{
    type Held<'a> = <K as Arg>::Source<'a>;
    type Param<'s> = &'s K::Target;
    fn hold<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> Self::Held<'a> {
        self.0.source(env, cursor)
    }
    fn pass<'s>(held: &'s mut Self::Held<'_>) -> &'s K::Target {
        K::lend_from(held)
    }
}

impl<K: LendArg> RetryArg for Lent<K>
where
    K::Target: 'static,
{
    fn pass_again<'s>(held: &'s mut Self::Held<'_>) -> &'s K::Target {
        K::lend_from(held)
    }
}

/// An argument lent through `Deref` to a `&[T]` or `&str` parameter (a `Vec<T>` or a
/// `String`, a node's or a collection's).
pub struct LentDeref<K>(pub(crate) K);

impl<K: LendArg> PassArg for LentDeref<K>
where
    K::Target: core::ops::Deref + 'static,
{
    type Held<'a> = <K as Arg>::Source<'a>;
    type Param<'s> = &'s <K::Target as core::ops::Deref>::Target;
    fn hold<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> Self::Held<'a> {
        self.0.source(env, cursor)
    }
    fn pass<'s>(held: &'s mut Self::Held<'_>) -> Self::Param<'s> {
        K::lend_from(held)
    }
}

impl<K: LendArg> RetryArg for LentDeref<K>
where
    K::Target: core::ops::Deref + 'static,
{
    fn pass_again<'s>(held: &'s mut Self::Held<'_>) -> Self::Param<'s> {
        K::lend_from(held)
    }
}

/// What a value passed to `delayed(f).call(…)` becomes, for a parameter of type `A`:
/// the same arguments as `delay!` takes.
///
/// | parameter | argument |
/// |---|---|
/// | `T` | `Delayed<T>`, `&Delayed<T>`, `Future<T>`, `&Future<T>`, or a `T` |
/// | `Vec<T>` | `Vec<Delayed<T>>`, `&Vec<Delayed<T>>`, `&[Delayed<T>]`, `[Delayed<T>; N]` |
/// | `Vec<Vec<T>>` | `Vec<Vec<Delayed<T>>>`, `&Vec<Vec<Delayed<T>>>` |
/// | `HashMap<K, V, S>` | `HashMap<K, Delayed<V>, S>`, `&HashMap<K, Delayed<V>, S>` |
/// | `BTreeMap<K, V>` | `BTreeMap<K, Delayed<V>>`, `&BTreeMap<K, Delayed<V>>` |
/// | `(T, U)`, `(T, U, V)` | a tuple of `Delayed`s, or of `&Delayed`s |
/// | `&T` | any argument of a `T` parameter, lent |
/// | `&[T]` | any argument of a `Vec<T>` parameter, lent |
/// | `&str` | an argument of a `String` parameter, lent |
///
/// A `Future<T>` is waited for when the task runs; if it failed or was cancelled, the
/// task fails with its error.
///
/// Nodes in a nested `Vec` or a map are dependencies, as Dask's `delayed` traverses
/// lists and dicts of `Delayed`s: the task receives their values in the same shape (a
/// map's keys kept, with its hasher), each node one edge of the graph. A pure call
/// keys a map by its keys' hashes and its nodes, in any order (a `BTreeMap`'s keys
/// must then be `Hash` too).
///
/// An empty collection whose element type is not written (`Vec::new()`,
/// `HashMap::new()`, `vec![vec![]]`) could be a constant or a collection of nodes, so
/// the explicit form cannot choose: name the type (`HashMap::<String, i64>::new()`).
/// (`delay!` takes it as a collection of nodes, which gives the task the same empty
/// value.)
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be passed to a parameter of type `{A}` of a delayed function",
    label = "not an argument for a `{A}` parameter",
    note = "a `T` parameter takes a `Delayed<T>`, `&Delayed<T>`, `Future<T>`, `&Future<T>` or a `T`; a `Vec<T>` parameter a `Vec`, slice or array of `Delayed<T>`; `Vec<Vec<T>>`, `HashMap<K, T>` and `BTreeMap<K, T>` parameters the same collection of `Delayed<T>`; a `(T, U)` parameter a tuple of nodes; `&T`, `&[T]` and `&str` parameters borrow the same arguments",
    note = "a task runs after this call returns, on another thread, so it cannot borrow the caller's locals: pass the value itself (moved or cloned; a `&T` parameter borrows the task's copy), an `Arc`, or a node of it (`Delayed::value(v)`)"
)]
pub trait IntoArg<A> {
    /// The argument kept by the task.
    type Arg: PassArg;
    /// Moves the argument's nodes into `parents`.
    fn into_arg(self, parents: &mut Parents) -> Self::Arg;
}

/// Another node's result.
pub struct NodeRef<T> {
    _value: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static> Arg for NodeRef<T> {
    type Target = T;
    type Source<'a> = MadeBy<Shared<'a, T>>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> MadeBy<Shared<'a, T>> {
        env.input::<T>(cursor)
    }
}

/// A collection of nodes, given to the task as a `Vec<T>` (or lent as `&[T]`).
pub struct Many<T> {
    len: usize,
    _value: PhantomData<fn() -> T>,
}

impl<T: Clone + Send + Sync + 'static> Arg for Many<T> {
    type Target = Vec<T>;
    type Source<'a> = MadeBy<Value<Vec<T>>>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> MadeBy<Value<Vec<T>>> {
        let items = (0..self.len)
            .map(|_| slot::give(&mut env.input::<T>(cursor)))
            .collect();
        env.made_here(items)
    }
}

/// A plain value: lent in place, cloned when a task takes it by value (a graph may
/// run more than once).
pub struct Const<T>(pub(crate) T);

impl<T: Send + Sync + 'static> Arg for Const<T> {
    type Target = T;
    type Source<'a> = slot::Const<'a, T>;
    fn source<'a>(&'a self, _env: &Env<'a>, _cursor: &mut usize) -> slot::Const<'a, T> {
        slot::Const(&self.0)
    }
}

/// Two nodes given to the task as one pair `(A, B)` (or lent as `&(A, B)`).
pub struct Pair<A, B> {
    _value: PhantomData<fn() -> (A, B)>,
}

impl<A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static> Arg for Pair<A, B> {
    type Target = (A, B);
    type Source<'a> = MadeBy<Value<(A, B)>>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> MadeBy<Value<(A, B)>> {
        let a = slot::give(&mut env.input::<A>(cursor));
        let b = slot::give(&mut env.input::<B>(cursor));
        env.made_here((a, b))
    }
}

/// A marker of the type a kept argument produces (`Send`, `Sync`, no ownership).
type Produces<T> = fn() -> T;

/// Three nodes given to the task as one triple `(A, B, C)` (or lent as `&(A, B, C)`).
pub struct Triple<A, B, C> {
    _value: PhantomData<Produces<(A, B, C)>>,
}

impl<A, B, C> Arg for Triple<A, B, C>
where
    A: Clone + Send + Sync + 'static,
    B: Clone + Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
{
    type Target = (A, B, C);
    type Source<'a> = MadeBy<Value<(A, B, C)>>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> MadeBy<Value<(A, B, C)>> {
        let a = slot::give(&mut env.input::<A>(cursor));
        let b = slot::give(&mut env.input::<B>(cursor));
        let c = slot::give(&mut env.input::<C>(cursor));
        env.made_here((a, b, c))
    }
}

/// A map of nodes, given to the task as the `HashMap<K, V, S>` of their values (or lent
/// as `&HashMap<K, V, S>`), as Dask's `delayed` passes a dict of `Delayed`s. The task
/// keeps the keys and the hasher; each value is one parent, read in the keys' order.
pub struct HashMapOf<K, V, S> {
    keys: Vec<K>,
    hasher: S,
    _value: PhantomData<Produces<V>>,
}

impl<K, V, S> Arg for HashMapOf<K, V, S>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    type Target = HashMap<K, V, S>;
    type Source<'a> = MadeBy<Value<HashMap<K, V, S>>>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> MadeBy<Value<HashMap<K, V, S>>> {
        let mut map = HashMap::with_capacity_and_hasher(self.keys.len(), self.hasher.clone());
        for key in &self.keys {
            map.insert(key.clone(), slot::give(&mut env.input::<V>(cursor)));
        }
        env.made_here(map)
    }
}

/// A `BTreeMap` of nodes, given to the task as the `BTreeMap<K, V>` of their values (or
/// lent as `&BTreeMap<K, V>`). The task keeps the keys; each value is one parent, read in
/// the keys' order.
pub struct BTreeMapOf<K, V> {
    keys: Vec<K>,
    _value: PhantomData<Produces<V>>,
}

impl<K, V> Arg for BTreeMapOf<K, V>
where
    K: Clone + Ord + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    type Target = BTreeMap<K, V>;
    type Source<'a> = MadeBy<Value<BTreeMap<K, V>>>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> MadeBy<Value<BTreeMap<K, V>>> {
        // The keys are kept sorted: the map is built from them in one pass.
        let map = self
            .keys
            .iter()
            .map(|key| (key.clone(), slot::give(&mut env.input::<V>(cursor))))
            .collect();
        env.made_here(map)
    }
}

/// A `Vec` of `Vec`s of nodes, given to the task as a `Vec<Vec<T>>` of their values (or
/// lent as `&Vec<Vec<T>>` or `&[Vec<T>]`), as Dask's `delayed` passes nested lists. The
/// task keeps the inner lengths; each value is one parent, read row by row.
pub struct Nested<T> {
    lens: Vec<usize>,
    _value: PhantomData<Produces<T>>,
}

impl<T: Clone + Send + Sync + 'static> Arg for Nested<T> {
    type Target = Vec<Vec<T>>;
    type Source<'a> = MadeBy<Value<Vec<Vec<T>>>>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> MadeBy<Value<Vec<Vec<T>>>> {
        let rows = self
            .lens
            .iter()
            .map(|&len| {
                (0..len)
                    .map(|_| slot::give(&mut env.input::<T>(cursor)))
                    .collect()
            })
            .collect();
        env.made_here(rows)
    }
}

// The nodes of an argument go into `parents` by value: a node passed by value moves
// its handle there (no count taken and dropped per edge: every `x = delay!(f(x))` of a
// chain, every pair a tree's level consumes); a lent one is cloned by the caller.

fn node_ref<T>(delayed: Delayed<T>, parents: &mut Parents) -> NodeRef<T> {
    parents.nodes.push(delayed.node);
    NodeRef {
        _value: PhantomData,
    }
}

fn pair<A, B>(a: Delayed<A>, b: Delayed<B>, parents: &mut Parents) -> Pair<A, B> {
    node_ref(a, parents);
    node_ref(b, parents);
    Pair {
        _value: PhantomData,
    }
}

fn triple<A, B, C>(
    a: Delayed<A>,
    b: Delayed<B>,
    c: Delayed<C>,
    parents: &mut Parents,
) -> Triple<A, B, C> {
    node_ref(a, parents);
    node_ref(b, parents);
    node_ref(c, parents);
    Triple {
        _value: PhantomData,
    }
}

fn many<T>(items: impl IntoIterator<Item = Delayed<T>>, parents: &mut Parents) -> Many<T> {
    let mut len = 0;
    for item in items {
        node_ref(item, parents);
        len += 1;
    }
    Many {
        len,
        _value: PhantomData,
    }
}

/// The keys of a map of nodes, in its order; its nodes go into `parents` in the same
/// order.
fn keys_of<K, V>(
    entries: impl ExactSizeIterator<Item = (K, Delayed<V>)>,
    parents: &mut Parents,
) -> Vec<K> {
    let mut keys = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        node_ref(value, parents);
        keys.push(key);
    }
    keys
}

fn hash_map_of<K, V, S: Clone>(
    map: HashMap<K, Delayed<V>, S>,
    parents: &mut Parents,
) -> HashMapOf<K, V, S> {
    let hasher = map.hasher().clone();
    HashMapOf {
        keys: keys_of(map.into_iter(), parents),
        hasher,
        _value: PhantomData,
    }
}

fn hash_map_of_ref<K: Clone, V, S: Clone>(
    map: &HashMap<K, Delayed<V>, S>,
    parents: &mut Parents,
) -> HashMapOf<K, V, S> {
    HashMapOf {
        keys: keys_of(map.iter().map(|(k, v)| (k.clone(), v.clone())), parents),
        hasher: map.hasher().clone(),
        _value: PhantomData,
    }
}

fn btree_map_of<K, V>(map: BTreeMap<K, Delayed<V>>, parents: &mut Parents) -> BTreeMapOf<K, V> {
    BTreeMapOf {
        keys: keys_of(map.into_iter(), parents),
        _value: PhantomData,
    }
}

fn btree_map_of_ref<K: Clone, V>(
    map: &BTreeMap<K, Delayed<V>>,
    parents: &mut Parents,
) -> BTreeMapOf<K, V> {
    BTreeMapOf {
        keys: keys_of(map.iter().map(|(k, v)| (k.clone(), v.clone())), parents),
        _value: PhantomData,
    }
}

fn nested<T>(rows: Vec<Vec<Delayed<T>>>, parents: &mut Parents) -> Nested<T> {
    Nested {
        lens: rows.into_iter().map(|row| many(row, parents).len).collect(),
        _value: PhantomData,
    }
}

fn nested_ref<T>(rows: &[Vec<Delayed<T>>], parents: &mut Parents) -> Nested<T> {
    Nested {
        lens: rows
            .iter()
            .map(|row| many(row.iter().cloned(), parents).len)
            .collect(),
        _value: PhantomData,
    }
}

// Each way of passing (by value, `&T`, `&[T]`/`&str`) of each kind of argument. The
// impls do not overlap: a parameter `&'static T` never unifies with an argument's own
// type (`T`, `Delayed<T>`, …) but through an infinite type.
macro_rules! into_arg {
    ($({$($gen:tt)*} $param:ty, $arg:ty => $kind:ty = |$value:ident, $parents:ident| $make:expr;)*) => {$(
        impl<$($gen)*> IntoArg<$param> for $arg {
            type Arg = $kind;
            #[allow(unused_variables)]
            fn into_arg(self, $parents: &mut Parents) -> $kind {
                let $value = self;
                $make
            }
        }
    )*};
}
// For the futures front end's own kind of argument (`futures/as_arg.rs`).
pub(crate) use into_arg;

into_arg! {
    {A: Clone + Send + Sync + 'static} A, A => Const<A> = |v, p| Const(v);
    {A: Clone + Send + Sync + 'static} &'static A, A => Lent<Const<A>> = |v, p| Lent(Const(v));
    {A: Clone + Send + Sync + 'static} &'static [A], Vec<A> => LentDeref<Const<Vec<A>>> = |v, p| LentDeref(Const(v));
    {} &'static str, String => LentDeref<Const<String>> = |v, p| LentDeref(Const(v));

    {A: Clone + Send + Sync + 'static} A, Delayed<A> => NodeRef<A> = |v, p| node_ref(v, p);
    {A: Clone + Send + Sync + 'static} A, &Delayed<A> => NodeRef<A> = |v, p| node_ref(v.clone(), p);
    {A: Clone + Send + Sync + 'static} &'static A, Delayed<A> => Lent<NodeRef<A>> = |v, p| Lent(node_ref(v, p));
    {A: Clone + Send + Sync + 'static} &'static A, &Delayed<A> => Lent<NodeRef<A>> = |v, p| Lent(node_ref(v.clone(), p));
    {A: Clone + Send + Sync + 'static} &'static [A], Delayed<Vec<A>> => LentDeref<NodeRef<Vec<A>>> = |v, p| LentDeref(node_ref(v, p));
    {A: Clone + Send + Sync + 'static} &'static [A], &Delayed<Vec<A>> => LentDeref<NodeRef<Vec<A>>> = |v, p| LentDeref(node_ref(v.clone(), p));
    {} &'static str, Delayed<String> => LentDeref<NodeRef<String>> = |v, p| LentDeref(node_ref(v, p));
    {} &'static str, &Delayed<String> => LentDeref<NodeRef<String>> = |v, p| LentDeref(node_ref(v.clone(), p));

    {A: Clone + Send + Sync + 'static} Vec<A>, Vec<Delayed<A>> => Many<A> = |v, p| many(v, p);
    {A: Clone + Send + Sync + 'static} Vec<A>, &Vec<Delayed<A>> => Many<A> = |v, p| many(v.iter().cloned(), p);
    {A: Clone + Send + Sync + 'static} Vec<A>, &[Delayed<A>] => Many<A> = |v, p| many(v.iter().cloned(), p);
    {A: Clone + Send + Sync + 'static, const N: usize} Vec<A>, [Delayed<A>; N] => Many<A> = |v, p| many(v, p);
    {A: Clone + Send + Sync + 'static} &'static Vec<A>, Vec<Delayed<A>> => Lent<Many<A>> = |v, p| Lent(many(v, p));
    {A: Clone + Send + Sync + 'static} &'static Vec<A>, &Vec<Delayed<A>> => Lent<Many<A>> = |v, p| Lent(many(v.iter().cloned(), p));
    {A: Clone + Send + Sync + 'static} &'static Vec<A>, &[Delayed<A>] => Lent<Many<A>> = |v, p| Lent(many(v.iter().cloned(), p));
    {A: Clone + Send + Sync + 'static, const N: usize} &'static Vec<A>, [Delayed<A>; N] => Lent<Many<A>> = |v, p| Lent(many(v, p));
    {A: Clone + Send + Sync + 'static} &'static [A], Vec<Delayed<A>> => LentDeref<Many<A>> = |v, p| LentDeref(many(v, p));
    {A: Clone + Send + Sync + 'static} &'static [A], &Vec<Delayed<A>> => LentDeref<Many<A>> = |v, p| LentDeref(many(v.iter().cloned(), p));
    {A: Clone + Send + Sync + 'static} &'static [A], &[Delayed<A>] => LentDeref<Many<A>> = |v, p| LentDeref(many(v.iter().cloned(), p));
    {A: Clone + Send + Sync + 'static, const N: usize} &'static [A], [Delayed<A>; N] => LentDeref<Many<A>> = |v, p| LentDeref(many(v, p));

    {A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static}
        (A, B), (Delayed<A>, Delayed<B>) => Pair<A, B> = |v, p| pair(v.0, v.1, p);
    {A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static}
        (A, B), (&Delayed<A>, &Delayed<B>) => Pair<A, B> = |v, p| pair(v.0.clone(), v.1.clone(), p);
    {A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static}
        &'static (A, B), (Delayed<A>, Delayed<B>) => Lent<Pair<A, B>> = |v, p| Lent(pair(v.0, v.1, p));
    {A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static}
        &'static (A, B), (&Delayed<A>, &Delayed<B>) => Lent<Pair<A, B>> = |v, p| Lent(pair(v.0.clone(), v.1.clone(), p));
    {A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static, C: Clone + Send + Sync + 'static}
        (A, B, C), (Delayed<A>, Delayed<B>, Delayed<C>) => Triple<A, B, C> = |v, p| triple(v.0, v.1, v.2, p);
    {A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static, C: Clone + Send + Sync + 'static}
        (A, B, C), (&Delayed<A>, &Delayed<B>, &Delayed<C>) => Triple<A, B, C> = |v, p| triple(v.0.clone(), v.1.clone(), v.2.clone(), p);
    {A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static, C: Clone + Send + Sync + 'static}
        &'static (A, B, C), (Delayed<A>, Delayed<B>, Delayed<C>) => Lent<Triple<A, B, C>> = |v, p| Lent(triple(v.0, v.1, v.2, p));
    {A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static, C: Clone + Send + Sync + 'static}
        &'static (A, B, C), (&Delayed<A>, &Delayed<B>, &Delayed<C>) => Lent<Triple<A, B, C>> = |v, p| Lent(triple(v.0.clone(), v.1.clone(), v.2.clone(), p));

    {K: Clone + Eq + Hash + Send + Sync + 'static, V: Clone + Send + Sync + 'static, S: BuildHasher + Clone + Send + Sync + 'static}
        HashMap<K, V, S>, HashMap<K, Delayed<V>, S> => HashMapOf<K, V, S> = |v, p| hash_map_of(v, p);
    {K: Clone + Eq + Hash + Send + Sync + 'static, V: Clone + Send + Sync + 'static, S: BuildHasher + Clone + Send + Sync + 'static}
        HashMap<K, V, S>, &HashMap<K, Delayed<V>, S> => HashMapOf<K, V, S> = |v, p| hash_map_of_ref(v, p);
    {K: Clone + Eq + Hash + Send + Sync + 'static, V: Clone + Send + Sync + 'static, S: BuildHasher + Clone + Send + Sync + 'static}
        &'static HashMap<K, V, S>, HashMap<K, Delayed<V>, S> => Lent<HashMapOf<K, V, S>> = |v, p| Lent(hash_map_of(v, p));
    {K: Clone + Eq + Hash + Send + Sync + 'static, V: Clone + Send + Sync + 'static, S: BuildHasher + Clone + Send + Sync + 'static}
        &'static HashMap<K, V, S>, &HashMap<K, Delayed<V>, S> => Lent<HashMapOf<K, V, S>> = |v, p| Lent(hash_map_of_ref(v, p));
    {K: Clone + Ord + Send + Sync + 'static, V: Clone + Send + Sync + 'static}
        BTreeMap<K, V>, BTreeMap<K, Delayed<V>> => BTreeMapOf<K, V> = |v, p| btree_map_of(v, p);
    {K: Clone + Ord + Send + Sync + 'static, V: Clone + Send + Sync + 'static}
        BTreeMap<K, V>, &BTreeMap<K, Delayed<V>> => BTreeMapOf<K, V> = |v, p| btree_map_of_ref(v, p);
    {K: Clone + Ord + Send + Sync + 'static, V: Clone + Send + Sync + 'static}
        &'static BTreeMap<K, V>, BTreeMap<K, Delayed<V>> => Lent<BTreeMapOf<K, V>> = |v, p| Lent(btree_map_of(v, p));
    {K: Clone + Ord + Send + Sync + 'static, V: Clone + Send + Sync + 'static}
        &'static BTreeMap<K, V>, &BTreeMap<K, Delayed<V>> => Lent<BTreeMapOf<K, V>> = |v, p| Lent(btree_map_of_ref(v, p));
    {A: Clone + Send + Sync + 'static} Vec<Vec<A>>, Vec<Vec<Delayed<A>>> => Nested<A> = |v, p| nested(v, p);
    {A: Clone + Send + Sync + 'static} Vec<Vec<A>>, &Vec<Vec<Delayed<A>>> => Nested<A> = |v, p| nested_ref(v, p);
    {A: Clone + Send + Sync + 'static} &'static Vec<Vec<A>>, Vec<Vec<Delayed<A>>> => Lent<Nested<A>> = |v, p| Lent(nested(v, p));
    {A: Clone + Send + Sync + 'static} &'static Vec<Vec<A>>, &Vec<Vec<Delayed<A>>> => Lent<Nested<A>> = |v, p| Lent(nested_ref(v, p));
    {A: Clone + Send + Sync + 'static} &'static [Vec<A>], Vec<Vec<Delayed<A>>> => LentDeref<Nested<A>> = |v, p| LentDeref(nested(v, p));
    {A: Clone + Send + Sync + 'static} &'static [Vec<A>], &Vec<Vec<Delayed<A>>> => LentDeref<Nested<A>> = |v, p| LentDeref(nested_ref(v, p));
}

// ---- `delay!`: its arguments held where they were passed -------------------------

/// One of `delay!`'s arguments, held where its caller passed it (see [`hold1`]): lent
/// for the pure key, taken once into the node. Dropped untaken, it drops the value.
#[doc(hidden)]
pub struct Held<'a, T> {
    value: &'a mut ManuallyDrop<T>,
    taken: bool,
}

impl<'a, T> Held<'a, T> {
    /// The handle of `value`.
    ///
    /// # Safety
    /// `value` is read or dropped only through this handle from now on.
    #[inline(always)]
    unsafe fn new(value: &'a mut ManuallyDrop<T>) -> Self {
        Held {
            value,
            taken: false,
        }
    }

    /// The handle of a parameter, in its place.
    ///
    /// # Safety
    /// `value` is read or dropped only through this handle from now on: its owner never
    /// drops it (its type has no drop glue, or the owner forgets it once the handle
    /// has ended).
    #[inline(always)]
    unsafe fn in_place(value: &'a mut T) -> Self {
        let value = core::ptr::from_mut(value).cast::<ManuallyDrop<T>>();
        // SAFETY: `ManuallyDrop<T>` is `repr(transparent)` over `T`; the caller's
        // contract.
        unsafe { Held::new(&mut *value) }
    }

    /// The value, lent.
    #[inline(always)]
    pub fn get(&self) -> &T {
        self.value
    }

    /// The value, taken (once: the handle is consumed).
    #[inline(always)]
    pub fn take(mut self) -> T {
        self.taken = true;
        // SAFETY: not read again: this handle, the only way to it, ends here.
        unsafe { ManuallyDrop::take(self.value) }
    }
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        if !self.taken {
            // SAFETY: not taken, and this handle, the only way to it, ends here.
            unsafe { ManuallyDrop::drop(self.value) }
        }
    }
}

impl<T> std::fmt::Debug for Held<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

// `hold1(a, &mut |a| …)` … `hold12`: what `delay!` passes its arguments to, as a
// function's arguments, evaluated in order where the call is. A large value (2 MiB of
// `[u8; N]`) stays in the caller's place for it, its one copy there, as plain code's
// `f(big(1))` holds it, and is read from there into the node inside a run's stack
// room: `delay!`'s own code held each argument by value in the caller's frame, five
// copies in a debug build, which overflowed an 8 MiB `main` where plain code runs.
// Small values go straight on (through a `ManuallyDrop` each, which an optimised build
// does not keep).
macro_rules! hold_args {
    ($($name:ident: $($v:ident $ty:ident),+;)*) => {$(
        #[doc(hidden)]
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        pub fn $name<$($ty,)+ R>(
            $(mut $v: $ty,)+
            f: &mut dyn FnMut($(Held<'_, $ty>),+) -> R,
        ) -> R {
            if const { !crate::engine::sync::is_large::<($($ty,)+)>() } {
                $(let mut $v = ManuallyDrop::new($v);)+
                // SAFETY: each `ManuallyDrop` is read or dropped only through its handle.
                return f($(unsafe { Held::new(&mut $v) }),+);
            }
            // SAFETY: each parameter is read or dropped only through its handle: its
            // own drop does nothing (no drop glue), or it is forgotten below, once the
            // handles have ended.
            let mut held = Some(unsafe { ($(Held::in_place(&mut $v),)+) });
            let mut in_room = || {
                crate::engine::sync::with_room_for_run::<($($ty,)+), _>(|| {
                    let ($($v,)+) = held.take().expect("the room runs its closure once");
                    f($($v),+)
                })
            };
            if const { !core::mem::needs_drop::<($($ty,)+)>() } {
                return in_room();
            }
            // A value with drop glue: its handle takes or drops it, even when `f`
            // panics, and the parameter is forgotten (a `ManuallyDrop` of it here was a
            // copy more, which overflowed where plain code runs).
            let out = std::panic::catch_unwind(core::panic::AssertUnwindSafe(in_room));
            drop(held);
            $(core::mem::forget($v);)+
            match out {
                Ok(out) => out,
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
    )*};
}

hold_args! {
    hold1: a A;
    hold2: a A, b B;
    hold3: a A, b B, c C;
    hold4: a A, b B, c C, d D;
    hold5: a A, b B, c C, d D, e E;
    hold6: a A, b B, c C, d D, e E, g G;
    hold7: a A, b B, c C, d D, e E, g G, h H;
    hold8: a A, b B, c C, d D, e E, g G, h H, i I;
    hold9: a A, b B, c C, d D, e E, g G, h H, i I, j J;
    hold10: a A, b B, c C, d D, e E, g G, h H, i I, j J, k K;
    hold11: a A, b B, c C, d D, e E, g G, h H, i I, j J, k K, l L;
    hold12: a A, b B, c C, d D, e E, g G, h H, i I, j J, k K, l L, m M;
}

// ---- `delay!`: which kind of argument, chosen by autoref specialization ----------
//
// `delay!` does not know its arguments' types, so it calls
// `(&&&&Wrap::new(arg)).__arg(&mut parents)`: method lookup tries `&self` of
// `&&&Wrap<X>` (nodes), then of `&&Wrap<X>` (collections and maps of nodes), then of
// `&Wrap<X>` (nested `Vec`s of nodes), then of `Wrap<X>` (constants), and the first
// trait implemented for the argument's type wins. Nested `Vec`s have a level of their
// own: beside `Vec<Delayed<T>>` in one trait, an argument whose element type is not
// known yet (`Vec::new()`, taken by a `Vec<T>` parameter) would match both impls.

/// An argument on its way into a task (see `delay!`).
pub struct Wrap<T>(Cell<Option<T>>);

impl<T> Wrap<T> {
    /// Wraps an argument.
    pub fn new(value: T) -> Self {
        Wrap(Cell::new(Some(value)))
    }

    pub(crate) fn take(&self) -> T {
        match self.0.take() {
            Some(value) => value,
            None => unreachable!("an argument is converted once"),
        }
    }
}

/// `Delayed<T>` and `&Delayed<T>` arguments.
pub trait ViaNode {
    /// The argument kept by the task.
    type Arg;
    /// Converts the argument.
    fn __arg(&self, parents: &mut Parents) -> Self::Arg;
}

impl<T: Send + Sync + 'static> ViaNode for &&&Wrap<Delayed<T>> {
    type Arg = NodeRef<T>;
    fn __arg(&self, parents: &mut Parents) -> NodeRef<T> {
        node_ref(self.take(), parents)
    }
}

impl<T: Send + Sync + 'static> ViaNode for &&&Wrap<&Delayed<T>> {
    type Arg = NodeRef<T>;
    fn __arg(&self, parents: &mut Parents) -> NodeRef<T> {
        node_ref(self.take().clone(), parents)
    }
}

/// Collections and maps of nodes.
pub trait ViaMany {
    /// The argument kept by the task.
    type Arg;
    /// Converts the argument.
    fn __arg(&self, parents: &mut Parents) -> Self::Arg;
}

impl<T: Clone + Send + Sync + 'static> ViaMany for &&Wrap<Vec<Delayed<T>>> {
    type Arg = Many<T>;
    fn __arg(&self, parents: &mut Parents) -> Many<T> {
        many(self.take(), parents)
    }
}

impl<T: Clone + Send + Sync + 'static> ViaMany for &&Wrap<&Vec<Delayed<T>>> {
    type Arg = Many<T>;
    fn __arg(&self, parents: &mut Parents) -> Many<T> {
        many(self.take().iter().cloned(), parents)
    }
}

impl<T: Clone + Send + Sync + 'static> ViaMany for &&Wrap<&[Delayed<T>]> {
    type Arg = Many<T>;
    fn __arg(&self, parents: &mut Parents) -> Many<T> {
        many(self.take().iter().cloned(), parents)
    }
}

impl<T: Clone + Send + Sync + 'static, const N: usize> ViaMany for &&Wrap<[Delayed<T>; N]> {
    type Arg = Many<T>;
    fn __arg(&self, parents: &mut Parents) -> Many<T> {
        many(self.take(), parents)
    }
}

impl<A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static> ViaMany
    for &&Wrap<(Delayed<A>, Delayed<B>)>
{
    type Arg = Pair<A, B>;
    fn __arg(&self, parents: &mut Parents) -> Pair<A, B> {
        let (a, b) = self.take();
        pair(a, b, parents)
    }
}

impl<A: Clone + Send + Sync + 'static, B: Clone + Send + Sync + 'static> ViaMany
    for &&Wrap<(&Delayed<A>, &Delayed<B>)>
{
    type Arg = Pair<A, B>;
    fn __arg(&self, parents: &mut Parents) -> Pair<A, B> {
        let (a, b) = self.take();
        pair(a.clone(), b.clone(), parents)
    }
}

impl<A, B, C> ViaMany for &&Wrap<(Delayed<A>, Delayed<B>, Delayed<C>)>
where
    A: Clone + Send + Sync + 'static,
    B: Clone + Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
{
    type Arg = Triple<A, B, C>;
    fn __arg(&self, parents: &mut Parents) -> Triple<A, B, C> {
        let (a, b, c) = self.take();
        triple(a, b, c, parents)
    }
}

impl<A, B, C> ViaMany for &&Wrap<(&Delayed<A>, &Delayed<B>, &Delayed<C>)>
where
    A: Clone + Send + Sync + 'static,
    B: Clone + Send + Sync + 'static,
    C: Clone + Send + Sync + 'static,
{
    type Arg = Triple<A, B, C>;
    fn __arg(&self, parents: &mut Parents) -> Triple<A, B, C> {
        let (a, b, c) = self.take();
        triple(a.clone(), b.clone(), c.clone(), parents)
    }
}

impl<K, V, S> ViaMany for &&Wrap<HashMap<K, Delayed<V>, S>>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    type Arg = HashMapOf<K, V, S>;
    fn __arg(&self, parents: &mut Parents) -> HashMapOf<K, V, S> {
        hash_map_of(self.take(), parents)
    }
}

impl<K, V, S> ViaMany for &&Wrap<&HashMap<K, Delayed<V>, S>>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    type Arg = HashMapOf<K, V, S>;
    fn __arg(&self, parents: &mut Parents) -> HashMapOf<K, V, S> {
        hash_map_of_ref(self.take(), parents)
    }
}

impl<K, V> ViaMany for &&Wrap<BTreeMap<K, Delayed<V>>>
where
    K: Clone + Ord + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    type Arg = BTreeMapOf<K, V>;
    fn __arg(&self, parents: &mut Parents) -> BTreeMapOf<K, V> {
        btree_map_of(self.take(), parents)
    }
}

impl<K, V> ViaMany for &&Wrap<&BTreeMap<K, Delayed<V>>>
where
    K: Clone + Ord + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    type Arg = BTreeMapOf<K, V>;
    fn __arg(&self, parents: &mut Parents) -> BTreeMapOf<K, V> {
        btree_map_of_ref(self.take(), parents)
    }
}

impl<T: Clone + Send + Sync + 'static> ViaNested for &Wrap<Vec<Vec<Delayed<T>>>> {
    type Arg = Nested<T>;
    fn __arg(&self, parents: &mut Parents) -> Nested<T> {
        nested(self.take(), parents)
    }
}

impl<T: Clone + Send + Sync + 'static> ViaNested for &Wrap<&Vec<Vec<Delayed<T>>>> {
    type Arg = Nested<T>;
    fn __arg(&self, parents: &mut Parents) -> Nested<T> {
        nested_ref(self.take(), parents)
    }
}

/// Nested `Vec`s of nodes, tried after [`ViaMany`]: an argument whose element type is
/// not known yet (`Vec::new()`) stays a `Vec` of nodes, as it was.
pub trait ViaNested {
    /// The argument kept by the task.
    type Arg;
    /// Converts the argument.
    fn __arg(&self, parents: &mut Parents) -> Self::Arg;
}

/// Plain values.
pub trait ViaConst {
    /// The argument kept by the task.
    type Arg;
    /// Converts the argument.
    fn __arg(&self, parents: &mut Parents) -> Self::Arg;
}

impl<T: Send + Sync + 'static> ViaConst for Wrap<T> {
    type Arg = Const<T>;
    fn __arg(&self, _parents: &mut Parents) -> Const<T> {
        Const(self.take())
    }
}

// ---- remote calls: what each argument of `delay!` is -----------------------------
//
// `delay!` asks each converted argument for its shape, by the same autoref
// specialization: `(&&&Describe(&arg)).__shape()` tries nodes and collections of nodes,
// then values, then anything else. A `#[delayed(remote)]` function's companion turns the
// shapes into its call's description (values encoded); every other companion ignores
// them, so a local task pays nothing.

/// What one argument of a `delay!` call is, for a remote task's description.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum ArgShape<'a> {
    /// Another node's result.
    Node,
    /// That many nodes' results, as one `Vec`.
    Many(usize),
    /// A value.
    Const(&'a (dyn std::any::Any + Send + Sync)),
    /// Anything else (a tuple of nodes, a future): its kind's type.
    Other(&'static str),
}

impl std::fmt::Debug for ArgShape<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgShape::Node => f.write_str("Node"),
            ArgShape::Many(n) => write!(f, "Many({n})"),
            ArgShape::Const(_) => f.write_str("Const(..)"),
            ArgShape::Other(kind) => write!(f, "Other({kind})"),
        }
    }
}

/// A converted argument asked for its [`ArgShape`] (see `delay!`).
#[doc(hidden)]
#[derive(Debug)]
pub struct Describe<'a, K>(pub &'a K);

/// Nodes and collections of nodes.
#[doc(hidden)]
pub trait ShapeOfNode<'a> {
    /// The argument's shape.
    fn __shape(&self) -> ArgShape<'a>;
}

impl<'a, T> ShapeOfNode<'a> for &&Describe<'a, NodeRef<T>> {
    fn __shape(&self) -> ArgShape<'a> {
        ArgShape::Node
    }
}

impl<'a, T> ShapeOfNode<'a> for &&Describe<'a, Many<T>> {
    fn __shape(&self) -> ArgShape<'a> {
        ArgShape::Many(self.0.len)
    }
}

/// Values.
#[doc(hidden)]
pub trait ShapeOfConst<'a> {
    /// The argument's shape.
    fn __shape(&self) -> ArgShape<'a>;
}

impl<'a, T: Send + Sync + 'static> ShapeOfConst<'a> for &Describe<'a, Const<T>> {
    fn __shape(&self) -> ArgShape<'a> {
        ArgShape::Const(&self.0 .0)
    }
}

/// Any other kind of argument.
#[doc(hidden)]
pub trait ShapeOfOther<'a> {
    /// The argument's shape.
    fn __shape(&self) -> ArgShape<'a>;
}

impl<'a, K> ShapeOfOther<'a> for Describe<'a, K> {
    fn __shape(&self) -> ArgShape<'a> {
        ArgShape::Other(std::any::type_name::<K>())
    }
}

// ---- pure keys ---------------------------------------------------------------------
//
// A pure call's key is made of its arguments' keys, taken from the values passed (before
// they become `NodeRef`/`Many`/`Const`), so that a missing key is reported on the type
// the caller wrote. `Hash` types and floats cannot share one blanket impl (std may make
// `f64: Hash` one day, so coherence refuses both), hence the marker `M`: each argument's
// marker is inferred from the one impl that applies.

/// How [`PureKey`] keys a `Hash` value: by its hash (and its type).
#[derive(Debug, Clone, Copy, Default)]
pub struct ByHash;
/// How [`PureKey`] keys a float, or a `Vec`, `Option` or array of floats: by the exact
/// bits (and the type), as Dask tokenizes floats.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByBits;
/// How [`PureKey`] keys a `Delayed` or a collection of them: by the nodes' keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByNode;

/// A value that can be an argument of a pure task (`#[delayed(pure)]`,
/// `delayed(f).pure()`): its key is part of the call's key, so equal keys make one node.
///
/// Implemented for every `Hash` type (keyed by its type and hash; a borrow `&x` as `x`,
/// so a borrowed future `&future` is keyed by its task as `future` is), for `f32`,
/// `f64` and `Vec`s, `Option`s, arrays and tuples (of 2 to 4) of them (keyed by their
/// type and exact bits:
/// `-0.0` and `0.0` are different keys, and a NaN equals only a NaN with the same bits),
/// and for `Delayed<T>`, `&Delayed<T>`, collections of them (a `Vec`, slice, array,
/// nested `Vec`, or a `HashMap` or `BTreeMap` with `Hash` keys) and pairs and triples of
/// them (keyed by the nodes' keys; a map by its entries, in any order). `M` is
/// inferred; it only tells the three kinds apart.
///
/// Equal keys are taken as equal arguments: the value itself is not compared. A `Hash`
/// that leaves out part of the value (legal for `Hash`) makes two calls that differ
/// only there one node; hash the whole value, or pass the part the result depends on.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a pure task's argument: pure calls are keyed by their arguments, and `{Self}` is neither `Hash` nor a float",
    label = "not `Hash`, so a pure call cannot be keyed by it",
    note = "derive `Hash` for `{Self}` (or pass a `Hash` part of it), or drop `pure`"
)]
pub trait PureKey<M> {
    /// Feeds the argument's key to a pure call's key.
    fn pure_key(&self, hasher: &mut dyn Hasher);
}

// Not `T: 'static`: a borrow (`&future`, `&key`) is keyed as what it borrows, which
// `Hash` for references already does. A second impl for borrows (by another marker)
// would make the marker of every `&T` ambiguous, since impls are chosen before
// lifetimes are checked.
impl<T: Hash> PureKey<ByHash> for T {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        let mut inner = std::collections::hash_map::DefaultHasher::new();
        // Equal bytes of another type (`true` and `1u8`) are another argument.
        type_tag::<T>().hash(&mut inner);
        self.hash(&mut inner);
        hasher.write_u64(inner.finish());
    }
}

/// The type part of a `Hash` argument's key: its type's name, less any leading
/// borrows, so that `&x` and `x` are one argument as their hashes are. A name, not a
/// `TypeId`, which needs `T: 'static`; two types of one name (two versions of one
/// crate) would differ only where their hashes coincide too.
fn type_tag<T: ?Sized>() -> &'static str {
    let mut name = std::any::type_name::<T>();
    while let Some(rest) = name.strip_prefix('&') {
        name = rest.strip_prefix("mut ").unwrap_or(rest);
    }
    name
}

// Not recommended in errors (nor the node impls below): a value with no key is then
// reported as not `Hash`, with the fix the compiler suggests for it (derive `Hash`).
#[diagnostic::do_not_recommend]
impl<T: FloatKey + 'static> PureKey<ByBits> for T {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        let mut inner = std::collections::hash_map::DefaultHasher::new();
        std::any::TypeId::of::<T>().hash(&mut inner);
        self.feed_bits(&mut inner);
        hasher.write_u64(inner.finish());
    }
}

/// Floats and collections of them, keyed by their exact bits (see [`PureKey`]). Not
/// `Hash` types: those are keyed [`ByHash`], and a type that were both would make the
/// marker ambiguous.
pub trait FloatKey {
    /// Feeds the value's bits.
    fn feed_bits(&self, hasher: &mut dyn Hasher);
}

impl FloatKey for f64 {
    fn feed_bits(&self, hasher: &mut dyn Hasher) {
        hasher.write_u64(self.to_bits());
    }
}

impl FloatKey for f32 {
    fn feed_bits(&self, hasher: &mut dyn Hasher) {
        hasher.write_u32(self.to_bits());
    }
}

impl<T: FloatKey> FloatKey for Vec<T> {
    fn feed_bits(&self, hasher: &mut dyn Hasher) {
        // The length first: `[[1.0], []]` and `[[], [1.0]]` are different.
        hasher.write_usize(self.len());
        for item in self {
            item.feed_bits(hasher);
        }
    }
}

impl<T: FloatKey, const N: usize> FloatKey for [T; N] {
    fn feed_bits(&self, hasher: &mut dyn Hasher) {
        for item in self {
            item.feed_bits(hasher);
        }
    }
}

/// Tuples of floats (or of collections of them), as Dask tokenizes `(1.0, 2.0)`.
macro_rules! float_key_of_tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: FloatKey),+> FloatKey for ($($t,)+) {
            fn feed_bits(&self, hasher: &mut dyn Hasher) {
                $(self.$i.feed_bits(hasher);)+
            }
        }
    };
}
float_key_of_tuple!(A 0, B 1);
float_key_of_tuple!(A 0, B 1, C 2);
float_key_of_tuple!(A 0, B 1, C 2, D 3);

impl<T: FloatKey> FloatKey for Option<T> {
    fn feed_bits(&self, hasher: &mut dyn Hasher) {
        match self {
            None => hasher.write_u8(0),
            Some(value) => {
                hasher.write_u8(1);
                value.feed_bits(hasher);
            }
        }
    }
}

#[diagnostic::do_not_recommend]
impl<T> PureKey<ByNode> for Delayed<T> {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        hasher.write_u64(self.node.meta().key);
    }
}

#[diagnostic::do_not_recommend]
impl<T> PureKey<ByNode> for &Delayed<T> {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        (*self).pure_key(hasher);
    }
}

#[diagnostic::do_not_recommend]
impl<T> PureKey<ByNode> for [Delayed<T>] {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        // The length first, as `Hash` for slices: `f(vec![x, y], vec![z])` and
        // `f(vec![x], vec![y, z])` are two calls.
        hasher.write_usize(self.len());
        for item in self {
            item.pure_key(hasher);
        }
    }
}

#[diagnostic::do_not_recommend]
impl<T> PureKey<ByNode> for &[Delayed<T>] {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        (**self).pure_key(hasher);
    }
}

#[diagnostic::do_not_recommend]
impl<T> PureKey<ByNode> for Vec<Delayed<T>> {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        self.as_slice().pure_key(hasher);
    }
}

#[diagnostic::do_not_recommend]
impl<T> PureKey<ByNode> for &Vec<Delayed<T>> {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        self.as_slice().pure_key(hasher);
    }
}

#[diagnostic::do_not_recommend]
impl<T, const N: usize> PureKey<ByNode> for [Delayed<T>; N] {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        self.as_slice().pure_key(hasher);
    }
}

// A pair or a triple of nodes (the tuple arguments `IntoArg` takes): keyed by its
// nodes' keys, after a tag and its length, so that it is not the key of a `Vec` of the
// same nodes.
macro_rules! pure_key_of_node_tuple {
    ($len:literal: $($t:ident $i:tt),*) => {
        #[diagnostic::do_not_recommend]
        impl<$($t),*> PureKey<ByNode> for ($(Delayed<$t>,)*) {
            fn pure_key(&self, hasher: &mut dyn Hasher) {
                hasher.write_u8(b'(');
                hasher.write_usize($len);
                $(self.$i.pure_key(hasher);)*
            }
        }

        #[diagnostic::do_not_recommend]
        impl<$($t),*> PureKey<ByNode> for ($(&Delayed<$t>,)*) {
            fn pure_key(&self, hasher: &mut dyn Hasher) {
                hasher.write_u8(b'(');
                hasher.write_usize($len);
                $(self.$i.pure_key(hasher);)*
            }
        }
    };
}
pure_key_of_node_tuple!(2: A 0, B 1);
pure_key_of_node_tuple!(3: A 0, B 1, C 2);

/// The key of a map argument of a pure call: each entry's key hashed with its value's
/// number (a node's key, a future's task) alone, and the entries summed, so that equal
/// maps key alike whatever their order (a `HashMap`'s differs between two equal maps).
pub(crate) fn map_key<'a, K: Hash + 'a>(
    entries: impl ExactSizeIterator<Item = (&'a K, u64)>,
    hasher: &mut dyn Hasher,
) {
    hasher.write_u8(b'm');
    hasher.write_usize(entries.len());
    let entry_hasher =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    let sum = entries.fold(0_u64, |sum, (key, number)| {
        let mut entry = entry_hasher.build_hasher();
        key.hash(&mut entry);
        entry.write_u64(number);
        sum.wrapping_add(entry.finish())
    });
    hasher.write_u64(sum);
}

// Maps of nodes: keyed by their keys' hashes and their nodes' keys (see `map_key`).
#[diagnostic::do_not_recommend]
impl<K: Hash, V, S> PureKey<ByNode> for HashMap<K, Delayed<V>, S> {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        map_key(self.iter().map(|(k, v)| (k, v.node.meta().key)), hasher);
    }
}

#[diagnostic::do_not_recommend]
impl<K: Hash, V, S> PureKey<ByNode> for &HashMap<K, Delayed<V>, S> {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        (**self).pure_key(hasher);
    }
}

#[diagnostic::do_not_recommend]
impl<K: Hash, V> PureKey<ByNode> for BTreeMap<K, Delayed<V>> {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        map_key(self.iter().map(|(k, v)| (k, v.node.meta().key)), hasher);
    }
}

#[diagnostic::do_not_recommend]
impl<K: Hash, V> PureKey<ByNode> for &BTreeMap<K, Delayed<V>> {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        (**self).pure_key(hasher);
    }
}

// Nested `Vec`s of nodes: a tag, the number of rows, then each row as a `Vec` of nodes
// (its length, its nodes' keys), so that `[[x, y], [z]]` and `[[x], [y, z]]` differ.
#[diagnostic::do_not_recommend]
impl<T> PureKey<ByNode> for Vec<Vec<Delayed<T>>> {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        hasher.write_u8(b'w');
        hasher.write_usize(self.len());
        for row in self {
            row.pure_key(hasher);
        }
    }
}

#[diagnostic::do_not_recommend]
impl<T> PureKey<ByNode> for &Vec<Vec<Delayed<T>>> {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        (**self).pure_key(hasher);
    }
}

/// The key part of one argument of a pure call: what `delay!` of a `#[delayed(pure)]`
/// function calls, through the function's companion type.
pub fn pure_arg_key<A: PureKey<M> + ?Sized, M>(arg: &A, hasher: &mut dyn Hasher) {
    arg.pure_key(hasher);
}

// ---- the explicit form's call: a chain of bounds, one argument at a time ----------
//
// `delayed(f).call(a, b)` needs `F: for<'s> Fn(<A as PassArg>::Param<'s>, …) -> R`
// with `A` the kept argument of `a`. Written on `call` itself, rustc checks that bound
// before it knows the arguments' types and, for a function known only by a bound (an
// `impl Fn`, a generic `F`), fails instead of waiting. So `call` asks the first
// argument's kind for `Chain`, which asks the next, and so on: an obligation on a type
// not known yet waits, and the `Fn` bound is checked last, with every type known.

/// How `delayed(f).call(…)` calls `f`: `Self` is the next argument's kind, `Before`
/// the kinds already seen (last first, as `(P2, (P1, ()))`), `After` those still to
/// come (`(P3, (P4, ()))`), `Args` all of them as the task keeps them.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the function cannot be called with these arguments",
    label = "the arguments of this call",
    note = "each argument must match its parameter: see `taskweave::IntoArg` for what each parameter takes"
)]
pub trait Chain<F, R, Args, Before, After> {
    /// Calls `f` with the arguments' values for one run.
    fn call_with(args: &Args, f: &F, env: &Env<'_>) -> R;
}

impl<F, R, Args, Before, P, Next, Rest> Chain<F, R, Args, Before, (Next, Rest)> for P
where
    Next: Chain<F, R, Args, (P, Before), Rest>,
{
    #[inline(always)]
    fn call_with(args: &Args, f: &F, env: &Env<'_>) -> R {
        Next::call_with(args, f, env)
    }
}

/// The first argument's kind in [`Chain`] for a function of no arguments.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NoArgs;

impl<F: Fn() -> R, R> Chain<F, R, (), (), ()> for NoArgs {
    #[inline(always)]
    fn call_with(_args: &(), f: &F, _env: &Env<'_>) -> R {
        f()
    }
}

macro_rules! chain_last {
    ($last:ident; $before:ty; $($p:ident $i:tt),*) => {
        impl<F, R, $($p: PassArg),*> Chain<F, R, ($($p,)*), $before, ()> for $last
        where
            F: for<'s> Fn($($p::Param<'s>),*) -> R,
        {
            #[inline(always)]
            #[allow(non_snake_case)]
            fn call_with(args: &($($p,)*), f: &F, env: &Env<'_>) -> R {
                // Stack room for the arguments' values, which the reads and the call
                // hold by value (the task's run has room for its result).
                let size = 0 $(+ core::mem::size_of::<$p::Param<'static>>())*;
                crate::engine::sync::with_room(size, || {
                    let mut cursor = 0usize;
                    // Every argument's handle first, then the call: a lent argument
                    // borrows its handle for the call.
                    $(#[allow(unused_mut)] let mut $p = $p::hold(&args.$i, env, &mut cursor);)*
                    f($($p::pass(&mut $p)),*)
                })
            }
        }
    };
}

chain_last!(A; (); A 0);
chain_last!(B; (A, ()); A 0, B 1);
chain_last!(C; (B, (A, ())); A 0, B 1, C 2);
chain_last!(D; (C, (B, (A, ()))); A 0, B 1, C 2, D 3);
chain_last!(E; (D, (C, (B, (A, ())))); A 0, B 1, C 2, D 3, E 4);
chain_last!(G; (E, (D, (C, (B, (A, ()))))); A 0, B 1, C 2, D 3, E 4, G 5);

/// How `delayed(f).retries(n).call(…)` calls `f`: as [`Chain`], but every argument is
/// read once and passed again (see [`RetryArg`]) to each attempt but the last, which
/// runs inside `catch_unwind`; the last attempt takes the arguments as [`Chain`] does,
/// and its panic is the task's.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the retried function cannot be called with these arguments",
    label = "the arguments of this call",
    note = "each argument must match its parameter (see `taskweave::IntoArg`), and a retried task needs `Clone` arguments (by-value) or borrowed parameters (`&T`, `&[T]`, `&str`)"
)]
pub trait RetryChain<F, R, Args, Before, After> {
    /// Calls `f` with the arguments' values for one run, up to `1 + retries` times.
    fn call_with_retries(args: &Args, f: &F, env: &Env<'_>, retries: u32) -> R;
}

impl<F, R, Args, Before, P, Next, Rest> RetryChain<F, R, Args, Before, (Next, Rest)> for P
where
    Next: RetryChain<F, R, Args, (P, Before), Rest>,
{
    #[inline(always)]
    fn call_with_retries(args: &Args, f: &F, env: &Env<'_>, retries: u32) -> R {
        Next::call_with_retries(args, f, env, retries)
    }
}

impl<F: Fn() -> R, R> RetryChain<F, R, (), (), ()> for NoArgs {
    fn call_with_retries(_args: &(), f: &F, _env: &Env<'_>, retries: u32) -> R {
        for _ in 0..retries {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(value) => return value,
                Err(payload) => retry_after(payload),
            }
        }
        f()
    }
}

macro_rules! retry_chain_last {
    ($last:ident; $before:ty; $($p:ident $i:tt),*) => {
        impl<F, R, $($p: RetryArg),*> RetryChain<F, R, ($($p,)*), $before, ()> for $last
        where
            F: for<'s> Fn($($p::Param<'s>),*) -> R,
        {
            #[allow(non_snake_case)]
            fn call_with_retries(args: &($($p,)*), f: &F, env: &Env<'_>, retries: u32) -> R {
                // Stack room for the arguments' values (see `Chain`'s).
                let size = 0 $(+ core::mem::size_of::<$p::Param<'static>>())*;
                // (A `return` in the closure returns its value.)
                crate::engine::sync::with_room(size, || {
                    let mut cursor = 0usize;
                    // Every argument is read once, for all the attempts.
                    $(#[allow(unused_mut)] let mut $p = $p::hold(&args.$i, env, &mut cursor);)*
                    for _ in 0..retries {
                        // Cloning an argument may panic too: that is an attempt's panic.
                        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            f($($p::pass_again(&mut $p)),*)
                        }));
                        match attempt {
                            Ok(value) => return value,
                            Err(payload) => retry_after(payload),
                        }
                    }
                    // The last attempt: it takes the arguments, and its panic is the task's.
                    f($($p::pass(&mut $p)),*)
                })
            }
        }
    };
}

retry_chain_last!(A; (); A 0);
retry_chain_last!(B; (A, ()); A 0, B 1);
retry_chain_last!(C; (B, (A, ())); A 0, B 1, C 2);
retry_chain_last!(D; (C, (B, (A, ()))); A 0, B 1, C 2, D 3);
retry_chain_last!(E; (D, (C, (B, (A, ())))); A 0, B 1, C 2, D 3, E 4);
retry_chain_last!(G; (E, (D, (C, (B, (A, ()))))); A 0, B 1, C 2, D 3, E 4, G 5);

impl std::fmt::Debug for Parents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parents")
            .field("nodes", &self.nodes.as_slice().len())
            .field("awaited", &self.awaited.len())
            .finish_non_exhaustive()
    }
}

impl<K> std::fmt::Debug for Lent<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lent").finish_non_exhaustive()
    }
}

impl<K> std::fmt::Debug for LentDeref<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LentDeref").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for NodeRef<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRef").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Many<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Many").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Const<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Const").finish_non_exhaustive()
    }
}

impl<A, B> std::fmt::Debug for Pair<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair").finish_non_exhaustive()
    }
}

impl<A, B, C> std::fmt::Debug for Triple<A, B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triple").finish_non_exhaustive()
    }
}

impl<K, V, S> std::fmt::Debug for HashMapOf<K, V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashMapOf")
            .field("len", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl<K, V> std::fmt::Debug for BTreeMapOf<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BTreeMapOf")
            .field("len", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Nested<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nested")
            .field("lens", &self.lens)
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Wrap<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wrap").finish_non_exhaustive()
    }
}

// ---- `delay!` with more arguments than the function has parameters -----------------

/// One reader of [`SurplusArgs`] per name: the argument's value type (so that rustc's
/// arity error shows the type the user passed), never produced.
macro_rules! surplus_readers {
    ($($reader:ident)*) => {$(
        /// The reader of an argument the function has no parameter for.
        #[doc(hidden)]
        fn $reader<S: slot::Lend + ?Sized>(&self, _source: &mut S, _last: bool) -> S::Target
        where
            S::Target: Sized,
        {
            unreachable!("a call with an argument too many does not compile")
        }
    )*};
}

/// Readers of the arguments a `#[delayed]` function has no parameter for.
///
/// `delay!(f(a, b))` reads argument `i` through the companion's method `__arg{i}`,
/// which `#[delayed]` defines once per parameter. With an argument too many, the companion has no reader
/// for it; this trait, implemented for every type and in scope in `delay!`'s expansion,
/// gives one (a companion's own readers come first), so that the call of `f` itself is
/// what fails, with rustc's "this function takes 1 argument but 2 arguments were
/// supplied" on the call, and no error names the readers. Never run: code that needs it
/// does not compile.
pub trait SurplusArgs {
    surplus_readers!(
        __arg0 __arg1 __arg2 __arg3 __arg4 __arg5 __arg6 __arg7 __arg8 __arg9 __arg10 __arg11
        __arg12 __arg13 __arg14 __arg15 __arg16 __arg17 __arg18 __arg19 __arg20 __arg21
        __arg22 __arg23 __arg24 __arg25 __arg26 __arg27 __arg28 __arg29 __arg30 __arg31
    );
}

impl<T: ?Sized> SurplusArgs for T {}
