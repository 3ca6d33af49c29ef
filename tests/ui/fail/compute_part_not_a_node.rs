// A tuple of values to compute holds nodes (`&Delayed`s, and slices, `Vec`s, arrays
// and tuples of them): a plain value among them is not computed, it is refused.
use taskweave::prelude::*;

fn main() {
    let a = delayed(|x: u64| x + 1).call(1);
    let _ = taskweave::compute((&a, 5u64));
}
