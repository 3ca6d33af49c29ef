//! A plain function may be called on constants inside `graph!` and `delay!` (it runs as
//! ordinary code); a task of the same name in an inner scope shadows a plain function.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn offset(x: i64) -> i64 {
    x * 10
}

fn step(x: i64) -> i64 {
    x - 1
}

mod tasks {
    use taskweave::prelude::*;

    #[delayed]
    pub(crate) fn step(x: i64) -> i64 {
        x + 100
    }
}

fn main() {
    let g = graph!(|x: i64| -> i64 {
        let a = inc(x);
        a + offset(3)
    });
    assert_eq!(g.compute(1), 2 + 30);

    let d = delay!(inc(offset(2)));
    assert_eq!(d.compute(), 21);

    {
        // The task `step` shadows the plain `step` of the module in this block.
        use tasks::step;
        let g = graph!(|x: i64| -> i64 { step(inc(x)) });
        assert_eq!(g.compute(1), 102);
    }
    assert_eq!(step(1), 0);
}
