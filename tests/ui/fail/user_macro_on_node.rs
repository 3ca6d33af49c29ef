use taskweave::prelude::*;

#[delayed]
fn bump(x: i64) -> i64 {
    x + 1
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

macro_rules! twice {
    ($e:expr) => {
        add($e, $e)
    };
}

fn main() {
    // `twice!` is expanded after the graph is built: its tasks cannot become nodes.
    let g = graph!(|x: i64| -> i64 {
        let a = bump(x);
        twice!(a)
    });
    let _ = g.compute(1);
}
