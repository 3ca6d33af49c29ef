//! Where dynamic nodes live: carved one after another, in the order they are built,
//! from 16 KiB blocks that each thread fills in turn, rather than one heap allocation
//! per node.
//!
//! Building and dropping a graph of small tasks spent a `malloc` and a `free` per
//! node, and left one graph's nodes scattered over the heap, where laying the graph out
//! and dropping it then walk them. A block is one allocation for some 200 nodes of
//! `u64` tasks, and nodes built one after another lie side by side. A node records
//! where it is in its block (`Node::in_block`, beside its count), so blocks need no
//! alignment of their own (aligned blocks cost the allocator's padding: 26 more bytes
//! of resident memory per node). A block goes back when the last of its nodes is
//! dropped (one atomic subtraction per node, on the block's [`Count`]); up to
//! [`MAX_SPARE`] blocks are kept for the next nodes, so a program that builds graphs in
//! a loop neither allocates nor faults in fresh pages for each.
//!
//! The cost: a node kept alive keeps its block (16 KiB) alive, however few of its
//! other nodes are. So nodes meant to outlive their graph, persisted values
//! ([`NodeRef::new_lasting`](super::node::NodeRef::new_lasting)), take an allocation of
//! their own; a program that keeps a few `Delayed`s of each of many graphs it builds
//! and drops keeps up to 16 KiB per kept node (smaller blocks bound this; measured,
//! 16 KiB blocks cost no more time than 64 KiB ones). Nodes larger than
//! [`MAX_NODE`] bytes or aligned to more than 16, nodes built while their thread exits,
//! and every node under `cfg(loom)` (whose models check the count alone, see
//! [`Count`]) or `cfg(taskweave_node_allocations)` (`.ci/asan`: AddressSanitizer then
//! sees each node's memory, and a use after free of a node) take an allocation of
//! their own.

use core::alloc::Layout;
use core::cell::Cell;
use core::ptr::NonNull;

use crate::engine::lock::Recover;
use crate::engine::sync::{fence, AtomicUsize, Ordering};

/// A block's size.
const BLOCK: usize = 16 << 10;

/// The largest alignment of a node carved from a block: the alignment of the block
/// itself, what the allocator gives without padding.
const ALIGN: usize = 16;

/// Where a block's first node may start: after its header.
const FIRST: usize = core::mem::size_of::<Header>().next_multiple_of(ALIGN);

/// The largest node carved from a block: 1/32nd of one, so that a thread's block
/// left unfilled when it moves to the next wastes at most that.
const MAX_NODE: usize = BLOCK / 32;

/// The most blocks kept for later once their nodes are gone: 16 MiB, the bound the
/// buffers of plans and runs are kept under ([`reuse::MAX_KEPT`](super::reuse::MAX_KEPT)),
/// the nodes of a graph of some 10^5 `u64` tasks.
const MAX_SPARE: usize = super::reuse::MAX_KEPT / BLOCK;

/// A block's start: its count. The nodes follow.
#[repr(C)]
struct Header {
    count: Count,
}

/// A block's count: its nodes not yet dropped, plus [`Count::FILLING`] while a thread
/// carves nodes from it.
///
/// The filling thread counts what it carves in a plain variable and settles with the
/// count when it moves on ([`Count::retire`]), so carving a node takes no atomic
/// operation; nodes dropped meanwhile, on any thread, take one each off a count that
/// started at `FILLING`, which stays above `FILLING` less the nodes carved, far from
/// zero, until the thread settles.
/// Whoever brings it to zero, the last node's drop or the retiring thread, frees the
/// block, after every other thread's use of its nodes (Release on every decrement,
/// Acquire on the last, as `Arc` does). The loom model
/// `block_freed_once_after_every_node` (`graph-runtime/tests/loom.rs`) explores it.
pub(crate) struct Count(AtomicUsize);

impl Count {
    /// More than a block can ever hold nodes, and far from overflowing.
    const FILLING: usize = usize::MAX / 2;

    /// The count of a block a thread starts to fill.
    pub(crate) fn new() -> Count {
        Count(AtomicUsize::new(Count::FILLING))
    }

    /// The filling thread moves on, having carved `carved` nodes from the block:
    /// whether the block is to be freed now (every node it carved is dropped).
    pub(crate) fn retire(&self, carved: usize) -> bool {
        debug_assert!(carved < Count::FILLING);
        self.release_many(Count::FILLING - carved)
    }

    /// `n` of the block's nodes dropped: whether the block is to be freed now.
    #[inline]
    pub(crate) fn release_many(&self, n: usize) -> bool {
        // Release, then Acquire on the last: every use of the block's nodes happens
        // before it is freed or carved again.
        if self.0.fetch_sub(n, Ordering::Release) != n {
            return false;
        }
        fence(Ordering::Acquire);
        true
    }
}

/// A block's memory.
const LAYOUT: Layout = match Layout::from_size_align(BLOCK, ALIGN) {
    Ok(layout) => layout,
    Err(_) => panic!("a block's layout"),
};

/// Blocks whose nodes are all gone, kept for the next ones (see [`MAX_SPARE`]).
static SPARE: std::sync::Mutex<Vec<Spare>> = std::sync::Mutex::new(Vec::new());

/// A kept block: memory of [`LAYOUT`] that nothing uses.
struct Spare(NonNull<u8>);

// SAFETY: the block's memory is owned by whoever holds the `Spare`, and nothing in it
// is in use.
unsafe impl Send for Spare {}

/// The block this thread carves nodes from, if any, and how far it is carved.
struct Filling {
    /// The block's start (its header), or null before the first node.
    block: Cell<*mut u8>,
    /// Where the next node may start, from the block's start.
    next: Cell<usize>,
    /// The nodes carved from the block so far.
    carved: Cell<usize>,
}

impl Drop for Filling {
    fn drop(&mut self) {
        self.retire();
    }
}

std::thread_local! {
    static FILLING: Filling = const {
        Filling {
            block: Cell::new(core::ptr::null_mut()),
            next: Cell::new(BLOCK),
            carved: Cell::new(0),
        }
    };
}

/// Memory for a node of `layout`, carved from this thread's block, and where it is in
/// the block; `None` when the node is to take an allocation of its own (see the
/// module's documentation). What it returns is given back, once the node is dropped,
/// to [`release`].
#[inline]
pub(crate) fn carve(layout: Layout) -> Option<(NonNull<u8>, u32)> {
    if cfg!(any(loom, taskweave_node_allocations))
        || layout.size() > MAX_NODE
        || layout.align() > ALIGN
    {
        return None;
    }
    FILLING.try_with(|filling| filling.carve(layout)).ok()
}

/// Gives back the memory of a node carved by [`carve`], whose value is dropped: the
/// last of a block's nodes, with the block retired, frees the block.
///
/// # Safety
/// `node` and `in_block` were returned by [`carve`] (`node` with its provenance), and
/// are given back once.
#[inline]
pub(crate) unsafe fn release(node: NonNull<u8>, in_block: u32) {
    // SAFETY: the caller's contract.
    unsafe { release_many(block_of(node, in_block), 1) };
}

/// The block a node carved `in_block` bytes into it is in.
///
/// # Safety
/// `node` and `in_block` were returned by [`carve`] (`node` with its provenance).
#[inline]
unsafe fn block_of(node: NonNull<u8>, in_block: u32) -> NonNull<u8> {
    // SAFETY: `carve` handed out memory `in_block` bytes into a block, so this is the
    // block's start (within the same allocation).
    unsafe { node.sub(in_block as usize) }
}

/// [`release`] of `n` nodes of the block at `block` at once.
///
/// # Safety
/// `block` is the block of `n` nodes carved by [`carve`], each dropped and given back
/// once (here).
#[inline]
unsafe fn release_many(block: NonNull<u8>, n: usize) {
    // SAFETY: the block's header, alive until its count reaches zero, which these
    // nodes' counts in it prevent.
    let last = unsafe { block.cast::<Header>().as_ref() }
        .count
        .release_many(n);
    if last {
        // SAFETY: the count reached zero: every node is dropped and the block retired,
        // so nothing uses it again.
        unsafe { give_back(block) };
    }
}

/// Nodes dropped in a row (by the drop loop), given back to their block together: one
/// atomic operation per run of nodes of one block rather than one per node. Whatever
/// it holds is given back when it is dropped, unwinding included.
#[derive(Default)]
pub(crate) struct GivenBack {
    block: Option<NonNull<u8>>,
    nodes: usize,
}

impl GivenBack {
    /// One more node to give back.
    ///
    /// # Safety
    /// As for [`release`]: `node` and `in_block` were returned by [`carve`], and the
    /// node is given back once (here), its value dropped before this is dropped.
    #[inline]
    pub(crate) unsafe fn add(&mut self, node: NonNull<u8>, in_block: u32) {
        // SAFETY: the caller's contract.
        let block = unsafe { block_of(node, in_block) };
        if self.block != Some(block) {
            self.give();
            self.block = Some(block);
        }
        self.nodes += 1;
    }

    fn give(&mut self) {
        if let Some(block) = self.block.take() {
            // SAFETY: `add`'s contract: each node counted was carved from `block` and is
            // given back once, now.
            unsafe { release_many(block, std::mem::take(&mut self.nodes)) };
        }
    }
}

impl Drop for GivenBack {
    fn drop(&mut self) {
        self.give();
    }
}

impl Filling {
    #[inline]
    fn carve(&self, layout: Layout) -> (NonNull<u8>, u32) {
        if let Some(node) = self.carve_here(layout) {
            return node;
        }
        self.retire();
        self.block.set(fresh().as_ptr());
        self.next.set(FIRST);
        self.carved.set(0);
        self.carve_here(layout)
            .expect("a node of at most MAX_NODE bytes fits in a fresh block")
    }

    #[inline]
    fn carve_here(&self, layout: Layout) -> Option<(NonNull<u8>, u32)> {
        let block = self.block.get();
        // The block is aligned to `ALIGN`, at least any carved node's alignment, so
        // aligning the offset aligns the address.
        let start = self.next.get().next_multiple_of(layout.align());
        let end = start.checked_add(layout.size())?;
        if block.is_null() || end > BLOCK {
            return None;
        }
        self.next.set(end);
        self.carved.set(self.carved.get() + 1);
        // SAFETY: `start + size ≤ BLOCK`: within the block's allocation.
        let node = NonNull::new(unsafe { block.add(start) })?;
        // Below `BLOCK`, which fits in a `u32`.
        Some((node, start as u32))
    }

    /// Settles with the block's count, and forgets the block.
    fn retire(&self) {
        let block = self.block.replace(core::ptr::null_mut());
        self.next.set(BLOCK);
        let Some(block) = NonNull::new(block) else {
            return;
        };
        // SAFETY: this thread was filling the block, which its count kept alive.
        let last = unsafe { block.cast::<Header>().as_ref() }
            .count
            .retire(self.carved.get());
        if last {
            // SAFETY: every node carved from it is dropped, and this thread no longer
            // carves from it.
            unsafe { give_back(block) };
        }
    }
}

/// A block to fill: a kept one, or a new one; its count is that of a block being
/// filled.
fn fresh() -> NonNull<u8> {
    let kept = SPARE.lock().recover().pop();
    let block = kept.map(|spare| spare.0).unwrap_or_else(|| {
        // SAFETY: `LAYOUT` has a non-zero size.
        let block = unsafe { std::alloc::alloc(LAYOUT) };
        NonNull::new(block).unwrap_or_else(|| std::alloc::handle_alloc_error(LAYOUT))
    });
    // SAFETY: the block is ours alone (new, or taken from the spares), aligned for a
    // header and large enough for one.
    unsafe {
        block.cast::<Header>().write(Header {
            count: Count::new(),
        })
    };
    block
}

/// Keeps a block whose nodes are all dropped for later, or frees it.
///
/// # Safety
/// `block` was made by [`fresh`], and nothing uses it any more.
unsafe fn give_back(block: NonNull<u8>) {
    let mut spare = SPARE.lock().recover();
    if spare.len() < MAX_SPARE {
        spare.push(Spare(block));
        return;
    }
    drop(spare);
    // SAFETY: allocated with `LAYOUT` in `fresh`, and no longer used (the caller's
    // contract).
    unsafe { std::alloc::dealloc(block.as_ptr(), LAYOUT) };
}

/// The loom model's block count (`graph-runtime/tests/loom.rs`): nodes of one block
/// dropped on several threads while the filling thread moves on free the block once,
/// after every thread's use of its nodes.
#[cfg(loom)]
pub(crate) mod loom_model {
    /// A block's [`Count`](super::Count), with no block.
    pub struct BlockCount(super::Count);

    impl std::fmt::Debug for BlockCount {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("BlockCount")
        }
    }

    impl BlockCount {
        /// The count of a block a thread starts to fill.
        #[allow(clippy::new_without_default)]
        pub fn new() -> BlockCount {
            BlockCount(super::Count::new())
        }

        /// One of the block's nodes dropped: whether the block is to be freed now.
        pub fn release(&self) -> bool {
            self.0.release_many(1)
        }

        /// `n` of the block's nodes dropped together: whether the block is to be
        /// freed now.
        pub fn release_many(&self, n: usize) -> bool {
            self.0.release_many(n)
        }

        /// The filling thread moves on after carving `carved` nodes: whether the block
        /// is to be freed now.
        pub fn retire(&self, carved: usize) -> bool {
            self.0.retire(carved)
        }
    }
}

// Blocks are not used at all under these two cfgs.
#[cfg(all(test, not(any(loom, taskweave_node_allocations))))]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_carved_side_by_side_and_large_ones_are_not() {
        let small = Layout::new::<[u64; 9]>();
        let block_of =
            |(node, in_block): (NonNull<u8>, u32)| node.as_ptr() as usize - in_block as usize;
        let nodes: Vec<_> = (0..3)
            .map(|_| carve(small).expect("a small node is carved"))
            .collect();
        // Side by side in one block, but where one is the first of a new block (at most
        // once among three small nodes).
        let mut side_by_side = 0;
        for pair in nodes.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(block_of(a) % ALIGN, 0);
            if b.1 != FIRST as u32 {
                assert_eq!(a.0.as_ptr() as usize + small.size(), b.0.as_ptr() as usize);
                assert_eq!(block_of(a), block_of(b));
                side_by_side += 1;
            }
        }
        assert!(side_by_side >= 1, "{nodes:?}");
        assert!(carve(Layout::from_size_align(MAX_NODE + 1, 8).unwrap()).is_none());
        assert!(carve(Layout::from_size_align(64, 2 * ALIGN).unwrap()).is_none());
        for (node, in_block) in nodes {
            // SAFETY: carved above, each given back once.
            unsafe { release(node, in_block) };
        }
    }

    #[test]
    fn a_thread_moves_on_when_its_block_is_full_and_every_block_is_given_back() {
        /// A carved node's address and place, sent back from the thread that carved
        /// it.
        struct Carved(NonNull<u8>, u32);
        // SAFETY: nothing is read or written through it; it is only given back.
        unsafe impl Send for Carved {}
        let node = Layout::from_size_align(MAX_NODE, 8).unwrap();
        let nodes: Vec<Carved> = std::thread::spawn(move || {
            (0..200)
                .map(|_| {
                    let (node, in_block) = carve(node).expect("carved");
                    Carved(node, in_block)
                })
                .collect()
        })
        .join()
        .unwrap();
        let blocks: std::collections::BTreeSet<usize> = nodes
            .iter()
            .map(|n| n.0.as_ptr() as usize - n.1 as usize)
            .collect();
        // `BLOCK / MAX_NODE - 1` nodes of `MAX_NODE` bytes after a block's header.
        assert_eq!(blocks.len(), 200usize.div_ceil(BLOCK / MAX_NODE - 1));
        for node in nodes {
            // SAFETY: carved by the thread above, each given back once.
            unsafe { release(node.0, node.1) };
        }
    }
}
