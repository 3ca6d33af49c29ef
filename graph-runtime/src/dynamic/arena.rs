//! The result slots of one laid-out dynamic graph, one per node, each of its node's
//! result type, all in one block of memory.
//!
//! Each slot is a `SharedSlot<T>` of its node's `T`, placed at its offset in the block
//! (a bump allocation made once per laid-out graph): one allocation for every slot,
//! rather than a `Box` per node, and no allocator call per node when the slots are
//! made or freed. The arena knows where each slot is and what type it holds, so that
//! reading it as another type is caught (a bug, reported as such) rather than
//! undefined: in a graph of one result type (most), from the slot's number alone;
//! otherwise from 6 bytes per slot (its offset and its kind's number).

use std::alloc::Layout;
use std::any::TypeId;
use std::ptr::NonNull;
// The dynamic plan's counters are the standard library's, under loom too.
use std::sync::atomic::AtomicU32;

use super::reuse::{self, Kept};
use crate::engine::slot::SharedSlot;

/// How to make, check and drop the slot of one result type.
struct SlotKind {
    /// `TypeId::of::<SharedSlot<T>>` (a function: `TypeId::of` is not `const` in the
    /// supported Rust versions).
    id: fn() -> TypeId,
    /// The layout of a `SharedSlot<T>`.
    layout: Layout,
    /// Writes an empty slot for `uses` reads at the pointer.
    ///
    /// Safety: the pointer is valid for writes of a `SharedSlot<T>` and aligned for it.
    init: unsafe fn(*mut u8, u32),
    /// Writes empty slots one after another from the pointer, slot `i` for `uses[i]`
    /// reads: an arena of one kind of slot is made in one call, not one per slot.
    ///
    /// Safety: the pointer is valid for writes of `uses.len()` `SharedSlot<T>`s in a
    /// row and aligned for them.
    init_all: unsafe fn(*mut u8, &mut [AtomicU32]),
    /// Drops the slot at the pointer in place.
    ///
    /// Safety: the pointer holds a `SharedSlot<T>` made by `init`, not dropped yet and
    /// never used again.
    drop: unsafe fn(*mut u8),
    /// Whether dropping a slot does anything: not for a `T` without drop glue (a
    /// `SharedSlot<T>` drops only its value), so an arena of such slots skips them.
    /// Always under loom, whose atomics are registered with the model.
    drops: bool,
}

/// The [`SlotKind`] of result type `T`, as a constant (promoted to a `'static`).
struct KindOf<T>(std::marker::PhantomData<T>);

impl<T: Send + Sync + 'static> KindOf<T> {
    const KIND: SlotKind = {
        // Offsets are kept in units of `UNIT` bytes (see `Places::Mixed`).
        assert!(std::mem::align_of::<SharedSlot<T>>() >= UNIT);
        SlotKind {
            id: TypeId::of::<SharedSlot<T>>,
            layout: Layout::new::<SharedSlot<T>>(),
            init: init_slot::<T>,
            init_all: init_slots::<T>,
            drop: drop_slot::<T>,
            drops: std::mem::needs_drop::<T>() || cfg!(loom),
        }
    };
}

/// # Safety
/// As for [`SlotKind::init`].
unsafe fn init_slot<T: Sync>(at: *mut u8, uses: u32) {
    // SAFETY: the caller's contract: valid and aligned for a `SharedSlot<T>`.
    unsafe { at.cast::<SharedSlot<T>>().write(SharedSlot::new(uses)) }
}

/// # Safety
/// As for [`SlotKind::init_all`].
unsafe fn init_slots<T: Sync>(start: *mut u8, uses: &mut [AtomicU32]) {
    let start = start.cast::<SharedSlot<T>>();
    for (i, uses) in uses.iter_mut().enumerate() {
        // SAFETY: the caller's contract: slot `i` of the row is valid and aligned.
        unsafe { start.add(i).write(SharedSlot::new(*uses.get_mut())) }
    }
}

/// # Safety
/// As for [`SlotKind::drop`].
unsafe fn drop_slot<T>(at: *mut u8) {
    // SAFETY: the caller's contract: a live `SharedSlot<T>`, dropped once.
    unsafe { at.cast::<SharedSlot<T>>().drop_in_place() }
}

/// The unit of a slot's offset in [`Places::Mixed`]: every slot is aligned to at least
/// this (its counters are `u32`s), so offsets of blocks up to 16 GiB fit in a `u32`.
const UNIT: usize = 4;

/// Where each slot of an arena is, and of what kind.
enum Places {
    /// Every slot is of kind 0 (one result type, the common case): slot `i` is at
    /// `i * stride`, and no per-slot entry is needed.
    Uniform { stride: usize },
    /// Slots of several kinds: slot `i` is at `offsets[i] * UNIT`, of kind `kinds[i]`
    /// (a graph has far fewer distinct result types than 65,536). 6 bytes per slot.
    Mixed { offsets: Vec<u32>, kinds: Vec<u16> },
}

/// Every node's result slot for runs of one laid-out graph.
pub struct Arena {
    /// The block the slots are in, at least as large as they need.
    block: Block,
    /// The number of slots.
    len: usize,
    places: Places,
    /// The distinct kinds of slot, numbered in `places`, each with its type's id
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

/// The per-slot vectors and the block of the last arena dropped, for the next one
/// (see [`reuse`]): blocks of similar sizes come back to graphs laid out in a loop.
#[derive(Default)]
struct ArenaBuffers {
    offsets: Vec<u32>,
    kinds: Vec<u16>,
    block: Option<Block>,
}

impl reuse::Buffers for ArenaBuffers {
    fn bytes(&self) -> usize {
        reuse::bytes_of(&self.offsets)
            + reuse::bytes_of(&self.kinds)
            + self.block.as_ref().map_or(0, |b| b.layout.size())
    }
    fn clear(&mut self) {
        self.offsets.clear();
        self.kinds.clear();
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
    slots: Slots,
    /// The kind of the last slot pushed.
    last: usize,
}

/// The slots of a laid-out graph, one per node: their kinds and where they go. Made
/// once, while the plan is laid out; each run's [`Arena`] is made from it.
pub(crate) struct Slots {
    layout: Layout,
    /// The number of slots.
    len: usize,
    /// Each slot's kind number once a second kind has been met (`mixed`); empty while
    /// every slot is of kind 0.
    kind_of: Vec<u16>,
    mixed: bool,
    kinds: Vec<&'static SlotKind>,
}

impl ArenaBuilder {
    /// A builder with no slot yet.
    pub(crate) fn new() -> Self {
        ArenaBuilder {
            slots: Slots {
                layout: Layout::new::<()>(),
                len: 0,
                kind_of: Vec::new(),
                mixed: false,
                kinds: Vec::new(),
            },
            last: 0,
        }
    }

    /// The number of a kind of slot, given on its first use. Graphs have a few result
    /// types, and neighbouring nodes mostly share one: the last kind is tried first.
    fn kind_number(&mut self, kind: &'static SlotKind) -> usize {
        let kinds = &mut self.slots.kinds;
        if let Some(&last) = kinds.get(self.last) {
            if core::ptr::eq(last, kind) {
                return self.last;
            }
        }
        let number = match kinds.iter().position(|&k| core::ptr::eq(k, kind)) {
            Some(number) => number,
            None => {
                assert!(
                    kinds.len() <= u16::MAX as usize,
                    "taskweave: a dynamic graph has at most 65,536 distinct result types"
                );
                kinds.push(kind);
                kinds.len() - 1
            }
        };
        self.last = number;
        number
    }

    /// Adds the next node's slot.
    #[inline]
    pub(crate) fn push<T: Send + Sync + 'static>(&mut self) {
        let kind = &KindOf::<T>::KIND;
        let slots = &mut self.slots;
        // Most graphs have one result type: a slot of the first kind, while no other
        // has been met, is only counted (the layout is made once, in `finish`).
        if !slots.mixed
            && slots
                .kinds
                .first()
                .is_some_and(|&first| core::ptr::eq(first, kind))
        {
            slots.len += 1;
            return;
        }
        self.push_other(kind);
    }

    /// [`push`](Self::push) of the first slot, or of a graph with several kinds.
    fn push_other(&mut self, kind: &'static SlotKind) {
        let number = self.kind_number(kind);
        let slots = &mut self.slots;
        if number != 0 && !slots.mixed {
            // A second kind: every slot before this one was of kind 0.
            slots.mixed = true;
            slots.kind_of.resize(slots.len, 0);
        }
        if slots.mixed {
            slots.kind_of.push(number as u16);
        }
        slots.len += 1;
    }

    /// The slots pushed, with the layout of a block that holds them all: each slot
    /// after the one before it, as [`Slots::arena`] places them.
    pub(crate) fn finish(self) -> Slots {
        let mut slots = self.slots;
        const TOO_LARGE: &str = "taskweave: a dynamic graph's slots fit in memory";
        slots.layout = if slots.mixed {
            slots.kind_of.iter().fold(Layout::new::<()>(), |at, &kind| {
                at.extend(slots.kinds[kind as usize].layout)
                    .expect(TOO_LARGE)
                    .0
            })
        } else {
            // One kind: `Layout::extend` of one layout again and again places slot `i`
            // at `i * size` (a type's size is a multiple of its alignment).
            match slots.kinds.first() {
                Some(kind) => Layout::from_size_align(
                    kind.layout.size().checked_mul(slots.len).expect(TOO_LARGE),
                    kind.layout.align(),
                )
                .expect(TOO_LARGE),
                None => Layout::new::<()>(),
            }
        };
        reuse::fit(&mut slots.kind_of);
        slots
    }
}

impl Slots {
    /// An arena of these slots: every slot made empty, slot `i` for `uses[i]` reads
    /// per run.
    ///
    /// # Panics
    /// When `uses` does not have one count per slot.
    pub(crate) fn arena(&self, uses: &mut [AtomicU32]) -> Arena {
        assert_eq!(uses.len(), self.len, "one count of uses per slot");
        let layout = self.layout.pad_to_align();
        let ArenaBuffers {
            mut offsets,
            mut kinds,
            block: kept,
        } = KEPT.take();
        let places = if self.mixed {
            // Each slot after the one before it, as `finish` laid them out.
            let mut at = Layout::new::<()>();
            offsets.clear();
            offsets.extend(self.kind_of.iter().map(|&kind| {
                let (grown, offset) = at
                    .extend(self.kinds[kind as usize].layout)
                    .expect("laid out once already");
                at = grown;
                u32::try_from(offset / UNIT)
                    .expect("taskweave: a dynamic graph's result slots fit in 16 GiB")
            }));
            reuse::fit(&mut offsets);
            kinds.clear();
            kinds.extend_from_slice(&self.kind_of);
            reuse::fit(&mut kinds);
            Places::Mixed { offsets, kinds }
        } else {
            // One kind: `Layout::extend` of one layout again and again places slot `i`
            // at `i * size` (a type's size is a multiple of its alignment).
            let stride = self.kinds.first().map_or(0, |kind| kind.layout.size());
            Places::Uniform { stride }
        };
        let block = match kept {
            Some(kept) if kept.fits(layout) => kept,
            _ => Block::new(layout),
        };
        let arena = Arena {
            block,
            len: self.len,
            places,
            kinds: self.kinds.iter().map(|&kind| (kind, (kind.id)())).collect(),
        };
        if let (Places::Uniform { .. }, Some(&(kind, _))) = (&arena.places, arena.kinds.first()) {
            // SAFETY: one kind: slot `i` is at `i * size` (see `Places::Uniform`), every
            // one inside the first `layout.size()` bytes of the block (`layout` covers
            // every slot; the block is at least that large, with that alignment:
            // `Block::fits`); each slot is written once.
            unsafe { (kind.init_all)(arena.block.start.as_ptr(), uses) };
            return arena;
        }
        for (i, uses) in uses.iter_mut().enumerate() {
            let (offset, kind) = arena.place(i);
            // SAFETY: `place` gives the offset `Layout::extend` gave the slot in `finish`,
            // aligned for its type and inside the first `layout.size()` bytes of the
            // block (`layout` covers every slot, padded to the largest alignment; the
            // block is at least that large, with that alignment: `Block::fits`); each
            // slot is written once.
            unsafe {
                (arena.kinds[kind].0.init)(arena.block.start.as_ptr().add(offset), *uses.get_mut())
            };
        }
        arena
    }
}

impl Arena {
    /// Where slot `index` is in the block, and its kind's number.
    ///
    /// # Panics
    /// When there is no slot `index`.
    #[inline(always)]
    fn place(&self, index: usize) -> (usize, usize) {
        assert!(index < self.len, "taskweave: bug: no result slot {index}");
        match &self.places {
            Places::Uniform { stride } => (index * stride, 0),
            Places::Mixed { offsets, kinds } => {
                (offsets[index] as usize * UNIT, kinds[index] as usize)
            }
        }
    }

    /// The slot of node `index`, of its own result type.
    #[inline(always)]
    pub(crate) fn slot<T: 'static>(&self, index: u32) -> &SharedSlot<T> {
        let (offset, kind) = self.place(index as usize);
        if self.kinds[kind].1 != TypeId::of::<SharedSlot<T>>() {
            unreachable!("taskweave: a dynamic node's slot has another type");
        }
        // SAFETY: the slot's kind says the slot at its offset is a `SharedSlot<T>`,
        // made by `finish` and alive until the arena drops; only shared references to
        // it are handed out (its own atomics govern its contents).
        unsafe {
            &*self
                .block
                .start
                .as_ptr()
                .add(offset)
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
        if !self.arena.kinds.iter().any(|(kind, _)| kind.drops) {
            // Dropping these slots would do nothing.
            self.next = self.arena.len;
        }
        while self.next < self.arena.len {
            let (offset, kind) = self.arena.place(self.next);
            self.next += 1;
            let at = self.arena.block.start.as_ptr().wrapping_add(offset);
            // SAFETY: each slot is dropped once (`next` moves past it first), and the
            // arena is being dropped: nothing reads a slot after this.
            unsafe { (self.arena.kinds[kind].0.drop)(at) };
        }
    }
}

impl Drop for Rest<'_> {
    fn drop(&mut self) {
        self.drop_slots();
        // Every slot is dropped: the block holds no value, and goes back (or is freed
        // with the per-slot vectors) for the next arena.
        let block = std::mem::replace(&mut self.arena.block, Block::new(Layout::new::<()>()));
        let places = std::mem::replace(&mut self.arena.places, Places::Uniform { stride: 0 });
        let (offsets, kinds) = match places {
            Places::Mixed { offsets, kinds } => (offsets, kinds),
            Places::Uniform { .. } => Default::default(),
        };
        KEPT.give(ArenaBuffers {
            offsets,
            kinds,
            block: Some(block),
        });
    }
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("slots", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots of several result types each hold their own value at their own place, and
    /// are dropped with the arena; slots of one type likewise, with no per-slot entry.
    #[test]
    fn slots_of_one_or_several_types_hold_their_values() {
        let mut mixed = ArenaBuilder::new();
        mixed.push::<u64>();
        mixed.push::<u64>();
        mixed.push::<String>();
        mixed.push::<u8>();
        mixed.push::<u64>();
        let arena = mixed.finish().arena(&mut [1u32; 5].map(AtomicU32::new));
        assert!(matches!(arena.places, Places::Mixed { .. }));
        arena.slot::<u64>(0).put(10);
        arena.slot::<u64>(1).put(11);
        arena.slot::<String>(2).put("two".to_owned());
        arena.slot::<u8>(3).put(3);
        arena.slot::<u64>(4).put(14);
        assert_eq!(arena.slot::<u64>(0).take_last(), Some(10));
        assert_eq!(arena.slot::<u64>(1).take_last(), Some(11));
        assert_eq!(arena.slot::<String>(2).take_last().as_deref(), Some("two"));
        assert_eq!(arena.slot::<u8>(3).take_last(), Some(3));
        assert_eq!(arena.slot::<u64>(4).take_last(), Some(14));
        // A value left in its slot is dropped with the arena.
        arena.slot::<String>(2).put("left".to_owned());
        drop(arena);

        let mut uniform = ArenaBuilder::new();
        for _ in 0..4 {
            uniform.push::<String>();
        }
        let arena = uniform.finish().arena(&mut [1u32; 4].map(AtomicU32::new));
        assert!(matches!(arena.places, Places::Uniform { .. }));
        for i in 0..4 {
            arena.slot::<String>(i).put(i.to_string());
        }
        for i in 0..4 {
            assert_eq!(arena.slot::<String>(i).take_last(), Some(i.to_string()));
        }
    }

    #[test]
    #[should_panic(expected = "another type")]
    fn a_slot_read_as_another_type_is_caught() {
        let mut builder = ArenaBuilder::new();
        builder.push::<u64>();
        builder.push::<String>();
        let arena = builder.finish().arena(&mut [1u32; 2].map(AtomicU32::new));
        let _ = arena.slot::<u32>(1);
    }

    #[test]
    #[should_panic(expected = "no result slot")]
    fn a_slot_past_the_last_is_caught() {
        let mut builder = ArenaBuilder::new();
        builder.push::<u64>();
        let arena = builder.finish().arena(&mut [1u32; 1].map(AtomicU32::new));
        let _ = arena.slot::<u64>(1);
    }
}
