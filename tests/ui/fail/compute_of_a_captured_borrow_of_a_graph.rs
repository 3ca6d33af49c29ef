// `.compute()` on a captured borrow of a graph (`r = &inner`, as a function's
// `inner: &Graph<…>` parameter would be): the value's type decides, and a borrowed graph
// is a graph too (`RunGraphInGraph`'s message, on the method's name).
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn main() {
    let inner = graph!(|x: i64| -> i64 { inc(x) });
    let r = &inner;
    let g = graph!(|x: i64| -> i64 {
        let a = r.compute(x);
        inc(a)
    });
    let _ = g.compute(1);
}
