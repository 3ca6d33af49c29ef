// The methods of the value are not methods of the `Delayed`: its length is not known
// until the graph runs.
use taskweave::prelude::*;

fn parts(n: usize) -> Vec<i64> {
    (0..n as i64).collect()
}

fn main() {
    let d = delayed(parts).call(3);
    let n = d.len();
    let empty = d.is_empty();
    let _ = (n, empty);
}
