//! Seeded randomness shared by the stress tests, the differential generator and the
//! soak (`#[path]`-included by each): SplitMix64, small and the same on every
//! platform, and a node value that depends on its inputs in order.

// Each includer uses part of this module.
#![allow(dead_code)]

/// SplitMix64.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `items` in a random order, with one `None` at a random place among them (where
    /// a test lets go of its client among its handles): the place drawn first, then the
    /// order, a swap a step.
    pub(crate) fn shuffled_around_one<T>(&mut self, mut items: Vec<T>) -> Vec<Option<T>> {
        let n = items.len();
        let at = self.below(n + 1);
        for k in 0..n {
            let pick = self.below(n - k) + k;
            items.swap(k, pick);
        }
        let mut order: Vec<Option<T>> = items.into_iter().map(Some).collect();
        order.insert(at, None);
        order
    }

    /// In `lo..=hi`.
    pub(crate) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    /// True `p` times in a hundred.
    pub(crate) fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }

    /// An index drawn with the given weights.
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = (self.next() % u64::from(total)) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        unreachable!()
    }
}

/// A node's value from its index and its inputs' values, order-sensitive: a result
/// computed from the wrong inputs, or from the right ones in the wrong order, differs.
pub(crate) fn mix(index: u64, inputs: impl IntoIterator<Item = u64>) -> u64 {
    inputs
        .into_iter()
        .fold(index ^ 0x9e37_79b9_7f4a_7c15, |acc, v| {
            acc.rotate_left(7).wrapping_mul(31) ^ v
        })
}
