// A closure (or `fn` pointer) of the function around the graph, called inside it on
// constants, is plain code, as in sequential code: it shadows any function of its name.
// It was taken for a task and reached for its companion (rustc's E0433 "cannot find
// module or crate `f`"). Checked against the same code run sequentially.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let triple = |x: i64| x * 3;
    let offset: fn(i64) -> i64 = |x| x - 1;
    let plain = |y: i64| inc(triple(2)) + inc(offset(triple(y)));
    let g = graph!(|y: i64| -> i64 {
        let k = triple(2);
        inc(k) + inc(offset(triple(y)))
    });
    assert_eq!((g.compute(4), g.compute(-3)), (plain(4), plain(-3)));
}
