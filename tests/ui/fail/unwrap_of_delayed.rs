// Whether a `Delayed<Option<T>>` holds a value is not known until the graph runs.
use taskweave::prelude::*;

fn half(x: i64) -> Option<i64> {
    (x % 2 == 0).then_some(x / 2)
}

fn main() {
    let h = delayed(half).call(4);
    let v = h.unwrap() + 1;
    let _ = v;
}
