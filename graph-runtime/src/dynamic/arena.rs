//! The result slots of one laid-out dynamic graph, one per node, each of its node's
//! result type, all in one block of memory.
//!
//! Each slot is a `SharedSlot<T>` of its node's `T`, placed at its offset in the block
//! (a bump allocation made once per laid-out graph): one allocation for every slot,
//! rather than a `Box` per node, and no allocator call per node when the slots are
//! made or freed. Each slot's entry says where it is and what type it holds, so that
//! reading it as another type is caught (a bug, reported as such) rather than
//! undefined.

use std::alloc::Layout;
use std::any::TypeId;
use std::ptr::NonNull;

use super::reuse::{self, Kept};
use crate::engine::slot::SharedSlot;

/// How to make, check and drop the slot of one result type.
struct SlotKind {
    /// `TypeId::of::<SharedSlot<T>>` (a function: `TypeId::of` is not `const` in the
    /// supported Rust versions).
    id: fn() -> TypeId,
    /// Writes an empty slot for `uses` reads at the pointer.
    ///
    /// Safety: the pointer is valid for writes of a `SharedSlot<T>` and aligned for it.
    init: unsafe fn(*mut u8, u32),
    /// Drops the slot at the pointer in place.
    ///
    /// Safety: the pointer holds a `SharedSlot<T>` made by `init`, not dropped yet and
    /// never used again.
    drop: unsafe fn(*mut u8),
}

/// The [`SlotKind`] of result type `T`, as a constant (promoted to a `'static`).
struct KindOf<T>(std::marker::PhantomData<T>);

impl<T: Send + Sync + 'static> KindOf<T> {
    const KIND: SlotKind = SlotKind {
        id: TypeId::of::<SharedSlot<T>>,
        init: init_slot::<T>,
        drop: drop_slot::<T>,
    };
}

/// # Safety
/// As for [`SlotKind::init`].
unsafe fn init_slot<T>(at: *mut u8, uses: u32) {
    // SAFETY: the caller's contract: valid and aligned for a `SharedSlot<T>`.
    unsafe { at.cast::<SharedSlot<T>>().write(SharedSlot::new(uses)) }
}

/// # Safety
/// As for [`SlotKind::drop`].
unsafe fn drop_slot<T>(at: *mut u8) {
    // SAFETY: the caller's contract: a live `SharedSlot<T>`, dropped once.
    unsafe { at.cast::<SharedSlot<T>>().drop_in_place() }
}

/// One slot's place in the block and its kind, in one word: the offset in the high 48
/// bits, the kind's number in its arena's list of kinds in the low 16 (a graph has
/// far fewer distinct result types than 65,536, and slots far fewer bytes than 2^48).
#[derive(Clone, Copy)]
struct Entry(u64);

impl Entry {
    const KIND_BITS: u32 = 16;

    fn new(offset: usize, kind: usize) -> Entry {
        let kind = u16::try_from(kind)
            .expect("taskweave: a dynamic graph has at most 65,536 distinct result types");
        assert!(
            (offset as u64) >> (64 - Self::KIND_BITS) == 0,
            "taskweave: a dynamic graph's result slots fit in 2^48 bytes"
        );
        Entry((offset as u64) << Self::KIND_BITS | u64::from(kind))
    }

    fn offset(self) -> usize {
        (self.0 >> Self::KIND_BITS) as usize
    }

    fn kind(self) -> usize {
        self.0 as u16 as usize
    }
}

/// Every node's result slot for runs of one laid-out graph.
pub struct Arena {
    /// The block the slots are in, at least as large as they need.
    block: Block,
    slots: Vec<Entry>,
    /// The distinct kinds of slot, numbered in the entries, each with its type's id
    /// (read once per kind, so that checking a slot's type compares two ids).
    kinds: Vec<(&'static SlotKind, TypeId)>,
}

/// A block of memory for slots, freed when dropped; dangling when its layout has size
/// 0. It holds no value of its own: whoever writes slots in it drops them.
struct Block {
    start: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a block is raw memory owned like a `Box<[u8]>`; its slots are the arena's.
unsafe impl Send for Block {}

impl Block {
    /// A block of `layout` (not padded any further).
    fn new(layout: Layout) -> Block {
        let start = if layout.size() == 0 {
            // Only zero-sized slots (none, in practice): nothing to allocate.
            NonNull::new(layout.align() as *mut u8).expect("an alignment is not 0")
        } else {
            // SAFETY: the layout's size is not 0.
            let block = unsafe { std::alloc::alloc(layout) };
            NonNull::new(block).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
        };
        Block { start, layout }
    }

    /// Whether slots of `layout` fit, without wasting more than half of the block.
    fn fits(&self, layout: Layout) -> bool {
        self.layout.align() == layout.align()
            && self.layout.size() >= layout.size()
            && self.layout.size() / 2 <= layout.size()
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.layout.size() != 0 {
            // SAFETY: allocated in `Block::new` with this layout, and freed once.
            unsafe { std::alloc::dealloc(self.start.as_ptr(), self.layout) };
        }
    }
}

/// The entries and the block of the last arena dropped, for the next one (see
/// [`reuse`]): blocks of similar sizes come back to graphs laid out in a loop.
#[derive(Default)]
struct ArenaBuffers {
    slots: Vec<Entry>,
    block: Option<Block>,
}

impl reuse::Buffers for ArenaBuffers {
    fn bytes(&self) -> usize {
        reuse::bytes_of(&self.slots) + self.block.as_ref().map_or(0, |b| b.layout.size())
    }
    fn clear(&mut self) {
        self.slots.clear();
    }
}

static KEPT: Kept<ArenaBuffers> = Kept::new();

// SAFETY: the block holds only `SharedSlot<T>`s of `T: Send + Sync` (`ArenaBuilder::push`
// requires it), which are `Send` and `Sync` themselves; the arena owns them as a
// `Vec<Box<SharedSlot<T>>>` would.
unsafe impl Send for Arena {}
// SAFETY: as for `Send`: `&Arena` reaches only `&SharedSlot<T>` of `T: Send + Sync`.
unsafe impl Sync for Arena {}

/// Collects the slots while a graph is laid out.
pub(crate) struct ArenaBuilder {
    layout: Layout,
    slots: Vec<Entry>,
    kinds: Vec<&'static SlotKind>,
    /// A block kept from an arena dropped before, if any.
    kept: Option<Block>,
}

impl ArenaBuilder {
    /// A builder for `nodes` slots.
    pub(crate) fn new(nodes: usize) -> Self {
        let ArenaBuffers { mut slots, block } = KEPT.take();
        slots.reserve_exact(nodes);
        ArenaBuilder {
            layout: Layout::new::<()>(),
            slots,
            kinds: Vec::new(),
            kept: block,
        }
    }

    /// The number of a kind of slot, given on its first use. Graphs have a few result
    /// types, and neighbouring nodes mostly share one: the last kind is tried first.
    fn kind_number(&mut self, kind: &'static SlotKind) -> usize {
        if let Some(&last) = self.slots.last() {
            if core::ptr::eq(self.kinds[last.kind()], kind) {
                return last.kind();
            }
        }
        match self.kinds.iter().position(|&k| core::ptr::eq(k, kind)) {
            Some(number) => number,
            None => {
                self.kinds.push(kind);
                self.kinds.len() - 1
            }
        }
    }

    /// Adds the next node's slot.
    pub(crate) fn push<T: Send + Sync + 'static>(&mut self) {
        let (layout, offset) = self
            .layout
            .extend(Layout::new::<SharedSlot<T>>())
            .expect("taskweave: a dynamic graph's slots fit in memory");
        self.layout = layout;
        let kind = self.kind_number(&KindOf::<T>::KIND);
        self.slots.push(Entry::new(offset, kind));
    }

    /// The arena: every slot made empty, slot `i` for `uses[i]` reads per run.
    ///
    /// # Panics
    /// When `uses` does not have one count per slot.
    pub(crate) fn finish(self, uses: impl ExactSizeIterator<Item = u32>) -> Arena {
        assert_eq!(uses.len(), self.slots.len(), "one count of uses per slot");
        let layout = self.layout.pad_to_align();
        let block = match self.kept {
            Some(kept) if kept.fits(layout) => kept,
            _ => Block::new(layout),
        };
        for (entry, uses) in self.slots.iter().zip(uses) {
            // SAFETY: `Layout::extend` placed the slot at `offset`, aligned for its type
            // and inside the first `layout.size()` bytes of the block (`layout` covers
            // every slot, padded to the largest alignment; the block is at least that
            // large, with that alignment: `Block::fits`); each slot is written once.
            unsafe {
                (self.kinds[entry.kind()].init)(block.start.as_ptr().add(entry.offset()), uses)
            };
        }
        Arena {
            block,
            slots: self.slots,
            kinds: self
                .kinds
                .into_iter()
                .map(|kind| (kind, (kind.id)()))
                .collect(),
        }
    }
}

impl Arena {
    /// The slot of node `index`, of its own result type.
    #[inline]
    pub(crate) fn slot<T: 'static>(&self, index: u32) -> &SharedSlot<T> {
        let entry = self.slots[index as usize];
        if self.kinds[entry.kind()].1 != TypeId::of::<SharedSlot<T>>() {
            unreachable!("taskweave: a dynamic node's slot has another type");
        }
        // SAFETY: the entry's kind says the slot at its offset is a `SharedSlot<T>`,
        // made by `finish` and alive until the arena drops; only shared references to
        // it are handed out (its own atomics govern its contents).
        unsafe {
            &*self
                .block
                .start
                .as_ptr()
                .add(entry.offset())
                .cast::<SharedSlot<T>>()
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let mut rest = Rest {
            arena: self,
            next: 0,
        };
        // A slot's drop that panics (a value's `Drop`) unwinds through `rest`, which
        // drops the slots after it and frees the block, as a `Vec` drops its elements.
        rest.drop_slots();
    }
}

/// The slots of an arena being dropped from `next` on; dropping it drops them and
/// frees the block.
struct Rest<'a> {
    arena: &'a mut Arena,
    next: usize,
}

impl Rest<'_> {
    fn drop_slots(&mut self) {
        while let Some(&entry) = self.arena.slots.get(self.next) {
            self.next += 1;
            let at = self.arena.block.start.as_ptr().wrapping_add(entry.offset());
            // SAFETY: each slot is dropped once (`next` moves past it first), and the
            // arena is being dropped: nothing reads a slot after this.
            unsafe { (self.arena.kinds[entry.kind()].0.drop)(at) };
        }
    }
}

impl Drop for Rest<'_> {
    fn drop(&mut self) {
        self.drop_slots();
        // Every slot is dropped: the block holds no value, and goes back (or is freed
        // with the entries) for the next arena.
        let block = std::mem::replace(&mut self.arena.block, Block::new(Layout::new::<()>()));
        KEPT.give(ArenaBuffers {
            slots: std::mem::take(&mut self.arena.slots),
            block: Some(block),
        });
    }
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}
