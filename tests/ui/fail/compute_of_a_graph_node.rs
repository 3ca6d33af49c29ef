// A node whose value is a graph (a task returning a `Delayed`), run inside the graph:
// the check is the value's type (a method of the user's named `compute` runs), and
// the message says that the graph would run inside a task.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn plan(x: i64) -> Delayed<i64> {
    delay!(inc(x))
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let d = plan(x);
        d.compute()
    });
    let _ = g.compute(1);
}
