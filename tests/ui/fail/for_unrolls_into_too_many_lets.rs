use taskweave::prelude::*;

#[delayed]
fn inc(x: u64) -> u64 {
    x + 1
}

fn main() {
    let g = graph!(|| -> u64 {
        let mut c = 0u64;
        for i in 0..2000 {
            c = c + i;
        }
        inc(c)
    });
    let _ = g.compute();
}
