// Dask's futures have no operators either: pass the future to a task, or use its
// result.
use taskweave::prelude::*;

fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let client = Client::new();
    let f = client.submit(inc, (1,));
    let g = f + 1;
    let _ = g;
}
