// `client.map(f, items)` calls `f` with one item; for two sequences, `client.map2`.
use taskweave::prelude::*;

fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn main() {
    let client = Client::new();
    let futures = client.map(add, vec![(1, 2), (3, 4)]);
    let _ = futures;
}
