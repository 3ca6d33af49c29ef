//! Dynamic graphs: [`Delayed<T>`] values built at run time, in ordinary loops, and run
//! by the same dispatcher as static graphs.
//!
//! Building a node carves it (its closure and up to two parents) from its thread's
//! block of nodes (see `blocks`), and allocates only for a list of more than two
//! parents; computing lays the reachable nodes out once in one arena (one typed slot per node, one node table)
//! and then dispatches them with no allocation per task.

mod arena;
pub(crate) mod args;
mod blocks;
mod inspect;
mod node;
mod ops;
mod plan;
mod reuse;

use core::any::{Any, TypeId};
use core::fmt;
use core::marker::PhantomData;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use once_cell::race::OnceBox;

pub use arena::Arena;
use arena::ArenaBuilder;
pub use args::{
    pure_arg_key, Arg, ByBits, ByHash, ByNode, FloatKey, IntoArg, LendArg, Parents, PassArg,
    PureKey, RetryArg,
};
#[cfg(loom)]
pub(crate) use blocks::loom_model as block_model;
pub use inspect::{info, visualize, Inspected};
#[cfg(loom)]
pub(crate) use node::loom_model;
pub(crate) use node::{Body, Borrowed, Node, NodeRef, ParentList, RunFn};
pub(crate) use plan::outputs_name;
pub(crate) use plan::prepare_any;
pub(crate) use plan::set_await_reads;
#[cfg(feature = "hyperqueue")]
pub(crate) use plan::Plan;
pub use plan::{
    compute, compute_with, persist, persist_with, prepare, Output, OutputPart, OutputRead, Outputs,
    Persist, Prepared, Reads, ToCompute,
};

use crate::engine::dispatch::Flow;
use crate::engine::error::TaskError;
use crate::engine::lock::Recover;
use crate::engine::names::Recent;
use crate::engine::options::RunOptions;
use crate::engine::slot::{MadeBy, Shared, SharedSlot, Value};
use crate::engine::table::Label;
use crate::inspect::GraphInfo;

/// A value that a task will compute: Dask's `Delayed`.
///
/// Built with `delay!(f(args))` for `#[delayed]` functions or [`delayed`]`(f).call(args)`
/// for any function or closure; combined with operators (`a + b`), [`map`](Self::map),
/// [`split`](Delayed::split) and [`tree_reduce`]; run with [`compute`](Self::compute).
///
/// What cannot work on a value that does not exist yet cannot be written: `Delayed<T>`
/// has no `Deref`, no `+=`, and its comparisons are not `bool`; formatting it with
/// `{}`, iterating it, or calling `len`, `is_empty`, `iter` or `unwrap` on it are
/// errors that say to do it inside [`map`](Self::map) or after
/// [`compute`](Self::compute) (see [`prohibited`](crate::prohibited)).
/// Where Dask raises `TypeError: Truth of Delayed objects is not supported`, or
/// `Delayed objects of unspecified length are not iterable`, this does not compile.
// The comment on the `struct` line is shown by rustc under an operator's error on a
// `Delayed` (`d > 3`, `d += 1`): "`Delayed<i64>` does not implement `PartialOrd<…>`",
// then this line (see `crate::prohibited`).
#[must_use = "a `Delayed` does nothing until computed: call `.compute()` or pass it to `taskweave::compute`"]
// Transparent: a slice of `Delayed`s is a slice of node handles (`Delayed::nodes_of`).
#[repr(transparent)]
pub struct Delayed<T> /* no value until computed: use it in `d.map(|v| …)` or after `d.compute()`; rebind, not `+=` */
{
    pub(crate) node: NodeRef,
    _value: PhantomData<fn() -> T>,
}

impl<T> Delayed<T> {
    /// The node handles of `values`, borrowed as they lie.
    pub(crate) fn nodes_of(values: &[Delayed<T>]) -> &[NodeRef] {
        // SAFETY: `Delayed<T>` is `repr(transparent)` over its `NodeRef` (the other
        // field is a zero-sized marker), so a slice of them is laid out as a slice of
        // `NodeRef`s of the same length, borrowed for as long.
        unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<NodeRef>(), values.len()) }
    }
}

impl<T> Clone for Delayed<T> {
    fn clone(&self) -> Self {
        Delayed {
            node: self.node.clone(),
            _value: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Delayed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Delayed({})", self.key())
    }
}

/// What every dynamic node records about itself.
///
/// Kept small, since every node has one: the name, kind and call site, shared by every
/// node built at one place, are one pointer to their [`Label`]: `delay!`'s call site's
/// own, made at compile time, or one interned at run time ([`label_of`]).
pub(crate) struct Meta {
    /// The function's name, the node's kind and where it was built.
    pub(crate) label: &'static Label<'static>,
    /// What few nodes have: names set with [`Delayed::named`] or
    /// [`DelayedFn::named`], the futures the task reads. Most nodes have neither, and
    /// then reading it is one load (and it takes one word).
    rare: OnceBox<Rare>,
    /// Unique per node; equal for pure nodes with equal inputs.
    pub(crate) key: u64,
    /// The number the plan being made gave this node (see `plan::Visited`).
    pub(crate) mark: Mark,
}

/// The interned label of `name`, `kind` and `call_site`: one per distinct triple, so a
/// node holds one pointer instead of three strings, and a plan's node table points to
/// it rather than copying it. A loop that builds nodes at a few places finds it in a
/// small cache of its thread ([`Recent`]), without the shared table's lock.
pub(crate) fn label_of(
    name: &'static str,
    kind: &'static str,
    call_site: &'static str,
) -> &'static Label<'static> {
    std::thread_local! {
        static LABELS: Recent<&'static Label<'static>> = const { Recent::new() };
    }
    // The same three texts at the same places (address and length).
    let same = |label: &Label<'_>| {
        core::ptr::eq(label.name, name)
            && core::ptr::eq(label.kind, kind)
            && core::ptr::eq(label.call_site, call_site)
    };
    Recent::find(&LABELS, same, || {
        type Labels = HashMap<Label<'static>, &'static Label<'static>>;
        static LABELS: Mutex<Option<Labels>> = Mutex::new(None);
        let mut labels = LABELS.lock().recover();
        let key = Label::new(name, kind, call_site);
        *labels
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_insert_with(|| Box::leak(Box::new(key)))
    })
}

/// What few nodes of a graph have, boxed apart from [`Meta`].
#[derive(Default)]
struct Rare {
    /// The names set on the node, if any: the first here, the others after it.
    names: OnceLock<Names>,
    /// The last of `names` met (null before a second one), where a new name is added
    /// and the name is read from: a node named in a loop walks none of its older
    /// names. It points into `names`' chain, which is freed only with the node.
    last: std::sync::atomic::AtomicPtr<Names>,
    /// The futures the task's arguments read, set when the node is built.
    awaited: Box<[args::AwaitedTask]>,
}

/// The names set on a node, oldest first; the last is its name. Never changed once
/// set, only added to, so [`Delayed::name`] can lend `&str`; a node named again keeps
/// its older names (a few bytes each) until it is dropped.
struct Names {
    name: Arc<str>,
    /// Whether the name is the node's key too (see `Meta::add_name`).
    is_key: bool,
    next: OnceLock<Box<Names>>,
}

impl Drop for Names {
    /// A long chain of names is freed in a loop, not by recursion.
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(mut names) = next {
            next = names.next.take();
        }
    }
}

/// A node's number in the plan `plan`; stale numbers of older plans are ignored. One
/// word: the plan in the high half, the number in the low half, so a plan number is
/// below 2^32 (past that, plans number nodes in a map instead: see `plan::Visited`)
/// and never 0 (a node no plan has numbered yet).
#[derive(Default)]
pub(crate) struct Mark(AtomicU64);

impl Mark {
    /// The largest plan number a mark holds.
    pub(crate) const MAX_PLAN: u64 = u32::MAX as u64;

    pub(crate) fn get(&self, plan: u64) -> Option<u32> {
        let mark = self.0.load(Ordering::Relaxed);
        (mark >> 32 == plan).then_some(mark as u32)
    }

    pub(crate) fn set(&self, plan: u64, index: u32) {
        debug_assert!(plan != 0 && plan <= Self::MAX_PLAN);
        self.0
            .store(plan << 32 | u64::from(index), Ordering::Relaxed);
    }
}

/// `file:line:column` of a caller, formatted once per call site. A loop that submits
/// or builds from a few call sites finds it in a small cache of its thread
/// ([`Recent`]), without the shared table's lock.
pub(crate) fn call_site_of(location: &'static Location<'static>) -> &'static str {
    std::thread_local! {
        static SITES: Recent<(&'static Location<'static>, &'static str)> = const { Recent::new() };
    }
    let same = |(known, _): (&Location<'_>, &str)| core::ptr::eq(known, location);
    Recent::find(&SITES, same, || (location, call_site_shared(location))).1
}

/// [`call_site_of`] through the table shared by every thread.
fn call_site_shared(location: &'static Location<'static>) -> &'static str {
    static SITES: Mutex<Option<HashMap<usize, &'static str>>> = Mutex::new(None);
    let mut sites = SITES.lock().recover();
    let sites = sites.get_or_insert_with(HashMap::new);
    sites
        .entry(location as *const Location<'static> as usize)
        .or_insert_with(|| {
            let text = format!(
                "{}:{}:{}",
                location.file(),
                location.line(),
                location.column()
            );
            Box::leak(text.into_boxed_str())
        })
}

/// Keys of impure nodes: a counter (the top bit stays clear; pure keys set it), taken
/// by each thread in blocks of [`KEY_BLOCK`] so that building a node does no atomic
/// read-modify-write (a key is unique, and consecutive for nodes one thread builds).
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);
const KEY_BLOCK: u64 = 1024;

/// A new key of an impure node.
#[inline]
fn next_key() -> u64 {
    std::thread_local! {
        /// The next key of this thread's block, and the end of the block.
        static KEYS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
    }
    KEYS.try_with(|keys| {
        let (mut next, mut end) = keys.get();
        if next == end {
            next = NEXT_KEY.fetch_add(KEY_BLOCK, Ordering::Relaxed);
            end = next + KEY_BLOCK;
        }
        keys.set((next + 1, end));
        next
    })
    // A thread being torn down (a `Drop` of a thread local building a node).
    .unwrap_or_else(|_| NEXT_KEY.fetch_add(1, Ordering::Relaxed))
}

impl Meta {
    /// The last name set on the node, if any.
    fn last_names(&self) -> Option<&Names> {
        let rare = self.rare.get()?;
        let mut names = rare.names.get()?;
        let last = rare.last.load(Ordering::Acquire);
        if !last.is_null() {
            // SAFETY: `last` was taken from a reference to a `Names` of this node's
            // chain (`add_name`), published with a release store; the chain is only
            // added to, and freed when the node drops, after every borrow of `self`.
            names = unsafe { &*last };
        }
        // Names added since (or at the same time as) the one `last` points to.
        while let Some(next) = names.next.get() {
            names = next;
        }
        Some(names)
    }

    /// The name set with `named` and the futures the task reads (see
    /// [`Parents::awaited`]), for a node that has either; `None` (one load) for most.
    pub(crate) fn rare_parts(&self) -> Option<(Option<Arc<str>>, &[args::AwaitedTask])> {
        let rare = self.rare.get()?;
        Some((self.custom_name(), &rare.awaited))
    }

    /// Keeps `awaited`, the futures the task reads, on a node being built (named by
    /// no one yet). Out of line: most tasks read none.
    #[cold]
    #[inline(never)]
    fn set_awaited(&self, awaited: Vec<args::AwaitedTask>) {
        let rare = Box::new(Rare {
            names: OnceLock::new(),
            last: Default::default(),
            awaited: awaited.into_boxed_slice(),
        });
        if self.rare.set(rare).is_err() {
            unreachable!("a node's futures are set when it is built, before any name");
        }
    }

    /// The name that is the node's key ([`Delayed::named`]), if any.
    pub(crate) fn key_name(&self) -> Option<&str> {
        self.last_names()
            .filter(|names| names.is_key)
            .map(|names| &*names.name)
    }

    /// The name set with `named`, if any.
    pub(crate) fn custom_name(&self) -> Option<Arc<str>> {
        self.last_names().map(|names| names.name.clone())
    }

    /// Names the node: its key too when `is_key` ([`Delayed::named`]), or only its
    /// task name (a [`DelayedFn::named`] builder's, keyed `name-N` as unnamed tasks
    /// are). A name that was a key keeps the names after it keys.
    fn add_name(&self, name: Arc<str>, is_key: bool) {
        let new = Names {
            name,
            is_key,
            next: OnceLock::new(),
        };
        // The first name in the node's rare part (one allocation, as a boxed name
        // was), later ones after it.
        let rare = self.rare.get_or_init(Box::default);
        let first = &rare.names;
        let mut new = match first.set(new) {
            Ok(()) => return,
            Err(back) => Box::new(back),
        };
        let last = rare.last.load(Ordering::Acquire);
        let mut older = match last.is_null() {
            true => first
                .get()
                .expect("a OnceLock that refused a value holds one"),
            // SAFETY: as in `last_names`.
            false => unsafe { &*last },
        };
        loop {
            // (An older name's `is_key` has those before it in.)
            new.is_key |= older.is_key;
            match older.next.set(new) {
                Ok(()) => {
                    let added = older.next.get().expect("set just now");
                    let added: *const Names = &**added;
                    rare.last.store(added.cast_mut(), Ordering::Release);
                    return;
                }
                Err(back) => {
                    new = back;
                    older = older
                        .next
                        .get()
                        .expect("a OnceLock that refused a value holds one");
                }
            }
        }
    }

    fn set_name(&self, name: Arc<str>) {
        self.add_name(name, true);
    }

    /// Sets the task name only: the key stays `name-N` (see [`DelayedFn::named`]).
    fn set_task_name(&self, name: Arc<str>) {
        self.add_name(name, false);
    }

    /// A task's (kind `task`).
    #[inline]
    fn new(name: &'static str, call_site: &'static str, key: Option<u64>) -> Self {
        Meta::of_kind(name, "task", call_site, key)
    }

    #[inline]
    fn of_kind(
        name: &'static str,
        kind: &'static str,
        call_site: &'static str,
        key: Option<u64>,
    ) -> Self {
        Meta::labelled(label_of(name, kind, call_site), key)
    }

    /// A node's, with its label at hand.
    #[inline]
    fn labelled(label: &'static Label<'static>, key: Option<u64>) -> Self {
        Meta {
            label,
            rare: OnceBox::new(),
            key: key.unwrap_or_else(next_key),
            mark: Mark::default(),
        }
    }

    /// A task's, with the futures its arguments read (see [`Parents::awaited`]).
    #[inline]
    fn of_call(
        label: &'static Label<'static>,
        key: Option<u64>,
        awaited: Vec<args::AwaitedTask>,
    ) -> Self {
        let meta = Meta::labelled(label, key);
        if !awaited.is_empty() {
            meta.set_awaited(awaited);
        }
        meta
    }
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Meta>() == 32);

/// The arena seen by one running node: every slot, and where this node's inputs are.
pub struct Env<'a> {
    slots: &'a Arena,
    inputs: &'a [u32],
    me: u32,
}

impl<'a> Env<'a> {
    /// The typed slot of node `index`.
    #[inline(always)]
    fn slot<T: 'static>(&self, index: u32) -> &'a SharedSlot<T> {
        self.slots.slot(index)
    }

    /// Stores this node's result.
    #[inline(always)]
    fn put<T: 'static>(&self, value: T) {
        // SAFETY: a node runs once per run, on one thread, and its slot is read only by
        // the nodes it releases after this returns (and by the run's caller after the
        // run): nothing else accesses it meanwhile.
        unsafe { self.slot::<T>(self.me).put_alone(value) }
    }

    /// This node's next input, claimed: one of the uses the plan counted for it. Read
    /// through a `MadeBy` handle, as a `graph!` node's inputs are: a panic of the
    /// value's `Drop`, in this node's code after its result is made, is this node's
    /// failure once the result is stored, rather than unwinding through that result
    /// (which leaked it, or aborted the process where its `Drop` panicked too).
    #[inline(always)]
    fn input<T: 'static>(&self, cursor: &mut usize) -> MadeBy<Shared<'a, T>> {
        let index = self.inputs[*cursor];
        *cursor += 1;
        // SAFETY: the plan gives a slot one use per read of it by a node (each input
        // occurrence, claimed here once: the cursor moves past it) or by the run's
        // caller (each output, read once the run has ended and every node's claims are
        // released); a node runs once per run, so no slot is claimed more often than
        // it has uses, and a slot of one use is claimed by its one reader only.
        MadeBy::new(unsafe { self.slot::<T>(index).shared_planned() }, index)
    }

    /// A value this node's code builds from its inputs (a collection of them), read
    /// as an input is (see [`input`](Self::input)).
    #[inline(always)]
    fn made_here<T>(&self, value: T) -> MadeBy<Value<T>> {
        MadeBy::new(Value::new(value), self.me)
    }
}

/// A task: a closure reading its inputs from the arena.
struct Task<T, F> {
    run: F,
    _result: PhantomData<fn() -> T>,
}

impl<T, F> Body for Task<T, F>
where
    T: Send + Sync + 'static,
    F: Fn(&Env<'_>) -> T + Send + Sync + 'static,
{
    fn add_slot(&self, arena: &mut ArenaBuilder) {
        arena.push::<T>();
    }
    fn run(&self, env: &Env<'_>) -> Flow {
        crate::engine::sync::with_room_for::<T, _>(|| env.put((self.run)(env)));
        Flow::Continue
    }
}

/// What a `delay!` call of a `#[delayed(remote)]` function records of itself, so that
/// a cluster backend (`remote::compute_on`, feature `hyperqueue`) can send the call to
/// a worker: the function's registered name and what each argument is, made by the
/// function's companion type from the arguments' [`ArgShape`]s. Opaque here (the
/// dynamic front end only keeps it); nothing, for every other node.
#[doc(hidden)]
pub struct RemoteSpec(Option<Box<dyn Any + Send + Sync>>);

impl RemoteSpec {
    /// No remote call: a local task.
    pub const NONE: RemoteSpec = RemoteSpec(None);

    /// A remote call's description.
    pub fn new(call: Box<dyn Any + Send + Sync>) -> RemoteSpec {
        RemoteSpec(Some(call))
    }

    /// The description, if it is a remote call's (what a `graph!` on a cluster reads).
    #[cfg(feature = "hyperqueue")]
    pub(crate) fn into_call(self) -> Option<Box<dyn Any + Send + Sync>> {
        self.0
    }
}

impl fmt::Debug for RemoteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RemoteSpec")
            .field(&self.0.is_some())
            .finish()
    }
}

/// A task that a worker process can run too: the task and its call's description.
#[cfg(feature = "hyperqueue")]
struct RemoteNode<T, F> {
    task: Task<T, F>,
    call: Box<dyn Any + Send + Sync>,
}

#[cfg(feature = "hyperqueue")]
impl<T, F> Body for RemoteNode<T, F>
where
    T: Send + Sync + 'static,
    F: Fn(&Env<'_>) -> T + Send + Sync + 'static,
{
    fn add_slot(&self, arena: &mut ArenaBuilder) {
        self.task.add_slot(arena)
    }
    fn run(&self, env: &Env<'_>) -> Flow {
        self.task.run(env)
    }
    fn remote(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(&*self.call)
    }
}

/// The value of a `Delayed`: every task that reads it is lent it, on different threads
/// at the same time, so it must be `Sync` (`delay!`'s bound, for its message).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Sync`, so it cannot be the value of a `Delayed`",
    label = "this task's value may be read by several tasks at once",
    note = "every task that reads a `Delayed`'s value is lent it, on different threads at the same time: use `Mutex`, `RwLock` or atomics rather than `Cell` or `RefCell` (in `graph!`, a value read by one task need not be `Sync`)"
)]
pub trait NodeValue: Sync {}
// Not recommended in errors: a missing `Sync` is reported as the missing `NodeValue`.
#[diagnostic::do_not_recommend]
impl<T: Sync> NodeValue for T {}

/// Builds a task node, with its remote call's description if it has one: what
/// `delay!` expands to. Its label is the call site's, made at compile time
/// (`&const { Label::task(name, call_site) }`): no lookup per node built.
#[doc(hidden)]
pub fn task_with<T, F>(
    label: &'static Label<'static>,
    parents: Parents,
    key: Option<u64>,
    remote: RemoteSpec,
    run: F,
) -> Delayed<T>
where
    T: Send + NodeValue + 'static,
    F: Fn(&Env<'_>) -> T + Send + Sync + 'static,
{
    // Only a remote task's companion makes a description, and only with the feature.
    let key = key.map(typed_key::<T>);
    #[cfg(feature = "hyperqueue")]
    if let Some(call) = remote.0 {
        return Delayed::from_node(NodeRef::new(
            Meta::of_call(label, key, parents.awaited),
            parents.nodes,
            RemoteNode {
                task: Task {
                    run,
                    _result: PhantomData,
                },
                call,
            },
        ));
    }
    #[cfg(not(feature = "hyperqueue"))]
    let _ = remote;
    task_labelled(label, parents, key, run)
}

/// Builds a task node; what [`delayed`] expands to.
#[doc(hidden)]
pub fn task<T, F>(
    name: &'static str,
    call_site: &'static str,
    parents: Parents,
    key: Option<u64>,
    run: F,
) -> Delayed<T>
where
    T: Send + Sync + 'static,
    F: Fn(&Env<'_>) -> T + Send + Sync + 'static,
{
    let key = key.map(typed_key::<T>);
    task_labelled(label_of(name, "task", call_site), parents, key, run)
}

/// A task node with its label at hand and its key typed ([`typed_key`]).
#[inline]
fn task_labelled<T, F>(
    label: &'static Label<'static>,
    parents: Parents,
    key: Option<u64>,
    run: F,
) -> Delayed<T>
where
    T: Send + Sync + 'static,
    F: Fn(&Env<'_>) -> T + Send + Sync + 'static,
{
    Delayed::from_node(NodeRef::new(
        Meta::of_call(label, key, parents.awaited),
        parents.nodes,
        Task {
            run,
            _result: PhantomData,
        },
    ))
}

/// A pure key with the result type `T` added: equal function and arguments with another
/// result type (a generic `#[delayed(pure)]` function, whose companion type is not
/// generic) is another node, since one slot holds one type.
fn typed_key<T: 'static>(key: u64) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    TypeId::of::<T>().hash(&mut hasher);
    hasher.finish() | (1 << 63)
}

/// Builds a node of an operation (operator, `map`, `split`, …) at the caller's call
/// site; `key` is its pure key (see [`pure_key`]), or `None` for a node of its own.
#[track_caller]
pub(crate) fn task_here<T, F>(
    name: &'static str,
    kind: &'static str,
    parents: impl Into<ParentList>,
    key: Option<u64>,
    run: F,
) -> Delayed<T>
where
    T: Send + Sync + 'static,
    F: Fn(&Env<'_>) -> T + Send + Sync + 'static,
{
    task_at(name, kind, parents, key, run, Location::caller())
}

/// [`task_here`] at `location`.
#[inline(always)]
fn task_at<T, F>(
    name: &'static str,
    kind: &'static str,
    parents: impl Into<ParentList>,
    key: Option<u64>,
    run: F,
    location: &'static Location<'static>,
) -> Delayed<T>
where
    T: Send + Sync + 'static,
    F: Fn(&Env<'_>) -> T + Send + Sync + 'static,
{
    Delayed::from_node(NodeRef::new(
        Meta::of_kind(name, kind, call_site_of(location), key.map(typed_key::<T>)),
        parents.into(),
        Task {
            run,
            _result: PhantomData,
        },
    ))
}

/// Feeds one argument of a pure task to the key's hasher.
pub(crate) type KeyPart<'a> = dyn Fn(&mut dyn Hasher) + 'a;

/// The identity of function type `F` in pure keys: its `TypeId` and full type name
/// (never its short name, which two closures or two `load`s in different modules
/// share), and `instance`: 0 for a function with no state (a fn item, a closure that
/// captures nothing), else a number of its own per [`delayed`] handle, since closures
/// of one type may capture different values.
#[doc(hidden)]
pub fn fn_identity<F: ?Sized + 'static>(instance: u64) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    TypeId::of::<F>().hash(&mut hasher);
    std::any::type_name::<F>().hash(&mut hasher);
    instance.hash(&mut hasher);
    hasher.finish()
}

/// The instance of a generic function named with a turbofish (`bits::<u8>`), for
/// [`fn_identity`]: its item's type name, which has the type arguments in it.
#[doc(hidden)]
pub fn item_identity<F>(_item: &F) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::any::type_name::<F>().hash(&mut hasher);
    hasher.finish()
}

/// The key of a pure task: its function's identity (see [`fn_identity`]) and the keys
/// or hashes of its inputs; [`task`] adds the result type.
#[doc(hidden)]
pub fn pure_key(function: u64, inputs: &[&KeyPart<'_>]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    function.hash(&mut hasher);
    for input in inputs {
        input(&mut hasher);
    }
    hasher.finish() | (1 << 63)
}

impl<T> Delayed<T> {
    pub(crate) fn from_node(node: NodeRef) -> Self {
        Delayed {
            node,
            _value: PhantomData,
        }
    }

    /// The node's name: the function's, or the one set with [`named`](Self::named).
    pub fn name(&self) -> &str {
        let meta = self.node.meta();
        meta.last_names()
            .map_or(meta.label.name, |names| &names.name)
    }

    /// The node's key: its name and a number (Dask's key), e.g. `inc-17`; a name set
    /// with [`named`](Self::named) is the whole key.
    pub fn key(&self) -> String {
        let meta = self.node.meta();
        let number = meta.key & !(1 << 63);
        match meta.last_names() {
            Some(names) if names.is_key => names.name.to_string(),
            Some(names) => format!("{}-{number}", names.name),
            None => format!("{}-{number}", meta.label.name),
        }
    }

    /// Where the node was built, as `file:line:column`.
    pub fn call_site(&self) -> &str {
        self.node.meta().label.call_site
    }

    /// Names the node (`load-3`): the name shows in errors, inspection and keys. As in
    /// Dask, where the name is the key, equal pure calls named differently are separate
    /// nodes: named alike they are one, and named one only they are two, each run (a
    /// split's parts, which take their element out of one tuple, stay one node). The
    /// node itself is named, not a copy: every clone of this `Delayed` has the name.
    ///
    /// The name is the key's text, not the node's identity: calls that differ (impure
    /// ones, or pure ones with other arguments) named alike stay separate nodes, each
    /// computed, though their [`key`](Self::key)s read the same. In Dask a graph holds
    /// one task per key, so there the second silently stands for the first
    /// (`delayed(inc)(1, dask_key_name="k")` and `delayed(inc)(2,
    /// dask_key_name="k")` compute to `(2, 2)`).
    pub fn named(self, name: impl Into<String>) -> Self {
        let name: String = name.into();
        self.node.meta().set_name(name.into());
        self
    }

    /// The graph that computing this value would run, without running it.
    pub fn info(&self) -> GraphInfo {
        plan::Plan::new(vec![self.node.clone()]).info()
    }
}

/// The graph that computing `outputs` together would run (see `inspect::info`).
pub(crate) fn info_of(outputs: &[NodeRef]) -> GraphInfo {
    plan::Plan::new(outputs.to_vec()).info()
}

impl<T: Send + Sync + 'static> Delayed<T> {
    /// Computes the value on rayon's pool.
    ///
    /// # Panics
    /// When a task panics, with a message naming the task and its call site.
    #[track_caller]
    pub fn compute(&self) -> T {
        // As `try_compute_with`, the value read from the run's slot into this return
        // place.
        let mut options = Some(RunOptions::new());
        crate::engine::sync::value_with_room_for_run::<T, _>(|| self.compute_here(&mut options))
    }

    /// Computes the value; a task's panic comes back as a [`TaskError`].
    pub fn try_compute(&self) -> Result<T, TaskError> {
        self.try_compute_with(RunOptions::new())
    }

    /// Computes the value with the given scheduler.
    pub fn try_compute_with(&self, options: impl Into<RunOptions>) -> Result<T, TaskError> {
        // The value passes through the run's frames by value: room for copies of it
        // when large, unwrapped from its tuple inside that room.
        let mut options = Some(options.into());
        crate::engine::sync::with_room_for_run::<T, _>(|| self.compute_here(&mut options))
    }

    /// [`try_compute_with`](Self::try_compute_with) with `options`, which are there, in
    /// frames of its own (see `with_room`).
    fn compute_here(&self, options: &mut Option<RunOptions>) -> Result<T, TaskError> {
        let options = options.take().expect("run once");
        plan::compute_here(options, (self,)).map(|(value,)| value)
    }

    /// A task that applies `f` to the value (by reference): a method call, a field.
    ///
    /// Pure, as Dask treats attribute access and method calls: for a function with no
    /// state (a fn item, a closure that captures nothing), `d.map(f)` twice is one node.
    /// A closure that captures values is a node of its own per call, since another
    /// closure of the same type may hold other values. So a closure that captures
    /// nothing but reads state from elsewhere (a `static`, a thread-local, a clock, a
    /// random source), mapped twice over one node, runs once: for a node per call,
    /// write it as a task, `delayed(f).call(&d)`.
    #[track_caller]
    pub fn map<U, F>(&self, f: F) -> Delayed<U>
    where
        U: Send + Sync + 'static,
        F: Fn(&T) -> U + Send + Sync + 'static,
    {
        // A closure that captures a large value is made into its node inside stack room
        // for it in a debug build, as `Delayed::value`'s value is (see `taken_into_room`):
        // each frame it passed through kept a copy, and one of 2 MiB overflowed an 8 MiB
        // `main` where plain code keeping it (in a `Box`) runs. Each branch moves `f` first.
        if const { crate::engine::sync::taken_into_room::<F>() } {
            let mut f = Some(f);
            let location = Location::caller();
            crate::engine::sync::with_room_taking(&mut f, |f| self.map_at(f, location))
        } else {
            #[cfg(debug_assertions)]
            let f = f;
            self.map_at(f, Location::caller())
        }
    }

    /// [`map`](Self::map) made at `location`.
    #[inline(always)]
    fn map_at<U, F>(&self, f: F, location: &'static Location<'static>) -> Delayed<U>
    where
        U: Send + Sync + 'static,
        F: Fn(&T) -> U + Send + Sync + 'static,
    {
        let key = (std::mem::size_of::<F>() == 0).then(|| {
            let input = self.node.meta().key;
            pure_key(
                fn_identity::<F>(0),
                &[
                    &|h: &mut dyn Hasher| h.write(b"map"),
                    &|h: &mut dyn Hasher| h.write_u64(input),
                ],
            )
        });
        let run = move |env: &Env<'_>| {
            let mut cursor = 0;
            f(crate::engine::slot::Lend::lend(
                &env.input::<T>(&mut cursor),
            ))
        };
        task_at("map", "map", [self.node.clone()], key, run, location)
    }
}

impl<T: Clone + Send + Sync + 'static> Delayed<T> {
    /// Computes the value now and returns a node holding it: later graphs that use
    /// it read the held value instead of running its tasks again.
    ///
    /// # Panics
    /// When a task panics, with a message naming the task and its call site; see
    /// [`try_persist`](Self::try_persist) for the error as a value.
    #[track_caller]
    pub fn persist(&self) -> Delayed<T> {
        match self.try_persist() {
            Ok(held) => held,
            Err(error) => error.resume(),
        }
    }

    /// [`persist`](Self::persist), with a task's panic coming back as a [`TaskError`]
    /// (Dask's `persist` raises the task's exception, which the caller may catch):
    /// nothing is held then, and the `TaskError` carries the task's payload.
    pub fn try_persist(&self) -> Result<Delayed<T>, TaskError> {
        // The value is computed and held in stack room for it, where a 2 MiB value
        // overflowed an 8 MiB `main` (each frame above the run keeps a copy in a debug
        // build); only the node comes out.
        crate::engine::sync::with_room_for_run::<T, _>(|| {
            self.try_compute().map(|value| self.holding(value))
        })
    }

    /// A node holding `value`, computed for this one: its name and key.
    pub(crate) fn holding(&self, value: T) -> Delayed<T> {
        let meta = Meta::new(
            self.node.meta().label.name,
            self.node.meta().label.call_site,
            Some(self.node.meta().key),
        );
        if let Some(names) = self.node.meta().last_names() {
            meta.add_name(names.name.clone(), names.is_key);
        }
        // Kept beyond the graph it came from: not in a block with its nodes.
        Delayed::from_node(NodeRef::new_lasting(
            meta,
            ParentList::default(),
            Held { value },
        ))
    }
}

impl<T: Clone + Send + Sync + 'static> Delayed<T> {
    /// A constant as a node (Dask's `delayed(1)`): usable wherever a node is, as an
    /// argument, in operators, [`map`](Self::map) or [`compute`](Self::compute). Each
    /// run reads a clone of the value, since a graph may run more than once.
    ///
    /// ```
    /// use graph_runtime::Delayed;
    /// let five = Delayed::value(5);
    /// assert_eq!((&five + 1).compute(), 6);
    /// ```
    #[track_caller]
    pub fn value(value: T) -> Delayed<T> {
        // A large value is made into its node inside stack room for it in a debug
        // build (see `taken_into_room`): each frame it passed through kept a copy, and
        // a 2 MiB one overflowed an 8 MiB `main` where plain code holding it runs.
        // In a debug build each branch moves `value` first, before a call: moved later,
        // or in one branch only, it was copied to a temporary first (its drop flag).
        // An optimised build writes it straight into the node (see `NodeRef::new`).
        if const { crate::engine::sync::taken_into_room::<T>() } {
            let mut value = Some(value);
            let call_site = call_site_of(Location::caller());
            crate::engine::sync::with_room_taking(&mut value, |value| {
                Self::value_at(value, call_site)
            })
        } else {
            #[cfg(debug_assertions)]
            let value = value;
            Self::value_at(value, call_site_of(Location::caller()))
        }
    }

    /// [`value`](Self::value) made at `call_site`.
    #[inline(always)]
    fn value_at(value: T, call_site: &'static str) -> Delayed<T> {
        let meta = Meta::of_kind("value", "value", call_site, None);
        Delayed::from_node(NodeRef::new(meta, ParentList::default(), Held { value }))
    }
}

/// A persisted value, or a constant made a node.
struct Held<T> {
    value: T,
}

impl<T: Clone + Send + Sync + 'static> Body for Held<T> {
    fn add_slot(&self, arena: &mut ArenaBuilder) {
        arena.push::<T>();
    }
    fn run(&self, env: &Env<'_>) -> Flow {
        // The clone passes through `put`'s frames: room for it, as a task's result
        // has (a 2 MiB one overflowed a 2 MiB worker).
        crate::engine::sync::with_room_for::<T, _>(|| env.put(self.value.clone()));
        Flow::Continue
    }
}

/// The kind of a split's nodes, the tuple's and its parts': the plan merges twin parts
/// whatever their names (see `Plan::borrowing`).
pub(crate) const SPLIT: &str = "split";

/// The node of one part of a split tuple: takes its part out of the split node's
/// `Mutex` (each part is read once), named `split.0`, `split.1`, ….
#[track_caller]
fn split_part<P, X>(
    parts: &Delayed<P>,
    name: &'static str,
    get: fn(&P) -> &Mutex<Option<X>>,
) -> Delayed<X>
where
    P: Send + Sync + 'static,
    X: Send + Sync + 'static,
{
    let of = parts.node.meta().key;
    let key = pure_key(
        fn_identity::<fn(&P) -> X>(0),
        &[
            &|h: &mut dyn Hasher| h.write(name.as_bytes()),
            &|h: &mut dyn Hasher| h.write_u64(of),
        ],
    );
    task_here(name, SPLIT, [parts.node.clone()], Some(key), move |env| {
        let mut cursor = 0;
        let parts = env.input::<P>(&mut cursor);
        let taken = get(crate::engine::slot::Lend::lend(&parts))
            .lock()
            .recover()
            .take();
        taken.expect("each part is taken once")
    })
}

macro_rules! split_tuple {
    ($n:literal: $($ty:ident $i:tt),+) => {
        impl<$($ty),+> Delayed<($($ty,)+)>
        where
            $($ty: Clone + Send + Sync + 'static,)+
        {
            #[doc = concat!(
                "Splits a value of a ", stringify!($n), "-tuple into one node per \
                 element (Dask's `nout=", stringify!($n), "`). The tuple is \
                 moved apart, not cloned, when nothing else reads it.\n\n\
                 Pure, as Dask's indexing is: `d.split()` twice gives the same nodes."
            )]
            #[track_caller]
            pub fn split(&self) -> ($(Delayed<$ty>,)+) {
                let input = self.node.meta().key;
                let key = pure_key(
                    fn_identity::<fn(($($ty,)+))>(0),
                    &[&|h: &mut dyn Hasher| h.write(b"split"), &|h: &mut dyn Hasher| {
                        h.write_u64(input)
                    }],
                );
                let parts = task_here("split", SPLIT, [self.node.clone()], Some(key), |env| {
                    let mut cursor = 0;
                    let whole =
                        crate::engine::slot::give(&mut env.input::<($($ty,)+)>(&mut cursor));
                    ($(Mutex::new(Some(whole.$i)),)+)
                });
                ($(split_part(&parts, concat!("split.", stringify!($i)), |p| &p.$i),)+)
            }
        }
    };
}

// A 1-tuple too, as Dask's `nout=1` gives a tuple of one (and `graph!` splits
// `let (a,) = f(x);`).
split_tuple!(1: A 0);
split_tuple!(2: A 0, B 1);
split_tuple!(3: A 0, B 1, C 2);
split_tuple!(4: A 0, B 1, C 2, D 3);
split_tuple!(5: A 0, B 1, C 2, D 3, E 4);
split_tuple!(6: A 0, B 1, C 2, D 3, E 4, F 5);
split_tuple!(7: A 0, B 1, C 2, D 3, E 4, F 5, G 6);
split_tuple!(8: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
split_tuple!(9: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
split_tuple!(10: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
split_tuple!(11: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
split_tuple!(12: A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// Combines `parts` pairwise in a balanced tree of `combine` tasks (Dask's tree
/// reduction): depth `log2(n)`, so the combines run in parallel.
///
/// # Panics
/// When `parts` is empty.
#[track_caller]
pub fn tree_reduce<T, F>(parts: Vec<Delayed<T>>, combine: F) -> Delayed<T>
where
    T: Send + Sync + Clone + 'static,
    F: Fn(T, T) -> T + Send + Sync + 'static,
{
    assert!(!parts.is_empty(), "tree_reduce of no parts");
    let combine = Arc::new(combine);
    let location = call_site_of(Location::caller());
    let mut level = parts;
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut items = level.into_iter();
        while let Some(a) = items.next() {
            match items.next() {
                Some(b) => {
                    let combine = combine.clone();
                    let task = Task {
                        run: move |env: &Env<'_>| {
                            // Stack room for the two values read and passed, as a call's
                            // arguments have (the task's run has room for its result):
                            // two 2 MiB parts overflowed an optimised build's room.
                            crate::engine::sync::with_room_for::<(T, T), _>(|| {
                                let mut cursor = 0;
                                let a = crate::engine::slot::Give::give(
                                    &mut env.input::<T>(&mut cursor),
                                );
                                let b = crate::engine::slot::Give::give(
                                    &mut env.input::<T>(&mut cursor),
                                );
                                combine(a, b)
                            })
                        },
                        _result: PhantomData,
                    };
                    next.push(Delayed::from_node(NodeRef::new(
                        Meta::new("tree_reduce", location, None),
                        ParentList::from([a.node, b.node]),
                        task,
                    )));
                }
                None => next.push(a),
            }
        }
        level = next;
    }
    level.pop().expect("one part is left")
}

/// A function or closure made into a task builder (Dask's `delayed(f)`):
/// `delayed(f).call(a, b)` builds a node of `f(a, b)`. It takes the arguments `delay!`
/// takes (see [`IntoArg`]): `Delayed<T>`, `&Delayed<T>`, `Future<T>` or a plain value
/// for a `T` parameter, collections of nodes for a `Vec<T>` one (nested `Vec`s and maps
/// of nodes for `Vec<Vec<T>>`, `HashMap<K, T>` and `BTreeMap<K, T>` ones), tuples of
/// nodes for a tuple, and the same, lent, for `&T`, `&[T]` and `&str` parameters.
#[track_caller]
pub fn delayed<F, Sig>(f: F) -> DelayedFn<F, Sig>
where
    F: Signature<Sig>,
{
    // A function that captures a large value is moved into its `Arc` inside stack room
    // for it in a debug build, as `Delayed::map`'s is.
    if const { crate::engine::sync::taken_into_room::<F>() } {
        let mut f = Some(f);
        let location = Location::caller();
        crate::engine::sync::with_room_taking(&mut f, |f| delayed_at(f, location))
    } else {
        #[cfg(debug_assertions)]
        let f = f;
        delayed_at(f, Location::caller())
    }
}

/// [`delayed`] at `location`.
#[inline(always)]
fn delayed_at<F, Sig>(f: F, location: &'static Location<'static>) -> DelayedFn<F, Sig> {
    let instance = fn_instance::<F>();
    DelayedFn {
        f: Arc::new(f),
        name: crate::engine::names::short_type_name::<F>(),
        owned_name: None,
        instance,
        call_site: call_site_of(location),
        retries: 0,
        _sig: PhantomData,
    }
}

/// Numbers of [`delayed`] handles of functions with state (0 is "no state").
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// The instance of a handle of function `F` for [`fn_identity`]: a function with state
/// (a capturing closure, a fn pointer) is keyed per handle, since another handle of
/// the same type may hold other values; one with none (0) is its type.
pub(crate) fn fn_instance<F>() -> u64 {
    if std::mem::size_of::<F>() == 0 {
        0
    } else {
        NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed)
    }
}

/// Names a function's parameter list, so that [`delayed`] knows its arity:
/// implemented for every `Fn(A, B, …) -> R` with `Sig = fn(A, B, …) -> R`, up to six
/// parameters.
#[diagnostic::on_unimplemented(
    message = "`delayed` takes the function itself, not the result of calling it: `{Self}` is not a function",
    label = "not a function or closure (of up to six parameters)",
    note = "write `delayed(inc).call(1)`: the function, then its arguments; or `delay!(inc(1))` for a `#[delayed]` function"
)]
pub trait Signature<Sig> {}

/// A task builder made by [`delayed`].
#[must_use = "a `DelayedFn` builds nothing until `.call(…)`; builder methods return the changed builder"]
pub struct DelayedFn<F, Sig, Purity = Impure, Retry = NoRetries> {
    f: Arc<F>,
    name: &'static str,
    /// A name set with [`named`](DelayedFn::named) that is not `&'static`: set on each
    /// task built (`name` then stays the function's, for nothing reads it).
    owned_name: Option<Arc<str>>,
    /// Which handle this is, for pure keys (see [`fn_identity`]).
    instance: u64,
    call_site: &'static str,
    /// How many more times a panicking task runs (see [`DelayedFn::retries`]); 0 for
    /// [`NoRetries`].
    retries: u32,
    _sig: PhantomData<BuilderState<Sig, Purity, Retry>>,
}

/// A [`DelayedFn`]'s type-level state (`Send`, `Sync`, no ownership).
type BuilderState<Sig, Purity, Retry> = fn() -> (Sig, Purity, Retry);

/// Another handle on the same function (its state shared, not copied), with the same
/// settings: equal pure calls through either are one node.
impl<F, Sig, Purity, Retry> Clone for DelayedFn<F, Sig, Purity, Retry> {
    fn clone(&self) -> Self {
        DelayedFn {
            f: self.f.clone(),
            name: self.name,
            owned_name: self.owned_name.clone(),
            instance: self.instance,
            call_site: self.call_site,
            retries: self.retries,
            _sig: PhantomData,
        }
    }
}

/// [`DelayedFn`] of a function that may give different results for equal arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct Impure;
/// [`DelayedFn`] of a pure function: equal arguments, one node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pure;
/// [`DelayedFn`] whose tasks fail on their first panic (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRetries;
/// [`DelayedFn`] whose tasks run again after a panic (see [`DelayedFn::retries`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Retried;

impl<F, Sig, Purity, Retry> DelayedFn<F, Sig, Purity, Retry> {
    /// Names the tasks this builds (the default is the function's name): a
    /// `&'static str`, or a `String` such as `format!("load-{i}")`. Their keys stay
    /// `name-N`, one per task (where [`Delayed::named`] sets a node's whole key). Only
    /// the name shown: pure keys still tell functions apart by their identity, but pure
    /// calls named differently are separate nodes, each showing its own name.
    ///
    /// A `&'static str` is kept as it is; a `String` is shared by the tasks built.
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        match name.into() {
            Cow::Borrowed(name) => {
                self.name = name;
                self.owned_name = None;
            }
            Cow::Owned(name) => self.owned_name = Some(name.into()),
        }
        self
    }

    /// Marks the function pure: calls with equal arguments (equal nodes, equal `Hash`
    /// constants, floats with equal bits) are one node, computed once (Dask's
    /// `pure=True`). Every argument must be [`PureKey`]: an argument that cannot be
    /// keyed does not compile.
    pub fn pure(self) -> DelayedFn<F, Sig, Pure, Retry> {
        DelayedFn {
            f: self.f,
            name: self.name,
            owned_name: self.owned_name,
            instance: self.instance,
            call_site: self.call_site,
            retries: self.retries,
            _sig: PhantomData,
        }
    }

    /// Runs a panicking task again, up to `retries` more times, before the graph fails
    /// (as the futures' `TaskBuilder::retries`, and Dask's `retries=` annotation). The
    /// task's arguments are read once: attempts before the last get clones of its
    /// by-value arguments (or loans, for `&T`, `&[T]` and `&str` parameters), and the
    /// last takes them as a task without retries does. When every attempt panics, the
    /// error is the last attempt's, naming the task, and its dependents do not run;
    /// earlier attempts' panics are dropped.
    ///
    /// Kept by [`pure`](Self::pure) and [`named`](Self::named); pure calls that differ
    /// in their retries are separate nodes (each with its own). A retried call's by-value arguments must be `Clone` (see
    /// [`RetryArg`]): a call whose arguments cannot be passed again does not compile.
    /// Tasks built without `retries` pay nothing for it.
    pub fn retries(self, retries: u32) -> DelayedFn<F, Sig, Purity, Retried> {
        DelayedFn {
            f: self.f,
            name: self.name,
            owned_name: self.owned_name,
            instance: self.instance,
            call_site: self.call_site,
            retries,
            _sig: PhantomData,
        }
    }
}

macro_rules! delayed_fn_arity {
    // The types of the `Chain` bound (see `args::Chain`): the first argument's kind
    // (`NoArgs` for none), and the kinds after it.
    (@first) => { args::NoArgs };
    (@first $a:ident $(, $rest:ident)*) => { $a::Arg };
    (@rest) => { () };
    (@rest $a:ident $(, $rest:ident)*) => { delayed_fn_arity!(@after $($rest),*) };
    (@after) => { () };
    (@after $a:ident $(, $rest:ident)*) => { ($a::Arg, delayed_fn_arity!(@after $($rest),*)) };
    ($($arg:ident: $ty:ident / $a:ident / $m:ident),*) => {
        impl<F, R, $($ty),*> Signature<fn($($ty),*) -> R> for F where F: Fn($($ty),*) -> R {}

        delayed_fn_arity!(@impls NoRetries, Chain, call_with, (); $($arg: $ty / $a / $m),*);
        delayed_fn_arity!(@impls Retried, RetryChain, call_with_retries, (retries); $($arg: $ty / $a / $m),*);
    };
    (@impls $retry:ident, $chain:ident, $call:ident, ($($retries:ident)?); $($arg:ident: $ty:ident / $a:ident / $m:ident),*) => {
        impl<F, R, $($ty),*> DelayedFn<F, fn($($ty),*) -> R, Impure, $retry>
        where
            // `F: Fn($($ty),*) -> R` holds (see `Signature`); the call's own bounds
            // say how each argument reaches it, by value or lent, and what `F` and
            // `R` must be: a trait bound of the impl would hide the method from a
            // call that does not meet it, and `.call(..)` would then be `Fn::call`
            // (an unstable feature and `UseDotCall`), not its own error.
            $($ty: 'static,)* // a task outlives this call: pass owned values, not borrows (a `&T` parameter borrows the task's copy)
        {
            /// Builds a node that calls the function with these arguments: nodes,
            /// collections or tuples of nodes, futures, or plain values (see
            /// [`IntoArg`]); a `&T` parameter borrows its argument's value.
            #[allow(clippy::too_many_arguments)]
            pub fn call<$($a: IntoArg<$ty>),*>(&self $(, $arg: $a)*) -> Delayed<R>
            where
                F: Send + Sync + 'static,
                R: Send + NodeValue + 'static,
                delayed_fn_arity!(@first $($a),*):
                    args::$chain<F, R, ($($a::Arg,)*), (), delayed_fn_arity!(@rest $($a),*)>,
            {
                delayed_fn_arity!(@body self, None, $chain, $call, ($($retries)?), $($arg: $a),*)
            }
        }

        impl<F, R, $($ty),*> DelayedFn<F, fn($($ty),*) -> R, Pure, $retry>
        where
            // `F: Fn($($ty),*) -> R` holds (see `Signature`); the call's own bounds
            // say how each argument reaches it, by value or lent, and what `F` and
            // `R` must be: a trait bound of the impl would hide the method from a
            // call that does not meet it, and `.call(..)` would then be `Fn::call`
            // (an unstable feature and `UseDotCall`), not its own error.
            $($ty: 'static,)* // a task outlives this call: pass owned values, not borrows (a `&T` parameter borrows the task's copy)
        {
            /// Builds a node that calls the function with these arguments (see
            /// [`IntoArg`]); a call with the same arguments as another (see
            /// [`PureKey`]) is the same node.
            #[allow(clippy::too_many_arguments)]
            pub fn call<$($a: IntoArg<$ty> + PureKey<$m>, $m),*>(&self $(, $arg: $a)*) -> Delayed<R>
            where
                F: Send + Sync + 'static,
                R: Send + NodeValue + 'static,
                delayed_fn_arity!(@first $($a),*):
                    args::$chain<F, R, ($($a::Arg,)*), (), delayed_fn_arity!(@rest $($a),*)>,
            {
                // Keyed by the values as passed, before they become task arguments,
                // and by what the builder sets (name, retries): twins that differ
                // there are nodes of their own, never one that takes either's. (The
                // key is made where the node is, in its stack room if it has one:
                // made before, it kept a large argument's copy in this frame.)
                delayed_fn_arity!(@body self, Some(pure_key(
                    fn_identity::<F>(self.instance),
                    &[
                        &|h: &mut dyn Hasher| {
                            h.write(self.owned_name.as_deref().unwrap_or(self.name).as_bytes());
                            h.write_u32(self.retries);
                        },
                        $(&|h: &mut dyn Hasher| $arg.pure_key(h)),*
                    ],
                )), $chain, $call, ($($retries)?), $($arg: $a),*)
            }
        }
    };
    (@body $self:ident, $key:expr, $chain:ident, $call:ident, ($($retries:ident)?), $($arg:ident: $a:ident),*) => {{
        // Large arguments are made into the node inside stack room for them: each
        // frame and closure they passed through kept a copy in a debug build, and an
        // optimised build kept one or two in this frame as its inlining fell out (a
        // 2 MiB argument overflowed an 8 MiB `main` where plain code holding it runs).
        // Each is taken from an `Option` of its own, its one copy here. In a debug
        // build each branch moves the arguments first (see `Delayed::value`).
        if const { crate::engine::sync::is_large::<($($a,)*)>() } {
            $(let mut $arg = Some($arg);)*
            crate::engine::sync::with_room_for_run::<($($a,)*), _>(|| {
                $(let $arg = $arg.take().expect("the room runs its closure once");)*
                delayed_fn_arity!(@build $self, $key, $chain, $call, ($($retries)?), $($arg: $a),*)
            })
        } else {
            $(#[cfg(debug_assertions)] let $arg = $arg;)*
            delayed_fn_arity!(@build $self, $key, $chain, $call, ($($retries)?), $($arg: $a),*)
        }
    }};
    (@build $self:ident, $key:expr, $chain:ident, $call:ident, ($($retries:ident)?), $($arg:ident: $a:ident),*) => {{
        // Of the arguments as passed.
        let key = $key;
        #[allow(unused_mut)]
        let mut parents = Parents::new();
        $(let $arg = $arg.into_arg(&mut parents);)*
        let kept = ($($arg,)*);
        let f = $self.f.clone();
        $(let $retries = $self.retries;)?
        let node = task($self.name, $self.call_site, parents, key, move |env: &Env<'_>| {
            <delayed_fn_arity!(@first $($a),*) as args::$chain<_, _, _, (), delayed_fn_arity!(@rest $($a),*)>>::$call(
                &kept, &*f, env $(, $retries)?
            )
        });
        if let Some(name) = &$self.owned_name {
            node.node.meta().set_task_name(name.clone());
        }
        node
    }};
}

delayed_fn_arity!();
delayed_fn_arity!(a: A / IA / MA);
delayed_fn_arity!(a: A / IA / MA, b: B / IB / MB);
delayed_fn_arity!(a: A / IA / MA, b: B / IB / MB, c: C / IC / MC);
delayed_fn_arity!(a: A / IA / MA, b: B / IB / MB, c: C / IC / MC, d: D / ID / MD);
delayed_fn_arity!(a: A / IA / MA, b: B / IB / MB, c: C / IC / MC, d: D / ID / MD, e: E / IE / ME);
delayed_fn_arity!(a: A / IA / MA, b: B / IB / MB, c: C / IC / MC, d: D / ID / MD, e: E / IE / ME, g: G / IG / MG);

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl<F, Sig, Purity, Retry> std::fmt::Debug for DelayedFn<F, Sig, Purity, Retry> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelayedFn")
            .field("name", &self.owned_name.as_deref().unwrap_or(self.name))
            .field("call_site", &self.call_site)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}
