//! A dynamic graph's nodes: carved from their thread's block of nodes (see
//! [`blocks`]) or, for large and lasting ones, one allocation each; reached through a
//! thin, counted pointer ([`NodeRef`]), dropped in a loop rather than by recursion.
//!
//! A node is its common part ([`Node`]: the reference count, where it is in its block,
//! its body's functions, its [`Meta`] and its parents) followed by its own work (a
//! [`Body`] of any type), in one `#[repr(C)]` block. The common part is at the start,
//! so a pointer to it is a pointer to the node: a parent is one word rather than an
//! `Arc<dyn …>`'s two, and laying a graph out reads marks and parents without a
//! virtual call. There are no weak references, so the count and the node's place in
//! its block share one word, and dropping a handle is one atomic operation on its
//! count (and, for the last of a carved node, one on its block's). The drop loop does
//! better: the last handle, which it knows it holds, needs no decrement, and the nodes
//! of one block it drops in a row are given back to the block at once.

use crate::engine::sync::{fence, AtomicU32, Ordering};
#[cfg(feature = "hyperqueue")]
use core::any::Any;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::cell::{Cell, RefCell};

use super::{blocks, ArenaBuilder, Env, Meta};
use crate::engine::dispatch::Flow;

/// A node's own work, with its result type erased.
pub(crate) trait Body: Send + Sync + 'static {
    /// The node's result slot in the arena of a run.
    fn add_slot(&self, arena: &mut ArenaBuilder);
    /// Runs the task: reads its inputs from `env`, stores its result.
    fn run(&self, env: &Env<'_>) -> Flow;
    /// What a remote task's node says of its call (a `#[delayed(remote)]` function
    /// built with `delay!`; see [`RemoteSpec`](super::RemoteSpec)), for a cluster
    /// backend to read.
    #[cfg(feature = "hyperqueue")]
    fn remote(&self) -> Option<&(dyn Any + Send + Sync)> {
        None
    }
}

/// What every node has, at the start of its allocation.
#[repr(C)]
pub(crate) struct Node {
    /// Handles to the node ([`NodeRef`]s); the last one dropped frees it.
    strong: AtomicU32,
    /// Where a node carved from a block is in it, in bytes from the block's start
    /// (see [`blocks`]); unused for a node with an allocation of its own.
    in_block: u32,
    /// Its body's functions.
    functions: &'static Functions,
    meta: Meta,
    /// The nodes it reads, in argument order (a node read twice appears twice).
    parents: ParentList,
}

/// A node's allocation: the common part, then the body.
#[repr(C)]
struct NodeBox<B> {
    node: Node,
    body: B,
}

/// The functions of a node's body, given the pointer to the node (which is the
/// pointer to its `NodeBox<B>`).
struct Functions {
    add_slot: unsafe fn(NonNull<Node>, &mut ArenaBuilder),
    run: unsafe fn(NonNull<Node>, &Env<'_>) -> Flow,
    #[cfg(feature = "hyperqueue")]
    remote: unsafe fn(NonNull<Node>) -> Option<NonNull<dyn Any + Send + Sync>>,
    /// Drops the whole node and frees its allocation.
    free: unsafe fn(NonNull<Node>),
    /// Of a node carved from a block: drops the node in place and leaves its memory to
    /// the caller to give back (the drop loop gives a block the nodes it dropped in a
    /// row back at once).
    drop_carved: Option<unsafe fn(NonNull<Node>)>,
    /// The body has no drop glue, so freeing the node drops no other node's handle
    /// through it (see [`drop_last`]).
    plain_body: bool,
}

impl<B: Body> NodeBox<B> {
    /// The functions of a node with an allocation of its own.
    const BOXED: Functions = Functions {
        add_slot: add_slot::<B>,
        run: run::<B>,
        #[cfg(feature = "hyperqueue")]
        remote: remote::<B>,
        free: free::<B>,
        drop_carved: None,
        plain_body: !std::mem::needs_drop::<B>(),
    };

    /// The functions of a node carved from a block (see [`blocks`]).
    const CARVED: Functions = Functions {
        free: free_carved::<B>,
        drop_carved: Some(drop_carved::<B>),
        ..Self::BOXED
    };

    /// The body of the node at `node`.
    ///
    /// # Safety
    /// `node` points to a live `NodeBox<B>` (with the provenance of its allocation),
    /// which stays alive for `'a`.
    unsafe fn body<'a>(node: NonNull<Node>) -> &'a B {
        // SAFETY: the caller's contract; `NodeBox` is `repr(C)` with the node first, so
        // the node's address is the box's.
        unsafe { &node.cast::<NodeBox<B>>().as_ref().body }
    }
}

/// [`RunFn::OWN`].
///
/// # Safety
/// `node` points to a live node (with the provenance of its allocation).
unsafe fn run_own(node: NonNull<Node>, env: &Env<'_>) -> Flow {
    // SAFETY: the caller's contract; the node's `run` is the one made with its body.
    unsafe { (node.as_ref().functions.run)(node, env) }
}

/// # Safety
/// As for [`NodeBox::body`].
unsafe fn add_slot<B: Body>(node: NonNull<Node>, arena: &mut ArenaBuilder) {
    // SAFETY: the caller's contract.
    unsafe { NodeBox::<B>::body(node) }.add_slot(arena)
}

/// # Safety
/// As for [`NodeBox::body`].
unsafe fn run<B: Body>(node: NonNull<Node>, env: &Env<'_>) -> Flow {
    // SAFETY: the caller's contract.
    unsafe { NodeBox::<B>::body(node) }.run(env)
}

/// # Safety
/// As for [`NodeBox::body`]; the pointer returned is valid while the node is.
#[cfg(feature = "hyperqueue")]
unsafe fn remote<B: Body>(node: NonNull<Node>) -> Option<NonNull<dyn Any + Send + Sync>> {
    // SAFETY: the caller's contract.
    unsafe { NodeBox::<B>::body(node) }
        .remote()
        .map(NonNull::from)
}

/// # Safety
/// `node` is a `NodeBox<B>` made by [`NodeRef::new`] with an allocation of its own,
/// whose last handle is gone: no one uses it again.
unsafe fn free<B: Body>(node: NonNull<Node>) {
    // SAFETY: a `Box<MaybeUninit<NodeBox<B>>>` made in `NodeRef::new` and written
    // there (a `NodeBox<B>`'s layout), freed once.
    drop(unsafe { Box::from_raw(node.cast::<NodeBox<B>>().as_ptr()) });
}

/// # Safety
/// `node` is a `NodeBox<B>` made by [`NodeRef::new`] in memory carved from a block,
/// whose last handle is gone: no one uses it again.
unsafe fn free_carved<B: Body>(node: NonNull<Node>) {
    /// Gives the memory back even when the node's `Drop` unwinds.
    struct GiveBack(NonNull<Node>, u32);
    impl Drop for GiveBack {
        fn drop(&mut self) {
            // SAFETY: carved by `blocks::carve` at this offset (see `NodeRef::new`),
            // its value dropped (or abandoned by an unwinding `Drop`), and given back
            // once.
            unsafe { blocks::release(self.0.cast(), self.1) };
        }
    }
    // SAFETY: the node is alive until dropped below.
    let memory = GiveBack(node, unsafe { node.as_ref() }.in_block);
    // SAFETY: the caller's contract.
    unsafe { drop_carved::<B>(node) };
    drop(memory);
}

/// # Safety
/// `node` is a `NodeBox<B>` made by [`NodeRef::new`] in memory carved from a block,
/// whose last handle is gone: no one uses it again. Its memory is left to the caller
/// to give back.
unsafe fn drop_carved<B: Body>(node: NonNull<Node>) {
    // SAFETY: a live `NodeBox<B>` written there by `NodeRef::new`, dropped once.
    unsafe { core::ptr::drop_in_place(node.cast::<NodeBox<B>>().as_ptr()) };
}

/// A counted handle to a node: what a [`Delayed`](super::Delayed) holds, and each
/// parent in a node's list. One word.
#[repr(transparent)]
pub(crate) struct NodeRef(NonNull<Node>);

// SAFETY: a node is `Send + Sync`: its body is (`Body: Send + Sync`), and so are its
// meta and parents; its count is atomic, and the last handle frees it on its own
// thread, as an `Arc` of a `Send + Sync` value does.
unsafe impl Send for NodeRef {}
// SAFETY: as for `Send`: shared handles only read the node.
unsafe impl Sync for NodeRef {}

#[cfg(all(target_pointer_width = "64", not(loom)))]
const _: () = assert!(std::mem::size_of::<NodeRef>() == 8 && std::mem::size_of::<Node>() == 64);

impl NodeRef {
    /// A new node: `meta`, `parents`, then `body`.
    pub(crate) fn new<B: Body>(meta: Meta, parents: ParentList, body: B) -> NodeRef {
        NodeRef::new_in(meta, parents, body, true)
    }

    /// A node meant to outlive the graph it comes from (a persisted value): an
    /// allocation of its own, so that it keeps no block of short-lived nodes alive
    /// (see [`blocks`]).
    pub(crate) fn new_lasting<B: Body>(meta: Meta, parents: ParentList, body: B) -> NodeRef {
        NodeRef::new_in(meta, parents, body, false)
    }

    /// The node is written into its memory in place, its header and body each once:
    /// a body of a large value (`Delayed::value` of a 2 MiB array) built as a whole
    /// `NodeBox` first, in a closure, kept one more copy on the caller's stack in an
    /// optimised build, where plain code holding the value ran deeper in an 8 MiB
    /// `main` (a debug build keeps a copy in each frame anyway: `Delayed::value` and
    /// `delayed(f).call` make a large body in stack room).
    fn new_in<B: Body>(meta: Meta, parents: ParentList, body: B, carved: bool) -> NodeRef {
        let memory = carved
            .then(|| blocks::carve(core::alloc::Layout::new::<NodeBox<B>>()))
            .flatten();
        let (memory, functions, in_block) = match memory {
            Some((memory, in_block)) => (memory.cast(), &NodeBox::<B>::CARVED, in_block),
            None => {
                let memory = Box::leak(Box::<NodeBox<B>>::new_uninit());
                (NonNull::from(memory).cast(), &NodeBox::<B>::BOXED, 0)
            }
        };
        let memory: NonNull<NodeBox<B>> = memory;
        let node = Node {
            strong: AtomicU32::new(1),
            in_block,
            functions,
            meta,
            parents,
        };
        // SAFETY: `memory` is unused memory of the layout of a `NodeBox<B>`: carved by
        // `carve` (given back by `free_carved`, its `CARVED` functions, once the node is
        // dropped) or a `Box`'s (freed as one by `free`, its `BOXED` functions). Both
        // fields are written here, nothing is read before.
        unsafe {
            let memory = memory.as_ptr();
            core::ptr::addr_of_mut!((*memory).node).write(node);
            core::ptr::addr_of_mut!((*memory).body).write(body);
        }
        NodeRef(memory.cast())
    }

    /// A handle that does not count: it must not outlive a counted one.
    #[inline]
    pub(crate) fn borrowed(&self) -> Borrowed<'_> {
        Borrowed(self.0, PhantomData)
    }
}

impl core::ops::Deref for NodeRef {
    type Target = Node;
    #[inline]
    fn deref(&self) -> &Node {
        // SAFETY: the handle counts one use: the node is alive while it is.
        unsafe { self.0.as_ref() }
    }
}

impl Clone for NodeRef {
    #[inline]
    fn clone(&self) -> NodeRef {
        // Relaxed, as `Arc::clone`: a new handle is made from one that keeps the node
        // alive, so nothing needs ordering here.
        let old = self.strong.fetch_add(1, Ordering::Relaxed);
        if old > i32::MAX as u32 {
            // As `Arc`: a count this large (2^31 handles, 16 GiB of them) means leaked
            // handles; wrapping would free a node still in use.
            std::process::abort();
        }
        NodeRef(self.0)
    }
}

impl Drop for NodeRef {
    #[inline]
    fn drop(&mut self) {
        // Release, then Acquire on the last: every use through another handle happens
        // before the node is freed (as in `Arc`).
        if self.strong.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: this was the last handle, so no one uses the node again.
        unsafe { drop_last(self.0) };
    }
}

/// Frees a node whose last handle went, through this thread's drop loop (see
/// [`drop_parents`]): its body may hold the last handle of another node (a closure or
/// a value that keeps a `Delayed`, a chain of them), whose drop, freeing it at once,
/// recursed one stack frame per link (a stack overflow at 200,000 links).
///
/// # Safety
/// `node`'s count has just gone to zero: no one else holds or reaches it.
#[inline(never)]
unsafe fn drop_last(node: NonNull<Node>) {
    // SAFETY: alive until freed, and no one else reaches it (the caller's contract):
    // every other handle's use is ordered before this by the caller's Acquire fence.
    let functions = unsafe { node.as_ref() }.functions;
    if functions.plain_body {
        // A body without drop glue holds no handle, so freeing the node drops only its
        // parents, which `Node::drop` lets go of without recursing (`drop_parents`):
        // no loop is needed (a tree's or a wide graph's leaves took six thread-local
        // accesses each for it).
        // SAFETY: the last handle (the caller's contract), made by `NodeRef::new`
        // with the body `free` is for, freed once.
        unsafe { (functions.free)(node) };
        return;
    }
    // SAFETY: as above.
    unsafe { node.as_ref() }.strong.store(1, Ordering::Relaxed);
    // The loop's one handle of it: a node it holds the last handle of is freed there.
    let handle = NodeRef(node);
    through_loop(
        handle,
        |handle, stack| stack.push(handle),
        |handle| {
            // This thread's locals are gone: freed at once (its parents in a loop of
            // their own, `drop_parents_alone`).
            let handle = std::mem::ManuallyDrop::new(handle);
            // SAFETY: the one handle, given up here; made by `NodeRef::new` with the
            // body `free` is for.
            unsafe { (handle.functions.free)(handle.0) };
        },
    );
}

/// A node borrowed from a counted handle that outlives `'a` (what a plan holds for
/// every node it laid out: the graph's handles keep them alive). Runs the node's
/// body, which a plain `&Node` cannot reach.
#[derive(Clone, Copy)]
pub(crate) struct Borrowed<'a>(NonNull<Node>, PhantomData<&'a Node>);

// SAFETY: as for `NodeRef`, without the count.
unsafe impl Send for Borrowed<'_> {}
// SAFETY: as for `NodeRef`.
unsafe impl Sync for Borrowed<'_> {}

impl<'a> Borrowed<'a> {
    /// The node.
    #[inline]
    pub(crate) fn node(self) -> &'a Node {
        // SAFETY: a counted handle keeps it alive for `'a`.
        unsafe { self.0.as_ref() }
    }

    /// What the node records about itself.
    #[inline]
    pub(crate) fn meta(self) -> &'a Meta {
        &self.node().meta
    }

    /// The node's result slot in the arena of a run.
    pub(crate) fn add_slot(self, arena: &mut ArenaBuilder) {
        // SAFETY: the pointer came from a `NodeRef` (its allocation's provenance) whose
        // node is alive for `'a`, made with the body these functions are for.
        unsafe { (self.node().functions.add_slot)(self.0, arena) }
    }

    /// The function that runs the node's body, which a plan keeps apart (see
    /// [`RunFn`]).
    #[inline]
    pub(crate) fn run_fn(self) -> RunFn {
        RunFn(self.node().functions.run)
    }

    /// Runs the task, given its function: reads its inputs from `env`, stores its
    /// result, and reads nothing of the node but its body.
    ///
    /// # Safety
    /// `run` is this node's [`run_fn`](Self::run_fn).
    #[inline]
    pub(crate) unsafe fn run_with(self, run: RunFn, env: &Env<'_>) -> Flow {
        // SAFETY: the pointer came from a `NodeRef` (its allocation's provenance) whose
        // node is alive for `'a`; `run` is the one made with its body (the caller's
        // contract).
        unsafe { (run.0)(self.0, env) }
    }

    /// What a remote task's node says of its call (see [`Body::remote`]).
    #[cfg(feature = "hyperqueue")]
    pub(crate) fn remote(self) -> Option<&'a (dyn Any + Send + Sync)> {
        // SAFETY: as in `add_slot`; the description lives in the body, alive for `'a`.
        unsafe { (self.node().functions.remote)(self.0).map(|call| &*call.as_ptr()) }
    }

    /// The same borrow, for as long as the caller keeps a counted handle to the node
    /// alive (a plan, which holds its outputs and so every node it lays out).
    ///
    /// # Safety
    /// The node outlives every use of the returned handle.
    pub(crate) unsafe fn forever(self) -> Borrowed<'static> {
        Borrowed(self.0, PhantomData)
    }
}

/// The function that runs a node's body, given the node: the same for every node of
/// one body type, so a plan numbers the few distinct ones and keeps a number per node
/// (see `plan::PlanBuffers::bodies`). Running a node then reads nothing of it but its
/// body (nothing at all for a task whose closure captures nothing): its own memory is
/// read when the plan is made, and in a large graph it is out of the cache again when
/// the node runs. That one indirect load was most of a trivial task's run (a fan-in
/// of 200,000 nodes on one thread: most of the run's samples were on it).
#[derive(Clone, Copy)]
pub(crate) struct RunFn(unsafe fn(NonNull<Node>, &Env<'_>) -> Flow);

impl RunFn {
    /// Runs any node with the function it holds itself (one load more): what a plan
    /// uses for bodies it does not number.
    pub(crate) const OWN: RunFn = RunFn(run_own);

    /// The function's address: what tells two apart.
    #[inline]
    pub(crate) fn address(self) -> usize {
        self.0 as usize
    }
}

impl Node {
    #[inline]
    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The nodes it reads, in argument order (a node read twice appears twice).
    #[inline]
    pub(crate) fn parents(&self) -> &[NodeRef] {
        self.parents.as_slice()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.parents.first.is_null() {
            return;
        }
        drop_parents(std::mem::take(&mut self.parents));
    }
}

/// A node's parents, in two words: up to two handles inline (most tasks), a boxed
/// `Vec` beyond, so building a node of one or two parents allocates once.
///
/// Inline, `first` and `second` are the handles' pointers (each owning one count), a
/// null pointer where there is no handle, and `second` is null whenever `first` is.
/// Spilled, `first` is a `Box<Vec<NodeRef>>` made by `into_raw` and `second` is
/// [`SPILLED`], an address no node has.
#[repr(C)]
pub(crate) struct ParentList {
    first: *mut Node,
    second: *mut Node,
}

/// `ParentList::second` of a spilled list: odd, so never a node's address.
const SPILLED: *mut Node = core::ptr::without_provenance_mut(1);

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<ParentList>() == 16);

// SAFETY: the list owns `NodeRef`s (inline, or in its boxed `Vec`), which are `Send`
// and `Sync`; it hands out only shared references to them.
unsafe impl Send for ParentList {}
// SAFETY: as for `Send`.
unsafe impl Sync for ParentList {}

impl Default for ParentList {
    fn default() -> Self {
        ParentList {
            first: core::ptr::null_mut(),
            second: core::ptr::null_mut(),
        }
    }
}

impl ParentList {
    fn spilled(&self) -> Option<&Vec<NodeRef>> {
        // SAFETY: a spilled list's `first` is its live `Box<Vec<NodeRef>>` (see the
        // type's invariant), borrowed for as long as the list is.
        (self.second == SPILLED).then(|| unsafe { &*self.first.cast::<Vec<NodeRef>>() })
    }

    pub(crate) fn as_slice(&self) -> &[NodeRef] {
        if let Some(spilled) = self.spilled() {
            return spilled;
        }
        let len = usize::from(!self.first.is_null()) + usize::from(!self.second.is_null());
        // SAFETY: inline, the first `len` words of this `repr(C)` pair are non-null
        // pointers owned as handles (`second` is null whenever `first` is), and a
        // `NodeRef` is a `repr(transparent)` non-null pointer: the words read as `len`
        // handles, borrowed for as long as the list.
        unsafe { core::slice::from_raw_parts((self as *const Self).cast::<NodeRef>(), len) }
    }

    /// Adds a parent: inline for the first two (where every node of one or two
    /// parents stays, so this much is inlined into `delay!`'s code), in a `Vec` beyond.
    #[inline]
    pub(crate) fn push(&mut self, parent: NodeRef) {
        let parent = std::mem::ManuallyDrop::new(parent).0.as_ptr();
        if self.first.is_null() {
            self.first = parent;
        } else if self.second.is_null() {
            self.second = parent;
        } else {
            self.push_spilled(parent);
        }
    }

    /// [`push`](Self::push) of a third parent or more: `parent` is a handle's pointer,
    /// owning its count.
    #[inline(never)]
    fn push_spilled(&mut self, parent: *mut Node) {
        if self.second == SPILLED {
            // SAFETY: spilled, `first` is the list's own `Box<Vec<NodeRef>>`, borrowed
            // mutably through `&mut self`; the pointer becomes a handle again.
            unsafe {
                (*self.first.cast::<Vec<NodeRef>>()).push(NodeRef(NonNull::new_unchecked(parent)))
            };
        } else {
            // SAFETY: both inline words are handles this list owns: moved into the
            // `Vec`, and the words replaced at once, so each count is owned once.
            let spilled = unsafe {
                vec![
                    NodeRef(NonNull::new_unchecked(self.first)),
                    NodeRef(NonNull::new_unchecked(self.second)),
                    NodeRef(NonNull::new_unchecked(parent)),
                ]
            };
            self.first = Box::into_raw(Box::new(spilled)).cast();
            self.second = SPILLED;
        }
    }
}

impl Drop for ParentList {
    #[inline]
    fn drop(&mut self) {
        if self.first.is_null() {
            // Empty (`second` is null whenever `first` is): nothing to drop, as for
            // every node a drop loop has taken the parents of.
            return;
        }
        drop(std::mem::take(self).into_iter());
        // `take` left an empty list behind; its handles drop with the iterator.
    }
}

impl IntoIterator for ParentList {
    type Item = NodeRef;
    type IntoIter = IntoParents;

    /// The handles, moved out.
    fn into_iter(self) -> IntoParents {
        let list = std::mem::ManuallyDrop::new(self);
        if list.second == SPILLED {
            // SAFETY: spilled, `first` is the list's `Box<Vec<NodeRef>>`, taken back
            // once (the list is not dropped: `ManuallyDrop`).
            let spilled = unsafe { Box::from_raw(list.first.cast::<Vec<NodeRef>>()) };
            return IntoParents::Spilled(spilled.into_iter());
        }
        // Inline, each non-null word is a handle the list owns, taken once here.
        let handle = |word: *mut Node| NonNull::new(word).map(NodeRef);
        IntoParents::Inline(handle(list.first), handle(list.second))
    }
}

impl ParentList {
    /// Gives up each inline handle that is not its node's last (taking its count down,
    /// never to zero, so that no node is freed here); true when the list is empty
    /// then. The handles left are the last ones of their nodes (or a spilled list's),
    /// for [`drop_parents`]' loop.
    fn release_held(&mut self) -> bool {
        /// Takes `node`'s count down by one unless this is its last handle.
        fn release_unless_last(node: *mut Node) -> bool {
            // SAFETY: `node` is a handle the list owns (non-null, inline): alive.
            let strong = unsafe { &(*node).strong };
            let mut count = strong.load(Ordering::Relaxed);
            while count > 1 {
                // Release: this handle's uses happen before the node is freed by
                // whoever drops the last one (Acquire there), as in `NodeRef::drop`.
                match strong.compare_exchange_weak(
                    count,
                    count - 1,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => count = now,
                }
            }
            false
        }
        if self.second == SPILLED {
            return false;
        }
        // `second` is null whenever `first` is: the second handle goes first.
        if !self.second.is_null() && release_unless_last(self.second) {
            self.second = core::ptr::null_mut();
        }
        if !self.first.is_null() && release_unless_last(self.first) {
            self.first = std::mem::replace(&mut self.second, core::ptr::null_mut());
        }
        self.first.is_null()
    }

    /// The handles, pushed onto `stack` (in order).
    fn move_to(self, stack: &mut Vec<NodeRef>) {
        let list = std::mem::ManuallyDrop::new(self);
        if list.second == SPILLED {
            // SAFETY: spilled, `first` is the list's `Box<Vec<NodeRef>>`, taken back
            // once (the list is not dropped: `ManuallyDrop`).
            let mut spilled = unsafe { Box::from_raw(list.first.cast::<Vec<NodeRef>>()) };
            stack.append(&mut spilled);
            return;
        }
        // Inline, each non-null word is a handle the list owns, taken once here
        // (`second` is null whenever `first` is).
        if let Some(first) = NonNull::new(list.first) {
            stack.push(NodeRef(first));
            if let Some(second) = NonNull::new(list.second) {
                stack.push(NodeRef(second));
            }
        }
    }

    /// The handles, moved into a `Vec` (a spilled list's own, with no allocation).
    pub(crate) fn into_vec(self) -> Vec<NodeRef> {
        match self.into_iter() {
            IntoParents::Spilled(rest) => rest.collect(),
            inline => inline.collect(),
        }
    }
}

/// A [`ParentList`]'s handles, moved out of it in order.
pub(crate) enum IntoParents {
    Inline(Option<NodeRef>, Option<NodeRef>),
    Spilled(std::vec::IntoIter<NodeRef>),
}

impl Iterator for IntoParents {
    type Item = NodeRef;

    fn next(&mut self) -> Option<NodeRef> {
        match self {
            IntoParents::Inline(first, second) => first.take().or_else(|| second.take()),
            IntoParents::Spilled(rest) => rest.next(),
        }
    }
}

impl<const N: usize> From<[NodeRef; N]> for ParentList {
    fn from(parents: [NodeRef; N]) -> Self {
        let mut list = ParentList::default();
        for parent in parents {
            list.push(parent);
        }
        list
    }
}

#[cfg(not(loom))]
std::thread_local! {
    /// While a [`drop_parents`] loop runs on this thread, the parents of nodes dropped
    /// outside it (by a value's `Drop`), which it drains; between loops, the buffer the
    /// next loop takes for its stack.
    static DROPPING: RefCell<Vec<NodeRef>> = const { RefCell::new(Vec::new()) };
    /// Whether a [`drop_parents`] loop runs on this thread.
    static LOOP: Cell<bool> = const { Cell::new(false) };
    /// The queue of a loop started once [`DROPPING`] is torn down (by a thread local's
    /// destructor as the thread ends), on that loop's frame: no destructor, so it is
    /// reached to the thread's very end.
    static ORPHANED: Cell<*const RefCell<Vec<NodeRef>>> = const { Cell::new(core::ptr::null()) };
}

// Loom's threads share the process's one thread: its models need loom's thread-locals
// (with std's, one modelled thread would drain another's drops).
#[cfg(loom)]
loom::thread_local! {
    static DROPPING: RefCell<Vec<NodeRef>> = RefCell::new(Vec::new());
    static LOOP: Cell<bool> = Cell::new(false);
    static ORPHANED: Cell<*const RefCell<Vec<NodeRef>>> = Cell::new(core::ptr::null());
}

/// Drops a node's parents without recursing down a long chain. The first node dropped
/// on a thread runs a loop over a stack of its own (the thread's kept buffer): a node
/// popped that the loop holds the last handle to gives up its parents to the stack
/// before it is dropped (its count says no one else can reach it), so the stack stays
/// flat however long the chain, and dropping it finds no parents left. A node dropped
/// meanwhile by other means (a value's `Drop` that drops a `Delayed`) queues its parents
/// on [`DROPPING`], which the loop drains as well.
fn drop_parents(mut parents: ParentList) {
    // Most parents are still held by other handles (a node read by several nodes, or
    // kept by the caller): let go of at once, with no loop and no thread-local.
    if parents.release_held() {
        return;
    }
    through_loop(parents, ParentList::move_to, drop_parents_alone);
}

/// Drops what `put` puts on a stack in this thread's drop loop: queued for the loop
/// running already, or in a loop started here; `alone` drops it when this thread's
/// locals are torn down.
fn through_loop<S>(what: S, put: fn(S, &mut Vec<NodeRef>), alone: fn(S)) {
    // Whether this thread runs a loop already; none when its locals are torn down.
    let Ok(running) = LOOP.try_with(|running| running.replace(true)) else {
        return alone(what);
    };
    if running {
        let mut what = Some(what);
        let queued = DROPPING.try_with(|stack| {
            let what = what.take().expect("queued once");
            put(what, &mut stack.borrow_mut());
        });
        if let (Err(_), Some(what)) = (queued, what) {
            // The thread's locals are being torn down: the running loop's own queue
            // (freeing it here recursed once per link of a chain held in values).
            let orphaned = ORPHANED.try_with(Cell::get).unwrap_or(core::ptr::null());
            if orphaned.is_null() {
                return alone(what);
            }
            // SAFETY: set by the loop running on this thread to its queue, which lives
            // on that loop's frame until the loop resets this (`Draining`'s drop) and is
            // borrowed nowhere else meanwhile (`put` drops nothing).
            put(what, &mut unsafe { &*orphaned }.borrow_mut());
        }
        return;
    }
    /// The loop's stack, dropped in full even when a value's `Drop` unwinds out of the
    /// loop: what is left is dropped then, each node starting a loop of its own (the
    /// flag is down), and the buffer goes back to the thread.
    struct Draining(Vec<NodeRef>);
    impl Drop for Draining {
        fn drop(&mut self) {
            let _ = LOOP.try_with(|running| running.set(false));
            let _ = ORPHANED.try_with(|orphaned| orphaned.set(core::ptr::null()));
            let mut buffer = std::mem::take(&mut self.0);
            let queued = DROPPING.try_with(|queued| std::mem::take(&mut *queued.borrow_mut()));
            drop(queued);
            buffer.clear();
            let _ = DROPPING.try_with(|kept| {
                let mut kept = kept.borrow_mut();
                if kept.capacity() < buffer.capacity() {
                    *kept = buffer;
                }
            });
        }
    }
    let buffer = DROPPING
        .try_with(|kept| std::mem::take(&mut *kept.borrow_mut()))
        .ok();
    // Without `DROPPING` (torn down), the loop's queue is here, dropped after `stack`
    // resets `ORPHANED`: what is left in it then starts loops of its own.
    let orphaned = RefCell::new(Vec::new());
    if buffer.is_none() {
        let _ = ORPHANED.try_with(|queue| queue.set(&orphaned));
    }
    let mut stack = Draining(buffer.unwrap_or_default());
    put(what, &mut stack.0);
    loop {
        drain(&mut stack.0);
        // Parents queued by nodes that values' drops dropped meanwhile.
        let queued = DROPPING
            .try_with(|queued| queued.borrow_mut().pop())
            .unwrap_or_else(|_| orphaned.borrow_mut().pop());
        match queued {
            Some(node) => stack.0.push(node),
            None => break,
        }
    }
}

/// [`drop_parents`] without this thread's locals: the same loop, on a stack of its own.
fn drop_parents_alone(parents: ParentList) {
    let mut stack = Vec::new();
    parents.move_to(&mut stack);
    drain(&mut stack);
}

/// Drops the nodes of `stack`; one it holds the last handle to gives up its parents to
/// the stack first, so the stack stays flat however long the chain.
fn drain(stack: &mut Vec<NodeRef>) {
    let mut given = blocks::GivenBack::default();
    while let Some(mut node) = stack.pop() {
        // The last handle (Acquire: others' uses came before): nothing else reads the
        // node, so its parents can be moved out before it is freed.
        if node.strong.load(Ordering::Acquire) == 1 {
            // SAFETY: this is the only handle, held here by value, so no other
            // reference to the node exists while its parents are taken.
            let inner = unsafe { node.0.as_mut() };
            std::mem::take(&mut inner.parents).move_to(stack);
            // Nor can one be made from it: freed without the count's decrement (one
            // atomic read-modify-write less per node of a graph dropped).
            // The last handle (the Acquire load above orders every other handle's use
            // before this), given up here: the node was made by `NodeRef::new` with
            // the body its functions are for, and is dropped once, below.
            let node = std::mem::ManuallyDrop::new(node);
            match node.functions.drop_carved {
                // SAFETY: the last handle, as above.
                None => unsafe { (node.functions.free)(node.0) },
                Some(drop_carved) => {
                    // Counted before the drop, so that its memory is given back even
                    // if a value's `Drop` unwinds out of it.
                    // SAFETY: carved `in_block` bytes into its block (`NodeRef::new`)
                    // and given back once, here.
                    unsafe { given.add(node.0.cast(), node.in_block) };
                    // SAFETY: the last handle, as above; its memory is `given`'s.
                    unsafe { drop_carved(node.0) };
                }
            }
            continue;
        }
        drop(node);
    }
}

/// The loom model's node (`graph-runtime/tests/loom.rs`): handles to one node cloned
/// and dropped on several threads free it once, after every thread's use of it (loom
/// checks the body's cell, written through one handle and read when the node drops).
#[cfg(loom)]
pub(crate) mod loom_model {
    use super::{Body, NodeRef, ParentList};
    use crate::dynamic::{ArenaBuilder, Env, Meta};
    use crate::engine::dispatch::Flow;
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;

    /// A handle to a node whose body counts its drops in `drops`.
    #[derive(Clone)]
    pub struct NodeHandle(NodeRef);

    impl std::fmt::Debug for NodeHandle {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("NodeHandle")
        }
    }

    struct Counted {
        drops: Arc<AtomicUsize>,
        cell: UnsafeCell<usize>,
    }

    // SAFETY: the cell is written through one handle only (`NodeHandle::write`, by the
    // model's one writer) and read when the node drops, after every handle is gone.
    unsafe impl Sync for Counted {}

    impl Body for Counted {
        fn add_slot(&self, _: &mut ArenaBuilder) {
            unreachable!("the model never lays its node out")
        }
        fn run(&self, _: &Env<'_>) -> Flow {
            unreachable!("the model never runs its node")
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            // SAFETY: every handle is gone, so the writer is done; loom reports a race
            // if the count's orderings do not put its write before this read.
            let written = self.cell.with(|cell| unsafe { *cell });
            self.drops.fetch_add(written, Ordering::Relaxed);
        }
    }

    impl NodeHandle {
        /// A node with no parents whose drop adds its cell's value to `drops`.
        pub fn new(drops: Arc<AtomicUsize>) -> NodeHandle {
            let meta = Meta::of_kind("model", "value", "loom", Some(1));
            let body = Counted {
                drops,
                cell: UnsafeCell::new(0),
            };
            NodeHandle(NodeRef::new(meta, ParentList::default(), body))
        }

        /// A node whose drop adds its cell's value to `drops`, reading `parents` (its
        /// handles to them given up when it drops, as a graph's node does).
        pub fn with_parents(parents: Vec<NodeHandle>, drops: Arc<AtomicUsize>) -> NodeHandle {
            let meta = Meta::of_kind("model", "value", "loom", Some(1));
            let body = Counted {
                drops,
                cell: UnsafeCell::new(0),
            };
            let mut list = ParentList::default();
            for parent in parents {
                list.push(parent.0);
            }
            NodeHandle(NodeRef::new(meta, list, body))
        }

        /// Writes `value` into the node's cell (one writer per model).
        pub fn write(&self, value: usize) {
            // SAFETY: the node is a `NodeBox<Counted>` made by `new`, alive while this
            // handle is, and the pointer is the handle's own (its allocation's).
            let body = unsafe { super::NodeBox::<Counted>::body(self.0 .0) };
            // SAFETY: one writer per model, and no reader until the node drops; loom's
            // cell checks both against every interleaving.
            body.cell.with_mut(|cell| unsafe { *cell = value });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{NodeRef, ParentList};
    use crate::dynamic::Delayed;

    fn count(node: &NodeRef) -> usize {
        node.strong.load(crate::engine::sync::Ordering::Relaxed) as usize
    }

    /// Lists of 0 to 5 parents (inline up to two, spilled beyond) keep their handles in
    /// order, give them back in order, and hold one count of each until dropped.
    #[test]
    fn a_parent_list_holds_its_handles_in_order_inline_or_spilled() {
        let nodes: Vec<NodeRef> = (0..5u64).map(|i| Delayed::value(i).node).collect();
        for len in 0..=5 {
            let mut list = ParentList::default();
            for node in &nodes[..len] {
                list.push(node.clone());
            }
            let seen: Vec<*const super::Node> =
                list.as_slice().iter().map(|n| &**n as *const _).collect();
            let expected: Vec<*const super::Node> =
                nodes[..len].iter().map(|n| &**n as *const _).collect();
            assert_eq!(seen, expected, "{len} parents");
            assert!(nodes[..len].iter().all(|n| count(n) == 2));
            if len % 2 == 0 {
                drop(list);
            } else {
                let moved: Vec<NodeRef> = list.into_iter().collect();
                assert_eq!(moved.len(), len);
                assert!(moved
                    .iter()
                    .zip(&nodes)
                    .all(|(a, b)| core::ptr::eq(&**a, &**b)));
            }
            assert!(nodes.iter().all(|n| count(n) == 1), "{len} parents dropped");
        }
        let list = ParentList::from([nodes[0].clone(), nodes[1].clone(), nodes[2].clone()]);
        assert_eq!(list.as_slice().len(), 3);
        assert_eq!(count(&nodes[2]), 2);
    }

    /// `release_held` gives up the inline handles whose nodes other handles still
    /// hold, and keeps (in order, `second` null whenever `first` is) those it holds the
    /// last handle of, for the drop loop; a spilled list is left whole.
    #[test]
    fn a_parent_list_lets_go_of_held_parents_and_keeps_last_handles() {
        let held = Delayed::value(1u64).node;
        let ptr = |n: &NodeRef| &**n as *const super::Node;
        for (first_held, second_held) in
            [(true, true), (true, false), (false, true), (false, false)]
        {
            let owned = |is_held: bool| {
                if is_held {
                    held.clone()
                } else {
                    Delayed::value(2u64).node
                }
            };
            let (a, b) = (owned(first_held), owned(second_held));
            let (pa, pb) = (ptr(&a), ptr(&b));
            let mut list = ParentList::from([a, b]);
            let empty = list.release_held();
            let left: Vec<*const super::Node> = list.as_slice().iter().map(ptr).collect();
            let expected: Vec<*const super::Node> = [(first_held, pa), (second_held, pb)]
                .into_iter()
                .filter(|&(is_held, _)| !is_held)
                .map(|(_, p)| p)
                .collect();
            assert_eq!(left, expected, "{first_held} {second_held}");
            assert_eq!(empty, expected.is_empty());
            drop(list);
            assert_eq!(
                count(&held),
                1,
                "every handle to the held node given up once"
            );
        }
        let mut spilled = ParentList::from([held.clone(), held.clone(), held.clone()]);
        assert!(!spilled.release_held());
        assert_eq!(spilled.as_slice().len(), 3);
        assert_eq!(count(&held), 4);
    }
}
