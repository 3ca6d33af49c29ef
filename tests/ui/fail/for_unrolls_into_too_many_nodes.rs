use taskweave::prelude::*;

#[delayed]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

fn main() {
    let g = graph!(|| -> u64 {
        let mut s = 0;
        for i in 0..10_000 {
            s = add(s, inc(i));
        }
        s
    });
    let _ = g.compute();
}
