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

/// An argument that can take part in a pure task's key.
pub trait PureArg: Arg {
    /// Feeds the argument's identity to `hasher`: a node's key, a constant's hash.
    fn hash_into(&self, hasher: &mut dyn Hasher);
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
    key: u64,
    _value: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static> Arg for NodeRef<T> {
    type Target = T;
    type Source<'a> = Shared<'a, T>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> Shared<'a, T> {
        env.input::<T>(cursor).shared()
    }
}

impl<T: Send + Sync + 'static> PureArg for NodeRef<T> {
    fn hash_into(&self, hasher: &mut dyn Hasher) {
        hasher.write_u64(self.key);
    }
}

/// A collection of nodes, given to the task as a `Vec<T>` (or lent as `&[T]`).
pub struct Many<T> {
    keys: Vec<u64>,
    _value: PhantomData<fn() -> T>,
}

impl<T: Clone + Send + Sync + 'static> Arg for Many<T> {
    type Target = Vec<T>;
    type Source<'a> = Value<Vec<T>>;
    fn source<'a>(&'a self, env: &Env<'a>, cursor: &mut usize) -> Value<Vec<T>> {
        let items = (0..self.keys.len())
            .map(|_| slot::give(&mut env.input::<T>(cursor).shared()))
            .collect();
        Value::new(items)
    }
}

impl<T: Clone + Send + Sync + 'static> PureArg for Many<T> {
    fn hash_into(&self, hasher: &mut dyn Hasher) {
        for key in &self.keys {
            hasher.write_u64(*key);
        }
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

impl<T: Hash + Send + Sync + 'static> PureArg for Const<T> {
    fn hash_into(&self, hasher: &mut dyn Hasher) {
        let mut inner = std::collections::hash_map::DefaultHasher::new();
        // Equal bytes of another type (`true` and `1u8`) are another argument.
        std::any::TypeId::of::<T>().hash(&mut inner);
        self.0.hash(&mut inner);
        hasher.write_u64(inner.finish());
    }
}

fn node_ref<T>(delayed: &Delayed<T>, parents: &mut Parents) -> NodeRef<T> {
    parents.nodes.push(delayed.node.clone());
    NodeRef {
        key: delayed.node.meta().key,
        _value: PhantomData,
    }
}

fn many<'d, T: 'd>(
    items: impl IntoIterator<Item = &'d Delayed<T>>,
    parents: &mut Parents,
) -> Many<T> {
    let keys = items
        .into_iter()
        .map(|d| node_ref(d, parents).key)
        .collect();
    Many {
        keys,
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

// ---- `delay!` of a `#[delayed(pure)]` function: the key of each argument ------------

/// An argument of `delay!` on its way into a pure task's key (see `delay!`).
pub struct KeyOf<'a, A>(pub &'a A);

/// Arguments that have an identity: nodes, collections of nodes, `Hash` constants.
pub trait HashKey {
    /// Feeds the argument's identity to the key.
    fn __key(&self, hasher: &mut dyn Hasher);
}

impl<A: PureArg> HashKey for &KeyOf<'_, A> {
    fn __key(&self, hasher: &mut dyn Hasher) {
        self.0.hash_into(hasher);
    }
}

/// Arguments without one (a constant that is not `Hash`): the call gets a key of its
/// own, so it is never merged with another.
pub trait HashOpaque {
    /// Feeds a key no other call has.
    fn __key(&self, hasher: &mut dyn Hasher);
}

impl<A> HashOpaque for KeyOf<'_, A> {
    fn __key(&self, hasher: &mut dyn Hasher) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static UNIQUE: AtomicU64 = AtomicU64::new(0);
        hasher.write_u64(UNIQUE.fetch_add(1, Ordering::Relaxed));
    }
}
