//! Traits that exist only to carry a compile error's message: what cannot work on a
//! value that does not exist yet (a [`Delayed`] before it is computed, a [`Future`]
//! before its task finishes), said on the offending tokens with what to write instead.
//!
//! None of them is implemented for any type a program can hold (they are sealed, and
//! implemented at most for [`Infallible`], which has no values), so every operation
//! bound by one fails to compile, and rustc's message for that failure is the trait's
//! `#[diagnostic::on_unimplemented]` text. You never name these traits; they show up
//! in errors, explained in the book's chapter on compile errors
//! (`taskweave::docs::compile_errors`).
//!
//! How each mistake is caught:
//! - formatting with `{}`: `Display` for `Delayed<T>` and `Future<T>`, bounded by
//!   [`FormatAfterCompute`] and [`FormatAfterResult`];
//! - `for x in d`: `Iterator` for `Delayed<T>` (and `&Delayed<T>`), bounded by
//!   [`IterateAfterCompute`];
//! - `d.len()`, `d.is_empty()`, `d.iter()`, `d.unwrap()`: inherent methods of
//!   `Delayed<T>` bounded by [`LenAfterCompute`], [`IsEmptyAfterCompute`],
//!   [`IterAfterCompute`] and [`UnwrapAfterCompute`];
//! - `delayed(inc)(1)`, a call of the builder as Dask writes it: see [`UseDotCall`];
//! - `d.compute()` inside `graph!` on a node whose value is a [`Delayed`] or a
//!   [`Graph`]: [`GraphCheck`]'s `check`, bounded by [`RunGraphInTask`]; on a constant
//!   of the graph (a captured variable), its `check_captured`, bounded by
//!   [`RunGraphInGraph`] (on any other value a method so named is the user's, and
//!   runs);
//! - `v.pop()` inside `graph!`, its result used, on a node or a captured variable that
//!   is a standard library collection whose method so named takes `&mut self`:
//!   [`NodeMutation`]'s and [`CapturedMutation`]'s inherent methods, bounded by
//!   [`MutateNode`] and [`MutateCaptured`] (on any other type, a method of the user's:
//!   [`NotAStdMutation`]'s, which pass).
//!
//! The impls for [`Infallible`] are there for the message's sake: rustc follows a trait
//! that an impl's bound needs with the impls of that trait that do exist, and with
//! none it would show the `Display` (or `Iterator`) impl of `Delayed<T>` instead, as if
//! it applied. (A method's own bound has no such impl to show.)
//!
//! Comparisons (`d > 3`), compound assignments (`d += 1`) and operators on futures
//! (`f + 1`) cannot be caught this way: rustc reports an operator's missing impl on
//! the operator, without any bound's message (an impl bounded by one of these traits
//! would only make that error vaguer). Their error points at the type's definition,
//! whose line ends with a comment that says what to do instead. A borrowed local
//! passed to a task (`delayed(f).call(&names)` for a `&T` parameter,
//! `client.submit(f, (&names,))`) is a borrow-checker error, which no trait can word:
//! it points at the bound that asks for `'static`, whose line says the same.

use core::convert::Infallible;
use core::fmt;

use crate::dynamic::{Delayed, DelayedFn};
use crate::futures::Future;
use crate::graph::Graph;

mod sealed {
    /// Keeps the traits of this module unimplementable outside it.
    pub trait Sealed {}
    impl Sealed for core::convert::Infallible {}
}

/// Never implemented: formatting a [`Delayed`] with `{}`.
#[diagnostic::on_unimplemented(
    message = "a `Delayed<{Self}>` cannot be formatted: its value does not exist until the graph runs (Dask would print `Delayed('…')`)",
    label = "no value to format yet",
    note = "format the result of `d.compute()`, or use `{{:?}}` for the node's name and key"
)]
pub trait FormatAfterCompute: sealed::Sealed {}
impl FormatAfterCompute for Infallible {} // the type with no values: nothing is formatted before it exists

impl<T: FormatAfterCompute> fmt::Display for Delayed<T> {
    // Never called: no value of a `T` that meets the bound exists.
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// Never implemented: formatting a [`Future`] with `{}`.
#[diagnostic::on_unimplemented(
    message = "a `Future<{Self}>` cannot be formatted: its task may not have finished, and its result may be an error",
    label = "no value to format yet",
    note = "format the result of `f.result()` (which waits for it), or use `{{:?}}` for the task's name and status"
)]
pub trait FormatAfterResult: sealed::Sealed {}
impl FormatAfterResult for Infallible {} // the type with no values: nothing is formatted before it exists

impl<T: FormatAfterResult> fmt::Display for Future<T> {
    // Never called: no value of a `T` that meets the bound exists.
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// Never implemented: iterating a [`Delayed`] (`for x in d`).
#[diagnostic::on_unimplemented(
    message = "a `Delayed<{Self}>` cannot be iterated: its length is not known until the graph runs (Dask: `TypeError: Delayed objects of unspecified length are not iterable`)",
    label = "not a collection yet",
    note = "iterate inside a task, `d.map(|v| v.iter().sum::<i64>())`, or over the computed value, `for x in d.compute()`"
)]
pub trait IterateAfterCompute: sealed::Sealed {
    /// The item the iteration would give.
    type Item;
}
#[rustfmt::skip] // One line, which rustc shows in the error (see the module's docs).
impl IterateAfterCompute for Infallible { type Item = Infallible; } // the type with no values: nothing is iterated before it exists

#[doc(hidden)]
impl<T: IterateAfterCompute> Iterator for Delayed<T> {
    type Item = T::Item;
    // Never called: no value of a `T` that meets the bound exists.
    fn next(&mut self) -> Option<T::Item> {
        None
    }
}

#[doc(hidden)]
impl<T: IterateAfterCompute> Iterator for &Delayed<T> {
    type Item = T::Item;
    // Never called: no value of a `T` that meets the bound exists.
    fn next(&mut self) -> Option<T::Item> {
        None
    }
}

/// Never implemented: `d.len()` on a [`Delayed`].
#[diagnostic::on_unimplemented(
    message = "`.len()` of a `Delayed<{Self}>`: its value, and so its length, does not exist until the graph runs",
    label = "a method of the value, not of the `Delayed`",
    note = "take the length inside a task, `d.map(|v| v.len())` (a `Delayed<usize>`), or of the computed value, `d.compute().len()`"
)]
pub trait LenAfterCompute: sealed::Sealed {}

/// Never implemented: `d.is_empty()` on a [`Delayed`].
#[diagnostic::on_unimplemented(
    message = "`.is_empty()` of a `Delayed<{Self}>`: its value does not exist until the graph runs, so the graph cannot branch on it",
    label = "a method of the value, not of the `Delayed`",
    note = "ask inside a task, `d.map(|v| v.is_empty())` (a `Delayed<bool>`), or of the computed value, `d.compute().is_empty()`"
)]
pub trait IsEmptyAfterCompute: sealed::Sealed {}

/// Never implemented: `d.iter()` on a [`Delayed`].
#[diagnostic::on_unimplemented(
    message = "`.iter()` of a `Delayed<{Self}>`: its items do not exist until the graph runs",
    label = "a method of the value, not of the `Delayed`",
    note = "iterate inside a task, `d.map(|v| v.iter().sum::<i64>())` (a `Delayed` of the sum), or over the computed value, `d.compute().iter()`"
)]
pub trait IterAfterCompute: sealed::Sealed {
    /// What `iter` would return.
    type Iter: Iterator;
}

/// Never implemented: `d.unwrap()` on a [`Delayed`].
#[diagnostic::on_unimplemented(
    message = "`.unwrap()` of a `Delayed<{Self}>`: whether it holds a value is not known until the graph runs",
    label = "a method of the value, not of the `Delayed`",
    note = "unwrap inside a task, `d.map(|v| v.unwrap())` (its panic fails that task), or the computed value, `d.compute().unwrap()`"
)]
pub trait UnwrapAfterCompute: sealed::Sealed {
    /// What `unwrap` would return.
    type Value;
}

/// Methods of a collection or an `Option` that a program may try on the `Delayed`
/// itself: each is an error that says to call it inside a task or after `compute`.
impl<T> Delayed<T> {
    /// Not callable: a `Delayed` has no length until it is computed (see
    /// [`LenAfterCompute`]).
    #[doc(hidden)]
    pub fn len(&self) -> usize
    where
        T: LenAfterCompute,
    {
        unreachable!("no `Delayed` meets the bound")
    }

    /// Not callable: a `Delayed` is not known to be empty until it is computed (see
    /// [`IsEmptyAfterCompute`]).
    #[doc(hidden)]
    pub fn is_empty(&self) -> bool
    where
        T: IsEmptyAfterCompute,
    {
        unreachable!("no `Delayed` meets the bound")
    }

    /// Not callable: a `Delayed` has no items until it is computed (see
    /// [`IterAfterCompute`]).
    #[doc(hidden)]
    pub fn iter<I: IterAfterCompute>(&self) -> I::Iter
    where
        T: IterAfterCompute,
    {
        unreachable!("no `Delayed` meets the bound")
    }

    /// Not callable: whether a `Delayed` holds a value is not known until it is
    /// computed (see [`UnwrapAfterCompute`]).
    #[doc(hidden)]
    pub fn unwrap<U: UnwrapAfterCompute>(&self) -> U::Value
    where
        T: UnwrapAfterCompute,
    {
        unreachable!("no `Delayed` meets the bound")
    }
}

/// The parameter type of a [`DelayedFn`] called like a Python function
/// (`delayed(inc)(1)`): rustc then expects a `UseDotCall` where the argument is, which
/// is the fix: `delayed(inc).call(1)`. It has no values, so that call cannot run.
///
/// A call is the one mistake no trait's message can explain: rustc says only "expected
/// function" of a value that is not one, so `DelayedFn` dereferences to a function of
/// `UseDotCall`s, one per parameter (of a function of at least one parameter; with
/// none, `delayed(f)()` stays rustc's "expected function, found `DelayedFn`").
pub struct UseDotCall(Infallible);

// The function returns a `Delayed<R>`, as `call` does, so that the code after the
// mistake is checked as it will be once it is fixed (and reports nothing more).
macro_rules! python_style_call {
    (@marker $a:ident) => { UseDotCall };
    ($($a:ident),+) => {
        #[doc(hidden)]
        impl<F, R, $($a,)+ Purity, Retry> core::ops::Deref
            for DelayedFn<F, fn($($a),+) -> R, Purity, Retry>
        {
            type Target = dyn Fn($(python_style_call!(@marker $a)),+) -> Delayed<R>;
            fn deref(&self) -> &Self::Target {
                &|$(_: python_style_call!(@marker $a)),+| unreachable!("`UseDotCall` has no values")
            }
        }
    };
}

python_style_call!(A);
python_style_call!(A, B);
python_style_call!(A, B, C);
python_style_call!(A, B, C, D);
python_style_call!(A, B, C, D, E);
python_style_call!(A, B, C, D, E, G);

impl std::fmt::Debug for UseDotCall {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {}
    }
}

/// What `graph!` binds, for a check that never runs: each name the graph reads as one
/// it bound is bound again to this marker, then read as written (see
/// [`read_as_bound`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct BoundByGraph;

/// Implemented only for [`BoundByGraph`]: a name that `graph!` read as one of its own
/// but that resolves to something else (the same spelling from another macro's
/// expansion, whose hygiene keeps it apart) gets this trait's message.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this name is spelled like one `graph!` binds, but it is not the same name: it comes from another macro's expansion, whose hygiene keeps the two apart",
    label = "`graph!` would read its own binding here, where plain Rust reads this `{Self}`",
    note = "rename one of the two, or pass the value into the macro that writes `graph!` through its own arguments"
)]
pub trait SameNameAsBound {}
impl SameNameAsBound for BoundByGraph {}

/// The check of [`SameNameAsBound`]: compiles only for the graph's own binding.
#[doc(hidden)]
pub fn read_as_bound<T: SameNameAsBound>(_: &T) {}

/// A value that `graph!` calls a method named like `compute` on (`m.compute()`, a
/// node's or a constant's), for a check that is decided by the value's type: a [`Delayed`] or a [`Graph`] gets
/// [`RunGraphInTask`]'s message, anything else (a type of the user's with a method so
/// named) is called as written.
#[doc(hidden)]
#[derive(Debug)]
pub struct GraphCheck<'a, T>(pub &'a T);

/// Never implemented: running a graph that is a node's value, inside a task.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this node's value is a graph: running it inside a task of `graph!` would block a worker while it runs (on a one-thread client, for ever)",
    label = "a `Delayed` or a `Graph`, run inside a task",
    note = "call its tasks directly in this graph (they become its nodes), or compute it before this graph and pass its result in as an input"
)]
pub trait RunGraphInTask: sealed::Sealed {}
impl RunGraphInTask for Infallible {} // the type with no values: no graph is run inside a task

/// Never implemented: running a graph that is a constant of `graph!` (a captured
/// variable, an input), inside the graph.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this value is a graph: running it inside `graph!` would run it during every run of this graph, from inside it (in a task, it would block a worker while it runs; on a one-thread client, for ever)",
    label = "a `Delayed` or a `Graph`, run inside `graph!`",
    note = "call its tasks directly in this graph (they become its nodes), or compute it before this graph and pass its result in as an input"
)]
pub trait RunGraphInGraph: sealed::Sealed {}
impl RunGraphInGraph for Infallible {} // the type with no values: no graph is run inside a graph

impl<T> GraphCheck<'_, Delayed<T>> {
    /// Fails to compile: see [`RunGraphInTask`]. Inherent, so it is chosen before
    /// [`NotAGraph::check`] for a `Delayed`.
    pub fn check(&self)
    where
        T: RunGraphInTask,
    {
    }

    /// Fails to compile: see [`RunGraphInGraph`].
    pub fn check_captured(&self)
    where
        T: RunGraphInGraph,
    {
    }
}

impl<F, Args> GraphCheck<'_, Graph<F, Args>> {
    /// Fails to compile: see [`RunGraphInTask`].
    pub fn check(&self)
    where
        F: RunGraphInTask,
    {
    }

    /// Fails to compile: see [`RunGraphInGraph`].
    pub fn check_captured(&self)
    where
        F: RunGraphInGraph,
    {
    }
}

// A captured borrow of a graph (`inner: &Graph<…>`, a parameter of the function around
// `graph!`) is a graph too: `check_captured` gets the value as written, not dereferenced.
impl<T> GraphCheck<'_, &Delayed<T>> {
    /// Fails to compile: see [`RunGraphInGraph`].
    pub fn check_captured(&self)
    where
        T: RunGraphInGraph,
    {
    }
}

impl<F, Args> GraphCheck<'_, &Graph<F, Args>> {
    /// Fails to compile: see [`RunGraphInGraph`].
    pub fn check_captured(&self)
    where
        F: RunGraphInGraph,
    {
    }
}

/// The checks of [`GraphCheck`] for a value that is not a graph: pass.
#[doc(hidden)]
pub trait NotAGraph {
    /// Does nothing.
    fn check(&self) {}
    /// Does nothing.
    fn check_captured(&self) {}
}
impl<T> NotAGraph for GraphCheck<'_, T> {}

/// A node's value that `graph!` calls a method of a standard library collection on,
/// named like one that takes `&mut self` (`v.pop()`), with its result used: on one of
/// those collections the method mutates the node, and the call is [`MutateNode`]'s
/// message; on any other type a method so named is the user's, and its receiver
/// decides (a node is read through a binding that is not `mut`).
#[doc(hidden)]
#[derive(Debug)]
pub struct NodeMutation<'a, T: ?Sized>(pub &'a T);

/// As [`NodeMutation`], for a variable captured from around the graph
/// (`config.base.insert(k, a)`): [`MutateCaptured`]'s message.
#[doc(hidden)]
#[derive(Debug)]
pub struct CapturedMutation<'a, T: ?Sized>(pub &'a T);

/// Never implemented: a `&mut self` method of a standard library collection on a node.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this method takes `&mut self`, but its receiver is a task's result, which other tasks may be reading (and that may be shared across threads): a node is never mutated (in Dask the change would be silently lost)",
    label = "would mutate a task's result",
    note = "call the method inside a `#[delayed]` function that takes the value by value and returns what you need (the changed value, the method's result, or both as a tuple), and bind its result with `let`"
)]
pub trait MutateNode: sealed::Sealed {}
impl MutateNode for Infallible {} // the type with no values: no node is mutated

/// Never implemented: a `&mut self` method of a standard library collection on a
/// variable captured by `graph!`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "this method takes `&mut self`, but its receiver is a variable captured by the graph, which every run reads afresh (cloned): a graph never mutates captured variables (the change would be lost, and runs on several threads would share them)",
    label = "would mutate a captured variable",
    note = "return what the change needs from the graph (`(a, b)` as its last expression) and make the change after `compute`, or make the changed value in a `#[delayed]` function that takes the variable and returns it"
)]
pub trait MutateCaptured: sealed::Sealed {}
impl MutateCaptured for Infallible {} // the type with no values: no captured variable is mutated

/// The checks of [`NodeMutation`] and [`CapturedMutation`] for a type that is not one of
/// the standard library's collections below, or a method it does not have: pass (the
/// receiver's type decides, as for any method).
#[doc(hidden)]
pub trait NotAStdMutation {
    std_mutations!(@fallback push push_str push_back push_front pop pop_back pop_front
        insert remove swap_remove clear truncate retain retain_mut sort sort_by sort_by_key
        sort_unstable sort_unstable_by sort_unstable_by_key dedup dedup_by dedup_by_key
        extend extend_from_slice append drain resize fill get_mut iter_mut as_mut
        as_mut_slice entry make_ascii_uppercase make_ascii_lowercase);
}
impl<T: ?Sized> NotAStdMutation for NodeMutation<'_, T> {}
impl<T: ?Sized> NotAStdMutation for CapturedMutation<'_, T> {}

/// Per collection, its methods that take `&mut self` among the names `graph!` checks
/// (the macros' `MUTATORS`): an inherent method of [`NodeMutation`] and of
/// [`CapturedMutation`] each, chosen before [`NotAStdMutation`]'s, whose bound fails
/// (rustc's note on it shows the list below, the method's name marked).
macro_rules! std_mutations {
    (@fallback $($method:ident)+) => {
        $(
            /// Does nothing.
            fn $method(&self) {}
        )+
    };
    ($([$($g:ident),*] $ty:ty: $($method:ident)+;)+) => {
        $(
            impl<'a, $($g),*> NodeMutation<'a, $ty> {
                $(
                    /// Fails to compile: see [`MutateNode`].
                    pub fn $method(&self) where Self: MutateNode {}
                )+
            }
            impl<'a, $($g),*> CapturedMutation<'a, $ty> {
                $(
                    /// Fails to compile: see [`MutateCaptured`].
                    pub fn $method(&self) where Self: MutateCaptured {}
                )+
            }
        )+
    };
}
use std_mutations;

std_mutations! {
    [T] Vec<T>: push pop insert remove swap_remove clear truncate retain retain_mut sort
        sort_by sort_by_key sort_unstable sort_unstable_by sort_unstable_by_key dedup
        dedup_by dedup_by_key extend extend_from_slice append drain resize fill get_mut
        iter_mut as_mut as_mut_slice;
    [T] std::collections::VecDeque<T>: push_back push_front pop_back pop_front insert
        remove clear truncate retain retain_mut extend append drain resize get_mut iter_mut;
    [] String: push push_str pop insert remove clear truncate retain extend drain
        make_ascii_uppercase make_ascii_lowercase as_mut;
    [K, V, S] std::collections::HashMap<K, V, S>: insert remove clear retain extend drain
        get_mut iter_mut entry;
    [T, S] std::collections::HashSet<T, S>: insert remove clear retain extend drain;
    [K, V] std::collections::BTreeMap<K, V>: insert remove clear retain extend append
        get_mut iter_mut entry;
    [T] std::collections::BTreeSet<T>: insert remove clear retain extend append;
    [T] std::collections::BinaryHeap<T>: push pop clear retain extend append drain;
    [T] std::collections::LinkedList<T>: push_back push_front pop_back pop_front clear
        extend append iter_mut;
}
