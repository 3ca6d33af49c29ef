//! The fan-in the benches share (`dask_peer.py`'s `fan_in`): `n` `inc` leaves reduced
//! by a pairwise tree of `add`s, `2n − 1` tasks.

use taskweave::prelude::*;

/// A leaf.
#[delayed]
pub(crate) fn inc(x: u64) -> u64 {
    x + 1
}

/// Wrapping: the wavefront's cells grow like binomial coefficients and overflow `u64`
/// from a side of about 35 (Python's integers do not).
#[delayed]
pub(crate) fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

/// `n` `inc` leaves reduced by a pairwise tree of `add`s.
pub(crate) fn build_fan_in(n: u64) -> Delayed<u64> {
    let mut parts: Vec<Delayed<u64>> = (0..n).map(|i| delay!(inc(i))).collect();
    while parts.len() > 1 {
        let mut level = Vec::with_capacity(parts.len().div_ceil(2));
        let mut it = parts.into_iter();
        while let Some(a) = it.next() {
            level.push(match it.next() {
                Some(b) => delay!(add(a, b)),
                None => a,
            });
        }
        parts = level;
    }
    parts.pop().expect("n > 0")
}
