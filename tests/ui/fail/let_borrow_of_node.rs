// A borrow of a node bound to a name: the node's value exists only while the graph
// runs. Bind the node itself, and lend it where it is read.
use taskweave::prelude::*;

#[delayed]
fn mk(x: i64) -> Vec<i64> {
    vec![x; 3]
}

#[delayed]
fn sum(values: &Vec<i64>) -> i64 {
    values.iter().sum()
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = mk(x);
        let r = &a;
        sum(r)
    });
    let _ = g.compute(2);
}
