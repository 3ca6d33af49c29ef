use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

macro_rules! scaled {
    ($name:ident, $k:expr) => {
        fn $name(x: i64) -> i64 {
            x * $k
        }
    };
}

// A plain function `graph!` cannot see in the file: rustc's own error on its name.
scaled!(triple, 3);

fn main() {
    let g = graph!(|x: i64| -> i64 { triple(inc(x)) });
    let _ = g.compute(1);
}
