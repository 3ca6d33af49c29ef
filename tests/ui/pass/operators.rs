// Operators on nodes: arithmetic, bit operations, shifts, negation, comparisons (nodes
// of `bool`), and `&`/`|` where `&&`/`||` would branch.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn double(x: i64) -> i64 {
    x * 2
}

#[allow(clippy::nonminimal_bool)]
fn main() {
    let g = graph!(
        |x: i64, y: i64| -> (i64, i64, i64, i64, i64, i64, bool, bool, bool) {
            let a = inc(x);
            let b = double(y);
            (
                a + b * 2 - 1,
                a / 2 % 3,
                -a,
                (a & b) | (a ^ 3),
                a << 2 >> 1,
                !a,
                a == b,
                !(a < b) | (a >= 10),
                (a > 0) & (b != 4),
            )
        }
    );
    let (a, b) = (inc(5), double(7));
    let expected = (
        a + b * 2 - 1,
        a / 2 % 3,
        -a,
        (a & b) | (a ^ 3),
        a << 2 >> 1,
        !a,
        a == b,
        !(a < b) | (a >= 10),
        (a > 0) & (b != 4),
    );
    assert_eq!(g.compute(5, 7), expected);
    assert_eq!(g.compute_with(Scheduler::Sync, 5, 7), expected);
}
