// A closure whose parameter, or a name its body binds itself (`let`, a `match` arm,
// a `for` pattern), is named like a node reads its own binding, not the node: it
// captures nothing. Names resolve as Rust resolves them: a node read before the
// closure's `let` of the same name would be a capture (tests/ui/fail).
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn apply(f: fn(i64) -> i64, x: i64) -> i64 {
    f(x)
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        let b = apply(|a| a * 2, a);
        let f = |z: i64| {
            let a = z * 2;
            a + 1
        };
        let c = apply(f, b);
        let d = apply(
            |z| match z {
                a if a > 0 => a,
                _ => 0,
            },
            c,
        );
        apply(
            |z| {
                let mut total = 0;
                for a in 0..z {
                    total += a;
                }
                total
            },
            d,
        )
    });
    // a = 2, b = 4, c = 9, d = 9, 0 + 1 + … + 8 = 36.
    assert_eq!(g.compute(1), 36);
}
