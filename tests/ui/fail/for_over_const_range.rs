use taskweave::prelude::*;

const N_FILES: usize = 4;

#[delayed]
fn load(i: usize) -> i64 {
    i as i64 * 10
}

#[delayed]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let g = graph!(|| -> i64 {
        let mut total = load(0);
        for i in 1..N_FILES {
            total = add(total, load(i));
        }
        total
    });
    let _ = g.compute();
}
