// A function of another crate is not a task: `graph!` cannot pass it a node.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let g = graph!(|x: i64| -> String {
        let a = inc(x);
        serde_json::to_string(&a).unwrap()
    });
    let _ = g.compute(1);
}
