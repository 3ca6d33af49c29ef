// Tuples: a tuple as the graph's result, a task returning a tuple split into several
// nodes (Dask's `nout`), nested splits with `_`, and a split of a bound tuple node.
use taskweave::prelude::*;

#[delayed]
fn divmod(x: i64, d: i64) -> (i64, i64) {
    (x / d, x % d)
}

#[delayed]
fn triple(x: i64) -> (i64, (i64, i64)) {
    (x, (x + 1, x + 2))
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let g = graph!(|x: i64| -> (i64, i64, i64) {
        let (q, r) = divmod(x, 7);
        let (a, (_, c)) = triple(q);
        let pair = divmod(c, 2);
        let (h, _) = pair;
        (add(q, r), add(a, c), h)
    });
    let (q, r) = divmod(45, 7);
    let (a, (_, c)) = triple(q);
    let (h, _) = divmod(c, 2);
    let expected = (add(q, r), add(a, c), h);
    assert_eq!(g.compute(45), expected);
    assert_eq!(g.compute_with(Scheduler::Sync, 45), expected);
}
