//! A list that keeps its first two items inline.

use smallvec::SmallVec;

/// A list whose first two items need no allocation: most tasks read one or two
/// futures and most futures have one dependent task, so neither a chain nor a
/// reduction by pairs allocates a list at all. (`smallvec` with two inline items: a
/// fan-in's tasks, of two dependencies, allocated two lists each with one inline.)
pub(crate) struct InlineList<T>(SmallVec<[T; 2]>);

impl<T> Default for InlineList<T> {
    fn default() -> Self {
        InlineList(SmallVec::new())
    }
}

impl<T> InlineList<T> {
    pub(crate) fn push(&mut self, item: T) {
        self.0.push(item);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the next push needs more room.
    pub(crate) fn is_full(&self) -> bool {
        self.0.len() == self.0.capacity()
    }

    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.0.iter()
    }

    /// The items in the order they were pushed, leaving the list empty.
    pub(crate) fn take(&mut self) -> impl Iterator<Item = T> {
        std::mem::take(&mut self.0).into_iter()
    }
}

impl<T> InlineList<T> {
    /// Takes out the items for which `gone` holds, keeping the others in their order;
    /// gives the room back when most of it is left empty.
    pub(crate) fn remove_where(&mut self, mut gone: impl FnMut(&T) -> bool) -> InlineList<T> {
        let items = self.0.as_mut_slice();
        let mut kept = 0;
        for at in 0..items.len() {
            if !gone(&items[at]) {
                items.swap(kept, at);
                kept += 1;
            }
        }
        let removed = InlineList(self.0.drain(kept..).collect());
        if self.0.spilled() && self.0.len() < self.0.capacity() / 4 {
            self.0.shrink_to_fit();
        }
        removed
    }
}

impl<T> InlineList<T> {
    /// Keeps the items for which `keep` holds, in their order, dropping the others in
    /// place; gives the room back when most of it is left empty.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&mut T) -> bool) {
        self.0.retain(keep);
        if self.0.spilled() && self.0.len() < self.0.capacity() / 4 {
            self.0.shrink_to_fit();
        }
    }
}

impl<T> Extend<T> for InlineList<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        self.0.extend(items);
    }
}

impl<T> FromIterator<T> for InlineList<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        InlineList(items.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::InlineList;

    #[test]
    fn keeps_the_order_of_pushes() {
        let mut list: InlineList<u32> = (1..=4).collect();
        assert_eq!(list.len(), 4);
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(list.take().collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert!(list.is_empty());
        list.push(9);
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), [9]);
    }

    #[test]
    fn retains_in_order_and_says_when_full() {
        let mut list: InlineList<u32> = (1..=2).collect();
        assert!(list.is_full());
        list.push(3);
        list.retain(|i| *i != 2);
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), [1, 3]);
        let mut list: InlineList<u32> = (1..=100).collect();
        list.retain(|i| *i % 10 == 0);
        assert_eq!(list.len(), 10);
        assert!(list.is_full(), "room given back once mostly empty");
    }

    #[test]
    fn removes_what_is_gone_and_keeps_the_order_of_the_rest() {
        let mut list: InlineList<u32> = (1..=100).collect();
        let removed = list.remove_where(|&i| i % 3 != 0);
        let kept: Vec<u32> = (1..=100).filter(|i| i % 3 == 0).collect();
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), kept);
        let mut removed: Vec<u32> = removed.iter().copied().collect();
        removed.sort_unstable();
        assert_eq!(
            removed,
            (1..=100).filter(|i| i % 3 != 0).collect::<Vec<_>>()
        );
        assert!(list.remove_where(|_| false).is_empty());
        assert_eq!(list.remove_where(|_| true).len(), kept.len());
        assert!(list.is_empty());
    }
}
