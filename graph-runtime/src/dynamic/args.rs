//! Arguments of dynamic tasks: other nodes, collections of nodes, plain values.
//!
//! Building a task moves each argument's nodes into the task's parent list and keeps
//! only a typed marker in the closure, which reads the values from the arena through
//! the same `Give`/`Lend` handles as static graphs.

use core::marker::PhantomData;
use std::cell::Cell;
use std::hash::{Hash, Hasher};

use super::{Delayed, Env, ParentList};
use crate::slot::{self, Shared, Value};

/// The nodes a task reads, collected while its arguments are converted.
#[derive(Default)]
pub struct Parents {
    pub(crate) nodes: ParentList,
}

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

/// An argument a function takes by value (the explicit form, `delayed(f).call(…)`).
pub trait GiveArg: Arg {
    /// The value for one run: moved out of its slot when this is its last use,
    /// cloned otherwise.
    fn give_value(&self, env: &Env<'_>, cursor: &mut usize) -> Self::Target;
}

impl<T: Clone + Send + Sync + 'static> GiveArg for NodeRef<T> {
    fn give_value(&self, env: &Env<'_>, cursor: &mut usize) -> T {
        slot::give(&mut self.source(env, cursor))
    }
}

impl<T: Clone + Send + Sync + 'static> GiveArg for Many<T> {
    fn give_value(&self, env: &Env<'_>, cursor: &mut usize) -> Vec<T> {
        slot::give(&mut self.source(env, cursor))
    }
}

impl<T: Clone + Send + Sync + 'static> GiveArg for Const<T> {
    fn give_value(&self, env: &Env<'_>, cursor: &mut usize) -> T {
        slot::give(&mut self.source(env, cursor))
    }
}

/// What a value passed to a task becomes: `Delayed<T>` and `&Delayed<T>` a node,
/// `Vec<Delayed<T>>` a collection arriving as `Vec<T>`, anything else a constant.
pub trait IntoArg<A> {
    /// The argument kept by the task.
    type Arg: Arg<Target = A>;
    /// Moves the argument's nodes into `parents`.
    fn into_arg(self, parents: &mut Parents) -> Self::Arg;
}

/// Another node's result.
pub struct NodeRef<T> {
    _value: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static> Arg for NodeRef<T> {
    type Target = T;
    type Source<'a> = Shared<'a, T>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> Shared<'a, T> {
        env.input::<T>(cursor).shared()
    }
}

/// A collection of nodes, given to the task as a `Vec<T>` (or lent as `&[T]`).
pub struct Many<T> {
    len: usize,
    _value: PhantomData<fn() -> T>,
}

impl<T: Clone + Send + Sync + 'static> Arg for Many<T> {
    type Target = Vec<T>;
    type Source<'a> = Value<Vec<T>>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> Value<Vec<T>> {
        let items = (0..self.len)
            .map(|_| slot::give(&mut env.input::<T>(cursor).shared()))
            .collect();
        Value::new(items)
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

fn node_ref<T>(delayed: &Delayed<T>, parents: &mut Parents) -> NodeRef<T> {
    parents.nodes.push(delayed.node.clone());
    NodeRef {
        _value: PhantomData,
    }
}

fn many<'d, T: 'd>(
    items: impl IntoIterator<Item = &'d Delayed<T>>,
    parents: &mut Parents,
) -> Many<T> {
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

impl<A: Send + Sync + 'static> IntoArg<A> for A {
    type Arg = Const<A>;
    fn into_arg(self, _parents: &mut Parents) -> Const<A> {
        Const(self)
    }
}

impl<A: Send + Sync + 'static> IntoArg<A> for Delayed<A> {
    type Arg = NodeRef<A>;
    fn into_arg(self, parents: &mut Parents) -> NodeRef<A> {
        node_ref(&self, parents)
    }
}

impl<A: Send + Sync + 'static> IntoArg<A> for &Delayed<A> {
    type Arg = NodeRef<A>;
    fn into_arg(self, parents: &mut Parents) -> NodeRef<A> {
        node_ref(self, parents)
    }
}

impl<A: Clone + Send + Sync + 'static> IntoArg<Vec<A>> for Vec<Delayed<A>> {
    type Arg = Many<A>;
    fn into_arg(self, parents: &mut Parents) -> Many<A> {
        many(&self, parents)
    }
}

impl<A: Clone + Send + Sync + 'static> IntoArg<Vec<A>> for &[Delayed<A>] {
    type Arg = Many<A>;
    fn into_arg(self, parents: &mut Parents) -> Many<A> {
        many(self, parents)
    }
}

impl<A: Clone + Send + Sync + 'static> IntoArg<Vec<A>> for &Vec<Delayed<A>> {
    type Arg = Many<A>;
    fn into_arg(self, parents: &mut Parents) -> Many<A> {
        many(self, parents)
    }
}

// ---- `delay!`: which kind of argument, chosen by autoref specialization ----------
//
// `delay!` does not know its arguments' types, so it calls
// `(&&&Wrap::new(arg)).__arg(&mut parents)`: method lookup tries `&self` of
// `&&Wrap<X>` (nodes), then of `&Wrap<X>` (collections of nodes), then of `Wrap<X>`
// (constants), and the first trait implemented for the argument's type wins.

/// An argument on its way into a task (see `delay!`).
pub struct Wrap<T>(Cell<Option<T>>);

impl<T> Wrap<T> {
    /// Wraps an argument.
    pub fn new(value: T) -> Self {
        Wrap(Cell::new(Some(value)))
    }

    fn take(&self) -> T {
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

impl<T: Send + Sync + 'static> ViaNode for &&Wrap<Delayed<T>> {
    type Arg = NodeRef<T>;
    fn __arg(&self, parents: &mut Parents) -> NodeRef<T> {
        node_ref(&self.take(), parents)
    }
}

impl<T: Send + Sync + 'static> ViaNode for &&Wrap<&Delayed<T>> {
    type Arg = NodeRef<T>;
    fn __arg(&self, parents: &mut Parents) -> NodeRef<T> {
        node_ref(self.take(), parents)
    }
}

/// Collections of nodes.
pub trait ViaMany {
    /// The argument kept by the task.
    type Arg;
    /// Converts the argument.
    fn __arg(&self, parents: &mut Parents) -> Self::Arg;
}

impl<T: Clone + Send + Sync + 'static> ViaMany for &Wrap<Vec<Delayed<T>>> {
    type Arg = Many<T>;
    fn __arg(&self, parents: &mut Parents) -> Many<T> {
        many(&self.take(), parents)
    }
}

impl<T: Clone + Send + Sync + 'static> ViaMany for &Wrap<&Vec<Delayed<T>>> {
    type Arg = Many<T>;
    fn __arg(&self, parents: &mut Parents) -> Many<T> {
        many(self.take(), parents)
    }
}

impl<T: Clone + Send + Sync + 'static> ViaMany for &Wrap<&[Delayed<T>]> {
    type Arg = Many<T>;
    fn __arg(&self, parents: &mut Parents) -> Many<T> {
        many(self.take(), parents)
    }
}

impl<T: Clone + Send + Sync + 'static, const N: usize> ViaMany for &Wrap<[Delayed<T>; N]> {
    type Arg = Many<T>;
    fn __arg(&self, parents: &mut Parents) -> Many<T> {
        many(&self.take(), parents)
    }
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

// ---- pure keys ---------------------------------------------------------------------
//
// A pure call's key is made of its arguments' keys, taken from the values passed (before
// they become `NodeRef`/`Many`/`Const`), so that a missing key is reported on the type
// the caller wrote. `Hash` types and floats cannot share one blanket impl (std may make
// `f64: Hash` one day, so coherence refuses both), hence the marker `M`: each argument's
// marker is inferred from the one impl that applies.

/// How [`PureKey`] keys a `Hash` value: by its hash (and its type).
pub struct ByHash;
/// How [`PureKey`] keys a float, or a `Vec`, `Option` or array of floats: by the exact
/// bits (and the type), as Dask tokenizes floats.
pub struct ByBits;
/// How [`PureKey`] keys a `Delayed` or a collection of them: by the nodes' keys.
pub struct ByNode;

/// A value that can be an argument of a pure task (`#[delayed(pure)]`,
/// `delayed(f).pure()`): its key is part of the call's key, so equal keys make one node.
///
/// Implemented for every `Hash + 'static` type (keyed by its type and hash), for `f32`,
/// `f64` and `Vec`s, `Option`s and arrays of them (keyed by their type and exact bits:
/// `-0.0` and `0.0` are different keys, and a NaN equals only a NaN with the same bits),
/// and for `Delayed<T>`, `&Delayed<T>` and collections of them (keyed by the nodes'
/// keys). `M` is inferred; it only tells the three kinds apart.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a pure task's argument: pure calls are keyed by their arguments, and `{Self}` is neither `Hash` nor a float",
    label = "not `Hash`, so a pure call cannot be keyed by it",
    note = "derive `Hash` for `{Self}` (or pass a `Hash` part of it), or drop `pure`"
)]
pub trait PureKey<M> {
    /// Feeds the argument's key to a pure call's key.
    fn pure_key(&self, hasher: &mut dyn Hasher);
}

impl<T: Hash + 'static> PureKey<ByHash> for T {
    fn pure_key(&self, hasher: &mut dyn Hasher) {
        let mut inner = std::collections::hash_map::DefaultHasher::new();
        // Equal bytes of another type (`true` and `1u8`) are another argument.
        std::any::TypeId::of::<T>().hash(&mut inner);
        self.hash(&mut inner);
        hasher.write_u64(inner.finish());
    }
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

/// The key part of one argument of a pure call: what `delay!` of a `#[delayed(pure)]`
/// function calls, through the function's companion type.
pub fn pure_arg_key<A: PureKey<M> + ?Sized, M>(arg: &A, hasher: &mut dyn Hasher) {
    arg.pure_key(hasher);
}
