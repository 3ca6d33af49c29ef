// A `&mut self` method of the user's on a captured value, with a node as argument and
// its result used: the graph reads the captured value afresh (cloned) on every run, so
// the change would be lost; the value is read through a binding that is not `mut`, and
// rustc says "cannot borrow as mutable" (it ran on the copy, silently).
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[derive(Clone, Default)]
pub struct Counter {
    n: i64,
}

impl Counter {
    fn bump(&mut self, by: i64) -> i64 {
        self.n += by;
        self.n
    }
}

fn main() {
    let counter = Counter::default();
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        counter.bump(a)
    });
    let _ = g.compute(1);
}
