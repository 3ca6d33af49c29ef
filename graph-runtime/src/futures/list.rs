//! A list that keeps its first item inline.

/// A list whose first item needs no allocation: most tasks read one future and most
/// futures have one dependent task, so a chain of futures allocates no list at all.
pub(crate) struct InlineList<T> {
    first: Option<T>,
    rest: Vec<T>,
}

impl<T> Default for InlineList<T> {
    fn default() -> Self {
        InlineList {
            first: None,
            rest: Vec::new(),
        }
    }
}

impl<T> InlineList<T> {
    pub(crate) fn push(&mut self, item: T) {
        if self.first.is_none() {
            self.first = Some(item);
        } else {
            self.rest.push(item);
        }
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.first.iter().chain(&self.rest)
    }

    /// The items in the order they were pushed, leaving the list empty.
    pub(crate) fn take(&mut self) -> impl Iterator<Item = T> {
        self.first
            .take()
            .into_iter()
            .chain(std::mem::take(&mut self.rest))
    }
}

impl<T> Extend<T> for InlineList<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        for item in items {
            self.push(item);
        }
    }
}

impl<T> FromIterator<T> for InlineList<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut list = InlineList::default();
        list.extend(items);
        list
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
}
