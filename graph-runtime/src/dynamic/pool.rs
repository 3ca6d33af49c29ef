//! Memory for nodes: blocks of nodes freed on a thread, kept by that thread for the
//! next nodes it builds.
//!
//! A program that builds and drops graphs in a loop allocates and frees one block per
//! node, of a few sizes (a node is 64 bytes and its body). The system allocator's
//! per-thread cache holds a few blocks of each size; past them, every node costs a
//! trip through its shared lists (measured: `malloc`, `free` and their consolidation
//! took a fifth of a fan-in's build, run and drop). Here each thread keeps the blocks
//! it frees, one free list per size (multiples of 8 bytes up to [`MAX_SIZE`]), and
//! builds its next nodes in them: a node's allocation and release are a push and a
//! pop. A thread keeps no more than it has built since (its "credit": the bytes of the
//! blocks it handed out, less those it kept), and never more than [`MAX_KEPT`] bytes,
//! so a thread that drops nodes others built (a worker ending a task) keeps nothing,
//! and what a thread holds between graphs is at most about the last graph it built.
//! Blocks are the global allocator's, allocated with the size of their list, so a
//! block not kept goes back to the global allocator as any other; a thread's blocks
//! are freed when it ends.
//!
//! Under AddressSanitizer (`--cfg taskweave_asan`, set by `.ci/asan`) nothing is kept:
//! every node is its own allocation, so that a use of a freed node is still caught.
//! Nor under loom, whose models count a node's frees themselves.

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::ptr::NonNull;

/// The largest block kept, in bytes: a node and a body of up to 192 bytes.
const MAX_SIZE: usize = 256;
/// The alignment of kept blocks: a node's (its words); bodies aligned more get blocks
/// of their own.
const ALIGN: usize = 8;
/// The lists: one per multiple of [`ALIGN`] up to [`MAX_SIZE`].
const CLASSES: usize = MAX_SIZE / ALIGN;
/// The most bytes one thread keeps: the nodes of a graph of about 30,000 tasks.
const MAX_KEPT: usize = 2 << 20;

/// A kept block: the next one of its list in its first word.
struct Free {
    next: Option<NonNull<Free>>,
}

/// One thread's kept blocks.
struct Pool {
    lists: [Option<NonNull<Free>>; CLASSES],
    /// The bytes kept in the lists.
    bytes: usize,
    /// The bytes of blocks this thread handed out and may keep again (at most
    /// [`MAX_KEPT`]).
    credit: usize,
}

impl Drop for Pool {
    fn drop(&mut self) {
        for (class, list) in self.lists.iter_mut().enumerate() {
            let layout = class_layout(class);
            while let Some(block) = list.take() {
                // SAFETY: every block in a list is a kept, unused block of its class
                // (see `free`), whose first word holds the next one; each is freed once.
                *list = unsafe { block.as_ref().next };
                // SAFETY: allocated by the global allocator with its class's layout
                // (see `alloc`), and no longer in the list.
                unsafe { std::alloc::dealloc(block.as_ptr().cast(), layout) };
            }
        }
    }
}

std::thread_local! {
    static POOL: UnsafeCell<Pool> = const {
        UnsafeCell::new(Pool {
            lists: [None; CLASSES],
            bytes: 0,
            credit: 0,
        })
    };
}

/// The list of blocks of `layout`, if blocks of that layout are kept.
fn class_of(layout: Layout) -> Option<usize> {
    let kept = !cfg!(any(taskweave_asan, loom))
        && layout.align() <= ALIGN
        && layout.size() <= MAX_SIZE
        && layout.size() >= std::mem::size_of::<Free>();
    kept.then(|| layout.size().div_ceil(ALIGN) - 1)
}

/// The layout every block of `class` is allocated with.
fn class_layout(class: usize) -> Layout {
    Layout::from_size_align((class + 1) * ALIGN, ALIGN).expect("a small, valid layout")
}

/// A block for a value of `layout` (not zero-sized): a kept one of its size if this
/// thread has one, a new one otherwise. Give it back with [`free`] and the same layout.
pub(crate) fn alloc(layout: Layout) -> NonNull<u8> {
    let Some(class) = class_of(layout) else {
        return global_alloc(layout);
    };
    let kept = POOL.try_with(|pool| {
        // SAFETY: the pool is this thread's, and no other borrow of it is live: none is
        // held across a call out of this module.
        let pool = unsafe { &mut *pool.get() };
        let size = class_layout(class).size();
        pool.credit = (pool.credit + size).min(MAX_KEPT);
        let block = pool.lists[class]?;
        // SAFETY: a listed block is kept and unused; its first word is the next one.
        pool.lists[class] = unsafe { block.as_ref().next };
        pool.bytes -= size;
        Some(block.cast::<u8>())
    });
    match kept {
        Ok(Some(block)) => block,
        // None kept, or the thread's locals are gone: a new block of the class's size.
        _ => global_alloc(class_layout(class)),
    }
}

/// Gives back a block from [`alloc`] of `layout`, whose value has been dropped.
///
/// # Safety
/// `block` came from [`alloc`] with this `layout` and is not used again.
pub(crate) unsafe fn free(block: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        // SAFETY: the caller's contract: `alloc` allocated it with `layout`.
        return unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
    };
    let size = class_layout(class).size();
    let kept = POOL.try_with(|pool| {
        // SAFETY: as in `alloc`.
        let pool = unsafe { &mut *pool.get() };
        if pool.credit < size || pool.bytes + size > MAX_KEPT {
            return false;
        }
        pool.credit -= size;
        let block = block.cast::<Free>();
        // SAFETY: the block is unused (the caller's contract) and at least a word
        // large and aligned (`class_of`): its first word now links it in the list.
        unsafe {
            block.as_ptr().write(Free {
                next: pool.lists[class],
            })
        };
        pool.lists[class] = Some(block);
        pool.bytes += size;
        true
    });
    if kept != Ok(true) {
        // SAFETY: `alloc` allocated blocks of this class with the class's layout.
        unsafe { std::alloc::dealloc(block.as_ptr(), class_layout(class)) };
    }
}

fn global_alloc(layout: Layout) -> NonNull<u8> {
    // SAFETY: callers never ask for a zero-sized layout (a node is at least 64 bytes).
    let block = unsafe { std::alloc::alloc(layout) };
    NonNull::new(block).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block freed on a thread comes back to the next allocation of its size there;
    /// other sizes, and layouts that are not kept, get blocks of their own.
    #[test]
    fn a_freed_block_is_reused_by_its_own_size() {
        let layout = Layout::from_size_align(72, 8).unwrap();
        let first = alloc(layout);
        // SAFETY: from `alloc` with this layout, not used again.
        unsafe { free(first, layout) };
        let again = alloc(Layout::from_size_align(68, 4).unwrap());
        if !cfg!(taskweave_asan) {
            assert_eq!(again, first, "72 and 68 bytes share a list (blocks of 72)");
        }
        let other = alloc(Layout::from_size_align(80, 8).unwrap());
        assert_ne!(other, first);
        let big = Layout::from_size_align(4096, 8).unwrap();
        let large = alloc(big);
        // SAFETY: each from `alloc` with these layouts, not used again.
        unsafe {
            free(again, Layout::from_size_align(68, 4).unwrap());
            free(other, Layout::from_size_align(80, 8).unwrap());
            free(large, big);
        }
        if cfg!(taskweave_asan) {
            assert_eq!(kept_bytes(), 0, "nothing is kept under AddressSanitizer");
        } else {
            assert_eq!(kept_bytes(), 72 + 80, "the two small blocks are kept");
        }
    }

    fn kept_bytes() -> usize {
        POOL.with(|pool| {
            // SAFETY: this thread's pool, no other borrow live.
            unsafe { (*pool.get()).bytes }
        })
    }

    /// A thread keeps no more than it built: blocks another thread handed out, freed
    /// here, go back to the global allocator.
    #[test]
    fn a_thread_keeps_only_what_it_built() {
        let layout = Layout::from_size_align(72, 8).unwrap();
        let blocks: Vec<usize> = (0..4).map(|_| alloc(layout).as_ptr() as usize).collect();
        let mine = alloc(layout);
        std::thread::spawn(move || {
            for block in blocks {
                let block = NonNull::new(block as *mut u8).unwrap();
                // SAFETY: from `alloc` with this layout, not used again.
                unsafe { free(block, layout) };
            }
            assert_eq!(kept_bytes(), 0, "this thread built nothing");
            let own = alloc(layout);
            // SAFETY: as above.
            unsafe { free(own, layout) };
            let expected = if cfg!(taskweave_asan) { 0 } else { 72 };
            assert_eq!(kept_bytes(), expected, "its own block is kept");
        })
        .join()
        .unwrap();
        // SAFETY: as above.
        unsafe { free(mine, layout) };
    }
}
