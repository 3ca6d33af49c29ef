//! Buffers of dropped plans and runs, kept for the next plan or run.
//!
//! Laying out a graph of 10^4 nodes fills about a megabyte of vectors, and memory
//! fresh from the system costs a page fault per 4 KiB on first touch (measured: a
//! chain of 10^4 nodes spent 36 of its 80 ns per node of laying out in them, where the
//! allocator had handed the memory back between runs). A program that builds and
//! computes graphs in a loop lays out graphs of similar sizes again and again, so the
//! buffers of the last one dropped are kept: one set of each kind for the process
//! (the first to come back is kept; a lock that is taken means "don't keep"), of at
//! most [`MAX_KEPT`] bytes, so what is held between computes stays small and bounded.
//! Kept buffers are empty: they hold capacity, never values.

use std::sync::Mutex;

/// The most bytes one kept set may hold unless it says otherwise: the buffers of a
/// graph of about 10^5 nodes. Larger sets are freed, as they would have been.
pub(crate) const MAX_KEPT: usize = 16 << 20;

/// Buffers that can be kept: emptied before they are, and measured.
pub(crate) trait Buffers: Default {
    /// The bytes their capacity holds.
    fn bytes(&self) -> usize;
    /// Empties them, keeping their capacity.
    fn clear(&mut self);
}

impl<T> Buffers for Vec<T> {
    fn bytes(&self) -> usize {
        bytes_of(self)
    }
    fn clear(&mut self) {
        Vec::clear(self);
    }
}

/// One kept set of `T`, of at most `max` bytes.
pub(crate) struct Kept<T> {
    kept: Mutex<Option<T>>,
    max: usize,
}

impl<T: Buffers> Kept<T> {
    /// Keeps sets of up to [`MAX_KEPT`] bytes.
    pub(crate) const fn new() -> Self {
        Kept::at_most(MAX_KEPT)
    }

    /// Keeps sets of up to `max` bytes.
    pub(crate) const fn at_most(max: usize) -> Self {
        Kept {
            kept: Mutex::new(None),
            max,
        }
    }

    /// The kept set, or new empty buffers.
    pub(crate) fn take(&self) -> T {
        match self.kept.try_lock() {
            Ok(mut kept) => kept.take().unwrap_or_default(),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                poisoned.into_inner().take().unwrap_or_default()
            }
            Err(std::sync::TryLockError::WouldBlock) => T::default(),
        }
    }

    /// Keeps `buffers` for the next [`take`](Self::take), emptied, unless a set is
    /// kept already or they are larger than this keeps; frees them otherwise.
    pub(crate) fn give(&self, mut buffers: T) {
        if buffers.bytes() > self.max {
            return;
        }
        buffers.clear();
        if let Ok(mut kept) = self.kept.try_lock() {
            if kept.is_none() {
                *kept = Some(buffers);
            }
        }
    }
}

/// The bytes of a vector's capacity.
pub(crate) fn bytes_of<T>(vector: &Vec<T>) -> usize {
    vector.capacity() * std::mem::size_of::<T>()
}

/// Gives back a vector's spare capacity when it is more than a 32nd of its length:
/// what doubling left over once a vector has all it will hold (a kept buffer a little
/// larger than needed stays as it is, rather than being reallocated for a few bytes).
pub(crate) fn fit<T>(vector: &mut Vec<T>) {
    if vector.capacity() - vector.len() > vector.len() / 32 {
        vector.shrink_to_fit();
    }
}

/// An empty vector's buffer as a vector of another type of the same size and
/// alignment: a kept buffer of raw pointers lent out as one of references, for
/// instance. The capacity is kept.
///
/// # Panics
/// When the two types differ in size or alignment (a bug, caught at the first use).
pub(crate) fn recast<T, U>(mut vector: Vec<T>) -> Vec<U> {
    assert!(
        std::mem::size_of::<T>() == std::mem::size_of::<U>()
            && std::mem::align_of::<T>() == std::mem::align_of::<U>(),
        "recast between types of different layouts"
    );
    vector.clear();
    let mut vector = std::mem::ManuallyDrop::new(vector);
    let (pointer, capacity) = (vector.as_mut_ptr(), vector.capacity());
    // SAFETY: the buffer was allocated by a `Vec<T>` of this capacity, and `U` has the
    // same size and alignment, so the allocation's layout is that of a `Vec<U>` of the
    // same capacity; the vector is empty, so no `T` is read as a `U`, and the old
    // vector is never used again (`ManuallyDrop`).
    unsafe { Vec::from_raw_parts(pointer.cast::<U>(), 0, capacity) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_set_is_emptied_taken_once_and_bounded() {
        static KEPT: Kept<Vec<u64>> = Kept::new();
        let mut values = Vec::with_capacity(1_000);
        values.extend(0..10u64);
        KEPT.give(values);
        let again = KEPT.take();
        assert!(again.is_empty() && again.capacity() >= 1_000);
        assert_eq!(KEPT.take().capacity(), 0, "a kept set is taken once");
        // A second set while one is kept is freed, not kept.
        KEPT.give(Vec::with_capacity(10));
        KEPT.give(Vec::with_capacity(20));
        assert_eq!(KEPT.take().capacity(), 10);
        KEPT.give(Vec::<u64>::with_capacity(MAX_KEPT / 8 + 1));
        assert_eq!(KEPT.take().capacity(), 0, "too large to keep");
    }

    #[test]
    fn recast_lends_the_same_buffer_empty() {
        let mut numbers: Vec<(*const u8, usize)> = Vec::with_capacity(64);
        numbers.push((std::ptr::null(), 1));
        let start = numbers.as_ptr() as usize;
        let references: Vec<(&u8, usize)> = recast(numbers);
        assert!(references.is_empty());
        assert_eq!(references.capacity(), 64);
        assert_eq!(references.as_ptr() as usize, start);
    }
}
