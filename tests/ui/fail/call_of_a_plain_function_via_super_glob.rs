use taskweave::prelude::*;

#[delayed]
fn inc(x: i64) -> i64 {
    x + 1
}

fn plain(x: i64) -> i64 {
    x * 2
}

mod nested {
    use super::*;

    pub(crate) fn run() -> i64 {
        let g = graph!(|x: i64| -> i64 {
            let a = inc(x);
            plain(a)
        });
        g.compute(1)
    }
}

fn main() {
    let _ = nested::run();
}
