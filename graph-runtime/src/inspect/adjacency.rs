//! Adjacency lists in compressed form, for walking graphs and drawings in time
//! linear in what is walked: finding a node's neighbours by scanning every edge made
//! a walk of a 100,000-node chain take seconds.

/// Rows of small numbers stored one after the other (compressed sparse rows): one
/// `u32` per row and one per item, where a `Vec` per row takes 24 bytes and an
/// allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Csr {
    /// Row `r` is `items[starts[r]..starts[r + 1]]`.
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl Csr {
    /// Rows `0..rows`: row `r` holds the `x` of every pair `(r, x)` of `pairs()`, in
    /// the order given (the two passes must see the same pairs).
    ///
    /// # Panics
    /// When a row is `rows` or more, or there are more than `u32::MAX` items or rows.
    pub(crate) fn new<I>(rows: usize, pairs: impl Fn() -> I) -> Csr
    where
        I: Iterator<Item = (usize, usize)>,
    {
        assert!(
            u32::try_from(rows).is_ok(),
            "taskweave: inspection numbers nodes with 32 bits"
        );
        // Counts at `r + 2`, so that after the prefix sum `starts[r + 1]` is where row
        // `r` starts and, moved along while filling, ends where row `r + 1` starts:
        // no second array of cursors.
        let mut starts = vec![0u32; rows + 2];
        let mut total = 0usize;
        for (r, _) in pairs() {
            starts[r + 2] += 1;
            total += 1;
        }
        assert!(
            u32::try_from(total).is_ok(),
            "taskweave: inspection numbers edges with 32 bits"
        );
        for r in 2..starts.len() {
            starts[r] += starts[r - 1];
        }
        let mut items = vec![0u32; total];
        for (r, x) in pairs() {
            let at = &mut starts[r + 1];
            items[*at as usize] = x as u32;
            *at += 1;
        }
        starts.pop();
        Csr { starts, items }
    }

    /// Row `r` (empty past the last row).
    pub(crate) fn row(&self, r: usize) -> &[u32] {
        match (self.starts.get(r), self.starts.get(r + 1)) {
            (Some(&a), Some(&b)) => &self.items[a as usize..b as usize],
            _ => &[],
        }
    }
}

/// Where a row starts in a list of pairs sorted by their first element: row `r` is
/// `pairs[starts[r]..starts[r + 1]]`. One `u32` per row, none per pair.
///
/// # Panics
/// When a pair's first element is `rows` or more, or there are more than `u32::MAX`
/// pairs or rows.
pub(crate) fn starts_of_sorted(rows: usize, firsts: impl Iterator<Item = usize>) -> Vec<u32> {
    assert!(
        u32::try_from(rows).is_ok(),
        "taskweave: inspection numbers nodes with 32 bits"
    );
    let mut starts = vec![0u32; rows + 1];
    for r in firsts {
        starts[r + 1] += 1;
    }
    for r in 1..starts.len() {
        starts[r] = starts[r]
            .checked_add(starts[r - 1])
            .expect("taskweave: inspection numbers edges with 32 bits");
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_the_order_of_their_pairs() {
        let pairs = [(2, 7), (0, 3), (2, 1), (0, 9), (2, 7)];
        let csr = Csr::new(4, || pairs.iter().copied());
        assert_eq!(csr.row(0), [3, 9]);
        assert_eq!(csr.row(1), [] as [u32; 0]);
        assert_eq!(csr.row(2), [7, 1, 7]);
        assert_eq!(csr.row(3), [] as [u32; 0]);
        assert_eq!(csr.row(4), [] as [u32; 0]);
        let empty = Csr::new(0, std::iter::empty);
        assert_eq!(empty.row(0), [] as [u32; 0]);
    }

    #[test]
    fn starts_of_sorted_pairs() {
        let firsts = [0, 0, 2, 3, 3, 3];
        assert_eq!(starts_of_sorted(5, firsts.into_iter()), [0, 2, 2, 3, 6, 6]);
        assert_eq!(starts_of_sorted(0, std::iter::empty()), [0]);
    }
}
