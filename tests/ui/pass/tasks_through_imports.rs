//! Tasks reached through `use super::*`, a renaming import, and a task that shadows a
//! plain function of the same name in an inner scope: all are tasks.
use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn double(x: i64) -> i64 {
    x * 2
}

mod nested {
    use super::*;
    use super::inc as increment;

    pub(crate) fn run() -> i64 {
        #[delayed]
        fn double(x: i64) -> i64 {
            x * 20
        }
        let g = graph!(|x: i64| -> i64 {
            let a = inc(x);
            let b = increment(a);
            double(b)
        });
        g.compute(1)
    }
}

fn main() {
    assert_eq!(nested::run(), 60);
    assert_eq!(double(1), 2);
}
